"""Access-log records as a Parquet file, for fleet-scale analysis (DuckDB, Spark, pandas).

``write_parquet(logs, out)`` reads each log as ``logs --jsonl`` does (the same
parser, the same malformed lines) and writes one row per parsed line, typed
columns named as the contract's ``logs --jsonl`` keys (docs/contract.md,
"Parquet export"), plus ``vhost`` and ``endpoint`` as ``report`` groups them
(``EndpointTemplater``: the same templates and per-vhost caps).

Memory stays flat: a block of ``BLOCK_ROWS`` records becomes one row group,
written and dropped before the next is read. The file is written to a temp
file in the target's directory and renamed over the path the user named;
nothing else is written. pyarrow is optional (``vhostguard[parquet]``):
``pyarrow_missing()`` says so before any work.
"""
from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vhostguard.logs.endpoints import NONE, EndpointPattern, EndpointTemplater, host_header_vhost
from vhostguard.logs.format import LogFormat
from vhostguard.logs.reader import FormatChoice, Malformed, Parser, ReadStats, printable, read_log

INSTALL_HINT = "pip install 'vhostguard[parquet]'"
BLOCK_ROWS = 1 << 16  # records per row group: memory is a few blocks' worth, whatever the log's size

# Column types by record key (docs/contract.md); a key not listed is text.
_INT16 = ("status", "original_status")
_INT64 = ("bytes", "bytes_out", "bytes_in", "bytes_total", "duration_us", "first_byte_us", "port", "local_port",
          "remote_port", "pid", "tid", "keepalive", "line")
_REPEATED_TEXT = ("remote_host", "remote_addr", "local_addr", "peer_host", "peer_addr", "remote_logname", "remote_user",
                  "method", "protocol", "server_name", "conn_status", "handler", "filename", "file", "vhost", "endpoint")
_MAPS = ("headers_in", "headers_out", "env", "notes", "cookies")
_FIRST = ("file", "line", "vhost", "endpoint", "time")  # the columns a fleet query starts from, first


class ParquetError(ValueError):
    """The Parquet file cannot be written (one line: ``path: reason``)."""


@dataclass
class ParquetSummary:
    """What a write did: ``rows`` written, ``stats`` of the lines read (lines = rows + malformed)."""

    path: str
    rows: int = 0
    row_groups: int = 0
    stats: ReadStats = field(default_factory=ReadStats)


def pyarrow_missing() -> str | None:
    """None when pyarrow can be imported, else the one line that says how to get it."""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return f"--parquet needs pyarrow: {INSTALL_HINT}"
    return None


def check_target(path: str) -> str:
    """The file ``path`` names, to be replaced (a symlink's target); ParquetError when it is not a regular
    file or a new name in a writable directory."""
    target = os.path.realpath(path)
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as problem:
        raise ParquetError(f"{path}: {problem.strerror or problem}") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise ParquetError(f"{path}: not a regular file (refusing to replace it); name a file")
    directory = os.path.dirname(target) or "."
    if not os.path.isdir(directory):
        raise ParquetError(f"{path}: No such directory {directory}")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ParquetError(f"{path}: Permission denied (directory {directory})")
    return target


def columns_of(parsers: Iterable[Parser]) -> tuple[str, ...]:
    """The columns of a file of records of ``parsers``: the keys their formats log, position and report's keys."""
    keys: dict[str, None] = dict.fromkeys(_FIRST)
    for parser in parsers:
        formats = parser.formats if isinstance(parser, FormatChoice) else (parser,)
        for fmt in formats:
            if isinstance(fmt, LogFormat):
                keys.update(dict.fromkeys(fmt.all_keys))
    if not any(isinstance(p, (LogFormat, FormatChoice)) and _logs_time(p) for p in parsers):
        del keys["time"]
    return tuple(keys)


def _logs_time(parser: Parser) -> bool:
    formats = parser.formats if isinstance(parser, FormatChoice) else (parser,)
    return any(isinstance(f, LogFormat) and "time" in f.all_keys for f in formats)


def write_parquet(logs: Sequence[tuple[str, Parser]], out: str, *, patterns: tuple[EndpointPattern, ...] = (),
                  on_malformed: Callable[[Malformed], None] | None = None, block_rows: int = BLOCK_ROWS) -> ParquetSummary:
    """Write the records of ``logs`` (path, parser) to the Parquet file ``out`` (atomically; see the module notes).

    Raises ParquetError for an output that cannot be written, OSError when a log cannot be read.
    """
    import pyarrow.parquet as pq

    target = check_target(out)
    columns = columns_of([parser for _, parser in logs])
    summary = ParquetSummary(out)
    templater = EndpointTemplater(patterns)
    handle, temp = tempfile.mkstemp(dir=os.path.dirname(target) or ".", prefix=".vhostguard-", suffix=".parquet.tmp")
    os.close(handle)
    writer: Any = None
    try:
        schema: Any = None
        for block in _blocks(logs, summary.stats, templater, on_malformed, block_rows):
            table = _table(block, columns, schema, summary.stats, on_malformed)
            if writer is None:
                schema = table.schema
                writer = pq.ParquetWriter(temp, schema, compression="zstd")
            writer.write_table(table, row_group_size=max(table.num_rows, 1))
            summary.rows += table.num_rows
            summary.row_groups += 1
        if writer is None:  # no line parsed: an empty file with the schema of a block without rows
            schema = _table([], columns, None, summary.stats, on_malformed).schema
            writer = pq.ParquetWriter(temp, schema, compression="zstd")
        writer.close()
        writer = None
        os.chmod(temp, _mode(target))
        os.replace(temp, target)
    except OSError as problem:
        raise ParquetError(f"{out}: {problem.strerror or problem}") from None
    finally:
        if writer is not None:
            writer.close()
        if os.path.exists(temp):
            os.unlink(temp)
    return summary


def _mode(target: str) -> int:
    try:
        return stat.S_IMODE(os.stat(target).st_mode)  # an existing file keeps its permission bits
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _blocks(logs: Sequence[tuple[str, Parser]], stats: ReadStats, templater: EndpointTemplater,
            on_malformed: Callable[[Malformed], None] | None, block_rows: int) -> Iterable[list[dict[str, Any]]]:
    block: list[dict[str, Any]] = []
    template = templater.template
    for path, parser in logs:
        for record in read_log(path, parser, stats=stats, on_malformed=on_malformed, with_position=True,
                               name=printable(path)):
            get = record.get
            vhost = get("vhost") or get("server_name") or host_header_vhost(get("headers_in")) or NONE
            record["vhost"] = vhost
            record["endpoint"] = template(get("path"), vhost)
            block.append(record)
            if len(block) >= block_rows:
                yield block
                block = []
    if block:
        yield block


def _arrow_type(key: str) -> Any:
    import pyarrow as pa

    if key in _INT16:
        return pa.int16()
    if key in _INT64:
        return pa.int64()
    if key in _MAPS:
        return pa.map_(pa.string(), pa.string())
    if key in _REPEATED_TEXT:
        return pa.dictionary(pa.int32(), pa.string())
    return pa.string()


_LIMITS = {"status": 1 << 15, "original_status": 1 << 15}


def _table(block: list[dict[str, Any]], columns: tuple[str, ...], schema: Any, stats: ReadStats,
           on_malformed: Callable[[Malformed], None] | None) -> Any:
    """One row group of ``block``; a value its column cannot hold (a status beyond int16, a number beyond
    int64) makes its line malformed, as a line the parser refuses."""
    import pyarrow as pa

    block = _in_range(block, columns, stats, on_malformed)
    arrays = []
    fields = []
    for key in columns:
        values = [record.get(key) for record in block]
        if key == "time":
            array = _times(values, schema)
        else:
            array = pa.array(values, type=_arrow_type(key))
        arrays.append(array)
        fields.append(pa.field(key, array.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields) if schema is None else schema)


def _in_range(block: list[dict[str, Any]], columns: tuple[str, ...], stats: ReadStats,
              on_malformed: Callable[[Malformed], None] | None) -> list[dict[str, Any]]:
    numeric = [key for key in columns if key in _INT16 or key in _INT64]
    kept = []
    for record in block:
        wrong = next((key for key in numeric if not _fits(record.get(key), _LIMITS.get(key, 1 << 63))), None)
        if wrong is None:
            kept.append(record)
            continue
        stats.malformed += 1  # the line was counted as parsed; it is now one that cannot be written
        bad = Malformed(record["file"], record["line"], f"{wrong} {record[wrong]} does not fit the Parquet column's type")
        if on_malformed is not None:
            on_malformed(bad)
    return kept


def _fits(value: Any, limit: int) -> bool:
    return value is None or -limit <= value < limit


def _times(values: list[Any], schema: Any) -> Any:
    """ISO 8601 texts as timestamps: UTC when they carry an offset, else as logged (no zone)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(values, type=pa.string())
    zoned = pc.match_substring_regex(text, r"(Z|[+-]\d\d:\d\d)$")
    if schema is not None:
        wanted = schema.field("time").type
    else:
        first = next((bool(z) for z in zoned.to_pylist() if z is not None), True)
        wanted = pa.timestamp("us", tz="UTC") if first else pa.timestamp("us")
    aware = wanted.tz is not None
    mixed = pc.any(pc.not_equal(zoned, pa.scalar(aware))).as_py()
    if mixed:
        raise ParquetError("times with and without a zone in one export: export the logs of each kind to their own file")
    return text.cast(wanted)

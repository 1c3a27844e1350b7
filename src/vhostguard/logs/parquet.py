"""Access-log records as a Parquet file, for fleet-scale analysis (DuckDB, Spark, pandas).

``write_parquet(logs, out)`` reads each log as ``logs --jsonl`` does (the same
parser, the same malformed lines) and writes one row per parsed line, typed
columns named as the contract's ``logs --jsonl`` keys (docs/contract.md,
"Parquet export"), plus ``vhost`` and ``endpoint`` as ``report`` groups them
(``EndpointTemplater``: the same templates and per-vhost caps).

Memory stays flat: a block of the log becomes one row group, written and
dropped; a few blocks are in memory at once (being scanned on SCAN_THREADS
threads, being written). With the compiled scanner (``_scan.c``,
``parquet_columns``) a block of a plain file is read into Arrow column
buffers without a Python object (or a copy) per line; the lines it is not
sure of (odd bytes, escapes httpd never writes, escaped bytes that are not
UTF-8, escapes in a request line other than ``\\"`` and ``\\\\``) are read by the
Python parser and added after the others of their block, so every row
holds what ``logs --jsonl`` gives for its line. Compressed files, ``--endpoints`` patterns and
formats the scanner declines are read by the Python parser alone
(``BLOCK_ROWS`` records a row group).

The file is written to a temp file in the target's directory and renamed
over the path the user named; nothing else is written, and nothing at all
when no line parses. pyarrow is optional (``vhostguard[parquet]``):
``pyarrow_missing()`` says so before any work.
"""
from __future__ import annotations

import os
import stat
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from vhostguard.logs import directives as d
from vhostguard.logs.endpoints import NONE, EndpointPattern, EndpointTemplater, auto_template, host_header_vhost
from vhostguard.logs.format import Field, LineError, LogFormat, tokenize
from vhostguard.logs.reader import (
    MAX_LINE, FormatChoice, Malformed, Parser, ReadStats, is_compressed, iter_bytes, printable, read_log,
)
from vhostguard.logs.scanner import ScanSpec, engine, scan_spec

try:
    from vhostguard.logs import _scan  # type: ignore[attr-defined]
except ImportError:  # built without a compiler: the Python parser reads every line
    _scan = None

INSTALL_HINT = "pip install 'vhostguard[parquet]'"
BLOCK_ROWS = 1 << 16  # records per row group (Python parser): memory is a few blocks' worth, whatever the log's size
BLOCK_BYTES = 1 << 24  # bytes of a plain file per row group (compiled scanner)
SCAN_THREADS = 2  # blocks scanned at once (compiled scanner), beside the thread that writes
FIRST_PARTS = 4  # the first block of a file is this many times smaller (compiled scanner): the writing starts sooner
# output codes of _scan.c's parquet_columns (PQ_*)
_OUT_SKIP, _OUT_TEXT, _OUT_INT, _OUT_INT_CLF, _OUT_DURATION, _OUT_REQUEST, _OUT_TIME, _OUT_INT16 = range(8)
_REQUEST_COLUMNS = ("request_line", "method", "path", "query", "protocol", "endpoint")

# Column types by record key (docs/contract.md); a key not listed is text.
_INT16 = ("status", "original_status")
_INT64 = ("bytes", "bytes_out", "bytes_in", "bytes_total", "duration_us", "first_byte_us", "port", "local_port",
          "remote_port", "pid", "tid", "keepalive", "line")
_REPEATED_TEXT = ("remote_logname", "remote_user",
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


def columns_of(parsers: Iterable[Parser]) -> dict[str, Any]:
    """The columns (name -> Arrow type) of a file of records of ``parsers``: position, report's keys, and the
    keys their formats log; a dict key (``headers_in``...) is a struct of the names the formats log."""
    import pyarrow as pa

    keys: dict[str, None] = dict.fromkeys(_FIRST)
    subs: dict[str, dict[str, None]] = {}
    for parser in parsers:
        formats = parser.formats if isinstance(parser, FormatChoice) else (parser,)
        for fmt in formats:
            if isinstance(fmt, LogFormat):
                keys.update(dict.fromkeys(fmt.all_keys))
                for item in tokenize(fmt.format):
                    if isinstance(item, Field) and item.slot.key in _MAPS and item.slot.sub is not None:
                        subs.setdefault(item.slot.key, {})[item.slot.sub] = None
    if not any(isinstance(p, (LogFormat, FormatChoice)) and _logs_time(p) for p in parsers):
        del keys["time"]
    return {key: pa.struct([(sub, pa.string()) for sub in subs.get(key, ())]) if key in _MAPS else _arrow_type(key)
            for key in keys}


def _logs_time(parser: Parser) -> bool:
    formats = parser.formats if isinstance(parser, FormatChoice) else (parser,)
    return any(isinstance(f, LogFormat) and "time" in f.all_keys for f in formats)


def write_parquet(logs: Sequence[tuple[str, Parser]], out: str, *, patterns: tuple[EndpointPattern, ...] = (),
                  on_malformed: Callable[[Malformed], None] | None = None, block_rows: int = BLOCK_ROWS,
                  block_bytes: int = BLOCK_BYTES) -> ParquetSummary:
    """Write the records of ``logs`` (path, parser) to the Parquet file ``out`` (atomically; see the module notes).

    Raises ParquetError for an output that cannot be written, OSError when a log cannot be read.
    """
    target = check_target(out)
    if any(os.path.realpath(path) == target for path, _ in logs):
        raise ParquetError(f"{out}: is a log being read (refusing to replace it); name another file")
    columns = columns_of([parser for _, parser in logs])
    summary = ParquetSummary(out)
    templater = EndpointTemplater(patterns)
    handle, temp = tempfile.mkstemp(dir=os.path.dirname(target) or ".", prefix=".vhostguard-", suffix=".parquet.tmp")
    os.close(handle)
    writer: Any = None
    try:
        decided: list[Any] = []  # the schema, once the first block fixed it (time with or without zone)
        for table in _tables(logs, columns, summary.stats, templater, patterns, on_malformed, (block_rows, block_bytes),
                             lambda: decided[0] if decided else None):
            if writer is None:
                decided.append(table.schema)
                writer = _writer(temp, table.schema)
            writer.write_table(table, row_group_size=max(table.num_rows, 1))
            summary.rows += table.num_rows
            summary.row_groups += 1
        if writer is None:  # no line parsed: an error (the caller says so), and the old file stays
            return summary
        writer.close()
        writer = None
        if summary.rows == 0:
            return summary
        os.chmod(temp, _mode(target))
        os.replace(temp, target)
    except OSError as problem:
        if problem.filename not in (None, temp, target):
            raise  # reading a log failed: not the output's fault
        raise ParquetError(f"{out}: {problem.strerror or problem}") from None
    finally:
        if writer is not None:
            writer.close()
        if os.path.exists(temp):
            os.unlink(temp)
    return summary


# Columns whose values are mostly distinct: a Parquet dictionary would be tried, then dropped, at a cost.
_DISTINCT = ("line", "time", "request_line", "path", "query", "log_id", "duration_us", "bytes", "bytes_out", "bytes_in",
             "bytes_total", "first_byte_us")
# Columns whose min/max per row group help a query skip row groups (text statistics cost a pass each).
_STATISTICS = ("line", "time", "vhost", "endpoint", "method", "status", "original_status", "duration_us", "bytes",
               "bytes_out", "bytes_in", "bytes_total", "port")


def _writer(path: str, schema: Any) -> Any:
    import pyarrow.parquet as pq

    leaves = [f"{f.name}.{child.name}" if f.type.num_fields else f.name for f in schema
              for child in (list(f.type) if f.type.num_fields else [f])]
    return pq.ParquetWriter(path, schema, compression="zstd",
                            use_dictionary=[leaf for leaf in leaves if leaf not in _DISTINCT],
                            write_statistics=[name for name in schema.names if name in _STATISTICS])


def _mode(target: str) -> int:
    try:
        return stat.S_IMODE(os.stat(target).st_mode)  # an existing file keeps its permission bits
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _tables(logs: Sequence[tuple[str, Parser]], columns: Mapping[str, Any], stats: ReadStats, templater: EndpointTemplater,
            patterns: tuple[EndpointPattern, ...], on_malformed: Callable[[Malformed], None] | None,
            blocks: tuple[int, int], schema: Callable[[], Any]) -> Iterable[Any]:
    """The row groups of ``logs``, each log read by the compiled scanner when it can, else by the Python parser."""
    for path, parser in logs:
        plan = None if patterns else _plan(parser, columns)
        if plan is not None and _plain(path):
            yield from _scanned_tables(path, parser, plan, columns, stats, templater, on_malformed, schema, blocks[1])
            continue
        for block in _blocks(path, parser, stats, templater, on_malformed, blocks[0]):
            yield _table(block, columns, schema(), stats, on_malformed)


def _plain(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return not is_compressed(handle.read(6))
    except OSError:
        return False  # the Python reader says why


def _blocks(path: str, parser: Parser, stats: ReadStats, templater: EndpointTemplater,
            on_malformed: Callable[[Malformed], None] | None, block_rows: int) -> Iterable[list[dict[str, Any]]]:
    block: list[dict[str, Any]] = []
    template = templater.template
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


@dataclass(frozen=True)
class _Plan:
    """How the compiled scanner reads one format for Parquet: its spec, an output code per spec item, and
    the record key (with the dict entry) of each column it returns."""

    spec: ScanSpec
    outputs: tuple[int, ...]
    keys: tuple[tuple[str, str | None], ...]
    vhost_key: str | None


def _plan(parser: Parser, columns: Mapping[str, Any]) -> _Plan | None:
    """The scanner's plan for ``parser`` (one format), or None when the Python parser must read it."""
    if _scan is None or engine() != "c" or not isinstance(parser, LogFormat):
        return None
    spec = scan_spec(parser.format, {})
    if spec is None:
        return None
    fields = iter([item for item in tokenize(spec.format) if isinstance(item, Field)])
    outputs: list[int] = []
    keys: list[tuple[str, str | None]] = []
    for item in spec.items:
        if isinstance(item, bytes):
            outputs.append(_OUT_SKIP)
            continue
        slot = next(fields).slot
        code = _output(slot, quoted=item[0] == 1)
        if code is None:
            return None
        outputs.append(code)
        keys.extend([(key, None) for key in _REQUEST_COLUMNS] if code == _OUT_REQUEST else [(slot.key, slot.sub)])
    if len(set(keys)) != len(keys):
        return None  # two fields for one value: the Python parser's preference decides
    made = {key for key, _ in keys} | {"file", "line", "vhost", "endpoint"}
    if not set(columns) <= made:
        return None
    named = [key for key, _ in keys if key in ("vhost", "server_name")]
    return _Plan(spec, tuple(outputs), tuple(keys), named[0] if named else None)


def _output(slot: d.Slot, quoted: bool) -> int | None:
    if slot.key == "time":
        return _OUT_TIME
    if slot.kind == d.REQUEST:
        return _OUT_REQUEST
    if slot.kind == d.STR or (slot.kind == d.USER and not quoted):  # unquoted, %u cannot be "" (a quote)
        return _OUT_TEXT
    if slot.kind == d.INT:
        return _OUT_INT16 if slot.key in _INT16 else _OUT_INT
    if slot.kind == d.BYTES_CLF:
        return _OUT_INT_CLF
    if slot.kind == d.DURATION:
        return _OUT_DURATION
    return None


def _scanned_tables(path: str, parser: Parser, plan: _Plan, columns: Mapping[str, Any], stats: ReadStats,
                    templater: EndpointTemplater, on_malformed: Callable[[Malformed], None] | None,
                    schema: Callable[[], Any], block_bytes: int) -> Iterable[Any]:
    """Row groups of plain file ``path`` read by the scanner. The file is read here in blocks of whole lines
    (the first a quarter of the others, so that the writing starts early); SCAN_THREADS threads each scan a
    block into Arrow columns (the scanner and pyarrow release the GIL) while the caller writes the previous
    row groups (pyarrow releases it too). What must follow line order (line numbers, the lines left to the
    Python parser, malformed samples, endpoint caps) is done here, block by block, in order.

    The file is read as one stream, not cut into spans: finding a line start in the middle of a file that
    has no newline for gigabytes would hold all of them (``spans`` reads a whole line to find its end)."""
    name = printable(path)
    first = stats.lines  # line numbers count from the start of this file

    def scanned(data: bytes, decided: Any) -> tuple[int, Any, bytes]:
        lines, rows, buffers, deferred = _scan.parquet_columns(plan.spec.items, data, plan.outputs)
        return lines, _columns_table(plan, columns, buffers, rows, name, decided), deferred

    def finish(future: Future[tuple[int, Any, bytes]], data: bytes) -> Any:
        lines, table, deferred = future.result()
        base = stats.lines - first
        stats.lines += lines
        table = _admitted(_numbered(table, base), templater)
        extra = _deferred_records(parser, data, deferred, name, base, stats, on_malformed)
        if extra:
            table = _merged(table, _admitted(_table(extra, columns, table.schema, stats, on_malformed), templater))
        return table

    with ThreadPoolExecutor(SCAN_THREADS) as pool:
        ahead: deque[tuple[Future[tuple[int, Any, bytes]], bytes]] = deque()
        try:
            for data in _whole_lines(iter_bytes(path), block_bytes, max(1, block_bytes // FIRST_PARTS)):
                if data is None:  # a line too long to keep, skipped by the reader
                    while ahead:
                        yield finish(*ahead.popleft())
                    stats.lines += 1
                    _too_long(stats, name, stats.lines - first, on_malformed)
                    continue
                ahead.append((pool.submit(scanned, data, schema()), data))
                if len(ahead) > SCAN_THREADS:  # a block ahead for each thread, at most
                    yield finish(*ahead.popleft())
            while ahead:
                yield finish(*ahead.popleft())
        finally:
            for future, _ in ahead:
                future.cancel()


def _whole_lines(chunks: Iterable[bytes], block_bytes: int, first_bytes: int | None = None) -> Iterator[bytes | None]:
    """Blocks of about ``block_bytes`` (the first of about ``first_bytes``) of whole lines of ``chunks`` (a
    plain file's bytes, as the reader gives them, joined once); None in place of a line beyond 4 * MAX_LINE
    bytes (more than MAX_LINE characters, whatever they are), which is skipped without being kept."""
    wanted = first_bytes or block_bytes
    pending: list[bytes] = []  # read, not yet yielded
    size = 0  # their bytes
    open_line = 0  # of which after the last newline
    skipping = False
    for chunk in chunks:
        if skipping:
            cut = chunk.find(b"\n")
            if cut < 0:
                continue
            chunk, skipping = chunk[cut + 1:], False
            if not chunk:
                continue
        pending.append(chunk)
        size += len(chunk)
        newline = chunk.rfind(b"\n")
        open_line = open_line + len(chunk) if newline < 0 else len(chunk) - newline - 1
        if open_line > 4 * MAX_LINE:
            if size > open_line:
                yield _joined(pending, size - open_line)
            yield None
            pending, size, open_line, skipping = [], 0, 0, True
            continue
        while size - open_line >= wanted:  # whole lines enough for a block: cut at the first newline after it
            block = _joined(pending, _line_end(pending, wanted - 1) + 1)
            size -= len(block)
            wanted = block_bytes
            yield block
    if pending:
        yield b"".join(pending)


def _line_end(pending: list[bytes], at: int) -> int:
    """The offset in ``pending`` of the first newline at or after ``at`` (there is one)."""
    taken = 0
    for piece in pending:
        if taken + len(piece) > at:
            found = piece.find(b"\n", max(at - taken, 0))
            if found >= 0:
                return taken + found
        taken += len(piece)
    raise AssertionError("no newline pending after the offset asked for")


def _joined(pending: list[bytes], size: int) -> bytes:
    """The first ``size`` bytes of ``pending`` in one copy (no slice copied first); ``pending`` keeps the rest."""
    taken = 0
    for i, piece in enumerate(pending):
        if taken + len(piece) >= size:
            cut = size - taken
            view = memoryview(piece)
            block = b"".join([*pending[:i], view[:cut]])
            pending[:i + 1] = [piece[cut:]] if cut < len(piece) else []  # a copy of less than a chunk
            return block
        taken += len(piece)
    raise AssertionError("fewer bytes pending than asked for")


def _too_long(stats: ReadStats, name: str, line: int, on_malformed: Callable[[Malformed], None] | None) -> None:
    _bad(stats, Malformed(name, line, f"line longer than {MAX_LINE} characters"), on_malformed)


def _bad(stats: ReadStats, bad: Malformed, on_malformed: Callable[[Malformed], None] | None) -> None:
    stats.malformed += 1
    if len(stats.samples) < 5:
        stats.samples.append(bad)
    if on_malformed is not None:
        on_malformed(bad)


def _deferred_records(parser: Parser, data: bytes, deferred: bytes, name: str, base: int, stats: ReadStats,
                      on_malformed: Callable[[Malformed], None] | None) -> list[dict[str, Any]]:
    """The lines the scanner left to the Python parser, read as ``read_log`` reads them."""
    out: list[dict[str, Any]] = []
    triples = memoryview(deferred).cast("q")
    parse = parser.parse
    for i in range(0, len(triples), 3):
        number, start, end = triples[i], triples[i + 1], triples[i + 2]
        line = data[start:end].decode("utf-8", "backslashreplace")
        if line.endswith("\r"):
            line = line[:-1]
        if len(line) > MAX_LINE:
            _too_long(stats, name, base + number, on_malformed)
            continue
        try:
            record = parse(line)
        except LineError as problem:
            _bad(stats, Malformed(name, base + number, problem.message), on_malformed)
            continue
        get = record.get
        record["file"] = name
        record["line"] = base + number
        record["vhost"] = get("vhost") or get("server_name") or host_header_vhost(get("headers_in")) or NONE
        record["endpoint"] = auto_template(get("path"))  # admitted with the block (_admitted)
        out.append(record)
    return out


def _columns_table(plan: _Plan, columns: Mapping[str, Any], buffers: list[tuple[Any, ...]], rows: int, name: str,
                   schema: Any) -> Any:
    """The scanner's columns of one block as a table of ``columns`` (``line`` numbered in the block: see _numbered)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays: dict[str, Any] = {}
    maps: dict[str, list[tuple[str, Any]]] = {}
    for (key, sub), column in zip(plan.keys, buffers):
        kind = pa.string() if len(column) == 4 else pa.timestamp("us", tz="UTC") if key == "time" else pa.int64()
        array = _wrapped(kind, rows, column)
        if sub is not None:
            maps.setdefault(key, []).append((sub, array))
        else:
            arrays[key] = array
    arrays["line"] = _wrapped(pa.int64(), rows, buffers[-1])
    arrays["file"] = pa.DictionaryArray.from_arrays(pa.repeat(pa.scalar(0, pa.int32()), rows), pa.array([name]))
    raw = arrays.get(plan.vhost_key) if plan.vhost_key else None
    if raw is None:
        arrays["vhost"] = pa.repeat(pa.scalar(NONE), rows)
    else:
        named = pc.and_kleene(pc.is_valid(raw), pc.not_equal(raw, ""))
        arrays["vhost"] = pc.if_else(pc.fill_null(named, False), raw, NONE)
    if schema is not None and "time" in columns and schema.field("time").type.tz is None:
        raise ParquetError("times with and without a zone in one export: export the logs of each kind to their own file")
    fields = []
    out = []
    for key, kind in columns.items():
        wanted = kind  # text of few values is dictionary-encoded here, on the scanning thread
        if key == "time":
            wanted = pa.timestamp("us", tz="UTC")
        if key in _MAPS:
            named = dict(maps.get(key, ()))
            values = [named.get(f.name, pa.nulls(rows, pa.string())) for f in wanted]
            array = pa.StructArray.from_arrays(values, fields=list(wanted))
        else:
            array = arrays[key]
        out.append(array if array.type == wanted else array.cast(wanted))
        fields.append(pa.field(key, wanted))
    return pa.Table.from_arrays(out, schema=pa.schema(fields))


def _numbered(table: Any, base: int) -> Any:
    """The block's rows numbered in the file: ``line`` plus the lines before the block."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not base:
        return table
    position = table.schema.get_field_index("line")
    return table.set_column(position, pa.field("line", pa.int64()), pc.add(table.column("line"), pa.scalar(base, pa.int64())))


def _wrapped(kind: Any, rows: int, column: tuple[Any, ...]) -> Any:
    """An Arrow array over the scanner's buffers of one column, without a copy: ``(null count, validity or
    None, buffers...)``, each buffer ``(address, size, owner)``, the owner freeing the memory once Arrow drops it."""
    import pyarrow as pa

    nulls, *buffers = column
    return pa.Array.from_buffers(kind, rows, [None if b is None else pa.foreign_buffer(*b) for b in buffers],
                                 null_count=nulls)


def _merged(table: Any, extra: Any) -> Any:
    """Rows of the scanner, then those the Python parser read (each in line order: sorting the block would
    cost more than building it)."""
    import pyarrow as pa

    return pa.concat_tables([table, extra])


def _admitted(table: Any, templater: EndpointTemplater) -> Any:
    """The block with its ``endpoint`` column (path templates) admitted under report's per-vhost caps, in row
    order (``EndpointTemplater.admit``, once per distinct vhost and template); both columns dictionary-encoded."""
    import pyarrow as pa
    import pyarrow.compute as pc

    vhosts, names = (_dictionary(table.column(key).combine_chunks()) for key in ("vhost", "endpoint"))
    width = len(names.dictionary)
    codes = pc.add(pc.multiply(vhosts.indices.cast(pa.int64()), width), names.indices.cast(pa.int64()))
    distinct = pc.unique(codes)
    vhost_names = vhosts.dictionary.to_pylist()
    template_names = names.dictionary.to_pylist()
    kept: dict[str, int] = {}
    slots = [kept.setdefault(templater.admit(template_names[code % width], vhost_names[code // width]), len(kept))
             for code in distinct.to_pylist()]
    indices = pc.take(pa.array(slots, pa.int32()), pc.index_in(codes, value_set=distinct))
    endpoint = pa.DictionaryArray.from_arrays(indices, pa.array(list(kept), pa.string()))
    encoded = pa.dictionary(pa.int32(), pa.string())
    for key, array in (("vhost", vhosts), ("endpoint", endpoint)):
        position = table.schema.get_field_index(key)
        table = table.set_column(position, pa.field(key, encoded), array)
    return table


def _dictionary(array: Any) -> Any:
    """``array`` dictionary-encoded, each value once in the dictionary (as it comes when already encoded)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(array.type):
        return array
    return pc.dictionary_encode(array)


def _arrow_type(key: str) -> Any:
    import pyarrow as pa

    if key in _INT16:
        return pa.int16()
    if key in _INT64:
        return pa.int64()
    if key in _REPEATED_TEXT:
        return pa.dictionary(pa.int32(), pa.string())
    return pa.string()


_LIMITS = {"status": 1 << 15, "original_status": 1 << 15}


def _table(block: list[dict[str, Any]], columns: Mapping[str, Any], schema: Any, stats: ReadStats,
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
            array = pa.array(values, type=columns[key])
        arrays.append(array)
        fields.append(pa.field(key, array.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields) if schema is None else schema)


def _in_range(block: list[dict[str, Any]], columns: Mapping[str, Any], stats: ReadStats,
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

"""``vhostguard logs``: access-log lines as JSON records (docs/contract.md, ``logs``).

Formats come from ``--log-format`` (a nickname or a format string), else
from the config's own ``CustomLog``/``LogFormat`` lines (``-f``), else they
are detected (``vhostguard.logs.resolve``). With neither FILE nor ``-f``,
the system's config is read, as every other command does. Never runs apache2.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import IO, Any

import click

from vhostguard.cli.common import ConfigArgs, UsageProblem, config_options, load_tree, print_warnings, run
from vhostguard.exitcodes import ExitCode
from vhostguard.logs import (
    EndpointPattern, LogConfig, Malformed, ParquetError, PatternError, ReadStats, ResolvedLog, ResolveError,
    check_parquet_target, find_logs, load_patterns, printable, pyarrow_missing, read_log, resolve_files, resolve_targets,
    write_parquet,
)
from vhostguard.report import plural
from vhostguard.safetext import json_dumps, json_line, json_safe_bytes

try:  # optional: about ten times faster than json.dumps for --jsonl
    import orjson
except ImportError:  # pragma: no cover - depends on the environment
    orjson = None

SHOWN_MALFORMED = 5  # per file, in the human summary
_BATCH = 512  # records per write

LogInput = ResolvedLog  # what a command reads: a log and its parser


@click.command(name="logs")
@click.argument("files", nargs=-1, metavar="[FILE]...")
@config_options
@click.option("--log-format", "log_format", metavar="FMT", help="LogFormat string or nickname (default: from -f CONFIG, else detected).")
@click.option("--jsonl", is_flag=True, help="One JSON object per parsed line on stdout; malformed lines as JSON on stderr.")
@click.option("--parquet", "parquet_file", metavar="OUT.parquet",
              help="Write the parsed lines to one Parquet file (typed columns, zstd; needs vhostguard[parquet]).")
@click.option("--endpoints", "endpoints_file", metavar="FILE",
              help="With --parquet: endpoint patterns for the endpoint column, as report --endpoints.")
def logs(files: tuple[str, ...], config: str | None, server_root: str | None, defines: tuple[str, ...],
         env_file: str | None, log_format: str | None, jsonl: bool, parquet_file: str | None,
         endpoints_file: str | None) -> None:
    """Read access logs (plain, gzip, bzip2, xz) as httpd wrote them.

    FILE... are log files; with -f CONFIG and no FILE, the logs the
    configuration writes (every CustomLog/GlobalLog/TransferLog); with
    neither, those of the system's configuration.
    """

    def body() -> int:
        if parquet_file is not None:
            check_parquet(parquet_file, jsonl)
        elif endpoints_file is not None:
            raise UsageProblem("--endpoints names the endpoint column of --parquet: give --parquet OUT.parquet too")
        patterns = endpoint_patterns(endpoints_file)
        layout = log_config(config, server_root, defines, env_file, files)
        inputs = log_inputs(files, layout, log_format)
        if parquet_file is not None:
            return _parquet(inputs, parquet_file, patterns)
        stats = ReadStats()
        try:
            _emit(inputs, stats, jsonl)
        except BrokenPipeError:
            _silence_stdout()
            raise
        return _finish(stats, inputs)

    run(body)


def log_config(config: str | None, server_root: str | None, defines: tuple[str, ...], env_file: str | None,
               files: tuple[str, ...] = ()) -> LogConfig | None:
    """The logs ``-f CONFIG`` writes; with neither CONFIG nor ``files``, the system's config (as every
    command); None for files without a config. Warnings and notes go to stderr."""
    if config is None and files:
        return None
    args = ConfigArgs(config, server_root, defines, env_file)
    if config is None:
        try:
            args.main_file()
        except UsageProblem:
            raise UsageProblem("no log given and no Apache configuration found: give log files, "
                               "or -f CONFIG to read the logs it writes") from None
    tree = load_tree(args)
    print_warnings(tree)
    layout = find_logs(tree)
    for note in layout.notes:
        click.echo(f"note: {note}", err=True)
    return layout


def log_inputs(files: tuple[str, ...], layout: LogConfig | None, log_format: str | None) -> list[LogInput]:
    """The logs to read, each with its parser: ``files`` (format from ``--log-format``, the config, or
    detected), else every log the config writes that exists. Raises UsageProblem when none can be read."""
    try:
        if files:
            for path in files:
                _check_readable(path)
            found = resolve_files(files, layout, log_format)
        else:
            if layout is None:
                raise UsageProblem("give log files, or -f CONFIG to read the logs it writes")
            found = []
            for item in resolve_targets(layout, log_format):
                if os.path.exists(item.path):
                    found.append(item)
                    continue
                where = ", ".join(str(s) for s in item.target.sources) if item.target else "the configuration"
                click.echo(f"vhostguard: {item.path}: No such file (written by {where})", err=True)
            if not found:
                raise UsageProblem("none of the logs the configuration writes can be read")
    except ResolveError as problem:
        raise UsageProblem(str(problem)) from None
    for item in found:
        if item.note:
            click.echo(f"note: {item.note}", err=True)
    return found


def nothing_usable(inputs: list[LogInput], lines: int) -> str:
    """The one-line error when no line of ``inputs`` parsed: which files (full paths), which formats, what to do."""
    names = ", ".join(printable(os.path.abspath(item.path)) for item in inputs)
    if lines == 0:
        return f"{names}: no lines (empty input: nothing to report)"
    origins = {item.origin for item in inputs}
    if origins == {"--log-format"}:
        return f"{names}: no line matches the format of --log-format ({inputs[0].described!r}); check how the log was written"
    if origins == {"config"}:
        return (f"{names}: no line matches the format the configuration writes ({inputs[0].described!r}); "
                "pass --log-format FORMAT if the log was written another way")
    tried = list(dict.fromkeys(name for item in inputs for name in item.tried))
    return (f"{names}: no line matches the format: tried {', '.join(tried)}; pass -f CONFIG (the config "
            "that writes this log, for its LogFormat) or --log-format FORMAT")


def _check_readable(path: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except IsADirectoryError:
        raise UsageProblem(f"{path}: Is a directory") from None
    except FileNotFoundError:
        raise UsageProblem(f"{path}: No such file") from None
    except OSError as problem:
        raise UsageProblem(f"{path}: {problem.strerror or problem}") from None


def endpoint_patterns(path: str | None) -> tuple[EndpointPattern, ...]:
    """The templates of ``--endpoints FILE`` (none without one); a bad file is a UsageProblem."""
    if path is None:
        return ()
    try:
        return load_patterns(path)
    except OSError as problem:
        raise UsageProblem(f"--endpoints {path}: {problem.strerror or problem}") from None
    except PatternError as problem:
        raise UsageProblem(str(problem)) from None


def _emit(inputs: list[LogInput], stats: ReadStats, jsonl: bool) -> None:
    if jsonl:
        out = sys.stdout.buffer  # click.get_binary_stream is deprecated (Click 9 removes it)
        report = _stderr_json
        for item in inputs:
            _write_records(read_log(item.path, item.parser, stats=stats, on_malformed=report, with_position=True,
                                    name=printable(item.path)), out)
        out.flush()
        return
    for item in inputs:
        before_lines, before_bad = stats.lines, stats.malformed
        shown: list[Malformed] = []

        def keep(bad: Malformed, shown: list[Malformed] = shown) -> None:
            if len(shown) < SHOWN_MALFORMED:
                shown.append(bad)

        for _ in read_log(item.path, item.parser, stats=stats, on_malformed=keep, name=printable(item.path)):
            pass
        click.echo(f"{printable(item.path)}: {plural(stats.lines - before_lines, 'line')}, "
                   f"{stats.malformed - before_bad} malformed (format {item.described!r})")
        for bad in shown:
            click.echo(f"  line {bad.line}: {bad.error}")


def check_parquet(out: str, jsonl: bool) -> None:
    """``--parquet OUT`` can run: pyarrow is installed and OUT is a file that may be replaced (else UsageProblem)."""
    if jsonl:
        raise UsageProblem("--parquet and --jsonl: choose one output")
    missing = pyarrow_missing()
    if missing is not None:
        raise UsageProblem(missing)
    try:
        check_parquet_target(out)
    except ParquetError as problem:
        raise UsageProblem(f"--parquet {problem}") from None


def _parquet(inputs: list[LogInput], out: str, patterns: tuple[EndpointPattern, ...]) -> int:
    shown: list[Malformed] = []

    def keep(bad: Malformed) -> None:
        if len(shown) < SHOWN_MALFORMED:
            shown.append(bad)

    try:
        summary = write_parquet([(item.path, item.parser) for item in inputs], out, patterns=patterns, on_malformed=keep)
    except ParquetError as problem:
        raise UsageProblem(f"--parquet {problem}") from None
    stats = summary.stats
    for bad in shown:
        click.echo(f"{bad.file}:{bad.line}: {printable(bad.error)}", err=True)
    click.echo(f"{plural(stats.lines, 'line')}: {plural(summary.rows, 'row')} written to {printable(out)} "
               f"({plural(summary.row_groups, 'row group')}), {stats.malformed} malformed", err=True)
    return read_outcome(summary.rows, stats.lines, stats.problems, inputs)


def _write_records(records: Any, out: IO[bytes]) -> None:
    encode = _encoder()
    batch: list[bytes] = []
    for record in records:
        batch.append(encode(record))
        if len(batch) >= _BATCH:
            out.write(json_safe_bytes(b"".join(batch)))
            batch.clear()
    if batch:
        out.write(json_safe_bytes(b"".join(batch)))


def _encoder() -> Callable[[dict[str, Any]], bytes]:
    def with_json(record: dict[str, Any]) -> bytes:
        return json_line(record)

    if orjson is None:
        return with_json
    dumps: Callable[..., bytes] = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE

    def fast(record: dict[str, Any]) -> bytes:
        try:
            return dumps(record, option=newline)
        except TypeError:  # an integer beyond 64 bits, a surrogate (an undecodable byte)
            return with_json(record)

    return fast


def _stderr_json(bad: Malformed) -> None:
    click.echo(json_dumps(bad.to_json(), compact=False), err=True)


def _finish(stats: ReadStats, inputs: list[LogInput]) -> int:
    click.echo(f"{plural(stats.lines, 'line')}, {stats.malformed} malformed", err=True)
    return read_outcome(stats.parsed, stats.lines, stats.problems, inputs)


def read_outcome(parsed: int, lines: int, problems: list[str] | tuple[str, ...], inputs: list[LogInput]) -> int:
    """Exit code of a read, after its counts were printed: BAD_INPUT (with one line each on stderr) when a
    file was cut short or damaged (what was read before still counted), or when no line was usable."""
    for problem in problems:
        click.echo(f"vhostguard: {problem}", err=True)
    if parsed == 0:
        click.echo(f"vhostguard: {nothing_usable(inputs, lines)}", err=True)
        return ExitCode.BAD_INPUT
    return ExitCode.BAD_INPUT if problems else ExitCode.OK


def _silence_stdout() -> None:
    # The reader went away (| head): point stdout at /dev/null so the
    # interpreter's final flush does not print a second traceback.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass

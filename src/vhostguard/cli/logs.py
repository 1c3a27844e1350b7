"""``vhostguard logs``: access-log lines as JSON records (CONTRACT.md, ``logs``).

Formats come from ``--log-format`` (a nickname or a format string), else
from the config's own ``CustomLog``/``LogFormat`` lines (``-f``), else the
best of Debian's ``vhost_combined``/``combined``/``common`` for each file.
Never runs apache2.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

import click

from vhostguard.cli.common import ConfigArgs, UsageProblem, config_options, load_tree, print_warnings, run
from vhostguard.exitcodes import ExitCode
from vhostguard.logs.discover import LogConfig, LogTarget, find_logs
from vhostguard.logs.endpoints import EndpointPattern, PatternError, load_patterns
from vhostguard.logs.format import DEFAULT_NICKNAMES, FormatError, LogFormat, parser_for
from vhostguard.logs.reader import FormatChoice, Malformed, Parser, ReadStats, detect_format, read_log
from vhostguard.safetext import json_dumps, json_line, json_safe_bytes

try:  # optional: about ten times faster than json.dumps for --jsonl
    import orjson
except ImportError:  # pragma: no cover - depends on the environment
    orjson = None  # type: ignore[assignment]

AUTO_FORMATS = ("vhost_combined", "combined", "common")  # tried in this order when nothing says which
SHOWN_MALFORMED = 5  # per file, in the human summary
_BATCH = 512  # records per write


@dataclass(frozen=True)
class LogInput:
    path: str
    parser: Parser
    described: str  # the format, for the human summary


@click.command(name="logs")
@click.argument("files", nargs=-1, metavar="[FILE]...")
@config_options
@click.option("--log-format", "log_format", metavar="FMT", help="LogFormat string or nickname (default: from -f CONFIG, else detected).")
@click.option("--jsonl", is_flag=True, help="One JSON object per parsed line on stdout; malformed lines as JSON on stderr.")
def logs(files: tuple[str, ...], config: str | None, server_root: str | None, defines: tuple[str, ...],
         env_file: str | None, log_format: str | None, jsonl: bool) -> None:
    """Read access logs (plain, gzip, bzip2, xz) as httpd wrote them.

    FILE... are log files; with -f CONFIG and no FILE, the logs the
    configuration writes (every CustomLog/GlobalLog/TransferLog).
    """

    def body() -> int:
        layout = log_config(config, server_root, defines, env_file)
        inputs = log_inputs(files, layout, log_format)
        stats = ReadStats()
        try:
            _emit(inputs, stats, jsonl)
        except BrokenPipeError:
            _silence_stdout()
            raise
        return _finish(stats, inputs)

    run(body)


def log_config(config: str | None, server_root: str | None, defines: tuple[str, ...], env_file: str | None) -> LogConfig | None:
    """The logs ``-f CONFIG`` writes (None without a config); its warnings and notes go to stderr."""
    if config is None:
        return None
    tree = load_tree(ConfigArgs(config, server_root, defines, env_file))
    print_warnings(tree)
    layout = find_logs(tree)
    for note in layout.notes:
        click.echo(f"note: {note}", err=True)
    return layout


def log_inputs(files: tuple[str, ...], layout: LogConfig | None, log_format: str | None) -> list[LogInput]:
    """The logs to read, each with its parser: ``files`` (format from ``--log-format``, the config, or
    detected), else every log the config writes that exists. Raises UsageProblem when none can be read."""
    # the config's own nicknames first; the usual ones still work when it does not define them
    nicknames = {**DEFAULT_NICKNAMES, **layout.nicknames} if layout is not None else DEFAULT_NICKNAMES
    explicit = _compile(log_format, nicknames) if log_format else None
    if files:
        for path in files:
            _check_readable(path)
        return [_choose(path, explicit, layout) for path in files]
    if layout is None:
        raise UsageProblem("give log files, or -f CONFIG to read the logs it writes")
    found = []
    for target in layout.targets:
        if not os.path.exists(target.path):
            where = ", ".join(str(s) for s in target.sources)
            click.echo(f"vhostguard: {target.path}: No such file (written by {where})", err=True)
            continue
        parser = explicit or target_parser(target)
        found.append(LogInput(target.path, parser, _described(parser)))
    if not found:
        raise UsageProblem("none of the logs the configuration writes can be read")
    return found


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


def _compile(fmt: str, nicknames: Any) -> LogFormat:
    try:
        return parser_for(fmt, nicknames)
    except FormatError as problem:
        raise UsageProblem(f"--log-format {fmt!r}: {problem}") from None


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


def target_parser(target: LogTarget) -> Parser:
    """The parser of a log the config writes: its format, or a choice when several formats write it."""
    formats = []
    for fmt in target.formats:
        try:
            formats.append(parser_for(fmt, {}))
        except FormatError as problem:
            where = ", ".join(str(s) for s in target.sources)
            raise UsageProblem(f"{where}: LogFormat {fmt!r}: {problem}") from None
    return formats[0] if len(formats) == 1 else FormatChoice(tuple(formats))


def _choose(path: str, explicit: LogFormat | None, layout: LogConfig | None) -> LogInput:
    if explicit is not None:
        return LogInput(path, explicit, explicit.format)
    if layout is not None:
        target = layout.target_for(path)
        if target is not None:
            parser = target_parser(target)
            return LogInput(path, parser, _described(parser))
        candidates = [f for t in layout.targets for f in t.formats]
        if candidates:
            chosen = detect_format(path, [parser_for(f, {}) for f in dict.fromkeys(candidates)])
            return LogInput(path, chosen, chosen.format)
    chosen = detect_format(path, [parser_for(name) for name in AUTO_FORMATS])
    return LogInput(path, chosen, chosen.format)


def _described(parser: Parser) -> str:
    if isinstance(parser, FormatChoice):
        return " | ".join(f.format for f in parser.formats)
    return parser.format if isinstance(parser, LogFormat) else repr(parser)


def _emit(inputs: list[LogInput], stats: ReadStats, jsonl: bool) -> None:
    if jsonl:
        out = sys.stdout.buffer  # click.get_binary_stream is deprecated (Click 9 removes it)
        report = _stderr_json
        for item in inputs:
            _write_records(read_log(item.path, item.parser, stats=stats, on_malformed=report, with_position=True), out)
        out.flush()
        return
    for item in inputs:
        before_lines, before_bad = stats.lines, stats.malformed
        shown: list[Malformed] = []

        def keep(bad: Malformed, shown: list[Malformed] = shown) -> None:
            if len(shown) < SHOWN_MALFORMED:
                shown.append(bad)

        for _ in read_log(item.path, item.parser, stats=stats, on_malformed=keep):
            pass
        click.echo(f"{item.path}: {stats.lines - before_lines} lines, {stats.malformed - before_bad} malformed "
                   f"(format {item.described!r})")
        for bad in shown:
            click.echo(f"  line {bad.line}: {bad.error}")


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
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE

    def fast(record: dict[str, Any]) -> bytes:
        try:
            return dumps(record, option=newline)
        except TypeError:  # an integer beyond 64 bits, a surrogate (an undecodable byte)
            return with_json(record)

    return fast


def _stderr_json(bad: Malformed) -> None:
    click.echo(json_dumps(bad.to_json(), compact=False), err=True)


def _finish(stats: ReadStats, inputs: list[LogInput]) -> int:
    for problem in stats.problems:
        click.echo(f"vhostguard: {problem}", err=True)
    click.echo(f"{stats.lines} lines, {stats.malformed} malformed", err=True)
    if stats.parsed == 0:
        names = ", ".join(item.path for item in inputs)
        why = "no lines" if stats.lines == 0 else "no line matches the format"
        click.echo(f"vhostguard: {names}: {why}", err=True)
        return ExitCode.BAD_INPUT
    return ExitCode.OK


def _silence_stdout() -> None:
    # The reader went away (| head): point stdout at /dev/null so the
    # interpreter's final flush does not print a second traceback.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass

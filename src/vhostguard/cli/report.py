"""``vhostguard report``: per-endpoint analytics of access logs (CONTRACT.md, ``report``).

Inputs are resolved as ``vhostguard logs`` resolves them: ``-f CONFIG``
alone reads every log the configuration writes, in its own format; ``LOG...``
are files (plain, gzip, bzip2, xz), their format from ``--log-format``, else
from the config, else detected. Never runs apache2.
"""
from __future__ import annotations

import os
import sys

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from vhostguard.cli.common import UsageProblem, config_options, emit_json, run
from vhostguard.cli.output import check_output, console, write_output
from vhostguard.cli.logs import endpoint_patterns, log_config, log_inputs
from vhostguard.exitcodes import ExitCode
from vhostguard.logs.format import FormatError, LogFormat
from vhostguard.logs.reader import FormatChoice, Parser
from vhostguard.monitor.aggregate import AggregateOptions, Analysis, LogSource, analyse
from vhostguard.report.analytics import report_html, report_json, tables

WIDTH_OFF_TTY = 160  # columns for tables written to a file or a pipe (rich would assume 80)


@click.command(name="report")
@click.argument("files", nargs=-1, metavar="[LOG]...")
@config_options
@click.option("--log-format", "log_format", metavar="FMT", help="LogFormat string or nickname (default: from -f CONFIG, else detected).")
@click.option("--endpoints", "endpoints_file", metavar="FILE",
              help="Endpoint patterns, one per line (/v1/users/{id}, or ^REGEX NAME); they win over the automatic templates.")
@click.option("--json", "as_json", is_flag=True, help="The CONTRACT.md JSON document on stdout (every endpoint).")
@click.option("--html", "html_file", metavar="FILE", help="Also write one self-contained HTML page with charts.")
@click.option("--top", default=20, show_default=True, type=click.IntRange(min=1),
              help="Endpoints (and vhosts) in the tables and charts.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Reader processes (default: the CPUs available).")
def report(files: tuple[str, ...], config: str | None, server_root: str | None, defines: tuple[str, ...],
           env_file: str | None, log_format: str | None, endpoints_file: str | None, as_json: bool,
           html_file: str | None, top: int, jobs: int | None) -> None:
    """Per vhost, method and endpoint: requests, status classes, 5xx ratio, latency, bytes, bursts.

    LOG... are access logs; with -f CONFIG and no LOG, the logs the
    configuration writes (every CustomLog/GlobalLog/TransferLog).
    Malformed lines are counted and shown, never fatal.
    """

    def body() -> int:
        patterns = endpoint_patterns(endpoints_file)
        if html_file is not None:
            check_output("--html", html_file)
        layout = log_config(config, server_root, defines, env_file)
        sources = [LogSource(item.path, _formats(item.parser)) for item in log_inputs(files, layout, log_format)]
        analysis = _analyse(sources, AggregateOptions(patterns=patterns, workers=jobs))
        if as_json:
            emit_json(report_json(analysis))
        else:
            _console(sys.stdout).print(tables(analysis, top))
        if html_file is not None:
            write_output("--html", html_file, report_html(analysis, top, f"vhostguard report: {_names(sources)}"))
        return _finish(analysis, sources, as_json)

    run(body)


def _formats(parser: Parser) -> tuple[str, ...]:
    if isinstance(parser, FormatChoice):
        return tuple(f.format for f in parser.formats)
    assert isinstance(parser, LogFormat)
    return (parser.format,)


def _analyse(sources: list[LogSource], options: AggregateOptions) -> Analysis:
    try:
        if not sys.stderr.isatty():
            return analyse(sources, options)
        with _progress() as progress:
            task = progress.add_task("reading", total=sum(os.path.getsize(s.path) for s in sources))

            def advance(done: int) -> None:
                progress.advance(task, done)
                progress.refresh()

            return analyse(sources, options, advance)
    except FormatError as problem:
        raise UsageProblem(f"log format: {problem}") from None
    except OSError as problem:
        raise UsageProblem(f"{problem.filename or 'log'}: {problem.strerror or problem}") from None


def _progress() -> Progress:
    # No refresh thread: the readers are forked, and a thread holding the
    # console lock at fork time would leave the child's copy locked.
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                    console=console(stderr=True), transient=True, auto_refresh=False)


def _console(stream: object) -> Console:
    is_tty = bool(getattr(stream, "isatty", lambda: False)())
    return console(stream, width=None if is_tty else WIDTH_OFF_TTY)


def _names(sources: list[LogSource]) -> str:
    names = [os.path.basename(s.path) for s in sources]
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _finish(analysis: Analysis, sources: list[LogSource], as_json: bool) -> int:
    for problem in analysis.problems:
        click.echo(f"vhostguard: {problem}", err=True)
    for vhost, count in sorted(analysis.folded().items()):
        click.echo(f"note: {vhost}: {count} requests under {{other}} (endpoint cap reached)", err=True)
    if not analysis.caps_exact:
        click.echo("note: a reader reached its own endpoint cap; which rare endpoints fold into {other} "
                   "may differ from a sequential read (totals are exact)", err=True)
    if as_json:  # the tables show them otherwise
        for bad in analysis.samples:
            click.echo(f"{bad.file}:{bad.line}: malformed: {bad.error}", err=True)
    click.echo(f"{analysis.lines} lines, {analysis.malformed} malformed", err=True)
    if analysis.valid == 0:
        why = "no lines" if analysis.lines == 0 else "no line matches the format"
        click.echo(f"vhostguard: {_names(sources)}: {why}", err=True)
        return ExitCode.BAD_INPUT
    return ExitCode.OK

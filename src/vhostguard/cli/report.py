"""``vhostguard report``: per-endpoint analytics of access logs (docs/contract.md, ``report``).

Inputs are resolved as ``vhostguard logs`` resolves them: ``-f CONFIG``
alone reads every log the configuration writes, in its own format; ``LOG...``
are files (plain, gzip, bzip2, xz), their format from ``--log-format``, else
from the config, else detected. Never runs apache2.
"""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

from vhostguard.cli.common import UsageProblem, config_options, emit_json, run
from vhostguard.cli.output import check_output, console, write_output
from vhostguard.cli.logs import LogInput, endpoint_patterns, log_config, log_inputs, read_outcome
from vhostguard.logs import FormatError, printable
from vhostguard.analytics import AggregateOptions, Analysis, LogSource, analyse
from vhostguard.report import plural, report_json

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

WIDTH_OFF_TTY = 160  # columns for tables written to a file or a pipe (rich would assume 80)


@click.command(name="report")
@click.argument("files", nargs=-1, metavar="[LOG]...")
@config_options
@click.option("--log-format", "log_format", metavar="FMT", help="LogFormat string or nickname (default: from -f CONFIG, else detected).")
@click.option("--endpoints", "endpoints_file", metavar="FILE",
              help="Endpoint patterns, one per line (/v1/users/{id}, or ^REGEX NAME); they win over the automatic templates.")
@click.option("--json", "as_json", is_flag=True, help="The docs/contract.md JSON document on stdout (every endpoint).")
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
    configuration writes (every CustomLog/GlobalLog/TransferLog); with
    neither, those of the system's configuration.
    Malformed lines are counted and shown, never fatal.
    """

    def body() -> int:
        patterns = endpoint_patterns(endpoints_file)
        if html_file is not None:
            check_output("--html", html_file)
        layout = log_config(config, server_root, defines, env_file, files)
        inputs = log_inputs(files, layout, log_format)
        sources = [LogSource(item.path, item.formats) for item in inputs]
        # the per-endpoint series feed the charts only (tables and page), not the JSON document
        charted = html_file is not None or not as_json
        analysis = _analyse(sources, AggregateOptions(patterns=patterns, workers=jobs, series=charted))
        if as_json:  # the document says lines and malformed even when nothing was usable (exit 2)
            emit_json(report_json(analysis))
        if analysis.valid and (html_file is not None or not as_json):
            # (nothing usable: no empty table, no empty page, only the error, _finish)
            # the tables and the page need rich, imported only here: --json alone spares its ~0.1 s
            from vhostguard.report import report_html, tables
            if not as_json:
                _console(sys.stdout).print(tables(analysis, top))
            if html_file is not None:
                write_output("--html", html_file, report_html(analysis, top, f"vhostguard report: {_names(sources)}"))
        return _finish(analysis, inputs, as_json)

    run(body)


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
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
    # No refresh thread: the readers are forked, and a thread holding the
    # console lock at fork time would leave the child's copy locked.
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                    console=console(stderr=True), transient=True, auto_refresh=False)


def _console(stream: object) -> Console:
    is_tty = bool(getattr(stream, "isatty", lambda: False)())
    return console(stream, width=None if is_tty else WIDTH_OFF_TTY)


def _names(sources: list[LogSource]) -> str:
    names = [printable(os.path.basename(s.path)) for s in sources]
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _finish(analysis: Analysis, inputs: list[LogInput], as_json: bool) -> int:
    for vhost, count in sorted(analysis.folded().items()):
        click.echo(f"note: {vhost}: {plural(count, 'request')} under {{other}} (endpoint cap reached)", err=True)
    if not analysis.caps_exact:
        click.echo("note: a reader reached its own endpoint cap; which rare endpoints fold into {other} "
                   "may differ from a sequential read (totals are exact)", err=True)
    if as_json or not analysis.valid:  # the tables show them otherwise
        for bad in analysis.samples:
            click.echo(f"{printable(bad.file)}:{bad.line}: malformed: {bad.error}", err=True)
    click.echo(f"{plural(analysis.lines, 'line')}, {analysis.malformed} malformed", err=True)
    return read_outcome(analysis.valid, analysis.lines, analysis.problems, inputs)

"""``vhostguard diff OLD NEW``: which real requests would the candidate config route differently."""
from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable

import click

from vhostguard.checks.diff import allowed, load_allowances, replay
from vhostguard.checks.replay import ReplayError, plan_jobs
from vhostguard.cli.common import ConfigArgs, UsageProblem, emit_json, load_model, print_warnings, run
from vhostguard.cli.output import console
from vhostguard.report.diff import diff_json, diff_text


def _progress(paths: list[str]) -> tuple[Callable[[int], None] | None, Callable[[], None]]:
    """A rich progress display on a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    display = Progress(SpinnerColumn(), TextColumn("replaying {task.completed:,} requests from " + ", ".join(paths)),
                       TimeElapsedColumn(), transient=True, console=console(stderr=True))
    task = display.add_task("diff", total=None)
    display.start()
    return (lambda done: display.update(task, completed=done)), display.stop


@click.command()
@click.argument("old", metavar="OLD")
@click.argument("new", metavar="NEW")
@click.option("--requests", "request_files", multiple=True, required=True, metavar="FILE",
              help="Access log (read with OLD's LogFormat) or URL list, one per line; repeatable; .gz is fine.")
@click.option("--log-format", metavar="FMT", help="LogFormat string or nickname, when OLD's cannot be used.")
@click.option("--host", "default_host", metavar="HOST", help="Host for log lines that record none (%{Host}i, %V, %v).")
@click.option("--allow", "allow_file", metavar="FILE", help="YAML list of intended changes, e.g. {old_vhost: a, new_vhost: b}.")
@click.option("-d", "--server-root", "server_root", metavar="DIR", help="ServerRoot for both configs.")
@click.option("-D", "defines", multiple=True, metavar="NAME[=VALUE]", help="Define a name for both configs.")
@click.option("--env-file", "env_file", metavar="FILE", help="Shell file of exported variables for ${VAR}.")
@click.option("--json", "as_json", is_flag=True, help="Machine output (CONTRACT.md schema 1).")
def diff(old: str, new: str, request_files: tuple[str, ...], log_format: str | None, default_host: str | None,
         allow_file: str | None, server_root: str | None, defines: tuple[str, ...], env_file: str | None,
         as_json: bool) -> None:
    """Replay real requests through OLD and NEW; exit 1 when any would change (never runs apache2)."""

    def body() -> int:
        old_model = load_model(ConfigArgs(old, server_root, defines, env_file))
        new_model = load_model(ConfigArgs(new, server_root, defines, env_file))
        print_warnings(old_model.tree)
        print_warnings(new_model.tree)
        allowances = []
        if allow_file:
            try:
                allowances = load_allowances(allow_file)
            except (OSError, ValueError) as problem:
                raise UsageProblem(str(problem)) from None
        workers = max(1, min(os.cpu_count() or 1, 4))
        # The models are long-lived and the replay allocates millions of short-lived
        # objects without cycles: keep the cyclic GC from rescanning the models.
        gc.freeze()
        gc.disable()
        report_progress, stop_progress = _progress(list(request_files))
        try:
            jobs = plan_jobs(list(request_files), old_model.tree, log_format, workers)
            result, stats = replay(old_model, new_model, jobs, default_host, workers, report_progress)
        except ReplayError as problem:
            raise UsageProblem(str(problem)) from None
        finally:
            stop_progress()
            gc.enable()
        result.skipped = stats.unusable
        if stats.lines and not result.requests and stats.malformed == stats.lines:
            raise UsageProblem(f"no line of {', '.join(request_files)} could be read; check --log-format")
        allowed_ids = {id(g) for g in result.groups.values() if allowed(g, allowances)}
        if as_json:
            emit_json(diff_json(result, allowed_ids))
        else:
            click.echo(diff_text(result, allowed_ids), nl=False)
        if stats.malformed:
            click.echo(f"{stats.malformed} of {stats.lines} lines were malformed and skipped; first: "
                       + "; ".join(stats.samples[:3]), err=True)
        unexplained = [g for g in result.groups.values() if id(g) not in allowed_ids]
        return 1 if unexplained else 0

    run(body)

"""``vhostguard diff OLD NEW``: which real requests would the candidate config route differently."""
from __future__ import annotations

import os
import sys
from collections.abc import Callable

import click

from vhostguard.checks import allowed, load_allowances, replay_diff
from vhostguard.checks import ReplayError, ReplayStats, plan_jobs
from vhostguard.cli.common import ConfigArgs, UsageProblem, emit_json, load_model, print_warnings, run
from vhostguard.cli.output import console
from vhostguard.exitcodes import ExitCode
from vhostguard.logs import printable
from vhostguard.report import diff_json, diff_text
from vhostguard.report import plural
from vhostguard.speed import gc_paused


def _progress(paths: list[str]) -> tuple[Callable[[int], None] | None, Callable[[], None]]:
    """A rich progress display on a terminal (requests replayed so far); nothing otherwise."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    sources = ", ".join(printable(p) for p in paths)
    display = Progress(SpinnerColumn(), TextColumn("{task.fields[text]}", markup=False), TimeElapsedColumn(),
                       console=console(stderr=True), transient=True)
    task = display.add_task("diff", total=None, text=f"reading {sources}")
    display.start()

    def report(done: int) -> None:
        display.update(task, text=f"replayed {plural(done, 'request')} from {sources}")

    return report, display.stop


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
@click.option("--strict-paths", "strict_paths", is_flag=True,
              help="Compare paths literally (default: a path under OLD's ServerRoot or config directory equals "
                   "the same relative path under NEW's).")
@click.option("--json", "as_json", is_flag=True, help="Machine output (docs/contract.md schema 1).")
def diff(old: str, new: str, request_files: tuple[str, ...], log_format: str | None, default_host: str | None,
         allow_file: str | None, server_root: str | None, defines: tuple[str, ...], env_file: str | None,
         strict_paths: bool, as_json: bool) -> None:
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
        report_progress, stop_progress = _progress(list(request_files))
        try:
            with gc_paused(unfreeze=False):
                jobs = plan_jobs(list(request_files), old_model.tree, log_format, workers)
                result, stats = replay_diff(old_model, new_model, jobs, default_host, workers, report_progress,
                                            strict_paths=strict_paths)
        except ReplayError as problem:
            raise UsageProblem(str(problem)) from None
        except OSError as problem:
            raise UsageProblem(f"{printable(str(problem.filename or 'requests'))}: {problem.strerror or problem}") from None
        finally:
            stop_progress()
        result.skipped = stats.unusable
        names = ", ".join(printable(path) for path in request_files)
        if not result.requests:
            raise UsageProblem(_nothing_replayed(names, stats))
        allowed_ids = {id(g) for g in result.groups.values() if allowed(g, allowances)}
        if as_json:
            emit_json(diff_json(result, allowed_ids))
        else:
            click.echo(diff_text(result, allowed_ids), nl=False)
        if stats.malformed:
            click.echo(f"{stats.malformed} of {plural(stats.lines, 'line')} malformed and skipped; first: "
                       + stats.sample_text(), err=True)
        if stats.unusable:
            click.echo(f"{plural(stats.unusable, 'line')} skipped: {_NO_HOST}", err=True)
        for damaged in stats.problems:
            click.echo(f"vhostguard: {damaged}", err=True)
        if stats.problems:
            return ExitCode.BAD_INPUT
        unexplained = [g for g in result.groups.values() if id(g) not in allowed_ids]
        return ExitCode.FINDINGS if unexplained else ExitCode.OK

    run(body)


_NO_HOST = ("no Host recorded (the LogFormat logs no %{Host}i, %V or %v); "
            "pass --host HOST to replay such lines with that Host")


def _nothing_replayed(names: str, stats: ReplayStats) -> str:
    """Why not one request was replayed, and what to do: a gate must never pass on nothing."""
    damaged = f" ({'; '.join(stats.problems)})" if stats.problems else ""
    if stats.lines == 0:
        return f"{names}: no lines, nothing to replay{damaged}"
    if stats.malformed == stats.lines:
        return (f"no line of {names} could be read ({plural(stats.lines, 'line')}, all malformed; first: "
                f"{stats.sample_text(1)}){damaged}; check --log-format (or -f: the OLD config's LogFormat)")
    return (f"0 requests replayed from {names}: {stats.unusable} of {plural(stats.lines, 'line')} skipped, "
            f"{_NO_HOST}{damaged}")

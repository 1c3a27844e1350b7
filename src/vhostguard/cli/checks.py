"""``vhostguard test``: routing expectations, offline or against a sandboxed apache2."""
from __future__ import annotations

import os
import sys

import click

from vhostguard.checks import (
    ExpectationError, common_routes, generate_expectations, load_expectations, run_live, run_offline,
)
from vhostguard.checks import ReplayError, ReplayStats, job_requests, plan_jobs
from vhostguard.cli.common import ConfigArgs, UsageProblem, config_options, emit_json, load_model, print_warnings, run
from vhostguard.cli.output import check_output, write_output
from vhostguard.safetext import terminal_text
from vhostguard.cli.routing import default_local_ip
from vhostguard.report import results_json, results_junit, results_text
from vhostguard.model import ServerModel
from vhostguard.report import plural
from vhostguard.routing import Request, RequestError, Router


@click.command(name="test")
@click.argument("expectations", required=False, metavar="EXPECTATIONS.yaml")
@config_options
@click.option("--live", is_flag=True, help="Run the cases against a sandboxed real apache2 started on the config.")
@click.option("--json", "as_json", is_flag=True, help="Machine output (docs/contract.md schema 1).")
@click.option("--junit", "junit", metavar="FILE", help="Also write JUnit XML to FILE.")
@click.option("--generate", is_flag=True,
              help="Write to stdout an expectations file pinning today's routing of --url/--urls/--from-log requests.")
@click.option("--url", "generate_urls", multiple=True, metavar="URL", help="With --generate: a URL (repeatable).")
@click.option("--urls", "urls_file", metavar="FILE", help="Generate from the URLs in FILE, one per line.")
@click.option("--from-log", "from_logs", multiple=True, metavar="LOG",
              help="Generate from an access log's most common routes (read with the config's LogFormat).")
@click.option("--top", default=20, show_default=True, help="With --from-log: how many routes.")
def test_command(expectations: str | None, config: str | None, server_root: str | None, defines: tuple[str, ...],
                 env_file: str | None, live: bool, as_json: bool, junit: str | None, generate: bool,
                 generate_urls: tuple[str, ...], urls_file: str | None, from_logs: tuple[str, ...], top: int) -> None:
    """Check routing expectations (exit 1 when any case fails)."""

    def body() -> int:
        if junit:
            _check_writable(junit, "--junit")
        if generate:
            if not (generate_urls or urls_file or from_logs):
                raise UsageProblem("--generate needs requests: --url URL, --urls FILE or --from-log LOG")
            return _generate(ConfigArgs(config, server_root, defines, env_file), generate_urls, urls_file, from_logs, top)
        if expectations is None:
            raise UsageProblem("give an expectations file (vhostguard test cases.yaml), or --generate with --url/--urls/--from-log")
        try:
            spec = load_expectations(expectations)
        except ExpectationError as problem:
            raise UsageProblem(str(problem)) from None
        if junit:
            check_output("--junit", junit)
        args = ConfigArgs(config or spec.config, server_root, defines, env_file)
        model = load_model(args)
        print_warnings(model.tree)
        if live:
            results = _run_live(args, spec.cases)
        else:
            results = run_offline(Router(model), spec.cases, lambda port: default_local_ip(model, port))
        mode = "live" if live else "offline"
        if junit:
            # XML 1.0 cannot carry control characters, not even as references: a hostile
            # ServerName in a failure message is written escaped (\x1b), as on the terminal.
            write_output("--junit", junit, terminal_text(results_junit(spec, results, mode)))
        if as_json:
            emit_json(results_json(spec, results, mode))
        else:
            click.echo(results_text(spec, results, mode), nl=False)
        return 1 if any(not r.passed for r in results) else 0

    run(body)


def _run_live(args: ConfigArgs, cases: tuple) -> list:  # type: ignore[type-arg]
    from vhostguard.live import Sandbox, SandboxError

    try:
        with Sandbox(args.main_file(), server_root=args.server_root, defines=args.options().defines,
                     env_file=args.env_file) as sandbox:
            return run_live(sandbox, cases)
    except SandboxError as problem:
        raise UsageProblem(f"--live: {problem}") from None


def _check_writable(path: str, option: str) -> None:
    """Fail before the work, not after it, when ``path`` cannot be written."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageProblem(f"{option} {path}: is a directory; name a file")
    if not os.path.isdir(directory):
        raise UsageProblem(f"{option} {path}: no such directory {directory}; create it first")
    if not os.access(directory, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise UsageProblem(f"{option} {path}: not writable")


def _generate(args: ConfigArgs, urls: tuple[str, ...], urls_file: str | None, from_logs: tuple[str, ...], top: int) -> int:
    for url in urls:
        _check_url(url, "--url")
    wanted = list(urls)
    if urls_file:
        listed = _read_urls(urls_file)
        if not listed:
            raise UsageProblem(f"--urls {urls_file}: no URLs in it (one per line; blank lines and # comments are skipped)")
        wanted += listed
    model = load_model(args)
    if from_logs:
        wanted += _log_routes(model, list(from_logs), top)
    sys.stdout.write(generate_expectations(Router(model), wanted, lambda port: default_local_ip(model, port)))
    return 0


def _check_url(url: str, where: str) -> None:
    try:
        Request.from_url(url)
    except RequestError as problem:
        raise UsageProblem(f"{where}: {problem}") from None


def _read_urls(path: str) -> list[str]:
    """The URLs of a ``--urls`` file, each checked; a bad one is reported as file:line."""
    found = []
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                url = line.strip()
                if url and not url.startswith("#"):
                    _check_url(url, f"{path}:{number}")
                    found.append(url)
    except OSError as exc:
        raise UsageProblem(f"--urls {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageProblem(f"--urls {path}: not UTF-8 text") from None
    return found


def _log_routes(model: ServerModel, logs: list[str], top: int) -> list[str]:
    stats = ReplayStats()
    try:
        jobs = plan_jobs(logs, model.tree, None, 1)
        requests = (Request(*fields) for job in jobs for fields in job_requests(job, stats, None, model.default_local_ip))
        routes = common_routes(requests, top)
    except ReplayError as problem:
        raise UsageProblem(str(problem)) from None
    if not routes:
        why = (f"{plural(stats.lines, 'line')} read, {stats.malformed} malformed, "
               f"{stats.unusable} without a Host") if stats.lines else ("the log is empty" if len(logs) == 1 else "the logs are empty")
        first = f"; first malformed: {stats.samples[0]}" if stats.samples else ""
        raise UsageProblem(f"--from-log {' '.join(logs)}: no requests to generate cases from ({why}){first}")
    return routes

"""``vhostguard test``: routing expectations, offline or against a sandboxed apache2."""
from __future__ import annotations

import sys

import click

from vhostguard.checks.expectations import ExpectationError, generate, load_expectations, run_live, run_offline
from vhostguard.cli.common import ConfigArgs, UsageProblem, config_options, emit_json, load_model, print_warnings, run
from vhostguard.cli.routing import default_local_ip
from vhostguard.report.expectations import results_json, results_junit, results_text
from vhostguard.routing import Router


@click.command(name="test")
@click.argument("expectations", required=False, metavar="EXPECTATIONS.yaml")
@config_options
@click.option("--live", is_flag=True, help="Run the cases against a sandboxed real apache2 started on the config.")
@click.option("--json", "as_json", is_flag=True, help="Machine output.")
@click.option("--junit", "junit", metavar="FILE", help="Also write JUnit XML to FILE.")
@click.option("--generate", "generate_urls", multiple=True, metavar="URL",
              help="Write an expectations file pinning today's routing of URL (repeatable) to stdout.")
@click.option("--urls", "urls_file", metavar="FILE", help="With --generate: read URLs from FILE, one per line.")
def test_command(expectations: str | None, config: str | None, server_root: str | None, defines: tuple[str, ...],
                 env_file: str | None, live: bool, as_json: bool, junit: str | None,
                 generate_urls: tuple[str, ...], urls_file: str | None) -> None:
    """Check routing expectations (exit 1 when any case fails)."""

    def body() -> int:
        if generate_urls or urls_file:
            return _generate(ConfigArgs(config, server_root, defines, env_file), generate_urls, urls_file)
        if expectations is None:
            raise UsageProblem("give an expectations file (vhostguard test cases.yaml) or --generate URL")
        try:
            spec = load_expectations(expectations)
        except ExpectationError as problem:
            raise UsageProblem(str(problem)) from None
        args = ConfigArgs(config or spec.config, server_root, defines, env_file)
        model = load_model(args)
        print_warnings(model.tree)
        if live:
            results = _run_live(args, spec.cases)
        else:
            results = run_offline(Router(model), spec.cases, lambda port: default_local_ip(model, port))
        mode = "live" if live else "offline"
        if junit:
            with open(junit, "w", encoding="utf-8") as handle:
                handle.write(results_junit(spec, results, mode))
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


def _generate(args: ConfigArgs, urls: tuple[str, ...], urls_file: str | None) -> int:
    wanted = list(urls)
    if urls_file:
        try:
            with open(urls_file, encoding="utf-8") as handle:
                wanted += [line.strip() for line in handle if line.strip() and not line.startswith("#")]
        except OSError as exc:
            raise UsageProblem(f"{urls_file}: {exc.strerror}") from None
    model = load_model(args)
    sys.stdout.write(generate(Router(model), wanted, lambda port: default_local_ip(model, port)))
    return 0

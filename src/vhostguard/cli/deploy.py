"""``vhostguard deploy CANDIDATE_DIR``, ``vhostguard rollback [ID]``, ``vhostguard history``:
config changes through gates, blue/green slots, a graceful reload and verification (issue 12)."""
from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import click

from vhostguard.cli.common import ConfigArgs, UsageProblem, config_options, emit_json, run
from vhostguard.cli.events import record
from vhostguard.cli.params import duration
from vhostguard.incidents import deploy_events
from vhostguard.deploy import (
    DeployError, DeployRequest, RollbackRequest, ServerOptions, default_deploy_state, history as read_history,
)
from vhostguard.deploy import deploy as run_deploy
from vhostguard.deploy import rollback as run_rollback
from vhostguard.exitcodes import ExitCode
from vhostguard.safetext import terminal_text

SUCCESS = {"deployed", "dry-run", "unchanged"}


def _progress(json_output: bool) -> Any:
    """Each step as it happens on stderr (a deploy takes a minute: say what it waits for), except
    under --json when stderr is not a terminal (a pipeline reads the document only)."""
    if json_output and not sys.stderr.isatty():
        return None
    return lambda text: click.echo(f"  {terminal_text(text)}", err=True)


def _server(args: ConfigArgs, reload_command: str | None, apache2: str | None) -> ServerOptions:
    return ServerOptions(live_main=args.main_file(), server_root=args.server_root, env_file=args.env_file,
                         defines=args.defines, reload_command=reload_command, apache2=apache2)


def _exit(document: dict[str, Any]) -> int:
    return int(ExitCode.OK if document.get("outcome") in SUCCESS else ExitCode.FINDINGS)


@click.command()
@click.argument("candidate_dir", metavar="CANDIDATE_DIR")
@config_options
@click.option("--verify", "expectations", multiple=True, metavar="FILE.yaml",
              help="Routing expectations: checked offline, in a sandbox, and against the server after the switch.")
@click.option("--requests", "requests", multiple=True, metavar="LOG",
              help="Access log to replay for the diff gate (default: the live config's own access logs).")
@click.option("--allow", "allow", multiple=True, metavar="FILE.yaml",
              help="Intended routing changes the diff gate lets through (the format of diff --allow).")
@click.option("--replay-window", "replay_window", callback=duration, default="1h", show_default=True,
              help="How far back the default access logs are replayed.")
@click.option("--max-requests", type=click.IntRange(min=1), default=1_000_000, show_default=True,
              help="At most this many requests replayed.")
@click.option("--watch", "watch", callback=duration, default="60s", show_default=True,
              help="How long the new config is verified before the deploy counts as done.")
@click.option("--reload", "reload_command", metavar="CMD",
              help="Reload command (default: apache2ctl graceful, httpd -k graceful or systemctl reload).")
@click.option("--apache2", "apache2", metavar="PATH", help="The apache2/httpd binary (default: found on PATH).")
@click.option("--state", "state_dir", metavar="DIR",
              help="Journal and kept configs (default: $VHOSTGUARD_STATE_DIR, else /var/lib/vhostguard for root, else $XDG_STATE_HOME/vhostguard).")
@click.option("--force", is_flag=True, help="Let routing changes found by the diff gate through (recorded as forced).")
@click.option("--dry-run", is_flag=True, help="Run the gates and print every step; change nothing.")
@click.option("--json", "json_output", is_flag=True, help="Print the deploy document (docs/contract.md).")
def deploy(candidate_dir: str, config: str | None, server_root: str | None, defines: tuple[str, ...],
           env_file: str | None, expectations: tuple[str, ...], requests: tuple[str, ...], allow: tuple[str, ...],
           replay_window: float, max_requests: int, watch: float, reload_command: str | None, apache2: str | None,
           state_dir: str | None, force: bool, dry_run: bool, json_output: bool) -> None:
    """Deploy CANDIDATE_DIR (laid out as the live config directory): gates, switch, reload, verify, and
    an automatic rollback when the new config does not serve correctly."""

    def action() -> int:
        args = ConfigArgs(config, server_root, defines, env_file)
        request = DeployRequest(
            candidate_dir=candidate_dir, server=_server(args, reload_command, apache2),
            state_dir=state_dir or default_deploy_state(), expectations=expectations, requests=requests, allow=allow,
            replay_window_s=replay_window, max_requests=max_requests, watch_s=watch, force=force, dry_run=dry_run)
        try:
            document = run_deploy(request, progress=_progress(json_output))
        except DeployError as problem:
            raise UsageProblem(str(problem)) from None
        if not dry_run:
            record(lambda: deploy_events(document), request.state_dir)
        _show(document, json_output)
        return _exit(document)

    run(action)


@click.command()
@click.argument("deploy_id", metavar="[ID]", required=False)
@click.option("--state", "state_dir", metavar="DIR", help="The journal (default as for deploy).")
@click.option("--reload", "reload_command", metavar="CMD", help="Reload command (default: the one the deploy used).")
@click.option("--verify", "expectations", multiple=True, metavar="FILE.yaml",
              help="Expectations to verify (default: those the deploy was verified with).")
@click.option("--watch", "watch", callback=duration, default="10s", show_default=True,
              help="How long the restored config is verified.")
@click.option("--json", "json_output", is_flag=True, help="Print the rollback document (docs/contract.md).")
def rollback(deploy_id: str | None, state_dir: str | None, reload_command: str | None, expectations: tuple[str, ...],
             watch: float, json_output: bool) -> None:
    """Put back the config deploy ID installed (default: the config live before the newest deploy)."""

    def action() -> int:
        request = RollbackRequest(state_dir=state_dir or default_deploy_state(), target=deploy_id,
                                  expectations=expectations, watch_s=watch, reload_command=reload_command)
        try:
            document = run_rollback(request, progress=_progress(json_output))
        except DeployError as problem:
            raise UsageProblem(str(problem)) from None
        if document.get("outcome") != "unchanged":
            record(lambda: deploy_events(document), request.state_dir)
        _show(document, json_output)
        return int(ExitCode.OK if document.get("outcome") in ("rolled-back", "unchanged") else ExitCode.FINDINGS)

    run(action)


@click.command()
@click.option("--state", "state_dir", metavar="DIR", help="The journal (default as for deploy).")
@click.option("--json", "json_output", is_flag=True, help="The deploy documents, newest first (docs/contract.md).")
def history(state_dir: str | None, json_output: bool) -> None:
    """Every deploy and rollback, newest first: outcome, slots, gates, reload and verification."""

    def action() -> int:
        try:
            deploys = read_history(state_dir or default_deploy_state(), progress=_progress(json_output))
        except DeployError as problem:
            raise UsageProblem(str(problem)) from None
        if json_output:
            emit_json({"schema": 1, "deploys": deploys})
            return int(ExitCode.OK)
        if not deploys:
            click.echo("no deploys journaled yet")
        for document in deploys:
            click.echo(_history_line(document))
        return int(ExitCode.OK)

    run(action)


# --- human output ----------------------------------------------------------------------------------

def _show(document: dict[str, Any], json_output: bool) -> None:
    if json_output:
        emit_json(document)
        return
    for line in _summary(document):
        click.echo(terminal_text(line))


def _summary(document: dict[str, Any]) -> Iterable[str]:
    kind = document.get("kind", "deploy")
    target = f" of {document['rollback_of']}" if document.get("rollback_of") else ""
    yield f"{kind} {document['id']}{target}: {document.get('live_dir')}"
    for gate in document.get("gates", []):
        yield f"  gate {gate['name']:<12} {gate['status']:<7} {gate['seconds']:6.2f} s  {gate['detail']}"
        for line in gate.get("evidence", [])[:5]:
            yield f"      {line}"
    for note in document.get("notes", []):
        yield f"  note: {note}"
    if document.get("outcome") == "dry-run":
        yield "  steps it would take:"
        for step in document.get("steps", []):
            yield f"    {step['name']}: {step['description']}"
    switched = document.get("switch")
    if switched and switched.get("at"):
        yield f"  switch {switched['from']} -> {switched['to']} at {switched['at']}"
    reloaded = document.get("reload")
    if reloaded:
        yield f"  reload {' '.join(reloaded.get('command', []))}: serving after {reloaded['serving_after_s']:.2f} s"
    verified = document.get("verify")
    if verified:
        yield f"  verify {verified['status']} over {verified['window_s']:.1f} s"
        for failure in verified.get("failures", []):
            yield f"    {failure.get('kind')}: {failure.get('summary')}"
            for line in failure.get("evidence", [])[:5]:
                yield f"      {line}"
    rolled = document.get("rollback")
    if rolled and kind == "deploy":
        state = "verified" if rolled.get("verified") else "NOT verified"
        yield f"  rolled back at {rolled.get('at')} ({state}): {rolled.get('reason', '')}"
    yield _outcome_line(document)


def _outcome_line(document: dict[str, Any]) -> str:
    outcome = document.get("outcome")
    blocked_by = document.get("blocked_by") or next(
        (g["name"] for g in document.get("gates", []) if g["status"] == "fail"), None)
    if outcome == "blocked":
        return f"blocked by the {blocked_by} gate: the live config and the server are unchanged"
    if outcome == "dry-run":
        return f"dry run: nothing changed{f' (the {blocked_by} gate would block it)' if blocked_by else ''}"
    if outcome == "rolled-back" and document.get("kind") == "deploy":
        return "rolled back: the new config failed verification; the previous config serves again"
    return f"{outcome}"


def _history_line(document: dict[str, Any]) -> str:
    switched = document.get("switch") or {}
    slots = f"{switched.get('from')}->{switched.get('to')}" if switched.get("at") else "-"
    gates = ",".join(f"{g['name']}:{g['status']}" for g in document.get("gates", []) if g["status"] != "skipped")
    verified = (document.get("verify") or {}).get("status", "-")
    text = (f"{document['id']}  {document.get('started_at', '')[:19]}  {document.get('user', '?'):<8} "
            f"{document.get('kind', 'deploy'):<8} {document.get('outcome'):<11} {slots:<11} "
            f"{(document.get('candidate_hash') or '')[:12]}  verify:{verified}  {gates}")
    return terminal_text(text)

"""``vhostguard postmortem``: a drafted postmortem of a window (docs/contract.md "postmortem"), or with
``--check FILE.md`` the times a hand-written one states checked against each other and the logs."""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import click

from vhostguard.cli.common import ConfigArgs, UsageProblem, config_options, emit_json, load_model, run
from vhostguard.cli.logs import log_config, log_inputs
from vhostguard.cli.output import check_output, write_output
from vhostguard.cli.params import moment
from vhostguard.exitcodes import ExitCode
from vhostguard.incidents import (
    EVENTS_NAME, DemoProblem, Step, apache_available, demo_free_port, run_demo, AccessLogInput, Event, EventStore, EventStoreError, LogFacts, PostmortemInputs, check_times, draft, epoch, to_html,
    to_markdown,
)
from vhostguard.lint import Severity, default_registry
from vhostguard.lint import run as run_lint
from vhostguard.logs import printable
from vhostguard.monitor import find_error_logs
from vhostguard.safetext import json_dumps, terminal_text
from vhostguard.statedir import default_state_dir


@click.command(name="postmortem")
@click.argument("files", nargs=-1, metavar="[LOG]...")
@config_options
@click.option("--since", "since", callback=moment, metavar="T", help="Start of the window: ISO 8601, or a duration back (2h).")
@click.option("--until", "until", callback=moment, metavar="T", help="End of the window (default: the last logged request).")
@click.option("--log-format", "log_format", metavar="FMT", help="LogFormat string or nickname (default: from -f CONFIG, else detected).")
@click.option("--error-log", "error_logs", multiple=True, metavar="FILE", help="An error log to read AH codes from (also: the config's).")
@click.option("--state", "state_dir", metavar="DIR", help="The state directory with the events and deploys (default as for deploy).")
@click.option("--format", "output_format", type=click.Choice(["md", "html", "json"]), default="md", show_default=True)
@click.option("-o", "--output", "output", metavar="FILE", default="-", help="Write the draft here (default: stdout).")
@click.option("--check", "check_file", metavar="FILE.md", help="Check the times a hand-written postmortem states instead.")
def postmortem(files: tuple[str, ...], config: str | None, server_root: str | None, defines: tuple[str, ...],
               env_file: str | None, since: float | None, until: float | None, log_format: str | None,
               error_logs: tuple[str, ...], state_dir: str | None, output_format: str, output: str,
               check_file: str | None) -> None:
    """Draft a postmortem from the access logs, the error logs and the recorded events.

    LOG... are access logs; with -f CONFIG and no LOG, the logs the configuration writes. Exit 0 with a
    draft; with --check, 0 when the stated times agree, 1 when some contradict (each with its line).
    """

    sources = _Sources(files, ConfigArgs(config, server_root, defines, env_file), log_format, error_logs,
                       state_dir, until)

    def body() -> int:
        if check_file is not None:
            return _check(check_file, sources if files or config is not None else None, since, output_format)
        if since is None:
            raise UsageProblem("postmortem: --since T is required (ISO 8601, or a duration back such as 2h)")
        check_output("-o", output)
        document = draft(sources.inputs(since))
        if output_format == "json" and output == "-":
            emit_json(document)
        elif output_format == "json":
            write_output("-o", output, json_dumps(document, compact=False) + "\n")
        else:
            text = to_html(document) if output_format == "html" else to_markdown(document)
            write_output("-o", output, text if output != "-" else terminal_text(text))
        impact = document["impact"]
        if impact["requests"] == 0:
            click.echo("note: no request logged in the window", err=True)
        click.echo(f"{impact['lines']} lines read, {impact['malformed']} malformed, {impact['untimed']} without a time",
                   err=True)
        return int(ExitCode.OK)

    run(body)


@dataclass(frozen=True)
class _Sources:
    files: tuple[str, ...]
    config: ConfigArgs
    log_format: str | None
    error_logs: tuple[str, ...]
    state_dir: str | None
    until: float | None

    def inputs(self, start: float) -> PostmortemInputs:
        args = self.config
        layout = log_config(args.config, args.server_root, args.defines, args.env_file, self.files)
        logs = log_inputs(self.files, layout, self.log_format)
        errors = [*self.error_logs]
        lint: list[str] = []
        if args.config is not None:
            model = load_model(args)
            found, _notes = find_error_logs(model)
            errors += [t.path for t in found if t.path not in errors]
            findings = run_lint(model, model.tree, None, None, default_registry())
            lint = [f"{f.file}:{f.line}: {f.code} {f.message}" for f in findings if f.severity >= Severity.WARNING]
        state = self.state_dir or default_state_dir()
        events: list[Event] = []
        try:
            if os.path.isfile(os.path.join(state, EVENTS_NAME)):  # reading never creates the store
                with EventStore(state, retention_s=None) as store:
                    events = store.events(start, self.until)
            else:
                click.echo(f"note: no events recorded in {printable(state)} (--state DIR)", err=True)
        except EventStoreError as problem:
            click.echo(f"note: no events: {problem}", err=True)
        return PostmortemInputs(start, self.until, [AccessLogInput(i.path, i.parser) for i in logs], events,
                                errors, state, lint)


def _check(path: str, sources: _Sources | None, since: float | None, output_format: str) -> int:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError as problem:
        raise UsageProblem(f"{path}: {problem.strerror}; name a readable Markdown file") from None
    facts = None
    if sources is not None:
        document = draft(sources.inputs(since if since is not None else 0.0))
        facts = LogFacts(_at(document["first_failure"]), _at(document["last_failure"]),
                         _at(document["detection"]["first_alert"]))
    problems = check_times(text, facts)
    if output_format == "json":
        emit_json({"schema": 1, "file": path, "contradictions": [p.to_json() for p in problems]})
    else:
        for found in problems:
            click.echo(terminal_text(f"{path}:{found.line}: {found.problem}"))
        if not problems:
            click.echo(f"{path}: the stated times agree" + (" with each other and the logs" if facts else ""))
    return int(ExitCode.FINDINGS) if problems else int(ExitCode.OK)


def _at(text: str | None) -> float | None:
    return epoch(text) if text else None



@click.command(name="demo")
@click.option("--keep", "keep", metavar="DIR", help="Tell the story in DIR (created) and keep it afterwards.")
@click.option("--port-base", "port_base", type=click.IntRange(min=1024, max=65533), metavar="N",
              help="apache2 on 127.0.0.1:N, the API backend on N+1 (default: free ports).")
def demo(keep: str | None, port_base: int | None) -> None:
    """The incident of examples/incident, live in about a minute: a real apache2 and API backend on
    loopback, traffic, watch, a bad deploy pushed with --force and rolled back, doctor, the postmortem.

    Exit 0 when the story ran as designed (rolled back, alerted, the postmortem names the deploy), 1
    otherwise, 2 when apache2 is missing. Leaves nothing running, even on Ctrl-C.
    """

    def body() -> int:
        if not apache_available():
            raise UsageProblem("demo needs apache2 and apache2ctl: apt-get install apache2")
        if keep is not None and os.path.exists(keep) and os.listdir(keep):
            raise UsageProblem(f"--keep {keep}: the directory is not empty; name a new or empty one")
        root = Path(keep) if keep is not None else Path(tempfile.mkdtemp(prefix="vhostguard-demo-"))
        root.mkdir(parents=True, exist_ok=True)
        port, api_port = (port_base, port_base + 1) if port_base is not None else (demo_free_port(), demo_free_port())
        drafts = root / "postmortem" if keep is not None else Path(tempfile.mkdtemp(prefix="vhostguard-postmortem-"))
        try:
            outcome = run_demo(root.resolve(), drafts.resolve(), port, api_port, _say)
        except DemoProblem as problem:
            click.echo(terminal_text(f"demo: {problem}"), err=True)
            return int(ExitCode.FINDINGS)
        finally:
            if keep is None:
                shutil.rmtree(root, ignore_errors=True)
        verdict = "as designed" if outcome.as_designed else "NOT as designed"
        click.echo(terminal_text(f"demo {verdict}: deploy {outcome.deploy_id} rolled back={outcome.rolled_back}, "
                                 f"alert={outcome.alerted}, postmortem names the deploy={outcome.postmortem_names_deploy}"))
        click.echo(terminal_text(f"postmortem drafts (md, html) in {outcome.postmortem_dir}"))
        return int(ExitCode.OK if outcome.as_designed else ExitCode.FINDINGS)

    run(body)


def _say(step: Step) -> None:
    click.echo(terminal_text(f"[{step.elapsed:5.1f}s] {step.name}: {step.text}"))

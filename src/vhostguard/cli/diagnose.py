"""``vhostguard trace URL``: what the running server's worker did with one request;
``vhostguard explain-code AHnnnnn``: what an httpd error-log code means;
``vhostguard doctor``: what is wrong with the running server a config describes."""
from __future__ import annotations

import os
import shlex
import time
from typing import Any

import click

from vhostguard.cli.events import record
from vhostguard.cli.params import seconds as duration_seconds
from vhostguard.cli.common import ConfigArgs, UsageProblem, config_options, emit_json, load_model, print_warnings, run
from vhostguard.checks import ExpectationError, Expectations, load_expectations
from vhostguard.cli.routing import build_request, request_options
from vhostguard.config import LoadOptions
from vhostguard.diagnose import (
    CodeEntry, Diagnosis, DirectiveRef, DoctorError, DoctorOptions, RecentChange, Severity, TraceError, TraceSummary, iso, load_catalogue,
    normalise_code,
)
from vhostguard.diagnose import doctor as run_doctor
from vhostguard.diagnose import trace as trace_request
from vhostguard.exitcodes import ExitCode
from vhostguard.incidents import EVENTS_NAME, EventStore, EventStoreError, doctor_events, recent_changes_of, trace_events
from vhostguard.safetext import terminal_text
from vhostguard.live import find_apache2
from vhostguard.routing import Request, RequestError
from vhostguard.statedir import default_state_dir


def _directive_json(ref: DirectiveRef | None) -> dict[str, Any] | None:
    return None if ref is None else {"name": ref.name, "file": ref.file, "line": ref.line}


def trace_json(summary: TraceSummary) -> dict[str, Any]:
    """The contract's trace document (docs/contract.md "vhostguard trace URL")."""
    request = summary.request
    return {
        "schema": 1,
        "request": {"method": request.method, "scheme": request.scheme, "host": request.hostname, "port": request.port,
                    "path": request.path, "query": request.query, "local_ip": request.local_ip},
        "status": summary.status,
        "pid": summary.pid,
        "tid": summary.tid,
        "vhost": summary.vhost,
        "vhost_evidence": summary.vhost_evidence,
        "vhost_directive": _directive_json(summary.naming_directive),
        "vhost_chosen_by": summary.chosen_by,
        "predicted_vhost": summary.predicted_vhost,
        "expected_vhost": summary.expected_vhost,
        "phases": [{"name": phase.name, "ms": phase.ms} for phase in summary.phases],
        "files": [{"syscall": f.syscall, "path": f.path, "result": f.result, "directive": _directive_json(f.directive)}
                  for f in summary.files],
        "connects": [{"address": c.address, "result": c.result, "ms": c.ms, "directive": _directive_json(c.directive),
                      "backend_status": c.backend_status} for c in summary.connects],
        "execs": [{"path": e.path, "argv": e.argv, "result": e.result, "directive": _directive_json(e.directive)}
                  for e in summary.execs],
        "dns": [{"server": d.server, "name": d.name, "result": d.result, "answers": list(d.answers),
                 "directive": _directive_json(d.directive)} for d in summary.dns],
        "errors_logged": list(summary.errors_logged),
        "failures": list(summary.failures),
        "story": summary.story,
        "malformed_lines": summary.capture_malformed,
    }


def trace_text(summary: TraceSummary) -> str:
    out = [f"status {summary.status if summary.status is not None else '?'}  worker pid {summary.pid} thread {summary.tid}",
           f"vhost: {summary.vhost_name or 'main server'} ({summary.vhost or '-'})",
           f"  evidence: {summary.vhost_evidence}"]
    if summary.naming_directive is not None:
        ref = summary.naming_directive
        out.append(f"  chosen by: {ref.name} at {ref.file}:{ref.line} ({summary.chosen_by})")
    for access in summary.files:
        where = f"  [{access.directive.name} {access.directive.file}:{access.directive.line}]" if access.directive else ""
        out.append(f"file    {access.syscall} {access.path} -> {access.result}{where}")
    for connect in summary.connects:
        where = f"  [{connect.directive.name} {connect.directive.file}:{connect.directive.line}]" if connect.directive else ""
        answered = f" (answered {connect.backend_status})" if connect.backend_status else ""
        out.append(f"connect {connect.address} -> {connect.result}{answered} in {connect.ms} ms{where}")
    for lookup in summary.dns:
        out.append(f"dns     {lookup.name} via {lookup.server} -> {lookup.result} {' '.join(lookup.answers)}".rstrip())
    for exec_ in summary.execs:
        where = f"  [{exec_.directive.name} {exec_.directive.file}:{exec_.directive.line}]" if exec_.directive else ""
        out.append(f"exec    {exec_.path} -> {exec_.result}{where}")
    for line in summary.errors_logged:
        out.append(f"logged  {line}")
    if summary.phases:
        out.append("phases: " + ", ".join(f"{phase.name} {phase.ms} ms" for phase in summary.phases))
    for failure in summary.failures:
        out.append(f"FAILED  {failure}")
    out.append("")
    out.append(summary.story)
    return terminal_text("\n".join(out)) + "\n"


@click.command(name="trace")
@click.argument("url")
@config_options
@request_options
@click.option("--pid", "pids", multiple=True, type=int, metavar="PID", help="Process to attach to, with its threads and later children (repeatable; default: the server in the config's PidFile and its workers).")
@click.option("--timeout", default=10.0, show_default=True, type=float, help="Seconds to wait for the response.")
@click.option("--connect", "connect", metavar="HOST:PORT", help="Where to send the request (default: the Listen address for the URL's port, else 127.0.0.1).")
@click.option("--strace-out", "strace_out", metavar="FILE", help="Also keep strace's raw output in FILE (evidence).")
@click.option("--json", "as_json", is_flag=True, help="Machine output (docs/contract.md schema 1).")
def trace(url: str, config: str | None, server_root: str | None, defines: tuple[str, ...], env_file: str | None,
          local_ip: str | None, remote_ip: str, sni: str | None, method: str, headers: tuple[str, ...], no_host: bool,
          pids: tuple[int, ...], timeout: float, connect: str | None, strace_out: str | None, as_json: bool) -> None:
    """Attach strace to the running httpd's workers, send URL, and show what the worker did, with config lines."""

    def body() -> int:
        args = ConfigArgs(config, server_root, defines, env_file)
        model = load_model(args)
        print_warnings(model.tree)
        request = build_request(model, url, local_ip, remote_ip, sni, method, headers, no_host)
        target = _connect_address(connect, request.local_ip, request.port)
        try:
            summary = trace_request(model, request, target, pids=pids, timeout=timeout, keep=strace_out)
        except TraceError as problem:
            raise UsageProblem(f"trace: {problem}") from None
        document = trace_json(summary)
        record(lambda: trace_events(document))
        if as_json:
            emit_json(document)
        else:
            click.echo(trace_text(summary), nl=False)
        return ExitCode.OK

    run(body)


def _connect_address(connect: str | None, local_ip: str | None, port: int) -> tuple[str, int]:
    if connect is None:
        return (local_ip or "127.0.0.1", port)
    host, sep, port_text = connect.rpartition(":")
    if not sep or not port_text.isdigit():
        raise UsageProblem(f"--connect {connect!r}: use HOST:PORT")
    return (host.strip("[]"), int(port_text))


def code_json(entry: CodeEntry, httpd_version: str, httpd_commit: str) -> dict[str, Any]:
    """The contract's explain-code document (docs/contract.md "vhostguard explain-code")."""
    return {
        "schema": 1,
        "code": entry.code,
        "module": entry.module,
        "source": entry.source,
        "level": entry.level,
        "topic": entry.topic,
        "format": entry.format,
        "meaning": entry.meaning,
        "causes": list(entry.causes),
        "checks": list(entry.checks),
        "related": list(entry.related),
        "httpd": {"version": httpd_version, "commit": httpd_commit},
    }


def code_text(entry: CodeEntry, related: dict[str, str]) -> str:
    out = [f"{entry.code}  [{entry.module}:{entry.level}]  from httpd's {entry.source}",
           f"  {entry.format}",
           "",
           entry.meaning,
           "",
           "Typical causes:"]
    out += [f"  - {cause}" for cause in entry.causes]
    out += ["", "What to check:"]
    out += [f"  - {check}" for check in entry.checks]
    if entry.related:
        out += ["", "Related: " + "; ".join(f"{code} ({related[code]})" if code in related else code for code in entry.related)]
    return "\n".join(out) + "\n"


@click.command(name="explain-code")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="Machine output (docs/contract.md, schema 1).")
def explain_code(code: str, as_json: bool) -> None:
    """What an httpd 2.4 error-log code (AH01114, ah01114) means, its usual causes and what to check."""

    def body() -> int:
        catalogue = load_catalogue()
        entry = catalogue.get(code)
        if entry is None:
            normal = normalise_code(code)
            if normal is None:
                raise UsageProblem(f"explain-code: {code!r} is not an httpd message code; give one like AH01114")
            nearest = ", ".join(catalogue.nearest(normal))
            raise UsageProblem(f"explain-code: {normal} is not in the catalogue ({len(catalogue.entries)} httpd 2.4 codes); "
                               f"nearest known: {nearest}")
        if as_json:
            emit_json(code_json(entry, catalogue.httpd_version, catalogue.httpd_commit))
        else:
            related = {other: catalogue.entries[other].format.split(": ", 1)[1]
                       for other in entry.related if other in catalogue.entries}
            click.echo(code_text(entry, related), nl=False)
        return ExitCode.OK

    run(body)


# -- vhostguard doctor --------------------------------------------------------


def doctor_json(diagnosis: Diagnosis) -> dict[str, Any]:
    """The contract's doctor document (docs/contract.md "vhostguard doctor")."""
    state = diagnosis.server
    return {
        "schema": 1,
        "config": diagnosis.config,
        "server": {"pid": state.pid if state else None, "started": iso(state.started) if state else None,
                   "reloaded": iso(state.reloaded) if state else None,
                   "config_changed": iso(state.config_changed) if state else None},
        "checks": [{"name": c.name, "status": c.status, "detail": c.detail} for c in diagnosis.checks],
        "findings": [{"rank": rank, "severity": f.severity.value, "check": f.check, "kind": f.kind, "summary": f.summary,
                      "cause": f.cause, "vhost": f.vhost, "expected_vhost": f.expected_vhost,
                      "directives": [{"name": d.name, "file": d.file, "line": d.line} for d in f.directives],
                      "evidence": list(f.evidence), "next": f.next}
                     for rank, f in enumerate(diagnosis.findings, 1)],
    }


def doctor_text(diagnosis: Diagnosis) -> str:
    out = [f"config: {diagnosis.config}"]
    state = diagnosis.server
    if state is not None:
        if state.pid is None:
            out.append(f"server: not running ({state.problem})")
        else:
            out.append(f"server: pid {state.pid}, started {iso(state.started) or '?'}, reloaded {iso(state.reloaded) or '-'}, "
                       f"config changed {iso(state.config_changed) or '?'}")
    out.append("checks:")
    for checked in diagnosis.checks:
        out.append(f"  {checked.name:<10} {checked.status:<8} {checked.detail}")
    if not diagnosis.findings:
        out.append("no problem found")
    else:
        out.append("findings, most likely cause first:")
    for number, finding in enumerate(diagnosis.findings, 1):
        out.append(f"{number:>2}. [{finding.severity.value}] {finding.summary}")
        out.append(f"    cause: {finding.cause}")
        for line in finding.evidence:
            out.append(f"    evidence: {line}")
        if finding.next:
            out.append(f"    next: {finding.next}")
    return terminal_text("\n".join(out)) + "\n"


@click.command(name="doctor")
@config_options
@click.option("--connect", "connect", metavar="HOST:PORT", help="Diagnose the server at HOST:PORT (another machine: only what can be seen from here).")
@click.option("--offline", is_flag=True, help="Make no network connection (no backend connects, no probes).")
@click.option("--url", "urls", multiple=True, metavar="URL", help="Route URL through the config and ask the running server which vhost answers it (repeatable).")
@click.option("--expect", "expect_files", multiple=True, metavar="FILE.yaml", help="Routing expectations whose cases are checked and probed like --url (repeatable).")
@click.option("--since", "since", default="30m", show_default=True, metavar="DURATION",
              help="Logs read: this much back from now (90s, 30m, 2h, 1d), compared with as much before it.")
@click.option("--state", "state_dir", metavar="DIR", help="The state directory whose deploys doctor weighs (default as for deploy).")
@click.option("--json", "as_json", is_flag=True, help="Machine output (docs/contract.md schema 1).")
def doctor(config: str | None, server_root: str | None, defines: tuple[str, ...], env_file: str | None,
           connect: str | None, offline: bool, urls: tuple[str, ...], expect_files: tuple[str, ...], since: str,
           state_dir: str | None, as_json: bool) -> None:
    """Check the running server a config describes (config, server, listeners, backends, logs, routing); most likely cause first."""

    def body() -> int:
        if connect is not None and offline:
            raise UsageProblem("--connect and --offline exclude each other: --offline makes no connection")
        args = ConfigArgs(config, server_root, defines, env_file)
        load = args.options()
        window = _duration("--since", since)
        state = state_dir or default_state_dir()
        options = DoctorOptions(args.main_file(), LoadOptions(server_root=load.server_root, defines=load.defines,
                                                              env_file=load.env_file),
                                connect=_connect_address(connect, None, 0) if connect else None,
                                offline=offline, apache2=find_apache2(), urls=_urls(urls),
                                expectations=tuple(_expectations(path) for path in expect_files),
                                since=window, changes=recent_changes(state, time.time() - window),
                                state_option=f" --state {shlex.quote(state_dir)}" if state_dir else "")
        try:
            diagnosis = run_doctor(options)
        except DoctorError as problem:
            raise UsageProblem(f"doctor: {problem}") from None
        document = doctor_json(diagnosis)
        record(lambda: doctor_events(document), state_dir)
        if as_json:
            emit_json(document)
        else:
            click.echo(doctor_text(diagnosis), nl=False)
        worst = diagnosis.worst
        return ExitCode.FINDINGS if worst is not None and worst >= Severity.WARNING else ExitCode.OK

    run(body)


def _duration(option: str, text: str) -> float:
    seconds = duration_seconds(text) or 0.0
    if seconds <= 0:
        raise UsageProblem(f"{option} {text!r}: give a duration of more than 0 like 90s, 30m, 2h or 1d")
    return seconds


def _urls(urls: tuple[str, ...]) -> tuple[str, ...]:
    for url in urls:
        try:
            Request.from_url(url)
        except RequestError as problem:
            raise UsageProblem(f"--url: {problem}") from None
    return urls


def _expectations(path: str) -> Expectations:
    try:
        return load_expectations(path)
    except ExpectationError as problem:
        raise UsageProblem(f"--expect: {problem}") from None


def recent_changes(state_dir: str, since: float) -> tuple[RecentChange, ...]:
    """The deploys and rollbacks the event store of ``state_dir`` recorded since ``since`` (epoch
    seconds), for doctor; none when there is no store (doctor works without one) or it cannot be read."""
    if not os.path.isfile(os.path.join(state_dir, EVENTS_NAME)):
        return ()
    try:
        with EventStore(state_dir, retention_s=None) as store:
            found = store.events(since, None, ("deploy",))
    except EventStoreError as problem:
        click.echo(f"vhostguard: doctor: deploys not read: {problem}", err=True)
        return ()
    return recent_changes_of(found)

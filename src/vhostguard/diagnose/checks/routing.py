"""routing: which vhost answers each ``--url`` and ``--expect`` case, offline and live.

Each request is routed through the config (``vhostguard.routing``). A Host
that the config routes to another vhost than the one whose ServerName or
(non-wildcard) ServerAlias names it literally is the seed's failure: an
earlier ``ServerAlias *.example.test`` (or a duplicate name) captures it,
because httpd walks a name chain in configuration order and the first name
or alias that matches wins (server/vhost.c, ``update_server_from_aliases``).

Unless ``--offline``, the request is also sent to the running server (the
address the config's Listen gives, or ``--connect``) with that Host. The
response alone may not say which vhost answered, so where the config logs
``%v`` (the answering vhost's ServerName) to an access log, or gives a vhost
an access log of its own, the line the probe added to such a log is read
back: that names the vhost that served it.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from vhostguard.checks import CaseResult, run_offline, shown
from vhostguard.diagnose.checks.base import Check, result, skipped
from vhostguard.diagnose.context import DoctorContext
from vhostguard.diagnose.findings import CheckResult, Finding, Severity
from vhostguard.config import Directive
from vhostguard.logs import explain_line
from vhostguard.diagnose.failures import (
    REWRITE_LOOP_CODE, missing_part, rewrite_rules, unreadable, worker_user,
)
from vhostguard.diagnose.misroute import find_misroute, who
from vhostguard.diagnose.refs import DirectiveRef
from vhostguard.monitor import find_error_logs
from vhostguard import live
from vhostguard.logs import LineError, Parser, decode_lines, find_logs, lines_before, parser_of
from vhostguard.model import Server
from vhostguard.routing import Decision, Request, RequestError, Router, is_ip_address

NAME = "routing"
LOG_WAIT = 1.0  # seconds to wait for httpd's log line: mod_log_config writes it after the response is sent
MAX_LOG_READ = 1 << 20  # bytes of new log text read per probe: other traffic may share the log


@dataclass(frozen=True)
class _Asked:
    """One request to check: where it came from (``--url`` or ``file:line`` of a case)."""

    origin: str
    url: str
    request: Request
    case: CaseResult | None = None


@dataclass(frozen=True)
class _Answer:
    """What the running server did: the probe's status, and the vhost its access log names."""

    address: tuple[str, int]
    status: int | None
    problem: str | None
    vhost_name: str | None  # the vhost (its ServerName) the log line the probe added names
    log_line: str | None  # ``path:line: text`` of that line
    errors: tuple[str, ...] = ()  # ``path:line: text`` of the error-log lines written during the probe


def run(ctx: DoctorContext) -> CheckResult:
    asked = _requests(ctx)
    if not asked:
        return skipped(NAME, "no --url or --expect given: nothing to route")
    router = Router(ctx.model)
    logs = None if ctx.options.offline else _VhostLogs(ctx)
    findings: list[Finding] = []
    probed = 0
    for item in asked:
        decision = router.route(item.request)
        answer = None
        if logs is not None:
            answer = _probe(ctx, item, logs)
            probed += answer.status is not None
        finding = _misroute(ctx, item, decision, answer)
        if finding is None and answer is not None:
            finding = _disagreement(ctx, item, decision, answer)
        if finding is None:
            finding = _failure(ctx, item, decision, answer)
        if finding is not None:
            findings.append(finding)
        if item.case is not None and not item.case.passed:
            findings.append(_failed_case(ctx, item))
    how = "offline only (--offline)" if logs is None else f"{probed} answered by the running server"
    return result(NAME, findings, f"{len(asked)} requests routed, {how}")


def _requests(ctx: DoctorContext) -> list[_Asked]:
    model = ctx.model
    asked = []
    for origin, url in [("--url", url) for url in ctx.options.urls] + [(f.origin, f.url) for f in ctx.failing]:
        try:
            plain = Request.from_url(url)
            request = Request.from_url(url, local_ip=_local_ip(ctx, plain.port))
        except RequestError:
            continue  # the CLI refuses such URLs before doctor runs
        asked.append(_Asked(origin, url, request))
    for expectations in ctx.options.expectations:
        cases = expectations.cases
        results = run_offline(Router(model), cases, model.default_local_ip)
        for case, checked in zip(cases, results, strict=True):
            request = case.request()
            if case.local_ip is None:
                request = case.request(_local_ip(ctx, request.port))
            asked.append(_Asked(f"{expectations.path}:{case.line}", case.url, request, checked))
    return asked


def _local_ip(ctx: DoctorContext, port: int) -> str | None:
    """The address the request arrives on, which picks httpd's address set: the
    one the probe connects to (``--connect``, else the Listen's, else loopback);
    offline, the Listen's (None for a wildcard Listen: an address no IP vhost names)."""
    listen_ip = ctx.model.default_local_ip(port)
    if ctx.options.offline:
        return listen_ip
    if ctx.options.connect is not None:
        host = ctx.options.connect[0]
        return host if is_ip_address(host) else listen_ip
    return listen_ip or "127.0.0.1"


# -- which vhost the Host was meant for ---------------------------------------------------

def _misroute(ctx: DoctorContext, item: _Asked, decision: Decision, answer: _Answer | None) -> Finding | None:
    found = find_misroute(ctx.model, decision.match, item.request.port)
    if found is None:
        return None
    captor, owner, host = found.captor, found.owner, found.host
    served_live = _served(ctx, answer)
    if served_live is not None and served_live.id == owner.id:
        return None  # the running server does not route as these files say: _disagreement's case
    confirmed = answer is not None and answer.status is not None
    if confirmed:
        assert answer is not None
        seen = (f"the running server answered {answer.status}"
                + (f", logged as served by {answer.vhost_name}" if answer.vhost_name else ""))
    else:
        seen = "predicted from the config alone" + (f" ({answer.problem})" if answer is not None and answer.problem else "")
    refs = found.deciding + found.named
    evidence = [ctx.source_line(ref.file, ref.line) for ref in refs]
    if answer is not None and answer.status is not None:
        evidence.append(f"probe {_address(answer.address)}: GET {item.url} -> {answer.status}")
    if answer is not None and answer.log_line:
        evidence.append(answer.log_line)
    return Finding(
        NAME, "host-misrouted", Severity.CRITICAL if confirmed else Severity.WARNING,
        f"Host {host} ({item.origin} {item.url}) is served by {who(captor)}, not by {who(owner)} {found.owner_role}",
        f"{found.why} ({seen}). Fix: {found.fix}", evidence=tuple(evidence), directives=refs,
        next=_next(ctx, item.url, live=confirmed), vhost=captor.id, expected_vhost=owner.id,
    )


# -- why the request fails where the config maps it -----------------------------------------

def _failure(ctx: DoctorContext, item: _Asked, decision: Decision, answer: _Answer | None) -> Finding | None:
    """A rewrite loop the probe made httpd log (AH00124), or the file the request maps to
    missing (404) or unreadable by the worker's user (403): predicted from the config
    and the file system, confirmed by the probe's status."""
    status = answer.status if answer is not None else None
    outcome = decision.outcome
    loop = [line for line in (answer.errors if answer is not None else ()) if REWRITE_LOOP_CODE in line]
    if loop:
        return _rewrite_loop(ctx, item, decision, answer, loop[0])
    if outcome.target is None or outcome.directive is None or (status is None and not decision.certain):
        return None
    if outcome.kind == "not-found" and status in (None, 404):
        return _missing(ctx, item, decision, answer, outcome.target, outcome.directive)
    worker = worker_user(ctx.model) if ctx.local else None
    if outcome.kind == "file" and status in (None, 403) and worker is not None:
        why = unreadable(outcome.target, worker)
        if why is not None:
            return _forbidden(ctx, item, decision, answer, outcome.target, outcome.directive, why)
    return None


def _ref(node: Directive, vhost: str | None) -> DirectiveRef:
    return DirectiveRef(node.name, node.source.file, node.source.line, vhost)


def _live_evidence(item: _Asked, answer: _Answer | None, wanted: str | None = None) -> list[str]:
    """The probe's status and the error-log lines it caused (those with ``wanted`` in them, if given)."""
    if answer is None or answer.status is None:
        return []
    lines = [f"probe {_address(answer.address)}: GET {item.url} -> {answer.status}"]
    lines += [line for line in answer.errors if wanted is None or wanted in line][:3]
    return lines


def _explained(lines: list[str]) -> str:
    """What httpd's error-log codes in ``lines`` mean (the catalogue), one sentence each."""
    seen: dict[str, str] = {}
    for line in lines:
        entry = explain_line(line)
        if entry is not None:
            seen.setdefault(entry.code, f"httpd logged {entry.code}: {entry.meaning.split('. ')[0].rstrip('.')}")
    return "".join(f"; {text}" for text in seen.values())


def _missing(ctx: DoctorContext, item: _Asked, decision: Decision, answer: _Answer | None,
             target: str, node: Directive) -> Finding:
    confirmed = answer is not None and answer.status == 404
    missing, close = missing_part(target)
    where = f"{node.name} at {node.source.file}:{node.source.line}"
    typo = f"; {close} exists: a typo in the path?" if close else ""
    fix = (f"correct the path in {where}" + (f" ({os.path.basename(missing)} -> {os.path.basename(close)})" if close else "")
           + ", or create the file")
    live_lines = _live_evidence(item, answer)
    seen = f"the running server answered {answer.status}" if confirmed and answer is not None else "predicted from the config and the file system"
    return Finding(
        NAME, "file-missing", Severity.CRITICAL if confirmed else Severity.WARNING,
        f"GET {item.url} -> 404: {where} maps it to {target}, which does not exist",
        f"{missing} does not exist{typo} ({seen}){_explained(live_lines)}. Fix: {fix}",
        evidence=(ctx.source_line(node.source.file, node.source.line), *live_lines),
        directives=(_ref(node, decision.server.id),), next=_next(ctx, item.url, live=confirmed),
        vhost=decision.server.id,
    )


def _forbidden(ctx: DoctorContext, item: _Asked, decision: Decision, answer: _Answer | None,
               target: str, node: Directive, why: str) -> Finding:
    worker = worker_user(ctx.model)
    assert worker is not None
    confirmed = answer is not None and answer.status == 403
    where = f"{node.name} at {node.source.file}:{node.source.line}"
    user_at = f"User {worker.user} at {worker.user_line.source.file}:{worker.user_line.source.line}"
    live_lines = _live_evidence(item, answer)
    seen = f"the running server answered {answer.status}" if confirmed and answer is not None else "predicted from the config and the file system"
    group = worker.group or worker.user
    refs = (_ref(node, decision.server.id), _ref(worker.user_line, None))
    return Finding(
        NAME, "file-forbidden", Severity.CRITICAL if confirmed else Severity.WARNING,
        f"GET {item.url} -> 403: the workers run as {worker.user} and may not read {target}",
        f"{where} maps the request to {target}; httpd's children run as {user_at}; {why} ({seen})"
        f"{_explained(live_lines)}. Fix: let {worker.user} read it (e.g. chgrp {group} and chmod g+r, or chmod o+r "
        "on the file and o+x on its directories), or map the URL elsewhere",
        evidence=(ctx.source_line(node.source.file, node.source.line),
                  ctx.source_line(worker.user_line.source.file, worker.user_line.source.line), *live_lines),
        directives=refs, next=_next(ctx, item.url, live=confirmed), vhost=decision.server.id,
    )


def _rewrite_loop(ctx: DoctorContext, item: _Asked, decision: Decision, answer: _Answer | None, logged: str) -> Finding:
    server = decision.server
    rules = rewrite_rules(ctx.model, server, item.request.path, decision.outcome.target)
    named = ", ".join(f"{node.source.file}:{node.source.line}" for node in rules) or "none found in the config"
    status = answer.status if answer is not None else None
    live_lines = _live_evidence(item, answer, REWRITE_LOOP_CODE)
    return Finding(
        NAME, "rewrite-loop", Severity.CRITICAL,
        f"GET {item.url} -> {status}: a rewrite loop in {who(server)} (httpd logged {REWRITE_LOOP_CODE}); RewriteRule at {named}",
        f"the RewriteRules that apply to {item.request.path} ({named}) rewrite it again and again: each pass's result "
        f"is internally redirected and matched once more{_explained([logged])}. Fix: stop the rule from matching its "
        "own result: a RewriteCond that excludes the target (RewriteCond %{REQUEST_URI} !^/target), the [END] flag, "
        "or a pattern its substitution does not match",
        evidence=(*(ctx.source_line(node.source.file, node.source.line) for node in rules), *live_lines),
        directives=tuple(_ref(node, server.id) for node in rules),
        next=_next(ctx, item.url, live=True) + f"; vhostguard explain-code {REWRITE_LOOP_CODE}", vhost=server.id,
    )


def _disagreement(ctx: DoctorContext, item: _Asked, decision: Decision, answer: _Answer) -> Finding | None:
    """The access log names another vhost than the config predicts: the server runs something else."""
    served = _served(ctx, answer)
    predicted = decision.server
    if answer.vhost_name is None or served is None or served.id == predicted.id \
            or answer.vhost_name.lower() == predicted.server_name.lower():
        return None
    return Finding(
        NAME, "route-mismatch", Severity.WARNING,
        f"{item.url} was served by {served.server_name} ({served.id}), the config predicts {predicted.label()}",
        "the running server does not route this request as the config files on disk say: it runs another config "
        "(not reloaded since a change?) or vhostguard models it wrongly",
        evidence=tuple(x for x in (f"probe {_address(answer.address)}: GET {item.url} -> {answer.status}",
                                   answer.log_line) if x),
        next=_next(ctx, item.url, live=True), vhost=served.id, expected_vhost=predicted.id,
    )


def _failed_case(ctx: DoctorContext, item: _Asked) -> Finding:
    assert item.case is not None
    checked = item.case
    wrong = "; ".join(f"{m.field}: expected {shown(m.expected)}, got {shown(m.actual)}" for m in checked.mismatches)
    return Finding(
        NAME, "expectation-failed", Severity.WARNING,
        f"expectation {checked.case.name!r} at {item.origin} fails for {item.url}: {wrong}",
        f"the config routes {item.url} to {checked.actual.server_name} ({checked.actual.kind}), not as the expectation says",
        evidence=(f"{item.origin}: {checked.case.name}",),
        next=_next(ctx, item.url, live=False), vhost=checked.actual.vhost_id,
    )


def _next(ctx: DoctorContext, url: str, live: bool) -> str:
    explain = ctx.command("explain", url)
    return f"{ctx.command('trace', url)}; {explain}" if live and ctx.local else explain


def _address(address: tuple[str, int]) -> str:
    return f"[{address[0]}]:{address[1]}" if ":" in address[0] else f"{address[0]}:{address[1]}"


def _served(ctx: DoctorContext, answer: _Answer | None) -> Server | None:
    """The vhost the access log names (%v is its ServerName; the first vhost by that name)."""
    if answer is None or answer.vhost_name is None:
        return None
    wanted = answer.vhost_name.lower()
    return next((s for s in ctx.model.vhosts if s.server_name.lower() == wanted), None)


# -- the live side ---------------------------------------------------------------------

def _probe(ctx: DoctorContext, item: _Asked, logs: _VhostLogs) -> _Answer:
    request = item.request
    address = ctx.options.connect or (request.local_ip or "127.0.0.1", request.port)
    headers = list(request.headers) + ([("Host", request.host)] if request.host is not None else [])
    logs.mark()
    try:
        answer = live.probe(request.url, address, method=request.method, headers=headers, sni=request.sni,
                            no_host=request.host is None, http10=request.http10,
                            timeout=ctx.options.backend_timeout * 5)
    except live.ProbeError as problem:
        return _Answer(address, None, f"probe failed: {problem}", None, None)
    found = logs.served_by(request)
    return _Answer(address, answer.status, None, found[0] if found else None, found[1] if found else None,
                   logs.new_errors())


@dataclass(frozen=True)
class _Log:
    """An access log that tells which vhost served a request: it logs ``%v``
    (``vhost`` None), or only one vhost writes to it (``vhost`` its ServerName)."""

    path: str
    parser: Parser
    vhost: str | None


class _VhostLogs:
    """The access logs that name the serving vhost, read from where they ended before a probe."""

    def __init__(self, ctx: DoctorContext) -> None:
        config = find_logs(ctx.tree)
        self.logs: list[_Log] = []
        for target in config.targets:
            if target.conditions or not target.formats:
                continue  # a conditional log may leave the probe out
            fmt = next((f for f in target.formats if "%v" in f), None)
            own = ctx.model.vhost(target.servers[0]) if len(target.servers) == 1 else None
            if fmt is not None:
                self.logs.append(_Log(target.path, parser_of((fmt,)), None))
            elif own is not None and len(target.formats) == 1:
                self.logs.append(_Log(target.path, parser_of(target.formats), own.server_name))
        self.offsets: dict[str, int] = {}
        targets, _ = find_error_logs(ctx.model)
        self.error_logs = [target.path for target in targets]
        self.error_offsets: dict[str, int] = {}

    def mark(self) -> None:
        self.offsets = {log.path: _size(log.path) for log in self.logs}
        self.error_offsets = {path: _size(path) for path in self.error_logs}

    def new_errors(self) -> tuple[str, ...]:
        """``path:line: text`` of the lines the error logs gained since ``mark`` (httpd
        writes them while handling the request, before the response is sent)."""
        found: list[str] = []
        for path, offset in self.error_offsets.items():
            lines = _new_lines(path, offset)
            if lines:
                first = lines_before(path, offset) + 1
                found.extend(f"{path}:{first + index}: {text}" for index, text in enumerate(lines))
        return tuple(found)

    def served_by(self, request: Request) -> tuple[str, str] | None:
        """(vhost name, ``path:line: text``) of the new log line for this request, waiting for httpd to write it."""
        if not self.logs:
            return None
        deadline = time.monotonic() + LOG_WAIT
        while True:
            for log in self.logs:
                offset = self.offsets.get(log.path, 0)
                for index, text in enumerate(_new_lines(log.path, offset)):
                    try:
                        record = log.parser.parse(text)
                    except LineError:
                        continue
                    vhost = log.vhost or record.get("vhost")
                    if record.get("path") == request.path and vhost:
                        return str(vhost), f"{log.path}:{lines_before(log.path, offset) + index + 1}: {text}"
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _new_lines(path: str, offset: int) -> list[str]:
    """The complete lines written after ``offset`` (at most MAX_LOG_READ bytes of them)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read(MAX_LOG_READ)
    except OSError:
        return []
    complete, newline, _ = data.rpartition(b"\n")  # the last piece is unfinished
    return decode_lines(complete) if newline else []


CHECK = Check(NAME, run)

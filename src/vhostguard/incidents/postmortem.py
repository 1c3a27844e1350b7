"""A drafted postmortem: what the access logs, the error logs and the event store say about a window.

The numbers come from the logs line by line (``logs.read_log``, the one reader, from where the window
starts: ``logs.window_span`` finds it without reading what comes before): a failed request is a
logged final status of 500 or more, or a misrouted one (its Host, ``%{Host}i`` or ``%V``, was seen moved
by watch's ``host-moved`` alert or a deploy's verification, and another vhost than the usual one, ``%v``,
answered it: the incident's 403s), counted once per line whose time falls inside the window, so the
impact equals what ``grep`` would find in the same lines. Every time is shown in UTC with its offset
(``+00:00``), whatever offset the log or the event was written with: one clock for the whole story.
"""
from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, UTC
from typing import Any

from vhostguard.config import ConfigError, LoadOptions, load
from vhostguard.deploy import Journal, JournalError
from vhostguard.diagnose import explain_line
from vhostguard.incidents.store import Event, epoch
from vhostguard.logs import EndpointTemplater, Parser, ReadStats, lines_before, read_log, window_span
from vhostguard.model import build_model, normalize_host
from vhostguard.monitor import parse_error_line
from vhostguard.routing import Decision, Request, RequestError, Router

SCHEMA = 1
MAX_CURVE_POINTS = 120  # buckets of the 5xx/latency curve: fine enough to see a spike, small enough to draw
MAX_CELLS = 200_000  # curve cells kept while reading; past it the buckets double (bounded memory)
MAX_ROUTED = 50  # distinct failing requests routed through a deploy's two trees
RESOLUTION_KINDS = {"rollback", "rollback-rolled-back", "deploy-deployed"}
SERIOUS = frozenset({"error", "crit", "alert", "emerg"})
DETECTION_KINDS = {("watch", "alert-firing"): "watch alert", ("deploy", "verify-fail"): "deploy verification"}


@dataclass(frozen=True)
class AccessLogInput:
    """One access log and the parser of its format (as ``logs``/``report`` resolve them)."""

    path: str
    parser: Parser


@dataclass(frozen=True)
class PostmortemInputs:
    """What a draft is made of. ``start``/``end`` are epoch seconds (``end`` None: up to the last line)."""

    start: float
    end: float | None
    access_logs: Sequence[AccessLogInput]
    events: Sequence[Event] = ()
    error_logs: Sequence[str] = ()
    state_dir: str | None = None  # the deploy journal and STATE/trees, for the routing of the failing requests
    lint_findings: Sequence[str] = ()  # "file:line: CODE message" lines, seeds of action items


@dataclass
class _Endpoint:
    requests: int = 0
    failed: int = 0


@dataclass
class _Impact:
    requests: int = 0
    failed: int = 0
    clients: set[str] = field(default_factory=set)
    endpoints: dict[tuple[str, str, str], _Endpoint] = field(default_factory=dict)
    first_failure: float | None = None
    last_failure: float | None = None
    # where the first and last failing requests are: (file, offset its lines are numbered from, line)
    first_failure_at: tuple[str, int, int] | None = None
    last_failure_at: tuple[str, int, int] | None = None
    first_request: float | None = None
    last_request: float | None = None
    samples: dict[tuple[str, str, str], list[dict[str, Any]]] = field(default_factory=dict)
    # (bucket of ``grain`` seconds from the window's start, endpoint) -> [requests, 5xx, latency µs sum, timed]
    cells: dict[tuple[int, tuple[str, str, str]], list[int]] = field(default_factory=dict)
    grain: int = 1
    lines: int = 0  # read: the windows of the logs that can be entered in the middle, the others whole
    malformed: int = 0
    untimed: int = 0  # parsed lines without a time (a format without %t): not placed in the window
    whole_seconds: bool = True  # every time logged to the second (%t): a request is somewhere in its second


def iso(moment: float) -> str:
    """UTC with the offset written out, to the millisecond."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")


def draft(inputs: PostmortemInputs) -> dict[str, Any]:
    """The postmortem document (docs/contract.md "postmortem")."""
    impact = _read_impact(inputs)
    # no --until: up to the last request, or the last event when later (a rollback after the traffic stopped)
    end = inputs.end if inputs.end is not None else max(
        [impact.last_request or inputs.start, *(epoch(e.time) for e in inputs.events)])
    events = [e for e in inputs.events if inputs.start <= epoch(e.time) <= end]
    deploys = _deploy_documents(inputs.state_dir)
    detection = _detection(impact, events)
    causes = _causes(impact, events, deploys, inputs, end)
    resolution = _resolution(impact, events)
    ordered = sorted(impact.endpoints.items(), key=lambda kv: (-kv[1].failed, -kv[1].requests, kv[0]))
    by_endpoint = [{"vhost": k[0], "method": k[1], "endpoint": k[2], "failed": v.failed, "requests": v.requests}
                   for k, v in ordered]
    duration = (None if impact.first_failure is None or impact.last_failure is None
                else round(impact.last_failure - impact.first_failure, 3))
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "window": {"start": iso(inputs.start), "end": iso(end)},
        "duration_s": duration,
        "impact": {"requests": impact.requests, "failed": impact.failed,
                   "failed_share": round(impact.failed / impact.requests, 6) if impact.requests else 0.0,
                   "clients": len(impact.clients), "by_endpoint": by_endpoint,
                   "lines": impact.lines, "malformed": impact.malformed, "untimed": impact.untimed},
        "first_failure": iso(impact.first_failure) if impact.first_failure is not None else None,
        "last_failure": iso(impact.last_failure) if impact.last_failure is not None else None,
        "detection": detection,
        "timeline": _timeline(impact, events),
        "causes": causes,
        "resolution": resolution,
        "actions": _actions(causes, events, deploys, inputs.lint_findings),
        "lessons": ["What went well: (to be written)", "What went wrong: (to be written)",
                    "Where we got lucky: (to be written)"],
        "curve": _curve(impact, inputs.start, end),
        "markers": [{"time": iso(epoch(e.time)), "source": e.source, "kind": e.kind, "id": e.id}
                    for e in events if (e.source, e.kind) in DETECTION_KINDS or e.kind in {"switch", "rollback"}
                    or e.kind.startswith("rollback-")],
    }
    document["summary"] = _summary(document)
    return document


# --- impact ----------------------------------------------------------------------------------------------

def moved_hosts(events: Sequence[Event]) -> dict[str, str]:
    """Host -> the vhost that usually served it, for every Host the events saw moved to another vhost
    (watch's ``host-moved`` alerts, a deploy verification's ``host-moved`` failure)."""
    found: dict[str, str] = {}
    for event in events:
        observed: list[Mapping[str, Any]] = []
        if event.source == "watch" and event.kind == "alert-firing" and event.data.get("rule") == "host-moved":
            observed.append(event.data.get("observed") or {})
        elif event.source == "deploy" and event.kind == "verify-fail":
            observed += [f.get("observed") or {} for f in event.data.get("failures") or [] if f.get("kind") == "host-moved"]
        for seen in observed:
            host, usual = seen.get("host"), seen.get("usual_vhost")
            if isinstance(host, str) and isinstance(usual, str):
                found.setdefault(host.lower(), usual)
    return found


def _asked_host(record: Mapping[str, Any]) -> str | None:
    """The Host the client asked for, normalised as httpd does (``%{Host}i``, else ``%V``)."""
    headers = record.get("headers_in") or {}
    value = next((v for k, v in headers.items() if str(k).lower() == "host"), None) if isinstance(headers, Mapping) else None
    value = value or record.get("server_name")
    if not isinstance(value, str) or not value or value == "-":
        return None
    return normalize_host(value).name


def _read_impact(inputs: PostmortemInputs) -> _Impact:
    impact = _Impact()
    moved = moved_hosts(inputs.events)
    templater = EndpointTemplater()
    end = inputs.end if inputs.end is not None else float("inf")
    for log in inputs.access_logs:
        stats = ReadStats()
        # only the window's lines are read (slack included: a line is written when its request ends)
        span = window_span(log.path, log.parser, inputs.start, inputs.end)
        first = span[0] if span is not None else 0
        for record in read_log(log.path, log.parser, stats=stats, with_position=True, span=span):
            text = record.get("time")
            try:
                moment = epoch(str(text)) if text else None
            except ValueError:
                moment = None
            if moment is None:
                impact.untimed += 1
                continue
            if not inputs.start <= moment <= end:
                continue
            _count(impact, templater, record, moment, inputs.start, moved, first)
        impact.lines += stats.lines
        impact.malformed += stats.malformed
    return impact


def _count(impact: _Impact, templater: EndpointTemplater, record: Mapping[str, Any], moment: float,
           start: float, moved: Mapping[str, str], first: int = 0) -> None:
    """Count one request of the window (``first``: the offset the record's ``line`` is numbered from)."""
    vhost = str(record.get("vhost") or record.get("server_name") or "-")
    method = str(record.get("method") or "-")
    endpoint = templater.template(record.get("path"), vhost)
    key = (vhost, method, endpoint)
    stats = impact.endpoints.setdefault(key, _Endpoint())
    status = record.get("status")
    failed = isinstance(status, int) and status >= 500
    if not failed and moved and record.get("vhost"):
        # misrouted: its Host was seen moved, and another vhost than the usual one answered it
        usual = moved.get(_asked_host(record) or "")
        failed = usual is not None and usual.lower() != vhost.lower()
    impact.requests += 1
    stats.requests += 1
    impact.first_request = moment if impact.first_request is None else min(impact.first_request, moment)
    impact.last_request = moment if impact.last_request is None else max(impact.last_request, moment)
    duration = record.get("duration_us")
    cell = impact.cells.get((int((moment - start) // impact.grain), key))
    if cell is None:
        if len(impact.cells) >= MAX_CELLS:
            _coarsen(impact)
        cell = impact.cells.setdefault((int((moment - start) // impact.grain), key), [0, 0, 0, 0])
    cell[0] += 1
    cell[1] += failed
    if isinstance(duration, int):
        cell[2] += duration
        cell[3] += 1
    if not failed:
        return
    impact.failed += 1
    stats.failed += 1
    client = record.get("remote_addr") or record.get("remote_host")
    if client:
        impact.clients.add(str(client))
    where = (str(record.get("file")), first, int(record.get("line") or 0))
    if moment != int(moment):
        impact.whole_seconds = False
    if impact.first_failure is None or moment < impact.first_failure:
        impact.first_failure, impact.first_failure_at = moment, where
    if impact.last_failure is None or moment >= impact.last_failure:
        impact.last_failure, impact.last_failure_at = moment, where
    kept = impact.samples.setdefault(key, [])
    if len(kept) < 3:
        # %{local}p is the port the connection came to (what routing needs), %p the vhost's canonical one
        port = record.get("local_port") or record.get("port")
        kept.append({"path": record.get("path"), "query": record.get("query"), "port": port,
                     "server_name": record.get("server_name"), "vhost": record.get("vhost"), "method": method,
                     "status": status, "headers_in": record.get("headers_in") or {}})


def _line_of(at: tuple[str, int, int] | None) -> str:
    """``file:line`` of a request read from the middle of its log (its lines counted before it, once)."""
    if at is None:
        return ""
    path, first, line = at
    return f"{path}:{lines_before(path, first) + line if first else line}"


def _coarsen(impact: _Impact) -> None:
    impact.grain *= 2
    merged: dict[tuple[int, tuple[str, str, str]], list[int]] = {}
    for (bucket, key), cell in impact.cells.items():
        into = merged.setdefault((bucket // 2, key), [0, 0, 0, 0])
        for index, value in enumerate(cell):
            into[index] += value
    impact.cells = merged


def _curve(impact: _Impact, start: float, end: float) -> dict[str, Any]:
    """Requests, 5xx and mean latency per bucket, overall and per endpoint (the charts' data)."""
    span = max(end - start, 1.0)
    wanted = max(1, int(-(-span // MAX_CURVE_POINTS)))
    step = impact.grain * -(-wanted // impact.grain)  # a whole number of the grains read
    buckets = int(span // step) + 1
    total = [[0, 0, 0, 0] for _ in range(buckets)]  # requests, 5xx, latency µs sum, latency count
    per: dict[tuple[str, str, str], list[list[int]]] = defaultdict(lambda: [[0, 0] for _ in range(buckets)])
    for (bucket, key), cell in impact.cells.items():
        index = min(bucket * impact.grain // step, buckets - 1)
        for position, value in enumerate(cell):
            total[index][position] += value
        per[key][index][0] += cell[0]
        per[key][index][1] += cell[1]
    return {"step_s": step, "start": iso(start),
            "points": [{"time": iso(start + i * step), "requests": c[0], "failed": c[1],
                        "latency_ms": round(c[2] / c[3] / 1000, 3) if c[3] else None} for i, c in enumerate(total)],
            "endpoints": [{"vhost": k[0], "method": k[1], "endpoint": k[2],
                           "requests": [p[0] for p in v], "failed": [p[1] for p in v]}
                          for k, v in sorted(per.items(), key=lambda kv: (-sum(p[1] for p in kv[1]), kv[0]))]}


# --- detection, timeline, resolution ------------------------------------------------------------------

def _detection(impact: _Impact, events: Sequence[Event]) -> dict[str, Any]:
    first = impact.first_failure
    after = [e for e in events if first is None or epoch(e.time) >= first]
    detected = [e for e in after if (e.source, e.kind) in DETECTION_KINDS]
    alert = detected[0] if detected else None
    # no alert: the first doctor or trace run is someone looking into it
    looked = next((e for e in after if e.source in {"doctor", "trace"}), None)
    return {"first_failure": iso(first) if first is not None else None,
            "first_investigation": iso(epoch(looked.time)) if looked is not None else None,
            "first_alert": iso(epoch(alert.time)) if alert else None,
            "time_to_detect_s": round(epoch(alert.time) - first, 3) if alert and first is not None else None,
            "detected_by": (f"{DETECTION_KINDS[(alert.source, alert.kind)]} ({alert.source} {alert.id})" if alert
                            else f"a person running vhostguard {looked.source} ({looked.id})" if looked else None)}


def _timeline(impact: _Impact, events: Sequence[Event]) -> list[dict[str, Any]]:
    entries: list[tuple[float, int, dict[str, Any]]] = []
    for order, event in enumerate(events):
        moment = epoch(event.time)
        entries.append((moment, order, {"time": iso(moment), "source": event.source, "kind": event.kind,
                                        "id": event.id, "text": _event_text(event)}))
    if impact.first_failure is not None and impact.last_failure is not None:
        # %t keeps the second only: the request came in during that second, so within it the log's
        # milestones sort after the events (a switch at .5 and a failure logged at .0 are in that order)
        slack, note = (0.999, "; the log gives whole seconds") if impact.whole_seconds else (0.0, "")
        entries.append((impact.first_failure + slack, -1, {"time": iso(impact.first_failure), "source": "access-log",
                                                           "kind": "first-failure", "id": "",
                                                           "text": f"first failing request ({_line_of(impact.first_failure_at)}"
                                                                   f"{note})"}))
        entries.append((impact.last_failure + slack, 1 << 30, {"time": iso(impact.last_failure), "source": "access-log",
                                                       "kind": "last-failure", "id": "",
                                                       "text": f"last failing request ({_line_of(impact.last_failure_at)})"}))
    return [entry for _, _, entry in sorted(entries, key=lambda item: (item[0], item[1]))]


def _event_text(event: Event) -> str:
    data = event.data
    if event.source == "watch":
        where = " ".join(str(data.get(k)) for k in ("vhost", "method", "endpoint") if data.get(k))
        return f"{event.kind}: {data.get('rule', '')} {where}: {data.get('summary', '')}".strip()
    if event.kind == "gate":
        return f"gate {data.get('name')} {data.get('status')}: {data.get('detail') or ''}"
    if event.kind == "finding":
        return f"doctor finding: {data.get('summary', '')}"
    for key in ("reason", "outcome", "top"):
        if data.get(key):
            return f"{event.kind}: {data[key]}"
    if event.kind == "switch":
        return f"switch {data.get('from')} -> {data.get('to')}"
    return event.kind


def _resolution(impact: _Impact, events: Sequence[Event]) -> dict[str, Any] | None:
    first = impact.first_failure
    if first is None:
        return None
    ends = [e for e in events if e.source == "deploy" and e.kind in RESOLUTION_KINDS and epoch(e.time) >= first]
    if not ends:
        return None
    chosen = ends[0]
    moment = epoch(chosen.time)
    after = impact.last_failure is not None and impact.last_failure > moment
    return {"time": iso(moment), "kind": chosen.kind, "id": chosen.id, "text": _event_text(chosen),
            "failures_after": after,
            "last_failure_after_s": round(impact.last_failure - moment, 3) if after and impact.last_failure else None}


# --- causes ----------------------------------------------------------------------------------------------

def _deploy_documents(state_dir: str | None) -> dict[str, Mapping[str, Any]]:
    if not state_dir or not os.path.isfile(os.path.join(state_dir, "journal.sqlite")):
        return {}
    try:
        journal = Journal(state_dir)
    except JournalError:
        return {}
    try:
        return {record.id: record.report for record in journal.history() if record.report}
    finally:
        journal.close()


def _causes(impact: _Impact, events: Sequence[Event], deploys: Mapping[str, Mapping[str, Any]],
            inputs: PostmortemInputs, end: float) -> list[dict[str, Any]]:
    scored: list[tuple[tuple[int, float], dict[str, Any]]] = []
    first = impact.first_failure
    # a log to the whole second puts the first failure anywhere in its second: a switch within it
    # may have come first
    latest_before = None if first is None else first + (1.0 if impact.whole_seconds else 0.0)
    switched = {e.id: epoch(e.time) for e in events if e.source == "deploy" and e.kind == "switch"}
    for ident, moment in switched.items():
        document = deploys.get(ident, {})
        if document.get("kind") == "rollback" or first is None or latest_before is None or moment >= latest_before:
            continue
        cause, routed = _deploy_cause(ident, document, impact, inputs.state_dir)
        # routing changed for the failing requests: the lead; not checked: next; checked and unchanged: last
        tier = 0 if cause["directives"] else (4 if routed else 1)
        scored.append(((tier, abs(first - moment)), cause))
    for event in events:
        if event.source == "doctor" and event.kind == "finding":
            data = event.data
            scored.append(((2, 0.0), {"summary": f"doctor: {data.get('summary', '')}", "deploy_id": None,
                                      "directives": [str(d) for d in data.get("directives", []) or []],
                                      "evidence": [str(x) for x in (data.get("evidence") or [])][:5]}))
    span = (impact.first_failure or inputs.start, impact.last_failure or end)
    for code, (count, entry, line) in _error_codes(inputs.error_logs, span).items():
        meaning = explain_line(line)
        text = meaning.meaning if meaning is not None else "not in the catalogue"
        evidence = [f"{entry}: {line}"] + ([f"likely: {c}" for c in meaning.causes[:2]] if meaning is not None else [])
        scored.append(((3, -count), {"summary": f"error log: {code} x{count}: {text}", "deploy_id": None,
                                     "directives": [], "evidence": evidence}))
    ranked = [cause for _, cause in sorted(scored, key=lambda item: item[0])]
    for rank, cause in enumerate(ranked, 1):
        cause["rank"] = rank
    return [{"rank": c["rank"], **{k: v for k, v in c.items() if k != "rank"}} for c in ranked]


def _deploy_cause(ident: str, document: Mapping[str, Any], impact: _Impact,
                  state_dir: str | None) -> tuple[dict[str, Any], bool]:
    """The candidate and whether the failing requests could be routed through both trees."""
    evidence: list[str] = []
    for gate in document.get("gates") or []:
        if gate.get("name") == "diff":
            evidence.append(f"diff gate {gate.get('status')}: {gate.get('detail')}")
            evidence += [str(line) for line in gate.get("evidence") or []]
    verify = document.get("verify") or {}
    for failure in verify.get("failures") or []:
        evidence.append(f"verification: {failure.get('summary')}")
    directives: list[str] = []
    changes = _routing_changes(document, impact, state_dir) if state_dir else None
    for change in changes or []:
        evidence.append(change["text"])
        for directive in (change["new"], change["old"]):
            if directive and directive not in directives:
                directives.append(directive)
    summary = (f"deploy {ident} changed the routing of the failing requests ({', '.join(directives[:2])})"
               if directives else f"deploy {ident} preceded the first failure")
    return {"summary": summary, "deploy_id": ident, "directives": directives, "evidence": evidence}, changes is not None


def _routing_changes(document: Mapping[str, Any], impact: _Impact, state_dir: str) -> list[dict[str, Any]] | None:
    """Each failing request routed through the config before the deploy and the one it installed
    (None: the two trees are not both kept, nothing could be routed)."""
    old = _router(document, state_dir, str(document.get("previous_hash") or ""))
    new = _router(document, state_dir, str(document.get("candidate_hash") or ""))
    if old is None or new is None:
        return None
    changes: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    routed = 0
    for key, samples in impact.samples.items():
        for sample in samples:
            request = _request(sample)
            if request is None or routed >= MAX_ROUTED:
                continue
            routed += 1
            before, after = _decide(old[0], request), _decide(new[0], request)
            if before is None or after is None or _route_key(before) == _route_key(after):
                continue
            old_directive, new_directive = _directive(before, old[1]), _directive(after, new[1])
            if (key[0], key[1], key[2]) in seen:
                continue
            seen.add(key)
            changes.append({"old": old_directive, "new": new_directive,
                            "text": f"{request.method} {request.host}:{request.port}{request.path}: before the deploy "
                                    f"{_route_text(before)} ({old_directive or 'no directive'}), after it "
                                    f"{_route_text(after)} ({new_directive or 'no directive'})"})
    return changes


def _router(document: Mapping[str, Any], state_dir: str, tree_hash: str) -> tuple[Router, str] | None:
    tree = os.path.join(state_dir, "trees", tree_hash)
    live_dir = str(document.get("live_dir") or "")
    server = document.get("server") or {}
    live_main = str(server.get("live_main") or "")
    if not tree_hash or not os.path.isdir(tree) or not live_dir or not live_main:
        return None
    relative = os.path.relpath(live_main, live_dir)
    if relative.startswith(".."):
        return None
    root = server.get("server_root")
    root_in_tree = None
    if root:
        inside = os.path.relpath(str(root), live_dir)
        root_in_tree = tree if inside == "." else (None if inside.startswith("..") else os.path.join(tree, inside))
    try:
        loaded = load(os.path.join(tree, relative), LoadOptions(server_root=root_in_tree or tree))
        return Router(build_model(loaded), from_logs=True), tree
    except (ConfigError, OSError, ValueError):
        return None


def _request(sample: Mapping[str, Any]) -> Request | None:
    host = sample.get("server_name") or sample.get("vhost")
    headers = sample.get("headers_in") or {}
    for name, value in headers.items():
        if str(name).lower() == "host" and value:
            host = str(value).split(":")[0]
    try:
        port = int(sample.get("port") or 80)
        return Request("http", str(host) if host else None, port, str(sample.get("path") or "/"),
                       sample.get("query"), str(sample.get("method") or "GET"))
    except (RequestError, ValueError):
        return None


def _decide(router: Router, request: Request) -> Decision | None:
    try:
        return router.route(request)
    except (RequestError, ValueError):
        return None


def _route_key(decision: Decision) -> tuple[Any, ...]:
    outcome = decision.outcome
    source = outcome.directive.source if outcome.directive is not None else None
    return (outcome.kind, outcome.status, outcome.target, source.line if source else None)


def _route_text(decision: Decision) -> str:
    outcome = decision.outcome
    return f"{outcome.kind} {outcome.target or outcome.status or ''}".strip()


def _directive(decision: Decision, tree: str) -> str | None:
    directive = decision.outcome.directive
    if directive is None:
        return None
    where = os.path.relpath(directive.source.file, tree) if directive.source.file.startswith(tree) else directive.source.file
    return f"{where}:{directive.source.line}: {directive.name} {' '.join(directive.args)}"


def _error_codes(paths: Iterable[str], span: tuple[float, float]) -> dict[str, tuple[int, str, str]]:
    """AH code -> (lines while requests failed, where the first was, the first line), for the codes logged
    at level error or worse (notices of restarts are the timeline's business, not causes); a second of
    slack on each side, since the error line and the access line of one request differ by its duration."""
    start, end = span[0] - 1.0, span[1] + 1.0
    found: dict[str, tuple[int, str, str]] = {}
    counts: Counter[str] = Counter()
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="backslashreplace") as handle:
                for number, line in enumerate(handle, 1):
                    entry = parse_error_line(line.rstrip("\n"), path)
                    if (entry.code is None or entry.time is None or entry.level not in SERIOUS
                            or not start <= entry.time <= end):
                        continue
                    counts[entry.code] += 1
                    if entry.code not in found:
                        found[entry.code] = (0, f"{path}:{number}", line.rstrip("\n"))
        except OSError:
            continue
    return {code: (counts[code], where, line) for code, (_, where, line) in found.items()}


# --- actions, summary ------------------------------------------------------------------------------------

def _actions(causes: Sequence[Mapping[str, Any]], events: Sequence[Event], deploys: Mapping[str, Mapping[str, Any]],
             lint_findings: Sequence[str]) -> list[str]:
    actions: list[str] = []
    for cause in causes:
        if cause.get("deploy_id") and cause.get("directives"):
            actions.append(f"Add a --verify expectation covering the failing endpoints so the directive "
                           f"{cause['directives'][0]} cannot change their routing unnoticed")
    for ident in {e.id for e in events if e.source == "deploy"}:
        document = deploys.get(ident, {})
        for gate in document.get("gates") or []:
            if gate.get("status") == "fail" or (gate.get("name") == "diff" and "forced" in str(gate.get("detail"))):
                actions.append(f"Deploy {ident}: gate {gate.get('name')} {gate.get('status')}: {gate.get('detail')}")
        for failure in (document.get("verify") or {}).get("failures") or []:
            if failure.get("kind") == "expectation":
                actions.append(f"Deploy {ident}: failed expectation: {failure.get('summary')}")
    actions += [f"Fix lint finding {finding}" for finding in lint_findings]
    return list(dict.fromkeys(actions))


def _summary(document: Mapping[str, Any]) -> str:
    impact = document["impact"]
    if not impact["failed"]:
        return f"No failed request in {impact['requests']} requests between {document['window']['start']} and " \
               f"{document['window']['end']}."
    top = impact["by_endpoint"][0]
    text = (f"{impact['failed']} of {impact['requests']} requests failed ({impact['failed_share']:.1%}) from "
            f"{document['first_failure']} to {document['last_failure']} ({document['duration_s']} s), "
            f"{impact['clients']} client{'' if impact['clients'] == 1 else 's'} affected; most on {top['vhost']} {top['method']} {top['endpoint']}.")
    if document["causes"]:
        text += f" Leading cause candidate: {document['causes'][0]['summary']}."
    if document["resolution"]:
        text += f" Ended by {document['resolution']['kind']} {document['resolution']['id']} at " \
                f"{document['resolution']['time']}."
    return text

"""Is the new config serving correctly? The running server, watched for a while after a switch.

``take_baseline`` (before the switch) counts requests and 5xx per vhost × method ×
endpoint over the last hour of the live config's access logs and notes where each
log (and the error log) ended. ``verify`` (after the reload) then, for the watch
window: sends the expectation cases to the running server every few seconds, and
reads only what the access logs got after those offsets.

Two signals fail a deploy:

* an expectation case the running server answers otherwise: its status (a proxied
  case only when the answer is 5xx: the backend decides its other statuses), its
  redirect, and its vhost where the access log names the vhost that served it
  (``%v``, or a log only one vhost writes); a case expecting a proxy or file
  outcome answered with 5xx fails. A failing answer is asked once more before it
  counts (one request cut off by the reload is not a broken config);
* an endpoint whose 5xx ratio now trips watch's ``endpoint-broken`` rule (at least
  ``min_requests`` requests and ``min_error_ratio`` of them 5xx in the last
  ``window`` seconds, monitor/rules.py) while it was healthy in the baseline: so 1
  error in 2 requests of a quiet endpoint never rolls back, a backend that is down
  for a busy endpoint does within seconds, and an endpoint already failing before
  the switch is not blamed on it. Endpoints are the ones watch and report use
  (``monitor.Labeler``: templated paths, bounded labels);
* a Host another vhost now serves, whatever the status codes (watch's ``host-moved`` rule,
  ``monitor.host_moves``, on the baseline's Host -> vhost counts against those after the
  switch), where the access log names both the Host (``%{Host}i``, or ``%V``) and the vhost
  (``%v``): the incident's misroute, which often answers 200 or 403 rather than 5xx.
"""
from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from vhostguard import live
from vhostguard.checks import Expectations, load_expectations
from vhostguard.deploy.server import ServerControl, _answers, _probe_address, load_live
from vhostguard.diagnose import iso, observe_server
from vhostguard.logs import (
    EndpointTemplater, LogCursor, Parser, ResolveError, decode_lines, find_logs, lines_before, request_rows, resolve_targets,
    window_span,
)
from vhostguard.model import ServerModel
from vhostguard.analytics import BurstRule
from vhostguard.monitor import (
    Evaluator, HostMove, HostNames, Labeler, Rules, Windows, find_error_logs, host_column, host_moves, load_rules,
    parse_error_line, where_now,
)
from vhostguard.routing import Request, RequestError, Router

FailureKind = Literal["expectation", "error-rate", "not-serving"]
ROW_EXTRA = ("status", "time")
BASELINE_BYTES = 64 << 20  # of each log's end read for the baseline: an hour of a busy server, bounded
READ_BYTES = 8 << 20  # of new log text read per look
LOG_EVERY = 0.5  # seconds between reads of the access logs
CASES_EVERY = 3.0  # seconds between rounds of expectation cases
CONFIRM_AFTER = 0.5  # seconds before a failing answer is asked again
LOG_WAIT = 1.0  # seconds for httpd to write the access-log line of a probe (after the response)
# An endpoint failed before the switch when it had at least this many 5xx (report's error-burst count: "an
# endpoint whose backend is down is one, however little traffic it gets") at the endpoint-broken ratio.
MIN_BASELINE_ERRORS = BurstRule().min_errors
SAMPLES = 3  # evidence lines per failure
PROBE_TIMEOUT = 10.0
_PROXIED = frozenset({"proxy"})
_SERVED = frozenset({"proxy", "file", "script", "wsgi", "handler"})  # a 5xx answer is never one of these
_STATUS_OF_KIND = {"not-found": 404, "forbidden": 403, "gone": 410, "unauthorized": 401, "bad-request": 400,
                   "misdirected": 421}

Key = tuple[str, str, str]  # vhost, method, endpoint (monitor's labels)


@dataclass(frozen=True)
class LogMark:
    """Where a log ended when the baseline was taken (its inode: a rotated log is read from its start)."""

    path: str
    inode: int | None
    offset: int

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "inode": self.inode, "offset": self.offset}


@dataclass(frozen=True)
class EndpointCount:
    vhost: str
    method: str
    endpoint: str
    requests: int
    errors: int  # 5xx

    @property
    def key(self) -> Key:
        return (self.vhost, self.method, self.endpoint)

    @property
    def ratio(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"vhost": self.vhost, "method": self.method, "endpoint": self.endpoint, "requests": self.requests,
                "5xx": self.errors}


@dataclass(frozen=True)
class Baseline:
    """Per-endpoint request and 5xx counts over ``window_s`` before ``taken`` (epoch seconds),
    and where each access log and error log ended then, so ``verify`` reads only what came after."""

    taken: float
    window_s: float
    endpoints: tuple[EndpointCount, ...]
    access_logs: tuple[LogMark, ...]
    error_logs: tuple[LogMark, ...] = ()
    lines: int = 0
    malformed: int = 0
    hosts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # Host -> serving vhost -> requests

    def count(self, key: Key) -> EndpointCount | None:
        return next((e for e in self.endpoints if e.key == key), None)

    def mark(self, path: str) -> LogMark | None:
        return next((m for m in (*self.access_logs, *self.error_logs) if m.path == path), None)

    def to_json(self) -> dict[str, Any]:
        return {"taken": iso(self.taken), "window_s": self.window_s, "lines": self.lines,
                "malformed": self.malformed, "endpoints": [e.to_json() for e in self.endpoints],
                "access_logs": [m.to_json() for m in self.access_logs],
                "error_logs": [m.to_json() for m in self.error_logs],
                "hosts": {host: dict(vhosts) for host, vhosts in sorted(self.hosts.items())}}


@dataclass(frozen=True)
class VerifyFailure:
    kind: str  # "expectation" | "error-rate" | "host-moved" | "not-serving"
    summary: str  # one line
    evidence: tuple[str, ...] = ()
    observed: Mapping[str, Any] = field(default_factory=dict)  # host-moved: host, usual_vhost, new_vhost (as watch's alert)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"kind": self.kind, "summary": self.summary, "evidence": list(self.evidence)}
        if self.observed:
            document["observed"] = dict(self.observed)
        return document


@dataclass(frozen=True)
class VerifyResult:
    status: Literal["pass", "fail"]
    window_s: float  # how long it watched (less than asked when it failed early)
    failures: tuple[VerifyFailure, ...]

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "window_s": round(self.window_s, 3),
                "failures": [f.to_json() for f in self.failures]}


# -- the access logs ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _AccessLog:
    """A log the live config writes, its parser, and the vhost it belongs to when only one writes it.
    ``names_vhost``: its lines say which vhost served them (``%v``, or that one vhost)."""

    path: str
    parser: Parser
    vhost: str | None
    names_vhost: bool
    host_key: str | None = None  # the record key of the requested Host, when the lines name it and %v


def _access_logs(model: ServerModel) -> list[_AccessLog]:
    layout = find_logs(model.tree)
    try:
        resolved = resolve_targets(layout)
    except ResolveError:
        resolved = []  # a LogFormat httpd would refuse: nothing to read (the gates said so already)
    found = []
    for item in resolved:
        target = item.target
        if target is None or target.conditions:
            continue  # a conditional log holds only some requests: its ratios say nothing
        own = model.vhost(target.servers[0]) if len(target.servers) == 1 and target.servers[0] != "main" else None
        logs_v = any("%v" in fmt for fmt in target.formats)
        found.append(_AccessLog(os.path.abspath(item.path), item.parser, own.server_name if own else None,
                                logs_v or own is not None, host_column(item.parser)))
    return found


@dataclass(frozen=True)
class _Row:
    key: Key
    status: int | None
    second: int
    served_by: str | None  # the vhost that served it, where the log says so
    path: str | None
    where: tuple[str, int]  # (log path, line index after the mark)
    text: str
    host: object = None  # the Host asked for, as logged (when the log has it and %v)


class _Reader:
    """One access log read from a mark on (``logs.LogCursor``: complete lines only, rotation followed)."""

    def __init__(self, log: _AccessLog, mark: LogMark | None, labeler: Labeler, partial: bool = False) -> None:
        self.log = log
        extra = ROW_EXTRA + ((log.host_key,) if log.host_key else ())
        self.rows = request_rows(log.parser, extra, log.vhost).rows
        self.labeler = labeler
        self.cursor = LogCursor(log.path, mark.offset if mark else 0, mark.inode if mark else None, mid_line=partial)
        self.lines = 0
        self.malformed = 0

    @property
    def offset(self) -> int:
        return self.cursor.offset

    @property
    def start(self) -> int:
        """Where line indexes count from."""
        return self.cursor.start

    def read(self, now: float, until: int | None = None) -> list[_Row]:
        """The rows of the complete lines after the last read (up to byte ``until`` when given)."""
        first = self.cursor.index
        lines = self.cursor.read(READ_BYTES, until)
        if not lines:
            return []
        return _rows(self.log, self.rows(lines), lines, first, self.labeler, now, self)


def _rows(log: _AccessLog, parsed: tuple[list[tuple[Any, ...]], list[int]], lines: list[str], first: int,
          labeler: Labeler, now: float, counts: _Reader | None = None) -> list[_Row]:
    rows, bad = parsed
    bad_set = set(bad)
    good = [i for i in range(len(lines)) if i not in bad_set]
    if counts is not None:
        counts.lines += len(lines)
        counts.malformed += len(bad)
    found = []
    for index, row in zip(good, rows, strict=True):
        vhost, method, path, status, when = row[:5]
        host = row[5] if len(row) > 5 else None
        label = labeler.cache.get((vhost, method, path)) or labeler.label((vhost, method, path))
        served = (log.vhost or vhost) if log.names_vhost else None
        found.append(_Row(label, status if isinstance(status, int) else None, _second(when, now), served, path,
                          (log.path, first + index), lines[index], host))
    return found


def _second(when: Any, now: float) -> int:
    if not when:
        return int(now)
    try:
        return int(datetime.fromisoformat(str(when)).timestamp())
    except ValueError:
        return int(now)


def _labeler(keys: Iterable[Key] = ()) -> Labeler:
    labeler = Labeler(EndpointTemplater())
    labeler.seed(keys)  # the baseline's endpoints keep their names under the cap
    return labeler


# -- the baseline ------------------------------------------------------------------------------

def take_baseline(control: ServerControl, window_s: float = 3600.0, *, now: float | None = None) -> Baseline:
    """Per-endpoint counts of the live config's access logs over the last ``window_s`` seconds
    (by each line's own time; the last ``BASELINE_BYTES`` of each log at most), and the marks
    where each access and error log ends. Raises ReloadError when the live config cannot be read.

    Each log is read from where the window starts (``logs.window_span``: a binary search on its
    times), not from its beginning; ``lines`` and ``malformed`` count the lines read."""
    model = load_live(control)
    taken = time.time() if now is None else now
    labeler = _labeler()
    names = _host_names(model)
    hosts: dict[str, Counter[str]] = {}
    counts: dict[Key, list[int]] = {}
    marks = []
    lines = malformed = 0
    for log in _access_logs(model):
        try:
            info = os.stat(log.path)
        except OSError:
            marks.append(LogMark(log.path, None, 0))
            continue
        marks.append(LogMark(log.path, info.st_ino, info.st_size))
        tail = max(0, info.st_size - BASELINE_BYTES)
        start = min(_window_start(log, taken - window_s), info.st_size)
        reader = _Reader(log, LogMark(log.path, info.st_ino, max(start, tail)), labeler, partial=tail > start)
        while reader.offset < info.st_size:
            before = reader.offset
            for row in reader.read(taken, until=info.st_size):  # what verify reads starts at the mark
                if row.second < taken - window_s:
                    continue
                cell = counts.setdefault(row.key, [0, 0])
                cell[0] += 1
                cell[1] += row.status is not None and 500 <= row.status < 600
                _count_host(hosts, names, row)
            if reader.offset == before:
                break  # unreadable now: what was read counts
        lines += reader.lines
        malformed += reader.malformed
    targets, _ = find_error_logs(model)
    error_marks = tuple(_mark(t.path) for t in targets)
    endpoints = tuple(EndpointCount(*key, requests, errors) for key, (requests, errors) in sorted(counts.items()))
    return Baseline(taken, window_s, endpoints, tuple(marks), error_marks, lines, malformed,
                    {host: dict(vhosts) for host, vhosts in hosts.items()})


def _window_start(log: _AccessLog, since: float) -> int:
    """Where the lines of ``since`` and later start in ``log`` (a line start; 0: read from the start)."""
    try:
        span = window_span(log.path, log.parser, since)
    except OSError:
        return 0  # the reader says what it can read
    return span[0] if span is not None else 0


def _host_names(model: ServerModel) -> HostNames:
    """Host normalisation as watch's host-moved rule does it; the config's own names always followed."""
    named = [name for server in model.vhosts for name in (server.server_name, *server.aliases) if "*" not in name
             and "?" not in name]
    return HostNames(load_rules(None).host_moved.max_hosts, named)


def _count_host(hosts: dict[str, Counter[str]], names: HostNames, row: _Row) -> None:
    if row.host is None or not row.served_by:
        return
    host = names(row.host)
    if host is not None:
        hosts.setdefault(host, Counter())[row.served_by] += 1


def _mark(path: str) -> LogMark:
    try:
        info = os.stat(path)
    except OSError:
        return LogMark(path, None, 0)
    return LogMark(path, info.st_ino, info.st_size)


# -- the watch ---------------------------------------------------------------------------------

class _Window:
    """watch's own windows and endpoint-broken rule over the rows read since the switch, and a few
    5xx lines per endpoint for evidence."""

    def __init__(self, rules: Rules) -> None:
        self.windows = Windows(rules.window_specs(), int(rules.endpoint_broken.window))
        self.evaluator = Evaluator(rules, self.windows, (), ())
        self.samples: dict[Key, list[_Row]] = {}

    def add(self, row: _Row) -> None:
        error = row.status is not None and 500 <= row.status < 600
        self.windows.add(row.key, row.second, 1, int(error), int(row.status == 404))
        if error:
            kept = self.samples.setdefault(row.key, [])
            if len(kept) < SAMPLES:
                kept.append(row)


def _failed_before(count: EndpointCount | None, rules: Rules) -> bool:
    """The endpoint failed before the switch as badly as the rule asks now: not the deploy's doing."""
    if count is None:
        return False  # new since the switch (or quiet before): the new config serves it
    return count.errors >= MIN_BASELINE_ERRORS and count.ratio >= rules.endpoint_broken.min_error_ratio


def _broken(window: _Window, baseline: Baseline, rules: Rules, now: float,
            readers: list[_Reader], error_lines: Callable[[], list[str]]) -> VerifyFailure | None:
    found = [f for f in window.evaluator.endpoint_broken(now)
             if not _failed_before(baseline.count((f.vhost, f.method or "", f.endpoint or "")), rules)]
    if not found:
        return None
    worst = max(found, key=lambda f: (f.observed.get("errors_5xx", 0), f.vhost, f.endpoint or ""))
    key = (worst.vhost, worst.method or "", worst.endpoint or "")
    before = baseline.count(key)
    was = (f"{before.errors} of {before.requests} failed" if before is not None else "not requested")
    summary = f"{worst.summary} after the switch (in the {_span(baseline.window_s)} before it: {was})"
    evidence = [_line_ref(row, readers) for row in window.samples.get(key, [])]
    return VerifyFailure("error-rate", summary, tuple(evidence + error_lines()))


def _span(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _line_ref(row: _Row, readers: list[_Reader]) -> str:
    """``path:line: text`` (the line number counted once, only for evidence)."""
    path, index = row.where
    reader = next((r for r in readers if r.log.path == path), None)
    before = lines_before(path, reader.start) if reader is not None and reader.start else 0
    return f"{path}:{before + index + 1}: {row.text.strip()}"


class _ErrorLines:
    """Request errors (level error or worse, with a client) the error logs got after the baseline:
    one line per message code, the most frequent first (as watch's evidence: what happens most is
    what is happening; one request cut off as a backend goes down must not hide the refusals after)."""

    def __init__(self, model: ServerModel, baseline: Baseline) -> None:
        targets, _ = find_error_logs(model)
        self.marks = [(t.path, baseline.mark(t.path)) for t in targets]

    def __call__(self) -> list[str]:
        latest: dict[str, str] = {}
        seen: Counter[str] = Counter()
        for path, mark in self.marks:
            offset = mark.offset if mark is not None else 0
            try:
                with open(path, "rb") as handle:
                    if mark is not None and os.fstat(handle.fileno()).st_ino != mark.inode:
                        offset = 0
                    handle.seek(offset)
                    data = handle.read(READ_BYTES)
            except OSError:
                continue
            number = lines_before(path, offset) if offset else 0
            for text in decode_lines(data):
                number += 1
                entry = parse_error_line(text, path)
                if entry.level in ("emerg", "alert", "crit", "error") and entry.client is not None:
                    kind = entry.code or entry.brief[:80]
                    seen[kind] += 1
                    latest[kind] = f"{path}:{number}: {text.strip()}"
        return [latest[kind] for kind, _ in seen.most_common(SAMPLES)]


# -- expectation cases against the running server -----------------------------------------------

@dataclass(frozen=True)
class _Case:
    origin: str  # file:line
    name: str
    url: str
    request: Request
    expect: dict[str, Any]
    kind: str | None  # the expected kind, else the one the config routes to
    address: tuple[str, int]


@dataclass(frozen=True)
class _Answer:
    status: int | None
    reason: str
    location: str | None
    problem: str | None


def _cases(model: ServerModel, files: Iterable[Expectations]) -> list[_Case]:
    router = Router(model)
    found = []
    for expectations in files:
        for case in expectations.cases:
            try:
                request = case.request()
                if case.local_ip is None:
                    request = case.request(model.default_local_ip(request.port))
            except RequestError:
                continue  # the expectations gate refuses such a case before a deploy
            predicted = router.route(request).outcome.kind
            kind = case.expect.get("kind") or predicted
            address = (request.local_ip or "127.0.0.1", request.port)
            found.append(_Case(f"{expectations.path}:{case.line}", case.name, case.url, request, dict(case.expect),
                               str(kind), address))
    return found


def _ask(case: _Case) -> _Answer:
    request = case.request
    headers = list(request.headers) + ([("Host", request.host)] if request.host is not None else [])
    try:
        answer = live.probe(case.url, case.address, method=request.method, headers=headers, sni=request.sni,
                            no_host=request.host is None, http10=request.http10, timeout=PROBE_TIMEOUT,
                            max_body=4096)
    except live.ProbeError as problem:
        return _Answer(None, "", None, str(problem))
    return _Answer(answer.status, answer.reason, answer.header("Location"), None)


def _wrong(case: _Case, answer: _Answer, served: set[str] | None, model: ServerModel) -> list[str]:
    """What the running server's answer gets wrong: ``expected X, got Y`` per field."""
    if answer.status is None:
        return [f"expected an answer, got none ({answer.problem})"]
    status, got = answer.status, f"{answer.status} {answer.reason}".strip()
    wrong = []
    kind = case.kind
    if kind in _SERVED and status >= 500:
        wrong.append(f"expected a {kind} answer, got {got}")
    elif kind == "redirect":
        if not 300 <= status < 400:
            wrong.append(f"expected a redirect, got {got}")
        elif "target" in case.expect and answer.location != case.expect["target"]:
            wrong.append(f"expected a redirect to {case.expect['target']}, got {got} to {answer.location}")
    elif kind in _STATUS_OF_KIND and status != _STATUS_OF_KIND[kind]:
        wrong.append(f"expected {kind} ({_STATUS_OF_KIND[kind]}), got {got}")
    wanted = case.expect.get("status")
    # A backend decides the status of what it serves; a 5xx instead of its answer is ours.
    if isinstance(wanted, int) and status != wanted and not wrong and (kind not in _PROXIED or status >= 500 > wanted):
        wrong.append(f"expected status {wanted}, got {got}")
    vhost = case.expect.get("vhost")
    if vhost is not None and served and not any(_same_vhost(str(vhost), name, model) for name in served):
        wrong.append(f"expected vhost {vhost}, served by {', '.join(sorted(served))} (its access log says)")
    return wrong


def _same_vhost(expected: str, served_name: str, model: ServerModel) -> bool:
    if expected.lower() == served_name.lower():
        return True
    server = model.vhost(expected) or next(
        (s for s in model.vhosts if s.id is not None and s.id.endswith("/" + expected.lstrip("/"))), None)
    return server is not None and server.server_name.lower() == served_name.lower()


# -- verify --------------------------------------------------------------------------------------

class _Watch:
    """The state of one verification: readers from the baseline's marks, the window, the cases."""

    def __init__(self, control: ServerControl, expectations: tuple[str, ...], baseline: Baseline,
                 rules: Rules) -> None:
        self.model = load_live(control)
        self.baseline = baseline
        self.rules = rules
        self.cases = _cases(self.model, [load_expectations(path) for path in expectations])
        labeler = _labeler(e.key for e in baseline.endpoints)
        self.readers = [_Reader(log, baseline.mark(log.path), labeler) for log in _access_logs(self.model)]
        self.window = _Window(rules)
        self.error_lines = _ErrorLines(self.model, baseline)
        self.address = _probe_address(self.model)
        self.requests = 0
        self.names = _host_names(self.model)
        self.hosts: dict[str, Counter[str]] = {}
        self.host_rows: dict[tuple[str, str], list[_Row]] = {}

    def read_logs(self) -> list[_Row]:
        now = time.time()
        rows = [row for reader in self.readers for row in reader.read(now)]
        for row in rows:
            self.window.add(row)
            _count_host(self.hosts, self.names, row)
            host = self.names(row.host) if row.host is not None and row.served_by else None
            if host is not None:
                samples = self.host_rows.setdefault((host, row.served_by or ""), [])
                if len(samples) < 3:
                    samples.append(row)
        self.requests += len(rows)
        return rows

    def host_moved(self) -> VerifyFailure | None:
        """watch's host-moved rule on the baseline against what came after the switch: a Host another
        vhost now serves (the incident's misroute, whatever the status codes)."""
        moves = host_moves(self.baseline.hosts, self.hosts, self.rules)
        if not moves:
            return None
        move: HostMove = max(moves, key=lambda m: (m.moved, m.host))
        summary = (f"{move.host} was served by {move.usual} ({move.baseline:g} requests before the switch), now by "
                   f"{move.new} ({move.moved:g} of its {move.requests:g} requests since)")
        deciding = where_now(self.model, move.host, move.new)
        evidence = ([f"now decided by {deciding}"] if deciding else []) + [
            _line_ref(row, self.readers) for row in self.host_rows.get((move.host, move.new), [])]
        return VerifyFailure("host-moved", summary, tuple(evidence),
                             {"host": move.host, "usual_vhost": move.usual, "new_vhost": move.new})

    def error_rate(self) -> VerifyFailure | None:
        return _broken(self.window, self.baseline, self.rules, time.time(), self.readers, self.error_lines)

    def serving(self) -> VerifyFailure | None:
        state = observe_server(self.model)
        if state.pid is None:
            return VerifyFailure("not-serving", f"the server is not running: {state.problem}", state.last_words)
        if self.cases or self.address is None:
            return None  # the cases' own probes tell whether it answers
        ok, seen = _answers(self.address)
        if not ok:
            time.sleep(CONFIRM_AFTER)
            ok, seen = _answers(self.address)
        if not ok:
            where = f"{self.address[0]}:{self.address[1]}"
            return VerifyFailure("not-serving", f"the server does not answer on {where}: {seen}",
                                 (f"probe {where}: {seen}",))
        return None

    def round_of_cases(self, deadline: float) -> VerifyFailure | None:
        """Each case asked once; a failing one once more; its vhost read back from the access logs."""
        for case in self.cases:
            self.read_logs()  # up to now: the lines the probe adds come after
            answer = _ask(case)
            served = self._served(case, answer, deadline)
            wrong = _wrong(case, answer, served, self.model)
            if not wrong:
                continue
            time.sleep(CONFIRM_AFTER)
            self.read_logs()
            again = _ask(case)
            served = self._served(case, again, deadline)
            wrong = _wrong(case, again, served, self.model)
            if wrong:
                return self._case_failure(case, again, served, wrong)
        return None

    def _served(self, case: _Case, answer: _Answer, deadline: float) -> set[str] | None:
        """The vhosts the access logs name for the probe's path (None: not observable)."""
        if answer.status is None or "vhost" not in case.expect or not any(r.log.names_vhost for r in self.readers):
            return None
        until = min(time.monotonic() + LOG_WAIT, deadline)
        while True:
            names = {row.served_by for row in self.read_logs()
                     if row.served_by and row.path == case.request.path and row.status == answer.status}
            if names:
                return names
            if time.monotonic() >= until:
                return None
            time.sleep(0.05)

    def _case_failure(self, case: _Case, answer: _Answer, served: set[str] | None,
                      wrong: list[str]) -> VerifyFailure:
        kind = "not-serving" if answer.status is None else "expectation"
        name = f" ({case.name})" if case.name else ""
        summary = f"{case.origin}{name}: {case.request.method} {case.url}: {'; '.join(wrong)}"
        where = f"{case.address[0]}:{case.address[1]}"
        got = f"{answer.status} {answer.reason}".strip() if answer.status is not None else f"no answer ({answer.problem})"
        evidence = [f"{case.origin}: expect {_expected(case)}", f"probe {where}: {case.request.method} {case.url} -> {got}"]
        if answer.status is not None and answer.status >= 500:
            evidence += self.error_lines()
        return VerifyFailure(kind, summary, tuple(evidence))


def _expected(case: _Case) -> str:
    return ", ".join(f"{key}: {value}" for key, value in case.expect.items()) or f"kind: {case.kind}"


def verify(control: ServerControl, expectations: tuple[str, ...], baseline: Baseline, watch_s: float,
           progress: Callable[[str], None] | None = None, *, rules: Rules | None = None) -> VerifyResult:
    """Watch the running server for ``watch_s`` seconds (see the module docstring); returns at
    the first failure. ``rules``: watch's rules (default: their defaults; ``endpoint_broken``
    decides). Raises ExpectationError for an unreadable expectations file, ReloadError when the
    live config cannot be read."""
    say = progress or (lambda text: None)
    watch = _Watch(control, expectations, baseline, rules or load_rules(None))
    started = time.monotonic()
    deadline = started + watch_s
    next_cases = started
    next_note = started + 10.0
    while True:
        now = time.monotonic()
        failure = None
        if now >= next_cases:
            failure = watch.serving() or watch.round_of_cases(deadline)
            next_cases = time.monotonic() + CASES_EVERY
        watch.read_logs()
        failure = failure or watch.host_moved() or watch.error_rate()
        elapsed = time.monotonic() - started
        if failure is not None:
            say(f"verify: failed after {elapsed:.1f}s: {failure.summary}")
            return VerifyResult("fail", elapsed, (failure,))
        if time.monotonic() >= deadline:
            say(f"verify: passed: {watch.requests} requests logged and {len(watch.cases)} cases checked "
                f"over {elapsed:.0f}s")
            return VerifyResult("pass", min(elapsed, watch_s), ())
        if time.monotonic() >= next_note:
            say(f"verify: {elapsed:.0f}s of {watch_s:g}s, {watch.requests} requests logged, no failure")
            next_note += 10.0
        time.sleep(max(0.0, min(LOG_EVERY, deadline - time.monotonic(), next_cases - time.monotonic())))


"""logs: what the access and error logs say happened over the last ``--since``.

Access logs (every CustomLog/GlobalLog/TransferLog of the config, each in its
own LogFormat, ``logs.resolve_targets``): the window ``[now - since, now]``
and the window of the same length before it are aggregated with the
report's aggregation (``analytics.analyse``: endpoint templates, status
classes, and 5xx bursts by ``BurstRule``). An endpoint with a 5xx burst now
is a finding: critical when it was healthy before (no burst, error ratio
under the rule's), a warning when it was failing already. An endpoint whose
404s grew (at least ``GROWTH`` times the window before, and at least the
rule's minimum count and ratio) is a warning. Each finding carries example
lines with the log's ``file:line``, and the request becomes one of the
failing requests the routing check routes through the config
(``DoctorContext.failing``).

Error logs (``monitor.find_error_logs``): the entries of the window grouped
by AH code with count, first/last time and the catalogue's meaning; a group
of level ``warn`` or worse is a finding (``crit`` and worse critical), the
notices only counted.

Logs are written in time order (mod_log_config writes a request's line when
it ends, ``%t`` being its start, so neighbours may differ by a request's
duration), so the windows are found by a binary search on byte offsets and
only they are read (``logs.offset_since``): 30 minutes of a day-long log cost 30 minutes of lines.
Malformed lines are counted, never fatal; a log that cannot be read is a
finding.
"""
from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from vhostguard.logs import explain_line, load_catalogue
from vhostguard.diagnose.checks.base import Check, result, skipped
from vhostguard.diagnose.context import DoctorContext, FailingRequest, iso
from vhostguard.diagnose.findings import CheckResult, Finding, Severity
from vhostguard.logs import (
    NONE, OTHER, EndpointTemplater, FormatChoice, FormatError, LineError, LogTarget, Parser, ReadStats, ResolveError,
    UntimedLog, epoch, find_logs, first_timed, is_compressed, iter_lines, lines_before, offset_since, printable,
    record_time, request_rows, resolve_targets,
)
from vhostguard.analytics import AggregateOptions, Analysis, BurstRule, EndpointSummary, LogSource, analyse
from vhostguard.monitor import find_error_logs, parse_error_line
from vhostguard.routing import Request, RequestError

NAME = "logs"
RULE = BurstRule()  # the report's and watch's notion of a 5xx burst
GROWTH = 2  # a count at least this many times the window before's is a burst "compared with before"
EXAMPLES = 3  # log lines shown per finding
MAX_FAILING = 5  # failing requests handed to the routing check
LOG_CLOCK = 1.0  # %t has whole seconds: an entry logged at second S happened before S + 1
ROTATION_SLACK = 60  # a log starting this long after the window before began does not cover it (rotated)
# httpd's levels, worst first (trace1..8 count as debug).
LEVELS = ("emerg", "alert", "crit", "error", "warn", "notice", "info", "debug")
REPORTED_LEVEL = LEVELS.index("warn")  # groups at this level or worse are findings
CRITICAL_LEVEL = LEVELS.index("crit")


@dataclass(frozen=True)
class Window:
    """The window read, ``[start, end]`` in epoch seconds, and the one of the same length before it."""

    start: float
    end: float

    @property
    def before(self) -> float:
        return self.start - (self.end - self.start)

    @property
    def length(self) -> str:
        return duration_text(self.end - self.start)


@dataclass
class _Opened:
    """An access log and the byte ranges of both windows in it."""

    path: str
    parser: Parser
    formats: tuple[str, ...]
    target: LogTarget | None
    before: tuple[int, int]
    now: tuple[int, int]
    starts: float | None = None  # the time of its first line, when that is inside the window before (rotated)
    _bases: dict[int, int] = field(default_factory=lambda: {0: 0}, repr=False)

    def line_base(self, offset: int) -> int:
        """How many lines start before ``offset``, counted once from the nearest offset already known."""
        if offset not in self._bases:
            start = max(known for known in self._bases if known <= offset)
            self._bases[offset] = lines_before(self.path, offset, start, self._bases[start])
        return self._bases[offset]


@dataclass
class _Tally:
    """What pass B (the examples) saw of one endpoint: 404s per window, first/last 404, example lines."""

    not_found: list[int] = field(default_factory=lambda: [0, 0])  # [before, now]
    first: float | None = None
    last: float | None = None
    examples_5xx: list[tuple[int, str]] = field(default_factory=list)
    examples_404: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class _Group:
    """Error-log entries of one code (or, without code, one module:level) in the window."""

    code: str | None
    module: str | None
    level: int
    count: int = 0
    first: float | None = None
    last: float | None = None
    examples: list[str] = field(default_factory=list)
    brief: str = ""


@dataclass
class _Totals:
    """Counters for the check's one-line detail."""

    access_logs: int = 0
    error_logs: int = 0
    lines_now: int = 0
    lines_before: int = 0
    malformed: int = 0
    first_malformed: str | None = None
    missing: int = 0
    error_entries: int = 0
    notices: int = 0
    notes: list[str] = field(default_factory=list)


def run(ctx: DoctorContext) -> CheckResult:
    now = ctx.options.now if ctx.options.now is not None else time.time()
    window = Window(now - ctx.options.since, now)
    findings: list[Finding] = []
    totals = _Totals()
    failing: list[FailingRequest] = []
    _access_logs(ctx, window, findings, failing, totals)
    _error_logs(ctx, window, findings, totals)
    ctx.failing.extend(failing[:MAX_FAILING])
    if totals.access_logs + totals.error_logs == 0 and not findings:
        why = "no access or error log of the config could be read"
        parts = [why + (f" ({totals.missing} not written yet)" if totals.missing else ""), *totals.notes[:3]]
        return skipped(NAME, "; ".join(parts))
    return result(NAME, findings, _detail(window, totals))


def _detail(window: Window, totals: _Totals) -> str:
    parts = [f"last {window.length} (since {iso(window.start)}): {totals.lines_now} access-log lines "
             f"({totals.lines_before} in the {window.length} before) in {totals.access_logs} access logs, "
             f"{totals.malformed} malformed"
             + (f" (first: {totals.first_malformed})" if totals.first_malformed else ""),
             f"{totals.error_entries} error-log entries in {totals.error_logs} error logs "
             f"({totals.notices} notices and below)"]
    if totals.missing:
        parts.append(f"{totals.missing} logs not written yet")
    parts += totals.notes[:3]
    if len(totals.notes) > 3:
        parts.append(f"{len(totals.notes) - 3} more notes")
    return "; ".join(parts)


def duration_text(seconds: float) -> str:
    """``30m``, ``2h``, ``90s``: a --since as a user writes it."""
    whole = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole and whole % size == 0 and whole == seconds:
            return f"{whole // size}{unit}"
    return f"{seconds:g}s"


def _logs_time(parser: Parser) -> bool:
    formats = parser.formats if isinstance(parser, FormatChoice) else (parser,)
    return any("time" in getattr(fmt, "all_keys", ("time",)) for fmt in formats)


def _open_plain(path: str, what: str, findings: list[Finding], totals: _Totals) -> tuple[BinaryIO, int] | None:
    """The log opened for seeking, with its size; None (noted, or a finding) when it cannot be."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        totals.missing += 1
        return None
    except OSError as problem:
        findings.append(_unreadable(path, what, problem.strerror or str(problem)))
        return None
    info = os.fstat(handle.fileno())
    if not stat.S_ISREG(info.st_mode):
        handle.close()
        totals.notes.append(f"{printable(path)}: not a regular file, not read")
        return None
    try:
        head = handle.read(6)
    except OSError as problem:  # a directory on some systems, an I/O error
        handle.close()
        findings.append(_unreadable(path, what, problem.strerror or str(problem)))
        return None
    if is_compressed(head):
        handle.close()
        totals.notes.append(f"{printable(path)}: compressed, its time window cannot be sought, not read")
        return None
    return handle, info.st_size


def _unreadable(path: str, what: str, why: str) -> Finding:
    return Finding(
        NAME, "log-unreadable", Severity.WARNING, f"the {what} {printable(path)} cannot be read: {why}",
        "doctor cannot tell what the server logged there (run it as a user who may read the logs, e.g. root "
        "or a member of the log's group)",
        evidence=(f"{printable(path)}: {why}",), next=f"ls -l {printable(path)}",
    )


# -- access logs ---------------------------------------------------------------------------

def _access_logs(ctx: DoctorContext, window: Window, findings: list[Finding], failing: list[FailingRequest],
                 totals: _Totals) -> None:
    layout = find_logs(ctx.tree)
    totals.notes.extend(layout.notes)
    try:
        resolved = resolve_targets(layout)
    except ResolveError as problem:
        totals.notes.append(f"access logs not read: {problem}")
        return
    for log in resolved:
        opened = _seek_windows(log.path, log.parser, log.formats, log.target, window, findings, totals)
        if opened is None:
            continue
        totals.access_logs += 1
        try:
            before = _analyse(opened.path, opened.formats, opened.before)
            now = _analyse(opened.path, opened.formats, opened.now)
        except (OSError, FormatError) as problem:
            findings.append(_unreadable(opened.path, "access log", str(problem)))
            continue
        _count(opened, before, now, totals)
        if now is not None:
            _endpoint_findings(ctx, opened, window, before, now, findings, failing)


def _seek_windows(path: str, parser: Parser, formats: tuple[str, ...], target: LogTarget | None, window: Window,
                  findings: list[Finding], totals: _Totals) -> _Opened | None:
    opened = _open_plain(path, "access log", findings, totals)
    if opened is None:
        return None
    handle, size = opened
    with handle:
        if not _logs_time(parser):
            totals.notes.append(f"{printable(path)}: its LogFormat logs no time (%t): the last {window.length} "
                                "cannot be told apart, not read")
            return None
        time_of = record_time(parser)
        try:
            start_before = offset_since(handle, size, window.before, time_of)
            start_now = offset_since(handle, size, window.start, time_of, start_before)
        except OSError as problem:
            findings.append(_unreadable(path, "access log", problem.strerror or str(problem)))
            return None
        except UntimedLog as problem:
            totals.notes.append(f"{printable(path)}: {problem} (is it written in {' | '.join(formats)}?), not read")
            return None
        first = first_timed(handle, -1, size, time_of)
    starts = first[1] if first is not None and first[1] > window.before + ROTATION_SLACK else None
    return _Opened(path, parser, formats, target, (start_before, start_now), (start_now, size), starts)


def _analyse(path: str, formats: tuple[str, ...], span: tuple[int, int]) -> Analysis | None:
    if span[1] <= span[0]:
        return None
    return analyse([LogSource(path, formats, span)], AggregateOptions(bursts=RULE))


def _count(opened: _Opened, before: Analysis | None, now: Analysis | None, totals: _Totals) -> None:
    totals.lines_before += before.lines if before else 0
    totals.lines_now += now.lines if now else 0
    for analysis, span in ((before, opened.before), (now, opened.now)):
        if analysis is None:
            continue
        totals.malformed += analysis.malformed
        if analysis.samples and totals.first_malformed is None:
            sample = analysis.samples[0]
            line = opened.line_base(span[0]) + sample.line
            totals.first_malformed = f"{printable(sample.file)}:{line}: {sample.error}"


Key = tuple[str, str, str]  # (vhost, method, endpoint) as the aggregation names them


def _key(summary: Any) -> Key:
    return (summary.vhost, summary.method, summary.endpoint)


def _endpoint_findings(ctx: DoctorContext, opened: _Opened, window: Window, before: Analysis | None, now: Analysis,
                       findings: list[Finding], failing: list[FailingRequest]) -> None:
    earlier = {_key(e): e for e in before.endpoints} if before else {}
    failing_before = {_key(b) for b in before.bursts} if before else set()
    current = {_key(e): e for e in now.endpoints}
    bursts: dict[Key, list[Any]] = {}
    for burst in now.bursts:
        bursts.setdefault(_key(burst), []).append(burst)
    # 404 candidates: enough 4xx now; pass B counts the 404s themselves, in both windows.
    candidates = {key for key, e in current.items() if e.status[3] >= RULE.min_errors
                  and e.status[3] >= RULE.min_ratio * e.requests and key not in bursts}
    if not bursts and not candidates:
        return
    tallies = _tally(opened, set(bursts) | candidates, bool(candidates))
    for key, runs in sorted(bursts.items(), key=lambda item: -sum(b.errors for b in item[1])):
        findings.append(_burst_finding(ctx, opened, window, key, runs, current[key], earlier.get(key),
                                       key in failing_before, tallies.get(key, _Tally()), failing))
    for key in sorted(candidates, key=lambda k: -current[k].status[3]):
        tally = tallies.get(key, _Tally())
        before_404, now_404 = tally.not_found
        summary = current[key]
        if now_404 >= RULE.min_errors and now_404 >= RULE.min_ratio * summary.requests and now_404 >= GROWTH * before_404:
            findings.append(_not_found_finding(ctx, opened, window, key, summary, earlier.get(key), tally, failing))


def _tally(opened: _Opened, wanted: set[Key], both: bool) -> dict[Key, _Tally]:
    """Pass B over the window's lines (and the window before's with ``both``): 404 counts and examples."""
    tallies: dict[Key, _Tally] = {}
    templater = EndpointTemplater(max_per_vhost=1 << 30, max_vhosts=1 << 30)
    rows = request_rows(opened.parser, ("status", "time"))
    spans = [(0, opened.before, opened.line_base(opened.before[0]))] if both else []
    spans.append((1, opened.now, opened.line_base(opened.now[0])))
    for which, span, first_line in spans:
        if span[1] <= span[0]:
            continue
        number = first_line
        for block in iter_lines(opened.path, ReadStats(), opened.path, span):
            if not block:  # TOO_LONG: one line that is no request
                number += 1
                continue
            parsed, bad = rows.rows(block)
            good = _good_indexes(len(block), bad)
            for index, row in zip(good, parsed):
                status = row[3]
                if status != 404 and not (isinstance(status, int) and 500 <= status <= 599):
                    continue
                key = _row_key(templater, row)
                tally = _lookup(tallies, wanted, key)
                if tally is None:
                    continue
                line = (number + index + 1, block[index])
                if status == 404:
                    tally.not_found[which] += 1
                    if which == 1:
                        when = epoch(row[4])
                        if when is not None:
                            tally.first = when if tally.first is None else min(tally.first, when)
                            tally.last = when if tally.last is None else max(tally.last, when)
                        if len(tally.examples_404) < EXAMPLES:
                            tally.examples_404.append(line)
                elif which == 1 and len(tally.examples_5xx) < EXAMPLES:
                    tally.examples_5xx.append(line)
            number += len(block)
    return tallies


def _good_indexes(count: int, bad: Sequence[int]) -> Iterable[int]:
    if not bad:
        return range(count)
    skip = set(bad)
    return (i for i in range(count) if i not in skip)


def _row_key(templater: EndpointTemplater, row: tuple[Any, ...]) -> Key:
    name = row[0] if row[0] else NONE
    return (templater.vhost_key(name), row[1] or NONE, templater.template(row[2], name))


def _lookup(tallies: dict[Key, _Tally], wanted: set[Key], key: Key) -> _Tally | None:
    if key not in wanted:
        key = (key[0], OTHER, key[2])  # a method outside the registry is aggregated as {other}
        if key not in wanted:
            return None
    tally = tallies.get(key)
    if tally is None:
        tally = tallies[key] = _Tally()
    return tally


def _vhost_of(ctx: DoctorContext, opened: _Opened, logged: str) -> tuple[str, str | None]:
    """(name to show, VHOST-ID) of the vhost a log line names, or of the one vhost writing the log."""
    target = opened.target
    if logged in (NONE, OTHER) and target is not None and len(target.servers) == 1 and target.servers[0] != "main":
        server = ctx.model.vhost(target.servers[0])
        if server is not None:
            return server.server_name, server.id
    wanted = logged.lower()
    server = next((s for s in ctx.model.vhosts if s.server_name.lower() == wanted), None)
    return logged, server.id if server is not None else None


def _request_url(ctx: DoctorContext, opened: _Opened, text: str, vhost: str, vhost_id: str | None) -> str | None:
    """The URL of a logged request: the Host it was sent with (else %V, else the vhost), its port (else the
    one port the vhost or the config's Listens name) and path."""
    try:
        record = opened.parser.parse(text)
    except LineError:
        return None
    headers = record.get("headers_in") or {}
    host_header = next((value for name, value in headers.items() if name.lower() == "host" and value), None)
    host = str(host_header or record.get("server_name") or (vhost if vhost not in (NONE, OTHER) else "") or "")
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    path = record.get("path")
    if not host or not isinstance(path, str) or not path.startswith("/"):
        return None
    port = record.get("local_port") or record.get("port") or _config_port(ctx, vhost_id)
    scheme = "https" if port == 443 else "http"
    where = host if port in (None, 80, 443) else f"{host}:{port}"
    url = f"{scheme}://{where}{path}"
    try:
        Request.from_url(url)
    except RequestError:
        return None
    return url


def _config_port(ctx: DoctorContext, vhost_id: str | None) -> int | None:
    server = ctx.model.vhost(vhost_id) if vhost_id is not None else None
    ports = {a.port for a in server.addresses if a.port is not None} if server is not None else set()
    if len(ports) != 1:
        ports = {listen.port for listen in ctx.model.listens}
    return ports.pop() if len(ports) == 1 else None


def _next(ctx: DoctorContext, url: str | None, live: bool) -> str | None:
    if url is None:
        return None
    explain = ctx.command("explain", url)
    tracing = live and not ctx.options.offline and ctx.server is not None and ctx.server.pid is not None
    return f"{ctx.command('trace', url)}; {explain}" if tracing else explain


def _evidence(path: str, lines: Sequence[tuple[int, str]]) -> tuple[str, ...]:
    return tuple(f"{printable(path)}:{number}: {text}" for number, text in lines)


def _rotated(opened: _Opened, window: Window) -> str:
    if opened.starts is None:
        return ""
    return (f" (the log starts at {iso(opened.starts)}, rotated since: the {window.length} before are only partly "
            "in it, the comparison with them is uncertain)")


def _burst_finding(ctx: DoctorContext, opened: _Opened, window: Window, key: Key, runs: list[Any],
                   summary: EndpointSummary, earlier: EndpointSummary | None, failed_before: bool, tally: _Tally,
                   failing: list[FailingRequest]) -> Finding:
    vhost, vhost_id = _vhost_of(ctx, opened, key[0])
    errors = sum(b.errors for b in runs)
    first, last = min(b.first for b in runs), max(b.last for b in runs)
    errors_before = earlier.errors if earlier else 0
    requests_before = earlier.requests if earlier else 0
    healthy = not failed_before and (earlier is None or earlier.error_ratio < RULE.min_ratio)
    url = _request_url(ctx, opened, tally.examples_5xx[0][1], key[0], vhost_id) if tally.examples_5xx else None
    if url is not None:
        failing.append(FailingRequest(url, f"{printable(opened.path)}:{tally.examples_5xx[0][0]}"))
    counts = (f"{summary.errors} of {summary.requests} requests answered 5xx in the last {window.length}, "
              f"{errors_before} of {requests_before} in the {window.length} before")
    rotated = _rotated(opened, window)
    if healthy:
        cause = (f"{counts}: the endpoint was healthy and now fails ({errors} 5xx from {iso(first)} to {iso(last)}). "
                 "A server error from httpd is a backend refusing or failing, a script crashing or a rewrite loop: "
                 "the error log's entries of the same minutes say which")
    else:
        cause = (f"{counts}: the endpoint was already failing in the window before and still is "
                 f"({errors} 5xx from {iso(first)} to {iso(last)})")
    severity, history = _since_reload(ctx, last, Severity.CRITICAL if healthy else Severity.WARNING)
    return Finding(
        NAME, "errors-burst", severity,
        f"5xx burst on {key[1]} {key[2]} of {vhost}: {summary.errors} server errors in the last {window.length}, "
        f"failing from {iso(first)} to {iso(last)} ({errors_before} in the {window.length} before)",
        cause + rotated + history, evidence=_evidence(opened.path, tally.examples_5xx), next=_next(ctx, url, live=True),
        vhost=vhost_id,
    )


def _not_found_finding(ctx: DoctorContext, opened: _Opened, window: Window, key: Key, summary: EndpointSummary,
                       earlier: EndpointSummary | None, tally: _Tally, failing: list[FailingRequest]) -> Finding:
    vhost, vhost_id = _vhost_of(ctx, opened, key[0])
    before_404, now_404 = tally.not_found
    url = _request_url(ctx, opened, tally.examples_404[0][1], key[0], vhost_id) if tally.examples_404 else None
    if url is not None:
        failing.append(FailingRequest(url, f"{printable(opened.path)}:{tally.examples_404[0][0]}"))
    span = f" from {iso(tally.first)} to {iso(tally.last)}" if tally.first is not None else ""
    requests_before = earlier.requests if earlier else 0
    severity, history = _since_reload(ctx, tally.last, Severity.WARNING)
    return Finding(
        NAME, "not-found-burst", severity,
        f"404 burst on {key[1]} {key[2]} of {vhost}: {now_404} not found{span} ({before_404} in the "
        f"{window.length} before)",
        f"{now_404} of {summary.requests} requests answered 404 in the last {window.length}, {before_404} of "
        f"{requests_before} in the {window.length} before: a file renamed or removed, an Alias or DocumentRoot "
        "pointing elsewhere since a change, or clients following a new broken link" + _rotated(opened, window) + history,
        evidence=_evidence(opened.path, tally.examples_404), next=_next(ctx, url, live=False), vhost=vhost_id,
    )


# -- error logs -------------------------------------------------------------------------------

def _level(name: str | None) -> int:
    if name is None:
        return LEVELS.index("error")  # an unknown shape: count it as an error, not hide it
    if name.startswith("trace"):
        return LEVELS.index("debug")
    return LEVELS.index(name) if name in LEVELS else LEVELS.index("error")


def _error_time(path: str) -> Callable[[str], float | None]:
    return lambda line: parse_error_line(line, path).time


def _error_logs(ctx: DoctorContext, window: Window, findings: list[Finding], totals: _Totals) -> None:
    targets, notes = find_error_logs(ctx.model)
    totals.notes.extend(notes)
    for target in targets:
        path = target.path
        opened = _open_plain(path, "error log", findings, totals)
        if opened is None:
            continue
        handle, size = opened
        totals.error_logs += 1
        with handle:
            try:
                start = offset_since(handle, size, window.start, _error_time(path))
            except OSError as problem:
                findings.append(_unreadable(path, "error log", problem.strerror or str(problem)))
                continue
            except UntimedLog as problem:
                totals.notes.append(f"{printable(path)}: {problem} (an ErrorLogFormat without %t?), not read")
                continue
        if start >= size:
            continue
        groups: dict[tuple[str | None, str | None], _Group] = {}
        number = lines_before(path, start)
        stats = ReadStats()
        for block in iter_lines(path, stats, path, (start, size)):
            for text in block or [""]:
                number += 1
                if not text.strip():
                    continue
                entry = parse_error_line(text, path)
                level = _level(entry.level)
                code = entry.code
                if code is None and (known := explain_line(text)) is not None:
                    # A line without httpd's prefix (written to stderr at start-up, which is the error log
                    # then, e.g. AH00558) still names its code: its level is the one httpd logs it at.
                    code = known.code
                    level = _level(known.level if entry.level is None and known.level in LEVELS else entry.level)
                key = (code, None if code else f"{entry.module or '-'}:{entry.level or '-'}")
                group = groups.get(key)
                if group is None:
                    group = groups[key] = _Group(code, entry.module, level, brief=entry.brief)
                group.count += 1
                group.level = min(group.level, level)
                if entry.time is not None:
                    group.first = entry.time if group.first is None else min(group.first, entry.time)
                    group.last = entry.time if group.last is None else max(group.last, entry.time)
                if len(group.examples) < EXAMPLES:
                    group.examples.append(f"{printable(path)}:{number}: {text}")
        totals.notes.extend(stats.problems)
        for group in sorted(groups.values(), key=lambda g: (g.level, -g.count)):
            totals.error_entries += group.count
            if group.level > REPORTED_LEVEL:
                totals.notices += group.count
                continue
            findings.append(_group_finding(ctx, path, window, group, load_catalogue().get(group.code) if group.code else None))


def _group_finding(ctx: DoctorContext, path: str, window: Window, group: _Group, entry: Any) -> Finding:
    level = LEVELS[group.level]
    what = group.code or f"[{group.module or '-'}:{level}] without a message code"
    when = f" from {iso(group.first)} to {iso(group.last)}" if group.first is not None else ""
    if entry is not None:
        meaning = entry.meaning.split(". ")[0].rstrip(".")
        summary = f"{group.count} x {group.code} [{entry.module}:{level}] in {printable(path)}{when}: {meaning}"
        cause = entry.meaning + (" Typical causes: " + "; ".join(entry.causes) if entry.causes else "")
        next_: str | None = f"vhostguard explain-code {group.code}"
    else:
        summary = f"{group.count} x {what} in {printable(path)}{when}: {group.brief}"
        cause = (f"httpd logged this {group.count} times in the last {window.length}"
                 + (f"; {group.code} is not in vhostguard's catalogue" if group.code else ""))
        next_ = f"grep -n {group.code} {printable(path)}" if group.code else None
    severity, history = _since_reload(ctx, group.last, Severity.CRITICAL if group.level <= CRITICAL_LEVEL
                                      else Severity.WARNING)
    return Finding(NAME, "error-logged", severity, summary, cause + history, evidence=tuple(group.examples), next=next_)


def _since_reload(ctx: DoctorContext, last: float | None, severity: Severity) -> tuple[Severity, str]:
    """A problem last seen before the running server last (re)read its config is history: it was seen
    with another config (the fix, often), so it is only worth knowing (info), and the cause says why."""
    state = ctx.server
    loaded = state.loaded if state is not None and state.pid is not None else None
    if loaded is None or last is None or last + LOG_CLOCK > loaded:
        return severity, ""
    return Severity.INFO, (f". Last seen at {iso(last)}, before the server last (re)loaded its config at "
                           f"{iso(loaded)}: not seen since")


CHECK = Check(NAME, run)

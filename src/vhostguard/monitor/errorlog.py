"""httpd 2.4 error-log lines, kept for a while and joined to alerts as evidence.

httpd's default ``ErrorLogFormat`` writes::

    [Wed Oct 11 14:32:52.123456 2000] [proxy_http:error] [pid 35708:tid 4328636416] (111)Connection refused: [client 192.0.2.7:5678] AH01114: HTTP: failed to make connection to backend: 127.0.0.1, referer: http://...

that is time (``%{u}t``, local time), ``module:level``, ``pid:tid``, the
source position at debug level, the APR status (``%E``), the client, the
``AHnnnnn`` message code and the message. Older and custom formats parse as
far as they match; a line that does not match at all is kept as a plain
message, timed when it was read.

:class:`ErrorLogBook` keeps the recent entries; ``evidence`` picks those an
alert should show: in the alert's time range, from the error log the alert's
vhost writes to, errors before notices, causes httpd is known to log for a
failure (HTTPD-RULES.md) before the rest, one line per distinct message.
"""
from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from typing import Any
from dataclasses import dataclass
from datetime import datetime

from vhostguard.config import server_root_relative
from vhostguard.speed import memo
from vhostguard.model import ServerModel

DEFAULT_ERROR_LOG = "logs/error_log"  # httpd's compiled-in DEFAULT_ERRORLOG, relative to ServerRoot

_LINE = re.compile(
    r"\[(?P<time>[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]?[0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)? -?[0-9]+)\]"
    r" \[(?:(?P<module>[^\]: ]+):)?(?P<level>[a-z]+[0-9]?)\]"
    r"(?: \[pid (?P<pid>[0-9]+)(?::tid (?P<tid>[0-9]+))?\])?"
    r"(?: [^ \[]+\([0-9]+\):)?"                                   # %F: source file(line), at debug level
    r"(?: (?P<status>\(-?[0-9]+\)[^:\[]*):)?"                      # %E: APR status, "(111)Connection refused"
    r"(?: \[(?:client|remote) (?P<client>[^\]]+)\])?"
    r" ?(?:(?P<code>AH[0-9]{5}): )?(?P<message>.*)\Z",
    re.ASCII | re.DOTALL)
_REFERER = ", referer: "
_DIGITS = re.compile(r"[0-9]+").sub
_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
# syslog-style severities: lower is worse
LEVELS = {"emerg": 0, "alert": 1, "crit": 2, "error": 3, "warn": 4, "notice": 5, "info": 6, "debug": 7}

# Message codes httpd logs for a failure, most telling first (HTTPD-RULES.md "Failures and their signatures").
SERVER_ERROR_CAUSES = (
    "AH01114",  # proxy_http: failed to make connection to backend
    "AH01102",  # proxy_http: error reading status line from remote server (timeout)
    "AH00898",  # proxy: DNS lookup failure / error reading from remote server
    "AH00957",  # proxy: attempt to connect to host:port failed ((111)Connection refused)
    "AH01079",  # proxy_fcgi: failed to make connection to backend
    "AH01071",  # proxy_fcgi: got error from the FastCGI application
    "AH00124",  # core: request exceeded the limit of internal redirects (rewrite loop)
    "AH00940",  # proxy: backend disabled after an error (retry not yet due)
    "AH00959",  # proxy: disabling worker
    "AH01084",  # proxy_http: pass request body failed
    "AH01097",  # proxy: pass request body failed
    "AH00052",  # mpm: child exited with a signal (crash)
)
NOT_FOUND_CAUSES = (
    "AH00128",  # core: File does not exist (logged at info)
    "AH01276",  # autoindex: cannot serve directory
    "AH01630",  # authz_core: client denied by server configuration
    "AH01264",  # cgi: script not found or unable to stat
)


@dataclass(frozen=True, slots=True)
class ErrorEntry:
    """One error-log line. ``time`` is epoch seconds (None: not in the line); ``source`` the file it came from."""

    time: float | None
    level: str | None
    module: str | None
    pid: int | None
    tid: str | None
    client: str | None
    code: str | None
    status: str | None
    message: str
    source: str
    raw: str

    @property
    def brief(self) -> str:
        """``AH01114 HTTP: failed to make connection to backend: 127.0.0.1`` (status folded in)."""
        text = self.message.split(_REFERER, 1)[0]
        if self.status:
            text = f"{self.status}: {text}"
        return f"{self.code} {text}" if self.code else text


def _epoch(text: str) -> float:
    # "Wed Oct 11 14:32:52.123456 2000", local time as httpd writes it.
    _, month, day, clock, year = text.split()
    hms, _, fraction = clock.partition(".")
    hour, minute, second = (int(part) for part in hms.split(":"))
    moment = datetime(int(year), _MONTHS[month], int(day), hour, minute, second)
    return moment.timestamp() + (float("0." + fraction) if fraction else 0.0)


_epoch_cached = memo(_epoch, 4096)


def parse_error_line(line: str, source: str) -> ErrorEntry:
    """The entry for one line; never raises (an unknown shape is a bare message)."""
    m = _LINE.match(line)
    if m is None:
        return ErrorEntry(None, None, None, None, None, None, None, None, line, source, line)
    try:
        when: float | None = _epoch_cached(m.group("time"))
    except (ValueError, KeyError, OverflowError):
        when = None
    pid = m.group("pid")
    return ErrorEntry(when, m.group("level"), m.group("module"), int(pid) if pid else None, m.group("tid"),
                      m.group("client"), m.group("code"), m.group("status"), m.group("message"), source, line)


@dataclass(frozen=True, slots=True)
class ErrorLogTarget:
    """An error log and the server names of the vhosts that write to it (empty: the main server's log)."""

    path: str
    vhosts: tuple[str, ...] = ()


def find_error_logs(model: ServerModel) -> tuple[tuple[ErrorLogTarget, ...], tuple[str, ...]]:
    """The error logs a config writes, and notes about those that cannot be followed (syslog, pipes).

    A vhost without ErrorLog of its own writes to the main server's log.
    """
    root = model.tree.server_root
    notes: list[str] = []
    main_path = _error_log(model.main.directives, root, notes) or server_root_relative(root, DEFAULT_ERROR_LOG)
    own: dict[str, list[str]] = {}
    for vhost in model.vhosts:
        path = _error_log(vhost.directives, root, notes)
        if path is not None and path != main_path:
            own.setdefault(path, []).append(vhost.server_name)
    targets = [ErrorLogTarget(main_path)] + [ErrorLogTarget(path, tuple(names)) for path, names in own.items()]
    return tuple(targets), tuple(notes)


def _error_log(directives: Iterable[Any], root: str, notes: list[str]) -> str | None:
    found = None
    for node in directives:
        if node.key == "errorlog" and node.args:
            found = node
    if found is None:
        return None
    target = found.args[0]
    if target.startswith("|") or target.lower().startswith("syslog"):
        notes.append(f"{found.source}: ErrorLog {target} cannot be followed; its errors are not joined to alerts")
        return None
    return server_root_relative(root, target)


class ErrorLogBook:
    """The recent error-log entries (at most ``max_entries``, none older than ``max_age`` seconds).

    ``targets`` tell which vhosts write to which file; entries of a file
    that names no vhost (the main server's log) are evidence for any vhost
    without a log of its own.
    """

    def __init__(self, targets: Iterable[ErrorLogTarget] = (), max_entries: int = 5000, max_age: float = 900.0) -> None:
        self.entries: deque[tuple[float, ErrorEntry]] = deque(maxlen=max_entries)
        self.max_age = max_age
        self._own = {name: target.path for target in targets for name in target.vhosts}

    def add(self, entries: Iterable[ErrorEntry], now: float) -> None:
        """Keep ``entries``; an entry without time is timed ``now`` (the log clock when it was read)."""
        for entry in entries:
            self.entries.append((entry.time if entry.time is not None else now, entry))
        while self.entries and self.entries[0][0] < now - self.max_age:
            self.entries.popleft()

    def evidence(self, since: float, until: float, vhost: str | None, causes: tuple[str, ...],
                 limit: int) -> list[ErrorEntry]:
        """The entries to show for an alert on ``vhost`` over [since, until], best first, one per message.

        The known ``causes`` qualify, and for 5xx any request's error (level
        error or worse, with a client); they rank by how often their kind
        occurred, then by cause (in ``causes`` order), level and recency.
        """
        own = self._own.get(vhost or "")
        latest: dict[tuple[str | None, str], ErrorEntry] = {}
        seen: dict[tuple[str | None, str], int] = {}
        for when, entry in reversed(self.entries):
            if when < since:
                break
            if when > until + 1.0 or not self._relevant(entry, own, causes):
                continue
            key = (entry.code, _DIGITS("#", entry.brief))  # "returned by /v1/users/139" and ".../140" are one kind
            seen[key] = seen.get(key, 0) + 1
            latest.setdefault(key, entry)  # newest first: the first seen of a kind is its latest line
        # What happens most is what is happening (one request cut off while a backend goes down
        # must not hide the refusals that follow), then the most telling cause, the worst level.
        ranked = sorted(latest, key=lambda k: (-seen[k], *_rank(latest[k], causes)))
        return [latest[key] for key in ranked[:limit]]

    def _relevant(self, entry: ErrorEntry, own: str | None, causes: tuple[str, ...]) -> bool:
        if own is not None and entry.source != own:
            return False
        if own is None and entry.source in self._own.values():
            return False  # another vhost's own log
        if entry.code in causes:
            return True
        # Other errors count when a request logged them (a [client ...] part): server-wide
        # noise such as a child's start-up warnings is not evidence about one endpoint.
        return (causes is SERVER_ERROR_CAUSES and entry.client is not None and entry.level is not None
                and LEVELS.get(entry.level, 9) <= LEVELS["error"])


def _rank(entry: ErrorEntry, causes: tuple[str, ...]) -> tuple[int, int, float]:
    cause = causes.index(entry.code) if entry.code in causes else len(causes)
    return cause, LEVELS.get(entry.level or "", 9), -(entry.time or 0.0)


def entries_from_lines(lines: Iterable[str], source: str) -> list[ErrorEntry]:
    """Parsed entries of ``lines`` (blank lines skipped)."""
    return [parse_error_line(line, source) for line in lines if line.strip()]

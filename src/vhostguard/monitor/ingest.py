"""Access-log lines to counts: the per-line hot path of ``watch``.

``LineFeeder.feed`` turns a chunk of lines into rows at once
(``logs.rows.request_rows``: the compiled LogFormat's split path, no dict
per line) and adds each request to a :class:`Batch` keyed by (labels,
status, second); the watch loop folds the batch into the windows and the
metrics once per evaluation tick, so the per-line work is a few dict
lookups and one list append. Labels are bounded (STYLE.md): vhost and
endpoint go through the endpoint templater and its caps, methods outside the
standard set become ``{other}`` (as in ``report``); raw URLs and client
addresses never leave this module.
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from vhostguard.logs import NONE, OTHER, EndpointTemplater, SegmentTemplates
from vhostguard.logs import SAMPLES, Malformed, Parser
from vhostguard.logs import request_rows
from vhostguard.analytics import METHODS  # the same method labels as `report`
from vhostguard.monitor.hosts import HostExamples, HostNames, host_header_name
from vhostguard.monitor.latency import LatencyCounts
from vhostguard.monitor.parser_process import RowsSpec, row_parser
from vhostguard.monitor.windows import ALL, Key, Windows

STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
OTHER_STATUS = "other"
ROW_EXTRA = ("status", "time", "duration_us")  # the row columns after (vhost, method, path)
HOST = 3 + len(ROW_EXTRA)  # the row column of the requested Host, when host-moved counts it
_CACHE = 1 << 16  # entries of each per-line memo; cleared when full (logs/memo.py explains why)
LABEL_CACHE = _CACHE
TEMPLATED_CACHE = 1 << 14  # the memos' entries when rows carry templates (their hot keys are endpoints)

Labels = tuple[str, str, str]  # (vhost, method, endpoint)
BatchKey = tuple[Labels, int | None, int]  # (labels, status, second)


def status_class(status: int | None) -> str:
    return STATUS_CLASSES.get(status // 100, OTHER_STATUS) if status is not None else OTHER_STATUS


@dataclass
class Labeler:
    """Raw (vhost, method, path) -> bounded labels, memoised."""

    templater: EndpointTemplater
    auto: SegmentTemplates = field(default_factory=SegmentTemplates)
    limit: int = _CACHE  # entries of the memo (``watch --jobs 2``: fewer, see TEMPLATED_CACHE)

    def __post_init__(self) -> None:
        self.cache: dict[tuple[str | None, str | None, str | None], Labels] = {}
        # vhost label -> template -> endpoint label, for templates the cap kept (a template once
        # kept stays kept).
        self._capped: dict[str, dict[str, str]] = {}
        self._vhosts: dict[str | None, str] = {}

    def label(self, raw: tuple[str | None, str | None, str | None]) -> Labels:
        vhost, method, path = raw
        key = self._vhosts.get(vhost) or self._vhost(vhost)
        if self.templater.patterns:  # user patterns must see the raw path
            endpoint = self.templater.template(path, key)
        else:
            # Without user patterns the templater's own rules are idempotent on our output,
            # so it only applies its cap.
            auto = self.auto(path)
            capped = self._capped.get(key)
            endpoint = (capped.get(auto) if capped is not None else None) or self._cap(key, auto)
        # Methods outside the IANA registry are {other}, as in `report`: a client cannot grow the labels.
        labels = (key, method if method in METHODS else OTHER if method else NONE, endpoint)
        if len(self.cache) >= self.limit:
            self.cache.clear()
        self.cache[raw] = labels
        return labels

    def _vhost(self, vhost: str | None) -> str:
        key = self.templater.vhost_key(vhost or NONE)
        # Vhosts beyond the cap (any Host header a client makes up) are not remembered.
        if key != OTHER and len(self._vhosts) < _CACHE:
            self._vhosts[vhost] = key
        return key

    def _cap(self, key: str, auto: str) -> str:
        endpoint = self.templater.template(auto, key)
        if endpoint != OTHER:  # kept endpoints only: they are bounded by the cap, folded paths are not
            self._capped.setdefault(key, {})[auto] = endpoint
        return endpoint

    def seed(self, keys: Iterable[Key]) -> None:
        """Register endpoints reported before a restart, so the cap keeps their names."""
        declared = {p.name for p in self.templater.patterns}
        for vhost, _, endpoint in keys:
            if endpoint not in declared and endpoint != OTHER:
                self.templater.template(endpoint, vhost)


class Times:
    """``time`` values (ISO 8601 text) -> epoch seconds, memoised; a missing time is ``now``."""

    def __init__(self) -> None:
        self.cache: dict[str, int] = {}
        self.now = 0

    def convert(self, text: str | None) -> int:
        if text is None:
            return self.now
        # A time logged without zone (%{%F %T}t) is local time, as httpd wrote it.
        sec = int(datetime.fromisoformat(text).timestamp())
        if len(self.cache) >= 8192:
            self.cache.clear()
        self.cache[text] = sec
        return sec


@dataclass
class _ParsedChunk:
    """A chunk's rows, and which lines they come from (``bad``: the lines that do not parse, in order)."""

    lines: list[str]
    rows: list[tuple[Any, ...]]
    bad: list[int]

    def row_at(self, line: int) -> int:
        """The first row from line ``line`` or later."""
        return line - bisect_left(self.bad, line)

    def line_of(self, row: int) -> int:
        """The line row ``row`` comes from (``len(lines)`` past the last row)."""
        if row >= len(self.rows):
            return len(self.lines)
        line = row
        for index in self.bad:  # few: malformed lines are rare
            if index > line:
                break
            line += 1
        return line

    def bad_between(self, start: int, end: int) -> list[int]:
        return self.bad[bisect_left(self.bad, start):bisect_left(self.bad, end)]


@dataclass
class InputStats:
    """Per-log counters (mutable: a log is a stream)."""

    lines: int = 0
    malformed: int = 0
    samples: list[Malformed] = field(default_factory=list)
    newest: int = 0  # newest log second seen
    malformed_run: int = 0  # malformed lines at the end of what was read, in a row (a format that changed)


class Batch:
    """Requests counted since the last fold: (labels, status, second) -> durations (None when not logged)."""

    def __init__(self) -> None:
        self.counts: dict[BatchKey, list[int | None]] = {}
        self.hosts: dict[tuple[str, str, int], int] = {}  # (Host, vhost, second) -> requests (host-moved)

    def __bool__(self) -> bool:
        return bool(self.counts) or bool(self.hosts)

    def fold(self, windows: Windows, add_series: Callable[[tuple[str, str, str, str], list[int | None]], None],
             clock_sec: int, hosts: Windows | None = None,
             host_totals: dict[tuple[str, str], int] | None = None, latency: LatencyCounts | None = None) -> None:
        """Add everything to the windows (seconds after ``clock_sec`` count at ``clock_sec``) and to the
        metrics through ``add_series``; the per-Host counts to ``hosts`` and ``host_totals`` (the
        metric's running totals per (Host, vhost)); durations to ``latency``; empties the batch."""
        for (host, vhost, sec), n in self.hosts.items():
            if hosts is not None:
                hosts.add((host, vhost, ""), min(sec, clock_sec), n, 0, 0)
            if host_totals is not None:
                host_totals[(host, vhost)] = host_totals.get((host, vhost), 0) + n
        self.hosts = {}
        per_key: dict[tuple[Key, int], list[int]] = {}
        per_site: dict[tuple[str, int], list[int]] = {}
        for (labels, status, sec), durations in self.counts.items():
            n = len(durations)
            add_series((*labels, status_class(status)), durations)
            if sec > clock_sec:
                sec = clock_sec  # a line stamped ahead of the clock (skew): it is news now
            if latency is not None:
                latency.add(labels, min(sec, clock_sec), durations)
            errors = n if status is not None and 500 <= status <= 599 else 0
            not_found = n if status == 404 else 0
            cells: tuple[tuple[dict[Any, list[int]], Any], ...] = (
                (per_key, (labels, sec)), (per_site, (labels[0], sec)), (per_site, (ALL, sec)))
            for table, cell in cells:
                counts = table.get(cell)
                if counts is None:
                    table[cell] = [n, errors, not_found]
                else:
                    counts[0] += n
                    counts[1] += errors
                    counts[2] += not_found
        for (key, sec), (n, errors, not_found) in per_key.items():
            windows.add(key, sec, n, errors, not_found)
        for (site, sec), (n, errors, not_found) in per_site.items():
            windows.add_site(site, sec, n, errors, not_found)
        self.counts = {}


class LineFeeder:
    """Parses one log's lines into a Batch. ``name`` is the log's path (for malformed-line reports)."""

    def __init__(self, name: str, parser: Parser, labeler: Labeler, times: Times, default_vhost: str | None = None,
                 templates: bool = False, host_column: str | None = None, hosts: HostNames | None = None,
                 examples: HostExamples | None = None) -> None:
        """``host_column`` (with ``hosts``): the record key of the requested Host; each request is then
        also counted per (Host, vhost) for host-moved, with a few example lines in ``examples``."""
        self.name = name
        self.hosts = hosts if host_column is not None else None
        self._host_header = host_header_name(parser)
        self.examples = examples
        extra = ROW_EXTRA + ((host_column,) if self.hosts is not None and host_column is not None else ())
        # ``templates`` (no user patterns; a parser process, which does the templating): the rows
        # carry templates, not paths, also those parsed here, so the label memo holds endpoints,
        # not every path met. One process alone parses paths: that costs it 9% fewer instructions.
        self.spec = RowsSpec(parser, extra, default_vhost, templates and not labeler.templater.patterns)
        self.rows = request_rows(parser, extra, default_vhost)
        self._parse_rows = row_parser(self.spec)
        self.labeler = labeler
        self.times = times
        self.stats = InputStats()
        self._parsed: _ParsedChunk | None = None

    def feed(self, lines: list[str], start: int, first_line: int, stop_sec: int, batch: Batch) -> tuple[int, bool]:
        """Count ``lines[start:]`` until the first line of a second at or after ``stop_sec`` (log time),
        which is left for the next call.

        Returns (index of the next line to count, whether it stopped at ``stop_sec``).
        ``first_line`` is the file line number of ``lines[0]``. The same ``lines`` (a chunk) come
        back with a later ``start`` until they are all counted: they are parsed once, on the first call.
        """
        parsed = self._parse(lines)
        rows = parsed.rows
        counts = batch.counts
        times = self.times.cache
        to_sec = self.times.convert
        labels = self.labeler.cache
        label = self.labeler.label
        newest = self.stats.newest
        first = parsed.row_at(start)
        stopped = False
        last_time: object = self  # no row's time: the first row converts its time
        sec = self.times.now
        position = first
        for position in range(first, len(rows)):
            row = rows[position]
            t = row[4]
            if t is not last_time:  # the parser hands out one string per distinct time: most rows skip this
                last_time = t
                known = times.get(t)
                sec = to_sec(t) if known is None else known
                if sec > newest:
                    newest = sec
                    if sec >= stop_sec:
                        # Evaluation time: the rules see every line before this second; this row
                        # is counted on the next call.
                        stopped = True
                        break
            raw = row[:3]
            lab = labels.get(raw)
            if lab is None:
                lab = label(raw)
            key = (lab, row[3], sec)
            durations = counts.get(key)
            if durations is None:
                counts[key] = [row[5]]
            else:
                durations.append(row[5])
        else:
            position = len(rows)  # every row counted
        if self.hosts is not None and position > first:
            self._count_hosts(parsed, first, position, first_line, batch)
        done = parsed.line_of(position) if stopped else len(lines)
        bad = parsed.bad_between(start, done)
        for index in bad:
            self._malformed(first_line + index, self.rows.why(lines[index]))
        if len(bad) == done - start:
            self.stats.malformed_run += len(bad)
        else:
            trailing = 0
            while trailing < len(bad) and bad[-1 - trailing] == done - 1 - trailing:
                trailing += 1
            self.stats.malformed_run = trailing
        self.stats.lines += done - start
        self.stats.newest = newest
        return done, stopped

    def _count_hosts(self, parsed: _ParsedChunk, first: int, end: int, first_line: int, batch: Batch) -> None:
        """Count rows ``first..end`` per (Host, vhost, second); keep the last line of each pair as an example."""
        names = self.hosts
        assert names is not None
        memo = names.memo
        counts = batch.hosts
        times = self.times.cache
        to_sec = self.times.convert
        rows = parsed.rows
        last: dict[tuple[str, str], int] = {}
        last_time: object = self
        sec = self.times.now
        for position in range(first, end):
            row = rows[position]
            raw = row[HOST]
            if raw.__class__ is dict:  # %{Host}i: the record's headers_in, under the name the format gives
                raw = raw.get(self._host_header)
            found = memo.get(raw, names) if raw.__class__ is str else None
            host = names(raw) if found is names else cast("str | None", found)
            vhost = row[0]
            if host is None or vhost is None:
                continue  # no Host (HTTP/1.0), one httpd rejects, or beyond the cap
            t = row[4]
            if t is not last_time:
                last_time = t
                known = times.get(t) if t is not None else None
                sec = to_sec(t) if known is None else known
            key = (host, vhost, sec)
            counts[key] = counts.get(key, 0) + 1
            last[(host, vhost)] = position
        if self.examples is not None:
            for (host, vhost), position in last.items():
                self.examples.add(host, vhost, f"{self.name}:{first_line + parsed.line_of(position)}")

    def prime(self, lines: list[str], rows: list[tuple[Any, ...]], bad: list[int]) -> None:
        """The rows of ``lines``, parsed elsewhere (``row_parser`` of ``spec``): ``feed`` uses them."""
        self._parsed = _ParsedChunk(lines, rows, bad)

    def _parse(self, lines: list[str]) -> _ParsedChunk:
        parsed = self._parsed
        if parsed is None or parsed.lines is not lines:
            rows, bad = self._parse_rows(lines)
            parsed = self._parsed = _ParsedChunk(lines, rows, bad)
        return parsed

    def count_dropped(self, count: int, first_line: int) -> None:
        """Lines the reader dropped as too long: malformed."""
        self.stats.lines += count
        self.stats.malformed_run += count
        for offset in range(count):
            self._malformed(first_line + offset, "line longer than 1 MiB")

    def _malformed(self, number: int, error: str) -> None:
        self.stats.malformed += 1
        if len(self.stats.samples) < SAMPLES:
            self.stats.samples.append(Malformed(self.name, number, error))

"""Per-endpoint analytics of access logs: exact counts from mergeable partial results.

``analyse(sources, options)`` reads access logs (plain or compressed) with
their LogFormats and returns an :class:`Analysis`: per vhost × method ×
endpoint the requests, share, status classes, 5xx ratio, latency p50/p95/p99
(a :class:`QuantileSketch`), bytes and first/last time seen; a per-minute
timeline per vhost (UTC); per-endpoint time series; error bursts.

How it stays fast and exact:

* lines become rows ``(vhost, method, path, status, time, bytes, duration)``
  a block at a time (``logs.rows.request_rows``: the LogFormat compiler's
  split path in one loop, no dict per line); each row goes to its
  endpoint's pending list through a bounded cache keyed by the raw
  (vhost, method, path); the per-row arithmetic then runs per endpoint in
  batches, as C-level ``map``/``sum``/``Counter`` passes, not as Python
  statements per line;
* a big plain file is cut into byte ranges at line boundaries and the ranges
  are read by forked workers (the parent is one of them); each worker keeps
  one :class:`Aggregate` and the parent merges them. Every counter is a sum,
  a min or a max and the sketch merges exactly, so the merged result is the
  one a single pass gives;
* with the compiled scanner (logs.Tally), a file is cut into 8 MiB ranges read by
  threads (the scanner runs without the GIL), each adding to its own tally held
  in C across ranges; the lines the scanner leaves to Python are read here, in
  job order; the tallies are merged in C and become Python objects once, at
  the end. The first range is read alone: its cells tell the series' step
  for the whole input. Tallies keep TALLY_CAP_FACTOR times the caps and know
  where each endpoint was first seen (job, line), so the exact caps below give
  what a sequential reader gives;
* caps (vhosts, endpoints per vhost) are first come, first kept, as in
  ``EndpointTemplater``. Readers use four times the caps and remember where
  each endpoint was first seen (job, order); the exact caps are applied on
  the merged result in file order. Only when a reader itself hit its larger
  cap can the choice of which rare endpoints fold into ``{other}`` differ
  from a sequential read (``Analysis.caps_exact`` is False); every total
  stays exact either way.

Nothing here prints; progress goes through a callback.
"""
from __future__ import annotations

import functools
import math
import os
import stat
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from queue import Queue
from dataclasses import dataclass, field
from datetime import datetime, UTC
from itertools import compress, repeat
from operator import add, attrgetter, floordiv, itemgetter, methodcaller, mod, mul, sub
from typing import Any, cast

from vhostguard.logs import NONE, OTHER, EndpointPattern, EndpointTemplater
from vhostguard.logs import parser_of
from vhostguard.logs import MAX_LINE, TOO_LONG, Malformed, ReadStats, iter_lines
from vhostguard.logs import fold_jobs, is_compressed, spans, usable_cpus
from vhostguard.logs import BYTES_SENT, RequestRows, request_rows
from vhostguard.logs import OTHER_HOST, GroupSums, ScanSpec, Tallied, Tally, TallyCaps, scan_engine, scan_spec
from vhostguard.analytics.hosts import HOST_HEADER, HostView, host_column_or_reason, host_header_name, host_name
from vhostguard.analytics.hosts import MIN_REQUESTS, NOT_COMPUTED, host_view, unavailable
from vhostguard.analytics.sketch import DEFAULT_ACCURACY, QuantileSketch, add_counts
from vhostguard.speed import BoundedCache, gc_paused

MINUTE = 60
# Latency over time (the report's p50/p95 charts): per series bucket a histogram of the durations in
# bins of ratio √2, i.e. a percentile read from it is within (√2-1)/(√2+1) ≈ 17% of the exact one,
# plenty for a line on a chart (the table's percentiles come from the 1% sketch). Key of a cell:
# bucket start * LATENCY_BINS + bin; bin 0 holds durations <= 1 µs.
LATENCY_BINS = 128  # bins per bucket: √2**127 µs is beyond any duration httpd logs
LATENCY_RATIO = math.sqrt(2.0)
_LATENCY_SCALE = 1.0 / math.log(LATENCY_RATIO)
SAMPLES = 10  # malformed lines kept (per job while reading; the first ones overall in the result)
FLUSH_RECORDS = 32768  # records held before the per-endpoint batch arithmetic runs
ROUTE_CACHE = 65536  # raw (vhost, method, path) keys remembered; cleared when full
HOST_PAIRS_PER_NAME = 4  # a tally keeps (vhost, Host as logged) pairs: several per normalised name
TIME_CACHE = 1 << 17  # distinct time strings remembered; cleared when full
READER_CAP_FACTOR = 4  # readers keep this many times the caps (see the module notes)
TALLY_CAP_FACTOR = 4 * READER_CAP_FACTOR  # the compiled scanner's tallies keep more (Aggregate._a_reader_would_fold)
TALLY_MIN_CAP = 1024  # and at least this many vhosts and templates per vhost (tight caps stay exact)

# The IANA HTTP method registry, plus PURGE (caches): a method outside it is
# reported as {other}, so garbage request lines cannot grow the table.
METHODS = frozenset((
    "ACL", "BASELINE-CONTROL", "BIND", "CHECKIN", "CHECKOUT", "CONNECT", "COPY", "DELETE", "GET", "HEAD",
    "LABEL", "LINK", "LOCK", "MERGE", "MKACTIVITY", "MKCALENDAR", "MKCOL", "MKREDIRECTREF", "MKWORKSPACE",
    "MOVE", "OPTIONS", "ORDERPATCH", "PATCH", "POST", "PRI", "PROPFIND", "PROPPATCH", "PURGE", "PUT", "QUERY",
    "REBIND", "REPORT", "SEARCH", "TRACE", "UNBIND", "UNCHECKOUT", "UNLINK", "UNLOCK", "UPDATE",
    "UPDATEREDIRECTREF", "VERSION-CONTROL",
))
_CLASS: dict[Any, int] = {status: status // 100 for status in range(100, 600)}  # status -> 1..5; others count in no class
_SERVER_ERROR = frozenset(range(500, 600))


class ReportError(RuntimeError):
    """The lines of a block do not add up (lines = valid + malformed): a bug, never a bad line."""


@dataclass(frozen=True)
class LogSource:
    """One log file and the LogFormat string(s) it is written in (nicknames resolved).

    ``span`` (start, end): only those bytes of a plain file, cut at line starts
    (doctor's time window); malformed lines are then numbered from ``start``.
    """

    path: str
    formats: tuple[str, ...]
    span: tuple[int, int] | None = None


@dataclass(frozen=True)
class BurstRule:
    """When 5xx responses on one endpoint make an error burst.

    A series bucket (one minute unless the series were coarsened) is
    *failing* when at least ``min_ratio`` of its requests were 5xx; a burst
    is a run of failing buckets with at most ``gap`` quiet buckets between
    two of them, holding at least ``min_errors`` 5xx. A steady low error
    rate is not a burst; an endpoint whose backend is down is one, however
    little traffic it gets.
    """

    min_ratio: float = 0.25
    min_errors: int = 5
    gap: int = 1


@dataclass(frozen=True)
class AggregateOptions:
    """What to aggregate and how: patterns and caps (see ``EndpointTemplater``), bursts, resources."""

    patterns: tuple[EndpointPattern, ...] = ()
    max_per_vhost: int = 1000
    max_vhosts: int = 1000
    bursts: BurstRule = BurstRule()
    accuracy: float = DEFAULT_ACCURACY
    workers: int | None = None  # None: the CPUs this process may run on
    chunk_bytes: int = 8 << 20  # byte range per job of a split file
    split_min_bytes: int = 16 << 20  # smaller plain files are one job
    series_cells: int = 400_000  # per-endpoint series cells before they are coarsened (bounded memory)
    scan_chunk_bytes: int = 8 << 20  # byte range per job of the compiled scanner (read into memory at once)
    max_hosts: int = 1000  # Hosts in the host-moved view (client input: the busiest kept, others {other})
    moved_min_requests: int = MIN_REQUESTS  # a minute with fewer requests of a Host is ignored (analytics.hosts)
    series: bool = True  # EndpointSummary.series in the result (the charts); off: empty, for output without charts


@dataclass(frozen=True)
class Job:
    """A unit of reading: a whole file, or a byte range [start, end) of a plain one."""

    index: int
    source: LogSource
    start: int = 0
    end: int | None = None  # None: the whole file, decompressed when compressed
    size: int = 0  # bytes on disk, for progress


# --- running state -----------------------------------------------------------------

@dataclass
class EndpointStats:
    """Running counters of one vhost × method × endpoint; ``merge`` adds another's."""

    order: tuple[int, int]  # (job, creation order in the reader): where it was first seen
    requests: int = 0
    status: list[int] = field(default_factory=lambda: [0] * 6)  # index 1..5: 1xx..5xx; 0: other or none
    bytes: int = 0
    duration_sum: int = 0
    sketch: QuantileSketch | None = None  # None until a record logs a duration
    first: float = math.inf
    last: float = -math.inf
    series: Counter[int] = field(default_factory=Counter)  # bucket start (epoch s) -> requests
    errors: dict[int, list[float]] = field(default_factory=dict)  # bucket start -> [5xx, first, last]
    latency: Counter[int] = field(default_factory=Counter)  # bucket start * LATENCY_BINS + bin -> requests
    pending: list[tuple[Any, ...]] = field(default_factory=list, repr=False)  # rows not yet added

    def merge(self, other: EndpointStats) -> None:
        self.order = min(self.order, other.order)
        self.requests += other.requests
        self.status = [a + b for a, b in zip(self.status, other.status)]
        self.bytes += other.bytes
        self.duration_sum += other.duration_sum
        if other.sketch is not None:
            if self.sketch is None:
                self.sketch = other.sketch
            else:
                self.sketch.merge(other.sketch)
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)
        add_counts(self.series, other.series)
        _merge_errors(self.errors, other.errors)
        add_counts(self.latency, other.latency)

    def coarsen(self, step: int) -> None:
        self.series = _rebucket(self.series, step)
        # key = start * LATENCY_BINS + bin -> (start - start % step) * LATENCY_BINS + bin, in C-level maps
        keys = list(self.latency)
        offsets = map(mul, map(mod, map(floordiv, keys, repeat(LATENCY_BINS)), repeat(step)), repeat(LATENCY_BINS))
        cells: Counter[int] = Counter()
        for key, count in zip(map(sub, keys, offsets), self.latency.values()):
            cells[key] += count
        self.latency = cells
        merged: dict[int, list[float]] = {}
        for start, cell in self.errors.items():
            _merge_errors(merged, {start - start % step: list(cell)})
        self.errors = merged


def _merge_errors(into: dict[int, list[float]], other: dict[int, list[float]]) -> None:
    for start, (count, first, last) in other.items():
        cell = into.get(start)
        if cell is None:
            into[start] = [count, first, last]
        else:
            cell[0] += count
            cell[1] = min(cell[1], first)
            cell[2] = max(cell[2], last)


def _rebucket(series: Counter[int], step: int) -> Counter[int]:
    out: Counter[int] = Counter()
    for start, count in series.items():
        out[start - start % step] += count
    return out


@dataclass
class VhostMinutes:
    """The per-minute timeline of one vhost: requests and 5xx per minute (UTC epoch seconds)."""

    order: tuple[int, int]
    requests: Counter[int] = field(default_factory=Counter)
    errors: Counter[int] = field(default_factory=Counter)
    # the host-moved view: (normalised Host or None, minute or None) -> requests this vhost served
    hosts: Counter[tuple[str | None, int | None]] = field(default_factory=Counter)

    def merge(self, other: VhostMinutes) -> None:
        self.order = min(self.order, other.order)
        add_counts(self.requests, other.requests)
        add_counts(self.errors, other.errors)
        self.hosts.update(other.hosts)


# A row of ``_projection``'s rows (logs.rows.request_rows): positions in it.
ROW_VHOST, ROW_METHOD, ROW_PATH, ROW_STATUS, ROW_TIME, ROW_BYTES, ROW_DURATION, ROW_HOST = range(8)
_KEY = itemgetter(ROW_VHOST, ROW_METHOD, ROW_PATH)
_TIME = itemgetter(ROW_TIME)
_FIRST = itemgetter(0)
_SECOND = itemgetter(1)


@dataclass
class Aggregate:
    """A partial result: what some jobs' lines add up to. Mergeable, picklable, bounded.

    Build one with ``Aggregate.empty(options)``, feed it with ``read_job``,
    combine with ``merge``, and turn it into an :class:`Analysis` with
    ``finish``.
    """

    options: AggregateOptions
    lines: int = 0
    malformed: int = 0
    samples: list[tuple[int, int, str]] = field(default_factory=list)  # (job, line in job, error)
    problems: list[str] = field(default_factory=list)
    job_lines: dict[int, int] = field(default_factory=dict)
    endpoints: dict[tuple[str, str, str], EndpointStats] = field(default_factory=dict)
    vhosts: dict[str, VhostMinutes] = field(default_factory=dict)
    step: int = MINUTE  # seconds per bucket of the per-endpoint series
    reader_folded: int = 0  # requests a reader's own (larger) cap folded
    created: int = 0
    tallied_lines: int = 0  # lines of the scanned jobs the scanner itself read (read_deferred)
    tallied_folded: int = 0  # lines a tally's caps folded into {other}
    sequential_folds: bool = False  # a sequential reader would have folded (the scanner's path: add_tally)
    templater: EndpointTemplater | None = field(default=None, repr=False)
    _route: BoundedCache[tuple[Any, Any, Any], list[tuple[Any, ...]]] = field(
        default_factory=lambda: BoundedCache(ROUTE_CACHE), repr=False)
    _epoch: dict[Any, float | None] = field(default_factory=dict, repr=False)
    _minute: dict[Any, int] = field(default_factory=dict, repr=False)
    _bucket: dict[Any, int] = field(default_factory=dict, repr=False)  # time text -> series bucket at ``step``
    _host: dict[Any, str | None] = field(default_factory=dict, repr=False)  # logged Host -> its name (bounded)
    _host_header: str | None = field(default=None, repr=False)  # %{NAME}i of the job read: the Host column's key
    hosts_seen: set[str] = field(default_factory=set, repr=False)  # names admitted (READER_CAP_FACTOR * max_hosts)

    @classmethod
    def empty(cls, options: AggregateOptions, cap_factor: int = READER_CAP_FACTOR, min_cap: int = 0) -> Aggregate:
        """An empty aggregate whose reader keeps ``cap_factor`` times the caps (at least ``min_cap``)."""
        templater = EndpointTemplater(options.patterns, max(options.max_per_vhost * cap_factor, min_cap),
                                      max(options.max_vhosts * cap_factor, min_cap))
        return cls(options, templater=templater)

    def __getstate__(self) -> dict[str, Any]:
        # What crosses the pipe from a reader: the results, not the caches.
        state = dict(self.__dict__)
        state.update(templater=None, _route=BoundedCache(ROUTE_CACHE), _epoch={}, _minute={}, _bucket={}, _host={},
                     hosts_seen=set())
        return state

    # reading

    def read_job(self, job: Job) -> None:
        """Add every line of ``job``; malformed lines are counted and sampled, never raised."""
        projection = _projection(job.source)
        self._host_header = _host_key(job.source)[1]
        stats = ReadStats()
        span = None if job.end is None else (job.start, job.end)
        blocks = iter_lines(job.source.path, stats, job.source.path, span)
        number = 0
        held = 0
        sampled = [0]
        for block in blocks:
            if block is TOO_LONG:
                number += 1
                self._bad(job.index, number, f"line longer than {MAX_LINE} characters", sampled)
                continue
            held += self._feed(block, projection, job, number, sampled)
            number += len(block)
            if held >= FLUSH_RECORDS:
                self._flush()
                held = 0
        self._flush()
        self.lines += number
        self.job_lines[job.index] = number
        self.problems.extend(stats.problems)
        self.reader_folded = sum(self.templater.folded.values()) if self.templater else self.reader_folded

    def _feed(self, lines: list[str], projection: RequestRows, job: Job, first: int, sampled: list[int]) -> int:
        """Parse ``lines`` and route each row to its endpoint's pending list; returns the rows kept."""
        rows, bad = projection.rows(lines)
        for index in bad:
            # Only a sampled line needs its reason (a diagnosis costs ~20 µs; a log can be all garbage).
            self._bad(job.index, first + index + 1, projection.why(lines[index]) if sampled[0] < SAMPLES else "", sampled)
        keys = list(map(_KEY, rows))
        route = self._route
        pendings: list[Any] = list(map(route.get, keys))  # None where the key is new
        if None in pendings:
            self._resolve_missing(keys, pendings, job.index)
        for pending, row in zip(pendings, rows):  # the one Python statement per line
            pending.append(row)
        return len(rows)

    def _resolve_missing(self, keys: list[tuple[Any, Any, Any]], pendings: list[Any], job: int) -> None:
        route = self._route
        index = -1
        try:
            while True:
                index = pendings.index(None, index + 1)
                key = keys[index]
                pending = route.get(key)
                pendings[index] = self._resolve(key, job) if pending is None else pending
        except ValueError:  # no None left
            pass

    def _bad(self, job: int, line: int, error: str, sampled: list[int]) -> None:
        self.malformed += 1
        if sampled[0] < SAMPLES:
            sampled[0] += 1
            self.samples.append((job, line, error))

    def _resolve(self, raw: tuple[Any, Any, Any], job: int, line: int | None = None) -> list[tuple[Any, ...]]:
        assert self.templater is not None
        vhost, method, path = raw
        name = vhost if vhost else NONE
        key = (self.templater.vhost_key(name), _method(method), self.templater.template(path, name))
        return self._route.put(raw, self._stats(key, job, line).pending)

    def _stats(self, key: tuple[str, str, str], job: int, line: int | None = None) -> EndpointStats:
        """The counters of ``key``, created where first seen: (job, ``line``), or (job, creation
        order) when lines are read in order (the Python reader)."""
        stats = self.endpoints.get(key)
        if stats is None:
            self.created += 1
            order = (job, self.created if line is None else line)
            stats = self.endpoints[key] = EndpointStats(order)
            timeline = self.vhosts.get(key[0])
            if timeline is None:
                self.vhosts[key[0]] = VhostMinutes(order)
            elif order < timeline.order:  # a tally's group, added after the lines read later
                timeline.order = order
        return stats

    # reading what the compiled scanner read

    def read_deferred(self, job: Job, lines: int, deferred: Sequence[tuple[int, bytes]]) -> None:
        """Add what the compiled scanner left of job ``job`` (``lines`` lines; the rest is in a tally,
        added by ``add_tally``): ``deferred``, ``(line number, raw bytes)``, read by the Python parser.
        Endpoints first seen here are ordered by their line, as the tally's groups are."""
        projection = _projection(job.source)
        self._host_header = _host_key(job.source)[1]
        texts: list[str] = []
        numbers: list[int] = []
        failures: list[tuple[int, str, str]] = []  # (line, message, or the line to ask the parser about)
        for number, raw in deferred:
            line = raw.decode("utf-8", "backslashreplace")
            line = line[:-1] if line.endswith("\r") else line  # as _decoded: the CR of a CRLF
            if len(line) > MAX_LINE:
                failures.append((number, f"line longer than {MAX_LINE} characters", ""))
            else:
                texts.append(line)
                numbers.append(number)
        rows, bad = projection.rows(texts)
        bad_set = set(bad)
        failures.extend((numbers[index], "", texts[index]) for index in bad)
        # Jobs come here in order: once SAMPLES lines are sampled, no later one is among the first
        # SAMPLES kept (_absolute_samples), so only those are diagnosed (~100 µs each).
        sampled = [len(self.samples)]
        for number, message, line in sorted(failures, key=itemgetter(0)):
            self._bad(job.index, number, message or (projection.why(line) if sampled[0] < SAMPLES else ""), sampled)
        kept = [number for index, number in enumerate(numbers) if index not in bad_set]
        for number, row in zip(kept, rows):
            raw_key = _KEY(row)
            pending = self._route.get(raw_key)
            (self._resolve(raw_key, job.index, number) if pending is None else pending).append(row)
        self._flush()
        self.lines += lines
        self.job_lines[job.index] = lines
        self.tallied_lines += lines - len(deferred)

    def add_tally(self, tallied: Tallied) -> None:
        """Add the merged tally of the scanned jobs (after their ``read_deferred``): its groups in the
        order they were first seen, the vhosts' timelines and the Host counts.

        Raises ReportError when the lines do not add up (lines = valid + malformed).
        """
        assert self.templater is not None
        if tallied.valid != self.tallied_lines:
            raise ReportError(f"the scanner read {tallied.valid} valid lines of the {self.tallied_lines} it took")
        if tallied.step > self.step:
            self._coarsen(tallied.step)
        for group in sorted(tallied.groups, key=attrgetter("first_seen")):
            self._add_group(group, tallied.step)
        for vhost, requests, errors in tallied.vhosts:
            timeline = self.vhosts[self.templater.vhost_key(vhost.decode("ascii") or NONE)]
            add_counts(timeline.requests, requests)
            add_counts(timeline.errors, errors)
        for vhost, host, minutes in tallied.hosts:
            cells = self.vhosts[self.templater.vhost_key(vhost.decode("ascii") or NONE)].hosts
            known = OTHER if host == OTHER_HOST else self._host_names([host.decode("ascii")])[0]
            for minute, count in minutes.items():
                cells[(known, minute)] += count
        self.tallied_folded += tallied.folded
        self.reader_folded = sum(self.templater.folded.values()) + self.tallied_folded
        self.sequential_folds = self._a_reader_would_fold()
        if self._series_cells() > self.options.series_cells:
            self._coarsen(self.step * 2)

    def _a_reader_would_fold(self) -> bool:
        """Whether a sequential reader (READER_CAP_FACTOR times the caps) would have folded endpoints.

        The scanner's path keeps more (TALLY_CAP_FACTOR) and knows where each endpoint was first
        seen, so the exact caps give what that reader gives (what it folds is never among the kept:
        it saw more first); it says "not exact" when that reader would, so both engines agree.
        """
        templates: dict[str, set[str]] = {}
        for vhost, _, endpoint in self.endpoints:
            templates.setdefault(vhost, set()).add(endpoint)
        options = self.options
        return len(templates) > options.max_vhosts * READER_CAP_FACTOR or any(
            len(names) > options.max_per_vhost * READER_CAP_FACTOR for names in templates.values())

    def _add_group(self, group: GroupSums, tallied_step: int) -> None:
        assert self.templater is not None
        name = group.vhost.decode("ascii") or NONE
        method = None if group.method is None else group.method.decode("ascii")
        template = group.template.decode("ascii")
        vhost = self.templater.vhost_key(name)
        key = (vhost, _method(method), template if template == OTHER else self.templater.admit(template, name))
        job, line = group.first_seen
        self._stats(key, job, line).merge(_group_stats(group, self.options.accuracy, tallied_step, self.step))

    def _host_names(self, values: Sequence[Any]) -> list[str | None]:
        """The Host names of logged values (memoised; a reader follows at most READER_CAP_FACTOR times
        ``max_hosts`` names, later ones are {other}: a Host header is client input)."""
        memo = self._host
        new = set(values).difference(memo)
        if new:
            if len(memo) + len(new) > TIME_CACHE:
                memo.clear()
            cap = self.options.max_hosts * READER_CAP_FACTOR
            for value in new:
                name = host_name(value)
                if name is not None and name not in self.hosts_seen:
                    if len(self.hosts_seen) >= cap:
                        name = OTHER
                    else:
                        self.hosts_seen.add(name)
                memo[value] = name
        return list(map(memo.__getitem__, values))

    def _learn_times(self, times: set[Any]) -> None:
        epoch = self._epoch
        new = times.difference(epoch)
        if not new:
            return
        for text in new:
            seconds = _epoch(text)
            epoch[text] = seconds
            if seconds is not None:
                minute = self._minute[text] = int(seconds // MINUTE) * MINUTE
                self._bucket[text] = minute - minute % self.step

    # the per-endpoint batch arithmetic

    def _flush(self) -> None:
        times: set[Any] = set()
        for stats in self.endpoints.values():
            if stats.pending:
                times.update(map(_TIME, stats.pending))
        self._learn_times(times)
        for key, stats in self.endpoints.items():
            if stats.pending:
                self._add_batch(key[0], stats, stats.pending)
                stats.pending.clear()
        if len(self._epoch) > TIME_CACHE:  # only here: pending rows rely on the cache
            self._epoch.clear()
            self._minute.clear()
            self._bucket.clear()
        if self._series_cells() > self.options.series_cells:
            self._coarsen(self.step * 2)

    def _series_cells(self) -> int:
        return sum(len(s.series) + len(s.latency) for s in self.endpoints.values())

    def _add_batch(self, vhost: str, stats: EndpointStats, rows: list[tuple[Any, ...]]) -> None:
        stats.requests += len(rows)
        columns = list(zip(*rows))  # one C-level pass gives every column
        statuses = columns[ROW_STATUS]
        classes = stats.status
        errors = 0
        for status, count in Counter(statuses).items():
            group = _CLASS.get(status, 0)
            classes[group] += count
            if group == 5:
                errors += count
        stats.bytes += _sum(columns[ROW_BYTES])
        self._add_durations(stats, columns[ROW_DURATION])
        self._add_times(vhost, stats, columns[ROW_TIME], statuses if errors else None)
        self._add_latency(stats, columns[ROW_TIME], columns[ROW_DURATION])
        if len(columns) > ROW_HOST:
            self._add_hosts(vhost, columns[ROW_TIME], columns[ROW_HOST])

    def _add_hosts(self, vhost: str, times: Sequence[Any], values: Sequence[Any]) -> None:
        """Count (Host, minute) for the host-moved view, in C-level passes."""
        if self._host_header is not None:  # %{Host}i comes as the record's headers_in: {NAME: value}
            values = list(map(methodcaller("get", self._host_header), values))
        names = self._host_names(values)
        self.vhosts[vhost].hosts.update(zip(names, map(self._minute.get, times)))

    def _add_durations(self, stats: EndpointStats, durations: Sequence[Any]) -> None:
        if None in durations:
            durations = [d for d in durations if d is not None]
            if not durations:
                return
        if stats.sketch is None:
            stats.sketch = QuantileSketch(self.options.accuracy)
        stats.duration_sum += sum(durations)
        stats.sketch.add_many(durations)

    def _add_times(self, vhost: str, stats: EndpointStats, times: Sequence[Any], statuses: Sequence[Any] | None) -> None:
        found = list(map(self._epoch.__getitem__, times))
        if None in found:  # a time logged as '-'
            keep = [e is not None for e in found]
            found = list(compress(found, keep))
            times = list(compress(times, keep))
            statuses = list(compress(statuses, keep)) if statuses is not None else None
            if not found:
                return
        epochs = cast("list[float]", found)
        stats.first = min(stats.first, min(epochs))
        stats.last = max(stats.last, max(epochs))
        timeline = self.vhosts[vhost]
        # Counter.update(iterable) counts in C, straight into the running counters.
        timeline.requests.update(map(self._minute.__getitem__, times))
        stats.series.update(map(self._bucket.__getitem__, times))
        if statuses is None:
            return
        step = self.step
        for seconds in compress(epochs, map(_SERVER_ERROR.__contains__, statuses)):
            minute = int(seconds // MINUTE) * MINUTE
            timeline.errors[minute] += 1
            start = minute - minute % step
            cell = stats.errors.get(start)
            if cell is None:
                stats.errors[start] = [1, seconds, seconds]
            else:
                cell[0] += 1
                if seconds < cell[1]:
                    cell[1] = seconds
                if seconds > cell[2]:
                    cell[2] = seconds

    def _add_latency(self, stats: EndpointStats, times: Sequence[Any], durations: Sequence[Any]) -> None:
        """Count each timed duration in its bucket's histogram (C-level maps, as the sketch does)."""
        buckets: list[int | None] = list(map(self._bucket.get, times))
        if None in durations or None in buckets:
            keep = [d is not None and b is not None for d, b in zip(durations, buckets)]
            durations = list(compress(durations, keep))
            buckets = list(compress(buckets, keep))
            if not durations:
                return
        bins = map(math.ceil, map(_LATENCY_SCALE.__mul__, map(math.log, map(max, durations, repeat(1)))))
        stats.latency.update(map(add, map(LATENCY_BINS.__mul__, cast("list[int]", buckets)), bins))

    def _coarsen(self, step: int) -> None:
        while self.step < step:
            self.step *= 2
        for stats in self.endpoints.values():
            stats.coarsen(self.step)
        self._bucket = {text: minute - minute % self.step for text, minute in self._minute.items()}

    # combining

    def merge(self, other: Aggregate) -> None:
        """Add ``other`` (another reader's partial result) to this one."""
        self.lines += other.lines
        self.malformed += other.malformed
        self.samples.extend(other.samples)
        self.problems.extend(other.problems)
        self.job_lines.update(other.job_lines)
        self.reader_folded += other.reader_folded
        step = max(self.step, other.step)
        if self.step < step:
            self._coarsen(step)
        if other.step < step:
            other._coarsen(step)
        for key, stats in other.endpoints.items():
            _merge_into(self.endpoints, key, stats)
        for name, minutes in other.vhosts.items():
            _merge_into(self.vhosts, name, minutes)
        if self._series_cells() > self.options.series_cells:
            self._coarsen(self.step * 2)

    def finish(self, jobs: Sequence[Job], engine: str = "python") -> Analysis:
        """The result: exact caps applied in file order, line numbers made absolute.

        ``engine`` names what read the lines ("c": the compiled scanner, for some files at least).
        Consumes the aggregate (its counters are folded in place).
        """
        caps_exact = self.reader_folded == 0 and OTHER not in self.vhosts and not self.sequential_folds
        endpoints, vhosts = _apply_caps(self)
        valid = self.lines - self.malformed
        summaries = sorted((_summary(key, stats, valid, self.options.series) for key, stats in endpoints.items()),
                           key=lambda e: (-e.requests, e.vhost, e.method, e.endpoint))
        timeline = sorted((TimelinePoint(minute, name, count, minutes.errors.get(minute, 0))
                           for name, minutes in vhosts.items() for minute, count in minutes.requests.items()),
                          key=lambda p: (p.minute, p.vhost))
        bursts = sorted((burst for key, stats in endpoints.items()
                         for burst in _bursts(key, stats, self.step, self.options.bursts)),
                        key=lambda b: (b.first, b.vhost, b.method, b.endpoint))
        return Analysis(self.lines, self.malformed, _absolute_samples(self, jobs), tuple(self.problems),
                        tuple(summaries), tuple(timeline), tuple(bursts), self.step, caps_exact, engine,
                        self._host_view(jobs, vhosts))

    def _host_view(self, jobs: Sequence[Job], vhosts: dict[str, VhostMinutes]) -> HostView:
        """The host-moved view (analytics.hosts), the busiest ``max_hosts`` Hosts kept, the others {other}."""
        reasons = {}
        for job in jobs:
            reason = _host_key(job.source)[2]
            if reason:
                reasons[job.source.path] = reason
        if reasons:
            path, reason = next(iter(reasons.items()))
            return unavailable(reason if len(reasons) == len({job.source.path for job in jobs}) else f"{path}: {reason}")
        totals: Counter[str] = Counter()
        for minutes in vhosts.values():
            for (host, _), count in minutes.hosts.items():
                if host is not None:
                    totals[host] += count
        ranked = sorted((h for h in totals if h != OTHER), key=lambda h: (-totals[h], h))
        kept = set(ranked[:self.options.max_hosts])
        counts: dict[str, Counter[tuple[str | None, int | None]]] = {}
        for name, minutes in vhosts.items():
            cells: Counter[tuple[str | None, int | None]] = Counter()
            for (host, minute), count in minutes.hosts.items():
                cells[(host if host is None or host in kept else OTHER, minute)] += count
            counts[name] = cells
        return host_view(counts, self.options.moved_min_requests, frozenset({OTHER}))


# --- helpers of the hot path -----------------------------------------------------------

def _method(method: Any) -> str:
    if method is None:
        return NONE
    return method if method in METHODS else OTHER


def _sum(values: Sequence[Any]) -> int:
    try:
        return sum(values)
    except TypeError:  # a '-' read as None
        return sum(v for v in values if v is not None)


def _epoch(text: Any) -> float | None:
    """Seconds since the epoch of a record's ISO time.

    A time logged without zone (``%{%F %T}t``) is local time, as httpd wrote
    it (strftime of the local time) and as ``watch`` reads it.
    """
    if text is None:
        return None
    seconds = datetime.fromisoformat(text).timestamp()
    return int(seconds) if seconds.is_integer() else seconds


def _group_stats(group: GroupSums, accuracy: float, scanned_step: int, step: int) -> EndpointStats:
    """A scanner group (series at ``scanned_step``) as running counters at ``step``, ready to merge."""
    stats = EndpointStats(group.first_seen, group.requests, list(group.status), group.bytes)
    if group.durations:
        stats.duration_sum = group.duration_sum
        counted = QuantileSketch(accuracy, count=group.durations, zero_count=group.zero_durations,
                                 minimum=cast("float", group.duration_min), maximum=cast("float", group.duration_max),
                                 buckets=Counter(group.sketch))
        if len(counted.buckets) <= counted.max_buckets:
            stats.sketch = counted  # what merging it into an empty sketch gives, without the copy
        else:
            stats.sketch = QuantileSketch(accuracy)
            stats.sketch.merge(counted)  # folds the lowest buckets past the sketch's bound, as add_many does
    stats.first = group.first
    stats.last = group.last
    dict.update(stats.series, group.bucket_requests)
    stats.errors = group.bucket_errors
    dict.update(stats.latency, group.latency)
    if scanned_step != step:  # the Python reader's lines coarsened further
        stats.coarsen(step)
    return stats


def _scan_specs(sources: Sequence[LogSource], options: AggregateOptions) -> dict[str, ScanSpec]:
    """The sources the compiled scanner reads (path -> spec): one format it supports, no declared patterns."""
    if scan_engine() != "c" or options.patterns:
        return {}
    specs: dict[str, ScanSpec] = {}
    for source in sources:
        hosts = _host_key(source)[0] == HOST_HEADER
        spec = scan_spec(source.formats[0], {}, hosts) if len(source.formats) == 1 else None
        if spec is not None:
            specs[source.path] = spec
    return specs


def _tally_caps(options: AggregateOptions) -> TallyCaps:
    """A tally's bounds (TALLY_CAP_FACTOR times the caps, at least TALLY_MIN_CAP), the series' cells,
    the methods. A tally that folds (past them) makes the caps inexact: it may fold an endpoint
    another tally keeps."""
    return TallyCaps(max(options.max_vhosts * TALLY_CAP_FACTOR, TALLY_MIN_CAP),
                     max(options.max_per_vhost * TALLY_CAP_FACTOR, TALLY_MIN_CAP),
                     options.max_hosts * READER_CAP_FACTOR * HOST_PAIRS_PER_NAME, options.series_cells,
                     tuple(sorted(METHODS)))


@dataclass
class _ScanSlot:
    """What a scanning thread uses: a tally, and a read buffer kept from job to job (a fresh 8 MiB
    block per job costs its page faults again)."""

    tally: Tally
    buffer: bytearray = field(default_factory=bytearray)


def _scan_job(job: Job, spec: ScanSpec, slots: Queue[_ScanSlot]) -> tuple[int, tuple[tuple[int, bytes], ...]]:
    """Read job's range and add it to a free slot's tally (one slot per thread: one is always free)."""
    assert job.end is not None
    size = job.end - job.start
    slot = slots.get_nowait()
    try:
        if len(slot.buffer) < size:
            slot.buffer = bytearray(size)
        view = memoryview(slot.buffer)
        with open(job.source.path, "rb") as handle:
            read = os.preadv(handle.fileno(), [view[:size]], job.start)
        return slot.tally.scan(spec, view[:read], job.index)
    finally:
        slots.put_nowait(slot)


def _scan_and_read(jobs: list[Job], specs: dict[str, ScanSpec], options: AggregateOptions, workers: int,
                   report: Callable[[int], None]) -> Aggregate:
    """Scanner jobs on ``workers`` threads (the scanner runs without the GIL), each thread adding to
    a tally of its own; the lines they leave to Python are read here in job order as they come, and
    jobs the scanner does not read are read here in their turn. The tallies are merged in C and added
    once, at the end."""
    total = Aggregate.empty(options, TALLY_CAP_FACTOR, TALLY_MIN_CAP)
    sketch_multiplier = 1.0 / math.log(QuantileSketch(options.accuracy).gamma)  # as QuantileSketch.add_many
    caps = _tally_caps(options)
    tallies = [Tally(sketch_multiplier, _LATENCY_SCALE, caps) for _ in range(workers)]
    free: Queue[_ScanSlot] = Queue()
    for tally in tallies:
        free.put_nowait(_ScanSlot(tally))
    ahead = 2 * workers  # jobs read and scanned ahead of the one being added: bounded memory
    # A range far over the block size is one huge "line" (no newline in it): streamed in Python instead.
    scanned = [job for job in jobs if job.source.path in specs and job.end is not None
               and job.end - job.start <= 4 * options.scan_chunk_bytes]
    done: dict[int, tuple[int, tuple[tuple[int, bytes], ...]]] = {}
    if scanned:  # alone first: its cells tell the step the series need (then every block is scanned at it)
        first = scanned.pop(0)
        done[first.index] = _scan_job(first, specs[first.source.path], free)
        _presize_step(tallies, first.size, first.size + sum(job.size for job in scanned), options.series_cells)
    with ThreadPoolExecutor(workers) as pool:
        futures: dict[int, Future[tuple[int, tuple[tuple[int, bytes], ...]]]] = {}
        queue = iter(scanned)

        def refill() -> None:
            while len(futures) < ahead:
                job = next(queue, None)
                if job is None:
                    return
                futures[job.index] = pool.submit(_scan_job, job, specs[job.source.path], free)

        refill()
        for job in jobs:
            future = futures.pop(job.index, None)
            if job.index in done:
                total.read_deferred(job, *done.pop(job.index))
            elif future is None:
                total.read_job(job)
            else:
                lines, deferred = future.result()
                refill()
                total.read_deferred(job, lines, deferred)
            refill()
            report(job.size)
    merged = tallies[0]
    for tally in tallies[1:]:
        merged.merge(tally)
    total.add_tally(merged.result())
    return total


def _presize_step(tallies: list[Tally], done: int, size: int, limit: int) -> None:
    """Coarsen once, early, to the step the whole input should need (its cells grow about with the
    bytes read), from what the first tally holds after ``done`` of ``size`` bytes: the tallies then
    count at that step instead of holding many fine cells and coarsening them again and again."""
    ratio = size / max(done, 1)
    step = tallies[0].step  # past MINUTE when the first block alone had too many cells
    while tallies[0].cells(step) * ratio > limit and step < MINUTE << 32:
        step *= 2
    for tally in tallies:
        tally.coarsen(step)


@functools.lru_cache(maxsize=256)
def _host_key(source: LogSource) -> tuple[str | None, str | None, str]:
    """(the record key of the Host or None, the Host header's name when it is %{NAME}i, why not)."""
    parser = parser_of(source.formats)
    key, reason = host_column_or_reason(parser)
    return key, host_header_name(parser) if key == HOST_HEADER else None, reason


@functools.lru_cache(maxsize=256)
def _projection(source: LogSource) -> RequestRows:
    extra = ["status", "time", BYTES_SENT, "duration_us"]
    key = _host_key(source)[0]
    if key is not None:
        extra.append(key)  # ROW_HOST
    return request_rows(parser_of(source.formats), extra)


# --- planning and running the jobs ------------------------------------------------------

def plan_jobs(sources: Sequence[LogSource], options: AggregateOptions, workers: int,
              scanned: frozenset[str] = frozenset()) -> list[Job]:
    """Jobs in file order: big plain files cut at line boundaries into ranges of about ``chunk_bytes``.

    A compressed file, or one that is not a regular file (a pipe), is one job read as a stream.
    Files the scanner reads (paths in ``scanned``) are cut whatever their size (each range is
    read into memory at once).
    """
    jobs: list[Job] = []
    for source in sources:
        if source.span is not None:
            start, end = source.span
            parts = max(2, (end - start) // options.chunk_bytes) if workers > 1 and end - start >= options.split_min_bytes else 1
            for first, last in _cut(source.path, parts, start, end):
                jobs.append(Job(len(jobs), source, first, last, last - first))
            continue
        info = os.stat(source.path)
        if not stat.S_ISREG(info.st_mode) or _compressed(source.path):
            jobs.append(Job(len(jobs), source, size=info.st_size))
        elif source.path in scanned and info.st_size > options.scan_chunk_bytes:
            parts = max(2, info.st_size // options.scan_chunk_bytes, workers)
            for start, end in _cut(source.path, parts, 0, info.st_size):
                jobs.append(Job(len(jobs), source, start, end, end - start))
        elif workers > 1 and info.st_size >= options.split_min_bytes:
            parts = max(2, info.st_size // options.chunk_bytes)
            for start, end in _cut(source.path, parts, 0, info.st_size):
                jobs.append(Job(len(jobs), source, start, end, end - start))
        else:
            jobs.append(Job(len(jobs), source, 0, info.st_size, info.st_size))
    return jobs


def _compressed(path: str) -> bool:
    with open(path, "rb") as handle:
        return is_compressed(handle.read(6))


def _cut(path: str, parts: int, start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) of a plain file cut at line starts into ``parts`` ranges (``logs.spans``)."""
    return (spans(path, parts, start, end) or [(start, end)]) if parts > 1 else [(start, end)]


def analyse(sources: Sequence[LogSource], options: AggregateOptions = AggregateOptions(),
            progress: Callable[[int], None] | None = None) -> Analysis:
    """Read ``sources`` and aggregate them; ``progress(bytes)`` is called as jobs complete.

    Raises OSError when a file cannot be opened, FormatError for an unusable
    format, WorkerError (logs) when a reader process fails.
    """
    workers = max(1, options.workers or usable_cpus())
    specs = _scan_specs(sources, options)
    jobs = plan_jobs(sources, options, workers, frozenset(specs))
    workers = min(workers, len(jobs)) or 1
    report = progress or (lambda done: None)
    with gc_paused():
        if specs:
            total = _scan_and_read(jobs, specs, options, workers, report)
            return total.finish(jobs, "c")
        total = fold_jobs(jobs, functools.partial(Aggregate.empty, options), Aggregate.read_job, Aggregate.merge,
                          workers, lambda job: report(job.size))
        return total.finish(jobs)


# --- the result ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Latency:
    """Latency percentiles in milliseconds, within the sketch's relative accuracy."""

    p50: float
    p95: float
    p99: float


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One bucket of an endpoint's series: its start (epoch seconds, UTC), requests and 5xx.

    ``durations`` is the bucket's latency histogram, (bin, requests) pairs (see ``LATENCY_BINS``;
    read with ``histogram_quantile``); empty when the format logs no duration.
    """

    start: int
    requests: int
    errors: int
    durations: tuple[tuple[int, int], ...] = ()


def histogram_quantile(bins: Counter[int] | dict[int, int], q: float) -> float | None:
    """The duration (µs) at quantile ``q`` of a latency histogram, within ``LATENCY_RATIO``'s accuracy."""
    total = sum(bins.values())
    if not total:
        return None
    rank = math.floor(q * (total - 1))
    seen = 0
    for bin_ in sorted(bins):
        seen += bins[bin_]
        if seen > rank:
            # The bin's representative: within (r-1)/(r+1) of every value of (r**(k-1), r**k].
            return 1.0 if bin_ == 0 else 2.0 * LATENCY_RATIO ** bin_ / (LATENCY_RATIO + 1.0)
    return None  # unreachable


@dataclass(frozen=True, slots=True)
class EndpointSummary:
    """Everything reported about one vhost × method × endpoint.

    ``status`` counts 1xx..5xx (a status outside 100-599, or none logged,
    counts in ``requests`` only); times are epoch seconds (UTC), None when
    the format logs no time; ``series`` holds the non-empty buckets of
    ``Analysis.step`` seconds.
    """

    vhost: str
    method: str
    endpoint: str
    requests: int
    share: float
    status: tuple[int, int, int, int, int]
    duration_us_sum: int | None
    latency_ms: Latency | None
    bytes: int
    first_seen: float | None
    last_seen: float | None
    series: tuple[SeriesPoint, ...]

    @property
    def errors(self) -> int:
        return self.status[4]

    @property
    def error_ratio(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    """Requests and 5xx of one vhost in one minute (start in epoch seconds, UTC)."""

    minute: int
    vhost: str
    requests: int
    errors: int


@dataclass(frozen=True, slots=True)
class ErrorBurst:
    """A run of failing buckets on one endpoint (see BurstRule): first and last 5xx seen, counts."""

    vhost: str
    method: str
    endpoint: str
    first: float
    last: float
    errors: int
    requests: int


@dataclass(frozen=True)
class Analysis:
    """The report's data. ``lines`` counts every line read, ``malformed`` those rejected.

    ``samples`` are the first malformed lines (absolute line numbers);
    ``problems`` file-level trouble (a compressed file cut short);
    ``step`` the seconds per series bucket; ``caps_exact`` is False when a
    reader hit its own cap (see the module notes); ``engine`` what read the lines.
    """

    lines: int
    malformed: int
    samples: tuple[Malformed, ...]
    problems: tuple[str, ...]
    endpoints: tuple[EndpointSummary, ...]
    timeline: tuple[TimelinePoint, ...]
    bursts: tuple[ErrorBurst, ...]
    step: int
    caps_exact: bool = True
    engine: str = "python"  # "c" when the compiled scanner read (some of) the lines
    hosts: HostView = NOT_COMPUTED  # the host-moved view (analytics.hosts)

    @property
    def valid(self) -> int:
        return self.lines - self.malformed

    def top_failing(self, count: int) -> list[EndpointSummary]:
        """Endpoints with 5xx, most 5xx first (then highest ratio)."""
        failing = [e for e in self.endpoints if e.errors]
        failing.sort(key=lambda e: (-e.errors, -e.error_ratio, e.vhost, e.method, e.endpoint))
        return failing[:count]

    def folded(self) -> dict[str, int]:
        """Requests per vhost reported under ``{other}`` because of the endpoint cap."""
        out: dict[str, int] = {}
        for e in self.endpoints:
            if e.endpoint == OTHER:
                out[e.vhost] = out.get(e.vhost, 0) + e.requests
        return out


def utc_iso(seconds: float) -> str:
    """``2024-01-21T15:00:00+00:00`` (fractional seconds kept when there are any)."""
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def _apply_caps(agg: Aggregate) -> tuple[dict[tuple[str, str, str], EndpointStats], dict[str, VhostMinutes]]:
    """The endpoints and vhosts with the exact caps applied, first seen first kept."""
    options = agg.options
    ranked = sorted((name for name in agg.vhosts if name != OTHER), key=lambda name: agg.vhosts[name].order)
    kept = set(ranked[:options.max_vhosts])
    vhosts: dict[str, VhostMinutes] = {}
    for name, minutes in agg.vhosts.items():
        _merge_into(vhosts, name if name in kept else OTHER, minutes)
    first_seen: dict[tuple[str, str], tuple[int, int]] = {}
    for (vhost, _, endpoint), stats in agg.endpoints.items():
        group = (vhost if vhost in kept else OTHER, endpoint)
        first_seen[group] = min(first_seen.get(group, stats.order), stats.order)
    declared = {pattern.name for pattern in options.patterns} | {OTHER}
    admitted: set[tuple[str, str]] = set()
    counts: dict[str, int] = {}
    for group in sorted(first_seen, key=first_seen.__getitem__):
        if group[1] in declared:
            continue
        if counts.get(group[0], 0) < options.max_per_vhost:
            counts[group[0]] = counts.get(group[0], 0) + 1
            admitted.add(group)
    endpoints: dict[tuple[str, str, str], EndpointStats] = {}
    for (vhost, method, endpoint), stats in agg.endpoints.items():
        vhost = vhost if vhost in kept else OTHER
        if endpoint not in declared and (vhost, endpoint) not in admitted:
            endpoint = OTHER
        _merge_into(endpoints, (vhost, method, endpoint), stats)
    return endpoints, vhosts


def _merge_into(table: dict[Any, Any], key: Any, value: Any) -> None:
    mine = table.get(key)
    if mine is None:
        table[key] = value
    else:
        mine.merge(value)


def _summary(key: tuple[str, str, str], stats: EndpointStats, valid: int, with_series: bool = True) -> EndpointSummary:
    latency = None
    if stats.sketch is not None and stats.sketch.count:
        p50, p95, p99 = (round(value / 1000.0, 3) for value in stats.sketch.quantiles((0.5, 0.95, 0.99)))  # type: ignore[operator]
        latency = Latency(p50, p95, p99)
    series = _series(stats) if with_series else ()
    timed = stats.first != math.inf
    return EndpointSummary(
        key[0], key[1], key[2], stats.requests, stats.requests / valid if valid else 0.0,
        tuple(stats.status[1:6]), stats.duration_sum if stats.sketch is not None else None,  # type: ignore[arg-type]
        latency, stats.bytes, stats.first if timed else None, stats.last if timed else None, series)


def _series(stats: EndpointStats) -> tuple[SeriesPoint, ...]:
    """The endpoint's buckets with their latency histograms. A cell is start * LATENCY_BINS + bin
    (0 <= bin < LATENCY_BINS): a bucket's cells are one run of the sorted cells, found by bisection and
    split in C-level maps (no Python step per cell)."""
    cells = sorted(stats.latency)
    counts = list(map(stats.latency.__getitem__, cells))
    errors = stats.errors
    points = []
    for start, count in sorted(stats.series.items()):
        base = start * LATENCY_BINS
        low = bisect_left(cells, base)
        high = bisect_left(cells, base + LATENCY_BINS, low)
        durations = tuple(zip(map(sub, cells[low:high], repeat(base)), counts[low:high]))
        points.append(SeriesPoint(start, count, int(errors[start][0]) if start in errors else 0, durations))
    return tuple(points)


def _bursts(key: tuple[str, str, str], stats: EndpointStats, step: int, rule: BurstRule) -> Iterator[ErrorBurst]:
    failing = [start for start in sorted(stats.errors)
               if stats.errors[start][0] >= rule.min_ratio * stats.series.get(start, 0)]
    run: list[int] = []
    for start in failing:
        if run and start - run[-1] > (rule.gap + 1) * step:
            yield from _burst(key, stats, run, step, rule)
            run = []
        run.append(start)
    if run:
        yield from _burst(key, stats, run, step, rule)


def _burst(key: tuple[str, str, str], stats: EndpointStats, run: list[int], step: int,
           rule: BurstRule) -> Iterator[ErrorBurst]:
    errors = sum(int(stats.errors[start][0]) for start in run)
    if errors < rule.min_errors:
        return
    requests = sum(stats.series.get(start, 0) for start in range(run[0], run[-1] + step, step))
    first = min(stats.errors[start][1] for start in run)
    last = max(stats.errors[start][2] for start in run)
    yield ErrorBurst(key[0], key[1], key[2], first, last, errors, requests)


def _absolute_samples(agg: Aggregate, jobs: Sequence[Job]) -> tuple[Malformed, ...]:
    offsets: dict[int, int] = {}
    running: dict[str, int] = {}
    for job in jobs:
        path = job.source.path
        offsets[job.index] = running.get(path, 0)
        running[path] = offsets[job.index] + agg.job_lines.get(job.index, 0)
    ordered = sorted(agg.samples)[:SAMPLES]
    return tuple(Malformed(jobs[job].source.path, offsets[job] + line, error) for job, line, error in ordered)

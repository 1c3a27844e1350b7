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

Where the compiled scanner runs and reads the log's format (``logs.WatchCounter``),
it counts the lines instead: per (group, second, status) cells with the
durations in bins (``latency.DurationBins``), handed to the batch as ``Binned``
counts at each fold; each line it is not sure of is parsed here, in its turn,
so the batch, the caps and the example lines come out as line by line.
"""
from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from vhostguard.logs import NONE, OTHER, EndpointTemplater, SegmentTemplates
from vhostguard.logs import SAMPLES, LogFormat, Malformed, Parser
from vhostguard.logs import request_rows
from vhostguard.logs import WATCH_BOUNDARY, WATCH_CELL, WATCH_END, WatchCounter, WatchRead, scan_engine, scan_spec
from vhostguard.analytics import METHODS  # the same method labels as `report`
from vhostguard.monitor.hosts import HostExamples, HostNames, host_header_name
from vhostguard.monitor.latency import Binned, DurationBins, LatencyCounts
from vhostguard.monitor.parser_process import RowsSpec, row_parser
from vhostguard.monitor.windows import ALL, Key, Windows

STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
OTHER_STATUS = "other"
ROW_EXTRA = ("status", "time", "duration_us")  # the row columns after (vhost, method, path)
HOST = 3 + len(ROW_EXTRA)  # the row column of the requested Host, when host-moved counts it
_CACHE = 1 << 16  # entries of each per-line memo; cleared when full (logs/memo.py explains why)
LABEL_CACHE = _CACHE
TEMPLATED_CACHE = 1 << 14  # the memos' entries when rows carry templates (their hot keys are endpoints)
COUNTER_GROUPS = 1 << 14  # groups the compiled counter remembers (with their labels here); forgotten past that,
# at a flush: unique paths (endpoints past the cap) make many, each a few hundred bytes on both sides

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

    def label(self, raw: tuple[str | None, str | None, str | None], templated: bool = False) -> Labels:
        """The labels of raw (vhost, method, path); ``templated``: the path is already its automatic
        template (the compiled scanner's; only without user patterns)."""
        vhost, method, path = raw
        key = self._vhosts.get(vhost) or self._vhost(vhost)
        if self.templater.patterns:  # user patterns must see the raw path
            endpoint = self.templater.template(path, key)
        else:
            # Without user patterns the templater's own rules are idempotent on our output,
            # so it only applies its cap.
            auto = path if templated and path is not None else self.auto(path)
            capped = self._capped.get(key)
            endpoint = (capped.get(auto) if capped is not None else None) or self._cap(key, auto, templated)
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

    def _cap(self, key: str, auto: str, templated: bool = False) -> str:
        # A template is its own template (auto_template is idempotent): only the cap applies to it.
        endpoint = self.templater.admit(auto, key) if templated else self.templater.template(auto, key)
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
    """Requests counted since the last fold: (labels, status, second) -> durations (None when not logged),
    as a list, or counted in bins (``Binned``: what the compiled scanner counts; both take ``append``)."""

    def __init__(self) -> None:
        self.counts: dict[BatchKey, list[int | None] | Binned] = {}
        self.hosts: dict[tuple[str, str, int], int] = {}  # (Host, vhost, second) -> requests (host-moved)

    def __bool__(self) -> bool:
        return bool(self.counts) or bool(self.hosts)

    def fold(self, windows: Windows,
             add_series: Callable[[tuple[str, str, str, str], list[int | None] | Binned], None],
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
                 examples: HostExamples | None = None, scale: DurationBins | None = None) -> None:
        """``host_column`` (with ``hosts``): the record key of the requested Host; each request is then
        also counted per (Host, vhost) for host-moved, with a few example lines in ``examples``.
        ``scale``: durations are counted in its bins, by the compiled scanner where it can read the
        log (see ``compiled``); None: by the Python parser, each duration kept until the fold."""
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
        self.default_vhost = default_vhost
        self.scale = scale
        self.counter = _counter(parser, labeler, default_vhost, scale, self.hosts is not None)
        self._labels: list[Labels] = []  # the counter's groups (numbered as it numbers them) -> labels
        self._first: dict[Labels, int] = {}  # labels -> the first group with them (the others count as it)
        self._pending = False  # the counter holds cells not in a batch yet
        self._chunk: list[str] | None = None  # the lines whose text ``_data`` is
        self._data = b""
        self._strip_cr = False  # _data is the file's bytes: a CR before the newline is not data
        self._resume = (0, 0)  # (line, byte offset in _data) where the last compiled count stopped

    @property
    def compiled(self) -> bool:
        """Whether the compiled scanner counts this log (lines it is not sure of still go to Python)."""
        return self.counter is not None

    def feed(self, lines: list[str], start: int, first_line: int, stop_sec: int, batch: Batch,
             data: bytes | None = None) -> tuple[int, bool]:
        """Count ``lines[start:]`` until the first line of a second at or after ``stop_sec`` (log time),
        which is left for the next call.

        Returns (index of the next line to count, whether it stopped at ``stop_sec``).
        ``first_line`` is the file line number of ``lines[0]``. The same ``lines`` (a chunk) come
        back with a later ``start`` until they are all counted: they are parsed once, on the first call.
        ``data``: the bytes ``lines`` were decoded from (``tail.Chunk.data``), for the compiled scanner.
        """
        if self.counter is not None:
            text = self._text(lines, data)
            if text is not None:
                return self._feed_compiled(lines, text, start, first_line, stop_sec, batch)
            self.flush(batch)  # the cells first: the batch keeps the order the lines came in
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
        self._finish(lines, start, done, parsed.bad_between(start, done), first_line)
        self.stats.newest = newest
        return done, stopped

    def _finish(self, lines: list[str], start: int, done: int, bad: list[int], first_line: int) -> None:
        """Count lines ``start..done`` read, ``bad`` (their indexes) malformed."""
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

    # -- the compiled scanner's path --------------------------------------------------------------

    def _text(self, lines: list[str], data: bytes | None) -> bytes | None:
        """What the scanner reads of ``lines``, each ended by a newline, kept for the next calls on the
        same chunk: ``data`` (their bytes, a CR before a newline dropped by the scanner as by the reader),
        else their text encoded (then nothing is dropped; None when a line holds a newline of its own)."""
        if lines is self._chunk:
            return self._data
        self._strip_cr = data is not None
        if data is None:
            data = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass") if lines else b""
            if data.count(b"\n") != len(lines):
                return None
        self._chunk, self._data, self._resume = lines, data, (0, 0)
        return data

    def _feed_compiled(self, lines: list[str], data: bytes, start: int, first_line: int, stop_sec: int,
                       batch: Batch) -> tuple[int, bool]:
        """``feed`` through the compiled scanner: the lines it is sure of are counted there, in cells
        that ``flush`` adds to the batch; each line it is not sure of is parsed here, in its turn."""
        assert self.counter is not None
        line, offset = self._resume
        if line != start:  # not where the last call stopped (never in the watch loop): find the line
            offset = 0
            for _ in range(start):
                offset = data.index(b"\n", offset) + 1
        read = self.counter.read
        position, newest, end = start, self.stats.newest, len(lines)
        bad: list[int] = []
        last: dict[tuple[str, str], int] | None = {} if self.hosts is not None else None
        stopped = False
        while position < end:
            got = read(data, offset, newest, stop_sec, self._strip_cr)
            newest, offset = got.newest, got.offset
            if got.lines:
                self._pending = True
                if got.groups:
                    self._label_groups(got.groups)
                if last is not None:
                    self._count_pairs(got, position, batch, last)
                position += got.lines
            if got.stop == WATCH_BOUNDARY:
                stopped = True
                break
            if got.stop == WATCH_END:
                break
            rows, nope = self.rows.rows([lines[position]])  # a line the scanner is not sure of: Python's
            if nope:
                bad.append(position)
            else:
                row = rows[0]
                sec = self._second(row[4])
                if sec > newest:
                    newest = sec
                    if sec >= stop_sec:
                        stopped = True
                        break
                self.flush(batch)  # the cells before it first: the batch keeps the order the lines came in
                self._count_row(row, sec, batch)
                if last is not None:
                    self._count_row_host(row, sec, position, batch, last)
            position += 1
            offset = data.index(b"\n", offset) + 1
        self._resume = (position, offset)
        if last and self.examples is not None:
            for (host, vhost), index in last.items():
                self.examples.add(host, vhost, f"{self.name}:{first_line + index}")
        self._finish(lines, start, position, bad, first_line)
        self.stats.newest = newest
        return position, stopped

    def flush(self, batch: Batch) -> None:
        """Add the cells the compiled scanner holds to ``batch`` (in the order their lines came)."""
        if not self._pending:
            return
        assert self.counter is not None and self.scale is not None
        self._pending = False
        cells, bins, forgotten = self.counter.flush(COUNTER_GROUPS)
        labels, counts, scale = self._labels, batch.counts, self.scale
        entries: list[Binned] = []
        for at in range(0, len(cells), WATCH_CELL):
            if not cells[at + 3]:  # a cell made for a line then left to Python (a duration sum beyond int64)
                entries.append(Binned(scale))
                continue
            status = cells[at + 2]
            key = (labels[cells[at]], None if status < 0 else status, cells[at + 1])
            entry = counts.get(key)
            if entry is None:
                entry = counts[key] = Binned(scale)
            elif entry.__class__ is list:  # counted by a Python feeder of another log (list of durations)
                entry = counts[key] = _binned(entry, scale)
            binned = cast(Binned, entry)
            binned.add(cells[at + 3], cells[at + 4], cells[at + 5])
            entries.append(binned)
        for at in range(0, len(bins), 3):
            own = entries[bins[at]].bins
            own[bins[at + 1]] = own.get(bins[at + 1], 0) + bins[at + 2]
        if forgotten:
            self._labels, self._first = [], {}

    def _label_groups(self, groups: list[tuple[bytes | None, bytes | None, bytes]]) -> None:
        """Label the groups the scanner met for the first time, in that order (the caps keep the first ones)."""
        cache, label, vhost_of, first, known = self.labeler.cache, self.labeler.label, self._vhost_of, self._first, \
            self._labels
        aliases = array("q")
        for vhost, method, template in groups:
            raw = (vhost_of(vhost), None if method is None else method.decode("ascii"), template.decode("ascii"))
            labels = cache.get(raw) or label(raw, True)
            group = first.setdefault(labels, len(known))
            if group != len(known):
                aliases.extend((len(known), group))
            known.append(labels)
        if aliases:
            assert self.counter is not None
            self.counter.alias(aliases)

    def _vhost_of(self, raw: bytes | None) -> str | None:
        """The rows' vhost (``logs.rows``) of a vhost the scanner read (None: the format logs none)."""
        if raw is None or raw == b"-":
            return self.default_vhost
        if not raw and self.default_vhost is not None:
            return self.default_vhost
        return raw.decode("ascii")

    def _host_of(self, raw: object) -> str | None:
        names = self.hosts
        assert names is not None
        found = names.memo.get(raw, names) if raw.__class__ is str else None
        return names(raw) if found is names else cast("str | None", found)

    def _count_pairs(self, got: WatchRead, first: int, batch: Batch, last: dict[tuple[str, str], int]) -> None:
        """The scanner's (vhost, Host) counts of one read (its lines start at line ``first``) into the batch."""
        keys: list[tuple[str, str] | None] = []
        for vhost_raw, host_raw in got.pairs:  # Hosts named in the order first met, as in _count_hosts
            host, vhost = self._host_of(host_raw.decode("ascii")), self._vhost_of(vhost_raw)
            keys.append(None if host is None or vhost is None else (host, vhost))
        for pair, key in enumerate(keys):
            if key is not None:
                index = first + got.pair_last[pair]
                if last.get(key, -1) < index:
                    last[key] = index
        counts, cells = batch.hosts, got.hosts
        for at in range(0, len(cells), 3):
            key = keys[cells[at]]
            if key is not None:
                cell = (key[0], key[1], cells[at + 1])
                counts[cell] = counts.get(cell, 0) + cells[at + 2]

    def _second(self, text: str | None) -> int:
        known = self.times.cache.get(text) if text is not None else None
        return self.times.convert(text) if known is None else known

    def _count_row(self, row: tuple[Any, ...], sec: int, batch: Batch) -> None:
        """One row the Python parser read, counted as ``feed`` counts it."""
        assert self.scale is not None
        raw = row[:3]
        labels = self.labeler.cache.get(raw) or self.labeler.label(raw)
        key = (labels, row[3], sec)
        entry = batch.counts.get(key)
        if entry is None:
            entry = batch.counts[key] = Binned(self.scale)
        entry.append(row[5])

    def _count_row_host(self, row: tuple[Any, ...], sec: int, index: int, batch: Batch,
                        last: dict[tuple[str, str], int]) -> None:
        raw = row[HOST]
        if raw.__class__ is dict:
            raw = raw.get(self._host_header)
        host, vhost = self._host_of(raw), row[0]
        if host is None or vhost is None:
            return
        cell = (host, vhost, sec)
        batch.hosts[cell] = batch.hosts.get(cell, 0) + 1
        last[(host, vhost)] = index

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


def _counter(parser: Parser, labeler: Labeler, default_vhost: str | None, scale: DurationBins | None,
             hosts: bool) -> WatchCounter | None:
    """The compiled scanner counting a log, when it runs and can read the log's format exactly as the rows
    do: one LogFormat, no user endpoint patterns (they must see the raw path), the Host read when host-moved
    counts it, and no vhost that would come from the Host header (a default vhost beside a logged Host)."""
    if scale is None or scan_engine() != "c" or not isinstance(parser, LogFormat) or labeler.templater.patterns:
        return None
    spec = scan_spec(parser.format, {}, hosts)
    if spec is None:
        return None
    counter = WatchCounter(spec, scale.bounds)
    logs_host = any(s.key == "headers_in" and (s.sub or "").lower() == "host" for s in parser.fields)
    if (hosts and not counter.host) or (default_vhost is not None and counter.vhost and logs_host):
        return None
    return counter


def _binned(durations: list[int | None], scale: DurationBins) -> Binned:
    binned = Binned(scale)
    for duration in durations:
        binned.append(duration)
    return binned

"""The ``watch`` loop: follow the logs, count, evaluate the rules on the log clock, notify, checkpoint.

One :meth:`Watch.step` reads what the access logs have (in 64 KiB chunks,
several logs in turn), counting lines into a batch until a line reaches the
next rule evaluation time on the log clock; then it folds the batch into
the windows and metrics and evaluates the rules that are due, and goes on.
So a replayed hour is evaluated second by second as it happened, and
several logs advance together. Error logs are read before each evaluation,
so the error lines of the failing requests are there to join.

Everything time-dependent goes through an injected :class:`Clock`; tests
drive the loop with a ManualClock and real files.
"""
from __future__ import annotations

import binascii
import gc
import os
import threading
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from vhostguard.logs import EndpointPattern, EndpointTemplater, SegmentTemplates
from vhostguard.logs import FormatChoice, LogFormat
from vhostguard.logs import Parser, explain_code, scan_engine
from vhostguard.monitor.alerts import Alert, AlertBook
from vhostguard.monitor.clock import Clock, LogClock, SystemClock
from vhostguard.monitor.errorlog import (
    NOT_FOUND_CAUSES, SERVER_ERROR_CAUSES, ErrorEntry, ErrorLogBook, ErrorLogTarget, entries_from_lines,
)
from vhostguard.monitor.exporter import BUCKET_BOUNDS_US, LogGauges, WatchMetrics
from vhostguard.monitor.hosts import (
    RELOAD_CODES, ConfigSource, HostExamples, HostNames, config_moves, config_names, host_column, usual_vhosts,
    uses_canonical_names, where_now,
)
from vhostguard.monitor.latency import DurationBins, Histograms, LatencyCounts
from vhostguard.monitor.ingest import LABEL_CACHE, TEMPLATED_CACHE, Batch, Labeler, LineFeeder, Times
from vhostguard.monitor.parser_process import ParserProcess
from vhostguard.monitor.rules import Evaluator, Finding, Rules, describe, parse_rules
from vhostguard.monitor.sinks import Sink
from vhostguard.monitor.state import StateStore, decode_path, encode_path, state_name
from vhostguard.logs import printable
from vhostguard.monitor.tail import Chunk, Follower, Position
from vhostguard.monitor.windows import Windows

PRUNE_EVERY = 60.0  # log-clock seconds between window clean-ups
LOOKAHEAD = 6  # chunks read ahead of the one being counted, when a parser process takes some
ERROR_LINES_PER_STEP = 20_000  # error-log lines read per step at most (they are evidence, not the load)
_FAR = 1 << 62  # a log second no line reaches: no evaluation is due before the first line
UNREADABLE_RULE = "log-unreadable"
# A log is unreadable when this many lines were read and none matches its format (fewer do when
# the log has no more lines to give): a wrong format would hide a whole outage from every rule.
UNREADABLE_AFTER = 3
# Or when this many lines in a row, the last ones read, match no format after others did: the
# LogFormat changed under a running watcher (httpd writes every line in its format, escaping
# what clients send, so a run this long is not a few garbled lines).
UNREADABLE_RUN = 100
# What a checkpoint that passed monitor.state's check can still raise while it is restored
# (slots that do not fit the current windows' layout): it is set aside, never fatal.
_RESTORE_ERRORS = (ValueError, TypeError, KeyError, IndexError, binascii.Error, zlib.error)


@dataclass(frozen=True)
class AccessLog:
    """An access log to follow, its parser, and the vhost its lines belong to when the format logs none."""

    path: str
    parser: Parser
    vhost: str | None = None


@dataclass(frozen=True)
class WatchOptions:
    """How to watch. ``state_dir`` None keeps no checkpoint; ``follow_wall`` False (``--once``) never
    advances the log clock by the wall clock; ``gc`` "tuned" runs the cyclic GC between steps only;
    ``max_per_vhost`` caps the endpoints per vhost (metric labels: Prometheus wants them few);
    ``jobs`` 2 parses the lines of a backlog in a second process (``parser_process``), 1 does all in one."""

    rules: Rules = field(default_factory=parse_rules)
    state_dir: str | None = None
    from_start: bool = False
    follow_wall: bool = True
    checkpoint_interval: float = 10.0
    poll_interval: float = 0.25
    step_lines: int = 200_000
    endpoints: tuple[EndpointPattern, ...] = ()
    max_per_vhost: int = 200
    max_vhosts: int = 1000
    gc: str = "tuned"
    jobs: int = 1
    config: ConfigSource | None = None  # -f CONFIG: host-moved names config lines and follows reloads


@dataclass
class _Input:
    follower: Follower
    feeder: LineFeeder
    number: int  # its place among the inputs (the parser process knows the logs by it)
    chunk: Chunk | None = None
    index: int = 0  # lines of ``chunk`` counted
    # Read after ``chunk`` and handed to the parser process (with its ticket; None: parse here), not counted yet.
    ahead: deque[tuple[Chunk, int | None]] = field(default_factory=deque)
    lag: float = 0.0  # wall clock minus the newest line's time, when lines were last read
    start_lines: int = 0  # lines counted before this run (restored from the checkpoint)
    resumed: bool = False  # positions came from a checkpoint
    unreadable: bool = False  # lines were read and not one matches the format (see UNREADABLE_AFTER)

    def positions(self) -> list[Position]:
        """Where a restart resumes: chunks in hand count only as far as their lines were counted.

        In a file, the earliest chunk not fully counted decides: the one
        being counted, else the first one ahead. A file whose reader is
        already closed (a rotated file drained to its end) is still listed:
        on resume it is found again by its inode and read from there.
        """
        positions = self.follower.positions()
        holds = [replace(chunk.start, skip=chunk.start.skip + self.index)] \
            if (chunk := self.chunk) is not None and self.index < len(chunk.lines) else []
        holds += [ahead.start for ahead, _ in self.ahead]
        held: set[tuple[int, int]] = set()
        for hold in holds:
            file = (hold.dev, hold.inode)
            if file in held:
                continue
            held.add(file)
            same = [i for i, p in enumerate(positions) if (p.dev, p.inode) == file]
            if same:
                positions[same[0]] = hold
            else:
                positions.append(hold)
        return positions


@dataclass
class WatchSummary:
    """Per-log counts and notes, for the CLI's closing lines.

    ``unreadable``: one line per log of which lines were read and none matches
    its format; ``read_now``: lines read by this run (not before a restart);
    ``nothing_read``: why each log gave no line in this run (when none did);
    ``undelivered``: one line per sink that failed to deliver or dropped alerts.
    """

    logs: list[tuple[str, int, int, list[Any]]]  # path, lines, malformed, samples
    notes: list[str]
    unreadable: list[str] = field(default_factory=list)
    read_now: int = 0
    nothing_read: list[str] = field(default_factory=list)
    undelivered: list[str] = field(default_factory=list)


def describe_format(parser: Parser) -> str:
    """The LogFormat (or the formats tried) of ``parser``, for messages."""
    if isinstance(parser, FormatChoice):
        return " | ".join(f.format for f in parser.formats)
    return parser.format if isinstance(parser, LogFormat) else type(parser).__name__


class Watch:
    """Follows ``logs`` (and ``error_logs``), evaluates the rules, sends alert transitions to ``sinks``."""

    def __init__(self, logs: Sequence[AccessLog], error_logs: Sequence[ErrorLogTarget], sinks: Sequence[Sink],
                 options: WatchOptions | None = None, clock: Clock | None = None,
                 metrics: WatchMetrics | None = None, report: Callable[[str], None] | None = None) -> None:
        """``report``, when given, receives each note as it arises (a log that cannot be read, lost
        bytes, alerts not delivered); without it the notes wait in ``notes`` for the summary."""
        self.options = options or WatchOptions()
        self.clock = clock or SystemClock()
        self.metrics = metrics or WatchMetrics()
        self.sinks = list(sinks)
        self.notes: list[str] = []
        self.report = report
        self.model = self.options.config.model if self.options.config is not None else None
        canonical = self.model is not None and uses_canonical_names(self.model)
        self._host_columns = [host_column(log.parser, canonical) for log in logs] \
            if self.options.rules.host_moved.enabled else [None for _ in logs]
        self._durations = any(_logs_durations(log.parser) for log in logs)
        self.host_names = HostNames(self.options.rules.host_moved.max_hosts,
                                    config_names(self.model) if self.model is not None else ())
        self.host_examples = HostExamples()
        self._fresh()
        self.errors = ErrorLogBook(error_logs)
        self.batch = Batch()
        self.times = Times()
        self.scale = _duration_bins(self.options.rules) if scan_engine() == "c" else None  # the compiled scanner's bins
        # With a parser process the rows carry templates: the hot keys of every memo are
        # endpoints, fewer memo entries do, and memos that are full early keep memory flat.
        memo_size = TEMPLATED_CACHE if self.options.jobs > 1 else LABEL_CACHE
        templater = EndpointTemplater(self.options.endpoints, self.options.max_per_vhost, self.options.max_vhosts,
                                      cache_size=memo_size)
        self.labeler = Labeler(templater, SegmentTemplates(memo_size), limit=memo_size)
        self._logs = list(logs)
        self._error_targets = list(error_logs)
        self.inputs: list[_Input] = []
        self.error_inputs: list[Follower] = []
        self._next_prune = 0.0
        self._last_checkpoint = 0.0
        self._sink_trouble: dict[int, tuple[int, int]] = {}  # id(sink) -> (failed, dropped) already said
        self._notes_said: dict[int, int] = {}  # id(follower) -> its notes passed on
        self._dirty = False
        self._store: StateStore | None = None
        self._parser: ParserProcess | None = None
        self._parser_wanted = False  # a parser process is started at the first backlog (one attempt)
        self.started = False

    def _fresh(self) -> None:
        """The windows, rules, alerts and clock as they are before any checkpoint is restored."""
        rules = self.options.rules
        self.windows = Windows(rules.window_specs(), int(rules.endpoint_broken.window))
        # Per (Host, vhost): only when a log says which Host was asked for (host-moved).
        self.host_windows = Windows(rules.host_window_specs(), 1) if any(self._host_columns) else None
        self.latency = _latency_counts(rules) if self._durations else None
        self.evaluator = Evaluator(rules, self.windows, SERVER_ERROR_CAUSES, NOT_FOUND_CAUSES, self.host_windows,
                                   self.latency)
        self.evaluator.examples = self.host_examples
        self.evaluator.where = self._where
        self.book = AlertBook()
        self.log_clock = LogClock()
        self._next_due: dict[str, float] = {}
        with self.metrics.lock:
            self.metrics.series, self.metrics.logs, self.metrics.hosts, self.metrics.slow = {}, {}, {}, {}

    def _where(self, host: str, vhost: str) -> str | None:
        """The config line that sends ``host`` to ``vhost`` (with -f CONFIG), for host-moved alerts."""
        return where_now(self.model, host, vhost) if self.model is not None else None

    def _say(self, note: str) -> None:
        if self.report is not None:
            self.report(note)
        elif note not in self.notes:
            self.notes.append(note)

    # -- life cycle ------------------------------------------------------------

    def start(self) -> None:
        """Take the state (raises StateError if another watcher has it), restore it, open the logs.

        A checkpoint that cannot be restored is set aside with a note and the watcher starts
        afresh, as with no checkpoint: it never refuses to start."""
        wall = self.clock.time()
        state: dict[str, Any] = {}
        if self.options.state_dir is not None:
            paths = [log.path for log in self._logs] + [t.path for t in self._error_targets]
            self._store = StateStore(self.options.state_dir, state_name(paths))
            self._store.lock()
            state = self._store.load() or {}
            for note in self._store.notes:
                self._say(note)
        positions: dict[str, list[Position]] = {}
        error_positions: dict[str, list[Position]] = {}
        stats: dict[str, Any] = {}
        if state:
            try:
                positions, error_positions = _positions(state.get("logs", {})), _positions(state.get("error_logs", {}))
                stats = {decode_path(name): row for name, row in state.get("stats", {}).items()}
                self._restore(state, wall)
            except _RESTORE_ERRORS as problem:
                assert self._store is not None
                self._store.notes.clear()
                self._store.set_aside(f"it cannot be restored ({problem})")
                for note in self._store.notes:
                    self._say(note)
                self._fresh()
                state, positions, error_positions, stats = {}, {}, {}, {}
        at_end = not self.options.from_start and not state
        for log in self._logs:
            resume = positions.get(log.path, [])
            follower = Follower(log.path, resume, at_end=at_end)
            feeder = LineFeeder(log.path, log.parser, self.labeler, self.times, log.vhost,
                                templates=self.options.jobs > 1, host_column=self._host_columns[len(self.inputs)],
                                hosts=self.host_names, examples=self.host_examples, scale=self.scale)
            item = _Input(follower, feeder, len(self.inputs), resumed=bool(resume))
            lines, malformed, newest = stats.get(log.path, (0, 0, 0))
            feeder.stats.lines, feeder.stats.malformed, feeder.stats.newest = lines, malformed, newest
            item.start_lines = lines
            self.inputs.append(item)
        for target in self._error_targets:
            self.error_inputs.append(Follower(target.path, error_positions.get(target.path, []), at_end=at_end))
        # A parser process only for the logs the compiled scanner does not count (it needs no help).
        self._parser_wanted = self.options.jobs > 1 and any(not item.feeder.compiled for item in self.inputs)
        self._last_checkpoint = wall
        if self.options.gc == "tuned":
            gc.freeze()  # what start-up built lives for the whole run: keep it out of every collection
        self.started = True

    def close(self) -> None:
        """Count what is in hand, evaluate, checkpoint, and release the logs, the sinks and the state."""
        if not self.started:
            return
        wall = self.clock.time()
        self._tick(wall)
        self._check_readable(wall, at_end=True)
        self._publish(wall)
        self.checkpoint()
        if self._parser is not None:
            self._parser.close()
            self._parser = None
        for item in self.inputs:
            item.follower.close()
        for follower in self.error_inputs:
            follower.close()
        for sink in self.sinks:
            sink.close()
        if self._store is not None:
            self._store.unlock()
        if self.options.gc == "tuned":
            gc.unfreeze()
        self.started = False

    def run(self, duration: float | None = None, stop: threading.Event | None = None, once: bool = False) -> None:
        """Step until ``stop`` is set, ``duration`` wall seconds have passed, or (``once``) the logs are read."""
        deadline = None if duration is None else self.clock.time() + duration
        while True:
            busy = self.step()
            if stop is not None and stop.is_set():
                return
            if once and not busy:
                return
            if deadline is not None and self.clock.time() >= deadline:
                return
            if not busy:
                self.clock.sleep(self.options.poll_interval)

    # -- one step ------------------------------------------------------------------

    def step(self) -> bool:
        """Read what is there, count, evaluate what is due, notify, checkpoint when due; True if lines were read."""
        tuned = self.options.gc == "tuned"
        if tuned:
            gc.disable()  # records are freed by reference counting; the GC would only rescan the windows
        try:
            busy = self._read_access_logs(self.clock.time())
        finally:
            if tuned:
                gc.enable()
        wall = self.clock.time()
        self._tick(wall)
        if tuned:
            gc.collect(1)
        self._check_readable(wall, at_end=not busy)
        self._publish(wall)
        for sink in self.sinks:
            sink.tick(wall, self.book.firing())
        if self._dirty or wall - self._last_checkpoint >= self.options.checkpoint_interval:
            self.checkpoint()
        return busy

    def _read_access_logs(self, wall: float) -> bool:
        done = 0
        several = len(self.inputs) > 1
        busy = False
        while done < self.options.step_lines:
            boundary = self._boundary()
            reached = progressed = False
            for item in self.inputs:
                stopped, count = self._advance(item, boundary, wall, self.options.step_lines - done)
                if several:
                    item.feeder.flush(self.batch)  # each log's counts in the batch in turn, as they were read
                done += count
                reached |= stopped
                if count:
                    progressed = True
                    item.lag = max(0.0, wall - item.feeder.stats.newest)
            if progressed or reached:
                self.log_clock.busy(wall)
            self._observe(wall)
            busy |= progressed
            if reached:
                self._tick(wall)
            elif not progressed:
                self.log_clock.idle(wall)  # every log read to its end: the wall clock moves the windows
                break
        return busy

    def _advance(self, item: _Input, boundary: int, wall: float, budget: int) -> tuple[bool, int]:
        """Count ``item``'s lines until a line reaches ``boundary``, its data runs out, or ``budget`` lines."""
        fed = 0
        feeder = item.feeder
        while fed < budget:
            chunk = item.chunk
            if chunk is None or item.index >= len(chunk.lines):
                chunk = self._next_chunk(item, wall)
                if chunk is None:
                    return False, fed
            start = item.index
            item.index, stopped = feeder.feed(chunk.lines, start, chunk.first_line, boundary, self.batch, chunk.data)
            fed += item.index - start
            if stopped:
                return True, fed
        return False, fed

    def _next_chunk(self, item: _Input, wall: float) -> Chunk | None:
        """The next chunk to count (the first one ahead, parsed elsewhere, if any); then reads ahead again."""
        chunk: Chunk | None
        if item.ahead:
            chunk, ticket = item.ahead[0]
            self._take_parsed(item, chunk, ticket)
            item.ahead.popleft()  # only now: until it is the chunk in hand, a checkpoint must see it ahead
        else:
            chunk = item.follower.read(wall)
        item.chunk, item.index = chunk, 0
        if chunk is None:
            return None
        if chunk.too_long:
            item.feeder.count_dropped(chunk.too_long, chunk.first_line + len(chunk.lines))
        while (self._parser is not None or self._parser_wanted) and not item.feeder.compiled \
                and len(item.ahead) < LOOKAHEAD:
            # A backlog: while this chunk is counted, the parser process parses the next ones. When
            # it is behind, a chunk is left for this process to parse: the two share the work.
            ahead = item.follower.read(wall)
            if ahead is None:
                break
            parser = self._parser or self._start_parser()
            ticket = None
            if parser is not None:
                parser.collect()
                ticket = parser.submit(item.number, ahead.lines) if parser.has_room else None
            item.ahead.append((ahead, ticket))
            if parser is None or parser.failed:
                self._parser_failed()
                break
        return chunk

    def _start_parser(self) -> ParserProcess | None:
        """The parser process, started now: a watcher that never meets a backlog never needs one."""
        self._parser_wanted = False
        try:
            self._parser = ParserProcess([item.feeder.spec for item in self.inputs])
        except OSError as problem:
            self._say(f"no parser process ({problem}); parsing in the watcher")
        return self._parser

    def _take_parsed(self, item: _Input, chunk: Chunk, ticket: int | None) -> None:
        parser = self._parser
        parsed = parser.result(ticket) if parser is not None and ticket is not None else None
        if parsed is not None:
            item.feeder.prime(chunk.lines, *parsed)
        elif parser is not None and parser.failed:
            self._parser_failed()  # this chunk and those in flight are parsed here, by ``feed``

    def _parser_failed(self) -> None:
        if self._parser is not None:
            self._say(self._parser.failed or "the parser process failed")
            self._parser.close()
            self._parser = None

    def _observe(self, wall: float) -> None:
        newest = max((item.feeder.stats.newest for item in self.inputs), default=0)
        if newest:
            self.log_clock.observe(float(newest), wall)

    def _boundary(self) -> int:
        """The log second at which counting pauses for the next evaluation."""
        if not self.evaluator.due():
            return _FAR
        if not self._next_due:
            return 0  # pause at the first line: its time sets the clock, and the rules start from there
        return int(min(self._next_due.values())) + 1

    def _now(self, wall: float) -> float | None:
        if self.options.follow_wall:
            return self.log_clock.now(wall)
        return self.log_clock.log_time

    # -- evaluation ------------------------------------------------------------------

    def _tick(self, wall: float) -> None:
        """Fold the batch; read the error logs; evaluate the rules that are due at the log clock."""
        now = self._now(wall)
        if now is None:
            return
        self.times.now = int(now)
        for item in self.inputs:
            item.feeder.flush(self.batch)
        if self.batch:
            with self.metrics.lock:
                self.batch.fold(self.windows, self.metrics.add_series, int(now), self.host_windows,
                                self.metrics.hosts, self.latency)
                if self.latency is not None:
                    self.metrics.slow = self.latency.slow_totals
        self._read_error_logs(wall, now)
        for rule, interval in self.evaluator.due():
            if self._next_due.get(rule, now) > now:
                continue
            findings = self.evaluator.evaluate(rule, now)
            self._next_due[rule] = now + interval
            changes = self.book.apply(rule, findings, now, lambda finding: self._evidence(finding, now))
            self._emit(changes)
        if now >= self._next_prune:
            self.windows.prune(now, max((w.short for w in self.options.rules.slo_burn_rate.windows), default=0.0))
            if self.host_windows is not None:
                self.host_windows.prune(now, 0.0)
            if self.latency is not None:
                self.latency.prune(now, max((w.short for w in self.options.rules.latency_slo.windows), default=0.0))
            self._next_prune = now + PRUNE_EVERY

    def _evidence(self, finding: Finding, now: float) -> tuple[tuple[str, ...], str]:
        if not finding.causes:
            return (), ""
        settings = self.options.rules.evidence
        entries = self.errors.evidence(finding.since - settings.lookback, now, finding.vhost, finding.causes,
                                       settings.max_lines)
        if not entries:
            return (), ""
        return tuple(e.raw for e in entries) + _meanings(entries), " — error_log: " + "; ".join(e.brief for e in entries[:2])

    def _check_readable(self, wall: float, at_end: bool) -> None:
        """Fire (or resolve) a log-unreadable alert per log whose lines read so far all fail its format.

        ``at_end``: the logs were read to their end, so fewer than UNREADABLE_AFTER lines decide.
        """
        findings: dict[Any, Finding] = {}
        now = self._now(wall)
        when = wall if now is None else now
        for item in self.inputs:
            stats = item.feeder.stats
            unreadable = (0 < stats.lines == stats.malformed and (stats.lines >= UNREADABLE_AFTER or at_end)) \
                or stats.malformed_run >= UNREADABLE_RUN
            if unreadable:
                finding = self._unreadable(item, when)
                findings[finding.key] = finding
                if not item.unreadable:
                    self._say(finding.summary)
            item.unreadable = unreadable
        if findings or any(key[0] == UNREADABLE_RULE for key in self.book.active):
            self._emit(self.book.apply(UNREADABLE_RULE, findings, when, lambda finding: ((), "")))

    def _unreadable(self, item: _Input, when: float) -> Finding:
        stats, path = item.feeder.stats, printable(item.feeder.name)
        fmt = describe_format(self._logs[item.number].parser)
        first = stats.samples[0] if stats.samples else None
        observed: dict[str, Any] = {"log": path, "format": fmt, "lines": stats.lines}
        if stats.lines == stats.malformed:
            if first is not None:
                observed["first_error"] = f"line {first.line}: {first.error}"
            summary = (f"log unreadable: {path}: none of its {stats.lines} lines read matches the format tried "
                       f"({fmt}), so no alert can fire from it; pass --log-format or fix the LogFormat")
        else:
            observed["malformed_in_a_row"] = stats.malformed_run
            summary = (f"log unreadable: {path}: the last {stats.malformed_run} lines read match no format tried "
                       f"({fmt}): did the LogFormat change? No alert can fire from them")
        # The log's path stands in the endpoint field: one alert per log, and it says which.
        return Finding(UNREADABLE_RULE, "page", self._logs[item.number].vhost or "*", None, path, observed,
                       summary, when)

    def _emit(self, changes: list[Alert]) -> None:
        for alert in changes:
            self._dirty = True  # checkpoint right away: a restart must not announce it again
            for sink in self.sinks:
                try:
                    sink.send(alert)
                except Exception:
                    continue

    def _read_error_logs(self, wall: float, now: float) -> None:
        for follower in self.error_inputs:
            read = 0
            while read < ERROR_LINES_PER_STEP:
                chunk = follower.read(wall)
                if chunk is None:
                    break
                read += len(chunk.lines)
                entries = entries_from_lines(chunk.lines, follower.path)
                self.errors.add(entries, now)
                reload = next((e for e in reversed(entries) if e.code in RELOAD_CODES), None)
                if reload is not None:
                    self._config_reloaded(reload.raw, now)

    def _config_reloaded(self, notice: str, now: float) -> None:
        """httpd re-read its config (a restart notice in the error log): read it too, and fire host-moved
        at once for each known Host the new config sends to another vhost (offline routing), before
        traffic shows it. Hosts it no longer moves lose their reload finding."""
        source, hosts = self.options.config, self.host_windows
        if source is None or self.model is None or hosts is None or not self.options.rules.host_moved.enabled:
            return
        try:
            model = source.load()
        except Exception as problem:  # a config being edited can be anything; the watcher goes on
            self._say(f"the config was reloaded by httpd but cannot be read: {problem}")
            return
        old, self.model = self.model, model
        cfg = self.options.rules.host_moved
        baseline, _ = self.evaluator.host_counts(now)
        usual = {host: vhost for host, (vhost, _) in usual_vhosts(baseline, cfg.min_baseline, cfg.min_usual_share).items()}
        findings: dict[str, Finding] = {}
        for routed in config_moves(old, model, usual):
            vhost = usual[routed.host]
            if any(p.covers(routed.host, vhost.lower(), routed.vhost.lower()) for p in cfg.planned_moves):
                continue
            base = sum(baseline.get(routed.host, {}).values())
            decided = f" ({routed.line})" if routed.line else ""
            observed = {"host": routed.host, "usual_vhost": vhost, "new_vhost": routed.vhost, "requests": 0,
                        "moved": 0, "share": None, "baseline_requests": round(base, 1),
                        "window": describe(cfg.window), "baseline_window": describe(cfg.baseline),
                        "config": routed.line, "examples": [], "source": "config-reload", "port": routed.port,
                        "reload": notice}
            findings[routed.host] = Finding(
                "host-moved", cfg.severity, vhost, None, routed.host, observed,
                f"{routed.host} is now served by {routed.vhost}{decided}: the config httpd just reloaded sends it "
                f"there on port {routed.port} (usually {vhost}: {base:.0f} requests over the last "
                f"{describe(cfg.baseline)})", now)
        self.evaluator.reloaded = findings
        self._next_due["host-moved"] = now  # evaluate at once: the alert must not wait for traffic

    # -- publishing and checkpoints ----------------------------------------------------

    def _publish(self, wall: float) -> None:
        """Copy the per-log figures, the clock, firing alerts and sink outcomes into the metrics."""
        firing: dict[tuple[str, str], int] = {}
        for alert in self.book.firing():
            firing[(alert.rule, alert.severity)] = firing.get((alert.rule, alert.severity), 0) + 1
        notifications = {(sink.name, outcome): count for sink in self.sinks for outcome, count in sink.outcomes().items()}
        now = self._now(wall)
        with self.metrics.lock:
            for item in self.inputs:
                stats, follow = item.feeder.stats, item.follower.stats
                gauges = self.metrics.logs.setdefault(item.feeder.name, LogGauges())
                gauges.lines, gauges.malformed = stats.lines, stats.malformed
                gauges.rotations = follow.rotations + follow.truncations
                gauges.lag = item.lag
                gauges.backlog = item.follower.backlog()
                gauges.unreadable = int(item.unreadable)
                gauges.lost_bytes = follow.lost_bytes
            self.metrics.clock = now or 0.0
            self.metrics.firing = firing
            self.metrics.notifications = notifications
        self._pass_on_notes()

    def _pass_on_notes(self) -> None:
        """Say the followers' new notes (rotations found on resume, bytes lost) and sinks' new failures."""
        for follower in [item.follower for item in self.inputs] + self.error_inputs:
            said = self._notes_said.get(id(follower), 0)
            for note in follower.notes[said:]:
                self._say(note)
            self._notes_said[id(follower)] = len(follower.notes)
        for sink in self.sinks:
            trouble = self._trouble(sink)
            if trouble:
                self._say(trouble)

    def _trouble(self, sink: Sink) -> str | None:
        """A new failure (or drop) of ``sink`` since the last look, as a note; None when there is none."""
        outcomes = sink.outcomes()
        failed, dropped = outcomes.get("failed", 0), outcomes.get("dropped", 0)
        said = self._sink_trouble.get(id(sink), (0, 0))
        if failed <= said[0] and dropped <= said[1]:
            return None
        self._sink_trouble[id(sink)] = (failed, dropped)
        return _undelivered(sink, failed, dropped)

    def checkpoint(self) -> None:
        """Save positions, windows, metrics and alerts as of now (nothing is in the batch between steps)."""
        self._last_checkpoint = self.clock.time()
        self._dirty = False
        if self._store is None:
            return
        with self.metrics.lock:
            metrics = self.metrics.to_state()
        self._store.save({
            "logs": {encode_path(item.feeder.name): [p.to_json() for p in item.positions()] for item in self.inputs},
            "error_logs": {encode_path(f.path): [p.to_json() for p in f.positions()] for f in self.error_inputs},
            "clock": self.log_clock.to_state(),
            "next_due": self._next_due,
            "windows": self.windows.to_state(),
            "metrics": metrics,
            "alerts": self.book.to_state(),
            "host_windows": self.host_windows.to_state() if self.host_windows is not None else None,
            "latency": self.latency.to_state() if self.latency is not None else {"slow": None, "histograms": None},
            "stats": {encode_path(item.feeder.name): [item.feeder.stats.lines, item.feeder.stats.malformed,
                                                      item.feeder.stats.newest] for item in self.inputs},
        })

    def _restore(self, state: dict[str, Any], wall: float) -> None:
        """Windows, metrics, alerts and clock from a checkpoint (``start`` sets the positions and counts)."""
        self.log_clock.restore(state.get("clock", {}), wall)
        self._next_due = {str(k): float(v) for k, v in state.get("next_due", {}).items()}
        if not self.windows.restore(state.get("windows", {})):
            self._say("the rules' windows changed since the checkpoint: windows start empty")
        if self.host_windows is not None and state.get("host_windows"):
            self.host_windows.restore(state["host_windows"])
            self.host_names.seed(key[0] for key in self.host_windows.keys)
        if self.latency is not None and state.get("latency"):
            self.latency.restore(state["latency"])
        with self.metrics.lock:
            self.metrics.restore(state.get("metrics", {}), decode_path)
        self.book.restore(state.get("alerts", ()))
        self.labeler.seed([*self.windows.keys, *(k[:3] for k in self.metrics.series)])

    def summary(self) -> WatchSummary:
        logs = [(item.feeder.name, item.feeder.stats.lines, item.feeder.stats.malformed, item.feeder.stats.samples)
                for item in self.inputs]
        self._pass_on_notes()
        unreadable = [f"{printable(item.feeder.name)}: no line matches the format tried "
                      f"({describe_format(self._logs[item.number].parser)}), {item.feeder.stats.lines} read"
                      for item in self.inputs if 0 < item.feeder.stats.lines == item.feeder.stats.malformed]
        read_now = sum(item.feeder.stats.lines - item.start_lines for item in self.inputs)
        nothing = [] if read_now else [_why_nothing(item) for item in self.inputs]
        undelivered = [text for sink in self.sinks if (text := _undelivered(sink, sink.outcomes().get("failed", 0),
                                                                             sink.outcomes().get("dropped", 0)))]
        return WatchSummary(logs, list(self.notes), unreadable, read_now, nothing, undelivered)


def _logs_durations(parser: Parser) -> bool:
    """Whether the format(s) of ``parser`` log how long requests took (%D or %T)."""
    formats = parser.formats if isinstance(parser, FormatChoice) else (parser,) if isinstance(parser, LogFormat) else ()
    return bool(formats) and all(any(s.key == "duration_us" for s in f.fields) for f in formats)


def _duration_bins(rules: Rules) -> DurationBins | None:
    """The bins the compiled scanner counts durations in: every bound the metrics and latency rules read
    (None when a threshold is beyond what it counts: then the Python parser counts)."""
    slo = rules.latency_slo
    thresholds = {round(ms * 1000) for ms in (slo.threshold_ms, *(o.threshold_ms for o in slo.endpoints))}
    if any(not 0 < t < 1 << 62 for t in thresholds):
        return None
    return DurationBins(BUCKET_BOUNDS_US, thresholds)


def _latency_counts(rules: Rules) -> LatencyCounts | None:
    """What the enabled latency rules read (None: both are off)."""
    slo, regression = rules.latency_slo, rules.latency_regression
    if not slo.enabled and not regression.enabled:
        return None
    slow = Windows(rules.latency_window_specs(), 1) if slo.enabled else None
    histograms = Histograms(rules.histogram_specs()) if regression.enabled else None
    return LatencyCounts(slow, histograms, lambda key: round(slo.for_key(key)[1] * 1000))


def _positions(stored: dict[str, Any]) -> dict[str, list[Position]]:
    """A checkpoint's positions by path (its keys are ``state.encode_path``'s)."""
    return {decode_path(name): [Position.from_json(p) for p in items] for name, items in stored.items()}


def _why_nothing(item: _Input) -> str:
    path = printable(item.follower.path)
    try:
        size = os.stat(item.follower.path).st_size
    except OSError as problem:
        return f"{path}: {problem.strerror or 'cannot be read'}"
    if not size:
        return f"{path}: empty"
    if item.resumed:
        return f"{path}: no line written since the last checkpoint"
    return f"{path}: no line written since the start (a first run reads from the end; --from-start reads it all)"


def _undelivered(sink: Sink, failed: int, dropped: int) -> str | None:
    """``sink``'s failures as one line (where to, how many, the last error); None when it has none."""
    if not failed and not dropped:
        return None
    target = getattr(sink, "target", sink.name)
    error = getattr(sink, "last_error", None)
    counts = ", ".join(part for part in (f"{failed} failed" if failed else "",
                                         f"{dropped} dropped (not sent: queue full, or still queued at exit)" if dropped else "") if part)
    return f"alerts to {sink.name} {target}: {counts}" + (f" (last error: {error})" if error else "")


def _meanings(entries: list[ErrorEntry]) -> tuple[str, ...]:
    """What each catalogued code among the evidence means (the AH-code catalogue), once per code."""
    found = []
    for code in dict.fromkeys(e.code for e in entries if e.code):
        entry = explain_code(code)
        if entry is not None:
            found.append(f"{code} ({entry.module}): {entry.meaning} (vhostguard explain-code {code})")
    return tuple(found)

"""Parsing access-log lines in forked worker processes, so ``watch`` can use more than one core.

Parsing is most of the per-line cost and needs no shared state, so workers
do it: each gets chunks of lines and sends back, per log second in order of
appearance, the counts of (vhost, method, path, status) with their durations
and the malformed lines. Everything with state stays in the watcher: the
endpoint templates and their caps (first come, first kept, so they must be
decided in one place), the windows, the rules and the checkpoints. Results
are applied in the order the chunks were read.
"""
from __future__ import annotations

import gc
import multiprocessing
import queue
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vhostguard.logs.format import LineError
from vhostguard.logs.reader import Parser
from vhostguard.monitor.ingest import SegmentTemplates, Times, raw_getter

NO_TIME = -1  # a line without time: the watcher counts it at its clock

Group = tuple[int, list[tuple[tuple[Any, Any, Any, Any], list[int | None]]]]  # (second, [((vhost, method, path, status), durations)])


@dataclass(frozen=True)
class Parsed:
    """What a worker made of one chunk."""

    seconds: list[Group]
    malformed: list[tuple[int, str]]  # (index in the chunk, message)


class WorkerError(RuntimeError):
    """A parse worker died (its message says how)."""


def parse_chunk(lines: Sequence[str], parser: Parser, default_vhost: str | None, times: Times,
                template: Callable[[str | None], str] | None = None) -> Parsed:
    """Group ``lines`` by log second; the same reading as ``LineFeeder.feed`` makes.

    ``template`` (automatic endpoint templates, when no user pattern needs the raw path) turns
    paths into templates here, so that requests to one endpoint travel back as one group.
    """
    parse = parser.parse
    raw_of = raw_getter(parser, default_vhost)
    cache = times.cache
    by_second: dict[int, dict[tuple[Any, Any, Any, Any], list[int | None]]] = {}
    malformed: list[tuple[int, str]] = []
    last_time: object = by_second
    counts: dict[tuple[Any, Any, Any, Any], list[int | None]] = {}
    for index, line in enumerate(lines):
        try:
            r = parse(line)
        except LineError as problem:
            malformed.append((index, problem.message))
            continue
        t = r.get("time")
        if t is not last_time:
            last_time = t
            sec = NO_TIME if t is None else cache.get(t) or times.convert(t)
            counts = by_second.get(sec)  # type: ignore[assignment]
            if counts is None:
                counts = by_second[sec] = {}
        vhost, method, path = raw_of(r)
        if template is not None:
            path = template(path)
        key = (vhost, method, path, r.get("status"))
        durations = counts.get(key)
        if durations is None:
            counts[key] = [r.get("duration_us")]
        else:
            durations.append(r.get("duration_us"))
    return Parsed([(sec, list(groups.items())) for sec, groups in by_second.items()], malformed)


def _serve(jobs: Any, results: Any, inputs: list[tuple[Parser, str | None]], templates: bool) -> None:
    # The terminal's Ctrl-C reaches the whole process group: the watcher decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.disable()  # parsed records hold no cycles; collecting would only cost
    times = Times()
    template = SegmentTemplates() if templates else None
    while True:
        job = jobs.get()
        if job is None:
            return
        index, lines = job
        parser, default_vhost = inputs[index]
        results.put(parse_chunk(lines, parser, default_vhost, times, template))


class ParsePool:
    """``workers`` forked processes parsing chunks for the logs ``inputs`` (parser, default vhost).

    Jobs and results travel through ``multiprocessing.Queue``s, whose feeder threads send in the
    background: neither side ever waits for the other to read, so parsing and counting overlap.
    """

    def __init__(self, inputs: list[tuple[Parser, str | None]], workers: int, templates: bool) -> None:
        context = multiprocessing.get_context("fork")
        self._workers: list[tuple[Any, Any, Any]] = []
        for _ in range(workers):
            jobs, results = context.Queue(), context.Queue()
            process = context.Process(target=_serve, args=(jobs, results, inputs, templates), name="vhostguard-parse",
                                      daemon=True)
            process.start()
            self._workers.append((process, jobs, results))
        self._next = 0
        self._sent = [0] * workers  # jobs sent per worker
        self._received = [0] * workers
        self._waiting: list[dict[int, Parsed]] = [{} for _ in range(workers)]

    def submit(self, index: int, lines: list[str]) -> tuple[int, int]:
        """Send a chunk of log ``index``; returns the ticket to ask its result with."""
        worker = self._next
        self._next = (self._next + 1) % len(self._workers)
        self._workers[worker][1].put((index, lines))
        ticket = (worker, self._sent[worker])
        self._sent[worker] += 1
        return ticket

    def result(self, ticket: tuple[int, int]) -> Parsed:
        """The result of ``ticket`` (waits for it; a worker answers its jobs in order)."""
        worker, number = ticket
        process, _, results = self._workers[worker]
        waiting = self._waiting[worker]
        while number not in waiting:
            try:
                waiting[self._received[worker]] = results.get(timeout=1.0)
            except queue.Empty:
                if not process.is_alive():
                    raise WorkerError(f"a parse worker died (exit {process.exitcode})") from None
                continue
            self._received[worker] += 1
        return waiting.pop(number)

    def close(self) -> None:
        for _, jobs, _ in self._workers:
            jobs.put(None)
        for process, jobs, results in self._workers:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
            for q in (jobs, results):
                q.close()
                q.cancel_join_thread()  # jobs never taken must not hold the watcher at exit
        self._workers = []

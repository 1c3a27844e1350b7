"""All usable cores on big logs: byte ranges at line boundaries, and the one pool that reads them.

``spans`` cuts a plain file (or a byte range of it) at line starts; a
compressed file cannot be entered in the middle and is never cut.
``fold_jobs`` reads jobs in forked processes: each worker folds the jobs it
takes (in order, from a shared counter) into one partial value, which alone
crosses the pipe back (pickling records would cost more than parsing them);
the parent is a worker too, and merges the partial values in worker order.
Forking shares what the parent built (compiled formats, models) copy on write.
"""
from __future__ import annotations

import itertools
import os
import signal
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO, TypeVar

from vhostguard.logs.reader import is_compressed

SEEK_BLOCK = 1 << 16  # bytes read at a time looking for the end of a line
J = TypeVar("J")
A = TypeVar("A")


class WorkerError(RuntimeError):
    """A worker process failed (the message carries its traceback) or exited without its result."""


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def spans(path: str, parts: int, start: int = 0, end: int | None = None) -> list[tuple[int, int]] | None:
    """Up to ``parts`` byte ranges of [start, end) of ``path`` (default: the whole file) that start and
    end at line boundaries (``start`` is one). None for a compressed file (it cannot be entered in the middle).
    """
    with open(path, "rb") as handle:
        if is_compressed(handle.read(6)):
            return None
        size = handle.seek(0, os.SEEK_END) if end is None else end
        bounds = [start]
        for i in range(1, parts):
            cut = max(start + (size - start) * i // parts, bounds[-1])
            bounds.append(min(_line_end(handle, cut, size), size))  # to the end of the line the cut falls in
        bounds.append(size)
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a] or [(start, start)]


def _line_end(handle: BinaryIO, offset: int, limit: int) -> int:
    """Where the line holding byte ``offset`` ends (after its newline), or ``limit``; read a block at a
    time (a file with no newline is never held whole: ``readline`` would read it all)."""
    handle.seek(offset)
    while offset < limit:
        block = handle.read(min(SEEK_BLOCK, limit - offset))
        if not block:
            break
        newline = block.find(b"\n")
        if newline >= 0:
            return offset + newline + 1
        offset += len(block)
    return limit


def fold_jobs(jobs: Sequence[J], empty: Callable[[], A], read: Callable[[A, J], None], merge: Callable[[A, A], None],
              workers: int, done: Callable[[J], None] | None = None) -> A:
    """``read(partial, job)`` for every job, on ``workers`` processes (forked; the parent is one), each
    worker's partial value starting as ``empty()``; the partials ``merge``d into the parent's in worker
    order. ``done(job)`` is called in the parent as each job completes (progress).

    The partial values cross a pipe (they must pickle). Raises WorkerError when a worker fails.
    """
    report = done or (lambda job: None)
    if workers <= 1 or len(jobs) <= 1:
        total = empty()
        for job in jobs:
            read(total, job)
            report(job)
        return total
    import multiprocessing  # here: cutting spans needs no process machinery
    from multiprocessing.connection import Connection

    context = multiprocessing.get_context("fork")
    counter = context.Value("i", 0)
    children: list[tuple[Any, Connection]] = []
    try:
        for _ in range(min(workers, len(jobs)) - 1):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_worker, args=(jobs, empty, read, counter, send), daemon=True)
            process.start()
            send.close()
            children.append((process, receive))
        own = empty()
        finished: dict[int, A] = {}
        for _, job in _take(jobs, counter):
            read(own, job)
            report(job)
            _poll(jobs, children, finished, report, block=False)
        while len(finished) < len(children):
            _poll(jobs, children, finished, report, block=True)
        for number in range(len(children)):
            merge(own, finished[number])
        return own
    finally:
        for process, receive in children:
            receive.close()
            if process.is_alive():
                process.terminate()
            process.join()


def _take(jobs: Sequence[J], counter: Any) -> Iterator[tuple[int, J]]:
    while True:
        with counter.get_lock():
            index = counter.value
            counter.value = index + 1
        if index >= len(jobs):
            return
        yield index, jobs[index]


def _poll(jobs: Sequence[J], children: list[tuple[Any, Any]], finished: dict[int, A],
          report: Callable[[J], None], block: bool) -> None:
    from multiprocessing.connection import wait

    live = [receive for number, (_, receive) in enumerate(children) if number not in finished]
    for ready in wait(live, timeout=None if block else 0):
        number = next(i for i, (_, r) in enumerate(children) if r is ready)
        try:
            kind, payload = children[number][1].recv()
        except EOFError:
            raise WorkerError(f"reader {number} exited without a result") from None
        if kind == "progress":
            report(jobs[payload])
        elif kind == "done":
            finished[number] = payload
        else:
            raise WorkerError(f"reader {number} failed:\n{payload}")


def _worker(jobs: Sequence[J], empty: Callable[[], A], read: Callable[[A, J], None], counter: Any, send: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles ^C and stops us
    try:
        partial = empty()
        for index, job in _take(jobs, counter):
            read(partial, job)
            send.send(("progress", index))
        send.send(("done", partial))
    except BaseException:
        send.send(("error", traceback.format_exc()))
    finally:
        send.close()

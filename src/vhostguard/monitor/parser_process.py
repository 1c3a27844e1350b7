"""A second process that turns ``watch``'s chunks of lines into rows, so the first one only counts.

Parsing is more than half of the watcher's work per line (the LogFormat
split path: strings, splits, numbers). Under a backlog the watch loop reads
one chunk ahead and hands it to this process; while it is parsed, the loop
counts the chunk before it. Rows come back pickled (about a tenth of what
parsing costs). At the live edge, where no chunk waits, the loop parses
itself: handing a lone chunk over would only add a round trip.

Up to ``DEPTH`` requests are in flight, so the other process always has
the next chunk at hand; it answers in order, and writes its answers from a
thread, so it never stops reading requests and the two processes can never
block each other on full pipes. The process is a fresh interpreter running this
module (not a fork: the watcher has threads, the metrics server), talking
pickles over its stdin and stdout; it ignores SIGINT (the terminal's Ctrl-C
is the parent's to handle) and exits when its input ends, which is also
what happens when the watcher dies. If it fails, :meth:`ParserProcess.result` says so (None) and the
watcher parses on its own from then on: a failed helper never loses lines.
"""
from __future__ import annotations

import fcntl
import gc
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

from vhostguard.logs.reader import Parser
from vhostguard.logs.rows import request_rows

Rows = tuple[list[tuple[Any, ...]], list[int]]
JOIN_SECONDS = 2.0
DEPTH = 4  # chunks handed over and not yet taken back
PIPE_BYTES = 1 << 20


@dataclass(frozen=True)
class RowsSpec:
    """What ``request_rows`` needs to rebuild a log's row parser in the other process."""

    parser: Parser
    extra: tuple[str, ...]
    default_vhost: str | None


class ParserProcess:
    """Parses ``(log index, lines)`` requests with the row parsers of ``specs``, one at a time."""

    def __init__(self, specs: Sequence[RowsSpec]) -> None:
        # A plain child interpreter: no fork of a threaded process, no re-import of the caller's main module.
        self._process = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, close_fds=True)
        assert self._process.stdin is not None and self._process.stdout is not None
        self._send, self._receive = self._process.stdin, self._process.stdout
        for stream in (self._send, self._receive):
            _widen(stream)
        self._in_flight: deque[int] = deque()  # tickets, in the order the answers come
        self._answered: dict[int, Rows] = {}  # answers read while waiting for a later ticket
        self._tickets = 0
        self.failed: str | None = None
        self._write(tuple(specs))

    @property
    def has_room(self) -> bool:
        """Working, and fewer than DEPTH requests in flight."""
        return self.failed is None and len(self._in_flight) < DEPTH

    def submit(self, index: int, lines: list[str]) -> int | None:
        """Hand over ``lines`` of log ``index``: the ticket to ask ``result`` with, None if the process is gone."""
        assert self.has_room, "too many requests in flight"
        if not self._write((index, lines)):
            return None
        self._tickets += 1
        self._in_flight.append(self._tickets)
        return self._tickets

    def result(self, ticket: int) -> Rows | None:
        """The rows of request ``ticket`` (waits for them), or None if the process failed."""
        while ticket not in self._answered:
            if self.failed is not None or not self._in_flight:
                return None
            answered = self._in_flight.popleft()
            try:
                answer = pickle.load(self._receive)
            except (EOFError, OSError, pickle.UnpicklingError) as problem:
                self.failed = f"the parser process is gone ({problem or 'end of pipe'}); parsing in the watcher"
                return None
            if isinstance(answer, str):
                self.failed = f"the parser process failed: {answer}; parsing in the watcher"
                return None
            self._answered[answered] = answer
        return self._answered.pop(ticket)

    def close(self) -> None:
        for stream in (self._send, self._receive):
            try:
                stream.close()  # end of input: the process returns
            except OSError:
                pass
        try:
            self._process.wait(JOIN_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _write(self, message: Any) -> bool:
        try:
            pickle.dump(message, self._send, pickle.HIGHEST_PROTOCOL)
            self._send.flush()
        except (OSError, ValueError) as problem:
            self.failed = f"the parser process is gone ({problem}); parsing in the watcher"
            return False
        return True


def _widen(stream: IO[bytes]) -> None:
    """Let the pipe hold DEPTH chunks (Linux: 64 KiB by default, one chunk), so a write rarely waits."""
    try:
        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (OSError, AttributeError):
        pass  # another kernel, or a lower limit: writes wait for the reader sooner, nothing else changes


def serve(receive: BinaryIO, send: BinaryIO) -> None:
    """The child's loop: specs first, then a request per message until the input ends."""
    specs: tuple[RowsSpec, ...] = pickle.load(receive)
    parsers = [request_rows(spec.parser, spec.extra, spec.default_vhost).rows for spec in specs]
    answers: queue.SimpleQueue[Rows | str | None] = queue.SimpleQueue()
    writer = threading.Thread(target=_write_answers, args=(answers, send), daemon=True)
    writer.start()
    while True:
        try:
            index, lines = pickle.load(receive)
        except (EOFError, OSError):
            break  # the watcher closed the pipe, or is gone
        try:
            answers.put(parsers[index](lines))
        except Exception as problem:  # noqa: BLE001 - reported to the watcher, which parses itself from then on
            answers.put(f"{type(problem).__name__}: {problem}")
    answers.put(None)
    writer.join(JOIN_SECONDS)


def _write_answers(answers: queue.SimpleQueue[Rows | str | None], send: BinaryIO) -> None:
    while (answer := answers.get()) is not None:
        try:
            pickle.dump(answer, send, pickle.HIGHEST_PROTOCOL)
            send.flush()
        except (OSError, ValueError):
            return


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the watcher's to handle; it closes the pipe
    gc.disable()  # rows are freed by reference counting; nothing here makes cycles
    serve(sys.stdin.buffer, sys.stdout.buffer)

"""A second process that turns ``watch``'s chunks of lines into rows, so the first one mostly counts.

Parsing is about half of the watcher's work per line (the LogFormat split
path: strings, splits, numbers). Under a backlog the watch loop reads a few
chunks ahead and hands them to this process; while they are parsed, the loop
counts the chunk before them. Rows come back pickled; the pickles, both
ways, cost about a third of what parsing does (measured: 0.8 s against
2.4-2.8 s for 600k lines), so the two processes together spend about 30%
more CPU than one, and win only when the second CPU is free. Without user
endpoint patterns the rows carry the path's automatic template rather than
the path: the templating moves here too, and a chunk's pickle holds each
template once. At the live edge, where no chunk
waits, the loop parses itself: handing a lone chunk over would only add a
round trip.

The two processes share the work: a chunk goes to this process only while
fewer than ``DEPTH`` of its requests are unanswered (``collect`` takes in
the answers that have arrived, without waiting); otherwise the watcher
parses it itself when its turn comes. Answers come in request order, each
framed by its length; this process writes them from a thread, so it never
stops reading requests and neither process can block the other on a full
pipe.

The process is a fresh interpreter running this module (not a fork: the
watcher has threads, the metrics server), started at the watcher's first
backlog: a watcher that keeps up by itself never has one. It ignores SIGINT (the terminal's
Ctrl-C is the watcher's to handle) and exits when its input ends, which is
also what happens when the watcher dies. If it fails, ``failed`` says why,
and the watcher parses on its own from then on: its chunks are still in
hand, so no line is lost.
"""
from __future__ import annotations

import fcntl
import gc
import os
import pickle
import queue
import select
import signal
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from vhostguard.logs import SegmentTemplates
from vhostguard.logs import Parser
from vhostguard.logs import request_rows

Rows = tuple[list[tuple[Any, ...]], list[int]]
JOIN_SECONDS = 2.0
DEPTH = 3  # requests the process has not answered yet, at most
PIPE_BYTES = 1 << 20
MEMO = 1 << 14  # paths (and path segments) whose templates are remembered; cleared when full. Small:
# the common paths fit, and the watcher's memory must stay flat (its memos hold the same for the labels)
FRAME = struct.Struct("<Q")  # each message: its length, then its pickle


@dataclass(frozen=True)
class RowsSpec:
    """What ``request_rows`` needs to rebuild a log's row parser in the other process."""

    parser: Parser
    extra: tuple[str, ...]
    default_vhost: str | None
    # Rows carry the path's automatic template instead of the path (``auto_template`` is
    # idempotent, so the watcher's labels are the same); only without user patterns, which
    # must see the raw path.
    templates: bool = False


class ParserProcess:
    """Parses ``(log index, lines)`` requests with the row parsers of ``specs``, answering in order."""

    def __init__(self, specs: Sequence[RowsSpec]) -> None:
        # A plain child interpreter: no fork of a threaded process, no re-import of the caller's main module.
        self._process = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, close_fds=True)
        assert self._process.stdin is not None and self._process.stdout is not None
        self._send = self._process.stdin
        self._fd = self._process.stdout.fileno()  # read raw: a poll must see everything that has arrived
        for stream in (self._process.stdin, self._process.stdout):
            _widen(stream)
        self._buffer = bytearray()
        self._in_flight: deque[int] = deque()  # tickets not answered yet, in the order the answers come
        self._answered: dict[int, Rows] = {}
        self._tickets = 0
        self.failed: str | None = None
        self._write(tuple(specs))

    @property
    def has_room(self) -> bool:
        """Working, and fewer than DEPTH requests it has not answered yet (see ``collect``)."""
        return self.failed is None and len(self._in_flight) < DEPTH

    def collect(self) -> None:
        """Take in the answers that have arrived, without waiting."""
        while self.failed is None and self._in_flight and select.select([self._fd], [], [], 0)[0]:
            self._pump()

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
            if self.failed is not None or ticket not in self._in_flight:
                return None
            self._pump()
        return self._answered.pop(ticket)

    def close(self) -> None:
        try:
            self._send.close()  # end of input: the process returns
        except OSError:
            pass
        try:
            self._process.wait(JOIN_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process.stdout.close()  # type: ignore[union-attr]

    def _pump(self) -> None:
        """Read what the pipe has (waiting for at least a byte) and file every complete answer."""
        try:
            data = os.read(self._fd, PIPE_BYTES)
        except OSError as problem:
            data, self.failed = b"", f"the parser process is gone ({problem}); parsing in the watcher"
        if not data:
            self.failed = self.failed or "the parser process is gone (end of pipe); parsing in the watcher"
            return
        buffer = self._buffer
        buffer += data
        while len(buffer) >= FRAME.size:
            (size,) = FRAME.unpack_from(buffer)
            if len(buffer) < FRAME.size + size:
                break
            answer = pickle.loads(bytes(buffer[FRAME.size:FRAME.size + size]))
            del buffer[:FRAME.size + size]
            ticket = self._in_flight.popleft()
            if isinstance(answer, str):
                self.failed = f"the parser process failed: {answer}; parsing in the watcher"
                return
            self._answered[ticket] = answer

    def _write(self, message: Any) -> bool:
        try:
            _send_frame(self._send, message)
        except (OSError, ValueError) as problem:
            self.failed = f"the parser process is gone ({problem}); parsing in the watcher"
            return False
        return True


def _send_frame(stream: IO[bytes], message: Any) -> None:
    payload = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    stream.write(FRAME.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def _read_frame(stream: IO[bytes]) -> Any:
    """The next message, or raises EOFError at the end of the input."""
    head = stream.read(FRAME.size)
    if len(head) < FRAME.size:
        raise EOFError
    (size,) = FRAME.unpack(head)
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError
    return pickle.loads(payload)


def _widen(stream: IO[bytes]) -> None:
    """Let the pipe hold DEPTH chunks (Linux: 64 KiB by default, one chunk), so a write rarely waits."""
    try:
        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (OSError, AttributeError):
        pass  # another kernel, or a lower limit: writes wait for the reader sooner, nothing else changes


def serve(receive: IO[bytes], send: IO[bytes]) -> None:
    """The child's loop: specs first, then a request per message until the input ends."""
    specs: tuple[RowsSpec, ...] = _read_frame(receive)
    parsers = [row_parser(spec) for spec in specs]
    answers: queue.SimpleQueue[Rows | str | None] = queue.SimpleQueue()
    writer = threading.Thread(target=_write_answers, args=(answers, send), daemon=True)
    writer.start()
    while True:
        try:
            index, lines = _read_frame(receive)
        except (EOFError, OSError):
            break  # the watcher closed the pipe, or is gone
        try:
            answers.put(parsers[index](lines))
        except Exception as problem:
            answers.put(f"{type(problem).__name__}: {problem}")
    answers.put(None)
    writer.join(JOIN_SECONDS)


def row_parser(spec: RowsSpec) -> Callable[[list[str]], Rows]:
    """``spec``'s rows of a list of lines (``request_rows``; paths as templates when ``spec.templates``)."""
    parse = request_rows(spec.parser, spec.extra, spec.default_vhost).rows
    if not spec.templates:
        return parse
    auto = SegmentTemplates(MEMO)
    known: dict[str | None, str] = {}  # path -> template; the same template object each time, so
    # the pickle of a chunk holds each template once

    def templated(lines: list[str]) -> Rows:
        rows, bad = parse(lines)
        get = known.get
        out = []
        for row in rows:
            path = row[2]
            template = get(path)
            if template is None:
                template = auto(path)
                template = known.setdefault(template, template)
                if len(known) >= MEMO:
                    known.clear()
                known[path] = template
            out.append((row[0], row[1], template, *row[3:]))
        return out, bad

    return templated


def _write_answers(answers: queue.SimpleQueue[Rows | str | None], send: IO[bytes]) -> None:
    while (answer := answers.get()) is not None:
        try:
            _send_frame(send, answer)
        except (OSError, ValueError):
            return


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the watcher's to handle; it closes the pipe
    gc.disable()  # rows are freed by reference counting; nothing here makes cycles
    serve(sys.stdin.buffer, sys.stdout.buffer)

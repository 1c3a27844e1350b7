"""The lines of a time-ordered log since a time: one binary search over byte offsets.

httpd appends each line when the request ends, so a log is in time order
(give or take the requests in flight: a line's ``%t`` is when its request
started). ``offset_since(handle, size, at, time_of)`` finds where the lines
of ``at`` and later begin without reading what comes before: ``doctor``'s
windows, the deploy gate's replay window and the verification baseline all
use it; ``window_span(path, parser, since, until)`` wraps it for the readers of
a time window (the verification baseline, the postmortem's impact). Lines
without a readable time (malformed, another format) are passed over; too many
in a row is :class:`UntimedLog`, the sign that the log is not in the format it
is read in.

Lines are cut and decoded as ``iter_lines`` does: they end at ``\\n``, the
``\\r`` of a CRLF is dropped, bytes that are not UTF-8 become ``\\xhh``.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Callable
from datetime import datetime
from typing import Any, BinaryIO

from vhostguard.logs.format import LineError
from vhostguard.logs.reader import FormatChoice, Parser, count_newlines, is_compressed

MAX_LINE_BYTES = 1 << 20  # read of one line while searching (a longer one is cut there, as a probe)
PROBE_LINES = 64  # lines read at a probe of the binary search before giving up on finding a time
NEAR_BYTES = 1 << 13  # the binary search stops this close to the window's start, then reads forward
MAX_UNTIMED = 2000  # lines in a row without a readable time: the log is not in the format it is read in
TAIL_BYTES = 1 << 18  # of a log's end read for its last time
# A line's %t is when its request started, and httpd writes the line when the request ends: a request that
# took longer than this may be logged after lines of a later time. ``window_span`` widens the window by it
# on both sides, so only such a request landing on a probe of the binary search could move the cut past a
# line of the window.
ORDER_SLACK = 600.0

TimeOf = Callable[[str], "float | None"]


class UntimedLog(ValueError):
    """No time could be read from ``MAX_UNTIMED`` lines in a row where the window was sought."""


def line_text(raw: bytes) -> str:
    """One line's bytes as ``iter_lines`` gives it: without its ``\\n`` and a ``\\r`` before it, not UTF-8 as ``\\xhh``."""
    text = raw.decode("utf-8", "backslashreplace")
    text = text[:-1] if text.endswith("\n") else text
    return text[:-1] if text.endswith("\r") else text


def epoch(stamp: Any) -> float | None:
    """Seconds since the epoch of a record's ISO ``time`` (None when it has none).

    A time logged without zone (``%{%F %T}t``) is local time, as httpd wrote
    it and as ``report`` and ``watch`` read it.
    """
    if not stamp or not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return None


def record_time(parser: Parser) -> TimeOf:
    """A line's time (epoch seconds) through ``parser``; None when the line does not parse or logs none."""
    parse = parser.parse

    def time_of(line: str) -> float | None:
        try:
            return epoch(parse(line).get("time"))
        except LineError:
            return None
    return time_of


def offset_since(handle: BinaryIO, size: int, at: float, time_of: TimeOf, low: int = 0) -> int:
    """The offset of the first line from ``low`` on whose time is ``at`` or later (``size``: none).

    ``low`` is a line start. A binary search on byte offsets narrows the
    range to ``NEAR_BYTES``, probing the first timed line after each middle;
    then lines are read forward. Raises UntimedLog (and OSError).
    """
    high = size
    while high - low > NEAR_BYTES:
        middle = (low + high) // 2
        probe = first_timed(handle, middle, high, time_of)
        if probe is not None and probe[1] < at:
            low = probe[0]
        else:
            high = middle
    handle.seek(low)
    position = low
    untimed = 0
    while position < size:
        raw = handle.readline(MAX_LINE_BYTES)
        if not raw:
            break
        when = time_of(line_text(raw))
        if when is not None and when >= at:
            return position
        untimed = untimed + 1 if when is None else 0
        if untimed > MAX_UNTIMED:
            raise UntimedLog(f"no time could be read from {MAX_UNTIMED} lines in a row after byte {position - len(raw)}")
        position += len(raw)
    return size


def window_span(path: str, parser: Parser, since: float, until: float | None = None,
                slack: float = ORDER_SLACK) -> tuple[int, int] | None:
    """The byte range [start, end) of ``path`` that holds every line whose time is in [``since``, ``until``]
    (``until`` None: to the end), found by ``offset_since`` widened by ``slack`` seconds each side: the
    lines before ``start`` and from ``end`` on are never read. The range may hold lines of other times
    (filter them) and ``start`` is a line start.

    None when the log must be read whole: not a regular file, compressed (it cannot be entered in the
    middle), its format logs no time, no time readable at its end (another format) or where the window
    was sought (``UntimedLog``). Raises OSError.
    """
    if not _logs_time(parser):
        return None
    with open(path, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode) or is_compressed(handle.read(6)):
            return None
        size = handle.seek(0, os.SEEK_END)
        time_of = record_time(parser)
        if last_time(handle, size, time_of) is None:
            return None  # not a log of this format: read whole, its lines counted as they are
        try:
            start = offset_since(handle, size, since - slack, time_of)
            end = size if until is None else offset_since(handle, size, until + slack, time_of, start)
        except UntimedLog:
            return None
    return start, end


def _logs_time(parser: Parser) -> bool:
    """Does ``parser`` give records a ``time`` (a LogFormat with %t or %{...}t among the keys it fills)?"""
    formats = parser.formats if isinstance(parser, FormatChoice) else (parser,)
    return any("time" in getattr(fmt, "keys", ("time",)) for fmt in formats)


def first_timed(handle: BinaryIO, offset: int, limit: int, time_of: TimeOf) -> tuple[int, float] | None:
    """(start, time) of the first line starting after ``offset`` (before ``limit``) whose time is known
    (``offset`` -1: the first line of the file included)."""
    handle.seek(max(offset, 0))
    if offset >= 0:
        handle.readline(MAX_LINE_BYTES)  # the rest of the line ``offset`` falls in (-1: from the first line)
    for _ in range(PROBE_LINES):
        position = handle.tell()
        if position >= limit:
            return None
        raw = handle.readline(MAX_LINE_BYTES)
        if not raw:
            return None
        when = time_of(line_text(raw))
        if when is not None:
            return position, when
    return None


def last_time(handle: BinaryIO, size: int, time_of: TimeOf) -> float | None:
    """The time of the last line of the log whose time is readable (among its last ``PROBE_LINES``)."""
    start = max(0, size - TAIL_BYTES)
    handle.seek(start)
    lines = handle.read(size - start).split(b"\n")
    if start > 0:
        lines = lines[1:]  # the first piece is the end of a line cut in the middle
    for raw in reversed(lines[-PROBE_LINES:]):
        if raw.strip():
            when = time_of(line_text(raw))
            if when is not None:
                return when
    return None


def count_lines(handle: BinaryIO, start: int, end: int) -> int:
    """Lines in [start, end) (both line starts, or ``end`` the end of the file; a last line without newline counts)."""
    count = count_newlines(handle, start, end)
    if end > start:
        handle.seek(end - 1)
        count += handle.read(1) != b"\n"
    return count


def skip_lines(handle: BinaryIO, start: int, lines: int) -> int:
    """The offset ``lines`` lines after ``start`` (a line start; the end of the file when there are fewer)."""
    handle.seek(start)
    offset = start
    while lines > 0:
        chunk = handle.read(1 << 20)
        if not chunk:
            break
        count = chunk.count(b"\n")
        if count < lines:
            lines -= count
            offset += len(chunk)
            continue
        cut = -1
        for _ in range(lines):
            cut = chunk.index(b"\n", cut + 1)
        return offset + cut + 1
    return offset


def lines_before(path: str, offset: int, start: int = 0, base: int = 0) -> int:
    """How many lines start before byte ``offset`` of ``path`` (the line number base of a range read from
    the middle, as an editor numbers lines): newlines counted from ``start``, where ``base`` lines are known
    to start before. 0 when the file cannot be read."""
    try:
        with open(path, "rb") as handle:
            return base + count_newlines(handle, start, offset)
    except OSError:
        return base

"""logs.window_span: the byte range of a time window in a plain log, or None when it must be read whole.

Offsets are computed from the lines the test writes, never from our own output."""
from __future__ import annotations

import gzip
from datetime import datetime, timedelta, UTC
from pathlib import Path

from vhostguard.logs import compile_format, window_span

T0 = datetime(2026, 12, 4, 10, 0, 0, tzinfo=UTC)
COMMON = compile_format('%h %l %u %t "%r" %>s %b')


def _line(moment: datetime, path: str = "/") -> str:
    return f'10.0.0.1 - - [{moment.strftime("%d/%b/%Y:%H:%M:%S +0000")}] "GET {path} HTTP/1.1" 200 10\n'


def _write(path: Path, seconds: list[float]) -> list[int]:
    """The log of one request at each second after T0; returns each line's start offset."""
    lines = [_line(T0 + timedelta(seconds=s)) for s in seconds]
    path.write_text("".join(lines))
    starts, offset = [], 0
    for text in lines:
        starts.append(offset)
        offset += len(text)
    return starts


def test_the_span_starts_and_ends_at_the_window_lines_of_a_big_log(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    seconds = [n * 0.5 for n in range(100_000)]  # 50,000 s of requests, ~5 MB
    starts = _write(log, seconds)
    since, until = T0.timestamp() + 20_000, T0.timestamp() + 30_000
    first = next(i for i, s in enumerate(seconds) if int(s) >= 20_000)
    after = next(i for i, s in enumerate(seconds) if int(s) >= 30_000)
    assert window_span(str(log), COMMON, since, until, slack=0) == (starts[first], starts[after])
    # the slack widens it by its seconds each side
    wide_first = next(i for i, s in enumerate(seconds) if int(s) >= 20_000 - 600)
    wide_after = next(i for i, s in enumerate(seconds) if int(s) >= 30_000 + 600)
    assert window_span(str(log), COMMON, since, until, slack=600) == (starts[wide_first], starts[wide_after])
    assert window_span(str(log), COMMON, since) == (starts[wide_first], log.stat().st_size)


def test_a_line_of_the_window_written_after_an_older_one_is_inside_the_slack(tmp_path: Path) -> None:
    # httpd writes a line when its request ends: a long request that started before the window is
    # logged among the window's lines, and the window's first lines may come before it
    log = tmp_path / "access.log"
    seconds = [float(n) for n in range(5000)] + [5000.0, 4990.0] + [float(n) for n in range(5001, 9000)]
    starts = _write(log, seconds)
    span = window_span(str(log), COMMON, T0.timestamp() + 5000, slack=60)
    assert span is not None and span[0] <= starts[5000]


def test_logs_that_cannot_be_entered_in_the_middle_are_read_whole(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    _write(log, [float(n) for n in range(3000)])
    packed = tmp_path / "access.log.gz"
    packed.write_bytes(gzip.compress(log.read_bytes()))
    assert window_span(str(packed), COMMON, T0.timestamp() + 100) is None  # compressed
    untimed = compile_format('%h %l %u "%r" %>s %b')
    assert window_span(str(log), untimed, T0.timestamp() + 100) is None  # its format logs no time
    other = tmp_path / "other.log"
    other.write_text("not a line of this format\n" * 50)
    assert window_span(str(other), COMMON, T0.timestamp() + 100) is None  # another format: its lines all count
    assert window_span(str(log), COMMON, T0.timestamp() + 100, slack=0) is not None

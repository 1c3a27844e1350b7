"""Two processes on one log give the same answer as one: the byte ranges and the one pool (logs.parallel)."""
from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vhostguard.logs import DEFAULT_NICKNAMES, ReadStats, WorkerError, compile_format, fold_jobs, read_log, spans
import itertools

FMT = DEFAULT_NICKNAMES["combined"]
LINE = '10.0.0.{a} - - [21/Jan/2024:15:00:0{b} +0000] "GET /p/{a} HTTP/1.1" {status} {a} "-" "ua"'


def count_statuses(records: Iterator[dict[str, Any]]) -> Counter[int]:
    return Counter(record["status"] for record in records)


@pytest.fixture
def big_log(tmp_path: Path) -> Path:
    lines = []
    for n in range(20_000):
        lines.append("broken line" if n % 997 == 0 else LINE.format(a=n % 250, b=n % 10, status=(200, 404, 500)[n % 3]))
    path = tmp_path / "access.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_spans_cover_the_file_at_line_boundaries(big_log: Path) -> None:
    data = big_log.read_bytes()
    ranges = spans(str(big_log), 3)
    assert ranges is not None and len(ranges) == 3
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert end == start and data[end - 1:end] == b"\n"


def test_spans_of_a_range_stay_inside_it(big_log: Path) -> None:
    data = big_log.read_bytes()
    start = data.index(b"\n", 1000) + 1
    end = data.index(b"\n", len(data) // 2) + 1
    ranges = spans(str(big_log), 4, start, end)
    assert ranges is not None and ranges[0][0] == start and ranges[-1][1] == end
    for (_, cut), (begin, _) in itertools.pairwise(ranges):
        assert cut == begin and data[cut - 1:cut] == b"\n"


def test_the_pool_equals_one_process(big_log: Path) -> None:
    fmt = compile_format(FMT, ("status",))
    stats = ReadStats()
    expected = count_statuses(read_log(str(big_log), fmt, stats=stats))
    ranges = spans(str(big_log), 6)
    assert ranges is not None and len(ranges) == 6
    done: list[tuple[int, int]] = []

    def read(total: Counter[int], span: tuple[int, int]) -> None:
        total.update(count_statuses(read_log(str(big_log), fmt, span=span)))

    value = fold_jobs(ranges, Counter, read, Counter.update, workers=2, done=done.append)
    assert value == expected and sum(value.values()) == stats.parsed
    assert sorted(done) == ranges  # progress for every job, in the parent, whichever worker read it


def _fail(total: Counter[int], job: int) -> None:
    if job == 3:
        raise ValueError("job three breaks")


def test_a_failing_worker_is_an_error_with_its_traceback() -> None:
    with pytest.raises((WorkerError, ValueError)) as caught:
        fold_jobs(list(range(8)), Counter, _fail, Counter.update, workers=2)
    assert "job three breaks" in str(caught.value)


def test_compressed_files_are_not_split(tmp_path: Path) -> None:
    path = tmp_path / "access.log.1.gz"
    path.write_bytes(gzip.compress((LINE.format(a=1, b=1, status=200) + "\n").encode()))
    assert spans(str(path), 2) is None


def test_spans_of_a_file_without_newlines_read_it_a_block_at_a_time(tmp_path: Path) -> None:
    import tracemalloc
    flat = tmp_path / "flat.log"
    flat.write_bytes(b"x" * (24 << 20) + b"\nlast line\n")  # a hostile "line" of 24 MiB
    tracemalloc.start()
    try:
        cut = spans(str(flat), 4)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert cut == [(0, (24 << 20) + 1), ((24 << 20) + 1, (24 << 20) + 11)]
    assert peak < 1 << 20  # readline would have held the 24 MiB "line"


def test_spans_cut_where_readline_would(tmp_path: Path) -> None:
    log = tmp_path / "mixed.log"
    lines = [b"a" * (n * 37 % 3000) for n in range(4000)]
    log.write_bytes(b"\n".join(lines) + b"\n")
    for parts in (2, 3, 7, 50):
        expected = [0]
        with open(log, "rb") as handle:
            size = handle.seek(0, 2)
            for i in range(1, parts):
                handle.seek(max(size * i // parts, expected[-1]))
                handle.readline()
                expected.append(min(handle.tell(), size))
        expected.append(size)
        assert spans(str(log), parts) == [(a, b) for a, b in itertools.pairwise(expected) if b > a]

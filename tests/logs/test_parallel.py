"""Two processes on one log give the same answer as one, line numbers included."""
from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vhostguard.logs import DEFAULT_NICKNAMES, ReadStats, compile_format, read_log
from vhostguard.logs import parallel
from vhostguard.logs.parallel import fold_log, spans
import itertools

FMT = DEFAULT_NICKNAMES["combined"]
LINE = '10.0.0.{a} - - [21/Jan/2024:15:00:0{b} +0000] "GET /p/{a} HTTP/1.1" {status} {a} "-" "ua"'


def count_statuses(records: Iterator[dict[str, Any]]) -> Counter[int]:
    return Counter(record["status"] for record in records)


def add(a: Counter[int], b: Counter[int]) -> Counter[int]:
    return a + b


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


def test_parallel_fold_equals_one_process(big_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "MIN_SPLIT", 0)
    stats = ReadStats()
    expected = count_statuses(read_log(str(big_log), compile_format(FMT), stats=stats))
    value, together = fold_log(str(big_log), FMT, count_statuses, add, fields=("status",), workers=2)
    assert value == expected
    assert (together.lines, together.malformed) == (stats.lines, stats.malformed) == (20_000, 21)
    assert [bad.line for bad in together.samples] == [bad.line for bad in stats.samples]


def test_compressed_files_are_not_split(tmp_path: Path) -> None:
    path = tmp_path / "access.log.1.gz"
    path.write_bytes(gzip.compress((LINE.format(a=1, b=1, status=200) + "\n").encode()))
    assert spans(str(path), 2) is None
    value, stats = fold_log(str(path), FMT, count_statuses, add, workers=2)
    assert value == Counter({200: 1}) and stats.lines == 1

"""Latency over time: each series bucket's duration histogram gives that bucket's percentiles.

The log is written here with known durations per minute (a slow spell in the
middle), so the expected percentiles are computed from what was written.
"""
from __future__ import annotations

import math
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from tests.monitor.test_report_fixtures import exact_quantile
from vhostguard.analytics.aggregate import (
    LATENCY_RATIO, AggregateOptions, Analysis, LogSource, analyse, histogram_quantile,
)
from vhostguard.report.analytics import report_html
import itertools

FMT = '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D'
ACCURACY = (LATENCY_RATIO - 1) / (LATENCY_RATIO + 1)


def write(path: Path, minutes: int = 30, per_minute: int = 40) -> dict[int, list[int]]:
    """A log of one endpoint; returns the durations (µs) written per minute (epoch seconds)."""
    rng = random.Random(5)
    start = 1_796_346_000  # 2026-12-04T01:00:00Z
    written: dict[int, list[int]] = {}
    lines = []
    for minute in range(minutes):
        slow = 10 <= minute < 15
        for number in range(per_minute):
            duration = int(rng.lognormvariate(math.log(300_000 if slow else 8_000), 0.6))
            if number == 7:
                duration = 0  # httpd logs %D 0 for a request answered within the microsecond
            seconds = start + minute * 60 + number
            written.setdefault(start + minute * 60, []).append(duration)
            stamp = f"04/Dec/2026:01:{minute:02d}:{number:02d} +0000"
            lines.append(f'api.example.com:443 10.0.0.1 - - [{stamp}] "GET /v1/orders HTTP/1.1" 200 99 "-" "c" {duration}')
            assert seconds % 60 == number
    lines.insert(50, 'api.example.com:443 10.0.0.1 - - [04/Dec/2026:01:01:30 +0000] "GET /v1/orders HTTP/1.1" 200 99 "-" "c" -')
    path.write_text("\n".join(lines) + "\n")
    return written


def bucket_quantile(histogram: tuple[tuple[int, int], ...], q: float) -> float | None:
    return histogram_quantile(dict(histogram), q)


def within(estimate: float | None, exact: int) -> bool:
    assert estimate is not None
    return abs(estimate - exact) <= ACCURACY * max(exact, 1) + 1e-9


@pytest.mark.parametrize("options", [{}, {"series_cells": 60}])
def test_each_bucket_holds_its_durations(tmp_path: Path, options: dict) -> None:
    written = write(tmp_path / "access.log")
    analysis: Analysis = analyse([LogSource(str(tmp_path / "access.log"), (FMT,))], AggregateOptions(**options))
    (endpoint,) = analysis.endpoints
    step = analysis.step
    expected: dict[int, list[int]] = {}
    for minute, durations in written.items():
        expected.setdefault(minute - minute % step, []).extend(durations)
    assert [p.start for p in endpoint.series] == sorted(expected)
    for point in endpoint.series:
        durations = sorted(expected[point.start])
        assert sum(count for _, count in point.durations) == len(durations)  # the "-" duration is not counted
        for q in (0.5, 0.95):
            assert within(bucket_quantile(point.durations, q), exact_quantile(durations, q)), (point.start, q)
    if options:
        assert step > 60  # coarsened: histograms merged with their buckets


def test_histogram_quantile_of_nothing_is_none() -> None:
    assert histogram_quantile(Counter(), 0.5) is None


def test_report_html_draws_p50_and_p95_per_bucket_without_script(tmp_path: Path) -> None:
    written = write(tmp_path / "access.log")
    analysis = analyse([LogSource(str(tmp_path / "access.log"), (FMT,))], AggregateOptions())
    page = report_html(analysis, 5)
    paths = re.findall(r'<path class=lat\d+ d="([^"]*)" data-series="(p\d+)" data-values="([^"]*)"', page)
    assert [series for _, series, _ in paths] == ["p95", "p50"]
    minutes = sorted(written)
    for d, series, values in paths:
        shown = [None if v == "" else float(v) for v in values.split(",")]
        assert len(shown) == len(minutes)  # one chart bucket per minute here
        q = 0.95 if series == "p95" else 0.5
        for minute, value in zip(minutes, shown):
            exact = exact_quantile(written[minute], q) / 1000.0
            assert value is not None and abs(value - exact) <= ACCURACY * exact + 0.001, (series, minute)
        # The line goes through every value: height above the axis proportional to the value.
        points = [tuple(map(float, p.split())) for p in re.findall(r"[ML]([\d.]+ [\d.]+)", d)]
        assert len(points) == len(shown)
        heights = [(x, y, v) for (x, y), v in zip(points, shown)]
        slowest = max(heights, key=lambda item: item[2])
        assert slowest[1] == min(y for _, y, _ in heights)  # the top of the line
        assert 10 <= heights.index(slowest) < 15  # in the slow spell written (minutes 10 to 14)
        assert all(a[0] < b[0] for a, b in itertools.pairwise(heights))  # left to right in time
        # y = axis - value * scale: the same axis and scale for every point
        (_, y0, v0), (_, y1, v1) = heights[0], slowest
        scale = (y0 - y1) / (v1 - v0)
        assert all(abs((y0 - y) - (v - v0) * scale) < 0.05 for _, y, v in heights)

"""Window arithmetic: sliding sums from a few buckets, per-second runs, clean-up, checkpoints."""
from __future__ import annotations

import pytest

from vhostguard.monitor.windows import ALL, Layout, WindowSpec, Windows

KEY = ("api.example.com", "GET", "/v1/users/{id}")
T = 1_700_000_400  # a multiple of 600: bucket edges fall on round numbers


def steady(windows: Windows, start: int, seconds: int, per_second: int = 1, errors: int = 0) -> None:
    for s in range(seconds):
        windows.add(KEY, start + s, per_second, errors, 0)


@pytest.mark.parametrize("seconds", [7200, 7001, 6544, 4000])
def test_a_steady_rate_sums_to_rate_times_length_wherever_the_window_ends(seconds: int) -> None:
    windows = Windows([WindowSpec(300), WindowSpec(3600)])
    steady(windows, T, seconds)
    now = T + seconds - 1  # the second of the last line
    short, long = windows.totals(KEY, 0, now), windows.totals(KEY, 1, now)
    assert short is not None and long is not None
    assert short.requests == pytest.approx(300, abs=1)
    assert long.requests == pytest.approx(3600, abs=1)
    assert (short.span, long.span) == (300, 3600)


def test_old_counts_leave_the_window() -> None:
    windows = Windows([WindowSpec(300)])
    steady(windows, T, 60, errors=1)
    assert windows.totals(KEY, 0, T + 59).errors == 60
    assert windows.totals(KEY, 0, T + 59 + 300 + 50).errors == 0  # the window moved on without new lines
    windows.add(KEY, T + 1000, 1, 0, 1)  # a later line clears the stale buckets it passes
    totals = windows.totals(KEY, 0, T + 1000)
    assert (totals.requests, totals.errors, totals.not_found) == (1, 0, 1)


def test_a_late_line_counts_in_its_own_bucket_and_a_too_old_one_is_ignored() -> None:
    windows = Windows([WindowSpec(300)])
    windows.add(KEY, T + 600, 1, 0, 0)
    windows.add(KEY, T + 590, 1, 1, 0)  # late by 10 s: still in the window
    windows.add(KEY, T, 5, 5, 0)  # older than the window keeps
    totals = windows.totals(KEY, 0, T + 600)
    assert (totals.requests, totals.errors) == (2, 1)


def test_the_oldest_bucket_counts_in_part() -> None:
    layout = Layout([WindowSpec(600, buckets=6)])  # 100 s buckets
    slots = layout.new(T)
    layout.add(slots, T + 50, 10, 0, 0)  # bucket [T, T+100)
    assert layout.totals(slots, 0, T + 600).requests == pytest.approx(10)  # window (T, T+600]: all of it
    assert layout.totals(slots, 0, T + 650).requests == pytest.approx(5)  # half of the bucket is still in
    assert layout.totals(slots, 0, T + 700).requests == 0


def test_broken_suffix_finds_the_shortest_recent_run() -> None:
    windows = Windows([WindowSpec(300)], fine_window=60)
    steady(windows, T, 50, per_second=10)  # healthy
    windows.add(KEY, T + 50, 10, 10, 0)
    windows.add(KEY, T + 51, 10, 10, 0)
    suffix = windows.broken_suffix(KEY, T + 51, 20, 0.5, 60)
    assert suffix is not None and (suffix.requests, suffix.errors, suffix.seconds) == (20, 20, 2)
    assert windows.broken_suffix(KEY, T + 51, 21, 0.5, 60) is None or windows.broken_suffix(
        KEY, T + 51, 21, 0.5, 60).seconds == 3  # type: ignore[union-attr]
    assert windows.broken_suffix(KEY, T + 51 + 61, 20, 0.5, 60) is None  # aged out


def test_healthy_keys_keep_no_per_second_ring() -> None:
    windows = Windows([WindowSpec(300)], fine_window=60)
    steady(windows, T, 100)
    assert windows.fine == {} and windows.last_error == {}
    windows.add(KEY, T + 100, 1, 1, 0)
    assert KEY not in windows.fine  # a lone 5xx
    windows.add(KEY, T + 101, 1, 1, 0)
    assert KEY in windows.fine and windows.fine_error_bound(KEY) == 1
    windows.prune(T + 200, 1800)
    assert KEY not in windows.fine and KEY in windows.last_error  # errors aged out of the ring, not of memory
    windows.prune(T + 3000, 1800)
    assert KEY not in windows.last_error and KEY not in windows.keys


def test_sites_and_checkpoint_round_trip() -> None:
    windows = Windows([WindowSpec(300), WindowSpec(3600)], fine_window=60)
    steady(windows, T, 120, per_second=3, errors=1)
    windows.add_site(ALL, T + 119, 7, 1, 2)
    state = windows.to_state()
    again = Windows([WindowSpec(300), WindowSpec(3600)], fine_window=60)
    assert again.restore(state)
    assert again.totals(KEY, 1, T + 119) == windows.totals(KEY, 1, T + 119)
    assert again.site_totals(ALL, 0, T + 119) == windows.site_totals(ALL, 0, T + 119)
    assert again.broken_suffix(KEY, T + 119, 20, 0.3, 60) == windows.broken_suffix(KEY, T + 119, 20, 0.3, 60)
    assert again.last_error == windows.last_error
    assert not Windows([WindowSpec(600)]).restore(state)  # other windows: nothing loaded

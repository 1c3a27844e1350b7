"""Request durations (``%D``/``%T``) for the latency rules of ``watch``.

* ``latency-slo``: per endpoint, the requests slower than its objective's
  threshold are counted in a :class:`~vhostguard.monitor.windows.Windows`
  of their own (requests with a duration, slow ones in the 5xx column), so
  the error SLO's multiwindow burn-rate evaluation applies as is;
* ``latency-regression``: per endpoint, a histogram of durations over a
  short window and a baseline (:class:`Histograms`: the same ring of time
  buckets as the windows, each bucket a row of duration bins), compared by
  their p95.

Both are bounded as the windows are: per endpoint key (the endpoint cap),
whatever the traffic.
"""
from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from vhostguard.monitor.windows import Key, WindowSpec, Windows, pack, unpack

# Duration bins: upper bounds from 1 ms to about 65 s in steps of sqrt(2) (a p95 read from them is
# within 41% of the true value, and interpolation inside the bin does better), then "longer".
BOUNDS_US: tuple[int, ...] = tuple(round(1000 * 2 ** (i / 2)) for i in range(33))
BINS = len(BOUNDS_US) + 1


class Histograms:
    """Per key and window, duration bins over a ring of ``buckets + 1`` time buckets (as windows.Layout)."""

    def __init__(self, specs: Sequence[WindowSpec]) -> None:
        self.specs = tuple(specs)
        plan: list[tuple[int, int, int]] = []
        offset = 1
        for spec in self.specs:
            plan.append((offset, spec.width, spec.buckets + 1))
            offset += 1 + (spec.buckets + 1) * BINS
        self.plan = tuple(plan)
        self.size = offset
        self.keys: dict[Key, array[int]] = {}

    def add(self, key: Key, sec: int, durations_us: Sequence[int]) -> None:
        bins = [0] * BINS
        for value in durations_us:
            bins[bisect_left(BOUNDS_US, value)] += 1
        self.add_bins(key, sec, bins)

    def add_bins(self, key: Key, sec: int, bins: Sequence[int] | dict[int, int]) -> None:
        """Add durations already counted per bin (``bisect_left(BOUNDS_US, d)``): BINS counts, or
        bin -> count for the bins that are not empty."""
        slots = self.keys.get(key)
        if slots is None:
            slots = self.keys[key] = array("q", bytes(8 * self.size))
            slots[0] = sec
        for offset, width, count in self.plan:
            idx = sec // width
            head = slots[offset]
            if idx > head:
                for stale in range(max(head + 1, idx - count + 1), idx + 1):
                    base = offset + 1 + (stale % count) * BINS
                    slots[base:base + BINS] = array("q", bytes(8 * BINS))
                slots[offset] = head = idx
            elif idx <= head - count:
                continue
            base = offset + 1 + (idx % count) * BINS
            for i, n in (bins.items() if isinstance(bins, dict) else enumerate(bins)):
                if n:
                    slots[base + i] += n

    def counts(self, key: Key, which: int, now: float) -> list[float] | None:
        """The duration bins of ``key`` over window ``which`` at ``now`` (the oldest bucket in part)."""
        slots = self.keys.get(key)
        if slots is None:
            return None
        offset, width, count = self.plan[which]
        head = slots[offset]
        idx_now = int(now // width)
        oldest = idx_now - count + 1
        part = 1.0 - (now - idx_now * width) / width
        out = [0.0] * BINS
        for idx in range(max(oldest, head - count + 1), head + 1):
            base = offset + 1 + (idx % count) * BINS
            weight = part if idx == oldest else 1.0
            for i in range(BINS):
                out[i] += slots[base + i] * weight
        return out

    def to_state(self) -> dict[str, Any]:
        return {"specs": [[s.length, s.buckets] for s in self.specs], "keys": [list(k) for k in self.keys],
                "slots": pack(self.keys.values())}

    def restore(self, state: dict[str, Any]) -> bool:
        """Load a snapshot taken with the same specs; False (nothing loaded) otherwise."""
        specs = tuple(WindowSpec(int(length), int(buckets)) for length, buckets in state.get("specs", ()))
        if specs != self.specs:
            return False
        keys = [(str(k[0]), str(k[1]), str(k[2])) for k in state["keys"]]
        slots = unpack(state["slots"], self.size) if keys else []
        if len(slots) != len(keys) or any(len(s) != self.size for s in slots):
            raise ValueError(f"histograms: {len(slots)} sets of slots for {len(keys)} keys")
        self.keys = dict(zip(keys, slots, strict=True))
        return True

    def prune(self, now: float) -> None:
        longest = max((width * count for _, width, count in self.plan), default=0)
        stale = [k for k, s in self.keys.items() if max(s[o] * w for o, w, _ in self.plan) < now - longest]
        for key in stale:
            del self.keys[key]


def quantile(bins: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile in seconds of duration ``bins`` (linear inside a bin), None when empty."""
    total = sum(bins)
    if total <= 0:
        return None
    rank = q * total
    running = 0.0
    for i, n in enumerate(bins):
        if n <= 0:
            continue
        if running + n >= rank:
            low = BOUNDS_US[i - 1] if i > 0 else 0
            high = BOUNDS_US[i] if i < len(BOUNDS_US) else BOUNDS_US[-1] * 2
            return (low + (high - low) * (rank - running) / n) / 1_000_000
        running += n
    return BOUNDS_US[-1] * 2 / 1_000_000


class DurationBins:
    """One set of duration bins from which every consumer's counts follow exactly: the union of the
    metric's bucket bounds (``series_bounds``), BOUNDS_US and the latency thresholds (microseconds).

    Bin i holds ``bounds[i-1] < d <= bounds[i]`` (``bisect_left``), the last bin what is above them all;
    a consumer's bin of d is ``bisect_left(its bounds, d)``, a function of the union's bin since its bounds
    are among the union's. The compiled scanner counts durations into these bins (``logs.WatchCounter``).
    """

    def __init__(self, series_bounds: Sequence[int], thresholds: Iterable[int] = ()) -> None:
        self.series_bounds = tuple(series_bounds)
        self.bounds = tuple(sorted({*self.series_bounds, *BOUNDS_US, *thresholds}))
        self.size = len(self.bounds) + 1
        self._series = [bisect_left(self.series_bounds, b) for b in self.bounds] + [len(self.series_bounds)]
        self._latency = [bisect_left(BOUNDS_US, b) for b in self.bounds] + [len(BOUNDS_US)]
        self._above = {b: i + 1 for i, b in enumerate(self.bounds)}

    def add_series(self, bins: dict[int, int], slots: array[int], first: int) -> None:
        """Add bins (bin -> count) to the series' buckets (not cumulative) at ``slots[first:]``; durations
        above the last bucket are left out."""
        last, series = len(self.series_bounds), self._series
        for i, count in bins.items():
            j = series[i]
            if j < last:
                slots[first + j] += count

    def latency(self, bins: dict[int, int]) -> dict[int, int]:
        """Bins (bin -> count) as the latency histogram's (BINS of them)."""
        out: dict[int, int] = {}
        for i, count in bins.items():
            j = self._latency[i]
            out[j] = out.get(j, 0) + count
        return out

    def above(self, bins: dict[int, int], threshold: int) -> int:
        """Durations longer than ``threshold`` (one of the bounds: raises KeyError otherwise)."""
        first = self._above[threshold]
        return sum(count for i, count in bins.items() if i >= first)


class Binned:
    """Requests of one batch cell with their durations counted in ``scale``'s bins (what ``monitor.ingest``
    keeps when the compiled scanner counts): ``len`` the requests, ``timed`` those with a duration,
    ``total`` the durations' sum (microseconds), ``bins`` bin -> durations for the bins not empty."""

    __slots__ = ("bins", "requests", "scale", "timed", "total")

    def __init__(self, scale: DurationBins) -> None:
        self.scale = scale
        self.requests = 0
        self.timed = 0
        self.total = 0
        self.bins: dict[int, int] = {}

    def __len__(self) -> int:
        return self.requests

    def append(self, duration: int | None) -> None:
        """One request (a list of durations is appended to the same way)."""
        self.requests += 1
        if duration is not None:
            self.timed += 1
            self.total += duration
            i = bisect_left(self.scale.bounds, duration)
            self.bins[i] = self.bins.get(i, 0) + 1

    def add(self, requests: int, timed: int, total: int) -> None:
        """Add counts (their bins go to ``bins`` directly)."""
        self.requests += requests
        self.timed += timed
        self.total += total


class LatencyCounts:
    """What the latency rules read, fed once per fold: slow requests per key (``slow``: windows whose
    requests are the requests with a duration and whose 5xx column counts those slower than the key's
    threshold), duration histograms per key (``histograms``, None: latency-regression off), and the
    running count of slow requests per key (the metric)."""

    def __init__(self, slow: Windows | None, histograms: Histograms | None,
                 threshold_us: Callable[[Key], int]) -> None:
        self.slow = slow
        self.histograms = histograms
        self.threshold_us = threshold_us
        self.slow_totals: dict[Key, int] = {}
        self._thresholds: dict[Key, int] = {}

    def add(self, key: Key, sec: int, durations: Sequence[int | None] | Binned) -> None:
        if isinstance(durations, Binned):
            self._add_binned(key, sec, durations)
            return
        values = [d for d in durations if d is not None]
        if not values:
            return
        if self.slow is not None:
            threshold = self._threshold(key)
            slow = sum(1 for d in values if d > threshold)
            self.slow.add(key, sec, len(values), slow, 0)
            if slow:
                self.slow_totals[key] = self.slow_totals.get(key, 0) + slow
        if self.histograms is not None:
            self.histograms.add(key, sec, values)

    def _add_binned(self, key: Key, sec: int, binned: Binned) -> None:
        """``add`` of durations counted in bins: the same counts (the bins' bounds hold every threshold)."""
        if not binned.timed:
            return
        if self.slow is not None:
            slow = binned.scale.above(binned.bins, self._threshold(key))
            self.slow.add(key, sec, binned.timed, slow, 0)
            if slow:
                self.slow_totals[key] = self.slow_totals.get(key, 0) + slow
        if self.histograms is not None:
            self.histograms.add_bins(key, sec, binned.scale.latency(binned.bins))

    def _threshold(self, key: Key) -> int:
        threshold = self._thresholds.get(key)
        if threshold is None:
            threshold = self._thresholds[key] = self.threshold_us(key)  # bounded: keys are capped
        return threshold

    def to_state(self) -> dict[str, Any]:
        return {"slow": self.slow.to_state() if self.slow is not None else None,
                "histograms": self.histograms.to_state() if self.histograms is not None else None}

    def restore(self, state: dict[str, Any]) -> None:
        """Load ``to_state``'s snapshot where the rules' windows are the same (else they start empty)."""
        if self.slow is not None and state.get("slow"):
            self.slow.restore(state["slow"])
        if self.histograms is not None and state.get("histograms"):
            self.histograms.restore(state["histograms"])

    def prune(self, now: float, slow_memory: float) -> None:
        """Forget what no window holds any more; slow-request times older than ``slow_memory`` seconds."""
        if self.slow is not None:
            self.slow.prune(now, slow_memory)
        if self.histograms is not None:
            self.histograms.prune(now)

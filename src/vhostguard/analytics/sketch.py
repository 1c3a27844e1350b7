"""A streaming quantile sketch with a relative-error guarantee (DDSketch).

Latency percentiles over millions of requests cannot come from a sorted
list: memory would grow with the traffic. ``QuantileSketch`` is the sketch
of Masson, Rim and Lee, "DDSketch: a fast and fully-mergeable quantile
sketch with relative-error guarantees" (VLDB 2019):

* a value ``v > 0`` is counted in bucket ``k = ceil(log(v) / log(gamma))``
  with ``gamma = (1 + a) / (1 - a)``, ``a`` the relative accuracy; bucket
  ``k`` holds the values in ``(gamma**(k-1), gamma**k]``;
* a quantile is answered with the bucket's representative
  ``2 * gamma**k / (gamma + 1)``, which is within ``a * v`` of every value
  ``v`` of the bucket. Hence the guarantee: for ``q`` in [0, 1],
  ``quantile(q)`` is within ``a * x`` of ``x``, the exact value of rank
  ``floor(q * (count - 1))`` (0-based) of the values added;
* values ``<= 0`` (a ``%D`` of 0) go to a zero bucket and are answered as 0
  (exact for zeros; httpd never logs a negative duration);
* memory is one counter per non-empty bucket, at most ``max_buckets``. With
  the default 1% accuracy, every value between 1 and 10**12 (microseconds:
  11 days) needs at most 1,383 buckets, under the default 2,048, so the
  guarantee holds for any latency httpd logs. Beyond the bound the lowest
  buckets are folded together (the paper's collapsing): high quantiles keep
  the guarantee, the lowest ones lose it, and ``collapsed`` says so;
* two sketches with the same accuracy merge by adding their counters: the
  merge of partial sketches is exactly the sketch of all the values, so
  parallel reading gives the same percentiles as one pass.

The exact minimum and maximum are kept too: p0 and p100 answer them, and
every other answer is clamped to them (which keeps the guarantee).
"""
from __future__ import annotations

import math
from bisect import bisect_right
from itertools import accumulate, repeat
from operator import add
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

DEFAULT_ACCURACY = 0.01
DEFAULT_MAX_BUCKETS = 2048


class SketchMismatch(ValueError):
    """Two sketches of different accuracy cannot be merged."""


@dataclass
class QuantileSketch:
    """Counts of values in logarithmic buckets; see the module notes for the guarantee.

    Mutable on purpose: a sketch is a stream's running state. ``add_many``
    is the fast way in (the per-value work runs in C).
    """

    accuracy: float = DEFAULT_ACCURACY
    max_buckets: int = DEFAULT_MAX_BUCKETS
    count: int = 0
    zero_count: int = 0
    minimum: float = math.inf
    maximum: float = -math.inf
    collapsed: bool = False
    buckets: Counter[int] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        if not 0.0 < self.accuracy < 1.0:
            raise ValueError("accuracy must be between 0 and 1 (exclusive)")
        if self.max_buckets < 2:
            raise ValueError("max_buckets must be at least 2")

    @property
    def gamma(self) -> float:
        return (1.0 + self.accuracy) / (1.0 - self.accuracy)

    def _multiplier(self) -> float:
        return 1.0 / math.log(self.gamma)

    def add(self, value: float) -> None:
        """Count one value."""
        self.add_many((value,))

    def add_many(self, values: Iterable[float]) -> None:
        """Count every value of ``values`` (numbers; None is not allowed)."""
        batch = values if isinstance(values, (list, tuple)) else list(values)
        if not batch:
            return
        self.count += len(batch)
        low, high = min(batch), max(batch)
        self.minimum = min(self.minimum, low)
        self.maximum = max(self.maximum, high)
        positive = batch if low > 0 else [v for v in batch if v > 0]
        self.zero_count += len(batch) - len(positive)
        # ceil(log(v) * m) for every v, each step a C-level map: a Python
        # loop here would cost more than reading the log line did.
        self.buckets.update(map(math.ceil, map(self._multiplier().__mul__, map(math.log, positive))))
        if len(self.buckets) > self.max_buckets:
            self._collapse()

    def merge(self, other: QuantileSketch) -> None:
        """Add ``other``'s values to this sketch (same accuracy required)."""
        if other.accuracy != self.accuracy:
            raise SketchMismatch(f"accuracy {other.accuracy} differs from {self.accuracy}")
        self.count += other.count
        self.zero_count += other.zero_count
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        self.collapsed = self.collapsed or other.collapsed
        add_counts(self.buckets, other.buckets)
        if len(self.buckets) > self.max_buckets:
            self._collapse()

    def quantile(self, q: float) -> float | None:
        """The value at quantile ``q`` (0..1) within the relative accuracy; None when empty."""
        return self.quantiles((q,))[0]

    def quantiles(self, qs: Iterable[float]) -> list[float | None]:
        """``quantile`` for each of ``qs``: the buckets sorted and summed once, each rank found by bisection."""
        wanted = list(qs)
        if any(not 0.0 <= q <= 1.0 for q in wanted):
            raise ValueError("q must be between 0 and 1")
        if self.count == 0:
            return [None] * len(wanted)
        keys = sorted(self.buckets)
        running = list(accumulate(map(self.buckets.__getitem__, keys)))  # values up to each bucket
        return [self._at_rank(math.floor(q * (self.count - 1)), keys, running) for q in wanted]

    def _at_rank(self, rank: int, keys: list[int], running: list[int]) -> float:
        if rank == 0 and self.minimum > 0:
            return self.minimum  # exact extremes: kept besides the buckets
        if rank == self.count - 1 and self.maximum > 0:
            return self.maximum
        if rank < self.zero_count:
            return 0.0
        index = bisect_right(running, rank - self.zero_count)  # the first bucket whose values pass the rank
        if index == len(keys):
            return self.maximum  # unreachable while counts are consistent
        estimate = 2.0 * self.gamma ** keys[index] / (self.gamma + 1.0)
        return min(max(estimate, self.minimum), self.maximum)

    def _collapse(self) -> None:
        # Fold the lowest buckets into one so that at most max_buckets remain.
        keys = sorted(self.buckets)
        excess = len(keys) - self.max_buckets + 1
        target = keys[excess]
        folded = sum(self.buckets.pop(k) for k in keys[:excess])
        self.buckets[target] += folded
        self.collapsed = True


def add_counts(into: dict[int, int], other: Mapping[int, int]) -> None:
    """``Counter.update(other)`` for a mapping of counts, in one C-level pass over ``other``
    (``Counter.update`` adds a mapping key by key in Python: the cost of merging partial results)."""
    if not into:
        dict.update(into, other)
        return
    keys = other.keys()
    dict.update(into, zip(keys, map(add, map(into.get, keys, repeat(0)), other.values())))

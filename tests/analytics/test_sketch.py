"""QuantileSketch: the relative-error guarantee, exact merging, bounded memory."""
from __future__ import annotations

import math
import pickle
import random

import pytest

from vhostguard.analytics.sketch import QuantileSketch, SketchMismatch

QS = (0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0)


def exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


@pytest.mark.parametrize("accuracy", [0.01, 0.02, 0.05])
@pytest.mark.parametrize("shape", ["lognormal", "uniform", "bimodal", "integers"])
def test_every_quantile_is_within_the_relative_accuracy(accuracy: float, shape: str) -> None:
    rng = random.Random(hash((accuracy, shape)) & 0xFFFF)
    draw = {
        "lognormal": lambda: rng.lognormvariate(9, 1.5),
        "uniform": lambda: rng.uniform(1, 1e6),
        "bimodal": lambda: rng.choice((rng.gauss(2_000, 50), rng.gauss(900_000, 10_000))),
        "integers": lambda: float(rng.randrange(1, 50)),
    }[shape]
    values = [abs(draw()) + 1 for _ in range(20_000)]
    sketch = QuantileSketch(accuracy)
    sketch.add_many(values)
    assert sketch.count == len(values)
    for q in QS:
        truth = exact(values, q)
        got = sketch.quantile(q)
        assert got is not None
        assert abs(got - truth) <= accuracy * truth * (1 + 1e-9), (q, got, truth)
    assert sketch.quantile(0.0) == min(values) and sketch.quantile(1.0) == max(values)


def test_merged_partials_equal_one_sketch_of_everything() -> None:
    rng = random.Random(3)
    values = [rng.lognormvariate(8, 2) for _ in range(30_000)]
    whole = QuantileSketch()
    whole.add_many(values)
    parts = [QuantileSketch() for _ in range(4)]
    for i, value in enumerate(values):
        parts[i % 4].add(value)
    merged = QuantileSketch()
    for part in parts:
        merged.merge(pickle.loads(pickle.dumps(part)))  # as partials cross a pipe
    assert merged.buckets == whole.buckets
    assert (merged.count, merged.zero_count, merged.minimum, merged.maximum) == (
        whole.count, whole.zero_count, whole.minimum, whole.maximum)
    assert merged.quantiles(QS) == whole.quantiles(QS)


def test_memory_is_bounded_by_the_range_not_the_count() -> None:
    sketch = QuantileSketch()
    rng = random.Random(5)
    for _ in range(20):
        sketch.add_many([10 ** rng.uniform(0, 12) for _ in range(10_000)])  # 1 us .. 11 days
    assert sketch.count == 200_000
    assert len(sketch.buckets) <= 1383 < sketch.max_buckets  # the module's claim for 1..1e12 at 1%
    assert not sketch.collapsed


def test_collapsing_keeps_the_high_quantiles_accurate() -> None:
    rng = random.Random(11)
    values = [10 ** rng.uniform(0, 9) for _ in range(50_000)]
    sketch = QuantileSketch(0.01, max_buckets=200)
    sketch.add_many(values)
    assert len(sketch.buckets) <= 200 and sketch.collapsed
    for q in (0.9, 0.95, 0.99):
        truth = exact(values, q)
        assert abs(sketch.quantile(q) - truth) <= 0.01 * truth  # type: ignore[operator]


def test_zeros_and_empty() -> None:
    sketch = QuantileSketch()
    assert sketch.quantile(0.5) is None
    sketch.add_many([0, 0, 0, 10, 20])
    assert sketch.zero_count == 3
    assert sketch.quantile(0.5) == 0.0
    assert abs(sketch.quantile(1.0) - 20) <= 0.2  # type: ignore[operator]
    with pytest.raises(ValueError):
        sketch.quantile(1.5)


def test_mismatched_accuracy_cannot_merge() -> None:
    with pytest.raises(SketchMismatch):
        QuantileSketch(0.01).merge(QuantileSketch(0.02))
    with pytest.raises(ValueError):
        QuantileSketch(0.0)


def test_add_counts_adds_as_counter_update_does() -> None:
    from collections import Counter

    from vhostguard.analytics.sketch import add_counts

    mine: Counter[int] = Counter({1: 2, 5: 7, -3: 1})
    other = {5: 3, 9: 4, -3: 0, 0: 1}
    expected = Counter(mine)
    expected.update(other)
    add_counts(mine, other)
    assert dict(mine) == dict(expected) == {1: 2, 5: 10, -3: 1, 9: 4, 0: 1}
    empty: Counter[int] = Counter()
    add_counts(empty, other)
    assert dict(empty) == other

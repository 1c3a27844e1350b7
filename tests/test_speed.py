"""The speed tricks (vhostguard.speed) change nothing a caller can see."""
from __future__ import annotations

import gc

from vhostguard.speed import BoundedCache, gc_paused, memo


def test_a_bounded_cache_empties_itself_when_full() -> None:
    cache: BoundedCache[int, int] = BoundedCache(3)
    for key in range(3):
        cache.put(key, key * 10)
    assert dict(cache) == {0: 0, 1: 10, 2: 20}
    assert cache.put(3, 30) == 30 and dict(cache) == {3: 30}


def test_memo_calls_once_per_key_and_stays_bounded() -> None:
    calls: list[str] = []

    def upper(text: str) -> str:
        calls.append(text)
        return text.upper()

    cached = memo(upper, 2)
    assert [cached(t) for t in ("a", "a", "b", "a")] == ["A", "A", "B", "A"] and calls == ["a", "b"]
    cached("c")  # the third key: the cache starts again
    assert len(cached.cache) == 1  # type: ignore[attr-defined]


def test_gc_paused_restores_the_collector() -> None:
    gc.unfreeze()  # what earlier tests froze (bulk_build leaves that to the CLI's run)
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled() and gc.get_freeze_count() > 0
    assert gc.isenabled() and gc.get_freeze_count() == 0

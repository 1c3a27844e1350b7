"""A bounded memo for per-line conversions.

Cleared when full rather than evicting one entry at a time: clearing is
O(1) amortised with no bookkeeping per hit, which is what matters at a
million lines per second; memory stays bounded; a log's repeats (the same
second, the same request line) are close together, so hits stay high.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def memo(function: Callable[[K], V], limit: int) -> Callable[[K], V]:
    """``function`` memoised in a dict of at most ``limit`` entries.

    The dict is ``lookup.cache``, so generated code can try ``cache.get``
    inline before paying for a call.
    """
    cache: dict[K, V] = {}
    get = cache.get
    missing = object()

    def lookup(key: K) -> V:
        found = get(key, missing)
        if found is not missing:
            return found  # type: ignore[return-value]
        value = function(key)
        if len(cache) >= limit:
            cache.clear()
        cache[key] = value
        return value

    lookup.cache = cache  # type: ignore[attr-defined]
    return lookup

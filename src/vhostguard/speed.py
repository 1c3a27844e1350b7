"""The speed tricks, in one place, behind plain types: what the interpreter makes slow and how we go around it.

Each trick is measured where it is used (the figures are in the docstrings)
and changes nothing a caller can see:

* ``slot_setters`` / ``draft_class``: building frozen slots dataclasses made
  by the million (config nodes per line, routing decisions per request)
  without ``object.__setattr__``'s per-store cost;
* ``BoundedCache`` / ``memo``: per-line conversions memoised in a dict that
  empties itself when full (no bookkeeping per hit, memory bounded);
* ``bulk_build`` / ``gc_paused``: the cyclic garbage collector kept out of
  runs that allocate millions of short-lived objects without cycles.

Nothing here imports vhostguard: every stage may use it.
"""
from __future__ import annotations

import gc
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


# -- building frozen slots dataclasses -----------------------------------------------------------

def slot_setters(cls: type, *names: str) -> tuple[Callable[[Any, Any], None], ...]:
    """Functions that store the named fields of a frozen ``slots=True`` dataclass.

    For the classes the loader makes one of per configuration line. The
    ``__init__`` dataclass generates for a frozen class stores each field with
    ``object.__setattr__``, which parses its arguments and re-checks the type on
    every call; the slot's own ``__set__`` makes the same store in about half
    the time. A hand-written ``__init__`` (``init=False``) uses these instead.
    """
    return tuple(cls.__dict__[name].__set__ for name in names)


def draft_class(cls: type) -> type:
    """A mutable class with ``cls``'s slots, in order (so the same layout).

    For the frozen slots dataclasses routing makes per request: a draft is
    filled in with ordinary attribute stores (the interpreter's fastest) and
    then becomes the frozen class by ``__class__`` assignment, which CPython
    allows between classes of identical layout. The result is
    indistinguishable from one the public constructor makes.
    """
    slots: tuple[str, ...] = cls.__dict__["__slots__"]
    if cls.__bases__ != (object,) or "__weakref__" in slots or "__dict__" in slots:
        raise TypeError(f"{cls.__name__}: only a plain slots class can have a draft")
    return type(f"{cls.__name__}Draft", (), {"__slots__": slots, "__module__": cls.__module__})


# -- bounded caches ------------------------------------------------------------------------------

class BoundedCache(dict[K, V], Generic[K, V]):
    """A dict of at most ``limit`` entries, emptied when full (store with ``put``).

    Cleared when full rather than evicting one entry at a time: clearing is
    O(1) amortised with no bookkeeping per hit, which is what matters at a
    million lines per second; memory stays bounded; a log's repeats (the same
    second, the same request line) are close together, so hits stay high.
    Reads are the dict's own (``get``, ``map(cache.get, keys)``: C speed).
    """

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: K, value: V) -> V:
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value


def memo(function: Callable[[K], V], limit: int) -> Callable[[K], V]:
    """``function`` memoised in a ``BoundedCache`` of ``limit`` entries.

    The cache is ``lookup.cache``, so generated code can try ``cache.get``
    inline before paying for a call.
    """
    cache: BoundedCache[K, V] = BoundedCache(limit)
    get = cache.get
    put = cache.put
    missing = object()

    def lookup(key: K) -> V:
        found = get(key, missing)
        if found is not missing:
            return found  # type: ignore[return-value]
        return put(key, function(key))

    lookup.cache = cache  # type: ignore[attr-defined]
    return lookup


# -- the cyclic garbage collector ----------------------------------------------------------------

@contextmanager
def bulk_build() -> Iterator[None]:
    """Keep the cyclic garbage collector out of loading and building.

    Both allocate about a million small objects (frozen dataclasses, tuples,
    strings) that form no reference cycles, so each collection meanwhile is
    wasted work: ~470 of them, ~0.6 s CPU at 10,000 vhosts. Afterwards
    ``gc.freeze()`` moves what survived out of the collector's sight, so the
    first collection after re-enabling does not scan it all either; reference
    counting still frees it. The CLI's ``run`` unfreezes when the command ends. Nested
    use keeps the collector off until the outermost block ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


@contextmanager
def gc_paused(unfreeze: bool = True) -> Iterator[None]:
    """The cyclic collector off for a run that makes millions of short-lived acyclic objects
    (records, rows): it would scan them again and again for nothing (about half of ``report``'s
    pure-Python run time). What exists is frozen meanwhile, which also keeps forked readers
    from touching shared pages; it goes back to the collector afterwards unless ``unfreeze`` is
    False (long-lived models a command goes on using: the CLI's ``run`` unfreezes at its end)."""
    enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if unfreeze:
            gc.unfreeze()
        if enabled:
            gc.enable()

"""Quick construction of the frozen slots dataclasses routing makes per request.

A frozen dataclass's ``__setattr__`` refuses every store, so its ``__init__``
must go around it: dataclass's own calls ``object.__setattr__`` per field, and
the hand-written ones here call each slot's ``__set__`` (config.source.slot_setters);
both are C calls with argument tuples, and routing makes two or three such
objects for every decision. A *draft* is a plain class with the very same slot
layout: an instance is filled in with ordinary attribute stores (the
interpreter's fastest) and then becomes the frozen class by ``__class__``
assignment, which CPython allows between classes of identical layout. The
result is indistinguishable from one the public constructor makes.
"""
from __future__ import annotations


def draft_class(cls: type) -> type:
    """A mutable class with ``cls``'s slots, in order (so the same layout)."""
    slots: tuple[str, ...] = cls.__dict__["__slots__"]
    if cls.__bases__ != (object,) or "__weakref__" in slots or "__dict__" in slots:
        raise TypeError(f"{cls.__name__}: only a plain slots class can have a draft")
    return type(f"{cls.__name__}Draft", (), {"__slots__": slots, "__module__": cls.__module__})


"""Counts in words, for every report: ``1 request``, ``2 requests``."""
from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and ``noun``, the noun in the plural unless the count is one."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"

"""Both cores on one big log: byte ranges at line boundaries, folded in worker processes.

Records are not sent back between processes (pickling a dict costs more
than parsing it): each worker parses its range and folds its records into
a small value (counts per endpoint, sums); the parent merges the values and
the read statistics, renumbering malformed lines as if one process had read
the whole file. Compressed files cannot be split: they are read in one
worker. ``fold`` and ``merge`` must be picklable (module-level functions).
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

from vhostguard.logs.format import compile_format
from vhostguard.logs.reader import SAMPLES, ReadStats, read_log
import itertools

T = TypeVar("T")
MIN_SPLIT = 1 << 22  # a smaller file is not worth a second process
_MAGICS = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


def spans(path: str, parts: int) -> list[tuple[int, int]] | None:
    """Up to ``parts`` byte ranges of ``path`` that start and end at line boundaries.

    None for a compressed file (it cannot be entered in the middle).
    """
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        if handle.read(6).startswith(_MAGICS):
            return None
        bounds = [0]
        for i in range(1, parts):
            handle.seek(max(size * i // parts, bounds[-1]))
            handle.readline()  # to the end of the line the cut falls in
            bounds.append(min(handle.tell(), size))
        bounds.append(size)
    return [(start, end) for start, end in itertools.pairwise(bounds) if end > start] or [(0, 0)]


def fold_log(path: str, fmt: str, fold: Callable[[Iterator[dict[str, Any]]], T], merge: Callable[[T, T], T], *,
             fields: Iterable[str] | None = None, workers: int = 2, name: str | None = None) -> tuple[T, ReadStats]:
    """``fold`` over the records of ``path`` (LogFormat text ``fmt``), in ``workers`` processes.

    Returns the merged value and the statistics of the whole file (malformed
    samples numbered as in the file). Raises OSError for an unreadable file.
    """
    name = name or path
    wanted = tuple(fields) if fields is not None else None
    ranges = spans(path, workers) if workers > 1 and os.path.getsize(path) >= MIN_SPLIT else None
    if ranges is None or len(ranges) == 1:
        return _work(path, fmt, wanted, fold, None, name)
    import multiprocessing  # here: importing the package (for ``spans``) needs no process machinery
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")  # the parent's compiled formats come along
    with ProcessPoolExecutor(len(ranges), mp_context=context) as pool:
        parts = list(pool.map(functools.partial(_work, path, fmt, wanted, fold, name=name), ranges))
    return _merge(parts, merge)


def _work(path: str, fmt: str, fields: tuple[str, ...] | None, fold: Callable[[Iterator[dict[str, Any]]], T],
          span: tuple[int, int] | None, name: str) -> tuple[T, ReadStats]:
    stats = ReadStats()
    value = fold(read_log(path, compile_format(fmt, fields), stats=stats, span=span, name=name))
    return value, stats


def _merge(parts: list[tuple[T, ReadStats]], merge: Callable[[T, T], T]) -> tuple[T, ReadStats]:
    total = ReadStats()
    value = functools.reduce(merge, (part for part, _ in parts))
    for _, stats in parts:
        offset = total.lines
        total.samples += [replace(bad, line=bad.line + offset) for bad in stats.samples]
        total.lines += stats.lines
        total.malformed += stats.malformed
        total.problems += stats.problems
    del total.samples[SAMPLES:]
    return value, total

"""Rolling windows of request counts per vhost × method × endpoint, on the log's own time.

Each key (and each vhost, and the whole server) has one fixed-size
``array('q')`` holding, for every window length the rules ask for, a ring of
``buckets + 1`` time buckets of (requests, 5xx, 404). A window's sum is the
newest ``buckets`` buckets plus the part of the oldest bucket still inside
the window (assuming a steady rate within a bucket, as Prometheus'
``rate`` does): a 6 h window costs 7 buckets, not 21,600 seconds. Memory is
therefore per key, whatever the traffic, and keys are bounded by the
endpoint cardinality cap: memory stays flat.

Keys that see 5xx also get a per-second ring (the "fine" window, 60 s by
default), which the "endpoint broken" rule scans; it is made at the second
5xx within a short bucket and dropped once its errors age out, so healthy
keys with the odd error never pay for it.

Times are epoch seconds of the log clock (see ``clock.LogClock``); nothing
here reads a clock.
"""
from __future__ import annotations

import base64
import zlib
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

Key = tuple[str, str, str]  # (vhost, method, endpoint)
ALL = "*"  # the site key of the whole server (every vhost)
FIELDS = 3  # per bucket: requests, 5xx, 404
# A key gets its per-second ring at its second 5xx within one bucket of its shortest window: with
# a normal error rate most keys never do (a lone 5xx cannot make the "broken" rule hold anyway).
FINE_AFTER = 2


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """A window of ``length`` seconds kept as ``buckets`` buckets (plus the partial oldest one)."""

    length: int
    buckets: int = 6

    @property
    def width(self) -> int:
        return -(-self.length // self.buckets)


@dataclass(frozen=True, slots=True)
class Totals:
    """Counts over a window (floats: the oldest bucket counts in part) and the window's span in seconds."""

    requests: float
    errors: float
    not_found: float
    span: float


class Layout:
    """Where each window lives in a key's array: slot 0 is the key's first-seen second."""

    def __init__(self, specs: Sequence[WindowSpec]) -> None:
        self.specs = tuple(specs)
        plan: list[tuple[int, int, int]] = []
        offset = 1
        for spec in self.specs:
            plan.append((offset, spec.width, spec.buckets + 1))  # head slot, then the buckets
            offset += 1 + (spec.buckets + 1) * FIELDS
        self.plan = tuple(plan)
        self.size = offset
        self._zeros = {n: array("q", bytes(8 * n * FIELDS)) for _, _, n in plan}

    def index(self, length: int) -> int:
        """The position of the window of ``length`` seconds among the specs."""
        for i, spec in enumerate(self.specs):
            if spec.length == length:
                return i
        raise KeyError(f"no {length}s window")

    def new(self, born: int) -> array[int]:
        slots = array("q", bytes(8 * self.size))
        slots[0] = born
        return slots

    def add(self, slots: array[int], sec: int, requests: int, errors: int, not_found: int) -> None:
        for offset, width, count in self.plan:
            idx = sec // width
            head = slots[offset]
            if idx > head:
                if idx - head >= count:
                    slots[offset + 1: offset + 1 + count * FIELDS] = self._zeros[count]
                else:
                    for stale in range(head + 1, idx + 1):
                        base = offset + 1 + (stale % count) * FIELDS
                        slots[base] = slots[base + 1] = slots[base + 2] = 0
                slots[offset] = head = idx
            elif idx <= head - count:
                continue  # older than this window keeps
            base = offset + 1 + (idx % count) * FIELDS
            slots[base] += requests
            slots[base + 1] += errors
            slots[base + 2] += not_found

    def totals(self, slots: array[int], which: int, now: float) -> Totals:
        offset, width, count = self.plan[which]
        head = slots[offset]
        idx_now = int(now // width)
        oldest = idx_now - count + 1
        part = 1.0 - (now - idx_now * width) / width  # share of the oldest bucket still in the window
        requests = errors = not_found = 0.0
        for idx in range(max(oldest, head - count + 1), head + 1):
            base = offset + 1 + (idx % count) * FIELDS
            weight = part if idx == oldest else 1.0
            requests += slots[base] * weight
            errors += slots[base + 1] * weight
            not_found += slots[base + 2] * weight
        return Totals(requests, errors, not_found, float(width * (count - 1)))

    def newest(self, slots: array[int]) -> int:
        """The last second any window of these slots holds data for (approximately: bucket start)."""
        return max(slots[offset] * width for offset, width, _ in self.plan)


@dataclass(frozen=True, slots=True)
class Suffix:
    """The most recent seconds of a key in which the "broken" condition holds."""

    requests: int
    errors: int
    seconds: int


class Windows:
    """Window counts for every key and site. ``fine_window`` is the per-second ring's length."""

    def __init__(self, specs: Sequence[WindowSpec], fine_window: int = 60) -> None:
        self.layout = Layout(specs)
        self.fine_window = fine_window
        self._fine_count = fine_window + 1
        # slot 0: the newest second; slot 1: 5xx added and not yet cleared (an upper bound of the
        # ring's errors, for a cheap first test); then (requests, 5xx) per second.
        self._fine_zero = array("q", bytes(8 * (2 + 2 * self._fine_count)))
        self.keys: dict[Key, array[int]] = {}
        self.sites: dict[str, array[int]] = {}
        self.fine: dict[Key, array[int]] = {}
        self.last_error: dict[Key, int] = {}

    # -- adding ---------------------------------------------------------------

    def add(self, key: Key, sec: int, requests: int, errors: int, not_found: int) -> None:
        """Count requests of ``key`` at second ``sec``."""
        slots = self.keys.get(key)
        if slots is None:
            slots = self.keys[key] = self.layout.new(sec)
        self.layout.add(slots, sec, requests, errors, not_found)
        fine = self.fine.get(key)
        if errors:
            if fine is None and self._bucket_errors(slots, sec) >= FINE_AFTER:
                fine = self.fine[key] = array("q", self._fine_zero)
            if sec > self.last_error.get(key, -1):
                self.last_error[key] = sec
        if fine is not None:
            self._add_fine(fine, sec, requests, errors)

    def _bucket_errors(self, slots: array[int], sec: int) -> int:
        """5xx of the key in the bucket of its shortest window that holds ``sec``."""
        offset, width, count = self.layout.plan[0]
        idx = sec // width
        return slots[offset + 2 + (idx % count) * FIELDS] if slots[offset] == idx else 0

    def add_site(self, site: str, sec: int, requests: int, errors: int, not_found: int) -> None:
        """Count requests of a vhost (or ``ALL``) at second ``sec``."""
        slots = self.sites.get(site)
        if slots is None:
            slots = self.sites[site] = self.layout.new(sec)
        self.layout.add(slots, sec, requests, errors, not_found)

    def _add_fine(self, fine: array[int], sec: int, requests: int, errors: int) -> None:
        count = self._fine_count
        head = fine[0]
        if sec > head:
            if sec - head >= count:
                fine[1:] = self._fine_zero[1:]
            else:
                for stale in range(head + 1, sec + 1):
                    base = 2 + (stale % count) * 2
                    fine[1] -= fine[base + 1]
                    fine[base] = fine[base + 1] = 0
            fine[0] = head = sec
        elif sec <= head - count:
            return
        base = 2 + (sec % count) * 2
        fine[base] += requests
        fine[base + 1] += errors
        fine[1] += errors

    # -- reading -----------------------------------------------------------------

    def totals(self, key: Key, which: int, now: float) -> Totals | None:
        slots = self.keys.get(key)
        return None if slots is None else self.layout.totals(slots, which, now)

    def site_totals(self, site: str, which: int, now: float) -> Totals | None:
        slots = self.sites.get(site)
        return None if slots is None else self.layout.totals(slots, which, now)

    def born(self, key: Key) -> int | None:
        slots = self.keys.get(key)
        return None if slots is None else slots[0]

    def site_born(self, site: str) -> int | None:
        slots = self.sites.get(site)
        return None if slots is None else slots[0]

    def recent_errors(self, since: float) -> Iterator[Key]:
        """Keys with a 5xx at or after ``since``."""
        return (key for key, sec in self.last_error.items() if sec >= since)

    def fine_totals(self, key: Key, now: float, seconds: int) -> tuple[int, int]:
        """(requests, 5xx) of ``key`` over the last ``seconds`` seconds (only kept while it has errors)."""
        requests = errors = 0
        for r, e, _ in self._fine_seconds(key, now, seconds):
            requests += r
            errors += e
        return requests, errors

    def fine_error_bound(self, key: Key) -> int:
        """At least the 5xx count of ``key``'s per-second ring (exact while the key gets traffic)."""
        fine = self.fine.get(key)
        return 0 if fine is None else fine[1]

    def broken_suffix(self, key: Key, now: float, min_requests: int, min_ratio: float,
                      seconds: float) -> Suffix | None:
        """The shortest run of most recent seconds (at most ``seconds``) with at least
        ``min_requests`` requests of which at least ``min_ratio`` were 5xx, or None."""
        requests = errors = 0
        for r, e, age in self._fine_seconds(key, now, min(int(seconds), self.fine_window)):
            requests += r
            errors += e
            if requests >= min_requests and errors >= min_ratio * requests:
                return Suffix(requests, errors, age)
        return None

    def _fine_seconds(self, key: Key, now: float, seconds: int) -> Iterator[tuple[int, int, int]]:
        """(requests, 5xx, age in seconds) per second with data, newest first."""
        fine = self.fine.get(key)
        if fine is None:
            return
        count = self._fine_count
        head = fine[0]
        now_sec = max(int(now), head)
        for sec in range(head, max(now_sec - seconds, head - count), -1):
            base = 2 + (sec % count) * 2
            if fine[base]:
                yield fine[base], fine[base + 1], now_sec - sec + 1

    # -- upkeep ------------------------------------------------------------------

    def prune(self, now: float, error_memory: float) -> None:
        """Forget keys with nothing in any window, per-second rings without recent errors, and
        error times older than ``error_memory`` seconds."""
        longest = max((spec.width * (spec.buckets + 1) for spec in self.layout.specs), default=0)
        for key in [k for k, slots in self.keys.items() if self.layout.newest(slots) < now - longest]:
            del self.keys[key]
        for site in [s for s, slots in self.sites.items() if self.layout.newest(slots) < now - longest]:
            del self.sites[site]
        for key in [k for k, sec in self.last_error.items() if sec < now - error_memory]:
            del self.last_error[key]
        for key in [k for k in self.fine if self.fine_totals(k, now, self.fine_window)[1] == 0]:
            del self.fine[key]

    # -- checkpoints ----------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """A JSON-able snapshot; the arrays travel packed (they are most of a checkpoint)."""
        return {
            "specs": [[s.length, s.buckets] for s in self.layout.specs],
            "fine_window": self.fine_window,
            "keys": [list(k) for k in self.keys], "key_slots": pack(self.keys.values()),
            "sites": list(self.sites), "site_slots": pack(self.sites.values()),
            "fine": [list(k) for k in self.fine], "fine_slots": pack(self.fine.values()),
            "last_error": [[*k, sec] for k, sec in self.last_error.items()],
        }

    def restore(self, state: dict[str, Any]) -> bool:
        """Load a snapshot taken with the same window specs; False (nothing loaded) otherwise."""
        specs = tuple(WindowSpec(int(length), int(buckets)) for length, buckets in state.get("specs", ()))
        if specs != self.layout.specs or state.get("fine_window") != self.fine_window:
            return False
        keys = _packed([_key(k) for k in state["keys"]], state["key_slots"], self.layout.size)
        sites = _packed([str(site) for site in state["sites"]], state["site_slots"], self.layout.size)
        fine = _packed([_key(k) for k in state["fine"]], state["fine_slots"], len(self._fine_zero))
        self.keys, self.sites, self.fine = keys, sites, fine
        self.last_error = {_key(item[:3]): int(item[3]) for item in state["last_error"]}
        return True


def _packed(keys: list[Any], text: str, size: int) -> dict[Any, array[int]]:
    """``keys`` with their slots from ``pack``'s ``text``; ValueError unless each key has ``size`` slots."""
    slots = unpack(text, size)
    if len(slots) != len(keys) or any(len(s) != size for s in slots):
        raise ValueError(f"windows: {len(slots)} sets of {size} slots for {len(keys)} keys")
    return dict(zip(keys, slots, strict=True))


def _key(item: Sequence[Any]) -> Key:
    return (str(item[0]), str(item[1]), str(item[2]))


def pack(arrays: Iterator[array[int]] | Any) -> str:
    """Equal-length ``array('q')`` values as one compressed base64 string."""
    joined = array("q")
    for slots in arrays:
        joined.extend(slots)
    return base64.b64encode(zlib.compress(joined.tobytes(), 1)).decode("ascii")


def unpack(text: str, size: int) -> list[array[int]]:
    joined = array("q")
    joined.frombytes(zlib.decompress(base64.b64decode(text)))
    return [joined[i:i + size] for i in range(0, len(joined), size)]

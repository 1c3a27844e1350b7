"""The compiled scanner (``_scan.c``): per-endpoint sums of a block of log lines, exact.

``scan_spec(fmt)`` describes a LogFormat to the scanner, from the same
tokenizer the Python parser is compiled from, or returns None when the
scanner cannot read that format (then the Python parser reads the file).
``scan(spec, data, ...)`` reads whole lines of ``data`` with the GIL released
(callers run it on several threads) and returns, per (vhost, method,
endpoint template), the counters ``report`` needs, plus the lines it was
not sure of (non-ASCII bytes, a backslash in a value it reads, a long
number, a time it cannot prove valid, anything the strict regex would have
to backtrack over): those go to the Python parser with their raw bytes.
The scanner is stricter than the Python parser, never more lenient.

Endpoint templates are ``logs.endpoints.auto_template``'s rules, in C; the
Python templater stays the reference and the fallback (a differential test
holds the two together). User-declared patterns are not done in C: with
patterns, report reads through Python.

The extension is optional (built when a compiler is present);
``engine()`` says whether it runs: ``"c"``, or ``"python"`` when it is
missing or ``VHOSTGUARD_ENGINE=python`` is set.
"""
from __future__ import annotations

import os
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vhostguard.logs import directives as d
from vhostguard.logs.format import DEFAULT_NICKNAMES, Field, FormatError, Literal, _pieces, tokenize

try:
    from vhostguard.logs import _scan  # type: ignore[attr-defined]
except ImportError:  # built without a compiler: the Python engine runs
    _scan = None

ENGINE_VARIABLE = "VHOSTGUARD_ENGINE"
OTHER_HOST = b"{other}"  # a tally's Host past its cap of (vhost, Host) pairs

# field kinds of _scan.c
_TOKEN, _QUOTED, _NUMBER, _VHOST, _REQUEST, _STATUS, _BYTES, _DURATION, _TIME, _HOST, _HOST_QUOTED = range(11)
_SKIPPED_UNQUOTED = {d.STR: _TOKEN, d.USER: _TOKEN, d.INT: _NUMBER, d.BYTES_CLF: _NUMBER, d.DURATION: _NUMBER}


def compiled() -> bool:
    """True when the extension was built (whatever the environment asks)."""
    return _scan is not None


def engine(environ: Mapping[str, str] | None = None) -> str:
    """``"c"`` when the compiled scanner runs, ``"python"`` when it is missing or disabled."""
    env = os.environ if environ is None else environ
    if _scan is None or env.get(ENGINE_VARIABLE, "").strip().lower() == "python":
        return "python"
    return "c"


@dataclass(frozen=True)
class ScanSpec:
    """A LogFormat as the scanner reads it: literals (bytes) and fields ``(kind, escaped, scale)``."""

    format: str
    items: tuple[bytes | tuple[int, int, int], ...]


@dataclass(frozen=True, slots=True)
class GroupSums:
    """What the lines of one (vhost, method, endpoint template) add up to in a tally.

    Times are epoch seconds (UTC). ``bucket_requests``/``bucket_errors``: requests and 5xx per
    bucket of the tally's ``step``, errors as [5xx, first 5xx, last 5xx] (buckets with some);
    ``latency``: bucket * LATENCY_BINS + bin -> requests; ``sketch``: sketch bucket -> values;
    ``first_seen``: (job, line in the job) where the group was first seen.
    """

    vhost: bytes
    method: bytes | None
    template: bytes
    requests: int
    status: tuple[int, int, int, int, int, int]
    bytes: int
    durations: int
    duration_sum: int
    zero_durations: int
    duration_min: int | None
    duration_max: int | None
    first: int
    last: int
    bucket_requests: dict[int, int]
    bucket_errors: dict[int, list[float]]
    latency: dict[int, int]
    sketch: dict[int, int]
    first_seen: tuple[int, int]


@dataclass(frozen=True)
class Tallied:
    """What a tally's lines add up to: its groups, the vhosts' timelines
    ``(vhost, {minute: requests}, {minute: 5xx})``, and, when the spec reads the Host header
    (``scan_spec``'s ``hosts``), ``(vhost, Host as logged, {minute: requests})`` (the caller
    normalises the Host; ``OTHER_HOST`` stands for the Hosts past the tally's cap). ``folded``:
    lines a cap of the tally folded into ``{other}`` (0: every vhost and template kept)."""

    lines: int
    groups: tuple[GroupSums, ...]
    vhosts: tuple[tuple[bytes, dict[int, int], dict[int, int]], ...]
    hosts: tuple[tuple[bytes, bytes, dict[int, int]], ...]
    step: int  # seconds per bucket of the groups' series
    folded: int

    @property
    def valid(self) -> int:
        return sum(group.requests for group in self.groups)


@dataclass(frozen=True)
class TallyCaps:
    """A tally's bounds (a report reader's: see analytics.aggregate): vhosts, templates per vhost,
    (vhost, Host) pairs, series cells; ``methods``: the methods counted by name (others: {other};
    empty: every method by name)."""

    vhosts: int
    templates: int
    pairs: int
    cells: int
    methods: tuple[str, ...]


class Tally:
    """Running sums of the scanner across blocks, held in C: one per scanning thread.

    ``scan`` adds a block (the GIL released) and returns its lines and the lines left to
    Python; ``merge`` adds another tally; ``result`` gives the sums as Python objects (once, at the
    end: no per-block objects). A tally is used by one thread at a time (RuntimeError otherwise).
    """

    def __init__(self, sketch_multiplier: float, latency_multiplier: float, caps: TallyCaps, step: int = 60) -> None:
        """``sketch_multiplier`` is the quantile sketch's ``1 / log(gamma)``, ``latency_multiplier``
        the latency histogram's ``1 / log(ratio)``: the scanner counts ``ceil(multiplier * log(value))``
        as the Python code does; ``step`` (seconds, a multiple of 60) is the first bucket of the
        series and the latency histogram (it doubles past ``caps.cells``)."""
        if _scan is None:
            raise RuntimeError("the compiled scanner is not built")
        methods = tuple(name.encode("ascii") for name in caps.methods)
        self._tally = _scan.tally_new(sketch_multiplier, latency_multiplier, step, caps.cells, caps.vhosts,
                                      caps.templates, caps.pairs, methods)

    def scan(self, spec: ScanSpec, data: bytes | memoryview, job: int = 0) -> tuple[int, tuple[tuple[int, bytes], ...]]:
        """Add the whole lines of ``data`` (job ``job``: where groups are first seen); returns its
        lines and those left to Python, ``(line number in data, raw bytes without the newline)``
        (copied: ``data`` may be a buffer the caller reuses)."""
        lines, deferred = _scan.tally_scan(self._tally, spec.items, data, job)
        return lines, tuple((number, bytes(data[start:end])) for number, start, end in deferred)

    @property
    def step(self) -> int:
        """Seconds per bucket of the tally's series (it doubles past ``caps.cells``)."""
        return int(_scan.tally_step(self._tally))

    def cells(self, step: int) -> int:
        """The series cells (buckets and latency) the tally would hold at ``step`` (a multiple of its own)."""
        return int(_scan.tally_cells(self._tally, step))

    def coarsen(self, step: int) -> None:
        """The series at ``step`` (a multiple of the tally's), cells merged as Aggregate.coarsen merges them."""
        _scan.tally_coarsen(self._tally, step)

    def merge(self, other: Tally) -> None:
        """Add ``other``'s sums to this tally; ``other`` cannot be used after (RuntimeError)."""
        _scan.tally_merge(self._tally, other._tally)

    def result(self) -> Tallied:
        """The sums; raises RuntimeError when they do not add up (a bug, never a bad line)."""
        lines, groups, vhosts, hosts, step, folded = _scan.tally_result(self._tally)
        return Tallied(lines, tuple(GroupSums(*group) for group in groups), tuple(vhosts), tuple(hosts), step, folded)


@dataclass(frozen=True)
class Scanned:
    """One block read by a tally of its own (``scan``): the tally's sums and the lines left to Python
    as ``(line number in the block, raw bytes without the newline)``."""

    lines: int
    groups: tuple[GroupSums, ...]
    deferred: tuple[tuple[int, bytes], ...]
    step: int


def scan_spec(fmt: str, nicknames: Mapping[str, str] | None = None, hosts: bool = False) -> ScanSpec | None:
    """The scanner's description of format (or nickname) ``fmt``; None when it cannot read it.

    Read: one ``%t`` (CLF time), one ``%r`` between quotes, at most one of ``%v``/``%V``
    (the vhost; with neither, no ``%{Host}i`` either), the status, the bytes (``%O``, else ``%B``/``%b``) and one
    duration at most; other fields are skipped when they are plain text,
    quoted text or numbers. Anything else (another time form, ``%m``/``%U``
    beside ``%r``, a status condition, two fields for one value, two fields
    with no literal between them) declines the format. With ``hosts``, a format logging ``%v`` and
    one ``%{Host}i`` (unquoted, or alone between quotes) has the Host read too (``Scanned.hosts``);
    otherwise the Host header is skipped as any other field.
    """
    table = DEFAULT_NICKNAMES if nicknames is None else nicknames
    text = table.get(fmt, fmt)
    try:
        items = tokenize(text)
    except FormatError:
        return None
    fields = [item for item in items if isinstance(item, Field)]
    roles = _roles(fields, hosts)
    if roles is None:
        return None
    pieces = _pieces(items)  # text around and between the format's quotes: odd pieces are inside quotes
    whole = {f.index for piece in pieces if piece.whole for f in piece.fields}
    interior = {f.index for number, piece in enumerate(pieces) if number % 2 == 1 for f in piece.fields}
    out: list[bytes | tuple[int, int, int]] = []
    for item in items:
        if isinstance(item, Literal):
            raw = item.text.encode("utf-8")
            if not raw or not all(0x20 <= byte <= 0x7E for byte in raw):
                return None  # the scanner reads printable ASCII only: such a format never matches there
            out.append(raw)
            continue
        if out and not isinstance(out[-1], bytes):
            return None
        kind = _kind(item, roles.get(item.index), item.index in whole, item.index in interior)
        if kind is None:
            return None
        out.append((kind, int(item.slot.escaped), item.slot.scale))
    return ScanSpec(text, tuple(out))


def _roles(fields: list[Field], hosts: bool = False) -> dict[int, int] | None:
    """Field index -> the kind of the fields the scanner reads (vhost, request, status, time, bytes, duration)."""
    if any(f.conditional for f in fields):
        return None
    by_key: dict[str, list[Field]] = {}
    for f in fields:
        by_key.setdefault(f.slot.key, []).append(f)
    if any(key in by_key for key in ("method", "path", "query", "protocol")):
        return None  # explicit request parts win over %r in the Python parser: not done here
    named = [key for key in ("vhost", "server_name") if key in by_key]
    status_key = "status" if "status" in by_key else "original_status"
    bytes_key = next((key for key in ("bytes_out", "bytes") if key in by_key), None)
    wanted = {"time": _TIME, "request_line": _REQUEST, status_key: _STATUS, "duration_us": _DURATION}
    if bytes_key is not None:
        wanted[bytes_key] = _BYTES
    if len(named) > 1 or any(len(by_key.get(key, ())) > 1 for key in (*wanted, *named)):
        return None
    host_fields = [f for f in by_key.get("headers_in", ()) if (f.slot.sub or "").lower() == "host"]
    if named:
        wanted[named[0]] = _VHOST
    elif host_fields:
        return None  # the vhost would come from the Host header (logs.rows): not done here
    if "time" not in by_key or "request_line" not in by_key:
        return None
    roles = {f.index: wanted[f.slot.key] for f in fields if f.slot.key in wanted}
    if hosts and named == ["vhost"] and host_fields:
        if len(host_fields) > 1:
            return None
        roles[host_fields[0].index] = _HOST
    return roles


def _kind(f: Field, role: int | None, whole: bool, interior: bool) -> int | None:
    slot = f.slot
    if role == _TIME:
        return _TIME if slot.time is not None and slot.time.clf and not interior else None
    if role == _REQUEST:
        return _REQUEST if whole and slot.kind == d.REQUEST else None
    if role == _VHOST:
        return _VHOST if not interior and slot.kind == d.STR else None
    if role == _HOST:
        if slot.kind != d.STR:
            return None
        return _HOST_QUOTED if whole else None if interior else _HOST
    if role in (_STATUS, _BYTES, _DURATION):
        numeric = slot.kind in (d.INT, d.BYTES_CLF, d.DURATION)
        return role if numeric and not interior else None
    if whole:
        return _QUOTED if slot.kind in (d.STR, d.USER) else None
    if interior:
        return None
    return _SKIPPED_UNQUOTED.get(slot.kind)


def scan(spec: ScanSpec, data: bytes, sketch_multiplier: float, latency_multiplier: float, step: int = 60) -> Scanned:
    """Read the whole lines of ``data`` alone (the differential tests and the fuzzer): a tally
    of its own with a report's caps (``Tally`` is what report uses, one per thread, across blocks).
    Raises RuntimeError when the lines do not add up (a bug, never a bad line)."""
    caps = TallyCaps(4000, 4000, 4000, 1 << 30, ())
    tally = Tally(sketch_multiplier, latency_multiplier, caps, step)
    lines, deferred = tally.scan(spec, data)
    result = tally.result()
    if result.valid + len(deferred) != lines:
        raise RuntimeError(f"scanner: {lines} lines but {result.valid} read and {len(deferred)} left to Python")
    return Scanned(lines, result.groups, deferred, result.step)


def template_path(path: str) -> str:
    """``auto_template(path)`` computed by the scanner (ASCII paths; for the differential test)."""
    if _scan is None:
        raise RuntimeError("the compiled scanner is not built")
    out: Any = _scan.template_path(path.encode("ascii"))
    return str(out.decode("ascii"))


# -- watch: counts per (group, second, status) for ``monitor`` ----------------------------------------

WATCH_END, WATCH_BOUNDARY, WATCH_PYTHON = 0, 1, 2  # why ``WatchCounter.read`` returned
WATCH_CELL = 6  # int64 per cell of ``WatchCounter.flush``: group, second, status (-1: none), requests,
# requests with a duration, duration sum (microseconds)


@dataclass(frozen=True, slots=True)
class WatchRead:
    """What one ``WatchCounter.read`` counted.

    ``lines``: lines counted; ``offset``: the byte where the first line not counted starts; ``newest``:
    the newest second seen (also of the line it stopped at); ``stop``: WATCH_END (data read),
    WATCH_BOUNDARY (the line at ``offset`` is of a second at or after ``stop_sec``: not counted),
    WATCH_PYTHON (the line at ``offset`` is the Python parser's). ``groups``: (vhost, method, template)
    first met in this read (numbered on from those met before; None: not logged); ``pairs``: (vhost,
    raw Host) met in this read, ``pair_last`` the index (among the lines counted) of each pair's last line,
    ``hosts`` (pair, second, requests) triples, in the order first met.
    """

    lines: int
    offset: int
    newest: int
    stop: int
    groups: list[tuple[bytes | None, bytes | None, bytes]]
    pairs: list[tuple[bytes | None, bytes]]
    pair_last: array[int]
    hosts: array[int]


class WatchCounter:
    """The compiled scanner counting one log for ``watch`` (one thread at a time; see ``watch_cells`` in _scan.c).

    Lines are read as ``scan`` reads them (the same strictness: a line it is not sure of is the Python
    parser's); durations are counted into bins at ``bounds`` (sorted microseconds; bin i holds
    ``bounds[i-1] < d <= bounds[i]``, the last bin what is above them all). Cells are kept until ``flush``.
    """

    def __init__(self, spec: ScanSpec, bounds: Sequence[int]) -> None:
        if _scan is None:
            raise RuntimeError("the compiled scanner is not built")
        self.spec = spec
        self.bins = len(bounds) + 1
        kinds = {item[0] for item in spec.items if isinstance(item, tuple)}
        self.vhost = _VHOST in kinds  # the format logs the vhost (%v or %V)
        self.host = bool(kinds & {_HOST, _HOST_QUOTED})  # and the Host header, read
        self._state = _scan.watch_state(spec.items, tuple(bounds))

    def read(self, data: bytes, offset: int, newest: int, stop_sec: int, strip_cr: bool = False) -> WatchRead:
        """Count the lines of ``data`` (each ended by ``\\n``) from byte ``offset`` until a stop (``WatchRead``);
        ``strip_cr``: a CR before a newline is not part of the line (``data`` is a file's bytes)."""
        lines, at, newest, stop, groups, pairs, last, hosts = _scan.watch_cells(self._state, data, offset, newest,
                                                                                stop_sec, int(strip_cr))
        return WatchRead(lines, at, newest, stop, groups, pairs, array("q", last), array("q", hosts))

    def alias(self, pairs: array[int]) -> None:
        """Count the lines of group ``pairs[2k]`` as those of group ``pairs[2k + 1]`` from now on (that
        group counted as itself): groups the caller labels alike share their cells."""
        _scan.watch_alias(self._state, pairs.tobytes())

    def flush(self, max_groups: int) -> tuple[array[int], array[int], bool]:
        """The cells counted since the last flush, in the order first met (WATCH_CELL int64 each), their
        duration bins that are not empty as (cell, bin, count) triples in cell order, and whether the
        groups were forgotten (more than ``max_groups``: the next groups are numbered from 0)."""
        cells, bins, forgotten = _scan.watch_flush(self._state, max_groups)
        return array("q", cells), array("q", bins), bool(forgotten)

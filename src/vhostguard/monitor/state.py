"""The watcher's checkpoint: one JSON file per set of watched logs, replaced atomically.

A checkpoint holds the read positions, the windows, the metrics counters
and the firing alerts *as of the same instant* (the loop only saves between
two steps), so a restart resumes with no line lost or counted twice. The
file is written to a temp file in the same directory, synced and renamed
over the old one (STYLE.md: files others read are replaced, never rewritten
in place); a lock file keeps two watchers off one state.

A checkpoint is checked whole before it is used (:func:`check_document`):
one that is valid JSON but not the document this version writes (a string
offset, a negative one, slots that are not base64 of zlib data, a clock of
``"yesterday"``, a list where an object belongs) is set aside like broken
JSON, and the watcher starts afresh; it never refuses to start.

Log paths are the checkpoint's keys. A path whose name is not UTF-8 (a
byte such as ``\\xff``, which Python holds as a lone surrogate) cannot be
written as JSON text as it is, so :func:`encode_path` stores it as
``fsb64:`` followed by the base64 of its bytes (``os.fsencode``); paths are
absolute, so a stored key that starts with ``/`` is a path as it is and
nothing is ambiguous. :func:`decode_path` gives the same ``str`` back, and
the file is found again on resume.
"""
from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import math
import os
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from vhostguard.monitor.exporter import SERIES_SLOTS
from vhostguard.monitor.tail import HEAD_BYTES
from vhostguard.outfile import write_file
from vhostguard.safetext import json_dumps

VERSION = 1
ENCODED_PATH = "fsb64:"  # prefix of a stored path that is not UTF-8 (see the module notes)


class StateError(Exception):
    """The state directory cannot be used (one-line message)."""


def default_state_dir(environ: dict[str, str] | None = None) -> str:
    """``$XDG_STATE_HOME/vhostguard``, else ``~/.local/state/vhostguard`` (XDG base directories)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "vhostguard")


def state_name(paths: Iterable[str]) -> str:
    """The checkpoint's file name for a set of logs (the same logs, the same checkpoint)."""
    joined = "\n".join(sorted(os.path.abspath(p) for p in paths))
    return f"watch-{hashlib.sha256(joined.encode('utf-8', 'surrogateescape')).hexdigest()[:16]}.json"


class StateInvalid(ValueError):
    """A checkpoint that is not the document this version writes; the message says where and what."""


def encode_path(path: str) -> str:
    """``path`` as a checkpoint key: itself when it is UTF-8, else ``fsb64:`` + base64 of its bytes."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # a name with bytes that are not UTF-8 (surrogateescape'd by os.fsdecode)
        return ENCODED_PATH + base64.b64encode(os.fsencode(path)).decode("ascii")
    return path


def decode_path(text: str) -> str:
    """The path :func:`encode_path` stored (raises StateInvalid on a broken ``fsb64:`` key)."""
    if not text.startswith(ENCODED_PATH):
        return text
    try:
        return os.fsdecode(base64.b64decode(text[len(ENCODED_PATH):], validate=True))
    except (binascii.Error, ValueError):
        raise StateInvalid(f"{text[:40]!r}: not a path stored as base64") from None


# -- the whole document, checked ---------------------------------------------------------------
# Each check raises StateInvalid naming where (a JSON path) and what was expected. The shapes are
# those ``Watch.checkpoint`` writes (tail.Position, windows, exporter, alerts, clock).

Check = Callable[[Any, str], None]


def _fail(where: str, expected: str, value: Any) -> StateInvalid:
    shown = repr(value)
    return StateInvalid(f"{where}: expected {expected}, got {shown[:40]}{'...' if len(shown) > 40 else ''}")


def _count(value: Any, where: str) -> None:
    # Not bool (JSON true is not a count); below 2**63, as file offsets and int64 slots are.
    if type(value) is not int or not 0 <= value < 1 << 63:
        raise _fail(where, "a whole number from 0 to 2**63-1", value)


def _number(value: Any, where: str) -> None:
    if type(value) not in (int, float) or not math.isfinite(value):
        raise _fail(where, "a number", value)


MAX_TIME = 253402300799  # 9999-12-31T23:59:59Z: a later time cannot be written as a date


def _time(value: Any, where: str) -> None:
    _number(value, where)
    if not 0 <= value <= MAX_TIME:
        raise _fail(where, "a Unix time (0 to year 9999)", value)


def _optional(check: Check) -> Check:
    def optional(value: Any, where: str) -> None:
        if value is not None:
            check(value, where)
    return optional


def _text(value: Any, where: str) -> None:
    if type(value) is not str:
        raise _fail(where, "a string", value)


def _flag(value: Any, where: str) -> None:
    if type(value) is not bool:
        raise _fail(where, "true or false", value)


def _hex(value: Any, where: str) -> None:
    _text(value, where)
    if value and (len(value) != 24 or any(c not in "0123456789abcdef" for c in value)):
        raise _fail(where, "a head hash (24 hex digits)", value)


def _path(value: Any, where: str) -> None:
    _text(value, where)
    if not decode_path(value).startswith("/"):
        raise _fail(where, "an absolute log path", value)


def _list_of(check: Check) -> Check:
    def items(value: Any, where: str) -> None:
        if type(value) is not list:
            raise _fail(where, "a list", value)
        for index, item in enumerate(value):
            check(item, f"{where}[{index}]")
    return items


def _row(*checks: Check) -> Check:
    def row(value: Any, where: str) -> None:
        if type(value) is not list or len(value) != len(checks):
            raise _fail(where, f"a list of {len(checks)}", value)
        for index, (check, item) in enumerate(zip(checks, value, strict=True)):
            check(item, f"{where}[{index}]")
    return row


def _map_of(key: Check, check: Check) -> Check:
    def mapping(value: Any, where: str) -> None:
        if type(value) is not dict:
            raise _fail(where, "an object", value)
        for name, item in value.items():
            key(name, f"{where} key {name[:40]!r}")
            check(item, f"{where}[{name[:40]!r}]")
    return mapping


def _record(optional: dict[str, Check] | None = None, **fields: Check) -> Check:
    """An object with exactly these keys, and any of ``optional`` (a missing or unknown key is not
    this version's document)."""
    extra = optional or {}

    def record(value: Any, where: str) -> None:
        if type(value) is not dict:
            raise _fail(where, "an object", value)
        if not set(fields) <= set(value) <= set(fields) | set(extra):
            missing = sorted(set(fields) - set(value))
            unknown = sorted(set(value) - set(fields) - set(extra))
            raise StateInvalid(f"{where}: " + "; ".join(
                [f"missing {', '.join(missing)}"] * bool(missing) + [f"unknown {', '.join(unknown)}"] * bool(unknown)))
        for name, check in fields.items():
            check(value[name], f"{where}.{name}")
        for name, check in extra.items():
            if name in value:
                check(value[name], f"{where}.{name}")
    return record


def slot_count(text: str, where: str) -> int:
    """How many int64 slots a packed string (base64 of zlib data, ``windows.pack``) holds; raises StateInvalid."""
    try:
        data = zlib.decompress(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError, zlib.error) as problem:
        raise StateInvalid(f"{where}: not base64 of zlib data ({problem})") from None
    if len(data) % 8:
        raise StateInvalid(f"{where}: {len(data)} bytes is not a whole number of slots")
    return len(data) // 8


def _slots(value: Any, where: str) -> None:
    _text(value, where)
    slot_count(value, where)


def _packed(keys: str, slots: str, per_key: int | None = None) -> Check:
    """``slots`` holds the same number of slots for each of ``keys`` (``per_key`` of them, when known)."""
    def packed(value: dict[str, Any], where: str) -> None:
        count, total = len(value[keys]), slot_count(value[slots], f"{where}.{slots}")
        if (per_key is not None and total != count * per_key) or (count and total % count) or (total and not count):
            raise StateInvalid(f"{where}.{slots}: {total} slots do not fit {count} {keys}")
    return packed


def _both(*checks: Check) -> Check:
    def both(value: Any, where: str) -> None:
        for check in checks:
            check(value, where)
    return both


def _one_of(*values: str) -> Check:
    def one_of(value: Any, where: str) -> None:
        if value not in values or type(value) is not str:
            raise _fail(where, " or ".join(repr(v) for v in values), value)
    return one_of


def _head_len(value: Any, where: str) -> None:
    _count(value, where)
    if value > HEAD_BYTES:
        raise _fail(where, f"at most {HEAD_BYTES}", value)


def _version(value: Any, where: str) -> None:
    if type(value) is not int or value != VERSION:
        raise _fail(where, f"version {VERSION}", value)


_KEY = _row(_text, _text, _text)  # vhost, method, endpoint
_POSITION = _record(dev=_count, inode=_count, offset=_count, skip=_count, line=_count, head=_hex, head_len=_head_len,
                    skipping=_flag)
_POSITIONS = _map_of(_path, _list_of(_POSITION))
_WINDOWS = _both(
    _record(specs=_list_of(_row(_count, _count)), fine_window=_count, keys=_list_of(_KEY), key_slots=_slots,
            sites=_list_of(_text), site_slots=_slots, fine=_list_of(_KEY), fine_slots=_slots,
            last_error=_list_of(_row(_text, _text, _text, _count))),
    _packed("keys", "key_slots"), _packed("sites", "site_slots"), _packed("fine", "fine_slots"))
_METRICS = _both(
    _record(series=_list_of(_row(_text, _text, _text, _text)), slots=_slots,
            logs=_map_of(_path, _row(_count, _count, _count))),
    _packed("series", "slots", SERIES_SLOTS))
_ALERT = _record(schema=_count, id=_text, state=_one_of("firing"), severity=_one_of("page", "ticket"), rule=_text, vhost=_text,
                 method=_optional(_text), endpoint=_optional(_text), started=_time, resolved=_optional(_time),
                 observed=_map_of(_text, lambda value, where: None), evidence=_list_of(_text), summary=_text)
_HISTOGRAMS = _both(_record(specs=_list_of(_row(_count, _count)), keys=_list_of(_KEY), slots=_slots),
                    _packed("keys", "slots"))
# Optional: checkpoints written before host-moved and the latency rules (issue 18) lack them.
_LATER = {"host_windows": _optional(_WINDOWS),
          "latency": _record(slow=_optional(_WINDOWS), histograms=_optional(_HISTOGRAMS))}
_DOCUMENT = _record(
    _LATER,
    version=lambda value, where: _version(value, where),
    logs=_POSITIONS, error_logs=_POSITIONS, clock=_record(log_time=_optional(_time)),
    next_due=_map_of(_text, _time), windows=_WINDOWS, metrics=_METRICS, alerts=_list_of(_ALERT),
    stats=_map_of(_path, _row(_count, _count, _count)))


def check_document(document: Any) -> None:
    """Raise StateInvalid unless ``document`` is, in every part, a checkpoint this version writes."""
    _DOCUMENT(document, "checkpoint")


class StateStore:
    """``directory/name`` with its lock; ``load`` and ``save`` whole documents."""

    def __init__(self, directory: str, name: str) -> None:
        self.directory = directory
        self.path = os.path.join(directory, name)
        self._lock_fd: int | None = None
        self.notes: list[str] = []

    def lock(self) -> None:
        """Take the state for this process; raises StateError when another watcher holds it."""
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as problem:
            raise StateError(f"{self.directory}: {problem.strerror or problem}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StateError(f"{self.path}: another vhostguard watch is using this state (its lock is held)") from None
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    def load(self) -> dict[str, Any] | None:
        """The last checkpoint, or None (none yet, or unreadable: set aside with a note)."""
        try:
            with open(self.path, "rb") as handle:
                document = json.loads(handle.read())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as problem:
            self._set_aside(f"cannot read it ({problem})")
            return None
        if not isinstance(document, dict) or document.get("version") != VERSION:
            self._set_aside("it was written by another version")
            return None
        try:
            check_document(document)
        except StateInvalid as problem:
            self.set_aside(f"it is not a checkpoint this version writes ({problem})")
            return None
        return document

    def save(self, document: dict[str, Any]) -> None:
        """Replace the checkpoint atomically (temp file, fsync, rename, fsync of the directory);
        a symlink in its place is followed, never replaced (vhostguard.outfile)."""
        # json_dumps writes a lone surrogate (a byte of a name that is not UTF-8, os.fsdecode's) as
        # its \\u escape, which json reads back as the same str; log keys are encode_path'd anyway.
        data = json_dumps({"version": VERSION, **document}).encode()
        write_file(self.path, data, mode=0o600, durable=True)

    def set_aside(self, why: str) -> None:
        """Move the checkpoint out of the way (``NAME.unreadable``) with a note saying ``why``."""
        self._set_aside(why)

    def _set_aside(self, why: str) -> None:
        aside = self.path + ".unreadable"
        try:
            os.replace(self.path, aside)
        except OSError:
            aside = "(left in place)"
        self.notes.append(f"{self.path}: starting afresh, {why}; the old checkpoint is {aside}")

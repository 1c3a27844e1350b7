"""The watcher's checkpoint: one JSON file per set of watched logs, replaced atomically.

A checkpoint holds the read positions, the windows, the metrics counters
and the firing alerts *as of the same instant* (the loop only saves between
two steps), so a restart resumes with no line lost or counted twice. The
file is written to a temp file in the same directory, synced and renamed
over the old one (STYLE.md: files others read are replaced, never rewritten
in place); a lock file keeps two watchers off one state.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterable
from typing import Any

from vhostguard.outfile import write_file
from vhostguard.safetext import json_dumps

VERSION = 1


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
        return document

    def save(self, document: dict[str, Any]) -> None:
        """Replace the checkpoint atomically (temp file, fsync, rename, fsync of the directory);
        a symlink in its place is followed, never replaced (vhostguard.outfile)."""
        data = json_dumps({"version": VERSION, **document}).encode()
        write_file(self.path, data, mode=0o600, durable=True)

    def _set_aside(self, why: str) -> None:
        aside = self.path + ".unreadable"
        try:
            os.replace(self.path, aside)
        except OSError:
            aside = "(left in place)"
        self.notes.append(f"{self.path}: starting afresh, {why}; the old checkpoint is {aside}")

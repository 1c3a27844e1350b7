"""Follow log files like ``tail -F``, with checkpoints a restart resumes from.

A :class:`Follower` watches one path. It reads complete lines only (a line
httpd is still writing waits for its newline), and survives the ways logs
are rotated:

* **rename** (logrotate's default, ``access.log`` -> ``access.log.1``): the
  old file is kept open and drained for ``drain_grace`` seconds, because
  httpd goes on writing to it until its graceful restart; the new file at
  the path is read from its start;
* **copytruncate**: the file shrinks below the read offset, or its first
  bytes change: it is read again from the start. What it held past our
  offset (a watcher that lags) is read from the copy when a sibling of the
  path starts with the same bytes (``access.log.1``, uncompressed); else
  those bytes are lost, and counted (``lost_bytes``, a note saying how many);
* a file that does not exist yet, or is removed, is waited for.

A :class:`Position` (device, inode, offset, a hash of the first bytes, and
how many lines of the chunk starting there were already consumed) is what a
checkpoint keeps. On resume the file is recognised by inode and head hash;
a file rotated while the watcher was down is found again by its inode among
the siblings of the path and drained first, so no line is lost or read
twice as long as the rotated file still exists uncompressed.
"""
from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from vhostguard.logs import decode_lines, printable

READ_SIZE = 1 << 16  # bytes per read: small enough that a chunk's lines are handled in one go
HEAD_BYTES = 1024  # the prefix hashed to recognise a file after truncation or rotation
MAX_LINE = 1 << 20  # a longer "line" is not a log line (binary data, a missing newline)
DRAIN_GRACE = 30.0  # seconds an old file is kept open after a rename, while httpd may still write to it


@dataclass(frozen=True, slots=True)
class Position:
    """Where reading resumes in one file: ``skip`` lines after ``offset`` were already consumed.

    ``line`` is the number of lines before ``offset`` (for messages);
    ``head`` the hash of the file's first ``head_len`` bytes; ``skipping``
    means ``offset`` is inside an over-long line being dropped.
    """

    dev: int
    inode: int
    offset: int = 0
    skip: int = 0
    line: int = 0
    head: str = ""
    head_len: int = 0
    skipping: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"dev": self.dev, "inode": self.inode, "offset": self.offset, "skip": self.skip, "line": self.line,
                "head": self.head, "head_len": self.head_len, "skipping": self.skipping}

    @staticmethod
    def from_json(data: dict[str, Any]) -> Position:
        return Position(int(data["dev"]), int(data["inode"]), int(data["offset"]), int(data.get("skip", 0)),
                        int(data.get("line", 0)), str(data.get("head", "")), int(data.get("head_len", 0)),
                        bool(data.get("skipping", False)))


@dataclass(frozen=True, slots=True)
class Chunk:
    """Complete lines read in one go, and where they start and end.

    ``first_line`` is the number of the first line in its file (1-based);
    ``too_long`` counts over-long lines dropped (they are lines too, for
    numbering and malformed counts); ``data``, when set, is the bytes the
    lines were decoded from, each line ended by its newline (CRs as in the
    file): what the compiled scanner reads, one line for each of ``lines``.
    """

    lines: list[str]
    start: Position
    end: Position
    first_line: int
    too_long: int = 0
    data: bytes | None = None


@dataclass
class FollowStats:
    """What happened to the file over time (mutable: a follower is a stream)."""

    rotations: int = 0
    truncations: int = 0
    lost_rotations: int = 0  # rotated while we were down and the old file was not found again
    backlog: int = 0  # bytes written but not read yet, when last asked
    lost_bytes: int = 0  # seen written, then truncated away before they were read, with no copy found


def _head_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


class _Reader:
    """One open file (one inode): reads complete lines from an offset on."""

    def __init__(self, path: str, fd: int, st: os.stat_result, position: Position | None) -> None:
        self.path = path
        self.fd = fd
        self.dev = st.st_dev
        self.inode = st.st_ino
        start = position or Position(st.st_dev, st.st_ino)
        self.offset = start.offset  # bytes consumed into ``partial`` or lines
        self.line = start.line
        self.skip = start.skip  # lines still to drop (consumed before a restart)
        self.skipping = start.skipping
        self.partial = b""
        self.head = start.head
        self.head_len = start.head_len
        self.idle_since: float | None = None
        self.seen_size = self.offset  # the largest size the file was seen to have (what a truncation can lose)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    @property
    def line_start(self) -> int:
        """The offset of the first byte not yet returned as part of a line."""
        return self.offset - len(self.partial)

    def position(self) -> Position:
        return Position(self.dev, self.inode, self.line_start, self.skip, self.line, self.head, self.head_len,
                        self.skipping)

    def size(self) -> int:
        size = os.fstat(self.fd).st_size
        self.seen_size = max(self.seen_size, size)
        return size

    def head_changed(self) -> bool:
        """Has the prefix we hashed changed (the file was truncated and rewritten)?"""
        if not self.head_len:
            return False
        data = os.pread(self.fd, self.head_len, 0)
        return len(data) < self.head_len or _head_hash(data) != self.head

    def update_head(self) -> None:
        # The hash grows with the file up to HEAD_BYTES, so a short file is recognised too.
        if self.head_len >= HEAD_BYTES:
            return
        data = os.pread(self.fd, HEAD_BYTES, 0)
        if len(data) > self.head_len:
            self.head, self.head_len = _head_hash(data), len(data)

    def restart(self) -> None:
        """Read again from the start (the file was truncated)."""
        self.offset = self.line = self.skip = self.seen_size = 0
        self.partial = b""
        self.skipping = False
        self.head, self.head_len = "", 0

    def read(self, size: int = READ_SIZE) -> Chunk | None:
        """The next complete lines, or None when the file holds no complete line past them."""
        while True:  # bytes of a line still being written (or skipped) are consumed without a chunk
            start = self.position()
            data = os.pread(self.fd, size, self.offset)
            if not data:
                return None
            self.offset += len(data)
            self.seen_size = max(self.seen_size, self.offset)
            if self.head_len < HEAD_BYTES:
                self.update_head()
            chunk = self._lines(start, data)
            if chunk is not None:
                return chunk

    def finish(self) -> Chunk | None:
        """The last line of a file nobody writes to any more, even without its newline."""
        if not self.partial or self.skipping:
            self.partial = b""
            return None
        start = self.position()
        lines = decode_lines(self.partial)
        data = self.partial + b"\n"
        self.partial = b""
        return self._emit(start, lines, 0, data)

    def _lines(self, start: Position, data: bytes) -> Chunk | None:
        if self.skipping:
            cut = data.find(b"\n")
            if cut < 0:
                return None
            data, self.skipping = data[cut + 1:], False
            start = replace(start, offset=self.offset - len(data), skipping=False)
        buffer = self.partial + data if self.partial else data
        end = buffer.rfind(b"\n")
        if end < 0:
            self.partial = buffer
            return self._too_long(start) if len(buffer) > MAX_LINE else None
        self.partial = buffer[end + 1:]
        too_long = 0
        if len(self.partial) > MAX_LINE:  # the next line is already too long: drop it up to its newline
            self.partial, self.skipping, too_long = b"", True, 1
        raw: bytes | None = buffer[:end + 1]
        lines = decode_lines(buffer[:end])
        if end * 4 > MAX_LINE:  # a line of MAX_LINE bytes may decode to up to 4 times as many characters (\xhh)
            kept = [line for line in lines if len(line) <= MAX_LINE]
            if len(kept) != len(lines):
                too_long, lines, raw = too_long + len(lines) - len(kept), kept, None
        return self._emit(start, lines, too_long, raw)

    def _too_long(self, start: Position) -> Chunk:
        # Drop what we have of it and the rest up to the next newline; it still counts as a line.
        self.partial, self.skipping = b"", True
        return self._emit(start, [], 1)

    def _emit(self, start: Position, lines: list[str], too_long: int, data: bytes | None = None) -> Chunk:
        first = self.line + 1
        count = len(lines) + too_long
        self.line += count
        if self.skip:  # lines consumed before a restart: count them, do not return them again
            dropped = min(self.skip, len(lines))
            lines = lines[dropped:]
            self.skip -= dropped
            first += dropped
            data = None
        return Chunk(lines, start, self.position(), first, too_long, data if lines else None)


@dataclass
class Follower:
    """``tail -F`` on ``path``: see the module notes.

    ``resume`` are the positions a checkpoint kept (the current file first,
    then files being drained); ``at_end`` starts a file met for the first
    time at its end rather than its start (only for the files present when
    the follower starts without a checkpoint: a file that appears later is
    new data from its first byte).
    """

    path: str
    resume: list[Position] = field(default_factory=list)
    at_end: bool = False
    drain_grace: float = DRAIN_GRACE
    stats: FollowStats = field(default_factory=FollowStats)
    notes: list[str] = field(default_factory=list)  # one-line messages about rotations found on resume

    def __post_init__(self) -> None:
        self.path = os.path.abspath(self.path)
        self._current: _Reader | None = None
        self._draining: list[_Reader] = []
        self._first_open = True
        self._skip_existing = self.at_end  # only for a file already there at the first look

    def close(self) -> None:
        for reader in self._readers():
            reader.close()
        self._current = None
        self._draining = []

    def backlog(self) -> int:
        """Bytes written to the files and not read yet."""
        waiting = 0
        for reader in self._readers():
            try:
                waiting += max(0, reader.size() - reader.offset)
            except OSError:
                continue
        self.stats.backlog = waiting
        return waiting

    def positions(self) -> list[Position]:
        """The current file first, then files still being drained (what a checkpoint keeps)."""
        if self._current is None and self._first_open:
            return list(self.resume)  # nothing opened yet: keep what we were given
        return [reader.position() for reader in self._readers()]

    def read(self, now: float) -> Chunk | None:
        """The next lines from any of the files, or None when none has anything new.

        ``now`` (wall clock) times the drain grace of rotated files.
        """
        if self._current is None:
            self._open(now)
        for reader in list(self._draining):
            chunk = self._read_draining(reader, now)
            if chunk is not None:
                return chunk
        current = self._current
        if current is None:
            return None
        if current.head_changed():
            # Truncated and written again past our offset since the last look (copytruncate under
            # load, or while we lag): the size alone cannot tell, the first bytes do. Checked at
            # every read (1 KiB from the page cache per 64 KiB chunk), not only at the end of the file.
            self._truncated(current)
            current.restart()
        chunk = current.read()
        if chunk is not None:
            current.idle_since = None
            return chunk
        return self._at_eof(current, now)

    # -- opening and resuming ------------------------------------------------

    def _readers(self) -> Iterator[_Reader]:
        if self._current is not None:
            yield self._current
        yield from self._draining

    def _open(self, now: float) -> None:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            self._skip_existing = False  # when it appears, all of it is new
            return  # not there yet: tail -F waits for it
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            return
        first, self._first_open = self._first_open, False
        resume = self.resume if first else []
        self._current = self._resumed(fd, st, resume, first)

    def _resumed(self, fd: int, st: os.stat_result, resume: list[Position], first: bool) -> _Reader:
        mine = next((p for p in resume if (p.dev, p.inode) == (st.st_dev, st.st_ino)), None)
        for old in resume:
            if old is not mine:
                self._reopen_rotated(old)
        if mine is not None:
            reader = _Reader(self.path, fd, st, mine)
            if st.st_size < mine.offset or reader.head_changed():
                if not self._truncated(reader, watched=False):
                    self.notes.append(f"{printable(self.path)}: truncated while not watched and no copy of it found; "
                                      f"reading it from the start (what it held past offset {mine.offset} "
                                      f"was not read)")
                reader.restart()
            return reader
        reader = _Reader(self.path, fd, st, None)
        if first and not resume and self._skip_existing:
            reader.offset = st.st_size
            reader.line = 0  # numbering starts where we start
        reader.update_head()
        return reader

    def _reopen_rotated(self, old: Position) -> None:
        """Find a file rotated while we were down (same device and inode) and drain it from ``old``."""
        directory, base = os.path.split(self.path)
        try:
            names = sorted(n for n in os.listdir(directory) if n.startswith(base) and n != base)
        except OSError:
            names = []
        for name in names:
            candidate = os.path.join(directory, name)
            try:
                st = os.stat(candidate)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) != (old.dev, old.inode) or not stat.S_ISREG(st.st_mode):
                continue
            fd = os.open(candidate, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
            reader = _Reader(candidate, fd, st, old)
            if st.st_size < old.offset or reader.head_changed():
                reader.close()
                break
            self._draining.append(reader)
            self.stats.rotations += 1
            return
        self.stats.lost_rotations += 1
        self.notes.append(f"{self.path}: the file read before the restart (inode {old.inode}) is gone; "
                          f"lines written to it after offset {old.offset} were not read")

    # -- rotation and truncation ------------------------------------------------

    def _truncated(self, reader: _Reader, watched: bool = True) -> bool:
        """``reader``'s file was truncated (copytruncate): drain its copy from where we were, if one is
        found (True), else count the bytes seen past our offset as lost, with a note."""
        self.stats.truncations += 1
        copy = self._find_copy(reader)
        if copy is not None:
            self._draining.append(copy)
            return True
        lost = max(0, reader.seen_size - reader.line_start)
        if watched and lost:
            self.stats.lost_bytes += lost
            self.notes.append(f"{printable(self.path)}: truncated (copytruncate) while {lost} bytes past line "
                              f"{reader.line} were not read yet, and no uncompressed copy of it was found beside "
                              f"it: those {lost} bytes are lost")
        return False

    def _find_copy(self, reader: _Reader) -> _Reader | None:
        """A sibling of the path holding the bytes ``reader`` had not read: the copy copytruncate made
        (its first ``head_len`` bytes hash as ours did, and it is longer than our offset)."""
        start = reader.position()
        if not reader.head_len:
            return None
        directory, base = os.path.split(self.path)
        try:
            names = sorted(n for n in os.listdir(directory) if n.startswith(base) and n != base)
        except OSError:
            return None
        for name in names:
            candidate = os.path.join(directory, name)
            try:
                st = os.stat(candidate)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or st.st_size <= start.offset or st.st_ino == reader.inode:
                continue
            if any((r.dev, r.inode) == (st.st_dev, st.st_ino) for r in self._draining):
                continue  # already being read
            try:
                fd = os.open(candidate, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
            except OSError:
                continue
            copy = _Reader(candidate, fd, st, replace(start, dev=st.st_dev, inode=st.st_ino))
            if copy.head_changed():
                copy.close()
                continue
            return copy
        return None

    def _read_draining(self, reader: _Reader, now: float) -> Chunk | None:
        chunk = reader.read()
        if chunk is not None:
            reader.idle_since = None
            return chunk
        if reader.idle_since is None:
            reader.idle_since = now
        elif now - reader.idle_since >= self.drain_grace:
            last = reader.finish()
            reader.close()
            self._draining.remove(reader)
            return last
        return None

    def _at_eof(self, current: _Reader, now: float) -> Chunk | None:
        size = current.size()
        if size < current.offset or (size >= current.head_len and current.head_changed()):
            self._truncated(current)  # copytruncate: the same inode starts again
            current.restart()
            current.update_head()
            return current.read()
        try:
            st = os.stat(self.path)
        except OSError:
            return None  # renamed away and not recreated yet: keep reading the old file
        if (st.st_dev, st.st_ino) != (current.dev, current.inode):
            # Renamed and recreated: drain the old file for a while, read the new one from its start.
            self.stats.rotations += 1
            current.idle_since = now
            self._draining.append(current)
            self._current = None
            self._open(now)
            return self._current.read() if self._current is not None else None
        return None

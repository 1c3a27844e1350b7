"""Writing a file the user named (``--html``, ``--junit``, the watch checkpoint): one implementation.

What a path names decides how it is written (docs/contract.md, "Output files"):

- a regular file, or a name that does not exist yet: written to a temp file in
  the same directory and renamed over it, so a reader never sees half a file
  (STYLE.md); a file that existed keeps its permission bits, a new one gets
  0666 less the umask, as ``open`` would give it;
- a symlink is never replaced: whatever it points to is written under these
  same rules (a link to a regular file: the target is replaced atomically and
  the link still points to it);
- a character device, FIFO or socket (``/dev/null``, ``/dev/tty``, a pipe) is
  opened and written as it is, never replaced;
- a descriptor alias (``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N``,
  ``/proc/self/fd/N``) is written through that descriptor, sharing its offset
  with what else goes there (``--html /dev/stdout > page.html`` keeps both);
- a directory, a missing directory or no permission is an error.

``check_writable`` says so before any work is done; ``write_file`` removes its
temp file when anything fails. Both raise ``OutputPathError`` (one line), except
that a pipe whose reader went away raises BrokenPipeError, as a write to stdout does.
"""
from __future__ import annotations

import os
import re
import stat
import sys
import tempfile

_FD_ALIAS = re.compile(r"/dev/(?:fd/(?P<fd>\d+)|(?P<std>stdin|stdout|stderr))|/proc/self/fd/(?P<proc>\d+)")
_STANDARD = {"stdin": 0, "stdout": 1, "stderr": 2}


class OutputPathError(OSError):
    """An output path that cannot be written: ``path: reason`` (an OSError, as the failure it reports)."""


def fd_alias(path: str) -> int | None:
    """The descriptor ``path`` names (``/dev/stdout`` -> 1), else None."""
    match = _FD_ALIAS.fullmatch(os.path.normpath(path))
    if match is None:
        return None
    if match["std"]:
        return _STANDARD[match["std"]]
    return int(match["fd"] or match["proc"])


def _reason(problem: OSError) -> str:
    return problem.strerror or str(problem)


def check_writable(path: str, *, append: bool = False) -> None:
    """Raise OutputPathError unless ``write_file(path, ...)`` can be expected to work; with ``append``,
    unless appending to it (``O_APPEND | O_CREAT``, which writes a regular file in place) can."""
    descriptor = fd_alias(path)
    if descriptor is not None:
        try:
            os.fstat(descriptor)
        except OSError as problem:
            raise OutputPathError(f"{path}: {_reason(problem)}") from None
        return
    try:
        info = os.stat(path)  # through symlinks: what would be written
    except FileNotFoundError:
        info = None
    except OSError as problem:
        raise OutputPathError(f"{path}: {_reason(problem)}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise OutputPathError(f"{path}: Is a directory")
    if info is not None and (append or not stat.S_ISREG(info.st_mode)):
        if not os.access(path, os.W_OK):
            raise OutputPathError(f"{path}: Permission denied")
        return
    directory = os.path.dirname(os.path.realpath(path))
    if not os.path.isdir(directory):
        raise OutputPathError(f"{path}: No such directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        why = "" if append or info is None else " (the file is replaced: its directory must be writable)"
        raise OutputPathError(f"{path}: Permission denied{why}")


def write_file(path: str, data: bytes, *, mode: int | None = None, durable: bool = False) -> None:
    """Write ``data`` to ``path`` as the module docstring says.

    ``mode``: permission bits of a new file (default 0666 less the umask);
    ``durable``: fsync the file and its directory (a checkpoint). Raises OutputPathError.
    """
    descriptor = fd_alias(path)
    if descriptor is not None:
        for stream in (sys.stdout, sys.stderr):  # what Python buffered goes first
            if stream is not None:
                stream.flush()
        _write_fd(path, descriptor, data)
        return
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as problem:
        raise OutputPathError(f"{path}: {_reason(problem)}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise OutputPathError(f"{path}: Is a directory")
    if info is not None and not stat.S_ISREG(info.st_mode):
        _write_special(path, data)
        return
    # A regular file or a new name, maybe through symlinks: the link stays, its target is replaced.
    target = os.path.realpath(path)
    keep = stat.S_IMODE(info.st_mode) if info is not None else None
    _replace(path, target, data, keep if keep is not None else _new_mode(mode), durable)


def _new_mode(mode: int | None) -> int:
    if mode is not None:
        return mode
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write_fd(path: str, descriptor: int, data: bytes) -> None:
    try:
        _write_all(descriptor, data)
    except BrokenPipeError:
        raise  # the reader went away (| head): not a bad path; the CLI exits 0 as for stdout
    except OSError as problem:
        raise OutputPathError(f"{path}: {_reason(problem)}") from None


def _write_special(path: str, data: bytes) -> None:
    # No O_CREAT: it exists; no O_TRUNC: a device or a pipe has nothing to truncate.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
    except BrokenPipeError:
        raise  # a FIFO whose reader went away, as above
    except OSError as problem:
        raise OutputPathError(f"{path}: {_reason(problem)}") from None


def _replace(path: str, target: str, data: bytes, mode: int, durable: bool) -> None:
    directory = os.path.dirname(target)
    temporary = None
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
        try:
            os.fchmod(fd, mode)
            _write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, target)
        temporary = None
        if durable:
            _sync_directory(directory)
    except OSError as problem:
        raise OutputPathError(f"{path}: {_reason(problem)}") from None
    finally:
        if temporary is not None:
            try:
                os.unlink(temporary)
            except OSError:
                pass


def _sync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

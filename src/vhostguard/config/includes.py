"""Which files an ``Include``/``IncludeOptional`` names, in httpd's order.

Mirrors ``ap_process_fnmatch_configs`` (server/config.c) and
``ap_dir_nofnmatch``/``ap_dir_fnmatch`` (server/util.c): a directory is read
recursively with entries sorted bytewise; wildcards may appear in any path
component; ``*`` does not match a leading dot; ``Include`` fails where httpd
fails, ``IncludeOptional`` is silent about what is missing.
"""
from __future__ import annotations

import errno
import fnmatch
import os
import re
import stat
from functools import lru_cache

MAX_DIR_DEPTH = 128
# Directory entries one Include may visit. httpd has no such bound, but it stops
# at the first file it cannot open; wildcards over self-referencing symlinks
# would still multiply without one (IncludeOptional makes httpd itself run
# out of memory there).
MAX_INCLUDE_ENTRIES = 100_000
_PREFIX = "Include/IncludeOptional: "


class IncludeError(Exception):
    """httpd's own wording for an Include that cannot be satisfied."""


def server_root_relative(server_root: str, path: str) -> str:
    """``ap_server_root_relative``: absolute paths stay, others join ServerRoot."""
    if os.path.isabs(path):
        return os.path.normpath(path)
    return os.path.normpath(os.path.join(server_root, path))


def has_wildcard(path: str) -> bool:
    """``apr_fnmatch_test``: is there a ``*``, ``?`` or a ``[`` later closed by ``]``?
    A backslash hides the character after it (``\\*`` is no wildcard)."""
    if "*" not in path and "?" not in path and "]" not in path:
        return False  # the usual case, decided without the walk
    opened = False
    index = 0
    while index < len(path):
        char = path[index]
        if char in "*?":
            return True
        if char == "\\":
            index += 1
        elif char == "[":
            opened = True
        elif char == "]" and opened:
            return True
        index += 1
    return False


def expand_include(path: str, optional: bool) -> list[str]:
    """The files to read for an include of absolute ``path``, in order.

    Raises IncludeError with httpd's message when a non-optional include
    cannot be satisfied.
    """
    files: list[str] = []
    budget = [MAX_INCLUDE_ENTRIES]
    if not has_wildcard(path):
        _nofnmatch(path, optional, files, 0, budget)
        return files
    parts = path.strip("/").split("/")
    _fnmatch("/", parts, optional, files, budget)
    return files


def _sorted_entries(directory: str, budget: list[int]) -> list[str]:
    names = os.listdir(directory)
    budget[0] -= len(names)
    if budget[0] < 0:
        raise IncludeError(
            f"{_PREFIX}more than {MAX_INCLUDE_ENTRIES} directory entries to read under {directory}; "
            "include a narrower path or pattern"
        )
    return sorted(names, key=os.fsencode)


def _symlink_loop(path: str) -> IncludeError:
    # httpd tries to open it as a file and stops there (Include and IncludeOptional alike
    # here: httpd's IncludeOptional goes on and multiplies the walk until memory runs out).
    return IncludeError(f"Could not open configuration file {path}: Too many levels of symbolic links")


def _nofnmatch(path: str, optional: bool, out: list[str], depth: int, budget: list[int]) -> None:
    # One stat answers both "a directory?" and "exists?" (lstat only for what stat
    # cannot see, a broken symlink): this runs once per included file.
    try:
        mode: int | None = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _symlink_loop(path) from None
        mode = None
    except ValueError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        depth += 1
        if depth > MAX_DIR_DEPTH:
            raise IncludeError(
                f"{_PREFIX}Directory '{path}' exceeds the maximum include directory nesting level of "
                f"{MAX_DIR_DEPTH}. You have probably a recursion somewhere."
            )
        try:
            names = _sorted_entries(path, budget)
        except OSError as exc:
            raise IncludeError(f"{_PREFIX}Could not open directory {path}: {exc.strerror}") from None
        for name in names:
            _nofnmatch(os.path.join(path, name), optional, out, depth, budget)
        return
    if optional and mode is None and not os.path.lexists(path):
        return
    out.append(path)


def _fnmatch(base: str, parts: list[str], optional: bool, out: list[str], budget: list[int]) -> None:
    head, rest = parts[0], parts[1:]
    if not has_wildcard(head):
        joined = os.path.join(base, head)
        if rest:
            _fnmatch(joined, rest, optional, out, budget)
        else:
            _nofnmatch(joined, optional, out, 0, budget)
        return
    try:
        names = _sorted_entries(base, budget)
    except FileNotFoundError:
        if optional:
            return
        raise IncludeError(f"{_PREFIX}Could not open directory {base}: No such file or directory") from None
    except OSError as exc:
        raise IncludeError(f"{_PREFIX}Could not open directory {base}: {exc.strerror}") from None
    matcher = _compile_glob(head)
    matched = False
    for name in names:
        if name.startswith(".") and not head.startswith("."):
            continue  # APR_FNM_PERIOD: a leading dot must be matched literally
        if not matcher(name):
            continue
        full = os.path.join(base, name)
        if rest and not os.path.isdir(full):
            continue
        matched = True
        if rest:
            _fnmatch(full, rest, optional, out, budget)
        else:
            _nofnmatch(full, optional, out, 0, budget)
    if not matched and not optional:
        raise IncludeError(f"{_PREFIX}No matches for the wildcard '{head}' in '{base.rstrip('/') or '/'}', failing")


@lru_cache(maxsize=256)
def _compile_glob(pattern: str):  # type: ignore[no-untyped-def]
    return re.compile(fnmatch.translate(pattern), re.DOTALL).match

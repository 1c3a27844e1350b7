"""Running apache2 in its own process group, and making sure all of it stops.

apache2 forks workers (and mod_cgid a daemon); they share the parent's
process group, which is new for each sandbox, so "nothing left behind" can
be checked and enforced for the whole group, not just the pid we started.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence

STOP_GRACE = 5.0  # seconds for httpd's own orderly stop before SIGKILL


def spawn(argv: Sequence[str], env: Mapping[str, str], output: str, cwd: str) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session (so a new process group), output appended to ``output``."""
    with open(output, "ab") as sink:
        return subprocess.Popen(
            list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink,
            start_new_session=True, close_fds=True,
        )


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``."""
    if not os.path.isdir("/proc"):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    found: list[int] = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read().decode("ascii", errors="replace")
        except OSError:
            continue
        # Fields after the command name (which may contain spaces and parentheses).
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(name))
    return found


def children_of(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (e.g. httpd's workers)."""
    found: list[int] = []
    if not os.path.isdir("/proc"):
        return found
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read().decode("ascii", errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(name))
    return found


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_group_empty(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while group_members(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def stop_group(process: subprocess.Popen[bytes], grace: float = STOP_GRACE) -> None:
    """Stop httpd and everything in its process group; returns when none of it is left.

    SIGTERM to the parent first (httpd then stops its children itself), then
    SIGKILL to the whole group for anything still there after ``grace``.
    """
    pgid = process.pid  # start_new_session: the group id is the leader's pid
    if process.poll() is None:
        try:
            process.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(pgid, signal.SIGKILL)
            process.wait(timeout=grace)
    if not _wait_group_empty(pgid, 1.0):
        # Workers whose parent died unexpectedly, or that ignored the parent's signal.
        _signal_group(pgid, signal.SIGKILL)
        _wait_group_empty(pgid, grace)

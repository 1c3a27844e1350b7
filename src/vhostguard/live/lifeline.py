"""Nothing of a sandbox outlives the process that started it, however that process ends.

Three layers, for three ways of ending:

- SIGTERM and SIGHUP (a service manager, a closed terminal) are turned into
  ``Terminated``, raised in the main thread as SIGINT raises
  KeyboardInterrupt, so ``with Sandbox(...)`` blocks unwind and stop apache2
  the ordinary way.
- SIGKILL cannot be caught. A watchdog (``sh``, in its own session) holds
  the read end of a pipe whose only write end is ours; when we die the
  kernel closes it, ``read`` sees end-of-file, and the watchdog kills
  apache2's whole process group and removes the sandbox directory. A
  parent-death signal on apache2 would not do: httpd's workers are forked
  by it (the setting is cleared on fork) and go on serving after their
  parent is killed (seen with mpm_event: they keep the listening sockets).
- Whatever still escapes (the watchdog killed too, a power cut) is swept at
  the next sandbox start: each sandbox directory names its owner process,
  and a directory whose owner is gone is removed, its apache2 killed first.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

from vhostguard.exitcodes import Terminated
from vhostguard.live.layout import SANDBOX_PREFIX
from vhostguard.live.process import group_members

OWNER_FILE = "owner"  # "PID STARTTIME" of the process that made the sandbox directory
TERMINATING = (signal.SIGTERM, signal.SIGHUP)

# $1 the process group, $2 the directory ("" to keep it). "stop" on the pipe:
# the sandbox was stopped in order, nothing to do (and the group id may be reused).
_WATCHDOG = 'read -r word; [ "$word" = stop ] && exit 0; kill -KILL "-$1" 2>/dev/null; [ -n "$2" ] && rm -rf -- "$2"; exit 0'


def process_identity(pid: int) -> str | None:
    """``"PID STARTTIME"`` for a live process (start time from /proc: a reused pid has another), else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode("ascii", errors="replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return f"{pid} {fields[19]}"  # field 22 of stat(5): starttime


def mark_owner(root: str) -> None:
    """Record in ``root`` which process owns it (read by ``sweep_stale``)."""
    identity = process_identity(os.getpid())
    if identity is None:
        return  # no /proc: nothing can check the mark later either
    with open(os.path.join(root, OWNER_FILE), "w", encoding="ascii") as handle:
        handle.write(identity + "\n")


def _owner_gone(root: str) -> bool:
    try:
        with open(os.path.join(root, OWNER_FILE), encoding="ascii") as handle:
            recorded = handle.read().strip()
    except OSError:
        return False  # no mark: a kept sandbox, or one being created right now
    try:
        pid = int(recorded.split()[0])
    except (ValueError, IndexError):
        return False
    return process_identity(pid) != recorded


def _kill_sandbox_apache(root: str) -> None:
    """Kill the process group of the apache2 whose pid file is in ``root``, if it is that sandbox's."""
    try:
        with open(os.path.join(root, "run", "httpd.pid"), encoding="ascii") as handle:
            pid = int(handle.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")
    except (OSError, ValueError):
        return
    # The pid may have been reused: only a process started on this sandbox's copy is killed.
    if not any(arg.startswith(os.fsencode(root + os.sep)) for arg in argv):
        return
    if group_members(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def sweep_stale(parent: str) -> list[str]:
    """Remove sandbox directories under ``parent`` whose owner process is gone; returns them.

    Only our own directories (same uid) with an owner mark are touched.
    """
    removed: list[str] = []
    try:
        names = [n for n in os.listdir(parent) if n.startswith(SANDBOX_PREFIX)]
    except OSError:
        return removed
    for name in names:
        root = os.path.join(parent, name)
        try:
            if os.lstat(root).st_uid != os.getuid() or not os.path.isdir(root) or os.path.islink(root):
                continue
        except OSError:
            continue
        if _owner_gone(root):
            _kill_sandbox_apache(root)
            shutil.rmtree(root, ignore_errors=True)
            removed.append(root)
    return removed


@dataclass
class Watchdog:
    """Kills process group ``pgid`` and removes ``root`` if this process dies without calling ``release``."""

    process: subprocess.Popen[bytes]

    @staticmethod
    def start(pgid: int, root: str | None) -> Watchdog:
        # stdin=PIPE: Python's pipe ends are close-on-exec, so apache2 (started
        # before) and later children never hold the write end: only we do.
        process = subprocess.Popen(
            ["/bin/sh", "-c", _WATCHDOG, "vhostguard-watchdog", str(pgid), root or ""],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True,
        )
        return Watchdog(process)

    def release(self) -> None:
        """The sandbox stopped in order: the watchdog exits without doing anything."""
        stdin = self.process.stdin
        try:
            if stdin is not None:
                stdin.write(b"stop\n")
                stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


@dataclass
class TerminationSignals:
    """SIGTERM/SIGHUP raise ``Terminated`` while a sandbox runs (main thread only).

    Installed only over the default action (which would end the process
    without any cleanup); a handler of the application's own is left alone.
    """

    installed: dict[int, object] = field(default_factory=dict)

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers belong to the main thread; the watchdog still covers us
        for sig in TERMINATING:
            if signal.getsignal(sig) == signal.SIG_DFL:
                self.installed[sig] = signal.signal(sig, _raise_terminated)

    def restore(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, previous in self.installed.items():
            if signal.getsignal(sig) is _raise_terminated:
                signal.signal(sig, previous)  # type: ignore[arg-type]
        self.installed.clear()


@contextmanager
def signals_held(then_restore: TerminationSignals) -> Iterator[None]:
    """Signals that would interrupt the cleanup wait until it is done, then are delivered again
    (after ``then_restore`` has put back the handlers it replaced)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        arrived.append(signum)

    held = (signal.SIGINT, *TERMINATING)
    previous = {sig: signal.signal(sig, remember) for sig in held}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        then_restore.restore()
        for signum in dict.fromkeys(arrived):
            signal.raise_signal(signum)

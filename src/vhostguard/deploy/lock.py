"""The deploy lock: one deploy (or rollback, or recovery) at a time per state directory.

flock(2) on ``deploy.lock``: the kernel drops it when the holder exits, even on kill -9, so a
crashed deploy never leaves a stale lock. The file holds the holder's id and pid so the one refused
can say whom it waits for. The file is never unlinked: unlinking a flocked file lets a third process
lock a new inode while the second still holds the old one.
"""
from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass
from types import TracebackType

LOCK_NAME = "deploy.lock"


class LockHeld(Exception):
    """Another deploy holds the lock; ``holder_id`` and ``holder_pid`` say which (None when unreadable)."""

    def __init__(self, path: str, holder_id: str | None, holder_pid: int | None) -> None:
        self.holder_id = holder_id
        self.holder_pid = holder_pid
        super().__init__(f"{path}: deploy {holder_id or '?'} (pid {holder_pid or '?'}) is running; "
                         "wait for it to finish")


@dataclass(frozen=True)
class Holder:
    deploy_id: str
    pid: int


class DeployLock:
    """``with DeployLock(state_dir, deploy_id):`` holds the lock or raises LockHeld at once (no waiting)."""

    def __init__(self, state_dir: str, deploy_id: str) -> None:
        self.path = os.path.join(state_dir, LOCK_NAME)
        self.deploy_id = deploy_id
        self._fd: int | None = None

    def acquire(self) -> Holder:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = read_holder(self.path)
            raise LockHeld(self.path, holder.deploy_id if holder else None,
                           holder.pid if holder else None) from None
        holder = Holder(self.deploy_id, os.getpid())
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"id": holder.deploy_id, "pid": holder.pid}).encode(), 0)
        self._fd = fd
        return holder

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # an empty file: nobody holds it
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> Holder:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.release()


def read_holder(path: str, attempts: int = 20) -> Holder | None:
    """Who holds the lock at ``path``, by what it wrote. The holder writes just after locking, so an
    empty file is retried briefly (a few ms) before giving up with None."""
    for _ in range(attempts):
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            return None
        if text:
            try:
                data = json.loads(text)
                return Holder(str(data["id"]), int(data["pid"]))
            except (ValueError, KeyError, TypeError):
                pass  # caught mid-write: read again
        time.sleep(0.005)
    return None

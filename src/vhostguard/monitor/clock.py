"""Clocks: the wall clock the watcher runs on (injectable), and the log clock its windows run on."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

MAX_AHEAD = 300.0  # seconds a log time may run ahead of the wall clock before it is not believed


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock epoch seconds."""

    def sleep(self, seconds: float) -> None:
        """Wait (a test clock just moves on)."""


@dataclass
class SystemClock:
    """The real clock; ``sleep`` returns early when ``wake`` is set (a stop request)."""

    wake: threading.Event | None = None

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if self.wake is not None:
            self.wake.wait(seconds)
        else:
            time.sleep(seconds)


@dataclass
class ManualClock:
    """A clock tests move by hand; ``sleep`` advances it."""

    now: float = 0.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class LogClock:
    """The newest access-log time seen, advanced by the wall clock while the logs are quiet.

    While lines are being read (a replay, a backlog, live traffic) the clock
    is the newest line's time: a watcher running behind must not let its
    windows run ahead of the lines it has not read yet. Once every log is
    read to its end (``idle``), the clock moves on with the wall clock, so a
    log that goes quiet still lets windows age and alerts resolve. None
    until the first line.
    """

    log_time: float | None = None
    idle_since: float | None = None

    def now(self, wall: float) -> float | None:
        if self.log_time is None:
            return None
        if self.idle_since is None:
            return self.log_time
        return self.log_time + max(0.0, wall - self.idle_since)

    def observe(self, log_time: float, wall: float) -> None:
        """A line at ``log_time`` was read at ``wall``; times far ahead of the wall clock are capped."""
        log_time = min(log_time, wall + MAX_AHEAD)
        current = self.now(wall)
        if current is None or log_time > current:
            self.log_time = log_time
            if self.idle_since is not None:
                self.idle_since = wall

    def idle(self, wall: float) -> None:
        """Every log is read to its end: from now on the wall clock moves the clock."""
        if self.idle_since is None:
            self.idle_since = wall

    def busy(self, wall: float) -> None:
        """Lines are coming in: keep the quiet time that passed, then follow the lines again."""
        if self.idle_since is not None:
            self.log_time = self.now(wall)
            self.idle_since = None

    def to_state(self) -> dict[str, Any]:
        return {"log_time": self.log_time}

    def restore(self, state: dict[str, Any], wall: float) -> None:
        # The clock resumes at the last log time: a backlog written while we were down then
        # replays on its own times instead of arriving "late" against the wall clock.
        log_time = state.get("log_time")
        self.log_time = None if log_time is None else float(log_time)
        self.idle_since = None

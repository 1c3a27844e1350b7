"""What every doctor check reads: the options, the config as loaded, the server state."""
from __future__ import annotations

import ipaddress
import os
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime

from vhostguard.checks import Expectations
from vhostguard.config import ConfigTree, LoadOptions
from vhostguard.diagnose.findings import RecentChange, ServerState
from vhostguard.model import ServerModel

SINCE = 1800.0  # seconds of logs the logs check reads by default (--since 30m)
BACKEND_TIMEOUT = 2.0  # seconds per backend connect: a healthy backend on a LAN answers in milliseconds


@dataclass(frozen=True)
class DoctorOptions:
    """How doctor runs. ``connect``: the server to talk to instead of the
    config's own (HOST, PORT); ``offline``: no network connections at all
    (no backend connects, no probes); ``apache2``: the binary for ``-t``
    (None: not installed, that part is skipped); ``urls`` and ``expectations``:
    the requests the routing check routes (and probes unless ``offline``);
    ``since``: seconds of logs the logs check reads back from ``now`` (None:
    the wall clock), and as much before them to compare with; ``changes``: the deploys and rollbacks
    recorded in the state directory (the CLI reads them), ``state_option`` the ``--state DIR`` words
    its next commands repeat."""

    main_file: str
    load: LoadOptions
    connect: tuple[str, int] | None = None
    offline: bool = False
    apache2: str | None = None
    backend_timeout: float = BACKEND_TIMEOUT
    urls: tuple[str, ...] = ()
    expectations: tuple[Expectations, ...] = ()
    since: float = SINCE
    now: float | None = None
    changes: tuple[RecentChange, ...] = ()
    state_option: str = ""


@dataclass(frozen=True)
class FailingRequest:
    """A request the access logs show failing: its URL (Host as sent) and ``file:line`` of the log line."""

    url: str
    origin: str


@dataclass(frozen=True)
class DoctorContext:
    """The inputs of every check. ``server`` is None when the server is not on
    this machine (``--connect`` to another host): its PidFile, /proc and sockets
    are not ours to read. ``failing``: the failing requests the logs check
    found, filled in by it for the routing check that runs after it."""

    options: DoctorOptions
    tree: ConfigTree
    model: ServerModel
    server: ServerState | None
    failing: list[FailingRequest] = field(default_factory=list, compare=False)
    _lines: dict[str, list[str]] = field(default_factory=dict, repr=False, compare=False)  # file -> its lines, read once

    @property
    def main_file(self) -> str:
        return self.options.main_file

    @property
    def local(self) -> bool:
        return self.server is not None

    def command(self, *words: str) -> str:
        """A vhostguard command line for this config (shell-quoted)."""
        return shlex.join(["vhostguard", *words, "-f", self.main_file])

    def line_text(self, path: str, line: int) -> str:
        """The text of a config line, stripped (empty when unreadable)."""
        if path not in self._lines:
            self._lines[path] = _read_lines(path)
        lines = self._lines[path]
        return lines[line - 1].strip() if 0 < line <= len(lines) else ""

    def source_line(self, path: str, line: int) -> str:
        """``path:line: text`` of a config line."""
        return f"{path}:{line}: {self.line_text(path, line)}".rstrip()


def is_local(connect: tuple[str, int] | None) -> bool:
    """Is the server to diagnose on this machine (no ``--connect``, or one to loopback)?"""
    if connect is None:
        return True
    host = connect[0].strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def iso(seconds: float | None) -> str | None:
    """``2026-12-04T03:15:02.571+00:00`` (milliseconds: a reload and an edit may share a second)."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return []


def mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None

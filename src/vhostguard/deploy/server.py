"""Reload the running httpd gracefully and wait until its new generation serves.

``choose_reload`` picks the command the system would use (``--reload CMD``;
``systemctl reload`` where systemd runs this very server; Debian's
``apache2ctl graceful``; RHEL's ``httpd -k graceful``; else ``apache2 -k
graceful -d ROOT -f MAIN``). ``reload_and_wait`` issues it and watches the
server the live config describes (its PidFile, error log and Listen addresses).

A graceful restart (SIGUSR1) keeps the parent's pid: the parent re-reads the
configuration, tells the old children to finish their requests and stop
listening, logs ``AH00489``/``AH00163`` "... configured -- resuming normal
operations" (and ``AH00094`` "Command line") and forks new children
(server/mpm/event/event.c, ``event_run``). So the new generation serves once
that notice is in the error log after the reload, a child that did not exist
before runs, and a request on a Listen address is answered. When the config
fails the command's own syntax check (``apache2ctl graceful`` runs ``-t``
first; ``apache2 -k graceful`` reads the config before signalling), nothing
is signalled and the old generation keeps serving; when the parent itself
cannot use the new config it exits, and the server is down.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vhostguard import live
from vhostguard.config import ConfigError, LoadOptions, load
from vhostguard.deploy.slots import live_directory
from vhostguard.diagnose import RESUME_CODES, iso, observe_server, pid_file, process_alive, worker_pids
from vhostguard.logs import decode_lines, lines_before
from vhostguard.model import ServerModel, build_model
from vhostguard.monitor import find_error_logs, parse_error_line

CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
SBIN_PATH = f"{CLEAN_PATH}:/usr/local/sbin:/usr/local/apache2/bin"
DEBIAN_MAIN = "apache2.conf"  # apache2ctl passes only -d: apache2 reads its compiled-in SERVER_CONFIG_FILE there
COMMAND_TIMEOUT = 60.0  # seconds for the reload command itself (apache2ctl runs apache2 -t first)
POLL = 0.05
PROBE_TIMEOUT = 2.0
LAST_LINES = 3  # error-log lines quoted when a reload fails
MAX_READ = 4 << 20  # bytes of new error-log text read per look


class ReloadError(Exception):
    """The reload failed (no running server, command refused, server stopped, timeout): one line."""


@dataclass(frozen=True)
class ServerControl:
    """How to reach the running server: the live main file (its directory is the live symlink),
    ``-d``, the envvars file, ``--reload CMD`` and the apache2 binary (None: found on PATH)."""

    live_main: str
    server_root: str | None = None
    env_file: str | None = None
    reload_command: str | None = None
    apache2: str | None = None

    @property
    def live_dir(self) -> str:
        """The live config directory (the slot symlink; RHEL: the ServerRoot /etc/httpd)."""
        return live_directory(self.live_main, self.server_root)


@dataclass(frozen=True)
class ReloadResult:
    at: str  # when the reload was issued (ISO 8601 UTC)
    serving_after_s: float  # from issuing it until the new generation answered
    command: tuple[str, ...]
    evidence: str  # the resume notice with file:line (or what else showed the new generation)

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "serving_after_s": round(self.serving_after_s, 3), "command": list(self.command),
                "evidence": self.evidence}


# -- which command -------------------------------------------------------------------------

def _systemd_is_pid_1() -> bool:
    """sd_booted(3): systemd made /run/systemd/system; apache2ctl reads /proc/1/exe (not always readable)."""
    if os.path.isdir("/run/systemd/system"):
        return True
    try:
        return "systemd" in os.path.basename(os.readlink("/proc/1/exe"))
    except OSError:
        return False


def _unit_main_pid(systemctl: str, unit: str) -> int | None:
    """The MainPID of ``unit`` when it is active, else None (``systemctl show``)."""
    try:
        done = subprocess.run([systemctl, "show", "--property=ActiveState,MainPID", unit], capture_output=True,
                              text=True, timeout=10, check=False, env={"PATH": CLEAN_PATH, "LANG": "C"})
    except (OSError, subprocess.TimeoutExpired):
        return None
    values = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    if values.get("ActiveState") != "active" or not values.get("MainPID", "").isdigit():
        return None
    return int(values["MainPID"]) or None


@dataclass(frozen=True)
class Host:
    """What ``choose_reload`` asks this machine: is systemd PID 1, where is a program, and
    the MainPID of an active systemd unit. Tests pass fakes (systemctl is never run there)."""

    systemd: Callable[[], bool] = _systemd_is_pid_1
    which: Callable[[str], str | None] = field(default=lambda name: shutil.which(name, path=SBIN_PATH))
    unit_main_pid: Callable[[str, str], int | None] = _unit_main_pid


def load_live(control: ServerControl) -> ServerModel:
    """The live config as the server reads it (``envvars`` beside it, or ``env_file``)."""
    try:
        environ = live.apache_environment(control.live_main, control.env_file)
    except ConfigError as problem:
        raise ReloadError(f"cannot read the environment file: {problem}") from None
    tree = load(control.live_main, LoadOptions(server_root=control.server_root, env_file=control.env_file,
                                               environ=environ))
    if not tree.nodes:
        why = tree.errors[0] if tree.errors else "no directive"
        raise ReloadError(f"cannot read the live config {control.live_main}: {why}")
    return build_model(tree)


def _systemd_units(live_dir: str) -> list[str]:
    """Units that may run this server: Debian's apache2 (apache2@SUFFIX for /etc/apache2-SUFFIX, as
    apache2ctl names it), RHEL's httpd."""
    name = os.path.basename(live_dir.rstrip("/"))
    units = [f"apache2@{name[len('apache2-'):]}"] if name.startswith("apache2-") else []
    return units + ["apache2", "httpd"]


def choose_reload(control: ServerControl, *, host: Host | None = None) -> tuple[str, ...]:
    """The command that reloads the server ``control`` describes (see the module docstring).

    ``systemctl reload <unit>`` only when systemd is PID 1 and the unit is active with the
    MainPID our PidFile names (else systemd does not run this server, and reloading the unit
    would reload another one); ``apache2ctl graceful`` (through ``env APACHE_CONFDIR=<live
    dir>``) when the live dir has ``envvars``, the main file is ``apache2.conf`` and apache2ctl
    exists; ``httpd -k graceful`` where httpd is installed; else the apache2 binary with
    ``-k graceful -d ROOT -f MAIN``. Raises ReloadError when no command can be found.
    """
    if control.reload_command is not None:
        argv = tuple(shlex.split(control.reload_command))
        if not argv:
            raise ReloadError("--reload: the command is empty; give the command that reloads httpd")
        return argv
    host = host or Host()
    main = os.path.abspath(control.live_main)
    live_dir = control.live_dir
    root = os.path.abspath(control.server_root) if control.server_root else None
    systemctl = host.which("systemctl")
    if systemctl is not None and host.systemd():
        pid = observe_server(load_live(control)).pid
        if pid is not None:
            for unit in _systemd_units(live_dir):
                if host.unit_main_pid(systemctl, unit) == pid:
                    return (systemctl, "reload", unit)
    apache2ctl = host.which("apache2ctl")
    if (apache2ctl is not None and os.path.isfile(os.path.join(live_dir, "envvars"))
            and os.path.basename(main) == DEBIAN_MAIN and root in (None, live_dir)):
        env = ["env", f"APACHE_CONFDIR={live_dir}"]
        if control.env_file is not None:
            env.append(f"APACHE_ENVVARS={os.path.abspath(control.env_file)}")
        if control.apache2 is not None:
            env.append(f"APACHE_HTTPD={control.apache2}")
        return (*env, apache2ctl, "graceful")
    binary = control.apache2 or host.which("httpd") or host.which("apache2")
    if binary is None:
        raise ReloadError("no apache2 or httpd binary found: install it, or pass --reload CMD")
    # Always -d: without it apache2 takes its compiled-in ServerRoot (/etc/apache2, /etc/httpd), checks
    # *that* tree's relative Includes, and signals a server that then fails on its own and exits.
    return (binary, "-k", "graceful", "-d", root or live_dir, "-f", main)


def _command_environment(control: ServerControl, argv: tuple[str, ...]) -> dict[str, str]:
    """``--reload CMD`` runs in our environment; the commands chosen here in apache2ctl's
    (a clean PATH; for ``-k graceful`` also what envvars exports, as apache2ctl sources it)."""
    if control.reload_command is not None:
        return dict(os.environ)
    if "-k" in argv:
        try:
            return {**live.apache_environment(control.live_main, control.env_file), "LANG": "C"}
        except ConfigError as problem:
            raise ReloadError(f"cannot read the environment file: {problem}") from None
    return {"PATH": CLEAN_PATH, "LANG": "C"}


# -- waiting for the new generation ----------------------------------------------------------

@dataclass
class _ErrorLog:
    """The error log's part written after ``offset`` (where it ended before the reload). Lines are
    numbered from the offset; the lines before it are counted only when a reference is written."""

    path: str | None
    offset: int = 0
    inode: int | None = None
    seen: list[tuple[int, str]] = field(default_factory=list)  # (number after the offset, text)
    _rest: bytes = b""
    _read_to: int = 0
    _before: int | None = None

    @classmethod
    def mark(cls, path: str | None) -> _ErrorLog:
        if path is None:
            return cls(None)
        try:
            info = os.stat(path)
        except OSError:
            return cls(path)  # not there yet: everything it will hold is new
        if not os.access(path, os.R_OK):
            return cls(None)  # as if it logged to syslog: the children and the probe tell
        return cls(path, info.st_size, info.st_ino, _read_to=info.st_size)

    def read(self) -> list[tuple[int, str]]:
        """The new complete lines since the last read, numbered."""
        if self.path is None:
            return []
        try:
            with open(self.path, "rb") as handle:
                info = os.fstat(handle.fileno())
                if (self.inode is not None and info.st_ino != self.inode) or info.st_size < self._read_to:
                    # Rotated (or truncated) since the mark: the new file is all new.
                    self.inode, self.offset, self._before, self._read_to, self._rest = info.st_ino, 0, 0, 0, b""
                    self.seen = []
                handle.seek(self._read_to)
                data = handle.read(MAX_READ)
        except OSError:
            return []
        self._read_to += len(data)
        data = self._rest + data
        complete, newline, self._rest = data.rpartition(b"\n")
        if not newline:
            return []
        first = len(self.seen) + 1
        found = list(enumerate(decode_lines(complete), first))
        self.seen += found
        return found

    def where(self, number: int) -> str:
        """``path:line`` of the ``number``th line after the offset."""
        if self._before is None:
            self._before = lines_before(self.path, self.offset) if self.path is not None and self.offset else 0
        return f"{self.path}:{self._before + number}"

    def last(self, count: int = LAST_LINES) -> list[str]:
        return [f"{self.where(n)}: {text.strip()}" for n, text in self.seen[-count:] if text.strip()]


def _probe_address(model: ServerModel) -> tuple[str, int] | None:
    """The first Listen address (a wildcard one through loopback)."""
    for listen in model.listens:
        ip = listen.ip or "127.0.0.1"
        return (ip.strip("[]"), listen.port)
    return None


def _answers(address: tuple[str, int]) -> tuple[bool, str]:
    host = f"[{address[0]}]" if ":" in address[0] else address[0]
    scheme = "https" if address[1] == 443 else "http"
    try:
        result = live.probe(f"{scheme}://{host}:{address[1]}/", address, timeout=PROBE_TIMEOUT, max_body=4096)
    except live.ProbeError as problem:
        return False, str(problem)
    return True, f"{result.status} {result.reason}"


def _children(parent: int) -> set[int]:
    return set(worker_pids(parent)) - {parent}


def _resume_notice(lines: list[tuple[int, str]], pid: int | None, log: _ErrorLog) -> str | None:
    """``AH00489 ... (file:line)`` of the first resume notice of ``pid`` (None: any pid) among ``lines``."""
    for number, text in lines:
        if not any(code in text for code in RESUME_CODES):
            continue
        entry = parse_error_line(text, log.path or "")
        if entry.code in RESUME_CODES and (pid is None or entry.pid in (None, pid)):
            return f"{entry.code}: {entry.message.strip()} ({log.where(number)})"
    return None


def reload_and_wait(control: ServerControl, timeout_s: float = 30.0, *, host: Host | None = None) -> ReloadResult:
    """Reload the server the live config describes and wait until its new generation serves.

    The live config (which now resolves to the new slot) gives the PidFile, the main error
    log and the Listen addresses. Before issuing the command, the error log's size and the
    parent's pid and children are recorded; after it, the new part of the error log must
    hold the parent's resume notice (or, without a readable error log, a child must have
    been replaced), a child that did not exist before must run, and a request to a Listen
    address must be answered. Raises ReloadError (no running server, the command failed or
    apache2 refused the config, the server stopped, timeout: naming what was last seen).
    """
    model = load_live(control)
    state = observe_server(model)
    if state.pid is None:
        raise ReloadError(f"no running server to reload: {state.problem}")
    parent = state.pid
    targets, _ = find_error_logs(model)
    log = _ErrorLog.mark(targets[0].path if targets else None)
    before = _children(parent)
    address = _probe_address(model)
    argv = choose_reload(control, host=host)
    env = _command_environment(control, argv)
    at = time.time()
    started = time.monotonic()
    try:
        done = subprocess.run(list(argv), env=env, capture_output=True, text=True, errors="replace",
                              timeout=COMMAND_TIMEOUT, check=False, stdin=subprocess.DEVNULL,
                              cwd=control.live_dir if os.path.isdir(control.live_dir) else None)
    except FileNotFoundError:
        raise ReloadError(f"cannot run {shlex.join(argv)}: {argv[0]} not found") from None
    except OSError as problem:
        raise ReloadError(f"cannot run {shlex.join(argv)}: {problem.strerror or problem}") from None
    except subprocess.TimeoutExpired:
        raise ReloadError(f"{shlex.join(argv)} did not finish within {COMMAND_TIMEOUT:g}s") from None
    if done.returncode != 0:
        raise ReloadError(_refused(argv, done, parent, log))
    return _wait(argv, at, started, timeout_s, parent, before, log, address, pid_file(model))


def _refused(argv: tuple[str, ...], done: subprocess.CompletedProcess[str], parent: int, log: _ErrorLog) -> str:
    output = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    # apache2ctl's own closing words say nothing; apache2's reason (AH00526 ... on line N of FILE) does.
    reasons = [line for line in output if not line.startswith(("Action '", "The Apache error log"))] or output
    reason = " ".join(reasons[:2]) or f"exit status {done.returncode}"
    log.read()
    if process_alive(parent):
        return (f"{shlex.join(argv)} failed (exit {done.returncode}): {reason}; the new configuration was refused "
                f"and the old generation (pid {parent}) still serves")
    words = "; ".join(log.last()) or "nothing in the error log"
    return (f"{shlex.join(argv)} failed (exit {done.returncode}): {reason}; the server (pid {parent}) stopped: "
            f"{words}")


def _wait(argv: tuple[str, ...], at: float, started: float, timeout_s: float, parent: int, before: set[int],
          log: _ErrorLog, address: tuple[str, int] | None, pidfile: str) -> ReloadResult:
    deadline = started + timeout_s
    notice: str | None = None
    new_child: int | None = None
    last_probe = "not probed yet"
    pid: int | None = parent
    while True:
        fresh = log.read()
        if notice is None:
            notice = _resume_notice(fresh, pid, log)
        if pid is not None and not process_alive(pid):
            # Stopped: a restart command makes a new parent (its PidFile says which); else it is down.
            successor = _pid_in(pidfile)
            if successor is None or successor == pid or not process_alive(successor):
                if time.monotonic() >= started + 1.0 or time.monotonic() >= deadline:
                    log.read()
                    raise ReloadError(
                        f"the server (pid {parent}) stopped after {shlex.join(argv)}: "
                        + ("; ".join(log.last()) or "nothing in the error log")
                        + "; httpd could not use the new configuration: switch back and start it")
            else:
                pid, before, notice = successor, set(), _resume_notice(log.seen, None, log)
        children = _children(pid) if pid is not None and process_alive(pid) else set()
        if new_child is None:
            new_child = min(children - before, default=None)
        generation = notice is not None or (log.path is None and new_child is not None)
        replaced = new_child is not None or (not before and generation)
        if generation and replaced:
            ok, last_probe = _answers(address) if address is not None else (True, "no Listen address to probe")
            if ok:
                evidence = notice or f"new child pid {new_child} of pid {pid}"
                return ReloadResult(_iso(at), time.monotonic() - started, argv, evidence)
        if time.monotonic() >= deadline:
            seen = [f"resume notice: {notice or 'none from pid ' + str(pid) + ' in ' + str(log.path)}",
                    f"children before {sorted(before) or 'none'}, now {sorted(children) or 'none'}",
                    f"probe {_shown(address)}: {last_probe}"]
            last = "; ".join(log.last())
            raise ReloadError(f"the new generation did not serve within {timeout_s:g}s of {shlex.join(argv)} ("
                              + "; ".join(seen) + ")" + (f"; last error-log lines: {last}" if last else ""))
        time.sleep(POLL)


def _pid_in(path: str) -> int | None:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            text = handle.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _shown(address: tuple[str, int] | None) -> str:
    if address is None:
        return "(no Listen)"
    return f"[{address[0]}]:{address[1]}" if ":" in address[0] else f"{address[0]}:{address[1]}"


def _iso(seconds: float) -> str:
    text = iso(seconds)
    assert text is not None
    return text

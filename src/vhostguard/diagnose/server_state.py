"""The running server a config describes: its pid, when it started, when it
last (re)loaded its configuration, and when the config files last changed.

httpd re-reads its configuration on every restart (SIGHUP) and graceful
restart (SIGUSR1) without changing the parent's pid, so the parent's start
time alone does not say which config it runs. After reading it, the parent
logs (at notice level, whatever LogLevel says) ``AH00489``/``AH00163``
"... configured -- resuming normal operations" (event/worker, prefork) and
``AH00094`` "Command line: ...": the last of those from the parent's pid is
the moment the running config was loaded.
"""
from __future__ import annotations

import os

from vhostguard.diagnose.attach import pid_file, process_alive
from vhostguard.diagnose.findings import ServerState
from vhostguard.diagnose.sockets import process_name
from vhostguard.model import ServerModel
from vhostguard.logs import count_newlines
from vhostguard.monitor import find_error_logs, parse_error_line

HTTPD_NAMES = frozenset({"apache2", "httpd", "httpd2", "apache"})
# Logged by the parent once it has (re)read the config (see the module docstring).
RESUME_CODES = frozenset({"AH00489", "AH00163", "AH00094"})
# Logged by the parent when it stops: SIGTERM (event/worker, prefork), graceful stop (SIGWINCH).
STOP_CODES = frozenset({"AH00491", "AH00169", "AH00492"})
TAIL_BYTES = 4 * 1024 * 1024  # how much of the error log's end is read for notices
CLOCK_SLACK = 0.05  # /proc start times have clock-tick (10 ms) resolution


def server_state(model: ServerModel) -> ServerState:
    """What can be seen of the server ``model``'s PidFile names, on this machine."""
    path = pid_file(model)
    changed, newest = config_changed(model)
    error_log = _main_error_log(model)
    pid, problem = _read_pid(path)
    if pid is None:
        words = last_words(error_log) if error_log else ()
        return ServerState(path, None, problem, None, None, None, None, changed, newest, error_log, words)
    started = process_start(pid)
    reloaded, evidence = last_reload(error_log, pid, started) if error_log else (None, None)
    return ServerState(path, pid, None, process_name(pid), started, reloaded, evidence, changed, newest, error_log)


def _read_pid(path: str) -> tuple[int | None, str | None]:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            text = handle.read().strip()
    except FileNotFoundError:
        return None, f"PidFile {path} does not exist: httpd is not running (or runs with another PidFile)"
    except OSError as problem:
        return None, f"cannot read PidFile {path} ({problem.strerror})"
    if not text.isdigit():
        return None, f"PidFile {path} holds {text[:40]!r}, not a pid"
    pid = int(text)
    if not process_alive(pid):
        return None, f"PidFile {path} names pid {pid}, which is not running: httpd stopped or crashed"
    name = process_name(pid)
    if name is not None and name not in HTTPD_NAMES:
        return None, f"PidFile {path} names pid {pid}, which is {name!r}, not httpd: a stale PidFile"
    return pid, None


def process_start(pid: int) -> float | None:
    """Epoch seconds at which ``pid`` started: field 22 of ``/proc/<pid>/stat``
    (clock ticks since boot) plus the boot time (``btime`` of ``/proc/stat``)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode("ascii", "replace")
        with open("/proc/stat", encoding="ascii") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith("btime "))
    except (OSError, StopIteration, ValueError):
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # the command name may hold spaces and parentheses
    try:
        ticks = int(fields[19])  # field 22; fields[0] is field 3 (state)
    except (IndexError, ValueError):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def config_changed(model: ServerModel) -> tuple[float | None, str | None]:
    """The newest modification time among the config files read, and that file."""
    newest: tuple[float, str] | None = None
    for included in model.tree.files:
        try:
            mtime = os.stat(included.path).st_mtime
        except OSError:
            continue
        if newest is None or mtime > newest[0]:
            newest = (mtime, included.path)
    return (newest[0], newest[1]) if newest else (None, None)


def _main_error_log(model: ServerModel) -> str | None:
    targets, _ = find_error_logs(model)
    return targets[0].path if targets else None


def _tail_lines(path: str) -> list[tuple[int, str]]:
    """(line number, text) of the whole lines in the last ``TAIL_BYTES`` of ``path``."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            start = max(0, size - TAIL_BYTES)
            first_line = 1 + count_newlines(handle, 0, start)
            handle.seek(start)
            data = handle.read()
    except OSError:
        return []
    lines = data.decode("utf-8", errors="replace").split("\n")
    if start > 0:
        lines, first_line = lines[1:], first_line + 1  # the first piece is a partial line
    return [(number, line) for number, line in enumerate(lines, first_line) if line.strip()]


def last_reload(path: str, pid: int, started: float | None) -> tuple[float | None, str | None]:
    """The last resume notice of ``pid`` at or after its start in the error log's
    last ``TAIL_BYTES``: (time, ``file:line: text``), or (None, None)."""
    found: tuple[float, str] | None = None
    for number, line in _tail_lines(path):
        if not any(code in line for code in RESUME_CODES):
            continue
        entry = parse_error_line(line, path)
        if entry.code not in RESUME_CODES or entry.time is None:
            continue
        if entry.pid is not None and entry.pid != pid:
            continue  # another server, or this one before the pid was reused
        if started is not None and entry.time < started - CLOCK_SLACK:
            continue
        if found is None or entry.time >= found[0]:
            found = (entry.time, f"{path}:{number}: {line.strip()}")
    return (found[0], found[1]) if found else (None, None)


def last_words(path: str, count: int = 3) -> tuple[str, ...]:
    """The error log's last lines that say why httpd is not running: its stop
    notices (``STOP_CODES``) and anything at level emerg or crit (a Listen that
    cannot bind, AH00072; logs it cannot open, AH00015), as ``file:line: text``."""
    found = []
    for number, line in _tail_lines(path):
        entry = parse_error_line(line, path)
        if entry.code in STOP_CODES or entry.level in ("emerg", "crit"):
            found.append(f"{path}:{number}: {line.strip()}")
    return tuple(found[-count:])

"""A ``--live`` command killed while its sandbox runs leaves no apache2, no open port and no directory.

The request goes to a CGI that sleeps, so the command is caught in the
middle of its work with the sandboxed apache2 (parent, workers, mod_cgid's
daemon and the script) all running; then it is sent SIGTERM, SIGHUP or
SIGKILL as a service manager or a closed terminal would.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.live.helpers import readable_dir, writer
from tests.support.apache import MODULES_DIR, needs_apache
from vhostguard.live import Sandbox
from vhostguard.live.lifeline import OWNER_FILE, SANDBOX_PREFIX, process_identity

pytestmark = [pytest.mark.httpd, needs_apache]

M = MODULES_DIR
SETTLE = 5.0  # seconds everything may take to go away


def _config(root: Path) -> str:
    return f"""
        ServerName main.example
        LoadModule mpm_event_module {M}/mod_mpm_event.so
        LoadModule authz_core_module {M}/mod_authz_core.so
        LoadModule alias_module {M}/mod_alias.so
        LoadModule cgid_module {M}/mod_cgid.so
        Listen 80
        <VirtualHost *:80>
            ServerName www.example.com
            ScriptAlias /slow {root}/cgi/slow.cgi
            <Directory {root}/cgi>
                Require all granted
            </Directory>
        </VirtualHost>
    """


@dataclass(frozen=True)
class Caught:
    """A ``--live`` command in the middle of a request, and what its sandbox consists of."""

    command: subprocess.Popen[bytes]
    sandbox: Path
    processes: list[int]
    listening: list[tuple[str, int]]


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode("ascii", errors="replace")
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()


def _alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _group(pgid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        fields = _stat_fields(int(name)) if name.isdigit() else None
        if fields and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            found.append(int(name))
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _listening(pid: int) -> list[tuple[str, int]]:
    """The TCP addresses process ``pid`` listens on (its socket inodes in /proc/net/tcp)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[3] == "0A" and parts[9] in inodes:  # 0A: LISTEN
            hex_ip, hex_port = parts[1].split(":")
            ip = socket.inet_ntoa(int(hex_ip, 16).to_bytes(4, "little"))
            found.append((ip, int(hex_port, 16)))
    return found


def _accepts(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=0.5):
            return True
    except OSError:
        return False


def _wait(condition, timeout: float = SETTLE) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Path]:
    with readable_dir(tmp_path) as root:
        write = writer(root)
        write("httpd.conf", _config(root))
        script = write("cgi/slow.cgi", "#!/bin/sh\nsleep 60\necho 'Content-Type: text/plain'\necho\necho late\n")
        script.chmod(0o755)
        (root / "tmp").mkdir()
        (root / "tmp").chmod(0o755)  # the sandboxes' parent: httpd's workers traverse it
        yield root


def _start(root: Path, *command: str) -> Caught:
    """Start ``vhostguard COMMAND`` and return once its sandbox is running the sleeping CGI."""
    env = {**os.environ, "TMPDIR": str(root / "tmp")}
    process = subprocess.Popen(
        [sys.executable, "-m", "vhostguard", *command, "-f", str(root / "httpd.conf")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    tmp = root / "tmp"
    state: dict[str, object] = {}

    def sleeping() -> bool:
        sandboxes = list(tmp.glob(SANDBOX_PREFIX + "*"))
        pid_file = sandboxes[0] / "run" / "httpd.pid" if sandboxes else None
        if pid_file is None or not pid_file.exists() or not pid_file.read_text().strip():
            return False
        pgid = int(pid_file.read_text())
        members = _group(pgid)
        if not any(_comm(pid) == "sleep" for pid in members):
            return False
        state.update(sandbox=sandboxes[0], processes=members, listening=_listening(pgid))
        return True

    if not _wait(sleeping, 20):
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"the sandbox never reached the CGI: {out!r} {err!r}")
    caught = Caught(process, state["sandbox"], state["processes"], state["listening"])  # type: ignore[arg-type]
    assert caught.listening and all(_accepts(a) for a in caught.listening)
    assert len(caught.processes) >= 4  # parent, cgid daemon, a worker, the script's sleep
    return caught


def _assert_nothing_left(caught: Caught) -> None:
    assert _wait(lambda: not [p for p in caught.processes if _alive(p)]), \
        [(p, _comm(p)) for p in caught.processes if _alive(p)]
    assert _wait(lambda: not any(_accepts(a) for a in caught.listening))
    assert _wait(lambda: not caught.sandbox.exists()), sorted(os.listdir(caught.sandbox))


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_terminating_signal_stops_the_sandbox_like_an_interrupt(workspace: Path, sig: int, status: int) -> None:
    caught = _start(workspace, "route", "--live", "http://www.example.com/slow")
    caught.command.send_signal(sig)
    _, err = caught.command.communicate(timeout=20)
    assert caught.command.returncode == status, err
    assert b"Traceback" not in err
    _assert_nothing_left(caught)


def test_test_live_terminated(workspace: Path) -> None:
    spec = writer(workspace)("expect.yaml", """
        config: httpd.conf
        cases:
          - url: http://www.example.com/slow
            expect: {status: 200}
    """)
    caught = _start(workspace, "test", str(spec), "--live")
    caught.command.send_signal(signal.SIGTERM)
    _, err = caught.command.communicate(timeout=20)
    assert caught.command.returncode == 143, err
    _assert_nothing_left(caught)


def test_sigkill_takes_the_sandbox_with_it(workspace: Path) -> None:
    caught = _start(workspace, "route", "--live", "http://www.example.com/slow")
    caught.command.kill()
    caught.command.communicate(timeout=20)
    assert caught.command.returncode == -signal.SIGKILL
    _assert_nothing_left(caught)


def _watchdog_of(sandbox: Path) -> int:
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            argv = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"vhostguard-watchdog" in argv and os.fsencode(sandbox) in argv:
            return int(name)
    raise AssertionError("no watchdog for " + str(sandbox))


def test_next_sandbox_sweeps_what_a_killed_owner_left(workspace: Path) -> None:
    """Owner and watchdog both SIGKILLed: the next sandbox start kills that apache2 and removes its directory."""
    caught = _start(workspace, "route", "--live", "http://www.example.com/slow")
    os.kill(_watchdog_of(caught.sandbox), signal.SIGKILL)
    caught.command.kill()
    caught.command.communicate(timeout=20)
    time.sleep(0.5)
    assert caught.sandbox.exists() and any(_alive(p) for p in caught.processes)  # left behind, as before the sweep
    with Sandbox(workspace / "httpd.conf", parent_dir=str(workspace / "tmp")) as sandbox:
        assert sandbox.root is not None and os.path.exists(os.path.join(sandbox.root, OWNER_FILE))
        _assert_nothing_left(caught)
        assert sandbox.running  # its own sandbox is not swept


def test_sweep_spares_live_owners_and_unmarked_directories(workspace: Path) -> None:
    tmp = workspace / "tmp"
    mine = tmp / (SANDBOX_PREFIX + "alive")
    mine.mkdir()
    (mine / OWNER_FILE).write_text(f"{process_identity(os.getpid())}\n")
    kept = tmp / (SANDBOX_PREFIX + "kept")  # a keep=True sandbox has no owner mark
    kept.mkdir()
    dead = tmp / (SANDBOX_PREFIX + "dead")
    dead.mkdir()
    (dead / OWNER_FILE).write_text(f"{os.getpid()} 1\n")  # our pid, another start time: a reused pid
    with Sandbox(workspace / "httpd.conf", parent_dir=str(tmp)):
        assert mine.exists() and kept.exists() and not dead.exists()

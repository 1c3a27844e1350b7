"""Helpers for tests that use the real apache2 as the oracle.

Only tests (and live/) run apache2; the product's static commands never do.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

APACHE2 = shutil.which("apache2") or ("/usr/sbin/apache2" if os.path.exists("/usr/sbin/apache2") else None)
MODULES_DIR = "/usr/lib/apache2/modules"
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}

needs_apache = pytest.mark.skipif(APACHE2 is None, reason="apache2 is not installed (apt-get install apache2)")


def free_port() -> int:
    """A free loopback TCP port (bind port 0 and read it back)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_config(root: Path, modules: tuple[str, ...] = ("mpm_event", "authz_core"), user: str | None = None) -> str:
    """The preamble every sandbox config needs: paths inside ``root``, an MPM, no system state.
    ``user``: the workers run as that user and group (run/ and logs/ made readable to them)."""
    for name in ("run", "logs"):
        (root / name).mkdir(parents=True, exist_ok=True)
        if user:
            (root / name).chmod(0o755)
    lines = [
        f'ServerRoot "{root}"',
        f'PidFile "{root}/run/httpd.pid"',
        f'DefaultRuntimeDir "{root}/run"',
        f'ErrorLog "{root}/logs/error.log"',
        f'Mutex file:{root}/run default',
        "LogLevel warn",
    ]
    for module in modules:
        lines.append(f"LoadModule {module}_module {MODULES_DIR}/mod_{module}.so")
    if user:
        lines += [f"User {user}", f"Group {user}"]
    return "\n".join(lines) + "\n"


def run_apache(conf: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    assert APACHE2 is not None
    return subprocess.run(
        [APACHE2, "-f", str(conf), *args], env=CLEAN_ENV, capture_output=True, text=True, timeout=timeout, check=False
    )


@dataclass
class DumpedSet:
    """One address set as ``apache2 -t -D DUMP_VHOSTS`` prints it."""

    address: str
    default: tuple[str, str]  # (server name, "file:line")
    names: list[tuple[str, str, list[str]]] = field(default_factory=list)  # (name, file:line, aliases)


_SINGLE = re.compile(r"^(\S+)\s+(\S+) \((.*):(\d+)\)$")
_NAMEVHOST = re.compile(r"^\s+port (\S+) namevhost (\S+) \((.*):(\d+)\)$")
_DEFAULT = re.compile(r"^\s+default server (\S+) \((.*):(\d+)\)$")
_ALIAS = re.compile(r"^\s+(?:wild )?alias (.*)$")


def parse_dump_vhosts(text: str) -> list[DumpedSet]:
    """Parse the "VirtualHost configuration:" block of ``apache2 -S`` output."""
    sets: list[DumpedSet] = []
    in_block = False
    for line in text.splitlines():
        if line.startswith("VirtualHost configuration:"):
            in_block = True
            continue
        if not in_block:
            continue
        if line.endswith("is a NameVirtualHost"):
            sets.append(DumpedSet(line.split()[0], ("", "")))
            continue
        if m := _DEFAULT.match(line):
            sets[-1].default = (m.group(1), f"{m.group(2)}:{m.group(3)}")
            continue
        if m := _NAMEVHOST.match(line):
            sets[-1].names.append((m.group(2), f"{m.group(3)}:{m.group(4)}", []))
            continue
        if m := _ALIAS.match(line):
            sets[-1].names[-1][2].append(m.group(1))
            continue
        if m := _SINGLE.match(line):
            where = f"{m.group(3)}:{m.group(4)}"
            sets.append(DumpedSet(m.group(1), (m.group(2), where), [(m.group(2), where, [])]))
            continue
        break  # the block ends at the first line of another shape (ServerRoot: ...)
    return sets


def dump_vhosts(conf: Path) -> list[DumpedSet]:
    """Run the real ``apache2 -t -D DUMP_VHOSTS`` on ``conf`` and parse its table."""
    done = run_apache(conf, "-t", "-D", "DUMP_VHOSTS")
    if done.returncode != 0:
        raise AssertionError(f"apache2 rejected {conf}: {done.stderr.strip()}")
    return parse_dump_vhosts(done.stdout)

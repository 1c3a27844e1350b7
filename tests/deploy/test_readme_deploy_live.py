"""The README's deploy example is what `vhostguard deploy` prints on the incident's trees served by a
real apache2 (started by Debian's apache2ctl from a temp /etc/apache2 built from examples/incident/before).

The example's `Listen 80` and `*:80` become a free high port (so this runs beside other tests and
without root); output is compared with the README after writing the temp paths and that port as the
README writes them (`/etc/apache2`, `:80`) and every number as N (times, ids and durations vary).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.apache import APACHE2, free_port
from tests.support.server import Backend
from vhostguard.live import ProbeError, probe

pytestmark = pytest.mark.skipif(APACHE2 is None or shutil.which("apache2ctl") is None,
                                reason="apache2 is not installed (apt-get install apache2)")

REPO = Path(__file__).resolve().parents[2]
ENV = {"PATH": f"/usr/sbin:/usr/bin:/sbin:/bin:{os.path.dirname(sys.executable)}", "LANG": "C"}


@dataclass
class Incident:
    root: Path
    live: Path
    port: int
    api_port: int
    env: dict[str, str]

    def tree(self, source: str, name: str) -> Path:
        """A candidate: the live tree with examples/incident/SOURCE's sites, on the test's ports."""
        copy = self.root / name
        shutil.copytree(os.path.realpath(self.live), copy, symlinks=True)
        shutil.rmtree(copy / "sites-enabled")
        shutil.copytree(REPO / "examples/incident" / source / "sites-enabled", copy / "sites-enabled")
        _localise(copy, self.port, self.api_port)
        return copy

    def get(self, host: str, path: str) -> int:
        try:
            return probe(f"http://{host}{path}", ("127.0.0.1", self.port), timeout=5).status
        except ProbeError:
            return 0

    def vhostguard(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "vhostguard", *args], env=self.env, capture_output=True,
                              text=True, timeout=180, check=False)

    def shown(self, text: str) -> list[str]:
        """Output as the README writes it: /etc/apache2, /tmp/candidate, port 80, every number N."""
        text = text.replace(str(self.live), "/etc/apache2").replace(str(self.root / "log"), "/var/log/apache2")
        text = re.sub(re.escape(str(self.root)) + r"/(\w+)", r"/tmp/\1", text)
        text = text.replace(f":{self.port}", ":80").replace(f":{self.api_port}", ":5000")
        return [_numbers(line) for line in text.splitlines()]


def _localise(tree: Path, port: int, api_port: int) -> None:
    for path in [tree / "apache2.conf", *(tree / "sites-enabled").iterdir()]:
        text = path.read_text().replace("Listen 80", f"Listen 127.0.0.1:{port}").replace("*:80", f"*:{port}")
        path.write_text(text.replace("127.0.0.1:5000", f"127.0.0.1:{api_port}"))


@pytest.fixture
def incident(tmp_path: Path) -> Iterator[Incident]:
    api = Backend("api").start()
    port, api_port = free_port(), api.port
    live = tmp_path / "etc" / "apache2"
    shutil.copytree(REPO / "examples/incident/before", live)
    for directory in ("run", "log"):
        (tmp_path / directory).mkdir()
    (live / "envvars").write_text(f"export APACHE_PID_FILE={tmp_path}/run/apache2.pid\nexport APACHE_RUN_DIR={tmp_path}/run\n"
                                  f"export APACHE_LOCK_DIR={tmp_path}/run\nexport APACHE_LOG_DIR={tmp_path}/log\n")
    _localise(live, port, api_port)
    env = {**ENV, "APACHE_CONFDIR": str(live), "VHOSTGUARD_STATE_DIR": str(tmp_path / "state")}
    started = subprocess.run(["apache2ctl", "start"], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert started.returncode == 0, started.stdout + started.stderr
    incident = Incident(tmp_path, live, port, api_port, env)
    deadline = time.monotonic() + 10
    while incident.get("api.example.com", "/v1/users/42") != 200:
        assert time.monotonic() < deadline, "apache2 did not come up"
        time.sleep(0.05)
    for n in range(40):  # an access log for the diff gate and the verification's baseline
        incident.get("api.example.com", f"/v1/users/{n}")
        incident.get("www.example.com", "/")
    yield incident
    pid = tmp_path / "run" / "apache2.pid"
    if pid.exists():
        try:
            os.kill(int(pid.read_text().strip()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass
    api.stop()


def readme_block(command: str) -> list[str]:
    """The lines of README's ```text block starting with ``$ vhostguard COMMAND`` (numbers as N)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    found = re.search(r"```text\n\$ vhostguard " + re.escape(command) + r"[^\n]*\n(.*?)```", text, re.DOTALL)
    assert found, f"README shows `vhostguard {command}`"
    return [_numbers(line) for line in found.group(1).splitlines() if line.strip() and line.strip() != "..."]


def _numbers(line: str) -> str:
    """Content hashes as H and every other number as N: what changes from run to run."""
    return re.sub(r"\d+", "N", re.sub(r"\b[0-9a-f]{12}\b", "H", line.rstrip()))


def _expectations(incident: Incident) -> Path:
    text = (REPO / "examples/incident/vhostguard.yaml").read_text()
    text = re.sub(r"(url: http://[\w.-]+)/", rf"\1:{incident.port}/", text)  # where to send them; targets stay
    path = incident.root / "vhostguard.yaml"
    path.write_text(text.replace("127.0.0.1:5000", f"127.0.0.1:{incident.api_port}"))
    return path


def test_readme_deploy_blocked_then_rolled_back(incident: Incident) -> None:
    expect = _expectations(incident)
    # 1. the incident's change: blocked by the team's expectations, nothing changes
    after = incident.tree("after", "candidate")
    done = incident.vhostguard("deploy", str(after), "-f", str(incident.live / "apache2.conf"), "--verify", str(expect))
    assert done.returncode == 1, done.stdout + done.stderr
    printed = incident.shown(done.stdout)
    for line in readme_block("deploy /tmp/candidate --verify"):
        assert line in printed, f"{line!r} is not what deploy prints:\n" + "\n".join(printed)
    assert incident.get("api.example.com", "/v1/users/42") == 200
    assert not os.path.islink(incident.live)  # a blocked first deploy does not even convert the directory
    # 2. a change that passes every gate but points the API at a port nobody listens on
    moved = incident.tree("before", "candidate2")
    api = moved / "sites-enabled" / "api.conf"
    api.write_text(api.read_text().replace(f"127.0.0.1:{incident.api_port}", "127.0.0.1:5009"))
    allow = incident.root / "allow.yaml"
    allow.write_text("- new_target: http://127.0.0.1:5009/*\n")
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            incident.get("api.example.com", "/v1/users/42")
            time.sleep(0.02)

    client = threading.Thread(target=traffic, daemon=True)
    client.start()
    try:
        done = incident.vhostguard("deploy", str(moved), "-f", str(incident.live / "apache2.conf"), "--allow", str(allow),
                                   "--watch", "60s")
    finally:
        stop.set()
        client.join()
    assert done.returncode == 1, done.stdout + done.stderr
    printed = incident.shown(done.stdout)
    for line in readme_block("deploy /tmp/candidate2"):
        assert line in printed, f"{line!r} is not what deploy prints:\n" + "\n".join(printed)
    assert incident.get("api.example.com", "/v1/users/42") == 200  # the old config serves again
    # 3. the incident's change pushed past the gates (--force lets the diff gate's changes through; no
    # --verify): the API's Host answered by the catch-all (403s, not 5xx) is seen moved, and rolled back
    stop.clear()
    client = threading.Thread(target=traffic, daemon=True)
    client.start()
    try:
        done = incident.vhostguard("deploy", str(incident.tree("after", "candidate3")), "-f",
                                   str(incident.live / "apache2.conf"), "--force", "--watch", "60s")
    finally:
        stop.set()
        client.join()
    assert done.returncode == 1, done.stdout + done.stderr
    printed = incident.shown(done.stdout)
    assert any("host-moved: api.example.com was served by api.example.com" in line for line in printed), done.stdout
    for line in readme_block("deploy /tmp/candidate3"):
        assert line in printed, f"{line!r} is not what deploy prints:\n" + "\n".join(printed)
    assert incident.get("api.example.com", "/v1/users/42") == 200
    history = incident.vhostguard("history")
    assert history.returncode == 0
    printed = incident.shown(history.stdout)
    for line in readme_block("history"):
        assert line in printed, f"{line!r} is not what history prints:\n" + "\n".join(printed)

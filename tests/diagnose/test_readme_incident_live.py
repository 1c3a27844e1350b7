"""The README's doctor and trace example is what they print on the incident's candidate
tree (examples/incident/after) served by a real apache2.

The tree is copied into a temp dir with an envvars of its own (PidFile and logs
inside the temp dir); it keeps its ``Listen 80``, so this needs root and a free
port 80. A backend answers on 127.0.0.1:5000 as the API would (when the port is
free). Output paths are shown as ``.../after/`` in the README: the lines compared
are the program's output with the temp dir's path written that way."""
from __future__ import annotations

import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.diagnose.conftest import STRACE
from tests.support.apache import APACHE2
from vhostguard.cli import main

pytestmark = pytest.mark.httpd

REPO = Path(__file__).resolve().parents[2]
URL = "http://api.example.com/v1/users/42"


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


class _Api(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"id": 42}\n'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def incident(tmp_path: Path) -> Iterator[Path]:
    """examples/incident/after, running on a real apache2 (port 80), its API backend on 5000."""
    if APACHE2 is None or os.geteuid() != 0 or not port_free(80):
        pytest.skip("needs apache2, root and a free port 80 (the example's Listen 80)")
    after = tmp_path / "after"
    shutil.copytree(REPO / "examples/incident/after", after)
    (tmp_path / "run").mkdir()
    (tmp_path / "log").mkdir()
    env = {"APACHE_RUN_USER": "www-data", "APACHE_RUN_GROUP": "www-data",
           "APACHE_PID_FILE": f"{tmp_path}/run/apache2.pid", "APACHE_LOG_DIR": f"{tmp_path}/log"}
    (after / "envvars").write_text("".join(f"export {key}={value}\n" for key, value in env.items()))
    api = None
    if port_free(5000):
        api = http.server.ThreadingHTTPServer(("127.0.0.1", 5000), _Api)
        threading.Thread(target=api.serve_forever, daemon=True).start()
    process = subprocess.Popen([APACHE2, "-d", str(after), "-f", str(after / "apache2.conf"), "-DFOREGROUND"],
                               env={"PATH": "/usr/sbin:/usr/bin:/bin", "LANG": "C", **env},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while "AH00489" not in ((tmp_path / "log/error.log").read_text() if (tmp_path / "log/error.log").exists() else ""):
            assert process.poll() is None, "apache2 exited"
            assert time.monotonic() < deadline, "apache2 did not start"
            time.sleep(0.05)
        yield after
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if api is not None:
            api.shutdown()
            api.server_close()


def shown(text: str, after: Path) -> list[str]:
    """The program's output lines, the temp tree's path written as the README writes it."""
    return text.replace(str(after), ".../after").splitlines()


def readme_block(path: Path, command: str) -> list[str]:
    """The lines of the ```text block of ``path`` that starts with ``$ vhostguard COMMAND``."""
    text = path.read_text(encoding="utf-8")
    found = re.search(r"```text\n\$ vhostguard " + re.escape(command) + r"[^\n]*\n(.*?)```", text, re.DOTALL)
    assert found, f"{path.name} shows `vhostguard {command}`"
    return [line for line in found.group(1).splitlines() if line.strip() and line.strip() != "..."]


def test_readme_doctor_and_trace_on_the_incident(incident: Path) -> None:
    result = CliRunner().invoke(main, ["doctor", "-f", str(incident / "apache2.conf"), "--url", URL])
    assert result.exit_code == 1, result.stderr
    printed = shown(result.stdout, incident)
    top = next(i for i, line in enumerate(printed) if line.startswith(" 1. "))
    assert "[critical] Host api.example.com" in printed[top] and "default.invalid" in printed[top]
    assert "api.exmaple.com" in printed[top + 1]
    checked = 0
    for line in readme_block(REPO / "README.md", "doctor"):
        # the top finding, its cause, and its deciding config lines are printed as shown
        if line.startswith((" 1. ", "    cause: ", "    evidence: .../after/")):
            assert line in printed, f"{line!r} is not what doctor prints:\n" + "\n".join(printed)
            checked += 1
    assert checked == 4
    if STRACE is None:
        pytest.skip("strace is not installed: the trace example is not checked")
    result = CliRunner().invoke(main, ["trace", URL, "-f", str(incident / "apache2.conf")])
    assert result.exit_code == 0, result.stderr
    printed = shown(result.stdout, incident)
    anonymous = [re.sub(r"pid \d+ thread \d+", "pid N thread N", line) for line in printed]
    checked = 0
    for line in readme_block(REPO / "README.md", "trace"):
        if line.startswith(("status ", "vhost: ", "  evidence: ", "  chosen by: ")):
            assert re.sub(r"pid \d+ thread \d+", "pid N thread N", line) in anonymous, f"{line!r}:\n" + "\n".join(printed)
            checked += 1
    assert checked == 4

"""docs/playbook.md walks the seed's incident with real output: this test runs it on a
real apache2 and checks the playbook's lines are what the commands print.

The seed: 00-www.conf's ``ServerAlias *.example.test`` comes before 10-api.conf and
captures api.example.test; www's backend answers 500 to the API's paths. Traffic
(API calls and home pages) goes through apache2, then watch reads the access log,
doctor, explain and trace name the cause, the fix is made and apache2 reloaded,
and doctor comes back clean. The playbook writes the temp dir as ``.../srv`` and
the test's ports as 8080 (apache2), 5000 (www's backend) and 5001 (the API's)."""
from __future__ import annotations

import http.client
import http.server
import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.diagnose.conftest import STRACE, Httpd, seed_misroute
from tests.support.apache import needs_apache
from vhostguard.cli import main

pytestmark = [pytest.mark.httpd, needs_apache]

PLAYBOOK = Path(__file__).resolve().parents[2] / "docs" / "playbook.md"
LOG = 'LogFormat "%v %h %l %u %t \\"%r\\" %>s %b %D" vhosts\nCustomLog "{root}/logs/access.log" vhosts\n'


class _Www(http.server.BaseHTTPRequestHandler):
    """www's backend: pages for www, a 500 for the API paths it knows nothing about."""

    def do_GET(self) -> None:
        status = 500 if self.path.startswith("/v1/") else 200
        body = f"www-backend {self.path}\n".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def www_backend() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Www)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def resumed(server: Httpd) -> int:
    error_log = server.root / "logs/error.log"
    return (error_log.read_text() if error_log.exists() else "").count("AH00489")


def wait_resumed(server: Httpd, count: int) -> None:
    deadline = time.monotonic() + 10
    while resumed(server) < count:
        assert time.monotonic() < deadline, "apache2 did not (re)load"
        time.sleep(0.05)


def traffic(port: int, host: str, path: str, count: int, pause: float = 0.0) -> None:
    for _ in range(count):
        time.sleep(pause)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", path, headers={"Host": host})
        connection.getresponse().read()
        connection.close()


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout + result.stderr


def incident(server: Httpd, tmp_path: Path, names: dict[str, str]) -> dict[str, tuple[int, str]]:
    """Every command of the playbook, run as it says, its output written as the playbook writes it."""
    conf = str(server.conf)
    url = f"http://api.example.test:{server.port}/v1/users"

    def shown(done: tuple[int, str]) -> tuple[int, str]:
        text = done[1]
        for real, written in names.items():
            text = text.replace(real, written)
        return done[0], text

    wait_resumed(server, 1)
    traffic(server.port, "api.example.test", "/v1/users", 30, pause=0.1)  # over 3 s of the log's clock
    traffic(server.port, "www.example.test", "/", 10)
    out: dict[str, tuple[int, str]] = {}
    out["watch"] = shown(cli("watch", "-f", conf, "--once", "--from-start", "--metrics-addr", "off",
                             "--state", str(tmp_path / "state")))
    out["doctor"] = shown(cli("doctor", "-f", conf, "--url", url))
    out["explain"] = shown(cli("explain", url, "-f", conf))
    if STRACE is not None:
        out["trace"] = shown(cli("trace", url, "-f", conf))
    out["explain-code"] = shown(cli("explain-code", "AH01114"))
    www_conf = server.root / "sites/00-www.conf"
    www_conf.write_text(www_conf.read_text().replace("ServerAlias *.example.test", "ServerAlias example.test"))
    before = resumed(server)
    time.sleep(1.0)  # %t has whole seconds: the last 5xx logged a second before the reload is history to doctor
    os.kill(server.pid(), signal.SIGUSR1)  # graceful restart: what `apache2ctl graceful` sends
    wait_resumed(server, before + 1)
    out["doctor-after"] = shown(cli("doctor", "-f", conf, "--url", url, "--json"))
    return out


def blocks(command: str) -> list[list[str]]:
    """Each ```text block of the playbook that starts with ``$ vhostguard COMMAND``: its output lines."""
    text = PLAYBOOK.read_text(encoding="utf-8")
    found = re.findall(r"```text\n\$ vhostguard " + re.escape(command) + r" [^\n]*\n(.*?)```", text, re.DOTALL)
    return [[line for line in block.splitlines() if line.strip() and line.strip() != "..."] for block in found]


@pytest.fixture
def seed(httpd: Callable[..., Httpd], backend: Callable[[int, str], int], www_backend: int) -> tuple[Httpd, dict[str, str]]:
    api = backend(200, "api-backend")
    # The children run as www-data, as on a real server (as root without User each would log AH02155).
    server = httpd(seed_misroute(www_backend, api, LOG + "User www-data\nGroup www-data\n"))
    names = {str(server.root): ".../srv", f":{server.port}": ":8080", f":{www_backend}": ":5000", f":{api}": ":5001",
             f"htons({server.port})": "htons(8080)"}
    return server, names


def test_the_playbook_shows_what_the_commands_print(seed: tuple[Httpd, dict[str, str]], tmp_path: Path) -> None:
    server, names = seed
    out = incident(server, tmp_path, names)
    # watch pages on the API endpoint, every call a 5xx
    _, watched = out["watch"]
    def alert_of(line: str) -> str:  # without its time and counts, which differ from run to run
        return re.sub(r"\d+ of \d+ requests failed in the last \d+s", "N of N requests failed", line.split(" ", 1)[1])

    (alert,) = [alert_of(line) for line in watched.splitlines() if " FIRING " in line]
    (shown_alert,) = [alert_of(line) for line in blocks("watch")[0] if " FIRING " in line]
    assert shown_alert == alert
    # doctor: the misroute first, and the fix in its cause
    code, doctored = out["doctor"]
    assert code == 1
    printed = doctored.splitlines()
    shown = blocks("doctor -f")[0]
    for line in shown:
        if line.startswith((" 1. ", "    cause: ", "    evidence: .../srv/sites", "    evidence: probe ")):
            assert line in printed, f"{line!r} is not what doctor prints:\n{doctored}"
    # explain: the deciding ServerAlias line
    _, explained = out["explain"]
    for line in blocks("explain")[0]:
        if "ServerAlias" in line or line.startswith("=>"):
            assert line in explained.splitlines(), f"{line!r}:\n{explained}"
    if "trace" in out:
        _, traced = out["trace"]
        anonymous = [re.sub(r"pid \d+ thread \d+|\d+\.\d+ ms", "N", line) for line in traced.splitlines()]
        for line in blocks("trace")[0]:
            if line.startswith(("vhost: ", "  chosen by: ", "connect ")):
                assert re.sub(r"pid \d+ thread \d+|\d+\.\d+ ms", "N", line) in anonymous, f"{line!r}:\n{traced}"
    _, coded = out["explain-code"]
    assert blocks("explain-code")[0][0] in coded.splitlines()
    # after the fix and a graceful restart: no routing finding, exit 0
    code, after = out["doctor-after"]
    doc = json.loads(after)
    assert code == 0, doc["findings"]
    assert {c["name"]: c["status"] for c in doc["checks"]}["routing"] == "ok"

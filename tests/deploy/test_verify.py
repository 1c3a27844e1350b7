"""deploy.verify against a real apache2 on a Debian-like tree, with real loopback backends and traffic.

Expected evidence is checked against apache2's own logs (the line a failure names holds the
503 it claims) and the expectations file's own lines, not against our output.
"""
from __future__ import annotations

import dataclasses
import importlib
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from tests.support import server as support
from tests.support.apache import needs_apache
from tests.support.server import (
    Backend, DebianTree, RunningServer, Traffic, down_port, send, start_server, write_debian_tree,
)
from vhostguard.deploy import (
    ServerControl, VerifyResult, convert, inspect, prepare_idle, reload_and_wait, switch, take_baseline, verify,
)

verify_module = importlib.import_module("vhostguard.deploy.verify")  # (the package's ``verify`` is the function)

pytestmark = [pytest.mark.httpd, needs_apache]

debian_server, backends = support.debian_server, support.backends  # fixtures

API = "api.example.test"
USERS = [(API, "/v1/users/1"), (API, "/v1/users/2"), (API, "/v1/users/3")]


def api_site(api: Backend, legacy_port: int | None = None, quiet_down: int | None = None,
             quiet_up: int | None = None) -> str:
    lines = ["<VirtualHost 127.0.0.1:{port}>", f"    ServerName {API}",
             f"    ProxyPass /v1 http://127.0.0.1:{api.port}/v1"]
    if legacy_port is not None:
        lines.append(f"    ProxyPass /legacy http://127.0.0.1:{legacy_port}/legacy")
    if quiet_down is not None and quiet_up is not None:
        lines.append(f"    ProxyPass /quiet/1 http://127.0.0.1:{quiet_down}/quiet/1")
        lines.append(f"    ProxyPass /quiet/2 http://127.0.0.1:{quiet_up}/quiet/2")
    return "\n".join([*lines, "</VirtualHost>", ""])


@pytest.fixture
def api(backends: list[Backend]) -> Backend:
    backend = Backend("api").start()
    backends.append(backend)
    return backend


def serve(tmp_path: Path, debian_server: list[RunningServer], sites: dict[str, str]) -> DebianTree:
    tree = write_debian_tree(tmp_path, sites)
    debian_server.append(start_server(tree))
    return tree


def expectations(tree: DebianTree, host: str = API, path: str = "/v1/users/7") -> tuple[Path, int]:
    """An expectations file with one case; returns it and the line of its case."""
    file = tree.base / "vhostguard.yaml"
    file.write_text("cases:\n"
                    "  - name: users API goes to the API backend\n"
                    f"    url: http://{host}:{tree.port}{path}\n"
                    "    expect:\n"
                    f"      vhost: {API}\n"
                    "      kind: proxy\n"
                    "      status: 200\n")
    return file, 2


def line_at(path: Path, reference: str) -> str:
    """The line of ``path`` a ``path:N: text`` evidence line names, checked to be the text quoted."""
    where, _, text = reference.partition(": ")
    name, _, number = where.rpartition(":")
    assert name == str(path), reference
    line = path.read_text().splitlines()[int(number) - 1]
    assert line.strip() == text.strip()
    return line


def test_healthy_server_with_traffic_passes(tmp_path: Path, debian_server: list[RunningServer], api: Backend) -> None:
    tree = serve(tmp_path, debian_server, {"api": api_site(api)})
    control = ServerControl(str(tree.main))
    file, _ = expectations(tree)
    with Traffic(tree.port, USERS):
        time.sleep(1.5)
        baseline = take_baseline(control)
        notes: list[str] = []
        result = verify(control, (str(file),), baseline, 4.0, notes.append)
    assert result == VerifyResult("pass", 4.0, ())
    assert notes and notes[-1].startswith("verify: passed")
    # The baseline counted exactly the requests the access log held up to its mark.
    mark = baseline.access_logs[0]
    assert mark.path == str(tree.access_log)
    logged = tree.access_log.read_bytes()[:mark.offset].decode().splitlines()
    users = baseline.count((API, "GET", "/v1/users/{id}"))
    assert users is not None and users.errors == 0
    assert users.requests == sum("GET /v1/users/" in line for line in logged) > 0


def test_backend_down_fails_the_expectation_within_seconds(tmp_path: Path, debian_server: list[RunningServer],
                                                            api: Backend) -> None:
    tree = serve(tmp_path, debian_server, {"api": api_site(api)})
    control = ServerControl(str(tree.main))
    file, line = expectations(tree)
    with Traffic(tree.port, USERS):
        time.sleep(1.0)
        baseline = take_baseline(control)
        api.stop()
        result = verify(control, (str(file),), baseline, 30.0)
    assert result.status == "fail" and result.window_s < 5
    (failure,) = result.failures
    assert failure.kind == "expectation"
    url = f"http://{API}:{tree.port}/v1/users/7"
    assert failure.summary == (f"{file}:{line} (users API goes to the API backend): GET {url}: "
                               "expected a proxy answer, got 503 Service Unavailable")
    assert f"probe 127.0.0.1:{tree.port}: GET {url} -> 503 Service Unavailable" in failure.evidence
    assert f"{file}:{line}: expect vhost: {API}, kind: proxy, status: 200" in failure.evidence
    errors = [e for e in failure.evidence if e.startswith(f"{tree.error_log}:")]
    assert errors and any("AH01114" in line_at(tree.error_log, e) for e in errors)
    assert result.to_json()["failures"][0]["kind"] == "expectation"


def test_backend_down_fails_on_the_endpoint_error_rate(tmp_path: Path, debian_server: list[RunningServer],
                                                       api: Backend) -> None:
    tree = serve(tmp_path, debian_server, {"api": api_site(api)})
    control = ServerControl(str(tree.main))
    with Traffic(tree.port, USERS):
        time.sleep(1.0)
        baseline = take_baseline(control)
        api.stop()
        started = time.monotonic()
        result = verify(control, (), baseline, 30.0)
        took = time.monotonic() - started
    assert result.status == "fail" and took < 5
    (failure,) = result.failures
    assert failure.kind == "error-rate"
    assert failure.summary.startswith(f"5xx on {API} GET /v1/users/{{id}}: ")
    assert "in the 1h before it: 0 of " in failure.summary
    logged = [e for e in failure.evidence if e.startswith(f"{tree.access_log}:")]
    assert logged
    for reference in logged:
        line = line_at(tree.access_log, reference)
        assert "GET /v1/users/" in line and (" 503 " in line or " 502 " in line)


def test_an_endpoint_failing_before_the_switch_is_not_blamed(tmp_path: Path, debian_server: list[RunningServer],
                                                             api: Backend) -> None:
    tree = serve(tmp_path, debian_server, {"api": api_site(api, legacy_port=down_port())})
    control = ServerControl(str(tree.main))
    with Traffic(tree.port, [*USERS, (API, "/legacy/report")]):
        time.sleep(2.5)
        baseline = take_baseline(control)
        legacy = baseline.count((API, "GET", "/legacy/report"))
        assert legacy is not None and legacy.errors == legacy.requests >= 5
        assert verify(control, (), baseline, 4.0).status == "pass"
        # The same traffic judged without that history: /legacy is the deploy's failure.
        blank = dataclasses.replace(baseline, endpoints=())
        result = verify(control, (), blank, 10.0)
    assert result.status == "fail"
    assert result.failures[0].summary.startswith(f"5xx on {API} GET /legacy/report: ")
    assert "(in the 1h before it: not requested)" in result.failures[0].summary


def test_a_quiet_endpoint_needs_enough_requests_to_fail(tmp_path: Path, debian_server: list[RunningServer],
                                                        api: Backend, backends: list[Backend]) -> None:
    up = Backend("quiet").start()
    backends.append(up)
    tree = serve(tmp_path, debian_server, {"api": api_site(api, quiet_down=down_port(), quiet_up=up.port)})
    control = ServerControl(str(tree.main))
    baseline = take_baseline(control)
    # 1 error in 2 requests of /quiet/{id}: noise, not a broken deploy.
    assert send(tree.port, API, "/quiet/1")[0] == 503
    assert send(tree.port, API, "/quiet/2")[0] == 200
    assert verify(control, (), baseline, 2.0).status == "pass"
    # The rule's minimum (20 requests, half of them 5xx) reached: it fails. (24, not 20: watch's windows
    # keep per-second counts from a key's second 5xx in a 50 s bucket on, and one may fall before a boundary.)
    for _ in range(24):
        send(tree.port, API, "/quiet/1")
    result = verify(control, (), baseline, 5.0)
    assert result.status == "fail"
    # The rule's own words, over the shortest recent stretch of whole seconds that holds.
    m = re.match(rf"5xx on {re.escape(API)} GET /quiet/\{{id\}}: (\d+) of (\d+) requests failed in the last ",
                 result.failures[0].summary)
    assert m is not None, result.failures[0].summary
    assert 20 <= int(m.group(1)) == int(m.group(2)) <= 24


@pytest.mark.parametrize("logs", ["%v in the main log", "a log of its own per vhost"])
def test_the_access_log_names_the_vhost_that_served_a_case(tmp_path: Path, debian_server: list[RunningServer],
                                                           api: Backend, backends: list[Backend], logs: str) -> None:
    www = Backend("www").start()
    backends.append(www)
    # Without %v: each vhost's own log, in a format that names no vhost (common log format).
    own = "" if logs.startswith("%v") else '    CustomLog ${APACHE_LOG_DIR}/%s.log "%%h %%l %%u %%t \\"%%r\\" %%>s %%b"\n'
    capture = ("<VirtualHost 127.0.0.1:{port}>\n    ServerName www.example.test\n    ServerAlias *.example.test\n"
               f"    ProxyPass / http://127.0.0.1:{www.port}/\n" + (own % "www" if own else "") + "</VirtualHost>\n")
    api_conf = api_site(api).replace("</VirtualHost>", (own % "api" if own else "") + "</VirtualHost>")
    tree = serve(tmp_path, debian_server, {"00-www": capture, "10-api": api_conf})
    control = ServerControl(str(tree.main))
    file, line = expectations(tree)
    baseline = take_baseline(control)
    assert send(tree.port, API, "/v1/users/7") == (200, "www /v1/users/7\n")  # misrouted, and answered 200
    if own:  # httpd writes the line after the response: wait for it
        deadline = time.monotonic() + 5
        while "/v1/users/7" not in (tree.log_dir / "www.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "/v1/users/7" in (tree.log_dir / "www.log").read_text()
        assert not tree.access_log.exists() or "/v1/users/7" not in tree.access_log.read_text()
    result = verify(control, (str(file),), baseline, 5.0)
    assert result.status == "fail"
    (failure,) = result.failures
    assert failure.kind == "expectation"
    assert failure.summary.endswith(f"expected vhost {API}, served by www.example.test (its access log says)")
    assert failure.summary.startswith(f"{file}:{line} ")


def test_a_stopped_server_is_not_serving(tmp_path: Path, debian_server: list[RunningServer], api: Backend) -> None:
    tree = serve(tmp_path, debian_server, {"api": api_site(api)})
    control = ServerControl(str(tree.main))
    baseline = take_baseline(control)
    debian_server[0].stop()
    result = verify(control, (), baseline, 5.0)
    assert result.status == "fail" and result.window_s < 2
    assert result.failures[0].kind == "not-serving"
    assert "the server is not running" in result.failures[0].summary



def _api_tree(tmp_path: Path) -> DebianTree:
    return write_debian_tree(tmp_path, {"api": "<VirtualHost 127.0.0.1:{port}>\n    ServerName api.example.test\n"
                                            "</VirtualHost>\n"})


def _api_line(at: float, path: str, status: int) -> str:
    """A line of the api vhost's access log (vhost_combined) for a request at ``at``."""
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(at))
    return f'{API}:80 127.0.0.1 - - [{stamp}] "GET {path} HTTP/1.1" {status} 10 "-" "curl"\n'


@pytest.mark.parametrize("tail_only", [False, True])
def test_baseline_counts_the_window_by_each_line_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      tail_only: bool) -> None:
    # No server needed: the baseline reads the live config and the logs it writes.
    tree = _api_tree(tmp_path)
    now = time.time()

    def line(age: float, path: str, status: int) -> str:
        return _api_line(now - age, path, status)

    old = [line(7200, "/v1/users/9", 503)] * 30  # two hours ago: outside the window
    recent = [line(600, f"/v1/users/{n}", 503 if n % 4 == 0 else 200) for n in range(40)]
    text = "".join(old + recent) + "garbage that is no log line\n"
    tree.access_log.write_text(text)
    if tail_only:  # a window bigger than the bound: only the log's last 20 requests are read, from inside the 21st
        monkeypatch.setattr(verify_module, "BASELINE_BYTES", len("".join(recent[-20:])) + len("garbage that is no log line\n") + 7)
    baseline = take_baseline(ServerControl(str(tree.main)), window_s=3600.0, now=now)
    (users,) = baseline.endpoints
    assert (users.vhost, users.method, users.endpoint, users.requests, users.errors) == (
        (API, "GET", "/v1/users/{id}", 20, 5) if tail_only else (API, "GET", "/v1/users/{id}", 40, 10))
    # the lines read: the window's (the old lines are passed over, never read) and the garbage after it
    assert baseline.malformed == 1 and baseline.lines == (21 if tail_only else 41)
    assert baseline.access_logs[0].offset == len(text.encode())
    assert baseline.error_logs[0].path == str(tree.error_log)


def test_baseline_of_a_big_log_reads_only_its_window(tmp_path: Path) -> None:
    # A day of old requests then the last hour: the counts are those of the lines of the window (as
    # reading the whole log gives them), and the old lines are never read (``lines`` counts those read).
    tree = _api_tree(tmp_path)
    now = time.time()

    def line(age: float, path: str, status: int) -> str:
        return _api_line(now - age, path, status)

    old = [line(86400 - n * 0.4, "/v1/orders/1", 503) for n in range(200_000)]  # up to ~2 h 40 min ago
    # in flight across the window's start: started inside it, written after one that started before it
    edge = [line(3590, "/v1/users/1", 503), line(3620, "/v1/orders/2", 503)]
    recent = [line(3500 - n * 0.5, f"/v1/users/{n}", 503 if n % 5 == 0 else 200) for n in range(6000)]
    tree.access_log.write_text("".join(old + edge + recent) + "garbage that is no log line\n")
    baseline = take_baseline(ServerControl(str(tree.main)), window_s=3600.0, now=now)
    (users,) = baseline.endpoints  # the old orders are outside the window, the one at its edge too
    assert (users.vhost, users.method, users.endpoint, users.requests, users.errors) == (
        API, "GET", "/v1/users/{id}", 6001, 1201)
    assert baseline.malformed == 1
    assert len(recent) + 3 <= baseline.lines < len(recent) + 3 + 5000  # not the 200,000 old lines
    assert baseline.access_logs[0].offset == tree.access_log.stat().st_size


def test_switch_reload_verify_and_back(tmp_path: Path, debian_server: list[RunningServer], api: Backend) -> None:
    # The pieces of a deploy on blue/green slots: a candidate whose ProxyPass names a backend that is
    # down passes nothing static, breaks live traffic, is caught by verify, and the old slot serves again.
    tree = serve(tmp_path, debian_server, {"api": api_site(api)})
    live = str(tree.live)
    convert(live)
    candidate = tmp_path / "candidate"
    shutil.copytree(os.path.realpath(live), candidate, symlinks=True)
    (candidate / "sites-enabled" / "api.conf").write_text(
        api_site(Backend("gone", port=down_port())).replace("{port}", str(tree.port)))
    control = ServerControl(str(tree.main))
    with Traffic(tree.port, USERS):
        time.sleep(1.0)
        baseline = take_baseline(control)
        layout = inspect(live)
        assert layout.live_slot is not None and layout.idle_slot is not None
        prepare_idle(live, str(candidate))
        switch(live, layout.idle_slot)
        reloaded = reload_and_wait(control)
        assert send(tree.port, API, "/v1/users/1")[0] == 503  # the candidate serves, and fails
        result = verify(control, (), baseline, 30.0)
        assert result.status == "fail" and result.window_s < 10
        assert result.failures[0].summary.startswith(f"5xx on {API} GET /v1/users/{{id}}: ")
        switch(live, layout.live_slot)
        back = reload_and_wait(control)
        assert send(tree.port, API, "/v1/users/1") == (200, "api /v1/users/1\n")
        assert verify(control, (), take_baseline(control), 3.0).status == "pass"
    assert reloaded.command == back.command  # the same way both times (apache2ctl here, APACHE_CONFDIR the live path)

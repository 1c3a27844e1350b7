"""doctor's routing check end to end: the seed's misroute on a real apache2 (event
MPM) on loopback, each vhost proxying to its own real loopback backend.

Expected file:line values are read from the config files written here; which
vhost served a request is read from the access log apache2 wrote (``%v``)."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.diagnose.conftest import LOG, Httpd, doctor, line_of, seed_misroute
from tests.support.apache import needs_apache
from vhostguard.cli import main

pytestmark = [pytest.mark.httpd, needs_apache]


def misrouting_site(httpd: Callable[..., Httpd], backend: Callable[[int, str], int]) -> Httpd:
    """The seed: 00-www.conf's ``ServerAlias *.example.test`` comes before 10-api.conf in
    httpd's matching order and captures api.example.test; www's backend answers 500."""
    wrong = backend(500, "www-backend")
    api = backend(200, "api-backend")
    return httpd(seed_misroute(wrong, api, LOG))


def test_api_host_served_by_the_wildcard_vhost_is_the_top_finding(
        httpd: Callable[..., Httpd], backend: Callable[[int, str], int]) -> None:
    server = misrouting_site(httpd, backend)
    www_conf, api_conf = server.root / "sites/00-www.conf", server.root / "sites/10-api.conf"
    url = f"http://api.example.test:{server.port}/v1/users"
    code, doc = doctor(server.conf, "--url", url)
    assert code == 1
    top = doc["findings"][0]
    assert top["rank"] == 1 and top["check"] == "routing" and top["kind"] == "host-misrouted"
    assert top["severity"] == "critical"
    www_id, api_id = f"{www_conf}:{line_of(www_conf, '<VirtualHost')}", f"{api_conf}:{line_of(api_conf, '<VirtualHost')}"
    assert top["vhost"] == www_id and top["expected_vhost"] == api_id
    assert www_id in top["summary"] and api_id in top["summary"]
    alias = {"name": "ServerAlias", "file": str(www_conf), "line": line_of(www_conf, "ServerAlias")}
    assert top["directives"][0] == alias
    assert {"name": "ServerName", "file": str(api_conf), "line": line_of(api_conf, "api.example.test")} in top["directives"]
    assert f"{www_conf}:{alias['line']}: ServerAlias *.example.test" in top["evidence"]
    assert "narrow ServerAlias *.example.test" in top["cause"] and f"move {api_id}" in top["cause"]
    # what the server did: the 500 of www's backend, and the line apache2 logged with %v = www.example.test
    assert f"probe 127.0.0.1:{server.port}: GET {url} -> 500" in top["evidence"]
    logged = [line for line in top["evidence"] if line.startswith(f"{server.root}/logs/access.log:")]
    assert len(logged) == 1 and logged[0].split(": ", 1)[1].startswith("www.example.test ")
    assert logged[0].split(": ", 1)[1] in (server.root / "logs/access.log").read_text().splitlines()
    assert top["next"].startswith(f"vhostguard trace {url} -f ") and f"vhostguard explain {url} -f " in top["next"]
    assert {c["name"]: c["status"] for c in doc["checks"]}["routing"] == "problem"


def test_a_healthy_url_gives_no_routing_finding(httpd: Callable[..., Httpd], backend: Callable[[int, str], int]) -> None:
    server = misrouting_site(httpd, backend)
    url = f"http://www.example.test:{server.port}/"
    code, doc = doctor(server.conf, "--url", url)
    assert [f for f in doc["findings"] if f["check"] == "routing"] == []
    routing = next(c for c in doc["checks"] if c["name"] == "routing")
    assert routing["status"] == "ok" and "1 answered by the running server" in routing["detail"]
    assert code == (1 if doc["findings"] else 0)


def test_offline_warns_from_the_config_alone(httpd: Callable[..., Httpd], backend: Callable[[int, str], int]) -> None:
    server = misrouting_site(httpd, backend)
    access_log = server.root / "logs/access.log"
    before = access_log.read_text() if access_log.exists() else ""
    www_conf = server.root / "sites/00-www.conf"
    code, doc = doctor(server.conf, "--offline", "--url", f"http://api.example.test:{server.port}/v1/users")
    assert code == 1
    (finding,) = [f for f in doc["findings"] if f["check"] == "routing"]
    assert finding["kind"] == "host-misrouted" and finding["severity"] == "warning"
    assert finding["directives"][0] == {"name": "ServerAlias", "file": str(www_conf), "line": line_of(www_conf, "ServerAlias")}
    assert not any(line.startswith("probe ") for line in finding["evidence"])
    assert (access_log.read_text() if access_log.exists() else "") == before  # no request was sent


def test_a_failing_expect_case_is_reported(tmp_path: Path, httpd: Callable[..., Httpd],
                                           backend: Callable[[int, str], int]) -> None:
    server = misrouting_site(httpd, backend)
    expect = tmp_path / "routes.yaml"
    expect.write_text(
        "cases:\n"
        f"  - name: api users\n    url: http://api.example.test:{server.port}/v1/users\n"
        "    expect:\n      vhost: api.example.test\n"
        f"  - name: www home\n    url: http://www.example.test:{server.port}/\n"
        "    expect:\n      vhost: www.example.test\n")
    code, doc = doctor(server.conf, "--expect", str(expect))
    assert code == 1
    kinds = [(f["kind"], f["severity"]) for f in doc["findings"] if f["check"] == "routing"]
    assert kinds == [("host-misrouted", "critical"), ("expectation-failed", "warning")]
    failed = next(f for f in doc["findings"] if f["kind"] == "expectation-failed")
    assert f"{expect}:{line_of(expect, 'name: api users')}" in failed["summary"]
    assert "expected api.example.test" in failed["summary"] and "www.example.test" in failed["summary"]
    assert doc["findings"][0]["kind"] == "host-misrouted"


def test_bad_url_is_a_usage_error(tmp_path: Path) -> None:
    conf = tmp_path / "httpd.conf"
    conf.write_text("Listen 127.0.0.1:8080\n")
    result = CliRunner().invoke(main, ["doctor", "-f", str(conf), "--offline", "--url", "ftp://x/"])
    assert result.exit_code == 2 and "--url" in result.stderr and "\n" not in result.stderr.strip()


def test_server_routing_otherwise_than_the_files_is_a_route_mismatch(
        httpd: Callable[..., Httpd], backend: Callable[[int, str], int]) -> None:
    server = misrouting_site(httpd, backend)
    www_conf, api_conf = server.root / "sites/00-www.conf", server.root / "sites/10-api.conf"
    error_log = server.root / "logs/error.log"
    deadline = time.monotonic() + 10
    while "AH00489" not in (error_log.read_text() if error_log.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.05)
    # the fix is on disk, but the running server was never reloaded: it still misroutes
    www_conf.write_text(www_conf.read_text().replace("ServerAlias *.example.test", "ServerAlias example.test"))
    url = f"http://api.example.test:{server.port}/v1/users"
    code, doc = doctor(server.conf, "--url", url)
    assert code == 1
    kinds = [f["kind"] for f in doc["findings"]]
    assert "host-misrouted" not in kinds and kinds.index("config-stale") < kinds.index("route-mismatch")
    mismatch = next(f for f in doc["findings"] if f["kind"] == "route-mismatch")
    www_id, api_id = f"{www_conf}:{line_of(www_conf, '<VirtualHost')}", f"{api_conf}:{line_of(api_conf, '<VirtualHost')}"
    assert mismatch["vhost"] == www_id and mismatch["expected_vhost"] == api_id
    assert any(line.startswith(f"{server.root}/logs/access.log:") and ": www.example.test " in line
               for line in mismatch["evidence"])


def test_a_vhost_of_its_own_log_names_the_vhost_that_served(
        httpd: Callable[..., Httpd], backend: Callable[[int, str], int]) -> None:
    """No %v anywhere (Debian's sites: one CustomLog per vhost): the log the probe's line lands in names the vhost."""
    wrong, api = backend(500, "www-backend"), backend(200, "api-backend")
    plain = 'LogFormat "%h %l %u %t \\"%r\\" %>s %b" plain\n'
    server = httpd({
        "httpd.conf": "Listen 127.0.0.1:{port}\n" + plain + "IncludeOptional {root}/sites/*.conf\n",
        "sites/00-www.conf": (
            "<VirtualHost 127.0.0.1:{port}>\n    ServerName www.example.test\n    ServerAlias *.example.test\n"
            '    CustomLog "{root}/logs/www.log" plain\n'
            f"    ProxyPass / http://127.0.0.1:{wrong}/\n</VirtualHost>\n"),
        "sites/10-api.conf": (
            "<VirtualHost 127.0.0.1:{port}>\n    ServerName api.example.test\n"
            '    CustomLog "{root}/logs/api.log" plain\n'
            f"    ProxyPass / http://127.0.0.1:{api}/\n</VirtualHost>\n"),
    })
    code, doc = doctor(server.conf, "--url", f"http://api.example.test:{server.port}/v1/users")
    assert code == 1
    top = doc["findings"][0]
    assert top["kind"] == "host-misrouted" and top["severity"] == "critical"
    www_log = server.root / "logs/www.log"
    (logged,) = [line for line in top["evidence"] if line.startswith(f"{www_log}:")]
    assert logged.split(": ", 1)[1] in www_log.read_text().splitlines() and "GET /v1/users" in logged
    assert "logged as served by www.example.test" in top["cause"]


def test_a_healthy_url_exits_0_though_lint_warns(httpd: Callable[..., Httpd], backend: Callable[[int, str], int]) -> None:
    """The seed's tree with the API vhost first: routing is right, lint only warns (VG111,
    VG103...): those are listed as info findings and doctor exits 0. The seed's order
    (the wildcard first) exits 1, with the misroute first and lint's VG101 error after it."""
    www, api = backend(200, "www-backend"), backend(200, "api-backend")
    # The children run as www-data: as root without User they would each log AH02155 (unixd:alert).
    files = seed_misroute(www, api, LOG + "User www-data\nGroup www-data\n")
    fixed = {"httpd.conf": files["httpd.conf"], "sites/00-api.conf": files["sites/10-api.conf"],
             "sites/10-www.conf": files["sites/00-www.conf"]}
    server = httpd(fixed)
    error_log = server.root / "logs/error.log"
    deadline = time.monotonic() + 10
    while "AH00489" not in (error_log.read_text() if error_log.exists() else ""):  # loaded: start time exact
        assert time.monotonic() < deadline
        time.sleep(0.05)
    url = f"http://api.example.test:{server.port}/v1/users"
    code, doc = doctor(server.conf, "--url", url)
    assert code == 0, doc["findings"]
    assert doc["findings"] and {f["severity"] for f in doc["findings"]} == {"info"}
    assert {f["kind"] for f in doc["findings"]} == {"lint-warning"}
    assert {c["name"]: c["status"] for c in doc["checks"]} == {
        "config": "ok", "server": "ok", "listeners": "ok", "backends": "ok", "logs": "ok", "routing": "ok"}


def test_a_misrouted_url_exits_1(httpd: Callable[..., Httpd], backend: Callable[[int, str], int]) -> None:
    server = misrouting_site(httpd, backend)
    code, doc = doctor(server.conf, "--url", f"http://api.example.test:{server.port}/v1/users")
    assert code == 1
    kinds = [f["kind"] for f in doc["findings"] if f["severity"] != "info"]
    assert kinds[0] == "host-misrouted" and "lint-error" in kinds  # VG101: the API vhost is unreachable

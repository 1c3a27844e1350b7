"""doctor's routing check on the other ways a Host reaches the wrong vhost, each on a
real apache2 (event MPM) on loopback, each vhost proxying to its own real backend:
an IP-specific vhost hiding the ``*`` ones, a vhost declared on another port, a vhost
without ServerName that inherits the main server's name, a vhost without ServerName
that no Host reaches.

Which vhost apache2 really picked is read from its own access log (``%v``) and
the backend's answer (each backend answers with its own status); file:line
values from the config files written here."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.diagnose.conftest import LOG, STRACE, Httpd, doctor, line_of
from tests.support.apache import free_port, needs_apache
from vhostguard.cli import main

pytestmark = [pytest.mark.httpd, needs_apache]


@dataclass(frozen=True)
class Site:
    """One vhost of a two-vhost tree: ``sites/<file>.conf``, its <VirtualHost> address (``{port}``:
    the server's port), its ServerName (None: it has none), and the status its own backend answers."""

    file: str
    address: str
    name: str | None
    status: int


@dataclass(frozen=True)
class TwoSites:
    server: Httpd
    first: Path  # the sites' files, in httpd's matching order
    second: Path
    backends: tuple[int, int]  # their backends' ports


def two_sites(httpd: Callable[..., Httpd], backend: Callable[[int, str], int], first: Site, second: Site,
              main_extra: str = "") -> TwoSites:
    """apache2 listening on 127.0.0.1:{port} (plus ``main_extra``), logging %v, serving ``first`` and
    ``second``, each proxying everything to a backend of its own."""
    ports = (backend(first.status, f"{first.file}-backend"), backend(second.status, f"{second.file}-backend"))
    files = {"httpd.conf": "Listen 127.0.0.1:{port}\n" + main_extra + LOG + "IncludeOptional {root}/sites/*.conf\n"}
    for site, port in zip((first, second), ports):
        name = f"    ServerName {site.name}\n" if site.name else ""
        files[f"sites/{site.file}.conf"] = (f"<VirtualHost {site.address}>\n{name}"
                                           f"    ProxyPass / http://127.0.0.1:{port}/\n</VirtualHost>\n")
    server = httpd(files)
    return TwoSites(server, server.root / f"sites/{first.file}.conf", server.root / f"sites/{second.file}.conf", ports)


def ref(name: str, path: Path, text: str) -> dict:
    return {"name": name, "file": str(path), "line": line_of(path, text)}


def vhost_id(path: Path, text: str = "<VirtualHost") -> str:
    return f"{path}:{line_of(path, text)}"


def served_by(server: Httpd, path: str) -> str:
    """The %v apache2 logged for the last request to ``path``: the vhost that really served it."""
    lines = [line for line in (server.root / "logs/access.log").read_text().splitlines() if f" {path} HTTP/" in line]
    return lines[-1].split(" ", 1)[0]


def settled(server: Httpd) -> None:
    """Wait for apache2's "resuming normal operations" notice: until then doctor knows the
    start time only to the second (/proc) and may call the files just written newer."""
    error_log = server.root / "logs/error.log"
    deadline = time.monotonic() + 10
    while "AH00489" not in (error_log.read_text() if error_log.exists() else ""):
        assert time.monotonic() < deadline, "apache2 never logged AH00489"
        time.sleep(0.05)


def check_top(server: Httpd, url: str, captor: str, owner: str, served_name: str, status: int) -> dict:
    """doctor --url, live then offline: the top finding is the misroute from ``captor`` to ``owner``;
    apache2's own log says ``served_name`` served it, and the captor's backend's ``status`` came back."""
    settled(server)
    code, doc = doctor(server.conf, "--url", url)
    assert code == 1
    top = doc["findings"][0]
    assert (top["rank"], top["check"], top["kind"], top["severity"]) == (1, "routing", "host-misrouted", "critical")
    assert top["vhost"] == captor and top["expected_vhost"] == owner
    assert captor in top["summary"] and owner in top["summary"]
    path = url.split("/", 3)[3]
    assert served_by(server, f"/{path}") == served_name  # apache2 agrees with the prediction
    assert f"probe 127.0.0.1:{server.port}: GET {url} -> {status}" in top["evidence"]
    assert f"logged as served by {served_name}" in top["cause"]
    code, offline = doctor(server.conf, "--offline", "--url", url)
    assert code == 1
    (predicted,) = [f for f in offline["findings"] if f["check"] == "routing"]
    assert predicted["severity"] == "warning" and predicted["directives"] == top["directives"]
    assert (predicted["vhost"], predicted["expected_vhost"]) == (captor, owner)
    return top


def test_ip_vhost_hides_the_wildcard_vhosts(httpd: Callable[..., Httpd], backend: Callable[[int, str], int]) -> None:
    """<VirtualHost 127.0.0.1:P> takes every connection to 127.0.0.1:P: the *:P vhost naming the Host is never looked at."""
    tree = two_sites(httpd, backend, Site("00-status", "127.0.0.1:{port}", "status.internal.test", 503),
                     Site("10-api", "*:{port}", "api.example.test", 200))
    server, status_conf, api_conf, (status, _) = tree.server, tree.first, tree.second, tree.backends
    url = f"http://api.example.test:{server.port}/v1/users"
    top = check_top(server, url, vhost_id(status_conf), vhost_id(api_conf), "status.internal.test", 503)
    assert top["directives"] == [ref("VirtualHost", status_conf, "<VirtualHost"), ref("VirtualHost", api_conf, "<VirtualHost"),
                                 ref("ServerName", api_conf, "ServerName")]
    assert f"127.0.0.1:{server.port}" in top["cause"] and f"*:{server.port} vhosts" in top["cause"]
    assert f"Fix: add 127.0.0.1:{server.port} to the <VirtualHost> at {vhost_id(api_conf)}" in top["cause"]
    if STRACE is None:
        return
    # trace: the worker connected to the status vhost's backend; its story gives the same cause and fix
    result = CliRunner().invoke(main, ["trace", url, "-f", str(server.conf), "--json"])
    assert result.exit_code == 0, result.stderr
    traced = json.loads(result.stdout)
    assert traced["vhost"] == vhost_id(status_conf) and traced["expected_vhost"] == vhost_id(api_conf)
    assert [c["address"] for c in traced["connects"]] == [f"127.0.0.1:{status}"]
    assert f"Fix: add 127.0.0.1:{server.port} to the <VirtualHost> at {vhost_id(api_conf)}" in traced["story"]


def test_vhost_declared_on_another_port(httpd: Callable[..., Httpd], backend: Callable[[int, str], int]) -> None:
    """The API vhost is on port Q only: a request to port P goes to P's vhost, whatever its Host."""
    other = free_port()
    tree = two_sites(httpd, backend, Site("00-www", "127.0.0.1:{port}", "www.example.test", 500),
                     Site("10-api", f"127.0.0.1:{other}", "api.example.test", 200), f"Listen 127.0.0.1:{other}\n")
    server, www_conf, api_conf = tree.server, tree.first, tree.second
    url = f"http://api.example.test:{server.port}/v1/users"
    top = check_top(server, url, vhost_id(www_conf), vhost_id(api_conf), "www.example.test", 500)
    assert top["directives"] == [ref("VirtualHost", www_conf, "<VirtualHost"), ref("VirtualHost", api_conf, "<VirtualHost"),
                                 ref("ServerName", api_conf, "ServerName")]
    assert f"declared for 127.0.0.1:{other} only" in top["cause"]
    assert f"Fix: add 127.0.0.1:{server.port} to the <VirtualHost> at {vhost_id(api_conf)}" in top["cause"]
    assert f"or send the request to port {other}" in top["cause"]
    # on its own port the API vhost answers: no routing finding
    _, doc = doctor(server.conf, "--url", f"http://api.example.test:{other}/v1/users")
    assert [f for f in doc["findings"] if f["check"] == "routing"] == []
    assert served_by(server, "/v1/users") == "api.example.test"


def test_vhost_without_servername_inherits_the_main_servers(httpd: Callable[..., Httpd],
                                                           backend: Callable[[int, str], int]) -> None:
    """A *:P vhost without ServerName is named after the main server's ServerName, and, being
    first, takes that Host from the vhost that names it."""
    tree = two_sites(httpd, backend, Site("000-default", "*:{port}", None, 404),
                     Site("10-www", "*:{port}", "www.example.test", 200), "ServerName www.example.test\n")
    server, default_conf, www_conf = tree.server, tree.first, tree.second
    url = f"http://www.example.test:{server.port}/index.html"
    # %v is the inherited name: the log alone cannot tell the two apart, the backend's 404 does
    settled(server)
    code, doc = doctor(server.conf, "--url", url)
    assert code == 1
    top = doc["findings"][0]
    assert (top["kind"], top["severity"]) == ("host-misrouted", "critical")
    assert top["vhost"] == vhost_id(default_conf) and top["expected_vhost"] == vhost_id(www_conf)
    assert f"probe 127.0.0.1:{server.port}: GET {url} -> 404" in top["evidence"]
    assert top["directives"] == [ref("VirtualHost", default_conf, "<VirtualHost"),
                                 ref("ServerName", server.conf, "ServerName www.example.test"),
                                 ref("ServerName", www_conf, "ServerName")]
    assert "has no ServerName" in top["cause"] and f"{server.conf}:{line_of(server.conf, 'ServerName www')}" in top["cause"]
    assert f"Fix: give the vhost at {vhost_id(default_conf)}" in top["cause"] and "a ServerName of its own" in top["cause"]


def test_vhost_without_servername_is_reached_by_no_host(httpd: Callable[..., Httpd],
                                                        backend: Callable[[int, str], int]) -> None:
    """The API vhost's ServerName was forgotten: nothing names api.example.test, the first vhost answers."""
    tree = two_sites(httpd, backend, Site("00-www", "*:{port}", "www.example.test", 500),
                     Site("10-api", "*:{port}", None, 200))
    server, www_conf, api_conf = tree.server, tree.first, tree.second
    url = f"http://api.example.test:{server.port}/v1/users"
    top = check_top(server, url, vhost_id(www_conf), vhost_id(api_conf), "www.example.test", 500)
    assert top["directives"] == [ref("VirtualHost", www_conf, "<VirtualHost"), ref("VirtualHost", api_conf, "<VirtualHost")]
    assert "no vhost on" in top["cause"] and "has no ServerName" in top["cause"]
    assert f"Fix: add `ServerName api.example.test` to the vhost at {vhost_id(api_conf)}" in top["cause"]

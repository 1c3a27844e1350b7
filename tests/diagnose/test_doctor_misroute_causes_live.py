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
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.diagnose.conftest import STRACE, Httpd
from tests.support.apache import free_port, needs_apache
from vhostguard.cli import main

pytestmark = [pytest.mark.httpd, needs_apache]

LOG = 'LogFormat "%v %h %l %u %t \\"%r\\" %>s %b" vhosts\nCustomLog "{root}/logs/access.log" vhosts\n'


def doctor(conf: Path, *extra: str) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["doctor", "-f", str(conf), "--json", *extra])
    assert result.exit_code in (0, 1), result.stderr + result.stdout
    return result.exit_code, json.loads(result.stdout)


def line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


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
    status, api = backend(503, "status-backend"), backend(200, "api-backend")
    server = httpd({
        "httpd.conf": "Listen 127.0.0.1:{port}\n" + LOG + "IncludeOptional {root}/sites/*.conf\n",
        "sites/00-status.conf": (
            "<VirtualHost 127.0.0.1:{port}>\n    ServerName status.internal.test\n"
            f"    ProxyPass / http://127.0.0.1:{status}/\n</VirtualHost>\n"),
        "sites/10-api.conf": (
            "<VirtualHost *:{port}>\n    ServerName api.example.test\n"
            f"    ProxyPass / http://127.0.0.1:{api}/\n</VirtualHost>\n"),
    })
    status_conf, api_conf = server.root / "sites/00-status.conf", server.root / "sites/10-api.conf"
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
    www, api = backend(500, "www-backend"), backend(200, "api-backend")
    other = free_port()
    server = httpd({
        "httpd.conf": "Listen 127.0.0.1:{port}\n" f"Listen 127.0.0.1:{other}\n" + LOG + "IncludeOptional {root}/sites/*.conf\n",
        "sites/00-www.conf": (
            "<VirtualHost 127.0.0.1:{port}>\n    ServerName www.example.test\n"
            f"    ProxyPass / http://127.0.0.1:{www}/\n</VirtualHost>\n"),
        "sites/10-api.conf": (
            f"<VirtualHost 127.0.0.1:{other}>\n    ServerName api.example.test\n"
            f"    ProxyPass / http://127.0.0.1:{api}/\n</VirtualHost>\n"),
    })
    www_conf, api_conf = server.root / "sites/00-www.conf", server.root / "sites/10-api.conf"
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
    default, www = backend(404, "default-backend"), backend(200, "www-backend")
    server = httpd({
        "httpd.conf": ("ServerName www.example.test\nListen 127.0.0.1:{port}\n" + LOG
                       + "IncludeOptional {root}/sites/*.conf\n"),
        "sites/000-default.conf": (
            "<VirtualHost *:{port}>\n"
            f"    ProxyPass / http://127.0.0.1:{default}/\n</VirtualHost>\n"),
        "sites/10-www.conf": (
            "<VirtualHost *:{port}>\n    ServerName www.example.test\n"
            f"    ProxyPass / http://127.0.0.1:{www}/\n</VirtualHost>\n"),
    })
    default_conf, www_conf = server.root / "sites/000-default.conf", server.root / "sites/10-www.conf"
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
    www, api = backend(500, "www-backend"), backend(200, "api-backend")
    server = httpd({
        "httpd.conf": "Listen 127.0.0.1:{port}\n" + LOG + "IncludeOptional {root}/sites/*.conf\n",
        "sites/00-www.conf": (
            "<VirtualHost *:{port}>\n    ServerName www.example.test\n"
            f"    ProxyPass / http://127.0.0.1:{www}/\n</VirtualHost>\n"),
        "sites/10-api.conf": (
            "<VirtualHost *:{port}>\n"
            f"    ProxyPass / http://127.0.0.1:{api}/\n</VirtualHost>\n"),
    })
    www_conf, api_conf = server.root / "sites/00-www.conf", server.root / "sites/10-api.conf"
    url = f"http://api.example.test:{server.port}/v1/users"
    top = check_top(server, url, vhost_id(www_conf), vhost_id(api_conf), "www.example.test", 500)
    assert top["directives"] == [ref("VirtualHost", www_conf, "<VirtualHost"), ref("VirtualHost", api_conf, "<VirtualHost")]
    assert "no vhost on" in top["cause"] and "has no ServerName" in top["cause"]
    assert f"Fix: add `ServerName api.example.test` to the vhost at {vhost_id(api_conf)}" in top["cause"]

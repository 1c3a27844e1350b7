"""``vhostguard trace`` end to end: a real apache2 (event MPM) on loopback, the real
strace attached to its worker threads, real loopback backends.

Each scenario asserts the trace names the right vhost and the directive's
file:line, found by reading the config files written here (not by running
our own routing)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.diagnose.conftest import STRACE, Httpd, needs_strace, seed_misroute
from tests.support.apache import free_port
from vhostguard.cli import main
from vhostguard.diagnose import parse_strace

pytestmark = pytest.mark.httpd


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def trace(server: Httpd, url: str, *extra: str) -> dict:
    code, out, err = run("trace", url, "-f", str(server.conf), "--json", *extra)
    assert code == 0, err
    return json.loads(out)


def test_misroute_by_an_earlier_wildcard_alias(httpd: Callable[..., Httpd], backend: Callable[[int, str], int]) -> None:
    needs_strace()
    wrong = backend(500, "www-backend")
    api = backend(200, "api-backend")
    server = httpd(seed_misroute(wrong, api))  # 00- sorts before 10-: the wildcard vhost comes first
    www_conf, api_conf = server.root / "sites/00-www.conf", server.root / "sites/10-api.conf"
    doc = trace(server, f"http://api.example.test:{server.port}/v1/users")
    assert doc["schema"] == 1 and doc["status"] == 500
    # CONTRACT.md's keys, and docs/contract.md's additions
    assert set(doc) == {"schema", "request", "status", "pid", "tid", "vhost", "vhost_evidence", "phases", "files", "connects",
                        "execs", "dns", "story"} | {"vhost_directive", "vhost_chosen_by", "predicted_vhost",
                                                    "expected_vhost", "errors_logged", "failures", "malformed_lines"}
    assert doc["request"] == {"method": "GET", "scheme": "http", "host": "api.example.test",
                              "port": server.port, "path": "/v1/users", "query": None, "local_ip": "127.0.0.1"}
    assert doc["vhost"] == f"{www_conf}:1"
    (connect,) = doc["connects"]
    assert connect["address"] == f"127.0.0.1:{wrong}" and connect["result"] == "ok" and connect["backend_status"] == 500
    assert connect["directive"] == {"name": "ProxyPass", "file": str(www_conf), "line": line_of(www_conf, "ProxyPass")}
    assert doc["vhost_directive"] == {"name": "ServerAlias", "file": str(www_conf), "line": line_of(www_conf, "ServerAlias")}
    assert doc["vhost_chosen_by"] == "wild-alias"
    assert doc["expected_vhost"] == f"{api_conf}:1"
    assert f"{www_conf}:{line_of(www_conf, 'ServerAlias')}" in doc["story"]
    assert {phase["name"] for phase in doc["phases"]} >= {"accept/read", "backend connect", "backend wait", "write"}


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_backend_down(httpd: Callable[..., Httpd], mpm: str) -> None:
    needs_strace()
    closed = free_port()  # nothing listens there
    server = httpd(mpm=mpm, files={"httpd.conf": (
        "Listen 127.0.0.1:{port}\n"
        "<VirtualHost 127.0.0.1:{port}>\n"
        "    ServerName shop.example.test\n"
        f"    ProxyPass /api http://127.0.0.1:{closed}/api\n"
        "</VirtualHost>\n")})
    raw = server.root / "evidence.strace"
    doc = trace(server, f"http://shop.example.test:{server.port}/api/cart", "--strace-out", str(raw))
    assert doc["status"] == 503
    assert parse_strace(raw.read_text().splitlines()).malformed == doc["malformed_lines"] == 0
    assert any(f"htons({closed})" in line for line in raw.read_text().splitlines())
    if mpm == "prefork":  # one thread per worker process (event: usually a worker thread, not guaranteed)
        assert doc["tid"] == doc["pid"]
    (connect,) = doc["connects"]
    assert connect["address"] == f"127.0.0.1:{closed}" and connect["result"] == "ECONNREFUSED"
    assert connect["directive"] == {"name": "ProxyPass", "file": str(server.conf), "line": line_of(server.conf, "ProxyPass")}
    assert any("AH01114" in line or "AH00957" in line for line in doc["errors_logged"])
    assert "ECONNREFUSED" in doc["story"]


def test_text_output_tells_the_story(httpd: Callable[..., Httpd]) -> None:
    needs_strace()
    server = httpd({"httpd.conf": (
        "Listen 127.0.0.1:{port}\n"
        "<VirtualHost 127.0.0.1:{port}>\n"
        "    ServerName www.example.test\n"
        "    DocumentRoot {root}/missing-root\n"
        "</VirtualHost>\n")})
    code, out, err = run("trace", f"http://www.example.test:{server.port}/index.html", "-f", str(server.conf))
    assert code == 0, err
    assert "status 404" in out and "ENOENT" in out and f"{server.conf}:{line_of(server.conf, 'DocumentRoot')}" in out


def test_request_that_reaches_no_traced_worker(httpd: Callable[..., Httpd], backend: Callable[[int, str], int]) -> None:
    needs_strace()
    other = backend(200, "not-httpd")
    server = httpd({"httpd.conf": "Listen 127.0.0.1:{port}\n"})
    code, _, err = run("trace", f"http://www.example.test:{server.port}/", "-f", str(server.conf), "--connect", f"127.0.0.1:{other}")
    assert code == 2
    assert "never reached" in err and len(err.strip().splitlines()) == 1


def test_no_running_server(write: Callable[..., Path], tmp_path: Path) -> None:
    needs_strace()
    conf = write("httpd.conf", f"""
        PidFile {tmp_path}/run/httpd.pid
        Listen 127.0.0.1:8080
        """)
    code, _, err = run("trace", "http://www.example.test:8080/", "-f", str(conf))
    assert code == 2
    assert "no running server" in err and f"{tmp_path}/run/httpd.pid" in err and len(err.strip().splitlines()) == 1


def test_strace_missing(write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    conf = write("httpd.conf", "Listen 127.0.0.1:8080\n")
    monkeypatch.setenv("PATH", os.path.dirname(conf))  # a PATH without strace
    code, _, err = run("trace", "http://www.example.test:8080/", "-f", str(conf))
    assert code == 2
    assert "apt-get install strace" in err and len(err.strip().splitlines()) == 1


def test_pid_file_is_where_apache2_writes_it(httpd: Callable[..., Httpd]) -> None:
    from vhostguard.config import LoadOptions, load
    from vhostguard.diagnose.attach import pid_file
    from vhostguard.model import build_model

    # base_config's absolute PidFile first; a relative one later wins, and is
    # relative to ServerRoot even with a DefaultRuntimeDir elsewhere
    server = httpd({"httpd.conf": "Listen 127.0.0.1:{port}\nPidFile relative.pid\n"}, pid_name="relative.pid")
    model = build_model(load(str(server.conf), LoadOptions()))
    assert pid_file(model) == str(server.root / "relative.pid")
    assert (server.root / "relative.pid").read_text().strip() == str(server.process.pid)


def test_ptrace_not_permitted(httpd: Callable[..., Httpd]) -> None:
    """A real refusal: the CLI run without CAP_SYS_PTRACE (dropped from the
    bounding set by setpriv) cannot attach to root's apache2 workers."""
    needs_strace()
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv (util-linux) to drop CAP_SYS_PTRACE")
    server = httpd({"httpd.conf": "Listen 127.0.0.1:{port}\n"})
    done = subprocess.run(
        [setpriv, "--bounding-set=-sys_ptrace", "--inh-caps=-sys_ptrace", sys.executable, "-m", "vhostguard",
         "trace", f"http://www.example.test:{server.port}/", "-f", str(server.conf)],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PATH": f"{os.path.dirname(STRACE or '')}:{os.environ.get('PATH', '')}"},
    )
    assert done.returncode == 2, done.stderr
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1
    assert "kernel.yama.ptrace_scope" in message and "CAP_SYS_PTRACE" in message


def _self_signed(directory: Path) -> tuple[Path, Path]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_https_request_is_found_by_its_connection(httpd: Callable[..., Httpd], backend: Callable[[int, str], int],
                                                  tmp_path: Path) -> None:
    """Over TLS the marker is encrypted in the worker's reads: the thread is the one
    that read the client's connection; SNI and Host pick the API vhost."""
    needs_strace()
    api = backend(200, "api-backend")
    cert, key = _self_signed(tmp_path)
    server = httpd({"httpd.conf": (
        "LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so\n"
        "Listen 127.0.0.1:{port} https\n"
        f"SSLCertificateFile {cert}\nSSLCertificateKeyFile {key}\n"
        "<VirtualHost 127.0.0.1:{port}>\n"
        "    ServerName www.example.test\n"
        "    SSLEngine on\n"
        "    DocumentRoot {root}\n"
        "</VirtualHost>\n"
        "<VirtualHost 127.0.0.1:{port}>\n"
        "    ServerName api.example.test\n"
        "    SSLEngine on\n"
        f"    ProxyPass / http://127.0.0.1:{api}/\n"
        "</VirtualHost>\n")})
    doc = trace(server, f"https://api.example.test:{server.port}/v1/users")
    assert doc["status"] == 200
    assert doc["vhost"] == f"{server.conf}:{line_of(server.conf, 'ServerName api.example.test') - 1}"
    (connect,) = doc["connects"]
    assert connect["address"] == f"127.0.0.1:{api}" and connect["backend_status"] == 200
    assert connect["directive"]["line"] == line_of(server.conf, "ProxyPass")


def test_backend_host_that_does_not_resolve(httpd: Callable[..., Httpd], backend: Callable[[int, str], int],
                                            dns_server: Callable[[dict[str, str]], None], tmp_path: Path) -> None:
    """apache2 in a mount namespace whose /etc/resolv.conf names a DNS server on
    loopback: one backend host resolves, the other is NXDOMAIN."""
    needs_strace()
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare (util-linux) for a private /etc/resolv.conf")
    api = backend(200, "api-backend")
    dns_server({"backend.example.test": "127.0.0.1"})
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    server = httpd(resolv_conf=resolv, files={"httpd.conf": (
        "Listen 127.0.0.1:{port}\n"
        "<VirtualHost 127.0.0.1:{port}>\n"
        "    ServerName www.example.test\n"
        f"    ProxyPass /api http://backend.example.test:{api}/api\n"
        f"    ProxyPass /gone http://missing.example.test:{api}/gone\n"
        "</VirtualHost>\n")})
    found = trace(server, f"http://www.example.test:{server.port}/api/x")
    assert found["status"] == 200
    assert [(d["name"], d["result"], d["answers"]) for d in found["dns"]] == [("backend.example.test", "ok", ["127.0.0.1"])]
    assert found["connects"][0]["directive"]["line"] == line_of(server.conf, "ProxyPass /api")
    missing = trace(server, f"http://www.example.test:{server.port}/gone/x")
    assert missing["status"] == 500
    (lookup,) = missing["dns"]
    assert lookup["name"] == "missing.example.test" and lookup["result"] == "NXDOMAIN"
    assert lookup["directive"] == {"name": "ProxyPass", "file": str(server.conf), "line": line_of(server.conf, "ProxyPass /gone")}
    assert missing["connects"] == [] and "NXDOMAIN" in missing["story"]


def test_backend_connect_times_out(httpd: Callable[..., Httpd]) -> None:
    """A backend whose accept queue is full: the kernel drops the SYN, mod_proxy's
    non-blocking connect + poll runs into connectiontimeout (a real ETIMEDOUT on loopback)."""
    import socket

    needs_strace()
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    port = full.getsockname()[1]
    held = socket.create_connection(("127.0.0.1", port))  # fills the queue; nothing ever accepts
    try:
        server = httpd({"httpd.conf": (
            "Listen 127.0.0.1:{port}\n"
            "<VirtualHost 127.0.0.1:{port}>\n"
            "    ServerName shop.example.test\n"
            f"    ProxyPass /slow http://127.0.0.1:{port}/slow connectiontimeout=1\n"
            "</VirtualHost>\n")})
        doc = trace(server, f"http://shop.example.test:{server.port}/slow/x")
    finally:
        held.close()
        full.close()
    assert doc["status"] == 503
    (connect,) = doc["connects"]
    assert connect["result"] == "ETIMEDOUT" and connect["ms"] >= 900
    assert connect["directive"]["line"] == line_of(server.conf, "ProxyPass")

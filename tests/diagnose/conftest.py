"""A real apache2 (event MPM) left running on loopback, and real loopback backends,
for tracing with the real strace."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.support.apache import APACHE2, CLEAN_ENV, base_config, free_port
from tests.support.server import Backend
from vhostguard.cli import main

STRACE = shutil.which("strace")

MODULES = ("authz_core", "alias", "proxy", "proxy_http")
# Small pools, so a request lands on a worker strace follows and tests stay quick.
POOLS = {
    "event": "StartServers 1\nServerLimit 1\nThreadsPerChild 4\nMinSpareThreads 1\nMaxSpareThreads 4\nMaxRequestWorkers 4\n",
    "prefork": "StartServers 2\nMinSpareServers 1\nMaxSpareServers 2\nMaxRequestWorkers 4\n",
}


def needs_strace() -> None:
    """Skip without strace, except in CI, where its absence is a failure."""
    if STRACE is None:
        if os.environ.get("CI"):
            pytest.fail("strace is not installed (apt-get install strace); CI must run the trace tests")
        pytest.skip("strace is not installed (apt-get install strace)")
    if APACHE2 is None:
        pytest.skip("apache2 is not installed (apt-get install apache2)")


@dataclass
class Httpd:
    root: Path
    conf: Path
    port: int
    process: subprocess.Popen[bytes]

    def pid(self) -> int:
        return int((self.root / "run" / "httpd.pid").read_text().strip())


def _wait_port(port: int, process: subprocess.Popen[bytes], error_log: Path, timeout: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"apache2 exited: {error_log.read_text() if error_log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"apache2 did not listen on {port}")


@pytest.fixture
def httpd(tmp_path: Path) -> Iterator[Callable[..., Httpd]]:
    """Start apache2 on ``files`` (name -> text; ``{root}`` and ``{port}`` filled in);
    the first file is the main config, after the sandbox preamble."""
    started: list[Httpd] = []

    def start(files: dict[str, str], port: int | None = None, pid_name: str = "run/httpd.pid", mpm: str = "event",
              resolv_conf: Path | None = None) -> Httpd:
        root = tmp_path / "srv"
        root.mkdir(exist_ok=True)
        port = port or free_port()
        names = list(files)
        for name in names:
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            text = files[name].replace("{root}", str(root)).replace("{port}", str(port))
            if name == names[0]:
                text = base_config(root, (f"mpm_{mpm}", *MODULES)) + "ServerName localhost\n" + POOLS[mpm] + text
            path.write_text(text)
        conf = root / names[0]
        assert APACHE2 is not None
        with open(root / "logs" / "stdout.log", "ab") as sink:
            argv = [APACHE2, "-f", str(conf), "-DFOREGROUND"]
            if resolv_conf is not None:  # its own /etc/resolv.conf, in a mount namespace of its own
                argv = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$@"', str(resolv_conf), *argv]
            process = subprocess.Popen(argv, env=CLEAN_ENV, stdout=sink, stderr=sink,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        server = Httpd(root, conf, port, process)
        started.append(server)
        _wait_port(port, process, root / "logs" / "error.log")
        deadline = time.monotonic() + 5
        while not (root / pid_name).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(server.process.pid, signal.SIGKILL)
                server.process.wait()


@pytest.fixture
def backend() -> Iterator[Callable[[int, str], int]]:
    """A real HTTP backend on a loopback port answering every GET with ``status`` (tests/support's
    ``Backend``, its body naming ``name``); returns its port."""
    started: list[Backend] = []

    def start(status: int, name: str) -> int:
        server = Backend(name, status).start()
        started.append(server)
        return server.port

    yield start
    for server in started:
        server.stop()


def _dns_reply(query: bytes, names: dict[str, str]) -> bytes:
    """An answer to a DNS query: A records from ``names``, NXDOMAIN for other names."""
    import socket
    import struct

    offset, labels = 12, []
    while query[offset]:
        labels.append(query[offset + 1: offset + 1 + query[offset]].decode())
        offset += 1 + query[offset]
    qtype = struct.unpack("!H", query[offset + 1: offset + 3])[0]
    question = query[12: offset + 5]
    name = ".".join(labels).lower()
    if name not in names:
        return query[:2] + struct.pack("!HHHHH", 0x8183, 1, 0, 0, 0) + question
    if qtype != 1:
        return query[:2] + struct.pack("!HHHHH", 0x8180, 1, 0, 0, 0) + question
    answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(names[name])
    return query[:2] + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0) + question + answer


@pytest.fixture
def dns_server() -> Iterator[Callable[[dict[str, str]], None]]:
    """A DNS server on 127.0.0.1:53 (UDP) answering A queries for the given names."""
    import socket

    sockets: list[socket.socket] = []

    def start(names: dict[str, str]) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(("127.0.0.1", 53))
        except OSError as problem:
            sock.close()
            pytest.skip(f"cannot serve DNS on 127.0.0.1:53: {problem}")
        sockets.append(sock)

        def serve() -> None:
            while True:
                try:
                    query, peer = sock.recvfrom(512)
                    sock.sendto(_dns_reply(query, names), peer)
                except OSError:
                    return

        threading.Thread(target=serve, daemon=True).start()

    yield start
    for sock in sockets:
        sock.close()


# For the doctor misroute tests: the vhost that served each request (%v) first on its access-log line.
LOG = 'LogFormat "%v %h %l %u %t \\"%r\\" %>s %b" vhosts\nCustomLog "{root}/logs/access.log" vhosts\n'


def doctor(conf: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    """``vhostguard doctor -f CONF --json EXTRA...``: its exit code (0 or 1) and document."""
    result = CliRunner().invoke(main, ["doctor", "-f", str(conf), "--json", *extra])
    assert result.exit_code in (0, 1), result.stderr + result.stdout
    return result.exit_code, json.loads(result.stdout)


def line_of(path: Path, text: str) -> int:
    """The number of the first line of ``path`` holding ``text``."""
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def seed_misroute(wrong_port: int, api_port: int, main_extra: str = "") -> dict[str, str]:
    """The seed's tree for the ``httpd`` fixture: 00-www.conf's ``ServerAlias
    *.example.test`` sorts before 10-api.conf in httpd's matching order and so
    captures api.example.test; each vhost proxies to its own backend port."""
    return {
        "httpd.conf": "Listen 127.0.0.1:{port}\n" + main_extra + "IncludeOptional {root}/sites/*.conf\n",
        "sites/00-www.conf": (
            "<VirtualHost 127.0.0.1:{port}>\n"
            "    ServerName www.example.test\n"
            "    ServerAlias *.example.test\n"
            f"    ProxyPass / http://127.0.0.1:{wrong_port}/\n"
            "</VirtualHost>\n"),
        "sites/10-api.conf": (
            "<VirtualHost 127.0.0.1:{port}>\n"
            "    ServerName api.example.test\n"
            f"    ProxyPass / http://127.0.0.1:{api_port}/\n"
            "</VirtualHost>\n"),
    }

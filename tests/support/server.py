"""A long-running apache2 on a tree laid out like Debian's /etc/apache2, real loopback backends and traffic.

The tree lives under a temp dir: ``etc/apache2`` (apache2.conf, envvars, ports.conf,
mods-enabled/, sites-enabled/) whose ``envvars`` points APACHE_RUN_DIR, APACHE_PID_FILE,
APACHE_LOCK_DIR and APACHE_LOG_DIR into the temp dir, and whose ports are 127.0.0.1
high ports. apache2 runs in the foreground in its own session with the environment
apache2ctl would give it (PATH plus what envvars exports), so ``apache2ctl graceful``
with APACHE_CONFDIR set to the tree, or ``apache2 -k graceful -d ... -f ...``, reach it
through its PidFile as they would on a real machine.
"""
from __future__ import annotations

import http.server
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.apache import APACHE2, CLEAN_ENV, MODULES_DIR, free_port

MODULES = ("mpm_event", "authz_core", "alias", "proxy", "proxy_http")
# A small pool (one child): reloads and tests stay quick on a shared 2-core machine.
POOL = ("StartServers 1\nServerLimit 2\nThreadsPerChild 8\nMinSpareThreads 1\nMaxSpareThreads 16\n"
        "MaxRequestWorkers 16\n")
# vhost_combined as Debian's apache2.conf defines it: %v names the vhost that served each request.
LOG_FORMAT = 'LogFormat "%v:%p %h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\"" vhost_combined\n'


@dataclass
class DebianTree:
    """The paths of one test tree. ``live`` is the config directory (``etc/apache2``)."""

    base: Path
    port: int

    @property
    def live(self) -> Path:
        return self.base / "etc" / "apache2"

    @property
    def main(self) -> Path:
        return self.live / "apache2.conf"

    @property
    def run_dir(self) -> Path:
        return self.base / "run" / "apache2"

    @property
    def log_dir(self) -> Path:
        return self.base / "log" / "apache2"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "apache2.pid"

    @property
    def error_log(self) -> Path:
        return self.log_dir / "error.log"

    @property
    def access_log(self) -> Path:
        return self.log_dir / "access.log"

    def environment(self) -> dict[str, str]:
        """What apache2ctl gives apache2 for this tree: a clean PATH and the envvars exports."""
        return {**CLEAN_ENV, "APACHE_CONFDIR": str(self.live), "APACHE_RUN_USER": "www-data",
                "APACHE_RUN_GROUP": "www-data", "APACHE_PID_FILE": str(self.pid_file),
                "APACHE_RUN_DIR": str(self.run_dir), "APACHE_LOCK_DIR": str(self.base / "lock" / "apache2"),
                "APACHE_LOG_DIR": str(self.log_dir)}

    def site(self, name: str, text: str) -> Path:
        """Write ``sites-enabled/<name>.conf`` (``{port}`` filled in) and return it."""
        path = self.live / "sites-enabled" / f"{name}.conf"
        path.write_text(text.replace("{port}", str(self.port)))
        return path


def write_debian_tree(base: Path, sites: dict[str, str], port: int | None = None) -> DebianTree:
    """A tree like /etc/apache2 under ``base`` with ``sites`` (name -> text, ``{port}`` filled in)."""
    tree = DebianTree(base, port or free_port())
    live = tree.live
    for sub in ("mods-available", "mods-enabled", "sites-available", "sites-enabled", "conf-enabled"):
        (live / sub).mkdir(parents=True, exist_ok=True)
    for directory in (tree.run_dir, tree.log_dir, base / "lock" / "apache2"):
        directory.mkdir(parents=True, exist_ok=True)
    env = tree.environment()
    (live / "envvars").write_text(
        "# envvars for a test tree: every runtime path inside the temp dir\n"
        "unset HOME\n"
        + "".join(f"export {name}={env[name]}\n" for name in
                  ("APACHE_RUN_USER", "APACHE_RUN_GROUP", "APACHE_PID_FILE", "APACHE_RUN_DIR", "APACHE_LOCK_DIR",
                   "APACHE_LOG_DIR"))
        + "export LANG=C\n")
    for module in MODULES:
        (live / "mods-available" / f"{module}.load").write_text(
            f"LoadModule {module}_module {MODULES_DIR}/mod_{module}.so\n")
        os.symlink(f"../mods-available/{module}.load", live / "mods-enabled" / f"{module}.load")
    (live / "ports.conf").write_text(f"Listen 127.0.0.1:{tree.port}\n")
    (live / "apache2.conf").write_text(
        "DefaultRuntimeDir ${APACHE_RUN_DIR}\n"
        "PidFile ${APACHE_PID_FILE}\n"
        "Mutex file:${APACHE_LOCK_DIR} default\n"
        "User ${APACHE_RUN_USER}\n"
        "Group ${APACHE_RUN_GROUP}\n"
        "ServerName localhost\n"
        "ErrorLog ${APACHE_LOG_DIR}/error.log\n"
        "LogLevel warn\n"
        + POOL
        + "IncludeOptional mods-enabled/*.load\n"
        "Include ports.conf\n"
        + LOG_FORMAT
        + "CustomLog ${APACHE_LOG_DIR}/access.log vhost_combined\n"
        "IncludeOptional sites-enabled/*.conf\n")
    for name, text in sites.items():
        tree.site(name, text)
    return tree


@dataclass
class RunningServer:
    tree: DebianTree
    process: subprocess.Popen[bytes]

    def pid(self) -> int:
        return int(self.tree.pid_file.read_text().strip())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_server(tree: DebianTree, timeout: float = 10.0) -> RunningServer:
    """apache2 in the foreground on ``tree`` (as apache2ctl would run it); returns once it answers."""
    assert APACHE2 is not None
    with open(tree.log_dir / "stdout.log", "ab") as sink:
        process = subprocess.Popen([APACHE2, "-d", str(tree.live), "-f", str(tree.main), "-DFOREGROUND"],
                                   env=tree.environment(), stdout=sink, stderr=sink, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    server = RunningServer(tree, process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = tree.error_log.read_text() if tree.error_log.exists() else ""
            raise AssertionError(f"apache2 exited: {log}{(tree.log_dir / 'stdout.log').read_text()}")
        if tree.pid_file.exists():
            try:
                with socket.create_connection(("127.0.0.1", tree.port), timeout=0.2):
                    return server
            except OSError:
                pass
        time.sleep(0.05)
    server.stop()
    raise AssertionError(f"apache2 did not listen on {tree.port}")


@pytest.fixture
def debian_server(tmp_path: Path) -> Iterator[list[RunningServer]]:
    """The servers a test starts with ``start_server`` (append them): stopped at teardown."""
    started: list[RunningServer] = []
    yield started
    for server in started:
        server.stop()


class _Answer(http.server.BaseHTTPRequestHandler):
    status = 200
    name = "backend"  # HTTP/1.0: every connection closes, so a stopped backend refuses httpd's next request

    def do_GET(self) -> None:
        body = f"{self.name} {self.path}\n".encode()
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Backend:
    """A real HTTP server on a loopback port answering every GET with ``status`` and a body naming it."""

    name: str
    status: int = 200
    port: int = 0
    _server: http.server.ThreadingHTTPServer | None = field(default=None, repr=False)

    def start(self) -> Backend:
        handler = type(f"Answer{self.name}", (_Answer,), {"status": self.status, "name": self.name})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server
        self.port = int(server.server_address[1])
        return self

    def stop(self) -> None:
        """Down: the port refuses connections afterwards (httpd's proxy answers 503)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def backends() -> Iterator[list[Backend]]:
    """Backends a test starts (append them): stopped at teardown."""
    started: list[Backend] = []
    yield started
    for backend in started:
        backend.stop()


def down_port() -> int:
    """A loopback port nothing listens on (bound and released: connects are refused)."""
    return free_port()


class Traffic:
    """Clients requesting ``urls`` (through 127.0.0.1:``port``) in a loop, ``rate`` requests a second, until stopped."""

    def __init__(self, port: int, requests: list[tuple[str, str]], rate: float = 40.0) -> None:
        self.port = port
        self.requests = requests  # (Host, path)
        self.interval = 1.0 / rate
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        index = 0
        while not self._stop.is_set():
            host, path = self.requests[index % len(self.requests)]
            index += 1
            send(self.port, host, path)
            self.sent += 1
            self._stop.wait(self.interval)


def send(port: int, host: str, path: str, timeout: float = 5.0) -> tuple[int | None, str]:
    """GET ``path`` with ``Host: host`` from 127.0.0.1:``port``: (status, body); (None, why) when no answer."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": host, "User-Agent": "vhostguard-test-traffic"})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    except OSError as problem:
        return None, str(problem)
    finally:
        connection.close()

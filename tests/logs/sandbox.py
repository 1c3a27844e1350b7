"""A real apache2 in a temp dir on a loopback high port, and raw HTTP requests to it.

Requests go over raw sockets so that the bytes httpd logs are exactly the
bytes the test chose (quotes, backslashes, UTF-8, invalid bytes, control
characters): no client library normalises them.
"""
from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.apache import APACHE2

# httpd's children call getpwuid() on a uid that may not exist here; harmless.
START_TIMEOUT = 15.0


@dataclass
class Sent:
    """One request as sent and its response as received."""

    raw: bytes
    request_line: bytes
    headers: dict[str, bytes]
    status: int = 0
    body_length: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0


@contextmanager
def running(conf: Path, port: int, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """apache2 -D FOREGROUND on ``conf``; stopped (SIGTERM, then SIGKILL) on exit."""
    assert APACHE2 is not None
    proc = subprocess.Popen([APACHE2, "-f", str(conf), "-D", "FOREGROUND"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_port(port, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def _wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise AssertionError(f"apache2 exited with {proc.returncode}: {err}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"apache2 did not listen on port {port}")


def request(port: int, request_line: bytes, headers: list[tuple[bytes, bytes]] | None = None,
            body: bytes = b"", pause: float = 0.0) -> Sent:
    """Send one request on its own connection (``Connection: close``) and read the whole response.

    ``pause`` waits between the headers and the body (to make a slow request).
    """
    headers = list(headers or [])
    if not any(name.lower() == b"connection" for name, _ in headers):
        headers.append((b"Connection", b"close"))
    raw = request_line + b"\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in headers) + b"\r\n"
    sent = Sent(raw + body, request_line, {n.decode().lower(): v for n, v in headers})
    sent.started = time.time()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        if pause:
            time.sleep(pause)
        if body:
            sock.sendall(body)
        response = _read_all(sock)
    sent.finished = time.time()
    _parse_response(sent, response)
    return sent


def keepalive_pair(port: int, path: bytes, host: bytes) -> list[Sent]:
    """Two requests on one connection: the first keeps it alive, the second closes it."""
    results = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for connection in (b"keep-alive", b"close"):
            line = b"GET " + path + b" HTTP/1.1"
            raw = line + b"\r\nHost: " + host + b"\r\nConnection: " + connection + b"\r\n\r\n"
            sent = Sent(raw, line, {"host": host, "connection": connection}, started=time.time())
            sock.sendall(raw)
            response = _read_one(sock)
            sent.finished = time.time()
            _parse_response(sent, response)
            results.append(sent)
    return results


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def _read_one(sock: socket.socket) -> bytes:
    """One response framed by Content-Length (what httpd sends for a static file)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _parse_response(sent: Sent, response: bytes) -> None:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    sent.status = int(lines[0].split()[1])
    for line in lines[1:]:
        name, _, value = line.partition(":")
        sent.response_headers[name.strip().lower()] = value.strip()
    sent.body_length = len(body)


def wait_for_lines(path: Path, count: int, timeout: float = 10.0) -> None:
    """httpd logs after sending the response: wait until ``count`` lines are there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        time.sleep(0.05)
    have = path.read_bytes().count(b"\n") if path.exists() else 0
    raise AssertionError(f"{path}: {have} lines, expected {count}")

"""Recording stub backends: small threaded HTTP servers on loopback.

Each proxied origin of the config gets its own stub, so a request that
reaches a stub says which backend httpd would have called, with the path,
query, method and headers httpd sent. Nothing leaves the machine.
"""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STUB_HEADER = "X-Vhostguard-Stub"
CATCH_ALL = "*"  # the stub standing for any backend not known up front (it gets absolute URLs)


@dataclass(frozen=True)
class StubRecord:
    """One request a stub received."""

    stub: str  # the stub's own origin, http://127.0.0.1:PORT
    original: str  # the backend origin of the config it stands for
    method: str
    target: str  # request target as httpd sent it: path?query
    headers: tuple[tuple[str, str], ...]
    body: bytes
    time: float

    @property
    def url(self) -> str:
        """The backend URL httpd would have requested: the original origin plus the path, or the
        absolute URL itself when httpd sent one (forward-proxy form, at the catch-all stub)."""
        if self.target.startswith("/") and self.original != CATCH_ALL:
            return self.original + self.target
        return self.target

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as mod_proxy expects from a backend
    server: _StubHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # stages return data; nothing is printed

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def __getattr__(self, name: str) -> Any:
        # Any method httpd forwards (GET, PROPFIND, ...) is recorded the same way.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _target(self) -> str:
        """The request target as httpd sent it: ``self.path`` has a leading ``//`` folded
        to ``/`` (http.server's gh-87389 guard), which would hide what httpd forwarded."""
        words = self.requestline.split()
        return words[1] if len(words) >= 2 else self.path

    def _serve(self) -> None:
        stub = self.server.stub
        body = self._read_body()
        stub.record(StubRecord(
            stub=stub.origin, original=stub.original, method=self.command, target=self._target(),
            headers=tuple(self.headers.items()), body=body, time=time.time(),
        ))
        payload = f"vhostguard stub for {stub.original}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header(STUB_HEADER, stub.original)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class _StubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, stub: StubServer) -> None:
        self.stub = stub
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            (self._connections.add if alive else self._connections.discard)(conn)

    def close_connections(self) -> None:
        # httpd keeps backend connections alive; cut them so no thread lingers.
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class StubServer:
    """One stub standing for the backend origin ``original``."""

    def __init__(self, original: str, sink: StubPool) -> None:
        self.original = original
        self._sink = sink
        self._server = _StubHTTPServer(self)
        self.port = int(self._server.server_address[1])
        self.origin = f"http://127.0.0.1:{self.port}"
        self._stopped = False
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"vhostguard-stub-{self.port}", daemon=True,
        )
        self._thread.start()

    def record(self, record: StubRecord) -> None:
        self._sink.add(record)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join(timeout=2)


class StubPool:
    """The stubs of one sandbox and everything they recorded."""

    def __init__(self) -> None:
        self._stubs: dict[str, StubServer] = {}
        self._records: list[StubRecord] = []
        self._lock = threading.Lock()

    def stub_for(self, original: str) -> StubServer:
        """The stub for backend origin ``original`` (scheme://host[:port]), started on first use."""
        key = original.lower()
        if key not in self._stubs:
            self._stubs[key] = StubServer(original, self)
        return self._stubs[key]

    def catch_all(self) -> StubServer:
        return self.stub_for(CATCH_ALL)

    @property
    def stubs(self) -> tuple[StubServer, ...]:
        return tuple(self._stubs.values())

    def backend_url(self, record: StubRecord) -> str:
        """``record.url``, with a stub's own origin inside an absolute URL put back to the original."""
        url = record.url
        lowered = url.lower()
        for stub in self._stubs.values():
            if stub.original == CATCH_ALL:
                continue
            if lowered == stub.origin or lowered.startswith((stub.origin + "/", stub.origin + "?")):
                return stub.original + url[len(stub.origin):]
        return url

    def add(self, record: StubRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self) -> list[StubRecord]:
        with self._lock:
            return list(self._records)

    def find(self, header: str, value: str) -> list[StubRecord]:
        """The records whose request carried ``header: value``."""
        return [r for r in self.records() if r.header(header) == value]

    def stop(self) -> None:
        """Stop every stub; what they recorded stays readable."""
        for stub in self._stubs.values():
            stub.stop()

"""Send one HTTP(S) request exactly as a client would, to any address.

``probe`` writes the request bytes itself (so Host, its absence, HTTP/1.0
and odd headers are sent exactly as asked) and lets http.client parse the
response. Redirects are never followed.
"""
from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_MAX_BODY = 1 << 20
USER_AGENT = "vhostguard-probe"


class ProbeError(Exception):
    """The request could not be sent or no HTTP response came back.

    ``refused`` is set when no HTTP exchange was possible at all: the
    connection was refused, or the TLS handshake failed (an https request to
    a port that speaks plain HTTP).
    """

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


@dataclass(frozen=True)
class ProbeResult:
    status: int
    reason: str
    version: str  # "HTTP/1.1"
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: bool  # the body was longer than max_body
    connected_to: tuple[str, int]

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # without brackets
    port: int
    host_header: str  # as a browser writes it: the port only when the URL has one
    request_target: str


def _parse(url: str) -> _Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ProbeError(f"not an http(s) URL: {url!r}")
    try:
        explicit = parts.port
    except ValueError as exc:
        raise ProbeError(f"bad port in {url!r}: {exc}") from None
    host = parts.hostname
    # urlsplit lower-cases hostname; the Host header keeps the URL's spelling.
    netloc_host = parts.netloc.rpartition("@")[2]
    host_header = netloc_host if explicit is not None else netloc_host.rstrip(":")  # "host:" has no port
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(scheme, host, explicit or (443 if scheme == "https" else 80), host_header, target)


def _header_items(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(headers.items()) if isinstance(headers, Mapping) else list(headers)


def build_request(
    url: str, *, method: str = "GET", headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    no_host: bool = False, http10: bool = False, body: bytes = b"", target: str | None = None,
) -> bytes:
    """The exact bytes ``probe`` sends for these arguments."""
    parsed = _parse(url)
    items = _header_items(headers)
    given = {name.lower() for name, _ in items}
    lines = [f"{method} {target or parsed.request_target} {'HTTP/1.0' if http10 else 'HTTP/1.1'}"]
    if not no_host and "host" not in given:
        lines.append(f"Host: {parsed.host_header}")
    for name, value in items:
        lines.append(f"{name}: {value}")
    if "user-agent" not in given:
        lines.append(f"User-Agent: {USER_AGENT}")
    if "connection" not in given:
        lines.append("Connection: close")
    if body and "content-length" not in given:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def probe(
    url: str,
    connect_to: tuple[str, int] | None = None,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    sni: str | None = None,
    no_host: bool = False,
    http10: bool = False,
    body: bytes = b"",
    target: str | None = None,
    timeout: float = 10.0,
    max_body: int = DEFAULT_MAX_BODY,
) -> ProbeResult:
    """Request ``url`` over a connection to ``connect_to`` (default: the URL's host and port).

    The Host header is the URL's host (with a port only if the URL has one)
    unless ``headers`` has a Host or ``no_host`` is set. For https, SNI is
    ``sni`` or else the URL's host (none for an IP literal; ``sni=""`` sends
    none); certificates are not verified. ``target`` overrides the request
    target (e.g. an absolute URI). Raises ProbeError when no response arrives.
    """
    parsed = _parse(url)
    address = connect_to or (parsed.host, parsed.port)
    payload = build_request(url, method=method, headers=headers, no_host=no_host, http10=http10, body=body, target=target)
    try:
        sock = socket.create_connection(address, timeout=timeout)
    except OSError as exc:
        raise ProbeError(f"cannot connect to {address[0]}:{address[1]}: {exc}",
                         refused=isinstance(exc, ConnectionRefusedError)) from None
    try:
        if parsed.scheme == "https":
            try:
                sock = _wrap_tls(sock, parsed.host if sni is None else sni)
            except ssl.SSLError as exc:
                raise ProbeError(f"{url} via {address[0]}:{address[1]}: TLS handshake failed: {exc}", refused=True) from None
        sock.sendall(payload)
        return _read_response(sock, method, address, max_body)
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        raise ProbeError(f"{url} via {address[0]}:{address[1]}: {exc.__class__.__name__}: {exc}") from None
    finally:
        sock.close()


def _wrap_tls(sock: socket.socket, server_name: str) -> ssl.SSLSocket:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # sandbox and probes check routing, not certificates
    context.set_alpn_protocols(["http/1.1"])
    is_ip = _is_ip(server_name)
    return context.wrap_socket(sock, server_hostname=None if not server_name or is_ip else server_name)


def _is_ip(text: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)
    except OSError:
        return False
    return True


def _read_response(sock: socket.socket, method: str, address: tuple[str, int], max_body: int) -> ProbeResult:
    response = http.client.HTTPResponse(sock, method=method)
    response.begin()
    try:
        data = response.read(max_body + 1)
    except http.client.IncompleteRead as partial:
        data = partial.partial
    truncated = len(data) > max_body
    version = {9: "HTTP/0.9", 10: "HTTP/1.0", 11: "HTTP/1.1"}.get(response.version, f"HTTP/{response.version}")
    return ProbeResult(
        status=response.status, reason=response.reason, version=version,
        headers=tuple(response.getheaders()), body=data[:max_body], truncated=truncated,
        connected_to=(address[0], int(address[1])),
    )

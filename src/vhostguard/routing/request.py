"""The request being routed, and httpd's reading of its URI."""
from __future__ import annotations

import ipaddress
import posixpath
import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import unquote_to_bytes, urlsplit

from vhostguard.config import slot_setters

DEFAULT_REMOTE_IP = "192.0.2.10"  # TEST-NET-1: a client that matches no real allow-list


class RequestError(ValueError):
    """A URL or option that cannot describe a request."""


def is_ip_address(text: str) -> bool:
    """Is ``text`` an IPv4 or IPv6 address (the address a connection can arrive on or come from)?"""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True, init=False)
class Request:
    """One HTTP request as it reaches httpd.

    ``host`` is the Host header as sent (None: no Host header, HTTP/1.0);
    ``path`` is the raw (still %-encoded) path; ``query`` has no ``?``.
    ``local_ip`` is the address the connection arrived on (None: an address no
    IP-specific vhost names).
    """

    scheme: str
    host: str | None
    port: int
    path: str
    query: str | None = None
    method: str = "GET"
    local_ip: str | None = None
    remote_ip: str = DEFAULT_REMOTE_IP
    headers: tuple[tuple[str, str], ...] = ()
    sni: str | None = None
    http10: bool = False
    # Requests are memo keys (Router, replays): hash the fields once, not on every lookup.
    _hash: int = field(init=False, repr=False, compare=False)

    def __init__(
        self,
        scheme: str,
        host: str | None,
        port: int,
        path: str,
        query: str | None = None,
        method: str = "GET",
        local_ip: str | None = None,
        remote_ip: str = DEFAULT_REMOTE_IP,
        headers: tuple[tuple[str, str], ...] = (),
        sni: str | None = None,
        http10: bool = False,
    ) -> None:
        # Written out, with slot setters (see config.source.slot_setters): a log replay
        # makes one per line. The same as dataclass's __init__, plus the hash.
        _set_scheme(self, scheme)
        _set_host(self, host)
        _set_port(self, port)
        _set_path(self, path)
        _set_query(self, query)
        _set_method(self, method)
        _set_local_ip(self, local_ip)
        _set_remote_ip(self, remote_ip)
        _set_headers(self, headers)
        _set_sni(self, sni)
        _set_http10(self, http10)
        _set_hash(self, hash(self._fields()))

    def _fields(self) -> tuple[object, ...]:
        """The compared fields, in order: what equality (and so the hash) is made of."""
        return (self.scheme, self.host, self.port, self.path, self.query, self.method, self.local_ip,
                self.remote_ip, self.headers, self.sni, self.http10)

    def __hash__(self) -> int:
        return self._hash

    def __getstate__(self) -> tuple[object, ...]:
        return self._fields()  # not _hash: string hashes differ between processes

    def __setstate__(self, state: tuple[object, ...]) -> None:
        self.__init__(*state)  # type: ignore[misc]

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        method: str = "GET",
        local_ip: str | None = None,
        remote_ip: str = DEFAULT_REMOTE_IP,
        headers: tuple[tuple[str, str], ...] = (),
        sni: str | None = None,
        no_host: bool = False,
    ) -> Request:
        try:
            parts = urlsplit(url)
        except ValueError as problem:  # an unbalanced "[" or "]" in the host part
            raise RequestError(f"{url}: not a valid URL ({problem})") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise RequestError(f"{url}: the URL must start with http:// or https://")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise RequestError(f"{url}: invalid port") from None
        if not parts.hostname and not no_host:
            raise RequestError(f"{url}: the URL has no host")
        host_header = parts.netloc.rpartition("@")[2] or None
        for name, value in headers:
            if name.lower() == "host":
                host_header = value
        if no_host:
            host_header = None
        if scheme == "https" and sni is None and parts.hostname:
            sni = parts.hostname
        return cls(
            scheme=scheme, host=host_header, port=port, path=parts.path or "/",
            query=parts.query if "?" in url else None, method=method.upper(),
            local_ip=local_ip, remote_ip=remote_ip,
            headers=tuple((n, v) for n, v in headers if n.lower() != "host"),
            sni=sni, http10=no_host,
        )

    @property
    def hostname(self) -> str | None:
        """The Host header without its port (as written; matching lower-cases it)."""
        if self.host is None:
            return None
        if self.host.startswith("["):
            return self.host.split("]", 1)[0] + "]"
        return self.host.rsplit(":", 1)[0] if ":" in self.host else self.host

    def header(self, name: str) -> str | None:
        if name.lower() == "host":
            return self.host
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    @property
    def url(self) -> str:
        host = self.host or "-"
        default = 443 if self.scheme == "https" else 80
        netloc = host if ":" in host.rsplit("]", 1)[-1] or self.port == default else f"{host}:{self.port}"
        return f"{self.scheme}://{netloc}{self.path}" + (f"?{self.query}" if self.query is not None else "")


(
    _set_scheme, _set_host, _set_port, _set_path, _set_query, _set_method, _set_local_ip, _set_remote_ip,
    _set_headers, _set_sni, _set_http10, _set_hash,
) = slot_setters(
    Request, "scheme", "host", "port", "path", "query", "method", "local_ip", "remote_ip", "headers", "sni", "http10",
    "_hash",
)


@dataclass(frozen=True, slots=True)
class DecodedUri:
    """``r->uri``: the path %-decoded, ``..`` resolved and slashes merged (MergeSlashes On)."""

    uri: str
    error: str | None = None


_ENCODED_SLASH = re.compile(r"%2f", re.IGNORECASE)


def decode_uri(raw_path: str, encoded_slashes: str = "off") -> DecodedUri:
    """What httpd makes of the request path before any module sees it.

    ``encoded_slashes`` is the server's AllowEncodedSlashes (``off``, ``on``,
    ``nodecode``), as ``ap_process_request_internal`` applies it: Off refuses a
    ``%2F`` with 404 (AH00026) before any module runs; On decodes it like any
    other escape; NoDecode decodes every other escape and keeps ``%2F`` as
    written (``ap_unescape_url_keep2f``), so mod_proxy forwards it encoded.
    """
    if is_plain_path(raw_path):
        return DecodedUri(raw_path)
    if not raw_path.startswith("/"):
        return DecodedUri(raw_path, "the request path must start with '/'")
    kept = encoded_slashes == "nodecode"
    if encoded_slashes not in ("on", "nodecode") and _ENCODED_SLASH.search(raw_path):
        return DecodedUri(raw_path, "encoded slash in path (AllowEncodedSlashes Off): 404")
    try:
        if kept:
            pieces = _ENCODED_SLASH.split(raw_path)
            escapes = _ENCODED_SLASH.findall(raw_path)
            decoded = "".join(
                unquote_to_bytes(piece).decode("utf-8", errors="surrogateescape") + (escapes[i] if i < len(escapes) else "")
                for i, piece in enumerate(pieces)
            )
        else:
            decoded = unquote_to_bytes(raw_path).decode("utf-8", errors="surrogateescape")
    except ValueError:
        return DecodedUri(raw_path, "bad %-escape in path: 400")
    if "\0" in decoded:
        return DecodedUri(raw_path, "NUL in path: 404")
    merged = re.sub(r"/{2,}", "/", decoded)
    normalized = posixpath.normpath(merged) if "/." in merged else merged
    if merged.endswith("/") and not normalized.endswith("/"):
        normalized += "/"
    if normalized.startswith("//"):
        normalized = normalized[1:]
    return DecodedUri(normalized)


def is_plain_path(raw_path: str) -> bool:
    """A path that decoding leaves as it is: nothing to unescape, no slashes to
    merge, no dot segments, no NUL; ASCII, so it also survives the UTF-8 round trip
    (a lone surrogate would not)."""
    return (
        raw_path.startswith("/") and raw_path.isascii() and "%" not in raw_path
        and "//" not in raw_path and "/." not in raw_path and "\0" not in raw_path
    )


def escape_uri(text: str, safe: str) -> str:
    """``ap_escape_uri`` (``ap_os_escape_path``, server/util.c): each byte that is not
    alphanumeric, ``_.-`` or in ``safe`` becomes ``%xx``, in lower-case hex, as
    httpd writes it into Location (mod_alias Redirect, mod_rewrite [R], mod_dir's
    slash redirect). Bytes of a decoded path that are not UTF-8 (the lone
    surrogates ``decode_uri`` keeps them as) are escaped byte for byte: ``/%ff``
    comes back as ``/%ff``. mod_proxy's canonicalisation writes upper-case hex
    instead (``proxy.backend_url``)."""
    table = _escape_table(safe)
    return "".join([table[byte] for byte in text.encode("utf-8", "surrogateescape")])


@lru_cache(maxsize=16)
def _escape_table(safe: str) -> tuple[str, ...]:
    kept = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") | set(safe.encode("ascii"))
    return tuple(chr(byte) if byte in kept else f"%{byte:02x}" for byte in range(256))


@dataclass(frozen=True, slots=True)
class RequestView:
    """Derived facts about a request that several routing stages need."""

    request: Request
    uri: str
    hostname: str | None  # Host after fix_hostname (lower-case, no port)
    server_name_for_url: str
    server_port: int
    env: dict[str, str] = field(default_factory=dict)

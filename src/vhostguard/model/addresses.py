"""Addresses as httpd reads them: ``Listen`` and ``<VirtualHost>`` arguments."""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from functools import lru_cache

from vhostguard.config import Source


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """One ``Listen``: ``address`` as written (None for a bare port)."""

    address: str | None
    ip: str | None  # normalised IP, None for all addresses
    port: int
    protocol: str | None
    source: Source


@dataclass(frozen=True, slots=True)
class VhostAddress:
    """One address of a ``<VirtualHost>`` line after resolution.

    ``ip`` is None for a wildcard (``*``, ``_default_``, ``0.0.0.0``, ``[::]``);
    ``port`` is None for the ``:*`` wildcard port. ``written`` is the host
    part as written (httpd's ``virthost``, matched against Host as a
    fallback). ``uncertain`` marks a hostname resolved through DNS.
    """

    written: str
    ip: str | None
    port: int | None
    uncertain: bool = False

    @property
    def is_wildcard(self) -> bool:
        return self.ip is None

    def display(self) -> str:
        """As ``apache2 -S`` prints it: ``*:80``, ``127.0.0.2:*``, ``[::1]:443``."""
        port = "*" if self.port is None else str(self.port)
        if self.ip is None:
            return f"*:{port}"
        if ":" in self.ip:
            return f"[{self.ip}]:{port}"
        return f"{self.ip}:{port}"


class AddressError(ValueError):
    """An address httpd rejects, with httpd's wording."""


def normalize_ip(text: str) -> str | None:
    """The canonical text of an IP address, or None if ``text`` is not one.

    An IPv4-mapped IPv6 address becomes the IPv4 address, as APR makes it.
    """
    try:
        address = ipaddress.ip_address(text)  # an IPv6 scope id (fe80::1%lo) stays, as httpd keeps it
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def split_host_port(text: str) -> tuple[str | None, str | None]:
    """Split ``host:port`` / ``[v6]:port`` / ``port`` like ``apr_parse_addr_port``."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise AddressError("The address or port is invalid")
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise AddressError("The address or port is invalid")
        return host, (rest[1:] or None) if rest else None
    if text.isdigit():
        return None, text
    # apr_parse_addr_port: only trailing digits after the last ':' are a port;
    # otherwise the whole text is the host (e.g. '*:abc' is a host name).
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return text, None
    if not host:
        raise AddressError("The address or port is invalid")
    return host, port


def _port_number(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise AddressError("The address or port is invalid")
    return int(text)


def parse_listen(args: tuple[str, ...], source: Source) -> ListenAddress:
    if not args:
        raise AddressError("Listen requires 1 or 2 arguments.")
    host, port = split_host_port(args[0])
    if port is None:
        raise AddressError("Port must be specified")
    ip = None
    if host not in (None, "*", "0.0.0.0", "::"):
        ip = normalize_ip(host) or host
    return ListenAddress(args[0] if host is not None else None, ip, _port_number(port), args[1].lower() if len(args) > 1 else None, source)


def parse_vhost_address(text: str, default_port: int | None) -> list[VhostAddress]:
    """Addresses for one word of ``<VirtualHost ...>`` (several if a name resolves to several)."""
    wild_port = False
    body = text
    if body == "*":
        wild_port = True  # get_addresses: a lone '*' is a wildcard port too
    elif body.endswith(":*"):
        body, wild_port = body[:-2], True
    host, port_text = split_host_port(body)
    if host is None:
        raise AddressError("Missing address for VirtualHost")
    port: int | None
    if wild_port:
        port = None
    elif port_text is not None:
        port = _port_number(port_text)
    else:
        port = default_port
    if host == "*" or host.lower() == "_default_":
        return [VhostAddress(host, None, port)]
    ip = normalize_ip(host)
    if ip is not None:
        return [VhostAddress(host, None if ipaddress.ip_address(ip).is_unspecified else ip, port)]
    return [VhostAddress(host, None if resolved_is_any(r) else r, port, uncertain=True) for r in resolve_host(host)]


def resolved_is_any(ip: str) -> bool:
    return ipaddress.ip_address(ip).is_unspecified


@lru_cache(maxsize=1024)
def resolve_host(name: str) -> tuple[str, ...]:
    """Resolve a hostname as httpd does at start-up (empty when it fails)."""
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return ()
    seen: list[str] = []
    for info in infos:
        ip = normalize_ip(str(info[4][0]))
        if ip and ip not in seen:
            seen.append(ip)
    return tuple(seen)


@lru_cache(maxsize=1024)
def reverse_name(ip: str) -> str | None:
    """The name httpd gives an IP vhost without ServerName (getnameinfo, name required)."""
    try:
        return socket.getnameinfo((ip, 0), socket.NI_NAMEREQD)[0]
    except (OSError, UnicodeError):
        return None


@lru_cache(maxsize=1)
def local_host_name() -> str:
    """httpd's ``ap_get_local_host``: the reverse name of this host's address if it
    has a dot, else the host name if it has one, else the address (AH00558)."""
    hostname = socket.gethostname()
    try:
        infos = socket.getaddrinfo(hostname, None, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return "127.0.0.1"
    ip = str(infos[0][4][0])
    name = reverse_name(ip)
    if name and "." in name:
        return name
    if "." in hostname:
        return hostname
    return normalize_ip(ip) or ip

"""Original addresses and ports to sandbox ones, and back.

httpd picks the vhost from the (IP, port) a connection arrived on, so the
sandbox moves ``Listen`` and ``<VirtualHost>`` addresses together: every
real IP gets its own loopback address, every port its own free high port,
and wildcards stay wildcards. Matching semantics are then unchanged.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from vhostguard.config import Source

DEFAULT_LOOPBACK = "127.0.0.1"  # a wildcard Listen becomes this one; no vhost is mapped onto it
FIRST_MAPPED = ipaddress.IPv4Address("127.0.0.10")
SCHEME_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_WILDCARD_HOSTS = {"*", "_default_"}


def normalize_ip(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    return str(address)


def is_unspecified(ip: str) -> bool:
    return ipaddress.ip_address(ip).is_unspecified


def resolve(name: str) -> list[str]:
    """Addresses of a hostname, as httpd resolves ``Listen``/``<VirtualHost>`` names at start-up."""
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    found: list[str] = []
    for info in infos:
        ip = normalize_ip(str(info[4][0]))
        if ip and ip not in found:
            found.append(ip)
    return found


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (bound to port 0 together, then released)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((DEFAULT_LOOPBACK, 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass(frozen=True)
class ListenSpec:
    """One listening address of the original config: ``ip`` None for a wildcard."""

    ip: str | None
    port: int
    protocol: str | None = None
    source: Source | None = field(default=None, compare=False)  # the Listen line


@dataclass(frozen=True)
class AddressMap:
    """The sandbox's view of the config's addresses."""

    ports: dict[int, int]  # original port -> sandbox port
    ips: dict[str, str]  # original IP -> loopback IP
    listens: tuple[ListenSpec, ...]  # what the original config listens on

    @staticmethod
    def build(ips: Iterable[str], ports: Iterable[int], listens: Iterable[ListenSpec],
              allocate: Callable[[int], list[int]] = free_ports) -> AddressMap:
        ip_map: dict[str, str] = {}
        for ip in ips:
            if ip not in ip_map:
                ip_map[ip] = str(FIRST_MAPPED + len(ip_map))
        wanted = list(dict.fromkeys(ports))
        return AddressMap(dict(zip(wanted, allocate(len(wanted)))), ip_map, tuple(listens))

    def port(self, original: int) -> int:
        return self.ports[original]

    def original_port(self, sandbox_port: int) -> int | None:
        for original, mapped in self.ports.items():
            if mapped == sandbox_port:
                return original
        return None

    def listen_word(self, spec: ListenSpec) -> str:
        """The address part of the sandbox ``Listen`` for an original one."""
        ip = DEFAULT_LOOPBACK if spec.ip is None else self.ips[spec.ip]
        return f"{ip}:{self.ports[spec.port]}"

    def wildcard_extras(self) -> list[ListenSpec]:
        """Per-IP listens a wildcard ``Listen`` needs in the sandbox.

        A real wildcard listener accepts connections on every local IP, IP
        vhosts included; on loopback each mapped IP needs its own listener,
        except where the config listens on that IP:port explicitly.
        """
        explicit = {(s.ip, s.port) for s in self.listens if s.ip is not None}
        extras: list[ListenSpec] = []
        seen: set[tuple[str, int]] = set()
        for spec in self.listens:
            if spec.ip is not None:
                continue
            for ip in self.ips:
                key = (ip, spec.port)
                if key not in explicit and key not in seen:
                    seen.add(key)
                    extras.append(ListenSpec(ip, spec.port, spec.protocol, None))
        return extras

    def sandbox_listens(self) -> list[tuple[str, int]]:
        """Every (loopback IP, port) the sandbox listens on."""
        found = [(self.listen_word(s).rsplit(":", 1)[0], self.ports[s.port]) for s in self.listens]
        found += [(self.ips[s.ip], self.ports[s.port]) for s in self.wildcard_extras() if s.ip is not None]
        return list(dict.fromkeys(found))

    def connect_address(self, local_ip: str | None, port: int) -> tuple[str, int]:
        """Where to connect in the sandbox for a connection to the original (local_ip, port).

        ``local_ip`` None means an address no IP-specific vhost names (the
        first explicit Listen when nothing listens on the wildcard address).
        Raises LookupError when the original config accepts no such connection.
        """
        if port not in self.ports:
            raise LookupError(f"the configuration has no Listen or <VirtualHost> on port {port}")
        on_port = [s for s in self.listens if s.port == port]
        wildcard = any(s.ip is None for s in on_port)
        if local_ip is None:
            if wildcard:
                return DEFAULT_LOOPBACK, self.ports[port]
            if on_port:
                return self.ips[on_port[0].ip or ""], self.ports[port]
            raise LookupError(f"nothing listens on port {port} (no Listen for it)")
        ip = normalize_ip(local_ip) or local_ip
        if any(s.ip == ip for s in on_port) or (wildcard and ip in self.ips):
            return self.ips[ip], self.ports[port]
        if wildcard:
            return DEFAULT_LOOPBACK, self.ports[port]  # an IP no vhost names behaves like any other
        raise LookupError(f"nothing listens on {local_ip}:{port} (the Listen directives do not cover it)")

    def vhost_words(self, word: str, default_port: int | None, resolver: Callable[[str], list[str] | None]) -> list[str]:
        """A ``<VirtualHost>`` address rewritten for the sandbox (several if a name resolves to several IPs).

        Wildcards (``*``, ``_default_``, ``0.0.0.0``, ``[::]``) and the ``:*``
        port stay as they are; an address without a port keeps having none
        unless ``default_port`` (the main ServerName's port as read so far)
        gives it one, which is then written out, mapped.
        """
        if word == "*":
            return [word]  # a bare '*' means every address and every port (httpd's get_addresses)
        body, any_port = (word[:-2], True) if word.endswith(":*") else (word, False)
        host, port_text = _split_host_port(body)
        port = None if any_port else int(port_text) if port_text else default_port
        suffix = ":*" if any_port else "" if port is None else f":{self.ports[port]}"
        if host in _WILDCARD_HOSTS or host.lower() in _WILDCARD_HOSTS:
            return [host + suffix]
        ip = normalize_ip(host)
        ips = [ip] if ip is not None else resolver(host) or []
        if not ips:
            return [word]  # httpd ignores a name that does not resolve; so will the sandbox
        return [("*" if is_unspecified(i) else self.ips[i]) + suffix for i in ips]

    def map_url_back(self, url: str) -> str:
        """A URL the sandbox produced (e.g. Location) with sandbox ports/IPs put back.

        The original port is dropped when it is the scheme's default, as
        httpd's ``ap_construct_url`` would have done on the real port.
        """
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return url
        if port is None or parts.hostname is None:
            return url
        original = self.original_port(port)
        if original is None:
            return url
        host = parts.hostname
        reverse_ips = {v: k for k, v in self.ips.items()}
        host = reverse_ips.get(host, host)
        if ":" in host:
            host = f"[{host}]"
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = (userinfo + "@" if userinfo else "") + host
        if SCHEME_PORTS.get(parts.scheme.lower()) != original:
            netloc += f":{original}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _split_host_port(text: str) -> tuple[str, str | None]:
    if text.startswith("["):
        end = text.find("]")
        rest = text[end + 1 :]
        return text[1:end], (rest[1:] or None) if rest.startswith(":") else None
    if text.count(":") > 1:
        return text, None  # bare IPv6 without brackets
    host, sep, port = text.partition(":")
    return host, (port if sep and port else None)

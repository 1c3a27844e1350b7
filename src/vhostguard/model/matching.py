"""httpd's vhost selection: address sets, then Host against names and aliases.

Follows server/vhost.c: ``ap_fini_vhost_config`` builds one name chain per
(IP, port) and one per wildcard port; ``ap_update_vhost_given_ip`` picks the
chain for a connection (IP-specific chains hide wildcard ones);
``update_server_from_aliases`` walks the chain in configuration order.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from vhostguard.model.addresses import VhostAddress, normalize_ip
from vhostguard.model.server import Server


@dataclass(frozen=True, slots=True)
class AddressSet:
    """The vhosts sharing one address:port, in httpd's matching order (first = default)."""

    ip: str | None
    port: int | None
    servers: tuple[Server, ...]
    entries: tuple[VhostAddress, ...]  # the address each server was entered with
    # As ``apache2 -S`` shows it (``*:80``); stored, since every routing explanation names it.
    address: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", VhostAddress("", self.ip, self.port).display())

    @property
    def default(self) -> Server:
        return self.servers[0]


@dataclass(frozen=True, slots=True)
class HostName:
    """A Host value after httpd's ``fix_hostname``: lower-cased, port and trailing dot gone."""

    name: str | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """Which server answers, and why (``how`` is one of: name, alias, wild-alias,
    virthost, default, only, main, bad-host)."""

    server: Server
    address_set: AddressSet | None
    how: str
    matched: str | None = None
    host: HostName = field(default_factory=lambda: HostName(None))


def normalize_host(value: str | None) -> HostName:
    """Apply httpd's Host checks (``fix_hostname``, default ``HttpProtocolOptions Strict``)."""
    if value is None or value == "":
        return HostName(None)
    if value.isdigit():
        return HostName(None, f"purely numeric host name {value!r} is not allowed")
    host = value
    if host.startswith("["):
        end = host.find("]")
        if end < 0 or (host[end + 1 :] and not re.fullmatch(r":\d*", host[end + 1 :])):
            return HostName(None, f"malformed Host {value!r}")
        literal = host[1:end].lower()
        if normalize_ip(literal) is None:
            return HostName(None, f"malformed IPv6 literal in Host {value!r}")
        return HostName(literal)
    name, sep, port = host.rpartition(":")
    if sep:
        if not port.isdigit() or ":" in name or not name:
            return HostName(None, f"malformed Host {value!r}")
        host = name
    host = host.lower()
    if ".." in host or "/" in host or "\\" in host:
        return HostName(None, f"malformed Host {value!r}")
    if host.endswith("."):
        host = host[:-1]
    problem = _strict_host_problem(host)
    if problem:
        return HostName(None, f"invalid Host {value!r}: {problem}")
    return HostName(host)


def _strict_host_problem(host: str) -> str | None:
    """httpd's ``strict_hostname_check``: letters, digits, '-', '_' and '.' only."""
    dotted_decimal = True
    for char in host:
        if (char.isalpha() and char.isascii()) or char in "-_":
            dotted_decimal = False
        elif char != "." and not char.isdigit():
            return f"character {char!r} not allowed"
    if dotted_decimal:
        parts = host.split(".")
        if len(parts) != 4 or any(p == "" or (len(p) > 1 and p.startswith("0")) for p in parts):
            return "not a valid dotted-decimal address"
        return None
    tld = host.rsplit(".", 1)[-1] if "." in host else ""
    if tld and not tld[0].isalpha():
        return "the top-level domain must start with a letter"
    return None


def wildcard_regex(pattern: str) -> re.Pattern[str]:
    """``ap_strcasecmp_match``: ``*`` is any run of characters (dots too), ``?`` one."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower())
    return re.compile(body + r"\Z", re.DOTALL)


class _NameIndex:
    """Fast ``first server in order whose name, alias or wild alias matches``.

    ``*.example.com``-style aliases (a ``*`` then literal text) are indexed by
    that literal suffix, so a lookup costs one dict probe per suffix of the
    Host instead of one regex per alias; other wildcard shapes are tried in order.
    """

    def __init__(self, servers: tuple[Server, ...]) -> None:
        self.exact: dict[str, tuple[int, str]] = {}
        self.suffixes: dict[str, tuple[int, str]] = {}
        self.other_wild: list[tuple[int, str, re.Pattern[str]]] = []
        for index, server in enumerate(servers):
            names = [(server.server_name, "name")] + [(a, "alias") for a in server.aliases]
            for name, how in names:
                self.exact.setdefault(name.lower(), (index, how))
            for pattern in server.wild_aliases:
                lowered = pattern.lower()
                if lowered.startswith("*") and "*" not in lowered[1:] and "?" not in lowered:
                    self.suffixes.setdefault(lowered[1:], (index, pattern))
                else:
                    self.other_wild.append((index, pattern, wildcard_regex(pattern)))

    def lookup(self, host: str) -> tuple[int, str, str] | None:
        best = self.exact.get(host)
        found = (best[0], best[1], host) if best else None
        if self.suffixes:
            for start in range(len(host) + 1):
                hit = self.suffixes.get(host[start:])
                if hit is not None and (found is None or hit[0] < found[0]):
                    found = (hit[0], "wild-alias", hit[1])
        for index, pattern, regex in self.other_wild:
            if found is not None and index >= found[0]:
                break
            if regex.match(host):
                found = (index, "wild-alias", pattern)
                break
        return found


class Matcher:
    """The compiled lookup tables for one model."""

    def __init__(self, main: Server, address_sets: tuple[AddressSet, ...]) -> None:
        self.main = main
        self.by_ip: dict[tuple[str, int | None], AddressSet] = {}
        self.by_port: dict[int | None, AddressSet] = {}
        for aset in address_sets:
            if aset.ip is None:
                self.by_port[aset.port] = aset
            else:
                self.by_ip[(aset.ip, aset.port)] = aset
        self.ips = frozenset(ip for ip, _ in self.by_ip)
        self._names = {id(aset): _NameIndex(aset.servers) for aset in address_sets}
        self._memo: dict[tuple[str | None, int, str | None], Match] = {}

    def address_set_for(self, local_ip: str | None, port: int) -> AddressSet | None:
        """``ap_update_vhost_given_ip``: IP-specific sets first, then wildcard sets."""
        if local_ip is not None:
            ip = normalize_ip(local_ip) or local_ip
            found = self.by_ip.get((ip, port)) or self.by_ip.get((ip, None))
            if found is not None:
                return found
        return self.by_port.get(port) or self.by_port.get(None)

    def match(self, local_ip: str | None, port: int, host: str | None) -> Match:
        key = (local_ip, port, host)
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) > 65536:
                self._memo.clear()  # bounded: a long log replay must not grow without limit
            found = self._memo[key] = self._match(local_ip, port, host)
        return found

    def _match(self, local_ip: str | None, port: int, host: str | None) -> Match:
        hostname = normalize_host(host)
        aset = self.address_set_for(local_ip, port)
        if aset is None:
            return Match(self.main, None, "main", host=hostname)
        if hostname.error is not None:
            return Match(aset.default, aset, "bad-host", host=hostname)
        if len(aset.servers) == 1:
            return Match(aset.default, aset, "only", host=hostname)
        if hostname.name is None:
            return Match(aset.default, aset, "default", host=hostname)
        found = self._names[id(aset)].lookup(hostname.name)
        if found is not None:
            index, how, matched = found
            return Match(aset.servers[index], aset, how, matched, hostname)
        for server, entry in zip(aset.servers, aset.entries):
            if entry.written.lower() == hostname.name:
                return Match(server, aset, "virthost", entry.written, hostname)
        return Match(aset.default, aset, "default", host=hostname)


def build_address_sets(vhosts: tuple[Server, ...]) -> tuple[AddressSet, ...]:
    """Group vhosts into httpd's name chains, IP-specific sets first (as ``-S`` prints)."""
    chains: dict[tuple[str | None, int | None], list[tuple[Server, VhostAddress]]] = {}
    for server in vhosts:
        previous: VhostAddress | None = None
        for address in server.addresses:
            key = (address.ip, address.port)
            duplicate_wildcard = (
                address.ip is None and previous is not None and previous.ip is None and previous.port == address.port
            )
            if not duplicate_wildcard:
                chains.setdefault(key, []).append((server, address))
            previous = address
    ordered = sorted(chains.items(), key=lambda item: item[0][0] is None)
    return tuple(
        AddressSet(ip, port, tuple(s for s, _ in members), tuple(a for _, a in members))
        for (ip, port), members in ordered
    )

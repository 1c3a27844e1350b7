"""Name lookups a worker made, read from its traced calls: DNS messages it sent
and received on port 53 (RFC 1035 wire format) and the hosts file it read."""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

RCODES = {0: "ok", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
TYPE_A, TYPE_AAAA = 1, 28


@dataclass(frozen=True)
class DnsMessage:
    ident: int
    response: bool
    rcode: int
    name: str  # the first question's name, lower-cased, without the final dot
    qtype: int
    answers: tuple[str, ...]  # A and AAAA addresses, in order


def parse_dns(data: bytes) -> DnsMessage | None:
    """A DNS message's header, first question and A/AAAA answers; None when it is not one."""
    if len(data) < 12:
        return None
    ident, flags, questions, answers = struct.unpack("!HHHH", data[:8])
    if questions < 1:
        return None
    name, offset = _name(data, 12)
    if name is None or offset + 4 > len(data):
        return None
    qtype = struct.unpack("!H", data[offset:offset + 2])[0]
    offset += 4
    for _ in range(1, questions):  # further questions (rare): skip them
        _, offset = _name(data, offset)
        offset += 4
    found: list[str] = []
    for _ in range(answers):
        _, offset = _name(data, offset)
        if offset + 10 > len(data):
            break
        rtype, _rclass, _ttl, length = struct.unpack("!HHIH", data[offset:offset + 10])
        offset += 10
        rdata = data[offset:offset + length]
        offset += length
        if rtype == TYPE_A and len(rdata) == 4:
            found.append(str(ipaddress.IPv4Address(rdata)))
        elif rtype == TYPE_AAAA and len(rdata) == 16:
            found.append(str(ipaddress.IPv6Address(rdata)))
    return DnsMessage(ident, bool(flags & 0x8000), flags & 0xF, name, qtype, tuple(found))


def _name(data: bytes, offset: int) -> tuple[str | None, int]:
    """A (possibly compressed) domain name at ``offset``, and the offset after it."""
    labels: list[str] = []
    end: int | None = None
    jumps = 0
    while offset < len(data):
        length = data[offset]
        if length == 0:
            return ".".join(labels).lower(), (end if end is not None else offset + 1)
        if length & 0xC0 == 0xC0:  # a pointer to an earlier name
            if offset + 1 >= len(data) or jumps > 16:
                return None, len(data)
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            jumps += 1
            continue
        labels.append(data[offset + 1:offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    return None, len(data)


def parse_hosts(text: str) -> dict[str, set[str]]:
    """name -> addresses from hosts-file text (``/etc/hosts``), as glibc reads it."""
    names: dict[str, set[str]] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        for name in fields[1:]:
            names.setdefault(name.lower(), set()).add(fields[0])
    return names

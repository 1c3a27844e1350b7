"""Listening TCP sockets, read from the kernel's ``/proc/net/tcp`` and ``tcp6``.

Each row is ``sl: local rem st tx:rx tr:when retrnsmt uid timeout inode ...``;
an address is hex ``IP:PORT`` where the IP is the kernel's in-memory bytes
printed as 32-bit words in host byte order (so ``0100007F`` is 127.0.0.1 on
a little-endian machine) and the port is plain big-endian hex. State ``0A``
is TCP_LISTEN. ``/proc/<pid>/net/tcp`` shows the tables of that process's
network namespace (a server in a container), ``/proc/net/tcp`` our own.
"""
from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass

TCP_LISTEN = "0A"


@dataclass(frozen=True)
class ListeningSocket:
    """A socket in LISTEN state. ``ip`` is canonical text (an IPv4-mapped IPv6
    address becomes the IPv4 one); ``wildcard`` for 0.0.0.0 and ``::``."""

    ip: str
    port: int
    family: int  # 4 or 6, the table it came from
    inode: int

    @property
    def wildcard(self) -> bool:
        return ipaddress.ip_address(self.ip).is_unspecified

    def display(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


def _words_to_bytes(hex_text: str, byteorder: str) -> bytes:
    """The kernel prints each 32-bit word of the address in host order."""
    data = bytes.fromhex(hex_text)
    if byteorder == "big":
        return data
    return b"".join(data[i:i + 4][::-1] for i in range(0, len(data), 4))


def parse_address(text: str, byteorder: str = sys.byteorder) -> tuple[str, int]:
    """``0100007F:1F90`` -> ``("127.0.0.1", 8080)``; 32 hex digits for IPv6."""
    hex_ip, _, hex_port = text.partition(":")
    if len(hex_ip) not in (8, 32) or not hex_port:
        raise ValueError(f"not a /proc/net/tcp address: {text!r}")
    raw = _words_to_bytes(hex_ip, byteorder)
    address = ipaddress.ip_address(raw)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address), int(hex_port, 16)


def parse_tcp_table(lines: Iterable[str], family: int, byteorder: str = sys.byteorder) -> tuple[ListeningSocket, ...]:
    """The LISTEN rows of one table; the header and rows of other states are skipped."""
    found: list[ListeningSocket] = []
    for line in lines:
        fields = line.split()
        if len(fields) < 10 or not fields[0].endswith(":") or fields[3] != TCP_LISTEN:
            continue  # the header, or a connection
        ip, port = parse_address(fields[1], byteorder)
        found.append(ListeningSocket(ip, port, family, int(fields[9])))
    return tuple(found)


def listening_sockets(pid: int | None = None) -> tuple[ListeningSocket, ...]:
    """Every listening TCP socket of ``pid``'s network namespace (ours when None);
    a table that cannot be read (no IPv6) contributes nothing."""
    base = f"/proc/{pid}/net" if pid is not None else "/proc/net"
    found: list[ListeningSocket] = []
    for name, family in (("tcp", 4), ("tcp6", 6)):
        try:
            with open(os.path.join(base, name), encoding="ascii") as handle:
                found.extend(parse_tcp_table(handle, family))
        except OSError:
            continue
    return tuple(found)


def socket_inodes(pid: int) -> frozenset[int] | None:
    """Inodes of the sockets ``pid`` holds open (None: its fds cannot be read)."""
    inodes: set[int] = set()
    fd_dir = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return None
    for name in names:
        try:
            target = os.readlink(os.path.join(fd_dir, name))
        except OSError:
            continue
        if target.startswith("socket:[") and target.endswith("]"):
            inodes.add(int(target[8:-1]))
    return frozenset(inodes)


def inode_owner(inode: int) -> tuple[int, str] | None:
    """(pid, command name) of a process holding socket ``inode``, when one can be seen."""
    wanted = f"socket:[{inode}]"
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fd_dir = f"/proc/{name}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(os.path.join(fd_dir, fd)) == wanted:
                    return int(name), process_name(int(name)) or "?"
            except OSError:
                continue
    return None


def process_name(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return None

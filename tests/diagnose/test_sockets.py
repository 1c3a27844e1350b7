"""The /proc/net/tcp{,6} parser, on tables captured from this kind of machine
(x86-64, little-endian) while sockets listened on 127.0.0.2:18504, 0.0.0.0:18503,
[::1]:18501, [::]:18502 (dual-stack) and [::ffff:127.0.0.1]:18505, with one
connection open to [::1]:18501 and TIME_WAIT leftovers."""
from __future__ import annotations

from pathlib import Path

import pytest

from vhostguard.diagnose.sockets import ListeningSocket, listening_sockets, parse_address, parse_tcp_table

DATA = Path(__file__).parent / "data"


def table(name: str, family: int) -> tuple[ListeningSocket, ...]:
    return parse_tcp_table((DATA / name).read_text().splitlines(), family, byteorder="little")


def test_ipv4_table_lists_only_listening_sockets() -> None:
    found = table("proc_net_tcp", 4)
    assert [(s.ip, s.port, s.inode) for s in found] == [
        ("127.0.0.2", 18504, 598837), ("0.0.0.0", 2024, 1316), ("0.0.0.0", 18503, 598836)]
    assert [s.wildcard for s in found] == [False, True, True]
    assert found[0].display() == "127.0.0.2:18504"


def test_ipv6_table_words_in_host_order_and_mapped_addresses() -> None:
    found = table("proc_net_tcp6", 6)
    # the two ESTABLISHED rows of the open connection are not listeners
    assert [(s.ip, s.port) for s in found] == [("::", 18502), ("::1", 18501), ("127.0.0.1", 18505)]
    assert found[0].wildcard and not found[1].wildcard
    assert found[1].display() == "[::1]:18501" and found[1].inode == 598834
    assert all(s.family == 6 for s in found)


def test_big_endian_host_prints_the_address_in_network_order() -> None:
    assert parse_address("7F000001:0050", byteorder="big") == ("127.0.0.1", 80)
    assert parse_address("0100007F:0050", byteorder="little") == ("127.0.0.1", 80)
    assert parse_address("00000000000000000000000001000000:01BB", byteorder="little") == ("::1", 443)
    assert parse_address("00000000000000000000000000000001:01BB", byteorder="big") == ("::1", 443)


@pytest.mark.parametrize("text", ["0100007F", "0100:0050", "zz00007F:0050"])
def test_malformed_address(text: str) -> None:
    with pytest.raises(ValueError):
        parse_address(text)


def test_live_table_of_this_process_sees_a_socket_we_open() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert any(s.ip == "127.0.0.1" and s.port == port for s in listening_sockets())


def test_which_socket_serves_which_listen() -> None:
    from vhostguard.config import Source
    from vhostguard.diagnose.checks.listeners import _serves
    from vhostguard.model import ListenAddress

    def listen(ip: str | None, port: int = 80) -> ListenAddress:
        return ListenAddress(ip, ip, port, None, Source("httpd.conf", 1))

    any4, any6 = ListeningSocket("0.0.0.0", 80, 4, 1), ListeningSocket("::", 80, 6, 2)
    lo4, lo6 = ListeningSocket("127.0.0.1", 80, 4, 3), ListeningSocket("::1", 80, 6, 4)
    assert _serves(any4, listen(None)) and _serves(any6, listen(None))
    assert _serves(any4, listen("127.0.0.1")) and _serves(any6, listen("127.0.0.1"))
    assert not _serves(any4, listen("::1")) and _serves(any6, listen("::1"))
    assert _serves(lo4, listen("127.0.0.1")) and not _serves(lo4, listen("127.0.0.2"))
    assert _serves(lo6, listen("::1")) and not _serves(lo6, listen(None))
    assert not _serves(lo4, listen("127.0.0.1", 81))

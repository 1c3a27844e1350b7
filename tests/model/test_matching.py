from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from vhostguard.config import LoadOptions, load
from vhostguard.model import ServerModel, build_model, normalize_host

Write = Callable[..., Path]


def model_of(write: Write, text: str) -> ServerModel:
    tree = load(str(write("main.conf", "ServerName main.example\n" + text)), LoadOptions(environ={}, env_file=""))
    assert tree.errors == ()
    model = build_model(tree)
    assert model.errors == ()
    return model


def served(model: ServerModel, ip: str | None, port: int, host: str | None) -> str:
    return model.match(ip, port, host).server.server_name


STACK = """
Listen 80
Listen 8080
<VirtualHost *:80>
  ServerName first.example
</VirtualHost>
<VirtualHost *:80>
  ServerName a.example
  ServerAlias alias.example *.wild.example ?.q.example
</VirtualHost>
<VirtualHost *:80>
  ServerName b.example
  ServerAlias a.example
</VirtualHost>
<VirtualHost 127.0.0.2:80>
  ServerName ip.example
</VirtualHost>
<VirtualHost 127.0.0.2:80>
  ServerName ip2.example
</VirtualHost>
"""


@pytest.mark.parametrize(
    ("ip", "port", "host", "expected"),
    [
        (None, 80, "a.example", "a.example"),
        (None, 80, "A.EXAMPLE.", "a.example"),  # case and one trailing dot
        (None, 80, "a.example:9999", "a.example"),  # Host port ignored
        (None, 80, "alias.example", "a.example"),
        (None, 80, "x.y.wild.example", "a.example"),
        (None, 80, ".wild.example", "a.example"),  # '*' matches the empty string
        (None, 80, "wild.example", "first.example"),
        (None, 80, "z.q.example", "a.example"),
        (None, 80, "zz.q.example", "first.example"),
        (None, 80, "b.example", "b.example"),
        (None, 80, "unknown.example", "first.example"),  # the first vhost is the default
        (None, 80, None, "first.example"),  # HTTP/1.0, no Host
        ("127.0.0.2", 80, "a.example", "ip.example"),  # IP-specific vhosts hide *:80
        ("127.0.0.2", 80, "ip2.example", "ip2.example"),
        ("127.0.0.2", 80, "127.0.0.2", "ip.example"),
        ("127.0.0.3", 80, "b.example", "b.example"),
        (None, 8080, "a.example", "main.example"),  # no vhost on the port: main server
        (None, 80, "bad_host!", "first.example"),  # malformed Host: 400 from the default
    ],
)
def test_match(write: Write, ip: str | None, port: int, host: str | None, expected: str) -> None:
    assert served(model_of(write, STACK), ip, port, host) == expected


def test_earlier_alias_beats_later_server_name(write: Write) -> None:
    model = model_of(write, STACK)
    found = model.match(None, 80, "a.example")
    assert found.how == "name" and found.server.source.line == 8  # type: ignore[union-attr]


def test_address_sets_order_and_defaults(write: Write) -> None:
    model = model_of(write, STACK)
    assert [a.address for a in model.address_sets] == ["127.0.0.2:80", "*:80"]
    wildcard = model.address_sets[1]
    assert [s.server_name for s in wildcard.servers] == ["first.example", "a.example", "b.example"]
    assert wildcard.default.server_name == "first.example"


def test_wildcard_port_and_default_alias(write: Write) -> None:
    model = model_of(write, """
        <VirtualHost _default_:*>
          ServerName any.example
        </VirtualHost>
        <VirtualHost *:443>
          ServerName tls.example
        </VirtualHost>
        <VirtualHost 127.0.0.2:*>
          ServerName ipany.example
        </VirtualHost>
        <VirtualHost 127.0.0.2:81>
          ServerName ip81.example
        </VirtualHost>
    """.replace("\n        ", "\n"))
    assert served(model, None, 443, "x") == "tls.example"
    assert served(model, None, 1234, "x") == "any.example"
    assert served(model, "127.0.0.2", 81, "x") == "ip81.example"  # exact port beats ':*'
    assert served(model, "127.0.0.2", 82, "x") == "ipany.example"
    assert {a.address for a in model.address_sets} == {"*:*", "*:443", "127.0.0.2:*", "127.0.0.2:81"}


def test_vhost_without_server_name_inherits_main(write: Write) -> None:
    model = model_of(write, "<VirtualHost *:80>\nDocumentRoot /srv\n</VirtualHost>\n")
    assert model.vhosts[0].server_name == "main.example"
    assert model.vhosts[0].document_root == "/srv"


def test_server_name_with_scheme_and_port(write: Write) -> None:
    model = model_of(write, "<VirtualHost *:443>\nServerName https://Secure.example:443\n</VirtualHost>\n")
    vhost = model.vhosts[0]
    assert vhost.server_name == "Secure.example"
    assert vhost.declared_name is not None and vhost.declared_name.scheme == "https"
    assert vhost.declared_name.port == 443


def test_last_server_name_wins(write: Write) -> None:
    model = model_of(write, "<VirtualHost *:80>\nServerName one.example\nServerName two.example\n</VirtualHost>\n")
    assert model.vhosts[0].server_name == "two.example"


def test_ipv6_vhost(write: Write) -> None:
    model = model_of(write, "<VirtualHost [::1]:80>\nServerName six.example\n</VirtualHost>\n")
    assert model.address_sets[0].address == "[::1]:80"
    assert served(model, "::1", 80, None) == "six.example"
    assert served(model, "0:0::1", 80, None) == "six.example"


def test_vhost_in_several_address_sets(write: Write) -> None:
    model = model_of(write, "<VirtualHost *:80 *:8080>\nServerName both.example\n</VirtualHost>\n")
    assert [a.address for a in model.address_sets] == ["*:80", "*:8080"]


def test_listen_forms(write: Write) -> None:
    model = model_of(write, "Listen 80\nListen 127.0.0.1:8080\nListen [::1]:443 https\n")
    assert [(listen.address, listen.ip, listen.port, listen.protocol) for listen in model.listens] == [
        (None, None, 80, None), ("127.0.0.1:8080", "127.0.0.1", 8080, None), ("[::1]:443", "::1", 443, "https"),
    ]


@pytest.mark.parametrize(
    ("value", "name", "bad"),
    [
        ("Example.COM", "example.com", False),
        ("example.com.", "example.com", False),
        ("example.com:8080", "example.com", False),
        ("[::1]:80", "::1", False),
        ("a..b", None, True),
        ("bad_host!", None, True),
        ("a/b", None, True),
        ("12345", None, True),
        ("1.2.3", None, True),
        ("10.0.0.1", "10.0.0.1", False),
        ("", None, False),
    ],
)
def test_normalize_host(value: str, name: str | None, bad: bool) -> None:
    result = normalize_host(value)
    assert result.name == name
    assert (result.error is not None) == bad

"""The sandbox's pieces that need no apache2: line edits, address mapping, backend origins, probes, stubs."""
from __future__ import annotations

import pytest

from vhostguard.config.lexer import split_words
from vhostguard.live.edits import (
    FileEdits,
    LineMap,
    apply_edits,
    logical_text,
    quote_word,
    replace_word,
)
from vhostguard.live.mapping import AddressMap, ListenSpec
from vhostguard.live.plan import compiled_in, split_origin
from vhostguard.live.probe import build_request, probe
from vhostguard.live.stubs import StubPool

# -- edits ------------------------------------------------------------------------

def test_replacing_a_continued_directive_keeps_line_numbers() -> None:
    text = "A 1\nProxyPass /a/ \\\n    http://x:1/a/\nB 2\n"
    edited = apply_edits(text, FileEdits(replace={3: "ProxyPass /a/ http://127.0.0.1:9/a/"}))
    assert edited.split("\n") == ["A 1", "", "ProxyPass /a/ http://127.0.0.1:9/a/", "B 2", ""]


def test_logical_text_joins_continuations() -> None:
    assert logical_text("x\n  Include \\\n  a.conf\n", 3) == "Include   a.conf"


def test_inserted_lines_are_mapped_back() -> None:
    text = "L1\n<VirtualHost *:80>\nL3\n</VirtualHost>\n<VirtualHost *:80>\nL6\n"
    edits = FileEdits(insert_after={2: ["one"], 5: ["two"]})
    edited = apply_edits(text, edits).split("\n")
    assert edited[:4] == ["L1", "<VirtualHost *:80>", "one", "L3"]
    lines = LineMap.build({"f": edits})
    assert [lines.original_line("f", n) for n in range(1, 9)] == [1, 2, 2, 3, 4, 5, 5, 6]


@pytest.mark.parametrize("word", ["plain", "with space", 'quo"te', "back\\slash", "tr\\", "", "%h \\\"%r\\\""])
def test_quote_word_round_trips_through_httpds_lexer(word: str) -> None:
    assert split_words(f"{quote_word(word)} next") == [word, "next"]


def test_replace_word_keeps_the_other_words_as_written() -> None:
    text = '"|/usr/bin/rotatelogs x 86400" "%h \\"%r\\"" env=!dontlog'
    assert replace_word(text, 0, "/sb/logs/c.log") == '/sb/logs/c.log "%h \\"%r\\"" env=!dontlog'


# -- addresses ----------------------------------------------------------------------

def _map() -> AddressMap:
    listens = [ListenSpec(None, 80), ListenSpec("10.0.0.5", 8443, "https")]
    return AddressMap.build(["10.0.0.5", "2001:db8::1"], [80, 8443], listens, allocate=lambda n: [41000 + i for i in range(n)])


@pytest.mark.parametrize(
    ("word", "default_port", "expected"),
    [
        ("*:80", None, ["*:41000"]),
        ("_default_:80", None, ["_default_:41000"]),
        ("*", 80, ["*"]),  # a bare '*' is every port, whatever ServerName says
        ("*:*", None, ["*:*"]),
        ("10.0.0.5:80", None, ["127.0.0.10:41000"]),
        ("10.0.0.5", None, ["127.0.0.10"]),  # no port stays no port
        ("10.0.0.5", 80, ["127.0.0.10:41000"]),  # ... unless the main ServerName gave one
        ("10.0.0.5:*", None, ["127.0.0.10:*"]),
        ("[2001:db8::1]:8443", None, ["127.0.0.11:41001"]),
        ("0.0.0.0:80", None, ["*:41000"]),
        ("web.internal:80", None, ["127.0.0.10:41000"]),
    ],
)
def test_vhost_words(word: str, default_port: int | None, expected: list[str]) -> None:
    assert _map().vhost_words(word, default_port, {"web.internal": ["10.0.0.5"]}.get) == expected


def test_wildcard_listen_gets_a_listener_per_mapped_ip() -> None:
    amap = _map()
    assert amap.listen_word(amap.listens[0]) == "127.0.0.1:41000"
    assert [amap.listen_word(s) for s in amap.wildcard_extras()] == ["127.0.0.10:41000", "127.0.0.11:41000"]
    assert amap.sandbox_listens() == [
        ("127.0.0.1", 41000), ("127.0.0.10", 41001), ("127.0.0.10", 41000), ("127.0.0.11", 41000),
    ]


def test_connect_address() -> None:
    amap = _map()
    assert amap.connect_address(None, 80) == ("127.0.0.1", 41000)
    assert amap.connect_address("10.0.0.5", 80) == ("127.0.0.10", 41000)
    assert amap.connect_address("192.0.2.1", 80) == ("127.0.0.1", 41000)  # named by no vhost
    assert amap.connect_address(None, 8443) == ("127.0.0.10", 41001)  # the only Listen on the port
    with pytest.raises(LookupError):
        amap.connect_address("192.0.2.1", 8443)  # Listen 10.0.0.5:8443 does not accept it
    with pytest.raises(LookupError):
        amap.connect_address(None, 9999)


def test_urls_are_mapped_back() -> None:
    amap = _map()
    assert amap.map_url_back("http://www.example.com:41000/a?b") == "http://www.example.com/a?b"
    assert amap.map_url_back("https://127.0.0.10:41001/x") == "https://10.0.0.5:8443/x"
    assert amap.map_url_back("http://elsewhere.example:5/x") == "http://elsewhere.example:5/x"


# -- backend origins ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("url", "origin", "rest"),
    [
        ("http://10.1.2.3:5000/api/", "http://10.1.2.3:5000", "/api/"),
        ("https://api.internal", "https://api.internal", ""),
        ("fcgi://127.0.0.1:9000/var/www/$1", "fcgi://127.0.0.1:9000", "/var/www/$1"),
        ("unix:/run/php/fpm.sock|fcgi://localhost/srv/", "unix:/run/php/fpm.sock|fcgi://localhost", "/srv/"),
        ("http://[2001:db8::1]:8080/x", "http://[2001:db8::1]:8080", "/x"),
    ],
)
def test_split_origin(url: str, origin: str, rest: str) -> None:
    found = split_origin(url)
    assert found is not None and (found.text, found.rest) == (origin, rest)


@pytest.mark.parametrize("url", ["!", "balancer://cluster/", "/local/path", "*"])
def test_not_a_backend(url: str) -> None:
    assert split_origin(url) is None


def test_compiled_in_modules() -> None:
    listing = "Compiled in modules:\n  core.c\n  mod_so.c\n  http_core.c\n  mod_log_config.c\n"
    assert compiled_in(listing) == {"so_module", "log_config_module"}


def test_computed_origin_is_dynamic() -> None:
    found = split_origin("http://%{HTTP_HOST}/x")
    assert found is not None and found.dynamic


# -- probe and stubs ------------------------------------------------------------------

def test_request_bytes_are_what_a_client_sends() -> None:
    assert build_request("http://api.example.com/v1/x?y=1").startswith(
        b"GET /v1/x?y=1 HTTP/1.1\r\nHost: api.example.com\r\n"
    )
    assert b"Host: a.example:8080\r\n" in build_request("http://a.example:8080/")
    assert b"Host:" not in build_request("http://a.example/", no_host=True, http10=True)
    custom = build_request("http://a.example/", headers={"Host": "other.example"})
    assert custom.count(b"Host:") == 1 and b"Host: other.example\r\n" in custom


def test_probe_a_stub_records_the_request() -> None:
    pool = StubPool()
    try:
        stub = pool.stub_for("http://10.9.9.9:81")
        answer = probe("http://svc.example/p?q=1", ("127.0.0.1", stub.port), method="PUT",
                       headers={"X-Trace": "t1"}, body=b"data")
        head = probe("http://svc.example/h", ("127.0.0.1", stub.port), method="HEAD", http10=True)
    finally:
        pool.stop()
    assert answer.status == 200 and answer.body == b"vhostguard stub for http://10.9.9.9:81\n"
    assert head.status == 200 and head.body == b""
    first, second = pool.records()
    assert (first.method, first.url, first.body, first.header("x-trace")) == ("PUT", "http://10.9.9.9:81/p?q=1", b"data", "t1")
    assert first.header("Host") == "svc.example"
    assert (second.method, second.url) == ("HEAD", "http://10.9.9.9:81/h")
    assert pool.find("X-Trace", "t1") == [first]


def test_catch_all_stub_reports_absolute_urls_and_stub_urls_as_originals() -> None:
    pool = StubPool()
    try:
        known = pool.stub_for("http://10.1.1.1:5000")
        catch_all = pool.catch_all()
        for target in ("http://dyn.example/x", f"{known.origin}/y"):
            probe("http://ignored/", ("127.0.0.1", catch_all.port), target=target)
    finally:
        pool.stop()
    assert [pool.backend_url(r) for r in pool.records()] == ["http://dyn.example/x", "http://10.1.1.1:5000/y"]

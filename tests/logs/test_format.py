"""The LogFormat compiler, one directive at a time, then the paths against each other."""
from __future__ import annotations

import random
from typing import Any

import pytest

from vhostguard.logs import DEFAULT_NICKNAMES, FormatError, LineError, compile_format, parser_for, unescape
from vhostguard.logs.format import compile_rows, tokenize

COMBINED = DEFAULT_NICKNAMES["combined"]
VHOST_COMBINED = DEFAULT_NICKNAMES["vhost_combined"]
LINE = ('10.0.0.1 - alice [01/Nov/2017:07:28:29 +0100] "GET /v1/users/7?x=1 HTTP/1.1" 200 512 '
        '"http://ref.example/" "curl/8.5.0"')


def parse(fmt: str, line: str) -> dict[str, Any]:
    compiled = compile_format(fmt)
    record = compiled.parse(line)
    assert record == compiled.parse_regex(line), "split path and regex path disagree"
    return record


def test_combined_record() -> None:
    assert parse(COMBINED, LINE) == {
        "remote_host": "10.0.0.1", "remote_logname": None, "remote_user": "alice",
        "time": "2017-11-01T07:28:29+01:00", "request_line": "GET /v1/users/7?x=1 HTTP/1.1",
        "method": "GET", "path": "/v1/users/7", "query": "x=1", "protocol": "HTTP/1.1",
        "status": 200, "bytes_out": 512,
        "headers_in": {"Referer": "http://ref.example/", "User-Agent": "curl/8.5.0"},
    }


@pytest.mark.parametrize(("fmt", "text", "expected"), [
    ("%h", "host.example", {"remote_host": "host.example"}),
    ("%{c}h", "10.0.0.9", {"peer_host": "10.0.0.9"}),
    ("%a", "::1", {"remote_addr": "::1"}),
    ("%{c}a", "10.0.0.9", {"peer_addr": "10.0.0.9"}),
    ("%A", "192.0.2.1", {"local_addr": "192.0.2.1"}),
    ("%l", "-", {"remote_logname": None}),
    ("%u", "bob", {"remote_user": "bob"}),
    ("%u", '""', {"remote_user": ""}),  # httpd writes "" for an empty user
    ("%t", "[21/Jan/2024:15:00:00 -0330]", {"time": "2024-01-21T15:00:00-03:30"}),
    ("%{begin}t", "[21/Jan/2024:15:00:00 +0000]", {"time": "2024-01-21T15:00:00+00:00"}),
    ("%{end}t", "[21/Jan/2024:15:00:01 +0000]", {"time": "2024-01-21T15:00:01+00:00"}),
    ("%{%Y-%m-%dT%H:%M:%S}t", "2024-01-21T15:00:00", {"time": "2024-01-21T15:00:00"}),
    ("%{%d/%b/%Y:%T %z}t", "21/Jan/2024:15:00:00 +0200", {"time": "2024-01-21T15:00:00+02:00"}),
    ("%{sec}t", "1705849200", {"time": "2024-01-21T15:00:00+00:00"}),
    ("%{msec}t", "1705849200123", {"time": "2024-01-21T15:00:00.123+00:00"}),
    ("%{usec}t", "1705849200123456", {"time": "2024-01-21T15:00:00.123456+00:00"}),
    ("%{sec}t.%{msec_frac}t", "1705849200.042", {"time": "2024-01-21T15:00:00.042+00:00"}),
    ("%{sec}t.%{usec_frac}t", "1705849200.000042", {"time": "2024-01-21T15:00:00.000042+00:00"}),
    ("%{begin:%Y%m%d}t %{begin:%H%M%S}t", "20240121 150000", {"time": "2024-01-21T15:00:00"}),
    ("%{%H:%M:%S}t", "15:00:00", {"time": "15:00:00"}),
    ("%{%I:%M:%S %p}t %{%F}t", "03:00:00 PM 2024-01-21", {"time": "2024-01-21T15:00:00"}),
    ("%{%s}t", "1705849200", {"time": "2024-01-21T15:00:00+00:00"}),
    ("%{%y-%j}t", "24-021", {"time": "2024-01-21"}),
    ("%{end:%H}t", "15", {"time": "15:00:00"}),
    ("%r", "GET /a?b=c HTTP/1.0", {"request_line": "GET /a?b=c HTTP/1.0", "method": "GET", "path": "/a",
                                    "query": "b=c", "protocol": "HTTP/1.0"}),
    ("%m %U%q %H", "POST /form?x=1 HTTP/1.1", {"method": "POST", "path": "/form", "query": "x=1", "protocol": "HTTP/1.1"}),
    ("%U%q", "/form", {"path": "/form", "query": None}),  # %q logs nothing without a query
    ("%U%q", "/form?", {"path": "/form", "query": ""}),  # ... and "?" for an empty one
    ("%>s", "404", {"status": 404}),
    ("%<s %>s", "302 404", {"original_status": 302, "status": 404}),
    ("%s", "500", {"original_status": 500, "status": 500}),  # no %>s: status falls back to %s
    ("%b", "-", {"bytes": 0}),
    ("%b", "123", {"bytes": 123}),
    ("%B", "0", {"bytes": 0}),
    ("%b %B", "- 0", {"bytes": 0}),
    ("%O %I %S", "300 100 400", {"bytes_out": 300, "bytes_in": 100, "bytes_total": 400}),
    ("%^FB", "1234", {"first_byte_us": 1234}),
    ("%D", "1500", {"duration_us": 1500}),
    ("%T", "2", {"duration_us": 2_000_000}),
    ("%{s}T", "2", {"duration_us": 2_000_000}),
    ("%{ms}T", "15", {"duration_us": 15_000}),
    ("%{us}T", "15", {"duration_us": 15}),
    ("%T %D", "0 1500", {"duration_us": 1500}),  # %D is exact: it wins over %T
    ("%v", "www.example.com", {"vhost": "www.example.com"}),
    ("%V", "example.com", {"server_name": "example.com"}),
    ("%p", "443", {"port": 443}),
    ("%{canonical}p", "443", {"port": 443}),
    ("%{local}p", "8443", {"local_port": 8443}),
    ("%{remote}p", "50123", {"remote_port": 50123}),
    ("%P", "1234", {"pid": 1234}),
    ("%{pid}P", "1234", {"pid": 1234}),
    ("%{tid}P", "140512269104832", {"tid": 140512269104832}),
    ("%{hextid}P", "7fcb8fe2f6c0", {"tid": 0x7FCB8FE2F6C0}),
    ("%X", "+", {"conn_status": "+"}),
    ("%X", "-", {"conn_status": "-"}),  # "will close", not "not logged"
    ("%k", "3", {"keepalive": 3}),
    ("%L", "-", {"log_id": None}),
    ("%{c}L", "XyZ", {"conn_log_id": "XyZ"}),
    ("%f", "/var/www/html/index.html", {"filename": "/var/www/html/index.html"}),
    ("%R", "proxy-server", {"handler": "proxy-server"}),
    ('"%{User-Agent}i"', '"Mozilla/5.0 (X11)"', {"headers_in": {"User-Agent": "Mozilla/5.0 (X11)"}}),
    ('"%{Content-Type}o"', '"text/html"', {"headers_out": {"Content-Type": "text/html"}}),
    ('"%{UNIQUE_ID}e"', '"Zz1"', {"env": {"UNIQUE_ID": "Zz1"}}),
    ('"%{proxy-status}n"', '"-"', {"notes": {"proxy-status": None}}),
    ('"%{sess}C"', '"xyz"', {"cookies": {"sess": "xyz"}}),
    ('"%{Grpc-Status}^to"', '"0"', {"trailers_out": {"Grpc-Status": "0"}}),
    ('"%{SSL_PROTOCOL}x" %{version}c', '"TLSv1.3" TLSv1.3', {"ssl": {"SSL_PROTOCOL": "TLSv1.3", "version": "TLSv1.3"}}),
    ("%%%h%%", "%h.example%", {"remote_host": "h.example"}),
    ("%{bogus}T %{x}p %{y}P %h", "bogus x y h", {"remote_host": "h"}),  # httpd writes a bogus argument as is
])
def test_directive(fmt: str, text: str, expected: dict[str, Any]) -> None:
    assert parse(fmt, text) == expected


@pytest.mark.parametrize(("fmt", "text", "expected"), [
    ('%400,501{User-agent}i %>s', "- 200", {"headers_in": {"User-agent": None}, "status": 200}),
    ('%400,501{User-agent}i %>s', "curl 400", {"headers_in": {"User-agent": "curl"}, "status": 400}),
    ('%!200{Referer}i %>s', "- 200", {"headers_in": {"Referer": None}, "status": 200}),
    ('%!200,304,302{Referer}i', "http://r/", {"headers_in": {"Referer": "http://r/"}}),
    ("%404t %>s", "- 200", {"time": None, "status": 200}),
    ("%>404,500D", "-", {"duration_us": None}),
])
def test_status_conditions_log_a_dash_when_false(fmt: str, text: str, expected: dict[str, Any]) -> None:
    assert parse(fmt, text) == expected


@pytest.mark.parametrize(("logged", "value"), [
    (r'\"quoted\"', '"quoted"'),
    (r"back\\slash", "back\\slash"),
    (r"a\tb\nc\rd\be\vf", "a\tb\nc\rd\be\vf"),
    (r"caf\xc3\xa9", "café"),
    (r"\xe6\x97\xa5\xe6\x9c\xac", "日本"),
    (r"bad \xff byte", "bad \\xff byte"),  # not UTF-8: kept visible
    (r"\x01\x1b\x7f", "\x01\x1b\x7f"),
    (r"\\x41", "\\x41"),  # an escaped backslash before "x41" is not a \x escape
    (r"odd \q", "odd \\q"),  # an escape httpd never writes is kept
])
def test_escapes_httpd_writes(logged: str, value: str) -> None:
    assert unescape(logged) == value
    assert parse('"%{User-Agent}i"', f'"{logged}"') == {"headers_in": {"User-Agent": value}}


def test_escaped_quote_does_not_end_a_quoted_value() -> None:
    line = LINE.replace('"curl/8.5.0"', r'"say \"hi\" \\"')
    assert parse(COMBINED, line)["headers_in"]["User-Agent"] == 'say "hi" \\'


def test_escapes_in_the_request_line_split_after_unescaping() -> None:
    line = LINE.replace("GET /v1/users/7?x=1 HTTP/1.1", r"GET /caf\xc3\xa9?q=\"x\" HTTP/1.1")
    record = parse(COMBINED, line)
    assert (record["path"], record["query"]) == ("/café", 'q="x"')


@pytest.mark.parametrize(("request_line", "parts"), [
    ("GET / HTTP/1.1", ("GET", "/", None, "HTTP/1.1")),
    ("GET /old", ("GET", "/old", None, None)),  # HTTP/0.9
    ("GET /a b HTTP/1.1", ("GET", "/a b", None, "HTTP/1.1")),
    ("garbage", (None, None, None, None)),
    ("-", (None, None, None, None)),
    ("OPTIONS * HTTP/1.1", ("OPTIONS", "*", None, "HTTP/1.1")),
    ("GET http://h.example/p?q HTTP/1.1", ("GET", "http://h.example/p", "q", "HTTP/1.1")),
])
def test_request_line_parts(request_line: str, parts: tuple[str | None, ...]) -> None:
    record = parse('"%r"', f'"{request_line}"')
    assert (record["method"], record["path"], record["query"], record["protocol"]) == parts


def test_unquoted_value_with_a_space_is_read_by_the_lenient_pass() -> None:
    assert parse(DEFAULT_NICKNAMES["common"], LINE.replace("alice", "alice smith").rsplit(' "http', 1)[0])[
        "remote_user"] == "alice smith"


def test_literal_escapes_of_the_format_itself() -> None:
    # In the format text, \t is a tab and an unknown \x stays a backslash (parse_log_misc_string)
    assert parse("%h\\t%l\\q%u", "h\tl\\qu") == {"remote_host": "h", "remote_logname": "l", "remote_user": "u"}


@pytest.mark.parametrize(("fmt", "message"), [
    ("%h %Z", "Unrecognized LogFormat directive %Z"),
    ("%h %F", "Unrecognized LogFormat directive %F"),  # trunk only, not in 2.4
    ("%h %{Referer", "Ran off end of LogFormat parsing args to some directive"),
    ("%h %>", "Ran off end of LogFormat parsing args to some directive"),
    ("%h\\n%u", "newline inside a record"),
])
def test_format_errors(fmt: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        compile_format(fmt)


def test_tokenize_keeps_modifiers() -> None:
    items = tokenize('%!200,304{Referer}i "%<U"')
    assert [type(item).__name__ for item in items] == ["Field", "Literal", "Field", "Literal"]


def test_nicknames() -> None:
    assert parser_for("combined").format == COMBINED
    assert parser_for("mine", {"mine": "%h %>s"}).keys == ("remote_host", "status")
    assert parser_for("%h %>s", {}).keys == ("remote_host", "status")  # not a nickname: the format itself
    assert parser_for("CLF").format == '%h %l %u %t "%r" %>s %b'


@pytest.mark.parametrize(("line", "error"), [
    ("", "empty line"),
    (LINE[:40], "line ends at column 41 inside %t (a time [dd/Mon/yyyy:hh:mm:ss +zzzz])"),
    (LINE[:-1], "line ends at column"),
    (LINE.replace(" 200 ", " 2x0 "), "at column"),
    (LINE.replace("01/Nov/2017", "01/Foo/2017"), "bad time '[01/Foo/2017:07:28:29 +0100]'"),
    (LINE.replace("01/Nov/2017", "31/Feb/2017"), "bad time '[31/Feb/2017:07:28:29 +0100]': day is out of range"),
    (LINE.replace("[01/Nov/2017:07:28:29 +0100]", "[01/Nov/2017]"), "expected %t (a time"),
    (LINE + " trailing", "unexpected text at column"),
])
def test_malformed_lines_say_what_was_expected_where(line: str, error: str) -> None:
    fmt = compile_format(COMBINED)
    with pytest.raises(LineError) as caught:
        fmt.parse(line)
    assert error in caught.value.message


def test_projection_builds_fewer_keys_but_rejects_the_same_lines() -> None:
    full = compile_format(VHOST_COMBINED)
    few = compile_format(VHOST_COMBINED, fields=("vhost", "path", "status"))
    line = "www:80 " + LINE.replace("curl", "curl")
    assert few.parse(line) == {"vhost": "www", "path": "/v1/users/7", "status": 200}
    for bad in (line.replace(" 512 ", " 5x2 "), line.replace("2017:07", "2017:99")):
        with pytest.raises(LineError):
            full.parse(bad)
        with pytest.raises(LineError):
            few.parse(bad)


def test_common_formats_get_the_split_path() -> None:
    for name in ("vhost_combined", "combined", "common", "CLF"):
        assert parser_for(name).has_split_path, name
    assert "split" not in compile_format("%{%e}t %h").source or not compile_format("%{%e}t %h").has_split_path


FORMATS = [
    COMBINED, VHOST_COMBINED, DEFAULT_NICKNAMES["common"],
    '%D %{local}p %{Host}i %q %{X-Req}i "%{User-agent}i" %{%Y-%m-%dT%H:%M:%S}t',
    '%h %l %u %t "%m %U%q %H" %>s %B %D "%{Cookie}i"',
    '%a:%{remote}p [%{%d/%b/%Y %T}t] %X %k %T/%{ms}T',
]


def _random_value(rng: random.Random) -> str:
    alphabet = ['a', 'Z', '0', '9', ' ', '"', '\\"', '\\\\', '\\x41', '-', ':', '[', ']', '?', '/', '.', 'é', '\t']
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 6)))


def _sample_line(fmt: str, rng: random.Random) -> str:
    line = {COMBINED: LINE, VHOST_COMBINED: "v.example:443 " + LINE}.get(fmt)
    if line is None:
        line = LINE
    chars = list(line)
    for _ in range(rng.randrange(0, 3)):
        i = rng.randrange(len(chars) + 1)
        chars[i:i + rng.randrange(0, 3)] = _random_value(rng)
    return "".join(chars)


@pytest.mark.parametrize("fmt", FORMATS)
def test_split_path_equals_regex_path_on_mutated_lines(fmt: str) -> None:
    compiled = compile_format(fmt)
    rng = random.Random(fmt)
    for _ in range(3000):
        line = _sample_line(fmt, rng)
        assert _outcome(compiled.parse, line) == _outcome(compiled.parse_regex, line), line


def _outcome(parse: Any, line: str) -> Any:
    try:
        return parse(line)
    except LineError:
        return "malformed"


ROW_COLUMNS = ("vhost", "method", "path", "status", "time", "bytes_out", "duration_us", "query", "remote_host")


@pytest.mark.parametrize("fmt", FORMATS)
def test_rows_equal_parse_on_mutated_lines(fmt: str) -> None:
    # compile_rows is the bulk path of report: every line it keeps or rejects,
    # and every value, must be what parse gives (None for a key not logged).
    rows = compile_rows(fmt, ROW_COLUMNS)
    compiled = compile_format(fmt, ROW_COLUMNS)
    rng = random.Random(fmt + "rows")
    lines = [_sample_line(fmt, rng) for _ in range(3000)] + ["", "garbage", LINE + " extra"]
    expected_rows, expected_bad = [], []
    for index, line in enumerate(lines):
        outcome = _outcome(compiled.parse, line)
        if outcome == "malformed":
            expected_bad.append(index)
        else:
            expected_rows.append(tuple(outcome.get(key) for key in ROW_COLUMNS))
    got_rows, got_bad = rows(lines)
    assert got_bad == expected_bad
    assert got_rows == expected_rows
    if fmt in (COMBINED, VHOST_COMBINED):  # samples of the other formats are all malformed
        assert 0 < len(expected_bad) < len(lines) / 2


def test_rows_of_a_format_without_a_split_path() -> None:
    fmt = "%{%e}t %h"
    rows = compile_rows(fmt, ("remote_host", "status"))
    assert rows([" 5 10.0.0.1", "nope"]) == ([("10.0.0.1", None)], [1])

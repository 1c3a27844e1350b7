"""Request rows: the vhost as CONTRACT.md reads it, extra columns, and the same lines as parse."""
from __future__ import annotations

from vhostguard.logs import FormatChoice, parser_for
from vhostguard.logs.rows import BYTES_SENT, request_rows


def _rows(parser, lines, extra=("status",), default=None):  # type: ignore[no-untyped-def]
    return request_rows(parser, extra, default).rows(lines)


def test_the_vhost_comes_from_v_then_V_then_the_host_header_then_the_default() -> None:
    both = parser_for('%v %V "%r" %>s')
    assert _rows(both, ['- b.example "GET / HTTP/1.1" 200'])[0] == [("b.example", "GET", "/", 200)]
    host = parser_for('%h "%{Host}i" "%r" %>s')
    lines = ['1.2.3.4 "API.Example.com:8443." "GET / HTTP/1.1" 200', '1.2.3.4 "[::1]:80" "GET / HTTP/1.1" 200',
             '1.2.3.4 "-" "GET / HTTP/1.1" 200']
    assert [row[0] for row in _rows(host, lines, default="d")[0]] == ["api.example.com", "[::1]", "d"]
    assert _rows(parser_for("common"), ['h - - [01/Jan/2024:00:00:00 +0000] "GET /a HTTP/1.1" 200 5'],
                 default="only.example")[0][0][0] == "only.example"


def test_bytes_sent_is_O_else_B_and_missing_columns_are_none() -> None:
    line = 'v.example "GET /a?x HTTP/1.1" 200 10 20'
    assert _rows(parser_for('%v "%r" %>s %B %O'), [line], ("status", BYTES_SENT, "duration_us"))[0] == [
        ("v.example", "GET", "/a", 200, 20, None)]
    assert _rows(parser_for('%v "%r" %>s %B %D'), [line], (BYTES_SENT, "duration_us"))[0] == [
        ("v.example", "GET", "/a", 10, 20)]


def test_bad_lines_are_indexes_and_why_says_what_is_wrong() -> None:
    fmt = parser_for('%v "%r" %>s')
    for parser in (fmt, FormatChoice((fmt, parser_for('%V %>s')))):
        rows = request_rows(parser, ("status",))
        got, bad = rows.rows(['a "GET / HTTP/1.1" 200', "", 'a "GET / HTTP/1.1" x', 'b "GET /b HTTP/1.1" 404'])
        assert bad == [1, 2]
        assert [row[:2] for row in got] == [("a", "GET"), ("b", "GET")]
        assert rows.why("") == "empty line"

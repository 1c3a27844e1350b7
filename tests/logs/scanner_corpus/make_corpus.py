"""Writes the scanner corpus next to this file (run once; the files are checked in).

    python tests/logs/scanner_corpus/make_corpus.py

Each file is in FORMAT (bench/report.py's vhost_combined + %D) and holds lines
that must read the same through the compiled scanner and the Python parser:
httpd's escapes, bytes that are not printable ASCII, CRLF and bare CR, NUL,
over-long lines and numbers, truncated lines, and impossible times.
"""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
T = "[21/Jan/2024:15:00:{:02d} +0000]"


def line(second: int, request: str = "GET /v1/users/42 HTTP/1.1", status: str = "200", size: str = "512",
         referer: str = "-", agent: str = "curl/8.5.0", duration: str = "1234", vhost: str = "api.example.com",
         time: str | None = None) -> bytes:
    stamp = time if time is not None else T.format(second % 60)
    text = f'{vhost}:443 10.0.0.{second % 250} - - {stamp} "{request}" {status} {size} "{referer}" "{agent}" {duration}'
    return text.encode("latin-1")


def escapes() -> list[bytes]:
    return [
        line(1, r'GET /search?q=\"exact phrase\" HTTP/1.1'),
        line(2, agent=r'Mozilla/5.0 \"quoted\" \\ back'),
        line(3, r'GET /a\"b/123 HTTP/1.1'),
        line(4, r'GET /p?x=\x20y HTTP/1.1'),
        line(5, r'GET /p?x\x20 HTTP/1.1'),
        line(6, r'GET /p\x20q?x=1 HTTP/1.1'),
        line(7, referer=r'https://a.example/\x41\x42'),
        line(8, r'GET /p?a=\\ HTTP/1.1'),
        line(9, r'\x16\x03\x01'),
        line(10, r'GET /x?\x22 HTTP/1.1\x20'),
        line(11, agent="ends with backslash \\"),
        line(12, r'GET /v1/users/9?q=1 HTTP/1.1\"'),
    ]


def binary() -> list[bytes]:
    return [
        line(1).replace(b"/v1/users/42", b"/v1/\xff\xfe/42"),
        line(2).replace(b"curl", b"\xc3\xa9curl"),
        b"\xef\xbb\xbf" + line(3),
        line(4).replace(b"curl", b"cu\x01rl"),
        line(5) + b"\x7f",
        line(6).replace(b"GET", b"G\x80T"),
        bytes(range(256)),
        line(7).replace(b"api.example.com", b"api.ex\xe2mple.com"),
    ]


def crlf() -> list[bytes]:
    return [line(1) + b"\r", line(2) + b"\r\r", line(3).replace(b"curl", b"cu\rrl"), b"\r", line(4)]


def nul() -> list[bytes]:
    return [line(1).replace(b"curl", b"cu\x00rl"), b"\x00" * 40, line(2) + b"\x00", line(3).replace(b"/42", b"/4\x002")]


def overlong() -> list[bytes]:
    return [
        line(1, size="9" * 40),
        line(2, duration="1" * 19),
        line(3, duration="9" * 13),
        line(4, status="2000000000000"),
        line(5, agent="A" * 70000),
        line(6, request="GET /" + "seg/" * 30000 + " HTTP/1.1"),
        line(7, status="-"),
        line(8, size="-"),
        line(9, duration="-"),
        line(10, status="-17"),
        line(11, size="-5"),
        line(12, duration="-5"),
    ]


def truncated() -> list[bytes]:
    whole = line(1)
    return [whole[:n] for n in (0, 1, 10, 20, 40, 60, 80, 100, len(whole) - 1)] + [line(2), b"", b" ", line(3)[:-6]]


def times() -> list[bytes]:
    cases = ["[21/Jan/2024:15:00:00 +9999]", "[21/Jan/2024:15:00:00 +2400]", "[21/Jan/2024:15:00:00 -2359]",
             "[29/Feb/2023:00:00:00 +0000]", "[29/Feb/2024:00:00:00 +0000]", "[31/Apr/2024:00:00:00 +0000]",
             "[21/Jan/2024:24:00:00 +0000]", "[21/Jan/2024:23:60:00 +0000]", "[21/Jan/2024:23:59:60 +0000]",
             "[21/jan/2024:15:00:00 +0000]", "[21/Jan/0000:15:00:00 +0000]", "[01/Jan/0001:00:30:00 +0100]",
             "[31/Dec/9999:23:59:59 -1400]", "[31/Dec/9999:23:59:59 +0000]", "[01/Jan/1970:00:00:00 +0000]",
             "[31/Dec/1969:23:59:59 +0000]", "[01/Jan/1000:00:00:00 +0000]", "[15/Mar/2024:01:02:03 +0530]",
             "-", "[21/Jan/2024:15:00:00+0000]", "[21/Jan/2024:15:00:00 +00000]", "[21/Jan/24:15:00:00 +0000]"]
    return [line(i, time=t) for i, t in enumerate(cases)]


def requests() -> list[bytes]:
    cases = ["-", "", "GET", "GET /", "GET  HTTP/1.1", " /x HTTP/1.1", "GET /a b HTTP/1.1", "FOO /x HTTP/1.1",
             "GET http://h.example/v1/9?x HTTP/1.1", "GET http://h.example HTTP/1.1", "GET /?q HTTP/1.1",
             "GET ?q HTTP/1.1", "- /x HTTP/1.1", "GET /x?y?z HTTP/1.1", "GET /a@b.example.com/ HTTP/1.1",
             "GET /u/me%40example.com HTTP/1.1", "GET /d/2024-01-21T15:00:00Z HTTP/1.1", "GET /f/123.json HTTP/1.1",
             "PROPFIND /dav/9f1c2e3d4b HTTP/1.1", "GET /t/eyJhbGciOiJIUzI1.eyJzdWIiOiIx.SflKxwRJSM HTTP/1.1"]
    return [line(i, request=r, vhost="-" if i % 5 == 0 else "" if i % 7 == 0 else "www.example.com") for i, r in enumerate(cases)]


def main() -> None:
    for name, lines in (("escapes", escapes()), ("binary", binary()), ("crlf", crlf()), ("nul", nul()),
                        ("overlong", overlong()), ("truncated", truncated()), ("times", times()),
                        ("requests", requests())):
        (HERE / f"{name}.log").write_bytes(b"\n".join(lines) + b"\n")


if __name__ == "__main__":
    main()

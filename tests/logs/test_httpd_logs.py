"""Logs written by the real apache2, read back: every field equals what was sent.

One sandboxed apache2 serves a fixed set of raw requests (quotes,
backslashes, UTF-8, invalid bytes and control characters in the URL and the
User-Agent; keep-alive; a slow request; an internal error status) and
writes them through several LogFormats at once. The formats are taken from
the config itself (``find_logs``), so discovery is checked against httpd too.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.logs.sandbox import Sent, keepalive_pair, request, running, wait_for_lines
from tests.support.apache import base_config, free_port, needs_apache
from vhostguard.config import LoadOptions, load
from vhostguard.logs import LogFormat, ReadStats, find_logs, parser_for, read_log
from vhostguard.logs.format import compile_rows

pytestmark = [pytest.mark.httpd, needs_apache]

TZ = "IST-5:30"  # POSIX TZ for UTC+05:30: a non-UTC, non-whole-hour offset, no tzdata needed
OFFSET = timezone(timedelta(hours=5, minutes=30))
MODULES = ("mpm_event", "authz_core", "headers", "env", "setenvif", "dir", "reflector")

UA_NASTY = b'ua "quoted" \\ back\\\\slash \xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xff\xfe \x01\x1b\x7f\ttab end'
URL_NASTY = b'/dir/caf\xc3\xa9?q=%22x%22&raw="y"\\z&u=\xe6\x97\xa5'

CONF = r'''
Listen 127.0.0.1:{port}
ServerName main.test
# Strict (the default) answers 400 to control bytes in a header before logging it;
# Unsafe lets them reach the log, which is what this test is about.
HttpProtocolOptions Unsafe
DocumentRoot "{root}/htdocs"
<Directory "{root}/htdocs">
    Require all granted
</Directory>
<Location /echo>
    SetHandler reflector
</Location>
Header always set X-Resp "a \"q\" b"
SetEnv FOO "bar baz"
SetEnvIf Request_URI "^/skip" dontlog

LogFormat "%h %l %u %t \"%r\" %>s %b \"%{{Referer}}i\" \"%{{User-agent}}i\"" combined
LogFormat "%v:%p %h %l %u %t \"%r\" %>s %O \"%{{Referer}}i\" \"%{{User-Agent}}i\"" vhost_combined
LogFormat "%D %{{local}}p %{{Host}}i %q %{{X-Req}}i \"%{{User-agent}}i\" %{{%Y-%m-%dT%H:%M:%S}}t" custom
LogFormat "%T %{{ms}}T %>s \"%r\"" timing
LogFormat "%{{us}}T %a %A %p %{{remote}}p %P %{{tid}}P %{{hextid}}P %X %k %L %v %V %m %U%q %H %s %<s %B %O %I %S \"%f\" %R \"%{{X-Resp}}o\" \"%{{FOO}}e\" \"%{{sess}}C\" %{{sec}}t %{{msec}}t %{{usec}}t %{{msec_frac}}t %{{usec_frac}}t %{{end:%H}}t %{{c}}a \"%400,501{{User-agent}}i\" \"%!200{{Referer}}i\"" all
LogFormat "[%{{%d/%b/%Y %T}}t.%{{msec_frac}}t %{{%z}}t] %>s \"%r\"" pieces

GlobalLog logs/combined.log combined
GlobalLog logs/custom.log custom
GlobalLog logs/timing.log timing
GlobalLog logs/all.log all
GlobalLog logs/pieces.log pieces
GlobalLog logs/cond.log combined env=!dontlog
GlobalLog "|/bin/cat" combined

<VirtualHost *:{port}>
    ServerName default.test
</VirtualHost>
<VirtualHost *:{port}>
    ServerName a.test
    CustomLog logs/a.log vhost_combined
</VirtualHost>
'''


@dataclass
class Run:
    root: Path
    port: int
    sent: list[Sent]
    logs: dict[str, Path]
    formats: dict[str, LogFormat]


def _requests(port: int) -> list[Sent]:
    host = f"default.test:{port}".encode()
    sent = [
        request(port, b"GET / HTTP/1.1", [(b"Host", host), (b"User-Agent", b"curl/8.5.0"), (b"X-Req", b"r1"),
                                           (b"Referer", b"http://ref.example/p?a=1")]),
        request(port, b"GET " + URL_NASTY + b" HTTP/1.1",
                [(b"Host", host), (b"User-Agent", UA_NASTY), (b"X-Req", b"with space"), (b"Cookie", b"a=1; sess=xyz")]),
        request(port, b'GET /a"b\\c\x01d HTTP/1.1', [(b"Host", host), (b"User-Agent", b"ctl")]),  # 400: control byte
        request(port, b"GET /index.html HTTP/1.0", [(b"User-Agent", b"")]),  # no Host, empty User-Agent
        request(port, b"GET /missing?x HTTP/1.1", [(b"Host", b"a.test"), (b"Referer", b'"quoted" ref')]),
        request(port, b"garbage", []),  # not a request line: 400
        request(port, b"POST /echo HTTP/1.1", [(b"Host", host), (b"Content-Length", b"5"), (b"User-Agent", b"slow")],
                body=b"hello", pause=1.3),
        request(port, b"GET /skip HTTP/1.1", [(b"Host", host)]),
        request(port, b"GET /index.html? HTTP/1.1", [(b"Host", host)]),  # an empty query
    ]
    sent += keepalive_pair(port, b"/index.html", host)
    return sent


@pytest.fixture(scope="module")
def httpd_run() -> Iterator[Run]:
    root = Path(tempfile.mkdtemp(prefix="vhostguard-logs-test-"))
    root.chmod(0o755)  # httpd's workers (not root) must reach the DocumentRoot
    try:
        (root / "htdocs" / "dir").mkdir(parents=True)
        (root / "htdocs").chmod(0o755)
        (root / "htdocs" / "index.html").write_text("hello\n")
        (root / "htdocs" / "index.html").chmod(0o644)
        port = free_port()
        conf = root / "httpd.conf"
        conf.write_text(base_config(root, MODULES) + CONF.format(port=port, root=root))
        env = {"PATH": "/usr/sbin:/usr/bin:/bin", "LANG": "C", "TZ": TZ}
        with running(conf, port, env):
            sent = _requests(port)
            logs = {name: root / "logs" / f"{name}.log" for name in ("combined", "custom", "timing", "all", "pieces", "a")}
            for name in ("combined", "custom", "timing", "all", "pieces"):
                wait_for_lines(logs[name], len(sent))
        yield Run(root, port, sent, logs, _formats_from_config(conf))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _formats_from_config(conf: Path) -> dict[str, LogFormat]:
    tree = load(str(conf), LoadOptions(environ={}, env_file=""))
    assert tree.errors == ()
    layout = find_logs(tree)
    found = {}
    for target in layout.targets:
        assert len(target.formats) == 1, target
        found[Path(target.path).stem] = parser_for(target.formats[0], {})
    return found


def records(run: Run, name: str) -> list[dict[str, Any]]:
    stats = ReadStats()
    out = list(read_log(str(run.logs[name]), run.formats[name], stats=stats, with_position=True))
    assert stats.malformed == 0, stats.samples
    return out


def text(raw: bytes) -> str:
    """What a parsed value must equal: the bytes sent, UTF-8, foreign bytes as \\xhh."""
    return raw.decode("utf-8", "backslashreplace")


def split_target(line: bytes) -> tuple[str | None, str | None]:
    target = line.split(b" ")[1]
    path, sep, query = target.partition(b"?")
    return text(path), (text(query) if sep else None)


def test_discovery_matches_what_httpd_wrote(httpd_run: Run) -> None:
    tree = load(str(httpd_run.root / "httpd.conf"), LoadOptions(environ={}, env_file=""))
    layout = find_logs(tree)
    written = sorted(p.name for p in (httpd_run.root / "logs").glob("*.log") if p.name != "error.log")
    assert sorted(Path(t.path).name for t in layout.targets) == written
    assert any("piped log skipped: |/bin/cat" in note for note in layout.notes)
    cond = next(t for t in layout.targets if t.path.endswith("cond.log"))
    assert cond.conditions == ("env=!dontlog",)
    a_log = next(t for t in layout.targets if t.path.endswith("/a.log"))
    assert a_log.servers == (f"{httpd_run.root}/httpd.conf:{_line_of(httpd_run, 'ServerName a.test') - 1}",)


def _line_of(run: Run, needle: str) -> int:
    lines = (run.root / "httpd.conf").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def test_combined_fields_equal_what_was_sent(httpd_run: Run) -> None:
    got = records(httpd_run, "combined")
    assert len(got) == len(httpd_run.sent)
    for number, (record, sent) in enumerate(zip(got, httpd_run.sent), 1):
        assert record["line"] == number
        assert record["remote_host"] == "127.0.0.1"
        assert record["remote_logname"] is None and record["remote_user"] is None
        assert record["request_line"] == text(sent.request_line)
        assert record["status"] == sent.status
        assert record["bytes"] == sent.body_length
        assert record["headers_in"]["Referer"] == (text(sent.headers["referer"]) if "referer" in sent.headers else None)
        ua = sent.headers.get("user-agent")
        assert record["headers_in"]["User-agent"] == (None if ua is None or (sent.status == 400 and ua == b"ctl") else text(ua))
        moment = datetime.fromisoformat(record["time"])
        assert moment.utcoffset() == OFFSET.utcoffset(None)
        assert sent.started - 1 <= moment.timestamp() <= sent.finished + 1
        if sent.request_line == b"garbage":
            assert (record["method"], record["path"], record["protocol"]) == (None, None, None)
            continue
        method, _, protocol = sent.request_line.decode("latin-1").split(" ")
        assert (record["method"], record["protocol"]) == (method, protocol)
        assert (record["path"], record["query"]) == split_target(sent.request_line)


def test_nasty_user_agent_and_url_round_trip(httpd_run: Run) -> None:
    nasty = records(httpd_run, "combined")[1]
    assert nasty["headers_in"]["User-agent"] == 'ua "quoted" \\ back\\\\slash été 日本 \\xff\\xfe \x01\x1b\x7f\ttab end'
    assert nasty["path"] == "/dir/café"
    assert nasty["query"] == 'q=%22x%22&raw="y"\\z&u=日'
    raw = httpd_run.logs["combined"].read_bytes().splitlines()[1]
    assert raw.isascii()  # httpd escaped every non-ASCII and control byte
    assert b'\\"quoted\\"' in raw and b"\\xc3\\xa9" in raw and b"\\x01" in raw and b"\\t" in raw


def test_control_byte_in_url_is_logged_escaped(httpd_run: Run) -> None:
    record = records(httpd_run, "combined")[2]
    assert record["status"] == 400
    assert record["path"] == '/a"b\\c\x01d'


def test_custom_format_with_duration_port_headers_query_and_strftime(httpd_run: Run) -> None:
    combined = records(httpd_run, "combined")
    for record, sent, full in zip(records(httpd_run, "custom"), httpd_run.sent, combined):
        assert isinstance(record["duration_us"], int) and record["duration_us"] >= 0
        assert record["local_port"] == httpd_run.port
        host = sent.headers.get("host")
        assert record["headers_in"]["Host"] == (text(host) if host is not None and sent.status != 400 else
                                                record["headers_in"]["Host"])
        assert record["query"] == full["query"]
        assert record["headers_in"]["X-Req"] == (text(sent.headers["x-req"]) if "x-req" in sent.headers else None)
        # %{%Y-%m-%dT%H:%M:%S}t is local time without zone: the same clock as %t, no offset
        assert record["time"] == full["time"][:19]
    slow = records(httpd_run, "custom")[6]
    assert slow["duration_us"] >= 1_200_000


def test_seconds_and_milliseconds_durations(httpd_run: Run) -> None:
    got = records(httpd_run, "timing")
    slow = got[6]
    assert slow["request_line"] == "POST /echo HTTP/1.1"
    raw = httpd_run.logs["timing"].read_text().splitlines()[6].split()
    seconds, millis = int(raw[0]), int(raw[1])
    assert seconds >= 1 and millis >= 1200
    assert slow["duration_us"] == millis * 1000  # %{ms}T is finer than %T, so it wins


def test_every_directive_of_the_all_format(httpd_run: Run) -> None:
    got = records(httpd_run, "all")
    combined = records(httpd_run, "combined")
    assert len(got) == len(httpd_run.sent)
    for record, sent, full in zip(got, httpd_run.sent, combined):
        assert record["remote_addr"] == "127.0.0.1" and record["local_addr"] == "127.0.0.1"
        assert record["peer_addr"] == "127.0.0.1"
        assert record["port"] == 80  # %p is the canonical port: ServerName has none
        assert 0 < record["remote_port"] < 65536
        assert record["pid"] > 0 and record["tid"] > 0
        assert record["status"] == record["original_status"] == sent.status
        assert record["bytes"] == sent.body_length
        assert record["bytes_out"] >= record["bytes"] and record["bytes_in"] > 0
        assert record["bytes_total"] == record["bytes_in"] + record["bytes_out"]
        assert record["log_id"] is None
        assert record["headers_out"]["X-Resp"] == 'a "q" b'
        assert record["env"]["FOO"] == ("bar baz" if sent.status != 400 else record["env"]["FOO"])
        assert isinstance(record["duration_us"], int)
        # the time from %{sec}t..%{usec_frac}t is the exact instant of %t
        instant = datetime.fromisoformat(record["time"])
        assert instant.utcoffset() == timedelta(0)
        assert instant.replace(microsecond=0) == datetime.fromisoformat(full["time"])
        # %{400,501}i only on a 400, %{!200}i on anything but a 200
        ua = record["headers_in"]["User-agent"]
        assert ua is None or sent.status in (400, 501)
        assert record["headers_in"]["Referer"] is None or sent.status != 200
        assert record["method"] == full["method"] or sent.status == 400
    vhosts = [r["vhost"] for r in got]
    assert vhosts[0] == "default.test" and vhosts[4] == "a.test"
    assert got[1]["cookies"] == {"sess": "xyz"}
    assert got[1]["path"] == "/dir/café" and got[1]["query"] == combined[1]["query"]
    assert got[1]["filename"] is not None and got[1]["filename"].endswith("/htdocs/dir/café")
    assert got[6]["handler"] == "reflector"
    assert got[4]["headers_in"]["Referer"] == '"quoted" ref'  # a 404: %!200{Referer}i logs it
    assert got[2]["headers_in"]["User-agent"] is None  # a 400, but httpd stopped before reading headers
    first, second = got[-2], got[-1]
    assert first["remote_port"] == second["remote_port"]  # one connection
    assert (first["conn_status"], second["conn_status"]) == ("+", "-")
    assert isinstance(first["keepalive"], int) and isinstance(second["keepalive"], int)
    assert first["pid"] == second["pid"]


def test_hextid_and_tid_agree(httpd_run: Run) -> None:
    raw = httpd_run.logs["all"].read_text().splitlines()[0].split()
    assert int(raw[6]) == int(raw[7], 16)  # %{tid}P and %{hextid}P: the same thread


def test_time_from_several_pieces_with_zone(httpd_run: Run) -> None:
    combined = records(httpd_run, "combined")
    for record, full in zip(records(httpd_run, "pieces"), combined):
        moment = datetime.fromisoformat(record["time"])
        assert moment.utcoffset() == OFFSET.utcoffset(None)
        assert moment.replace(microsecond=0) == datetime.fromisoformat(full["time"])
        assert len(record["time"]) == len("2026-01-01T00:00:00.000+05:30")


def test_vhost_log_and_empty_query(httpd_run: Run) -> None:
    a_records = records(httpd_run, "a")
    assert [(r["vhost"], r["path"], r["query"]) for r in a_records] == [("a.test", "/missing", "x")]
    empty = records(httpd_run, "combined")[8]
    assert (empty["path"], empty["query"]) == ("/index.html", "")
    custom = records(httpd_run, "custom")[8]
    assert custom["query"] == ""  # %q logged "?"
    assert records(httpd_run, "custom")[0]["query"] is None  # %q logged nothing


def test_conditional_log_skips_what_env_excludes(httpd_run: Run) -> None:
    stats = ReadStats()
    cond = list(read_log(str(httpd_run.root / "logs" / "cond.log"), parser_for("combined", {"combined": httpd_run.formats["combined"].format}), stats=stats))
    assert [r["path"] for r in cond] == [r["path"] for r in records(httpd_run, "combined") if r["path"] != "/skip"]


def test_the_split_path_and_the_regex_path_agree_on_real_lines(httpd_run: Run) -> None:
    for name, path in httpd_run.logs.items():
        fmt = httpd_run.formats[name]
        regex_path = fmt.parse_regex
        for line in path.read_text().splitlines():
            assert fmt.parse(line) == regex_path(line), (name, line)



def test_bulk_rows_agree_with_parse_on_real_lines(httpd_run: Run) -> None:
    for name, path in httpd_run.logs.items():
        fmt = httpd_run.formats[name]
        lines = path.read_text().splitlines()
        rows, bad = compile_rows(fmt.format, fmt.keys)(lines)
        assert bad == []
        assert rows == [tuple(fmt.parse(line)[key] for key in fmt.keys) for line in lines], name

"""LogFormat edge cases seen in real configs (issue 15, item 9).

A status-conditional field beside an unconditional copy of the same value;
``%{...%Z}t`` zone names; a format with no ``%`` field at all (``CustomLog x
combined`` without a ``LogFormat ... combined`` logs the word). Each is read
the same by the Python parser (split path, regex path, bulk rows) and the
compiled scanner declines it; the live tests check what apache2 writes.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.logs.sandbox import request as send, running, wait_for_lines
from tests.support.apache import base_config, free_port, needs_apache
from vhostguard.cli.logs import logs
from vhostguard.cli.report import report
from vhostguard.cli.watch import watch
from vhostguard.logs import scanner
from vhostguard.logs.format import compile_format, compile_rows


def _every_path(fmt: str, line: str) -> dict[str, Any]:
    """The record of ``line``, checked to be the same by the split path, the regex path and the rows."""
    compiled = compile_format(fmt)
    record = compiled.parse(line)
    assert compiled.parse_regex(line) == record
    columns = tuple(record)
    rows, bad = compile_rows(fmt, columns)([line])
    assert (rows, bad) == ([tuple(record[c] for c in columns)], [])
    return record


# --- a conditional field beside an unconditional copy -------------------------------------------

REQUEST = {"request_line": "GET /a?b HTTP/1.1", "method": "GET", "path": "/a", "query": "b", "protocol": "HTTP/1.1"}


@pytest.mark.parametrize(("fmt", "line"), [
    ('%h %400r "%r" %>s', '10.0.0.1 - "GET /a?b HTTP/1.1" 200'),        # 200: %400r logs '-'
    ('%h %!200,304r "%r" %>s', '10.0.0.1 - "GET /a?b HTTP/1.1" 200'),   # 200 is excluded: '-'
    ('%h "%r" %400r %>s', '10.0.0.1 "GET /a?b HTTP/1.1" - 200'),
    ('%h "%!200r" "%r" %>s', '10.0.0.1 "-" "GET /a?b HTTP/1.1" 200'),
    ('%h "%!200r" "%404r" %>s', '10.0.0.1 "-" "GET /a?b HTTP/1.1" 404'),  # two conditional copies
])
def test_a_conditional_request_logged_as_dash_takes_the_logged_copy(fmt: str, line: str) -> None:
    record = _every_path(fmt, line)
    assert {key: record[key] for key in REQUEST} == REQUEST


@pytest.mark.parametrize(("fmt", "line", "key", "value"), [
    ('%h "%400{User-agent}i" "%{User-agent}i"', '10.0.0.1 "-" "curl/8"', "headers_in", {"User-agent": "curl/8"}),
    ('%h "%{User-agent}i" "%!200{User-agent}i"', '10.0.0.1 "curl/8" "-"', "headers_in", {"User-agent": "curl/8"}),
    ("%h %400D %D", "10.0.0.1 - 1234", "duration_us", 1234),
    ("%h %400T %D", "10.0.0.1 - 1234", "duration_us", 1234),   # %T outranks nothing when it was not logged
    ("%h %D %!200T", "10.0.0.1 1234 -", "duration_us", 1234),
    ("%h %400O %O", "10.0.0.1 - 512", "bytes_out", 512),
    ("%h %!200b", "10.0.0.1 -", "bytes", None),               # not logged, not CLF's zero
    ("%h %400b %b", "10.0.0.1 - -", "bytes", 0),               # the unconditional %b: CLF's zero
])
def test_a_conditional_field_logged_as_dash_gives_way(fmt: str, line: str, key: str, value: object) -> None:
    assert _every_path(fmt, line)[key] == value


def test_a_real_dash_in_the_unconditional_copy_stays_none() -> None:
    record = _every_path('%h %400u %u "%r"', '10.0.0.1 - - "GET / HTTP/1.1"')
    assert record["remote_user"] is None


# --- %Z ----------------------------------------------------------------------------------------

ZONED = "%{%d/%b/%Y:%H:%M:%S %Z}t"


@pytest.mark.parametrize(("zone", "offset"), [
    ("UTC", "+00:00"), ("GMT", "+00:00"), ("EST", "-05:00"), ("EDT", "-04:00"), ("CST", "-06:00"),
    ("CDT", "-05:00"), ("MST", "-07:00"), ("MDT", "-06:00"), ("PST", "-08:00"), ("PDT", "-07:00"),
])
def test_zone_names_the_peers_read_give_an_aware_time(zone: str, offset: str) -> None:
    # As email.utils.parsedate_tz (and GoAccess) read them.
    assert _every_path(ZONED, f"10/Oct/2020:13:55:36 {zone}")["time"] == f"2020-10-10T13:55:36{offset}"


@pytest.mark.parametrize("zone", ["CEST", "IST", "AEST", "", "+03"])
def test_other_zone_names_stay_without_offset(zone: str) -> None:
    # IST is India, Ireland or Israel: no offset is better than a wrong one.
    assert _every_path(ZONED, f"10/Oct/2020:13:55:36 {zone}")["time"] == "2020-10-10T13:55:36"


def test_a_numeric_zone_wins_over_the_name() -> None:
    record = _every_path("%{%d/%b/%Y:%H:%M:%S %z %Z}t", "10/Oct/2020:13:55:36 +0100 EST")
    assert record["time"] == "2020-10-10T13:55:36+01:00"


# --- the compiled scanner declines all of these -------------------------------------------------

@pytest.mark.parametrize("fmt", [
    '%v %400r "%r" %>s %t', '%v %t "%r" %!200,304r %>s', '%v %t "%r" %>s %400D %D',
    '%v %{%d/%b/%Y:%H:%M:%S %Z}t "%r" %>s', "combined", "vlog",
])
def test_the_scanner_declines_them(fmt: str) -> None:
    assert scanner.scan_spec(fmt, {}) is None


# --- no field at all: logs -f, report -f, watch -f --------------------------------------------

def _word_config(tmp_path: Path) -> Path:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "word.log").write_text("combined\ncombined\nsomething else\n")
    conf = tmp_path / "httpd.conf"
    conf.write_text(f'ServerRoot "{tmp_path}"\nListen 127.0.0.1:8080\nCustomLog logs/word.log combined\n')
    return conf


def test_logs_reads_a_config_whose_format_is_a_word(tmp_path: Path) -> None:
    conf = _word_config(tmp_path)
    result = CliRunner().invoke(logs, ["-f", str(conf), "--env-file", "", "--jsonl"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2
    assert "1 malformed" in result.stderr and "Traceback" not in result.stderr


def test_report_reads_a_config_whose_format_is_a_word(tmp_path: Path) -> None:
    conf = _word_config(tmp_path)
    result = CliRunner().invoke(report, ["-f", str(conf), "--env-file", "", "--json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["lines"], document["malformed"]) == (3, 1)


def test_watch_reads_a_config_whose_format_is_a_word(tmp_path: Path) -> None:
    conf = _word_config(tmp_path)
    result = CliRunner().invoke(watch, ["-f", str(conf), "--env-file", "", "--once", "--from-start", "-q",
                                        "--metrics-addr", "off", "--state", str(tmp_path / "state"), "-j", "1"])
    assert result.exit_code == 0, result.stderr
    assert "3 lines, 1 malformed" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


# --- what apache2 writes ------------------------------------------------------------------------

LIVE_CONF = r'''
Listen 127.0.0.1:{port}
ServerName main.test
DocumentRoot "{root}/htdocs"
<Directory "{root}/htdocs">
    Require all granted
</Directory>
LogFormat "%t" clf
LogFormat "%{{%d/%b/%Y:%H:%M:%S %Z}}t" zoned
LogFormat "%400r \"%r\" %!200,304r %>s \"%!200{{User-agent}}i\" \"%{{User-agent}}i\"" cond
GlobalLog logs/clf.log clf
GlobalLog logs/zoned.log zoned
GlobalLog logs/cond.log cond
# no LogFormat defines this nickname: httpd logs the word
GlobalLog logs/word.log combined
'''


def _records(path: Path, fmt: str) -> list[dict[str, Any]]:
    compiled = compile_format(fmt)
    return [compiled.parse(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module", params=["EST5EDT", "UTC0", "PST8PDT"])
def live_logs(request: pytest.FixtureRequest) -> Iterator[tuple[str, Path, list[tuple[bytes, int]]]]:
    root = Path(tempfile.mkdtemp(prefix="vhostguard-format-edges-"))
    root.chmod(0o755)
    try:
        (root / "htdocs").mkdir()
        (root / "htdocs").chmod(0o755)
        (root / "htdocs" / "index.html").write_text("hello\n")
        (root / "htdocs" / "index.html").chmod(0o644)
        port = free_port()
        conf = root / "httpd.conf"
        conf.write_text(base_config(root, ("mpm_event", "authz_core", "dir")) + LIVE_CONF.format(port=port, root=root))
        sent = []
        with running(conf, port, {"PATH": "/usr/sbin:/usr/bin:/bin", "LANG": "C", "TZ": request.param}):
            for line in (b"GET /index.html HTTP/1.1", b"GET /missing?q HTTP/1.1", b"GET /index.html?x HTTP/1.0"):
                answer = send(port, line, [(b"Host", b"main.test"), (b"User-Agent", b"curl/8.5.0")])
                sent.append((line, answer.status))
            for name in ("clf", "zoned", "cond", "word"):
                wait_for_lines(root / "logs" / f"{name}.log", len(sent))
        yield request.param, root / "logs", sent
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.httpd
@needs_apache
def test_live_zone_names_read_as_the_clf_time(live_logs: tuple[str, Path, list[tuple[bytes, int]]]) -> None:
    _, folder, sent = live_logs
    clf = [datetime.fromisoformat(r["time"]) for r in _records(folder / "clf.log", "%t")]
    zoned = [datetime.fromisoformat(r["time"]) for r in _records(folder / "zoned.log", ZONED)]
    assert len(zoned) == len(sent)
    assert all(moment.tzinfo is not None for moment in zoned)
    assert zoned == clf  # the same instants (a second may tick between two logs: httpd takes one request time)
    assert [m.utcoffset() for m in zoned] == [m.utcoffset() for m in clf]


@pytest.mark.httpd
@needs_apache
def test_live_conditional_copies_give_the_logged_value(live_logs: tuple[str, Path, list[tuple[bytes, int]]]) -> None:
    _, folder, sent = live_logs
    fmt = '%400r "%r" %!200,304r %>s "%!200{User-agent}i" "%{User-agent}i"'
    got = _records(folder / "cond.log", fmt)
    assert [(r["request_line"], r["status"], r["headers_in"]["User-agent"]) for r in got] == [
        (line.decode(), status, "curl/8.5.0") for line, status in sent]
    assert {status for _, status in sent} == {200, 404}


@pytest.mark.httpd
@needs_apache
def test_live_a_nickname_nobody_defined_is_logged_as_the_word(
        live_logs: tuple[str, Path, list[tuple[bytes, int]]]) -> None:
    _, folder, sent = live_logs
    assert (folder / "word.log").read_text().splitlines() == ["combined"] * len(sent)

"""The compiled scanner against the Python parser and templater it must agree with.

Differential: endpoint templates (every automatic rule), each line the scanner
accepts (it must be one the Python parser accepts, with the same values), and
whole reports (identical with the scanner on and off) over generated,
mutated and checked-in corpus lines (tests/logs/scanner_corpus/).
"""
from __future__ import annotations

import dataclasses
import json
import random
import string
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from vhostguard.cli import main
from vhostguard.logs import scanner
from vhostguard.logs.endpoints import SegmentTemplates, auto_template
from vhostguard.logs.format import LineError, compile_format
from vhostguard.analytics.aggregate import AggregateOptions, Analysis, LogSource, analyse

FORMAT = '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D'
CORPUS = Path(__file__).parent / "scanner_corpus"
needs_c = pytest.mark.skipif(not scanner.compiled(), reason="the compiled scanner is not built here")
SEED = 20261204


# --- endpoint templates -------------------------------------------------------------------

def _segment(rng: random.Random) -> str:
    hexd = "0123456789abcdefABCDEF"
    b64url = string.ascii_letters + string.digits + "_-"
    b64 = string.ascii_letters + string.digits + "+"
    pick = rng.randrange(16)
    if pick == 0:
        return str(rng.randrange(10 ** rng.randrange(1, 12)))
    if pick == 1:
        parts = [8, 4, 4, 4, 12]
        return "-".join("".join(rng.choice(hexd) for _ in range(n)) for n in parts)
    if pick == 2:
        return "".join(rng.choice(hexd if rng.random() < 0.9 else "abcdef") for _ in range(rng.randrange(5, 42)))
    if pick == 3:
        return "".join(rng.choice(b64url) for _ in range(rng.randrange(12, 30))) + "=" * rng.randrange(4)
    if pick == 4:
        return "".join(rng.choice(b64) for _ in range(rng.randrange(17, 30))) + "=" * rng.randrange(3)
    if pick == 5:
        return ".".join("".join(rng.choice(b64url) for _ in range(rng.randrange(8, 14))) for _ in range(rng.randrange(2, 5)))
    if pick == 6:
        local = "".join(rng.choice(string.ascii_lowercase + ".%4@0") for _ in range(rng.randrange(0, 6)))
        sep = rng.choice(["@", "%40", "@@", ""])
        domain = "".join(rng.choice(string.ascii_lowercase + ".-") for _ in range(rng.randrange(0, 8)))
        return local + sep + domain + rng.choice([".com", ".c", ".c0m", "", ".co.uk"])
    if pick == 7:
        date = f"{rng.randrange(10000):04d}-{rng.randrange(100):02d}-{rng.randrange(100):02d}"
        tail = rng.choice(["", "T15:00:00", " 15:00", "T15:00:00Z", "T15:00:00.5+01:00", "T", "T1-", "Zx", "T12:00Z1"])
        return date + tail
    if pick == 8:
        return str(rng.randrange(1000)) + "." + rng.choice(["json", "xml", "tar.gz", "", "toolong", "j-s"])
    if pick == 9:
        return rng.choice(["v1", "users", "orders", "", "img", "a.b", "x:y", "%40", "@", "="])
    pool = string.ascii_letters + string.digits + "._-%@:=+~!$&'()*,;"
    return "".join(rng.choice(pool) for _ in range(rng.randrange(0, 24)))


def _path(rng: random.Random) -> str:
    path = "/" + "/".join(_segment(rng) for _ in range(rng.randrange(1, 6)))
    if rng.random() < 0.1:
        path = rng.choice(["http://h.example", "https://a:b@h.example:8080", "x://", "http://h"]) + path
    if rng.random() < 0.05:
        path = path.lstrip("/")
    return path


@needs_c
def test_templates_are_the_python_rules_on_generated_paths() -> None:
    rng = random.Random(SEED)
    segments = SegmentTemplates()
    for _ in range(20000):
        path = _path(rng)
        assert scanner.template_path(path) == auto_template(path) == segments(path), path


@needs_c
@pytest.mark.parametrize("path", [
    "/v1/users/123", "/v1/orders/5df27b67-7536-8bd1-9a88-6403c768d29b", "/9f1c2e3d", "/abcdefab", "/deadbeef1",
    "/aaaaaaaaaaaaaaa1", "/aaaaaaaaaaaaaaa1b", "/1111111111111111", "/abcdefghijklmnop1==", "/abcdefghijklmnop1===",
    "/abcdefghijklmnopqrs1+", "/abcdefghij.klmnopqrst.uvwxyz0123", "/u/a@b.co", "/u/a%40b.co", "/u/%40b.co",
    "/u/a@b.c", "/u/a@@b.co", "/d/2024-01-21", "/d/2024-01-21T10:00:00Z", "/d/2024-01-21 10:00", "/f/123.json",
    "/f/123.tar.gz", "/f/.json", "http://h.example/v1/9", "http://h.example", "", "/", "//", "/a//1/",
])
def test_templates_of_each_rule(path: str) -> None:
    assert scanner.template_path(path) == auto_template(path)


# --- each line -------------------------------------------------------------------------------

INTERESTING = [b'"', b"\\", b" ", b"\r", b"\x00", b"\xff", b"\xc3\xa9", b"-", b"[", b"]", b":", b"+", b"?", b"/",
               b"9", b"0", b"x", b"\\x41", b'\\"', b"\\\\", b"\t", b"%40", b"@"]


def _good_line(rng: random.Random, second: int) -> bytes:
    month = rng.choice(["Jan", "Feb", "Dec", "Jun"])
    day = rng.choice(["01", "28", "29", "30", "31"])
    zone = rng.choice(["+0000", "-0700", "+0530", "+2359", "-1200"])
    time = f"[{day}/{month}/{rng.choice(['2024', '2023', '1999'])}:{second // 3600 % 24:02d}:{second // 60 % 60:02d}:{second % 60:02d} {zone}]"
    request = rng.choice(["GET", "POST", "HEAD", "FOO", "-"]) + " " + _path(rng) + rng.choice(["", "?a=1", "?q=\\\"x\\\""]) \
        + rng.choice([" HTTP/1.1", "", " HTTP/1.0"])
    status = rng.choice(["200", "404", "503", "-", "99", "600", "502"])
    vhost = rng.choice(["api.example.com", "-", "", "www.example.com"])
    agent = rng.choice(["curl/8", "Mozilla \\\"x\\\"", "-", ""])
    text = (f'{vhost}:443 10.0.0.1 - - {time} "{request}" {status} {rng.choice(["0", "512", "-"])} "-" "{agent}" '
            f'{rng.choice(["0", "1", "1234", "-", "999999999999"])}')
    return text.encode("ascii", "backslashreplace")


def _mutate(rng: random.Random, line: bytes) -> bytes:
    data = bytearray(line)
    for _ in range(rng.randrange(1, 4)):
        at = rng.randrange(len(data) + 1)
        how = rng.randrange(5)
        if how == 0:
            data[at:at] = rng.choice(INTERESTING)
        elif how == 1 and data:
            del data[at:at + rng.randrange(1, 4)]
        elif how == 2 and at < len(data):
            data[at:at + 1] = rng.choice(INTERESTING)
        elif how == 3:
            data = data[:at]
        else:
            data[at:at] = bytes([rng.randrange(256)])
    return bytes(data).replace(b"\n", b"")


def _python_values(parse: object, raw: bytes) -> tuple[object, ...] | None:
    text = raw.decode("utf-8", "backslashreplace")
    text = text[:-1] if text.endswith("\r") else text
    try:
        record = parse(text)  # type: ignore[operator]
    except LineError:
        return None
    status = record.get("status")
    group = status // 100 if isinstance(status, int) and 100 <= status <= 599 else 0
    epoch = int(datetime.fromisoformat(record["time"]).timestamp())
    return (record.get("vhost") or "-", record.get("method"), auto_template(record.get("path")), group,
            record.get("bytes_out") or 0, record.get("duration_us"), epoch)


def _scanner_values(group: scanner.GroupSums) -> tuple[object, ...]:
    return (group.vhost.decode() or "-", None if group.method is None else group.method.decode(),
            group.template.decode(), group.status.index(1), group.bytes,
            group.duration_sum if group.durations else None, group.first)


@needs_c
def test_each_line_the_scanner_takes_the_python_parser_takes_alike() -> None:
    """Differential fuzz (bounded): generated lines and their mutations, one at a time."""
    rng = random.Random(SEED)
    spec = scanner.scan_spec(FORMAT)
    assert spec is not None
    parse = compile_format(FORMAT).parse
    taken = deferred = 0
    for number in range(6000):
        line = _good_line(rng, number)
        if number % 3:
            line = _mutate(rng, line)
        result = scanner.scan(spec, line + b"\n", 50.0, 2.88)
        assert result.lines == 1
        expected = _python_values(parse, line)
        if result.deferred:
            assert result.deferred == ((1, line),)
            deferred += 1
            continue
        taken += 1
        assert expected is not None, f"the scanner took a line Python refuses: {line!r}"
        assert _scanner_values(result.groups[0]) == expected, line
    assert taken > 2000 and deferred > 1000  # both sides of the rule were exercised


# --- whole reports ---------------------------------------------------------------------------------

def _both(paths: list[Path], monkeypatch: pytest.MonkeyPatch, fmt: str = FORMAT, **options: object) -> tuple[Analysis, Analysis]:
    sources = [LogSource(str(p), (fmt,)) for p in paths]
    monkeypatch.delenv(scanner.ENGINE_VARIABLE, raising=False)
    fast = analyse(sources, AggregateOptions(**options))  # type: ignore[arg-type]
    monkeypatch.setenv(scanner.ENGINE_VARIABLE, "python")
    slow = analyse(sources, AggregateOptions(workers=1))
    monkeypatch.delenv(scanner.ENGINE_VARIABLE)
    for analysis in (fast, slow):
        assert analysis.lines == analysis.valid + analysis.malformed
    return fast, slow


def _same(fast: Analysis, slow: Analysis) -> None:
    assert slow.engine == "python"
    assert dataclasses.replace(fast, engine="python") == slow


@needs_c
@pytest.mark.parametrize("name", sorted(p.stem for p in CORPUS.glob("*.log")))
def test_corpus_reports_the_same_through_both_engines(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = _both([CORPUS / f"{name}.log"], monkeypatch)
    assert fast.engine == "c"
    _same(fast, slow)


@needs_c
def test_generated_and_mutated_log_reports_the_same_split_on_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(SEED + 1)
    lines = [_good_line(rng, n) for n in range(4000)]
    lines = [_mutate(rng, line) if n % 10 == 0 else line for n, line in enumerate(lines)]
    log = tmp_path / "access.log"
    log.write_bytes(b"\n".join(lines) + b"\n")
    # many small blocks on two threads, tight caps (first seen, first kept, across blocks and Python's lines)
    fast, slow = _both([log], monkeypatch, scan_chunk_bytes=16384, workers=2)
    _same(fast, slow)
    assert fast.malformed > 0 and fast.valid > 3000
    capped = dict(max_per_vhost=5, max_vhosts=2)
    sources = [LogSource(str(log), (FORMAT,))]
    fast = analyse(sources, AggregateOptions(scan_chunk_bytes=16384, workers=2, **capped))  # type: ignore[arg-type]
    monkeypatch.setenv(scanner.ENGINE_VARIABLE, "python")
    slow = analyse(sources, AggregateOptions(workers=1, **capped))  # type: ignore[arg-type]
    _same(fast, slow)


# --- formats the scanner declines ----------------------------------------------------------------

@pytest.mark.parametrize("fmt", [
    '%v %{%d/%b/%Y:%T %z}t "%r" %>s',  # another time form
    '%v %t "%r" %m %U %>s',             # explicit request parts
    '%v %t "%r" %>s %400,501{User-agent}i',  # a status condition
    '%v %V %t "%r" %>s',                # two vhosts
    '%v %t "%r" %>s %D %T',             # two durations
    '%v %t %r %>s',                     # the request not between quotes
    '%h %t "%r" %>s "%{Host}i"',        # the vhost from the Host header
    '%v %t "%r" %>s%O',                 # two fields with no literal between them
    '%v "%t" "%r" %>s',                 # the time between quotes
    "combined literal only",            # no field at all
])
def test_formats_the_scanner_declines(fmt: str) -> None:
    assert scanner.scan_spec(fmt) is None


@pytest.mark.parametrize("fmt", ["vhost_combined", "common", "combined", FORMAT, '%V %t "%r" %s %b %{ms}T'])
def test_formats_the_scanner_reads(fmt: str) -> None:
    assert scanner.scan_spec(fmt) is not None


@needs_c
def test_a_declined_format_is_read_by_python_with_the_same_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fmt = '%v %{%d/%b/%Y:%T %z}t "%r" %>s'
    log = tmp_path / "access.log"
    log.write_text('a.example 21/Jan/2024:15:00:00 +0000 "GET /x/1 HTTP/1.1" 200\nbad\n')
    fast, slow = _both([log], monkeypatch, fmt)
    assert (fast.engine, fast.lines, fast.malformed) == ("python", 2, 1)
    assert fast == slow


# --- the two crashes of issue 19, on both engines -----------------------------------------------

@pytest.mark.parametrize("engine", ["c", "python"])
def test_a_time_offset_of_plus_9999_is_a_malformed_line(engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if engine == "c" and not scanner.compiled():
        pytest.skip("the compiled scanner is not built here")
    if engine == "python":
        monkeypatch.setenv(scanner.ENGINE_VARIABLE, "python")
    log = tmp_path / "access.log"
    good = 'a.example:443 10.0.0.1 - - [21/Jan/2024:15:00:00 +0000] "GET /x HTTP/1.1" 200 5 "-" "-" 10'
    log.write_text(good + "\n" + good.replace("+0000", "+9999") + "\n")
    result = CliRunner().invoke(main, ["report", str(log), "--log-format", FORMAT, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["engine"], doc["lines"], doc["malformed"]) == (engine, 2, 1)


@pytest.mark.parametrize("engine", ["c", "python"])
@pytest.mark.parametrize("command", [["report", "--json"], ["logs"]])
def test_a_customlog_nickname_without_logformat_logs_the_word(engine: str, command: list[str], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # No LogFormat defines "combined": httpd takes the word as the format and logs it literally.
    if engine == "c" and not scanner.compiled():
        pytest.skip("the compiled scanner is not built here")
    if engine == "python":
        monkeypatch.setenv(scanner.ENGINE_VARIABLE, "python")
    (tmp_path / "access.log").write_text("combined\ncombined\n")
    conf = tmp_path / "httpd.conf"
    conf.write_text(f"ServerRoot {tmp_path}\nListen 127.0.0.1:8999\nErrorLog {tmp_path}/error.log\n"
                    f"CustomLog {tmp_path}/access.log combined\n")
    result = CliRunner().invoke(main, [command[0], "-f", str(conf), *command[1:]])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    if command[0] == "report":
        doc = json.loads(result.stdout)
        assert (doc["engine"], doc["lines"], doc["malformed"]) == ("python", 2, 0)  # the scanner declines it


# --- which engine ran ---------------------------------------------------------------------------------

def test_version_names_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(scanner.ENGINE_VARIABLE, raising=False)
    shown = CliRunner().invoke(main, ["--version"]).output
    assert f"log engine: {'c' if scanner.compiled() else 'python'}" in shown
    monkeypatch.setenv(scanner.ENGINE_VARIABLE, "python")
    assert "log engine: python" in CliRunner().invoke(main, ["--version"]).output

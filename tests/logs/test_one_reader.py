"""Every command reads a log's lines alike: ``logs``, ``report`` (both engines), ``diff``, ``watch``
(one process and two) and deploy's verification count the same lines and the same malformed ones.

httpd's view of a line: it ends at ``\\n``; httpd on Windows ends it with ``\\r\\n`` (APR_EOL_STR),
so the ``\\r`` right before the newline is not data; any other ``\\r`` is part of the field it is in
(httpd escapes the CR of a request as ``\\r``, so a raw one in a field is only ever seen in logs
written by something else, and the field keeps it).
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from vhostguard.cli import main
from vhostguard.logs import EndpointTemplater, LogCursor, decode_lines, iter_lines, parser_for
from vhostguard.logs import ReadStats, line_text

INCIDENT = Path(__file__).resolve().parents[2] / "examples" / "incident"
LINE = '127.0.0.1 - - [10/Oct/2024:13:55:{s:02d} +0000] "GET /{path} HTTP/1.1" {status} 12 "-" "{agent}"'

# name -> (bytes of the log, (lines, malformed) in httpd's view)
CASES: dict[str, tuple[bytes, tuple[int, int]]] = {
    "crlf": ((LINE.format(s=1, path="a", status=200, agent="curl/8") + "\r\n"
              + LINE.format(s=2, path="b", status=500, agent="curl/8") + "\r\n").encode(), (2, 0)),
    "cr-before-crlf": ((LINE.format(s=1, path="a", status=200, agent="curl/8") + "\r\r\n"  # one CR left after the quote
                        + LINE.format(s=2, path="b", status=500, agent="curl/8") + "\r\n").encode(), (2, 1)),
    "cr-inside-fields": ((LINE.format(s=1, path="a", status=200, agent="cu\rrl/8") + "\n"
                          + LINE.format(s=2, path="b\rc", status=500, agent="curl/8") + "\n").encode(), (2, 0)),
    "crlf-last-line-without-newline": ((LINE.format(s=1, path="a", status=200, agent="curl/8") + "\r\n"
                                        + LINE.format(s=2, path="b", status=500, agent="curl/8") + "\r").encode(), (2, 0)),
    "cr-ending-a-number": ((b'127.0.0.1 - - [10/Oct/2024:13:55:01 +0000] "GET /a HTTP/1.1" 200 12\r\r\n'
                            b'127.0.0.1 - - [10/Oct/2024:13:55:02 +0000] "GET /a HTTP/1.1" 200 12\r\n'), (2, 1)),
}
FORMATS = {"cr-ending-a-number": "common"}


def _invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def _counted(text: str) -> tuple[int, int]:
    found = re.search(r"(\d+) lines?, (\d+) malformed", text)
    assert found is not None, text
    return int(found.group(1)), int(found.group(2))


def read_by_logs(log: Path, fmt: str, tmp: Path) -> tuple[int, int]:
    code, _, err = _invoke("logs", str(log), "--log-format", fmt, "--jsonl")
    assert code in (0, 1), err
    return _counted(err)


def _report(engine: str) -> Callable[[Path, str, Path], tuple[int, int]]:
    def read_by_report(log: Path, fmt: str, tmp: Path) -> tuple[int, int]:
        code, out, err = _invoke("report", str(log), "--log-format", fmt, "--json", env={"VHOSTGUARD_ENGINE": engine})
        assert code == 0, err
        data = json.loads(out)
        assert data["engine"] == engine
        return data["lines"], data["malformed"]
    return read_by_report


def read_by_diff(log: Path, fmt: str, tmp: Path) -> tuple[int, int]:
    before, after = str(INCIDENT / "before/apache2.conf"), str(INCIDENT / "after/apache2.conf")
    code, out, err = _invoke("diff", before, after, "--requests", str(log), "--log-format", fmt,
                             "--host", "www.example.com", "--json")
    assert code in (0, 1), err
    replayed = json.loads(out)["requests"]
    bad = re.search(r"(\d+) of (\d+) lines? malformed", err)
    return (int(bad.group(2)), int(bad.group(1))) if bad else (replayed, 0)


def _watch(jobs: int) -> Callable[[Path, str, Path], tuple[int, int]]:
    def read_by_watch(log: Path, fmt: str, tmp: Path) -> tuple[int, int]:
        code, out, err = _invoke("watch", str(log), "--log-format", fmt, "--from-start", "--once", "-q",
                                 "--state", str(tmp / f"state{jobs}"), "--metrics-addr", "off", "-j", str(jobs))
        assert code == 0, err
        return _counted(out + err)
    return read_by_watch


def read_by_verify(log: Path, fmt: str, tmp: Path) -> tuple[int, int]:
    from vhostguard.deploy.verify import _AccessLog, _Reader
    from vhostguard.monitor import Labeler

    reader = _Reader(_AccessLog(str(log), parser_for(fmt), None, False), None, Labeler(EndpointTemplater()))
    reader.read(time.time())
    return reader.lines, reader.malformed


READERS = {
    "logs": read_by_logs,
    "report-c": _report("c"),
    "report-python": _report("python"),
    "diff": read_by_diff,
    "watch-j1": _watch(1),
    "watch-j2": _watch(2),
    "verify": read_by_verify,
}

FOLLOWERS = ("watch-j1", "watch-j2", "verify")  # read a live log: complete lines only


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("case", list(CASES))
def test_every_command_counts_lines_as_httpd_writes_them(case: str, reader: str, tmp_path: Path) -> None:
    data, expected = CASES[case]
    if reader == "report-c":
        from vhostguard.logs.scanner import compiled
        if not compiled():
            pytest.skip("the compiled scanner is not built")
    if reader in FOLLOWERS and not data.endswith(b"\n"):
        data += b"\n"  # a live log's last line without newline is still being written: followers wait for it
    log = tmp_path / "access.log"
    log.write_bytes(data)
    assert READERS[reader](log, FORMATS.get(case, "combined"), tmp_path) == expected


def test_the_line_readers_cut_and_decode_alike() -> None:
    raw = b"a\r\nb\r\r\nc\rd\n\xff\xfe\r\n"
    complete = raw.rpartition(b"\n")[0]
    expected = ["a", "b\r", "c\rd", "\\xff\\xfe"]
    assert decode_lines(complete) == expected
    assert [line_text(piece + b"\n") for piece in complete.split(b"\n")] == expected


def test_iter_lines_and_the_cursor_agree(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    data, _ = CASES["cr-before-crlf"]
    log.write_bytes(data + b"partial")
    whole = [line for block in iter_lines(str(log), ReadStats(), "x") for line in block]
    cursor = LogCursor(str(log))
    assert cursor.read(1 << 20) == whole[:-1]  # the line still being written waits for its newline
    with log.open("ab") as handle:
        handle.write(b" line\r\n")
    assert cursor.read(1 << 20) == ["partial line"] and cursor.index == 3


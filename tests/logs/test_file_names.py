"""Issue 17.10: a log file name that is not UTF-8 is shown as \\xhh, never a crash or a stray temp file."""
from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from vhostguard.cli.logs import logs
from vhostguard.cli.report import report

LINE = b'1.2.3.4 - - [01/Jan/2020:00:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "x"\n'


def _odd_log(tmp_path: Path) -> str:
    path = os.path.join(os.fsencode(tmp_path), b"acc\xffess.log")
    with open(path, "wb") as out:
        out.write(LINE + b"not a log line\n")
    return os.fsdecode(path)


def test_logs_jsonl_with_a_non_utf8_file_name(tmp_path: Path) -> None:
    name = _odd_log(tmp_path)
    result = CliRunner().invoke(logs, [name, "--jsonl", "--log-format", "combined"])
    assert result.exit_code == 0, result.stderr
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["file"].endswith("acc\\xffess.log") and record["line"] == 1
    bad = json.loads(result.stderr.splitlines()[0])
    assert bad["file"] == record["file"] and bad["line"] == 2


def test_report_html_with_a_non_utf8_file_name_leaves_no_temp_file(tmp_path: Path) -> None:
    name = _odd_log(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    page = out / "report.html"
    result = CliRunner().invoke(report, [name, "--log-format", "combined", "--html", str(page)])
    assert result.exit_code == 0, result.stderr
    assert "acc\\xffess.log" in page.read_text(encoding="utf-8")
    assert sorted(os.listdir(out)) == ["report.html"]

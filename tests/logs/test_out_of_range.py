"""Issue 17.7: one rule for times and durations out of range, in ``logs`` and ``report`` alike."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from vhostguard.cli.logs import logs
from vhostguard.cli.report import report
from vhostguard.logs import LineError, compile_format

GOOD = '1.2.3.4 - - [01/Jan/2020:00:00:00 +0000] "GET /ok HTTP/1.1" 200 5 "-" "x"'
OUT_OF_RANGE = [
    "[31/Dec/9999:23:59:59 -1400]",  # year 10000 in UTC
    "[01/Jan/0001:00:00:00 +0100]",  # year 0 in UTC
    "[01/Jan/2020:00:00:00 +2400]",  # a zone of a whole day
    "[01/Jan/2020:00:00:00 -9959]",
    "[01/Jan/2020:00:00:00 +0160]",  # 60 minutes
]


@pytest.mark.parametrize("stamp", OUT_OF_RANGE)
def test_out_of_range_time_is_malformed_with_its_reason(stamp: str) -> None:
    fmt = compile_format('%h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"')
    with pytest.raises(LineError) as problem:
        fmt.parse(GOOD.replace("[01/Jan/2020:00:00:00 +0000]", stamp))
    assert "bad time" in problem.value.message


def test_edges_inside_the_range_still_parse() -> None:
    fmt = compile_format('%h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"')
    for stamp in ("[31/Dec/9999:23:59:59 +1400]", "[01/Jan/0001:00:00:00 -0100]", "[01/Jan/2020:00:00:00 -2359]"):
        assert fmt.parse(GOOD.replace("[01/Jan/2020:00:00:00 +0000]", stamp))["path"] == "/ok"


def test_strftime_time_out_of_range_is_malformed() -> None:
    fmt = compile_format("[%{%Y-%m-%d %H:%M:%S %z}t] %U")
    assert fmt.parse("[2020-12-31 23:59:59 +0100] /x")["path"] == "/x"
    for text in ("[9999-12-31 23:59:59 -1400] /x", "[2020-12-31 23:59:59 +2500] /x"):
        with pytest.raises(LineError):
            fmt.parse(text)


def test_logs_and_report_agree_on_out_of_range_times(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = [GOOD] + [GOOD.replace("[01/Jan/2020:00:00:00 +0000]", s) for s in OUT_OF_RANGE]
    log.write_text("\n".join(lines) + "\n")
    runner = CliRunner()
    from_logs = runner.invoke(logs, [str(log), "--log-format", "combined", "--jsonl"])
    from_report = runner.invoke(report, [str(log), "--log-format", "combined", "--json"])
    assert from_report.exception is None or isinstance(from_report.exception, SystemExit)
    assert from_logs.exit_code == from_report.exit_code == 0
    assert len(from_logs.stdout.splitlines()) == 1
    document = json.loads(from_report.stdout)
    assert (document["lines"], document["malformed"]) == (6, 5)
    assert "6 lines, 5 malformed" in from_logs.stderr


def test_negative_duration_is_malformed(tmp_path: Path) -> None:
    fmt = compile_format('%h %>s %D')
    assert fmt.parse("1.2.3.4 200 55")["duration_us"] == 55
    for line in ("1.2.3.4 200 -55", "1.2.3.4 200 -0", "é 200 -55"):
        with pytest.raises(LineError) as problem:
            fmt.parse(line)
        assert "%D is negative" in problem.value.message
    log = tmp_path / "d.log"
    log.write_text("1.2.3.4 200 100\n1.2.3.4 200 -50\n")
    result = CliRunner().invoke(report, [str(log), "--log-format", "%h %>s %D", "--json"])
    document = json.loads(result.stdout)
    assert document["malformed"] == 1
    assert sum(e["duration_us_sum"] for e in document["endpoints"]) == 100

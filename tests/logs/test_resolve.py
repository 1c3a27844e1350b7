"""Issue 16.1/16.2: one resolver says which log has which format, for logs, report and watch alike."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from vhostguard.cli.logs import logs
from vhostguard.cli.report import report
from vhostguard.cli.watch import watch
from vhostguard.config import load
from vhostguard.logs import DEFAULT_NICKNAMES, FormatChoice, find_logs, resolve_files

CUSTOM = '%v:%{local}p %h %l %u %t \\"%r\\" %>s %O %D \\"%{Referer}i\\" \\"%{User-Agent}i\\" \\"%{Host}i\\"'
LINE = ('api.example.com:80 198.51.100.{n} - - [21/Jan/2024:14:00:0{n} +0000] "GET /v1/items/{n} HTTP/1.1" '
        '200 2504 120797 "-" "okhttp/4.12.0" "api.example.com"')


def config(tmp_path: Path, log_path: str = "logs/access.log") -> Path:
    (tmp_path / "logs").mkdir(exist_ok=True)
    main = tmp_path / "apache2.conf"
    main.write_text(f'ServerRoot "{tmp_path}"\nListen 80\n'
                    f'LogFormat "{CUSTOM}" vhost_host\n'
                    f"CustomLog {log_path} vhost_host\n"
                    "<VirtualHost *:80>\n ServerName api.example.com\n</VirtualHost>\n")
    return main


def lines(path: Path, count: int = 5) -> Path:
    path.write_text("".join(LINE.format(n=n) + "\n" for n in range(1, count + 1)))
    return path


def test_a_log_the_config_names_is_read_in_its_format_even_through_a_symlink(tmp_path: Path) -> None:
    layout = find_logs(load(str(config(tmp_path))))
    log = lines(tmp_path / "logs" / "access.log")
    link = tmp_path / "elsewhere.log"
    link.symlink_to(log)
    for path in (str(log), str(link)):
        (found,) = resolve_files([path], layout)
        assert found.origin == "config" and "%{Host}i" in found.described


def test_another_log_is_detected_among_the_configs_formats(tmp_path: Path) -> None:
    layout = find_logs(load(str(config(tmp_path))))
    other = lines(tmp_path / "copied.log")
    (found,) = resolve_files([str(other)], layout)
    assert found.origin == "detected" and "%{Host}i" in found.described
    assert found.tried[0] == "vhost_host"
    (stock,) = resolve_files([str(other)], None)
    assert stock.tried == ("vhost_combined", "combined", "common")
    (forced,) = resolve_files([str(other)], layout, "common")
    assert forced.origin == "--log-format" and forced.described == DEFAULT_NICKNAMES["common"]


def test_a_pipe_is_not_read_to_detect_its_format(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (found,) = resolve_files([str(fifo)], None)  # would block if it were read
    assert isinstance(found.parser, FormatChoice) and found.note and "regular file" in found.note


def test_watch_reads_a_log_in_the_format_of_the_config(tmp_path: Path) -> None:
    main = config(tmp_path)
    log = lines(tmp_path / "copied.log")
    result = CliRunner().invoke(watch, [str(log), "-f", str(main), "--once", "--from-start", "-q",
                                        "--metrics-addr", "off", "--state", str(tmp_path / "state"), "-j", "1"])
    assert f"{log}: 5 lines, 0 malformed" in result.stderr, result.stderr
    assert result.exit_code == 0


def test_logs_and_report_without_config_explain_what_to_do(tmp_path: Path) -> None:
    log = lines(tmp_path / "copied.log")
    runner = CliRunner()
    for command, args in ((logs, []), (report, []), (report, ["--json"])):
        result = runner.invoke(command, [str(log), *args])
        assert result.exit_code == 2
        last = result.stderr.splitlines()[-1]
        assert str(log) in last and "vhost_combined, combined, common" in last
        assert "-f CONFIG" in last and "--log-format" in last
        assert "Top 20" not in result.stdout  # no empty table first


def test_without_log_and_config_the_system_config_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    main = config(tmp_path)
    lines(tmp_path / "logs" / "access.log", 3)
    monkeypatch.setattr("vhostguard.config.loader.SYSTEM_CONFIG_FILES", (str(main),))
    runner = CliRunner()
    out = runner.invoke(logs, ["--jsonl"])
    assert out.exit_code == 0 and len(out.stdout.splitlines()) == 3
    document = json.loads(runner.invoke(report, ["--json"]).stdout)
    assert (document["lines"], document["malformed"]) == (3, 0)
    result = runner.invoke(watch, ["--once", "--from-start", "-q", "--metrics-addr", "off",
                                   "--state", str(tmp_path / "state"), "-j", "1"])
    assert "3 lines, 0 malformed" in result.stderr and result.exit_code == 0


@pytest.mark.parametrize("command", [logs, report])
def test_an_empty_log_is_an_error_without_a_table(tmp_path: Path, command: object) -> None:
    log = tmp_path / "empty.log"
    log.write_text("")
    result = CliRunner().invoke(command, [str(log)])  # type: ignore[arg-type]
    assert result.exit_code == 2
    assert "┏" not in result.stdout and "endpoints" not in result.stdout
    assert f"{log}: no lines" in result.stderr


@pytest.mark.parametrize("command, args", [(logs, ["--jsonl"]), (report, ["--json"])])
def test_a_truncated_gzip_counts_what_was_read_then_exits_2(tmp_path: Path, command: object, args: list[str]) -> None:
    import gzip

    whole = gzip.compress("".join(LINE.format(n=n % 10) + "\n" for n in range(3000)).encode())
    log = tmp_path / "access.log.gz"
    log.write_bytes(whole[: len(whole) * 3 // 4])
    result = CliRunner().invoke(command, [str(log), "--log-format", CUSTOM.replace('\\"', '"'), *args])  # type: ignore[arg-type]
    assert result.exit_code == 2
    err = result.stderr.strip().splitlines()
    assert err[-1].startswith(f"vhostguard: {log}:") and "lines read before it were counted" in err[-1]
    counted, _, malformed = err[-2].partition(" lines, ")
    assert int(counted.replace(",", "")) > 1000 and malformed in ("0 malformed", "1 malformed")  # the cut may split a line


def test_counts_of_one_are_singular(tmp_path: Path) -> None:
    log = tmp_path / "one.log"
    log.write_text(LINE.format(n=1) + "\n")
    runner = CliRunner()
    args = [str(log), "--log-format", CUSTOM.replace('\\"', '"')]
    for command, extra in ((logs, []), (report, ["--json"])):
        result = runner.invoke(command, [*args, *extra])  # type: ignore[arg-type]
        assert result.exit_code == 0, result.stderr
        assert "1 line, 0 malformed" in result.stderr and "1 lines" not in result.stderr + result.stdout


@pytest.mark.parametrize("args", [["logs", "--jsonl"], ["report", "--json", "-j", "1"]])
def test_a_pipe_is_read_once_and_whole(args: list[str]) -> None:
    import subprocess
    import sys

    combined = '198.51.100.{n} - - [21/Jan/2024:14:00:00 +0000] "GET /v1/items/{n} HTTP/1.1" 200 25 "-" "curl/8"'
    feed = "".join(combined.format(n=n % 10) + "\n" for n in range(1000))  # ~100 KB: more than any first read
    done = subprocess.run([sys.executable, "-m", "vhostguard", args[0], "/dev/stdin", *args[1:]], input=feed,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "1,000 lines, 0 malformed" in done.stderr
    if args[0] == "logs":
        assert len(done.stdout.splitlines()) == 1000

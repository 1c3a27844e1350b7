"""``vhostguard logs`` through click's CliRunner on the command object."""
from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from vhostguard.cli.logs import logs

Write = Callable[..., Path]
LINE = '10.0.0.{n} - - [21/Jan/2024:15:00:0{n} +0000] "GET /p/{n}?q={n} HTTP/1.1" 200 {n} "-" "ua \\"{n}\\""'
VLINE = "www.example.com:443 " + LINE


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(logs, list(args))
    return result.exit_code, result.stdout, result.stderr


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def write_log(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_jsonl_records_and_malformed_lines(tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log", LINE.format(n=1), "garbage", LINE.format(n=2)[:-5], LINE.format(n=3))
    code, out, err = run(str(log), "--jsonl")
    assert code == 0
    records = jsonl(out)
    assert [r["line"] for r in records] == [1, 4]
    assert records[0] == {
        "remote_host": "10.0.0.1", "remote_logname": None, "remote_user": None, "time": "2024-01-21T15:00:01+00:00",
        "request_line": "GET /p/1?q=1 HTTP/1.1", "method": "GET", "path": "/p/1", "query": "q=1",
        "protocol": "HTTP/1.1", "status": 200, "bytes_out": 1,
        "headers_in": {"Referer": None, "User-Agent": 'ua "1"'}, "file": str(log), "line": 1,
    }
    problems = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [(p["file"], p["line"]) for p in problems] == [(str(log), 2), (str(log), 3)]
    assert all(p["error"] for p in problems)
    assert err.splitlines()[-1] == "4 lines, 2 malformed"


def test_vhost_combined_is_detected_without_options(tmp_path: Path) -> None:
    log = write_log(tmp_path / "other_vhosts_access.log", VLINE.format(n=1), VLINE.format(n=2))
    code, out, _ = run(str(log), "--jsonl")
    assert code == 0
    assert [(r["vhost"], r["port"]) for r in jsonl(out)] == [("www.example.com", 443)] * 2


def test_explicit_log_format_string_and_nickname(tmp_path: Path) -> None:
    log = write_log(tmp_path / "t.log", "1500 200 /x", "7 404 /y")
    code, out, _ = run(str(log), "--log-format", "%D %>s %U", "--jsonl")
    assert code == 0
    assert [(r["duration_us"], r["status"], r["path"]) for r in jsonl(out)] == [(1500, 200, "/x"), (7, 404, "/y")]
    code, out, _ = run(str(write_log(tmp_path / "c.log", LINE.format(n=1))), "--log-format", "combined", "--jsonl")
    assert code == 0 and jsonl(out)[0]["status"] == 200


def test_gzip_rotated_file(tmp_path: Path) -> None:
    rotated = tmp_path / "access.log.2.gz"
    rotated.write_bytes(gzip.compress((LINE.format(n=5) + "\n").encode()))
    code, out, err = run(str(rotated), "--jsonl")
    assert code == 0 and jsonl(out)[0]["path"] == "/p/5"
    assert err.strip() == "1 line, 0 malformed"


def test_nonexistent_file_is_one_line_exit_2(tmp_path: Path) -> None:
    code, out, err = run(str(tmp_path / "missing.log"), "--jsonl")
    assert code == 2 and out == ""
    assert err == f"vhostguard: {tmp_path / 'missing.log'}: No such file\n"


def test_no_parsable_line_is_exit_2(tmp_path: Path) -> None:
    code, out, err = run(str(write_log(tmp_path / "junk.log", "junk", "more junk")), "--jsonl")
    assert code == 2 and out == ""
    assert "2 lines, 2 malformed" in err and "no line matches the format" in err


def test_empty_file_is_exit_2(tmp_path: Path) -> None:
    code, _, err = run(str(write_log(tmp_path / "empty.log")), "--jsonl")
    assert code == 2 and "no lines" in err


def test_bad_log_format_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run(str(write_log(tmp_path / "a.log", "x")), "--log-format", "%h %Z")
    assert code == 2 and err == "vhostguard: --log-format '%h %Z': Unrecognized LogFormat directive %Z\n"


def test_no_file_and_no_config_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vhostguard.config.loader.SYSTEM_CONFIG_FILES", ())
    code, _, err = run("--jsonl")
    assert code == 2 and "give log files, or -f CONFIG" in err


def test_logs_of_a_config_and_its_nicknames(write: Write, tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    write_log(tmp_path / "logs" / "api.log", "api.example.com 200 /v1/users/7")
    conf = write("httpd.conf", f'''
        ServerRoot "{tmp_path}"
        LogFormat "%v %>s %U" mine
        CustomLog "|/usr/bin/rotatelogs x" mine
        <VirtualHost *:80>
            ServerName api.example.com
            CustomLog logs/api.log mine
            CustomLog logs/never-written.log mine
        </VirtualHost>
    ''')
    code, out, err = run("-f", str(conf), "--env-file", "", "--jsonl")
    assert code == 0
    assert [(r["vhost"], r["status"], r["path"]) for r in jsonl(out)] == [("api.example.com", 200, "/v1/users/7")]
    assert "piped log skipped: |/usr/bin/rotatelogs x" in err
    assert f"{tmp_path / 'logs' / 'never-written.log'}: No such file" in err
    # an explicit file takes its format from the config too, rotated name included
    rotated = tmp_path / "logs" / "api.log.1"
    write_log(rotated, "api.example.com 500 /v1/x")
    code, out, _ = run(str(rotated), "-f", str(conf), "--env-file", "", "--jsonl")
    assert code == 0 and jsonl(out)[0]["status"] == 500
    # and --log-format NICKNAME is looked up in the config's LogFormat lines
    code, out, _ = run(str(rotated), "-f", str(conf), "--env-file", "", "--log-format", "mine", "--jsonl")
    assert code == 0 and jsonl(out)[0]["vhost"] == "api.example.com"


def test_human_summary_without_jsonl(tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log", LINE.format(n=1), "bad line")
    code, out, err = run(str(log))
    assert code == 0
    assert f"{log}: 2 lines, 1 malformed" in out
    assert "  line 2: " in out
    assert err.strip() == "2 lines, 1 malformed"

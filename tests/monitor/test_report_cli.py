"""``vhostguard report`` through click's CliRunner on the command object (CONTRACT.md, report)."""
from __future__ import annotations

import json
import re
from datetime import datetime, UTC
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.monitor.test_report_fixtures import START, VHOST_COMBINED_D, Plan, clf_time, write_log
from vhostguard.cli.report import report

ENDPOINT_KEYS = {"vhost", "method", "endpoint", "requests", "share", "status", "error_ratio", "duration_us_sum",
                 "latency_ms", "bytes", "first_seen", "last_seen"}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(report, list(args))
    return result.exit_code, result.stdout, result.stderr


def utc(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).isoformat()


def test_json_document_has_the_contract_keys_and_the_generator_figures(tmp_path: Path) -> None:
    written = write_log(tmp_path / "access.log", Plan(lines=1200, malformed_every=100, outage=(300, 600)))
    code, out, err = run(str(written.path), "--log-format", VHOST_COMBINED_D, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"schema", "lines", "malformed", "engine", "endpoints", "timeline", "hosts"}
    assert doc["engine"] in ("c", "python")
    assert (doc["schema"], doc["lines"], doc["malformed"]) == (1, 1200, 12)
    for e in doc["endpoints"]:
        assert set(e) == ENDPOINT_KEYS
        assert set(e["status"]) == {"1xx", "2xx", "3xx", "4xx", "5xx"}
        assert set(e["latency_ms"]) == {"p50", "p95", "p99"}
        row = written.rows[(e["vhost"], e["method"], e["endpoint"])]
        assert (e["requests"], list(e["status"].values()), e["bytes"]) == (row.requests, row.status, row.bytes)
        assert e["duration_us_sum"] == sum(row.durations)
        assert (e["first_seen"], e["last_seen"]) == (utc(row.first), utc(row.last))  # type: ignore[arg-type]
        assert e["share"] == row.requests / written.valid
    assert len(doc["endpoints"]) == len(written.rows)
    requests = [e["requests"] for e in doc["endpoints"]]
    assert requests == sorted(requests, reverse=True)
    timeline = {(p["minute"], p["vhost"]): [p["requests"], p["5xx"]] for p in doc["timeline"]}
    assert timeline == {(utc(m), v): cell for (m, v), cell in written.minutes.items()}
    assert all(set(p) == {"minute", "vhost", "requests", "5xx"} for p in doc["timeline"])
    assert err.splitlines()[-1] == "1,200 lines, 12 malformed"
    shown = re.findall(r"^(.*):(\d+): malformed: ", err, re.MULTILINE)
    assert shown == [(str(written.path), str(n)) for n in written.malformed_lines[:10]]


def test_terminal_tables_show_the_busiest_and_the_failing(tmp_path: Path) -> None:
    stamp = clf_time(START, 0)
    log = tmp_path / "access.log"
    lines = ([f'a.test:80 1.1.1.1 - - [{stamp}] "GET /busy HTTP/1.1" 200 10 "-" "c" 10'] * 30
             + [f'a.test:80 1.1.1.1 - - [{stamp}] "GET /second HTTP/1.1" 200 10 "-" "c" 10'] * 20
             + [f'a.test:80 1.1.1.1 - - [{stamp}] "POST /broken/77 HTTP/1.1" 502 10 "-" "c" 10'] * 7
             + ["garbage"])
    log.write_text("\n".join(lines) + "\n")
    code, out, err = run(str(log), "--log-format", VHOST_COMBINED_D, "--top", "2")
    assert code == 0, err
    top = out.split("Top failing endpoints")[0]
    assert "/busy" in top and "/second" in top and "/broken/{id}" not in top  # --top 2
    failing = out.split("Top failing endpoints")[1]
    assert re.search(r"POST\s.*/broken/\{id\}\s.*\b7\b.*100\.0%", failing)
    assert "Error bursts" in out and "First malformed lines (1 in all)" in out
    assert f"{log}:58: " in out
    assert err.splitlines()[-1] == "58 lines, 1 malformed"


def test_html_file_is_self_contained(tmp_path: Path) -> None:
    written = write_log(tmp_path / "access.log", Plan(lines=600, malformed_every=50))
    page = tmp_path / "report.html"
    code, out, err = run(str(written.path), "--log-format", VHOST_COMBINED_D, "--html", str(page), "--json")
    assert code == 0, err
    assert json.loads(out)["lines"] == 600  # --json still on stdout
    text = page.read_text()
    assert text.startswith("<!doctype html>")
    assert "default-src 'none'" in text  # the browser may not fetch anything
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<link" not in text and "@import" not in text
    data = json.loads(re.search(r'<script type="application/json" id="vg-data">(.*?)</script>', text, re.S).group(1))  # type: ignore[union-attr]
    assert sum(sum(c["requests"]) for c in data["charts"] if c["key"].startswith("vhost:")) == written.valid
    assert not list(tmp_path.glob(".vhostguard-*"))  # the temporary file was renamed into place


def test_hostile_names_are_escaped_in_the_html(tmp_path: Path) -> None:
    stamp = clf_time(START, 0)
    log = tmp_path / "access.log"
    evil = '/</script><script>alert(1)</script><img src=x onerror=alert(2)>'
    log.write_text(f'a.test:80 1.1.1.1 - - [{stamp}] "GET {evil} HTTP/1.1" 500 1 "-" "c" 10\n')
    page = tmp_path / "r.html"
    code, _, err = run(str(log), "--log-format", VHOST_COMBINED_D, "--html", str(page))
    assert code == 0, err
    text = page.read_text()
    assert "<script>alert" not in text and "<img src=x" not in text
    assert text.count("<script") == 2  # the data block and the drawing code, nothing injected


def test_markup_in_logged_names_prints_as_itself(tmp_path: Path) -> None:
    stamp = clf_time(START, 0)
    log = tmp_path / "access.log"
    log.write_text(f'a[b]c.test:80 1.1.1.1 - - [{stamp}] "GET /x[/]y[bold]z HTTP/1.1" 500 1 "-" "c" 10\n'
                   "[/] not a log line\n")
    code, out, err = run(str(log), "--log-format", VHOST_COMBINED_D)
    assert code == 0, err
    assert "/x[/]y[bold]z" in out and "a[b]c.test" in out
    assert f"{log}:2: " in out


def test_declared_endpoints_take_precedence(tmp_path: Path) -> None:
    stamp = clf_time(START, 0)
    log = tmp_path / "access.log"
    log.write_text("".join(f'a.test:80 1.1.1.1 - - [{stamp}] "GET {p} HTTP/1.1" 200 1 "-" "c" 10\n' for p in (
        "/v1/users/12", "/v1/users/13/avatar", "/files/a/b/c.txt", "/files/x", "/other/9")))
    patterns = tmp_path / "endpoints.txt"
    patterns.write_text("# ours\n/v1/users/{user}\n^/files/ files\n")
    code, out, err = run(str(log), "--log-format", VHOST_COMBINED_D, "--endpoints", str(patterns), "--json")
    assert code == 0, err
    got = sorted((e["endpoint"], e["requests"]) for e in json.loads(out)["endpoints"])
    assert got == [("/other/{id}", 1), ("/v1/users/{id}/avatar", 1), ("/v1/users/{user}", 1), ("files", 2)]


def test_config_finds_the_logs_and_their_format(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    written = write_log(tmp_path / "logs" / "api_access.log", Plan(lines=500, malformed_every=125))
    conf = tmp_path / "apache2.conf"
    fmt = VHOST_COMBINED_D.replace('"', '\\"')
    conf.write_text(f'ServerRoot "{tmp_path}"\nServerName main.test\nLogFormat "{fmt}" vcd\n'
                    '<VirtualHost *:80>\n    ServerName api.example.com\n    CustomLog logs/api_access.log vcd\n'
                    '</VirtualHost>\n')
    code, out, err = run("-f", str(conf), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["lines"], doc["malformed"]) == (500, 4)
    assert sum(e["requests"] for e in doc["endpoints"]) == written.valid
    assert all(e["latency_ms"] is not None for e in doc["endpoints"])  # %D came from the config's format


def test_jobs_do_not_change_the_document(tmp_path: Path) -> None:
    written = write_log(tmp_path / "access.log", Plan(lines=3000, malformed_every=33))
    one = run(str(written.path), "--log-format", VHOST_COMBINED_D, "--json", "--jobs", "1")
    two = run(str(written.path), "--log-format", VHOST_COMBINED_D, "--json", "--jobs", "2")
    assert one[0] == two[0] == 0
    assert json.loads(one[1]) == json.loads(two[1])


@pytest.mark.parametrize("content, why", [("", "no lines"), ("junk\nmore junk\n", "no line matches the format")])
def test_nothing_readable_exits_2(tmp_path: Path, content: str, why: str) -> None:
    log = tmp_path / "access.log"
    log.write_text(content)
    code, out, err = run(str(log), "--log-format", VHOST_COMBINED_D, "--json")
    assert code == 2
    assert json.loads(out)["endpoints"] == []
    assert err.splitlines()[-1].startswith(f"vhostguard: {log}: {why}")  # the full path (issue 16.2)


def test_usage_errors_exit_2_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vhostguard.config.loader.SYSTEM_CONFIG_FILES", ())  # no LOG, no -f, no system config
    log = tmp_path / "access.log"
    write_log(log, Plan(lines=10))
    bad_patterns = tmp_path / "p.txt"
    bad_patterns.write_text("/ok\nno-slash\n")
    cases = [
        ((str(tmp_path / "missing.log"),), "missing.log: No such file"),
        ((str(log), "--log-format", "%Z"), "Unrecognized LogFormat directive %Z"),
        ((str(log), "--endpoints", str(bad_patterns)), f"{bad_patterns}:2: expected a template"),
        ((str(log), "--endpoints", str(tmp_path / "none.txt")), "none.txt: No such file"),
        ((str(log), "--html", str(tmp_path / "no" / "dir.html")), "No such directory"),
        ((), "give log files, or -f CONFIG"),
    ]
    for args, message in cases:
        code, out, err = run(*args)
        assert code == 2, (args, err)
        assert out == ""
        assert message in err and len(err.strip().splitlines()) == 1, (args, err)

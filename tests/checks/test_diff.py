from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from vhostguard.cli import main

INCIDENT = Path(__file__).resolve().parents[2] / "examples" / "incident"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def _host_of(line: str) -> str | None:
    """The Host field the example's LogFormat writes last: read it without vhostguard."""
    if not line.endswith('"') or line.count('"') < 8:
        return None
    return line.rsplit('"', 2)[1]


def test_incident_diff_finds_exactly_the_misrouted_requests() -> None:
    lines = (INCIDENT / "access.log").read_text().splitlines()
    hosts = [_host_of(line) for line in lines]
    # Ground truth: every request to the API vhost's names moves (api.example.com lost its
    # ServerName to a typo; api-eu.example.com stays but its vhost is now named api.exmaple.com).
    expected_changed = sum(1 for h in hosts if h in ("api.example.com", "api-eu.example.com"))
    readable = sum(1 for h in hosts if h is not None)
    code, out, err = run("diff", str(INCIDENT / "before/apache2.conf"), str(INCIDENT / "after/apache2.conf"),
                         "--requests", str(INCIDENT / "access.log"), "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["schema"] == 1
    assert doc["requests"] == readable
    assert doc["changed"] == expected_changed
    assert sum(g["count"] for g in doc["groups"]) == expected_changed
    assert [g["count"] for g in doc["groups"]] == sorted((g["count"] for g in doc["groups"]), reverse=True)
    biggest = doc["groups"][0]
    assert biggest["old"]["vhost"] == "api.example.com" and biggest["old"]["outcome"]["kind"] == "proxy"
    assert biggest["new"]["vhost"] == "default.invalid" and biggest["new"]["outcome"]["kind"] == "forbidden"
    assert all(e.startswith("http://api.example.com/") for e in biggest["examples"])
    assert "1 of" in err and "malformed" in err and "access.log:" in err


def test_unchanged_config_reports_nothing(tmp_path: Path) -> None:
    code, out, _ = run("diff", str(INCIDENT / "before/apache2.conf"), str(INCIDENT / "before/apache2.conf"),
                       "--requests", str(INCIDENT / "access.log"), "--json")
    assert code == 0 and json.loads(out)["changed"] == 0


def test_change_in_untouched_vhost_only(tmp_path: Path) -> None:
    new = tmp_path / "new"
    shutil.copytree(INCIDENT / "before", new)
    www = new / "sites-enabled" / "www.conf"
    www.write_text(www.read_text().replace("Redirect permanent /api/ http://api.example.com/v1/",
                                           "Redirect permanent /api/ https://api.example.com/v1/"))
    urls = tmp_path / "urls.txt"
    urls.write_text("http://www.example.com/api/users/1\nhttp://api.example.com/v1/users/1\nhttp://www.example.com/\n")
    code, out, _ = run("diff", str(INCIDENT / "before/apache2.conf"), str(new / "apache2.conf"), "--requests", str(urls), "--json")
    doc = json.loads(out)
    assert code == 1 and doc["requests"] == 3 and doc["changed"] == 1
    group = doc["groups"][0]
    assert group["old"]["outcome"]["target"] == "http://api.example.com/v1/users/1"
    assert group["new"]["outcome"]["target"] == "https://api.example.com/v1/users/1"


def test_main_server_change_reaches_every_vhost(tmp_path: Path) -> None:
    new = tmp_path / "new"
    shutil.copytree(INCIDENT / "before", new)
    main_conf = new / "apache2.conf"
    main_conf.write_text(main_conf.read_text() + "ProxyPass /health !\n")  # inherited by every vhost
    urls = tmp_path / "urls.txt"
    urls.write_text("http://api.example.com/health\nhttp://api.example.com/v1/x\n")
    _code, out, _ = run("diff", str(INCIDENT / "before/apache2.conf"), str(main_conf), "--requests", str(urls), "--json")
    doc = json.loads(out)
    assert doc["changed"] == 1 and doc["groups"][0]["examples"] == ["http://api.example.com/health"]


def test_allow_file_and_text_output(tmp_path: Path) -> None:
    allow = tmp_path / "allow.yaml"
    allow.write_text("- {old_vhost: api.example.com, new_vhost: '*'}\n")
    code, out, _ = run("diff", str(INCIDENT / "before/apache2.conf"), str(INCIDENT / "after/apache2.conf"),
                       "--requests", str(INCIDENT / "access.log"), "--allow", str(allow))
    assert code == 0
    assert "(allowed)" in out and "requests replayed" in out.splitlines()[-1]


def test_gzipped_log_and_bad_input(tmp_path: Path) -> None:
    packed = tmp_path / "access.log.2.gz"
    packed.write_bytes(gzip.compress((INCIDENT / "access.log").read_bytes()))
    code, out, _ = run("diff", str(INCIDENT / "before/apache2.conf"), str(INCIDENT / "after/apache2.conf"),
                       "--requests", str(packed), "--json")
    assert code == 1 and json.loads(out)["changed"] > 0
    code, _, err = run("diff", str(INCIDENT / "before/apache2.conf"), str(INCIDENT / "after/apache2.conf"),
                       "--requests", str(tmp_path / "missing.log"))
    assert code == 2 and "missing.log" in err and len(err.strip().splitlines()) == 1
    garbage = tmp_path / "garbage.log"
    garbage.write_text("not a log line\nnor this\n")
    code, _, err = run("diff", str(INCIDENT / "before/apache2.conf"), str(INCIDENT / "after/apache2.conf"),
                       "--requests", str(garbage))
    assert code == 2 and "no line" in err


@pytest.mark.parametrize("flag", ["--json", None])
def test_expectations_catch_the_incident(flag: str | None) -> None:
    args = ["test", str(INCIDENT / "vhostguard.yaml"), "-f", str(INCIDENT / "after/apache2.conf")] + ([flag] if flag else [])
    code, out, _ = run(*args)
    assert code == 1
    if flag:
        assert json.loads(out)["summary"] == {"passed": 1, "failed": 3}
    code, out, _ = run("test", str(INCIDENT / "vhostguard.yaml"))
    assert code == 0


# --- issues 16.3, 16.6, 17.19: diff reads logs as logs/report do; nothing replayed is an error ---

BEFORE, AFTER = str(INCIDENT / "before/apache2.conf"), str(INCIDENT / "after/apache2.conf")
COMBINED_LINE = '198.51.100.{n} - - [21/Jan/2024:14:00:00 +0000] "GET /v1/items/{n} HTTP/1.1" 200 25 "-" "curl"'


def _incident_lines(count: int) -> list[str]:
    return (INCIDENT / "access.log").read_text().splitlines()[:count]


def test_a_log_without_host_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    log = tmp_path / "nohost.log"
    log.write_text("".join(COMBINED_LINE.format(n=n) + "\n" for n in range(500)))
    code, out, err = run("diff", BEFORE, AFTER, "--requests", str(log), "--log-format", "combined")
    assert code == 2 and out == ""
    assert "0 requests replayed" in err and "500 of 500 lines skipped" in err and "--host" in err
    code, out, err = run("diff", BEFORE, AFTER, "--requests", str(log), "--log-format", "combined",
                         "--host", "api.example.com", "--json")
    assert code == 1 and json.loads(out)["requests"] == 500


def test_skipped_lines_are_counted_and_explained(tmp_path: Path) -> None:
    log = tmp_path / "mixed.log"
    fmt = '%h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" "%{Host}i"'
    with_host = COMBINED_LINE.format(n=1) + ' "api.example.com"'
    without = COMBINED_LINE.format(n=2) + ' "-"'
    log.write_text(f"{with_host}\n{without}\n{without}\n")
    code, out, err = run("diff", BEFORE, AFTER, "--requests", str(log), "--log-format", fmt)
    assert code == 1
    assert "1 request replayed" in out and "in 1 group" in out and "1 requests" not in out
    assert "2 lines skipped: no Host recorded" in err and "--host" in err


def test_an_empty_requests_file_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("")
    code, out, err = run("diff", BEFORE, AFTER, "--requests", str(empty))
    assert code == 2 and out == "" and f"{empty}: no lines" in err


@pytest.mark.parametrize("suffix, compress", [(".crlf", None), (".bz2", "bz2"), (".xz", "lzma"), (".gz", "gzip")])
def test_diff_reads_crlf_bz2_and_xz_as_logs_does(tmp_path: Path, suffix: str, compress: str | None) -> None:
    import bz2
    import lzma

    text = "".join(line + "\r\n" for line in _incident_lines(200)).encode()
    packed = {"bz2": bz2.compress, "lzma": lzma.compress, "gzip": gzip.compress, None: lambda b: b}[compress](text)
    log = tmp_path / f"access.log{suffix}"
    log.write_bytes(packed)
    code, out, err = run("diff", BEFORE, AFTER, "--requests", str(log), "--json")
    assert code == 1, err
    assert json.loads(out)["requests"] == 200 and "malformed" not in err


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_damaged_gzip_counts_what_was_read_then_exits_2(tmp_path: Path, damage: str) -> None:
    whole = gzip.compress("".join(line + "\n" for line in _incident_lines(3000)).encode())
    cut = len(whole) * 3 // 4
    data = whole[:cut] if damage == "truncated" else whole[:cut] + b"\xff" * 64 + whole[cut + 64:]
    log = tmp_path / "access.log.gz"
    log.write_bytes(data)
    code, out, err = run("diff", BEFORE, AFTER, "--requests", str(log), "--json")
    assert code == 2
    assert json.loads(out)["requests"] > 0  # what was read before the damage is reported
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"vhostguard: {log}:") and "Traceback" not in err and "Aborted" not in err


def test_a_pipe_loses_no_line() -> None:
    import subprocess
    import sys

    lines = _incident_lines(1000)
    feed = "".join(line + "\n" for line in lines)
    done = subprocess.run([sys.executable, "-m", "vhostguard", "diff", BEFORE, AFTER, "--requests", "/dev/stdin",
                           "--json"], input=feed, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["requests"] == len(lines)


def test_progress_reports_the_requests_replayed_in_parallel_too() -> None:
    from vhostguard.checks.diff import replay
    from vhostguard.checks.replay import plan_jobs
    from vhostguard.config import load
    from vhostguard.model import build_model

    old, new = build_model(load(BEFORE)), build_model(load(AFTER))
    log = str(INCIDENT / "access.log")
    jobs = plan_jobs([log, log], old.tree, None, 2)
    seen: list[int] = []
    result, _ = replay(old, new, jobs, None, workers=2, progress=seen.append)
    assert result.requests == 2 * 3647
    assert seen and seen[-1] == result.requests and seen == sorted(seen)


def test_the_same_server_shortcut_gives_what_routing_every_request_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Differ.feed_all`` routes only the requests of servers whose routing differs; feeding every
    request through ``feed`` routes each of them: both give the same groups, counts and examples, and
    the serial replay reports its progress every ``PROGRESS_EVERY`` requests with the count so far."""
    import vhostguard.checks.diff as diff_module
    from vhostguard.checks.diff import Differ, replay
    from vhostguard.checks.replay import ReplayStats, job_requests, plan_jobs
    from vhostguard.config import load
    from vhostguard.model import build_model
    from vhostguard.routing import Request

    old, new = build_model(load(BEFORE)), build_model(load(AFTER))
    log = str(INCIDENT / "access.log")
    (job,) = plan_jobs([log], old.tree, None, 1)
    fields = list(job_requests(job, ReplayStats(), None, old.default_local_ip))
    every = Differ(old, new)
    for one in fields:
        every.feed(Request(*one))
    monkeypatch.setattr(diff_module, "PROGRESS_EVERY", 1000)
    seen: list[int] = []
    result, _ = replay(old, new, [job], None, progress=seen.append)
    assert result.requests == every.result.requests == 3647
    assert result.changed == every.result.changed > 0
    assert {key: (g.count, g.examples) for key, g in result.groups.items()} == {
        key: (g.count, g.examples) for key, g in every.result.groups.items()}
    assert seen == [1000, 2000, 3000, 3647]

"""The watch loop and command: restart-resume without loss or double count, rotation, bad input, the CLI."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from vhostguard.incidents import EventStore
from click.testing import CliRunner

from tests.monitor.watchkit import FORMAT, T0, Recorder, append, clf, line, traffic, watcher
from vhostguard.cli.watch import watch as watch_command
from vhostguard.monitor.clock import ManualClock
from vhostguard.monitor.rules import DEFAULT_RULES_YAML
from vhostguard.monitor.state import StateError, StateStore, default_state_dir, state_name
from vhostguard.monitor.watch import Watch

ROOT = Path(__file__).resolve().parents[2]


def counted(watch: Watch) -> int:
    """Requests in the metrics: every valid line read exactly once adds one."""
    return sum(int(slots[0]) for slots in watch.metrics.series.values())


def windowed(watch: Watch) -> float:
    from vhostguard.monitor.windows import ALL
    totals = watch.windows.site_totals(ALL, watch.windows.layout.index(21600), watch.log_clock.log_time or 0)
    return totals.requests if totals else 0.0


def numbered(start: int, count: int, t: float = T0) -> list[str]:
    return [line(t + i // 50, f"/v1/items/{start + i}") for i in range(count)]


def crash(watch: Watch) -> None:
    """What a killed process leaves: no final checkpoint, the lock released by the kernel."""
    if watch._parser is not None:
        watch._parser.close()  # its input ends, as when the watcher dies
    for item in watch.inputs:
        item.follower.close()
    assert watch._store is not None
    watch._store.unlock()


# Every test of counting runs with the lines parsed here (jobs=1) and in the parser process (jobs=2).
JOBS = pytest.mark.parametrize("jobs", [1, 2])


@JOBS
def test_restart_resumes_without_loss_or_double_count(tmp_path: Path, jobs: int) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state"
    append(log, numbered(0, 1000))
    first = watcher([log], ManualClock(T0 + 100), Recorder(), state=state, jobs=jobs)
    first.run(once=True)
    first.close()
    assert counted(first) == 1000
    append(log, numbered(1000, 500, T0 + 20))
    second = watcher([log], ManualClock(T0 + 100), Recorder(), state=state, jobs=jobs)
    second.run(once=True)
    assert counted(second) == 1500 and windowed(second) == pytest.approx(1500)
    second.close()


@JOBS
def test_a_crash_replays_only_what_came_after_the_last_checkpoint(tmp_path: Path, jobs: int) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state"
    append(log, numbered(0, 700))
    clock = ManualClock(T0 + 100)
    # A step ends at the first evaluation second after 7 lines: checkpoints fall inside 64 KiB chunks.
    run = watcher([log], clock, Recorder(), state=state, step_lines=7, checkpoint_interval=0.0, jobs=jobs)
    for _ in range(5):
        run.step()
    checkpointed = json.loads((state / state_name([str(log)])).read_text())
    assert any(p["skip"] for p in checkpointed["logs"][str(log)])  # resuming inside a chunk
    run.checkpoint()
    append(log, numbered(700, 300, T0 + 14))
    run.options = replace(run.options, checkpoint_interval=1e9)
    for _ in range(10):
        run.step()  # counted, never checkpointed
    crash(run)
    again = watcher([log], clock, Recorder(), state=state, jobs=jobs)
    again.run(once=True)
    assert counted(again) == 1000
    assert again.summary().logs[0][1:3] == (1000, 0)
    again.close()


@JOBS
def test_rotation_through_the_loop_counts_every_line_once(tmp_path: Path, jobs: int) -> None:
    log = tmp_path / "access.log"
    append(log, numbered(0, 100))
    run = watcher([log], ManualClock(T0 + 100), Recorder(), jobs=jobs)
    run.step()
    os.rename(log, tmp_path / "access.log.1")
    append(tmp_path / "access.log.1", numbered(100, 10))  # still written until the graceful restart
    append(log, numbered(110, 50))
    run.step()
    with open(log, "r+") as handle:  # then copytruncate
        handle.truncate(0)
    run.step()
    append(log, numbered(160, 40))
    run.step()
    assert counted(run) == 200
    run.close()


@JOBS
def test_malformed_and_binary_input_is_counted_never_fatal(tmp_path: Path, jobs: int) -> None:
    log = tmp_path / "access.log"
    with open(log, "wb") as handle:
        handle.write(line(T0, "/ok/1").encode())
        handle.write(b"\x00\x01\x02 binary \xff\xfe\n")
        handle.write(b"\x89PNG\r\n\x1a\n")  # two "lines"
        handle.write(bytes(b for b in range(256) if b != 10) * 4 + b"\n")
        handle.write(b"x" * (2 << 20) + b"\n")  # one 2 MiB "line"
        handle.write(line(T0, '/ok/2" "quote').encode())
        handle.write(line(T0 + 1, "/ok/3").encode()[:40] + b"\n")  # truncated, as a crash leaves it
        handle.write(line(T0 + 1, "/ok/4").encode())
    run = watcher([log], ManualClock(T0 + 5), Recorder(), jobs=jobs)
    run.run(once=True)
    run.close()
    [(_, lines, malformed, samples)] = run.summary().logs
    assert counted(run) == 2
    assert (lines, malformed) == (9, 7)
    assert [s.line for s in samples][:2] == [2, 3]


def test_state_is_locked_to_one_watcher(tmp_path: Path) -> None:
    store = StateStore(str(tmp_path), "x.json")
    store.lock()
    with pytest.raises(StateError, match="another vhostguard watch"):
        StateStore(str(tmp_path), "x.json").lock()
    store.unlock()
    (tmp_path / "y.json").write_text("{not json")
    broken = StateStore(str(tmp_path), "y.json")
    assert broken.load() is None and "unreadable" in broken.notes[0]
    assert default_state_dir({"XDG_STATE_HOME": "/s"}) == "/s/vhostguard"
    assert default_state_dir({"HOME": "/h"}).endswith("/.local/state/vhostguard")


# -- the command -------------------------------------------------------------------------------

def test_print_rules() -> None:
    result = CliRunner().invoke(watch_command, ["--print-rules"])
    assert result.exit_code == 0 and result.output == DEFAULT_RULES_YAML
    from vhostguard.cli import main
    assert CliRunner().invoke(main, ["watch", "--print-rules"]).output == DEFAULT_RULES_YAML


def test_watch_once_from_a_config(write, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    logs = tmp_path / "logs"
    logs.mkdir()
    escaped = FORMAT.replace('"', '\\"')
    main = write("conf/httpd.conf", f"""
        ServerRoot {tmp_path}
        ServerName main.example
        ErrorLog logs/error.log
        LogFormat "{escaped}" vhost_timed
        <VirtualHost *:80>
            ServerName api.example.com
            CustomLog logs/api.log "%h %l %u %t \\"%r\\" %>s %O %D"
        </VirtualHost>
        <VirtualHost *:80>
            ServerName www.example.com
        </VirtualHost>
        CustomLog logs/all.log vhost_timed
    """)
    api = [f'192.0.2.1 - - {clf(T0 + s)} "GET /v1/users/{s} HTTP/1.1" 503 10 900\n' for s in range(30) for _ in range(2)]
    append(logs / "api.log", api)
    append(logs / "all.log", traffic(T0, 30, 1, "/", 200, "www.example.com"))
    append(logs / "error.log", ["[Tue Nov 14 22:13:25.000001 2023] [proxy_http:error] [pid 1:tid 2] "
                                "[client 192.0.2.1:5] AH01114: HTTP: failed to make connection to backend: 127.0.0.1\n"])
    alerts = tmp_path / "alerts.jsonl"
    result = CliRunner().invoke(watch_command, [
        "-f", str(main), "--once", "--from-start", "--state", str(tmp_path / "state"), "--metrics-addr", "off",
        "--alerts-jsonl", str(alerts)])
    assert result.exit_code == 0, result.output
    fired = [json.loads(text) for text in alerts.read_text().splitlines()]
    broken = [a for a in fired if a["rule"] == "endpoint-broken"]
    # api.log has no %v: the vhost comes from the only vhost that writes it
    assert broken and broken[0]["vhost"] == "api.example.com" and broken[0]["endpoint"] == "/v1/users/{id}"
    # the error log's line is the evidence, and the AH-code catalogue says what it means
    assert any("AH01114: HTTP: failed to make connection" in e for e in broken[0]["evidence"])
    assert any(e.startswith("AH01114 (proxy_http): ") and "503" in e and "explain-code AH01114" in e
               for e in broken[0]["evidence"]), broken[0]["evidence"]
    assert "FIRING [page] endpoint-broken" in result.stdout
    # and each alert is an event for `events` and `postmortem`, in the --state directory as deploy keeps its
    # own (not the default one conftest sets)
    with EventStore(str(tmp_path / "state")) as store:
        recorded = store.events(sources=["watch"])
    with EventStore(os.environ["VHOSTGUARD_STATE_DIR"]) as store:
        assert store.events(sources=["watch"]) == []
    firing = [e for e in recorded if e.kind == "alert-firing" and e.data["rule"] == "endpoint-broken"]
    assert firing and firing[0].id == broken[0]["id"] and firing[0].time == broken[0]["started"]
    assert f"{logs / 'api.log'}: 60 lines, 0 malformed" in result.stderr
    assert f"joining errors from {logs / 'error.log'}" in result.stderr


def test_usage_problems_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vhostguard.config.loader.SYSTEM_CONFIG_FILES", ())  # no LOG, no -f, no system config
    runner = CliRunner()
    log = tmp_path / "a.log"
    append(log, [line(T0)])
    common = ["--state", str(tmp_path / "s"), "--once", "--log-format", FORMAT]
    bad_rules = tmp_path / "rules.yaml"
    bad_rules.write_text("endpoint_broken: {nope: 1}\n")
    for args, message in [
        ([], "give access logs"),
        ([str(log), "--rules", str(bad_rules)], "unknown setting 'nope'"),
        ([str(log), "--rules", str(tmp_path / "none.yaml")], "No such file"),
        ([str(log), "--metrics-addr", "nonsense"], "--metrics-addr nonsense"),
        ([str(log), "--log-format", "%Z"], "--log-format"),
        ([str(log), "--endpoints", str(tmp_path / "none.txt")], "--endpoints"),
    ]:
        result = runner.invoke(watch_command, [*common, *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)


def test_no_line_matching_the_format_exits_2(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    append(log, ["something else\n"] * 3)
    result = CliRunner().invoke(watch_command, [str(log), "--once", "--from-start", "--log-format", "common",
                                                "--state", str(tmp_path / "s"), "--metrics-addr", "off"])
    assert result.exit_code == 2 and "no line matches" in result.stderr


def test_ctrl_c_checkpoints_and_exits_130(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    append(log, [line(T0)])
    state = tmp_path / "state"
    process = subprocess.Popen(
        [sys.executable, "-m", "vhostguard.cli.watch", str(log), "--log-format", FORMAT, "--state", str(state),
         "--metrics-addr", "127.0.0.1:0", "--from-start"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        deadline = time.monotonic() + 20
        while not (state / state_name([str(log)])).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "metrics on http://127.0.0.1:" in err and f"{log}: 1 line, 0 malformed" in err
    saved = json.loads((state / state_name([str(log)])).read_text())
    assert saved["stats"][str(log)][0] == 1

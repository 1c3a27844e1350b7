"""The watcher's parser process: the same rows as parsing here, and no line lost or counted twice around it."""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest

from tests.monitor.test_watch import counted, crash, numbered
from tests.monitor.watchkit import FORMAT, T0, Recorder, append, line, watcher
from vhostguard.logs import parser_for
from vhostguard.logs.endpoints import parse_patterns
from vhostguard.logs.reader import FormatChoice
from vhostguard.logs.rows import request_rows
from vhostguard.monitor.clock import ManualClock
from vhostguard.monitor.ingest import ROW_EXTRA
from vhostguard.monitor.parser_process import DEPTH, ParserProcess, RowsSpec
from vhostguard.monitor.state import state_name

COMBINED = '%h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" "%{Host}i"'


@pytest.fixture(autouse=True)
def python_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parser process serves the Python path: where the compiled scanner counts a log, none starts."""
    monkeypatch.setenv("VHOSTGUARD_ENGINE", "python")


def mixed_lines(seed: int) -> list[str]:
    """Valid lines with the odd cases the split path hands on (escapes, spaces), and malformed ones."""
    lines = [line(T0 + i // 7, f"/v1/users/{seed * 1000 + i}", 200 + (i % 4) * 100).rstrip("\n") for i in range(300)]
    lines[5] = lines[5].replace('"test/1.0"', '"agent \\"quoted\\" 1.0"')
    lines[9] = lines[9][:60]  # truncated
    lines[10] = "\x00\x01 binary \ufffd"
    lines[11] = ""
    lines[12] = lines[12].replace("GET /v1", "GET /v1 with spaces")
    return lines


def test_rows_from_the_parser_process_equal_rows_parsed_here() -> None:
    vhost_combined = parser_for(FORMAT)
    combined = parser_for(COMBINED)
    specs = [RowsSpec(vhost_combined, ROW_EXTRA, None), RowsSpec(combined, ROW_EXTRA, "fallback.example")]
    here = [request_rows(spec.parser, spec.extra, spec.default_vhost).rows for spec in specs]
    combined_lines = ['192.0.2.1 - - [14/Nov/2023:22:13:20 +0000] "GET /a?x=1 HTTP/1.1" 200 5 "-" "ua" "Shop.Example:443"',
                      '192.0.2.1 - - [14/Nov/2023:22:13:21 +0000] "GET /b HTTP/1.1" 503 5 "-" "ua" "-"',
                      "not a log line"]
    requests = [(0, mixed_lines(1)), (1, combined_lines), (0, mixed_lines(2)), (0, mixed_lines(3))]
    process = ParserProcess(specs)
    try:
        tickets = [process.submit(index, lines) for index, lines in requests[:DEPTH]]
        assert not process.has_room
        # asked for out of order: the earlier answers are kept until asked for
        answers = {ticket: process.result(ticket) for ticket in reversed(tickets)}  # type: ignore[arg-type]
        for (index, lines), ticket in zip(requests, tickets):
            rows, bad = here[index](lines)
            assert answers[ticket] == (rows, bad)
        assert answers[tickets[0]][1] == [9, 10, 11]  # type: ignore[index]
        assert answers[tickets[1]][0][0][0] == "shop.example"  # type: ignore[index]
        assert answers[tickets[1]][0][1][0] == "fallback.example"  # type: ignore[index]
        assert process.has_room and process.failed is None
    finally:
        process.close()


def test_a_log_format_pickles_to_the_same_parser() -> None:
    fmt = parser_for(FORMAT, fields=("vhost", "status"))
    again = pickle.loads(pickle.dumps(fmt))
    assert (again.format, again.keys, again.lenient) == (fmt.format, fmt.keys, fmt.lenient)
    sample = line(T0, "/x")
    assert again.parse(sample.rstrip("\n")) == fmt.parse(sample.rstrip("\n"))
    choice = FormatChoice((parser_for(FORMAT), parser_for(COMBINED)))
    assert pickle.loads(pickle.dumps(choice)).parse(sample.rstrip("\n")) == choice.parse(sample.rstrip("\n"))


def test_a_dead_parser_process_is_reported_and_nothing_is_in_flight() -> None:
    process = ParserProcess([RowsSpec(parser_for(FORMAT), ROW_EXTRA, None)])
    ticket = process.submit(0, mixed_lines(1))
    assert ticket is not None
    process._process.kill()
    process._process.wait()
    assert process.result(ticket) is None
    assert process.failed and "parser process" in process.failed
    assert not process.has_room
    process.close()


def test_the_watcher_goes_on_alone_when_its_parser_process_dies(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, numbered(0, 3000))  # several 64 KiB chunks: some are in flight when the process dies
    run = watcher([log], ManualClock(T0 + 100), Recorder(), jobs=2, step_lines=500)
    run.step()
    assert run._parser is not None and any(item.ahead for item in run.inputs)
    run._parser._process.kill()
    run.run(once=True)
    assert counted(run) == 3000
    assert run._parser is None
    assert any("parser process" in note for note in run.summary().notes)
    run.close()


def test_one_process_and_two_count_the_same(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = [text + "\n" for text in mixed_lines(4) * 12]  # 3,600 lines, 36 of them malformed
    append(log, lines)
    results = []
    for jobs in (1, 2):
        run = watcher([log], ManualClock(T0 + 100), Recorder(), jobs=jobs, step_lines=1000)
        run.run(once=True)
        run.close()
        results.append((run.metrics.series, run.summary().logs, run.windows.to_state()))
    assert results[0] == results[1]
    assert results[0][1][0][1:3] == (3600, 36)


VARIED_PATHS = (
    "/v1/users/{n}/orders", "/v1/items/{n:012x}", "/api/accounts/0c9a{n:04x}-1b2c-4d5e-8f90-a1b2c3d4e5f6/settings",
    "/mail/user{n}@example.com", "/reports/2023-11-{d:02d}", "/files/{n}.json", "/img/v2/{n}.webp?size=3",
    "http://proxy.example/abs/{n}", "/plain/page-{n}", "/", "/v1/users/{n}/orders?page={n}",
    "/tokens/Zm9vYmFyYmF6cXV4{n:08d}",
)


@pytest.mark.parametrize("with_patterns", [False, True])
def test_paths_templated_in_the_parser_process_give_the_same_labels(tmp_path: Path, with_patterns: bool) -> None:
    """Templates made there (no user patterns) or raw paths (patterns): the same labels, caps and folds."""
    log = tmp_path / "access.log"
    append(log, [line(T0 + i // 40, VARIED_PATHS[i % len(VARIED_PATHS)].format(n=i * 7919, d=1 + i % 28),
                      vhost=f"v{i // len(VARIED_PATHS) % 3}.example") for i in range(4000)])
    # "^/files/[0-9]+" sees digits only in a raw path: templated there, it would never match
    patterns = ["/v1/users/{uid}/orders", "^/plain/ plain-pages", "^/files/[0-9]+\\.json files-json"]
    endpoints = parse_patterns(patterns) if with_patterns else ()
    results = []
    for jobs in (1, 2):
        run = watcher([log], ManualClock(T0 + 200), Recorder(), jobs=jobs, step_lines=700, endpoints=endpoints,
                      max_per_vhost=6)  # a small cap: rarer templates fold into {other}
        run.run(once=True)
        assert (run._parser is not None) == (jobs == 2)
        run.close()
        results.append((run.metrics.series, run.windows.to_state()))
    assert results[0] == results[1]
    endpoints_seen = {key[2] for key in results[0][0]}
    assert "{other}" in endpoints_seen
    assert ("/v1/users/{uid}/orders" in endpoints_seen) == with_patterns
    assert ("files-json" in endpoints_seen) == with_patterns


@pytest.mark.parametrize("steps", [1, 2, 3, 5, 8])
def test_a_crash_with_chunks_ahead_across_a_rotation_loses_and_repeats_nothing(tmp_path: Path, steps: int) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state"
    append(log, numbered(0, 2000))
    clock = ManualClock(T0 + 100)
    run = watcher([log], clock, Recorder(), state=state, jobs=2, step_lines=300, checkpoint_interval=0.0)
    run.step()
    os.rename(log, tmp_path / "access.log.1")  # rename rotation: the old file is drained, the new one read
    append(tmp_path / "access.log.1", numbered(2000, 500))
    append(log, numbered(2500, 2000))
    held_ahead = False
    for _ in range(steps):
        run.step()  # checkpoints after every step, with chunks in hand and ahead
        held_ahead |= any(item.ahead for item in run.inputs)
    assert held_ahead or steps == 1
    checkpoint = json.loads((state / state_name([str(log)])).read_text())
    assert checkpoint["logs"][str(log)]
    crash(run)
    again = watcher([log], clock, Recorder(), state=state, jobs=2)
    again.run(once=True)
    assert counted(again) == 4500
    assert again.summary().logs[0][1:3] == (4500, 0)
    again.close()


def test_without_a_parser_process_the_watcher_parses_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "access.log"
    append(log, numbered(0, 1500))
    monkeypatch.setattr("sys.executable", str(tmp_path / "no-such-python"))
    run = watcher([log], ManualClock(T0 + 100), Recorder(), jobs=2)
    run.run(once=True)
    assert run._parser is None
    assert any("no parser process" in note for note in run.summary().notes)
    assert counted(run) == 1500
    run.close()


def test_a_parser_process_starts_only_for_a_backlog(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, numbered(0, 20))  # one chunk: nothing waits behind it
    run = watcher([log], ManualClock(T0 + 100), Recorder(), jobs=2)
    run.run(once=True)
    assert run._parser is None and counted(run) == 20
    append(log, numbered(20, 3000, T0 + 1))
    run.run(once=True)
    assert run._parser is not None and counted(run) == 3020
    run.close()

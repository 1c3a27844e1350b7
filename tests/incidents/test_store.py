"""The event store: append-only, ordered on one clock, safe under concurrent writers, bounded."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from vhostguard.cli import main
from vhostguard.incidents import Event, EventStore, EventStoreError, deploy_events, doctor_events

WRITER = """
import sys
from vhostguard.incidents import Event, EventStore
state, source, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
for n in range(count):
    with EventStore(state) as store:  # a new connection each time, as separate commands would
        store.append([Event(f"2026-12-04T06:{n // 60:02d}:{n % 60:02d}+00:00", source, "tick", f"{source}-{n}", {"n": n})])
"""


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    """A watch and a deploy writing at once (separate processes): every event is there, once."""
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), source, "300"])
               for source in ("watch", "deploy", "doctor")]
    for writer in writers:
        assert writer.wait(timeout=120) == 0
    with EventStore(str(tmp_path), retention_s=None) as store:
        found = store.events()
    assert len(found) == 900
    assert len({(e.source, e.id) for e in found}) == 900
    times = [e.time for e in found]
    assert times == sorted(times)  # one clock: ordered by time whatever the writer


def test_events_are_ordered_by_time_with_offsets_and_filtered(tmp_path: Path) -> None:
    with EventStore(str(tmp_path)) as store:
        store.append([Event("2026-12-04T08:00:00+02:00", "watch", "alert-firing", "a"),  # 06:00 UTC
                      Event("2026-12-04T05:59:00+00:00", "deploy", "switch", "d"),
                      Event("2026-12-04T06:01:00Z", "doctor", "finding", "x", {"summary": "s"})])
        assert [e.kind for e in store.events()] == ["switch", "alert-firing", "finding"]
        since = store.events(since=1796364000.0)  # 2026-12-04T06:00:00Z
        assert [e.kind for e in since] == ["alert-firing", "finding"]
        assert [e.kind for e in store.events(sources=["deploy"])] == ["switch"]
        with pytest.raises(ValueError, match="source"):
            store.append([Event("2026-12-04T06:00:00Z", "cron", "x", "y")])


def test_retention_prunes_old_events_on_open(tmp_path: Path) -> None:
    """Retention counts from when an event was recorded: last year's alerts replayed today stay."""
    with EventStore(str(tmp_path), retention_s=None) as store:
        store.append([Event("2025-01-01T00:00:00+00:00", "watch", "replayed", "1"),
                      Event("2026-12-04T06:00:00+00:00", "watch", "aged", "2")])
    db = sqlite3.connect(tmp_path / "events.sqlite")
    db.execute("UPDATE events SET recorded = ? WHERE kind = 'aged'", (time.time() - 100 * 86400,))
    db.commit()
    db.close()
    with EventStore(str(tmp_path)) as store:  # the default retention: 90 days
        assert [e.kind for e in store.events()] == ["replayed"]


def test_schema_version_is_checked(tmp_path: Path) -> None:
    EventStore(str(tmp_path)).close()
    db = sqlite3.connect(tmp_path / "events.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.execute("UPDATE schema_version SET version = 7")
    db.commit()
    db.close()
    with pytest.raises(EventStoreError, match="schema version 7"):
        EventStore(str(tmp_path))


def test_a_deploy_document_becomes_its_stages_on_one_clock() -> None:
    document = {"id": "D1", "kind": "deploy", "started_at": "2026-12-04T06:00:00+00:00", "outcome": "rolled-back",
                "finished_at": "2026-12-04T06:00:20+00:00",
                "gates": [{"name": "load", "status": "pass", "seconds": 1.5, "detail": "ok"},
                          {"name": "lint", "status": "pass", "seconds": 2.0, "detail": "ok"}],
                "switch": {"from": "blue", "to": "green", "at": "2026-12-04T06:00:05+00:00"},
                "reload": {"at": "2026-12-04T06:00:05.100+00:00", "serving_after_s": 0.4},
                "verify": {"status": "fail", "window_s": 3.0, "failures": [{"kind": "error-rate", "summary": "5xx"}]},
                "rollback": {"at": "2026-12-04T06:00:09+00:00", "verified": True, "reason": "5xx"}}
    events = deploy_events(document)
    assert [e.kind for e in events] == ["deploy-started", "gate", "gate", "switch", "reload", "verify-fail", "rollback",
                                        "deploy-rolled-back"]
    assert events[2].time == "2026-12-04T06:00:03.500+00:00"  # the start plus both gates' seconds
    assert events[5].time == "2026-12-04T06:00:08.500+00:00"  # the reload, serving, and the window watched
    assert all(e.id == "D1" and e.source == "deploy" for e in events)


def test_events_command_lists_and_filters(tmp_path: Path) -> None:
    with EventStore(str(tmp_path)) as store:
        store.append(doctor_events({"config": "/etc/apache2/apache2.conf", "checks": [],
                                    "findings": [{"rank": 1, "severity": "critical", "summary": "Host \x1b[31m moved"}]},
                                   at="2026-12-04T06:00:00+00:00"))
    result = CliRunner().invoke(main, ["events", "--state", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [e["kind"] for e in document["events"]] == ["finding", "doctor-run"]
    text = CliRunner().invoke(main, ["events", "--state", str(tmp_path), "--since", "2026-12-04T06:00:01Z"])
    assert text.exit_code == 0 and "no events" in text.stdout
    shown = CliRunner().invoke(main, ["events", "--state", str(tmp_path)])
    assert "\x1b" not in shown.stdout and "Host \\x1b[31m moved" in shown.stdout
    bad = CliRunner().invoke(main, ["events", "--state", str(tmp_path), "--since", "yesterday"])
    assert bad.exit_code == 2 and "ISO 8601" in bad.output

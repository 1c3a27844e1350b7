"""doctor's recent-changes finding: the deploys of the state directory's event store within --since,
ranked first when the logs show failures after the deploy's switch (issue 13)."""
from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from tests.diagnose.test_doctor_logs import MINUTE, doctor, traffic, write_access, write_config
from vhostguard.incidents import EventStore, deploy_events

MOVE = ("api.example.test was served by api.example.test (120 requests before the switch), "
        "now by default.invalid (40 of its 40 requests since)")


def at(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def record_deploy(state: Path, ident: str, switched: float, rolled_back: float | None) -> None:
    document = {
        "id": ident, "kind": "deploy", "started_at": at(switched - 5), "switch": {"at": at(switched), "from": "a", "to": "b"},
        "reload": {"at": at(switched + 0.5), "serving_after_s": 0.5},
        "verify": {"status": "fail" if rolled_back else "pass", "window_s": 30.0,
                   "failures": [{"kind": "host-moved", "summary": MOVE, "evidence": []}] if rolled_back else []},
        "outcome": "rolled-back" if rolled_back else "deployed", "finished_at": at((rolled_back or switched) + 1)}
    if rolled_back:
        document["rollback"] = {"at": at(rolled_back), "reason": "verification failed: host-moved", "verified": True}
    with EventStore(str(state)) as store:
        store.append(deploy_events(document))


def failing_logs(tmp_path: Path, since: float) -> Path:
    conf = write_config(tmp_path)
    write_access(conf, traffic(time.time(), 90, 20,
                               lambda when, path: 502 if when >= since and path.startswith("/v1/orders/") else 200))
    return conf


def test_deploy_before_the_failures_ranks_first_naming_the_deploy_and_the_misroute(tmp_path: Path) -> None:
    now = time.time()
    switched = now - 10 * MINUTE
    conf = failing_logs(tmp_path, switched)
    state = tmp_path / "state"
    record_deploy(state, "20261204T120000Z-4242", switched, now - 9 * MINUTE)

    code, doc = doctor(conf, "--state", str(state))

    assert code == 1
    first = doc["findings"][0]
    assert first["check"] == "changes" and first["kind"] == "deploy-suspect"
    assert first["summary"].startswith(f"deploy 20261204T120000Z-4242 switched the config at {at(switched)}")
    assert f"rolled back at {at(now - 9 * MINUTE)}" in first["summary"]
    assert "api.example.test was served by api.example.test" in first["summary"]
    assert "now by default.invalid" in first["summary"]
    assert "vhostguard deploy history" in first["next"]
    assert f"vhostguard postmortem --since {at(switched)}" in first["next"]
    assert "vhostguard rollback" not in first["next"]  # already rolled back
    assert any(f["kind"] == "errors-burst" for f in doc["findings"][1:])


def test_deploy_not_rolled_back_is_told_how_to_roll_back(tmp_path: Path) -> None:
    now = time.time()
    conf = failing_logs(tmp_path, now - 10 * MINUTE)
    state = tmp_path / "state"
    record_deploy(state, "d-7", now - 11 * MINUTE, None)

    _, doc = doctor(conf, "--state", str(state))

    first = doc["findings"][0]
    assert first["kind"] == "deploy-suspect"
    assert f"vhostguard rollback d-7 --state {state}" in first["next"]


def test_deploy_outside_since_is_not_mentioned(tmp_path: Path) -> None:
    now = time.time()
    conf = failing_logs(tmp_path, now - 10 * MINUTE)
    state = tmp_path / "state"
    record_deploy(state, "old-1", now - 45 * MINUTE, now - 44 * MINUTE)

    _, doc = doctor(conf, "--state", str(state), "--since", "30m")

    assert doc["findings"][0]["check"] != "changes"
    assert any(f["kind"] == "errors-burst" for f in doc["findings"])
    assert not any("old-1" in f["summary"] for f in doc["findings"])
    assert "changes" not in [c["name"] for c in doc["checks"]]


def test_deploy_without_failures_is_info_not_the_cause(tmp_path: Path) -> None:
    now = time.time()
    conf = write_config(tmp_path)
    write_access(conf, traffic(now, 90, 20))
    state = tmp_path / "state"
    record_deploy(state, "calm-1", now - 5 * MINUTE, None)

    _, doc = doctor(conf, "--state", str(state))

    [change] = [f for f in doc["findings"] if f["check"] == "changes"]
    assert change["kind"] == "recent-change" and change["severity"] == "info"
    assert "calm-1" in change["summary"]


def test_no_state_directory_no_finding_no_error(tmp_path: Path) -> None:
    now = time.time()
    conf = failing_logs(tmp_path, now - 10 * MINUTE)
    missing = tmp_path / "no-state"

    _, doc = doctor(conf, "--state", str(missing))

    assert not any(f["check"] == "changes" for f in doc["findings"])
    assert any(f["kind"] == "errors-burst" for f in doc["findings"])

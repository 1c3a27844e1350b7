"""The watch checkpoint: a document of the wrong shape is set aside, never fatal; log names that are not UTF-8."""
from __future__ import annotations

import base64
import copy
import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.monitor.watchkit import T0, Recorder, append, line, traffic, watcher
from vhostguard.monitor.clock import ManualClock
from vhostguard.monitor.rules import parse_rules
from vhostguard.monitor.state import (
    StateInvalid, StateStore, check_document, decode_path, encode_path, state_name,
)
from vhostguard.monitor.watch import Watch


RULES = parse_rules()  # parsed once: the many restarts below would spend most of their time in YAML


def counted(watch: Watch) -> int:
    return sum(int(slots[0]) for slots in watch.metrics.series.values())


def checkpoint_of(tmp_path: Path) -> tuple[Path, Path, Path, dict[str, Any]]:
    """A real checkpoint: a log with an outage (a firing alert, fine windows, series), an error log."""
    log, errors, state = tmp_path / "access.log", tmp_path / "error.log", tmp_path / "state"
    append(log, traffic(T0, 20, 2, "/v1/users/1", 200) + traffic(T0 + 20, 30, 2, "/v1/orders/7", 503))
    append(errors, ["[Tue Nov 14 22:13:45.000001 2023] [proxy:error] [pid 1:tid 2] AH00940: failed\n"])
    run = watcher([log], ManualClock(T0 + 50), Recorder(), state=state, error_logs=[errors])
    run.run(once=True)
    run.close()
    assert run.book.firing(), "the fixture should hold a firing alert"
    path = state / state_name([str(log), str(errors)])
    document = json.loads(path.read_text())
    check_document(document)  # what this version writes passes its own check
    return log, errors, path, document


def restart(log: Path, errors: Path, path: Path, document: Any) -> tuple[Watch, list[str]]:
    """Write ``document`` as the checkpoint and start a watcher on it: it must start, whatever it holds."""
    path.write_text(json.dumps(document))
    notes: list[str] = []
    run = watcher([log], ManualClock(T0 + 60), Recorder(), state=path.parent, error_logs=[errors], from_start=False,
                  report=notes.append, gc="default", rules=RULES)
    return run, notes


def abandon(run: Watch) -> None:
    """Stop without the final checkpoint (its fsyncs would make the many cases below slow)."""
    for item in run.inputs:
        item.follower.close()
    for follower in run.error_inputs:
        follower.close()
    assert run._store is not None
    run._store.unlock()


def set_aside(path: Path, notes: list[str]) -> bool:
    return Path(str(path) + ".unreadable").exists() and any("starting afresh" in n for n in notes)


def bad_slots() -> list[str]:
    return ["!!not base64!!", base64.b64encode(b"not zlib").decode(),
            base64.b64encode(zlib.compress(b"\x01\x02\x03")).decode()]  # zlib of 3 bytes: not whole slots


NAMED: list[tuple[str, Any]] = [
    ("string offset", lambda d, log: d["logs"][str(log)][0].__setitem__("offset", "12")),
    ("negative offset", lambda d, log: d["logs"][str(log)][0].__setitem__("offset", -5)),
    ("offset beyond 64 bits", lambda d, log: d["logs"][str(log)][0].__setitem__("offset", 1 << 70)),
    ("boolean inode", lambda d, log: d["logs"][str(log)][0].__setitem__("inode", True)),
    ("fractional line", lambda d, log: d["logs"][str(log)][0].__setitem__("line", 1.5)),
    ("head hash not hex", lambda d, log: d["logs"][str(log)][0].__setitem__("head", "zz")),
    ("clock yesterday", lambda d, log: d.__setitem__("clock", "yesterday")),
    ("log time yesterday", lambda d, log: d["clock"].__setitem__("log_time", "yesterday")),
    ("log time infinite", lambda d, log: d["clock"].__setitem__("log_time", float("inf"))),
    ("bad base64 slots", lambda d, log: d["windows"].__setitem__("key_slots", bad_slots()[0])),
    ("bad zlib slots", lambda d, log: d["metrics"].__setitem__("slots", bad_slots()[1])),
    ("slots of no whole number", lambda d, log: d["windows"].__setitem__("site_slots", bad_slots()[2])),
    ("slots for fewer keys", lambda d, log: d["windows"].__setitem__("keys", d["windows"]["keys"] + [["a", "b", "c"]])),
    ("nested lists in stats", lambda d, log: d["stats"].__setitem__(str(log), [[1, 2, 3]])),
    ("positions as an object", lambda d, log: d["logs"].__setitem__(str(log), {"offset": 1})),
    ("a relative log path", lambda d, log: d["logs"].__setitem__("access.log", [])),
    ("alert started as text", lambda d, log: d["alerts"][0].__setitem__("started", "now")),
    ("alert of another state", lambda d, log: d["alerts"][0].__setitem__("state", "resolved")),
    ("next_due as a list", lambda d, log: d.__setitem__("next_due", [["endpoint-broken", 1]])),
    ("an unknown key", lambda d, log: d.__setitem__("extra", 1)),
    ("a missing key", lambda d, log: d.pop("windows")),
]


@pytest.mark.parametrize("mutate", [m for _, m in NAMED], ids=[name for name, _ in NAMED])
def test_a_checkpoint_of_the_wrong_shape_is_set_aside_and_the_watcher_starts(tmp_path: Path, mutate: Any) -> None:
    log, errors, path, document = checkpoint_of(tmp_path)
    mutate(document, log)
    with pytest.raises(StateInvalid):
        check_document(document)
    run, notes = restart(log, errors, path, document)
    assert set_aside(path, notes), notes
    assert not run.book.firing() and counted(run) == 0  # counting starts afresh, as with broken JSON
    run.run(once=True)
    append(log, [line(T0 + 70)])
    run.run(once=True)
    run.close()
    assert counted(run) == 1
    check_document(json.loads(path.read_text()))  # and the next checkpoint is whole again


WRONG_VALUES: list[Any] = ["yesterday", -1, 2.5, True, None, [[1, 2]], {"x": [1]}, 1e308, 1 << 70]


def mutations(node: Any, trail: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (place, wrong value) of a document: each value and each key replaced in turn."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from (((*trail, key), wrong) for wrong in WRONG_VALUES)
            yield (*trail, key), ("rename", "/elsewhere" if key.startswith("/") else key + "x")
            yield from mutations(value, (*trail, key))
    elif isinstance(node, list):
        for index, value in enumerate(node[:1]):
            yield from (((*trail, index), wrong) for wrong in WRONG_VALUES)
            yield from mutations(value, (*trail, index))


def mutated(document: dict[str, Any], place: tuple[Any, ...], wrong: Any) -> dict[str, Any]:
    result = copy.deepcopy(document)
    parent = result
    for step in place[:-1]:
        parent = parent[step]
    if isinstance(wrong, tuple) and wrong[0] == "rename":
        parent[wrong[1]] = parent.pop(place[-1])
    else:
        parent[place[-1]] = wrong
    return result


def test_no_type_mutation_of_a_checkpoint_stops_the_watcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log, errors, path, document = checkpoint_of(tmp_path)
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # shapes are tested here, not durability: faster
    cases = list(mutations(document))
    assert len(cases) > 300
    aside = 0
    for place, wrong in cases:
        candidate = mutated(document, place, wrong)
        try:
            check_document(candidate)
            valid = True
        except StateInvalid:
            valid = False
        run, notes = restart(log, errors, path, candidate)
        try:
            run.run(once=True)  # what was restored is used: evaluating, publishing
            run.checkpoint()
        finally:
            abandon(run)
        was_set_aside = set_aside(path, notes)
        assert was_set_aside != valid, (place, wrong, notes)
        if was_set_aside:
            aside += 1
            os.remove(str(path) + ".unreadable")
        check_document(json.loads(path.read_text()))  # what it saves is whole
    assert aside > 0.8 * len(cases)  # some replacements are valid (null where null may be, any "observed")


def test_a_checkpoint_with_slots_that_do_not_fit_the_windows_is_set_aside(tmp_path: Path) -> None:
    """Shapes the generic check cannot know (slots per key of the current layout) fail at restore: set aside too."""
    log, errors, path, document = checkpoint_of(tmp_path)
    from vhostguard.monitor.windows import pack
    from array import array
    keys = document["windows"]["keys"]
    document["windows"]["key_slots"] = pack(array("q", [0, 0]) for _ in keys)
    check_document(document)
    run, notes = restart(log, errors, path, document)
    run.close()
    assert set_aside(path, notes) and "cannot be restored" in " ".join(notes)


# -- log names that are not UTF-8 ------------------------------------------------------------

def test_paths_that_are_not_utf8_are_stored_losslessly() -> None:
    for path in ["/var/log/a.log", "/var/log/caf\u00e9.log", os.fsdecode(b"/var/log/acc\xffess.log"),
                 os.fsdecode(b"/l/\xc3\x28\x80.log")]:
        stored = encode_path(path)
        stored.encode("utf-8")  # JSON text, as is
        assert decode_path(stored) == path and os.fsencode(decode_path(stored)) == os.fsencode(path)
    assert encode_path("/var/log/a.log") == "/var/log/a.log"  # readable when it can be
    assert encode_path(os.fsdecode(b"/x/\xff")).startswith("fsb64:")
    with pytest.raises(StateInvalid):
        decode_path("fsb64:@@@")


def test_a_log_name_that_is_not_utf8_checkpoints_and_resumes(tmp_path: Path) -> None:
    log = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"access-\xff\xfe.log")))
    state = tmp_path / "state"
    append(log, [line(T0 + i // 10, f"/v1/items/{i}") for i in range(100)])
    first = watcher([log], ManualClock(T0 + 30), Recorder(), state=state)
    first.run(once=True)
    first.close()
    document = json.loads((state / state_name([str(log)])).read_text())
    [key] = document["logs"]
    assert decode_path(key) == str(log)
    append(log, [line(T0 + 20, f"/v1/items/{i}") for i in range(100, 150)])
    second = watcher([log], ManualClock(T0 + 30), Recorder(), state=state, from_start=False)
    second.run(once=True)
    assert counted(second) == 150  # found again: resumed, neither lost nor counted twice
    assert second.summary().logs[0][1:3] == (150, 0)
    second.close()


def test_a_store_that_reads_a_checkpoint_of_the_wrong_shape_sets_it_aside(tmp_path: Path) -> None:
    (tmp_path / "w.json").write_text(json.dumps({"version": 1, "clock": "yesterday"}))
    store = StateStore(str(tmp_path), "w.json")
    assert store.load() is None
    assert "not a checkpoint this version writes" in store.notes[0] and (tmp_path / "w.json.unreadable").exists()

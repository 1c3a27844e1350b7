"""kill -9 at every step of a conversion and of a deploy (prepare + switch), then recovery.

The child process runs the real library with $VHOSTGUARD_TEST_CRASH_AT naming one point; the hook
SIGKILLs it there. After each crash the live path must resolve to one complete tree (the old or the
new, never a mix), except inside the one documented window of the two-rename conversion; after
``recover`` it must be a slot symlink to a complete tree, with no leftovers and nothing unfinished
in the journal, and the next deploy must work.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import build_debian_tree, listing
from vhostguard.deploy import (
    CRASH_ENV, Journal, content_hash, convert, inspect, prepare_idle, recover, switch,
)

CHILD = """
import sys
from vhostguard.deploy import Journal, content_hash, convert, inspect, new_deploy_id, prepare_idle, switch
from vhostguard.deploy import slots
live, state, candidate, phase = sys.argv[1:]
if phase == "convert-two-renames":
    slots._can_exchange = lambda live: False  # the fallback sequence, as on a filesystem without it
with Journal(state) as journal:
    deploy_id = new_deploy_id()
    journal.begin(deploy_id, live, content_hash(candidate))
    log = journal.recorder(deploy_id)
    if phase.startswith("convert"):
        convert(live, log=log)
    else:
        idle = inspect(live).idle_slot
        prepare_idle(live, candidate, log=log)
        switch(live, idle, log=log)
    journal.finish(deploy_id, "deployed")
"""

CONVERT_STEPS = ["convert-copy", "convert-place", "convert-link", "convert-exchange", "convert-backup"]
TWO_RENAME_STEPS = ["convert-copy", "convert-place", "convert-link", "convert-backup", "convert-swap"]
DEPLOY_STEPS = ["prepare-copy", "prepare-set-aside", "prepare-place", "prepare-discard", "switch-link",
                "switch-replace"]


def _points(steps: list[str]) -> list[str]:
    return ["copy-file"] + [f"{step}:{when}" for step in steps for when in ("before", "after")]


CASES = ([("convert", p) for p in _points(CONVERT_STEPS)]
         + [("convert-two-renames", p) for p in _points(TWO_RENAME_STEPS)]
         + [("deploy", p) for p in _points(DEPLOY_STEPS)])
# The one instant the live path may be absent: the two-rename conversion between its renames.
WINDOW = {("convert-two-renames", "convert-backup:after"), ("convert-two-renames", "convert-swap:before")}
LEFTOVERS = (".partial", ".old", ".vhostguard-link", ".vhostguard-swap", "-a", "-b")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The small tree: 36 crashes copy it several times each; test_slots converts the real one.
    return build_debian_tree(tmp_path_factory.mktemp("template") / "apache2", system=False)


@pytest.mark.parametrize(("phase", "point"), CASES, ids=[f"{p}-{c}" for p, c in CASES])
def test_kill_at_every_step_then_recover(tmp_path: Path, template: Path, phase: str, point: str) -> None:
    live, state = tmp_path / "etc" / "apache2", tmp_path / "state"
    live.parent.mkdir()
    shutil.copytree(template, live, symlinks=True)
    old_hash = content_hash(str(live))
    if phase == "deploy":
        # A converted layout whose idle slot exists, so the deploy goes through every step.
        convert(str(live))
        first = tmp_path / "first"
        shutil.copytree(live, first, symlinks=True)
        (first / "ports.conf").write_text("Listen 8080\n")
        prepare_idle(str(live), str(first))
        switch(str(live), "green")
        old_hash = content_hash(str(live))
    candidate = tmp_path / "candidate"
    shutil.copytree(live, candidate, symlinks=True)
    (candidate / "sites-available" / "shop.conf").write_text("# the candidate\n")
    new_hash = content_hash(str(candidate)) if phase == "deploy" else old_hash

    env = dict(os.environ, **{CRASH_ENV: point})
    child = subprocess.run([sys.executable, "-c", CHILD, str(live), str(state), str(candidate), phase],
                           env=env, capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr

    if (phase, point) in WINDOW:
        assert not os.path.lexists(live)
    else:
        assert os.path.isdir(live) and content_hash(str(live)) in {old_hash, new_hash}

    with Journal(str(state)) as journal:
        assert len(journal.unfinished()) == 1
        recovery = recover(str(live), journal)
        assert len(recovery.closed) == 1
        assert journal.unfinished() == []
        (closed,) = journal.history()[:1]
        assert closed.outcome == "failed"
        repairs = {s.name for s in closed.steps if s.name.startswith("recover-")}
        assert repairs == {s.name for s in recovery.steps}  # each repair journaled
        assert all(s.result_at is not None for s in closed.steps if s.name.startswith("recover-"))
    layout = inspect(str(live))
    assert content_hash(str(live)) in {old_hash, new_hash}
    siblings = sorted(p.name for p in live.parent.iterdir())
    assert not [name for name in siblings if name.endswith(LEFTOVERS)], siblings
    backups = [n for n in siblings if n.startswith("apache2.backup-")]
    if layout.kind == "plain":
        # A conversion that had not swapped yet is reverted: the directory as it was, no slot, no backup.
        assert phase.startswith("convert") and siblings == ["apache2"]
        convert(str(live))
        layout = inspect(str(live))
    elif phase.startswith("convert"):
        # Completed: the original directory kept once, whole.
        assert len(backups) == 1 and content_hash(str(live.parent / backups[0])) == old_hash

    # Consistent means usable: the next deploy goes through.
    assert layout.idle_slot is not None
    prepare_idle(str(live), str(candidate))
    switch(str(live), layout.idle_slot)
    assert content_hash(str(live)) == content_hash(str(candidate))


def test_recover_dry_run_says_what_it_would_do_and_changes_nothing(tmp_path: Path, template: Path) -> None:
    live, state = tmp_path / "etc" / "apache2", tmp_path / "state"
    live.parent.mkdir()
    shutil.copytree(template, live, symlinks=True)
    env = dict(os.environ, **{CRASH_ENV: "convert-exchange:after"})
    child = subprocess.run([sys.executable, "-c", CHILD, str(live), str(state), str(live), "convert"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    before = listing(tmp_path / "etc")
    with Journal(str(state)) as journal:
        recovery = recover(str(live), journal, dry_run=True)
        assert [s.name for s in recovery.steps] == ["recover-complete-convert"]
        assert not recovery.steps[0].done
        assert len(journal.unfinished()) == 1  # still there: a dry run closes nothing
    assert listing(tmp_path / "etc") == before


RECOVER_CHILD = """
import sys
from vhostguard.deploy import Journal, recover
with Journal(sys.argv[2]) as journal:
    recover(sys.argv[1], journal)
"""


@pytest.mark.parametrize("point", ["recover-complete-convert:before", "recover-complete-convert:after"])
def test_recovery_killed_in_turn_is_recovered_by_the_next(tmp_path: Path, template: Path, point: str) -> None:
    live, state = tmp_path / "etc" / "apache2", tmp_path / "state"
    live.parent.mkdir()
    shutil.copytree(template, live, symlinks=True)
    old_hash = content_hash(str(live))
    runs = ((CHILD, [str(live), str(state), str(live), "convert-two-renames"], "convert-backup:after"),
            (RECOVER_CHILD, [str(live), str(state)], point))
    for script, argv, crash in runs:
        child = subprocess.run([sys.executable, "-c", script, *argv], env=dict(os.environ, **{CRASH_ENV: crash}),
                               capture_output=True, text=True, timeout=120)
        assert child.returncode == -signal.SIGKILL, child.stderr
    with Journal(str(state)) as journal:
        recovery = recover(str(live), journal)
        assert len(recovery.closed) == 1 and journal.unfinished() == []
        steps = journal.history()[0].steps
        repairs = [(s.name, s.result_at is not None) for s in steps if s.name.startswith("recover-")]
        # Killed before its rename: its intent stays unfinished and the next recovery does the rename;
        # killed after: the rename is journaled done and the next one has nothing left to do.
        killed_before = [("recover-complete-convert", False), ("recover-complete-convert", True)]
        assert repairs == (killed_before if point.endswith(":before") else [("recover-complete-convert", True)])
    assert inspect(str(live)).live_slot == "blue" and content_hash(str(live)) == old_hash


def test_recover_with_nothing_to_do_changes_nothing(tmp_path: Path, template: Path) -> None:
    live = tmp_path / "apache2"
    shutil.copytree(template, live, symlinks=True)
    convert(str(live))
    with Journal(str(tmp_path / "state")) as journal:
        recovery = recover(str(live), journal)
    assert (recovery.closed, recovery.steps, recovery.layout.live_slot) == ((), (), "blue")

"""After a crash: put the slots back in a consistent state and close the unfinished deploys in the journal.

What each leftover means follows from the order of the steps in slots.py (each rename is atomic, and a
slot's final name exists only when its tree is complete):

- live path missing: the non-atomic conversion died between its two renames; the prepared link is
  renamed into place (the conversion is completed: its blue slot is complete, since it was placed first);
- ``<live>.vhostguard-link`` a directory: the conversion's exchange happened, the old tree is moved to
  its backup name (completed);
- ``<live>.vhostguard-link`` a symlink: a conversion or switch that did not reach its rename; removed (the
  switch did not happen: reverted);
- live still a plain directory with a blue slot made by the unfinished deploy: removed (reverted);
- ``<slot>.partial``: an idle slot being written; removed; ``<slot>.old``: the previous idle tree, put back
  when the new one did not reach its place, else removed.

The caller holds the deploy lock. The live symlink is never changed here except to complete a
conversion: whichever complete slot it points at stays live (a reload decides what httpd serves).
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from vhostguard.deploy.journal import DeployRecord, Journal
from vhostguard.deploy.slots import (
    LINK_SUFFIX, OLD_SUFFIX, PARTIAL_SUFFIX, SLOTS, Layout, SlotError, Step, StepLog, _NoLog, _rename_durably, _Runner, _strip,
    backup_name, inspect, slot_dir,
)

RECOVERED_OUTCOME = "failed"  # the contract's word for a deploy that did not complete


@dataclass(frozen=True)
class Recovery:
    """What ``recover`` found and did: the deploys it closed (dry run: would close), the repair steps, the layout after."""

    closed: tuple[str, ...]
    steps: tuple[Step, ...]
    layout: Layout


def recover(live_dir: str, journal: Journal, *, dry_run: bool = False) -> Recovery:
    """Make ``live_dir`` resolve to a complete slot again and mark every unfinished deploy on it failed.
    Repair steps are journaled under the newest unfinished deploy. Raises SlotError when no complete
    tree can be found for the live path (nothing is guessed)."""
    live = _strip(live_dir)
    unfinished = [d for d in journal.unfinished() if d.live_dir == live]
    log: StepLog = journal.recorder(unfinished[-1].id) if unfinished else _NoLog()
    run = _Runner(log, dry_run)
    _repair_live(live, unfinished, run)
    _repair_idle(live, run)
    layout = inspect(live) if not dry_run else _peek(live)
    if not dry_run:
        for deploy in unfinished:
            journal.finish(deploy.id, RECOVERED_OUTCOME)
    return Recovery(tuple(d.id for d in unfinished), tuple(run.steps), layout)


def _peek(live: str) -> Layout:
    try:
        return inspect(live)
    except SlotError:  # in a dry run the live path may still be missing: say what it will be
        return Layout(live, "slots", "blue", "green", os.path.isdir(slot_dir(live, "green")))


def _journaled_backup(deploys: list[DeployRecord], live: str) -> str:
    """The backup name the interrupted conversion chose (its convert-backup step), else a new one."""
    for deploy in reversed(deploys):
        for step in deploy.steps:
            if step.name == "convert-backup" and len(step.paths) == 2:
                return step.paths[1]
    return backup_name(live)


def _started_conversion(deploys: list[DeployRecord]) -> bool:
    return any(step.name == "convert-copy" for deploy in deploys for step in deploy.steps)


def _repair_live(live: str, deploys: list[DeployRecord], run: _Runner) -> None:
    link = live + LINK_SUFFIX
    blue = slot_dir(live, "blue")
    if not os.path.lexists(live):
        if os.path.islink(link) and os.path.isdir(os.path.join(os.path.dirname(live), os.readlink(link))):
            run.run(Step("recover-complete-convert", f"rename {link} to {live}", (link, live)),
                    lambda: _rename_durably(link, live))
            return
        backup = _journaled_backup(deploys, live)
        if os.path.isdir(backup):
            run.run(Step("recover-revert-convert", f"rename {backup} back to {live}", (backup, live)),
                    lambda: _rename_durably(backup, live))
            return
        raise SlotError(f"{live}: missing, and neither {link} nor {backup} can replace it; restore it by hand")
    if os.path.isdir(link) and not os.path.islink(link):
        backup = _journaled_backup(deploys, live)
        run.run(Step("recover-complete-convert", f"rename {link} (the old directory) to {backup}", (link, backup)),
                lambda: _rename_durably(link, backup))
    elif os.path.islink(link):
        run.run(Step("recover-revert-link", f"remove the unused symlink {link}", (link,)), lambda: os.unlink(link))
    if os.path.isdir(live) and not os.path.islink(live):
        if os.path.lexists(blue + PARTIAL_SUFFIX):
            run.run(Step("recover-revert-convert", f"remove {blue + PARTIAL_SUFFIX}", (blue + PARTIAL_SUFFIX,)),
                    lambda: shutil.rmtree(blue + PARTIAL_SUFFIX))
        if os.path.isdir(blue) and _started_conversion(deploys):
            run.run(Step("recover-revert-convert", f"remove {blue} (the conversion did not finish)", (blue,)),
                    lambda: shutil.rmtree(blue))


def _repair_idle(live: str, run: _Runner) -> None:
    for slot in SLOTS:
        final = slot_dir(live, slot)
        partial, old = final + PARTIAL_SUFFIX, final + OLD_SUFFIX
        if os.path.lexists(partial) and os.path.islink(live):
            run.run(Step("recover-revert-prepare", f"remove {partial}", (partial,)),
                    lambda p=partial: shutil.rmtree(p))  # type: ignore[misc]
        if os.path.isdir(old):
            if os.path.isdir(final):
                run.run(Step("recover-complete-prepare", f"remove {old}", (old,)),
                        lambda o=old: shutil.rmtree(o))  # type: ignore[misc]
            else:
                run.run(Step("recover-revert-prepare", f"rename {old} back to {final}", (old, final)),
                        lambda o=old, f=final: _rename_durably(o, f))  # type: ignore[misc]

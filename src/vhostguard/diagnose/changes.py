"""Recent changes: the deploys and rollbacks that switched the config within doctor's window.

doctor does not read the event store itself (it sits below deploy and incidents): the CLI hands it
each change as plain data. A change whose switch came before the failures doctor sees is the
likeliest cause of them: what changed just before something broke is read first.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from vhostguard.diagnose.context import iso
from vhostguard.diagnose.findings import Finding, RecentChange, Severity

# What the logs and probes show failing within --since: the requests a change in the window can explain
# (a server down or a config apache2 rejects are their own causes, whatever was deployed).
WINDOW_FAILURES = frozenset({"host-misrouted", "route-mismatch", "errors-burst", "not-found-burst", "error-logged"})


def change_findings(changes: Iterable[RecentChange], failing: Sequence[Finding], window_start: float,
                    state_option: str = "") -> tuple[Finding, ...]:
    """One finding per change switched at or after ``window_start``. When doctor found failures
    in the window (``failing``: its findings; those of ``WINDOW_FAILURES`` count) the changes are their suspected cause
    (``deploy-suspect``, ranked first); otherwise worth knowing only (``recent-change``)."""
    suspect = any(f.kind in WINDOW_FAILURES and f.severity >= Severity.WARNING for f in failing)
    found = []
    for change in sorted(changes, key=lambda c: c.switched_at, reverse=True):
        if change.switched_at < window_start:
            continue
        found.append(_finding(change, suspect, failing, state_option))
    return tuple(found)


def _finding(change: RecentChange, suspect: bool, failing: Sequence[Finding], state_option: str) -> Finding:
    what = f"{change.kind} {change.id} switched the config at {iso(change.switched_at)}"
    if change.rolled_back_at is not None:
        what += f", rolled back at {iso(change.rolled_back_at)}"
        if change.failures or change.reason:
            what += f" because: {change.failures[0] if change.failures else change.reason}"
    misrouted = [f for f in failing if f.kind == "host-misrouted"]
    evidence = [f"verify: {failure}" for failure in change.failures]
    if change.reason:
        evidence.append(f"rollback: {change.reason}")
    evidence += [f"doctor: {f.summary}" for f in misrouted]
    commands = [f"vhostguard deploy history{state_option}"]
    if change.rolled_back_at is None and change.kind == "deploy":
        commands.append(f"vhostguard rollback {change.id}{state_option}")
    commands.append(f"vhostguard postmortem --since {iso(change.switched_at)}{state_option}")
    if suspect:
        cause = (f"the failures doctor sees in the window came after {change.kind} {change.id} switched the config: "
                 "what changed just before something broke is the first suspect"
                 + ("; it was rolled back, so what failed until then is its doing" if change.rolled_back_at else ""))
    else:
        cause = f"{change.kind} {change.id} changed the live config within the window"
    return Finding("changes", "deploy-suspect" if suspect else "recent-change",
                   Severity.WARNING if suspect else Severity.INFO, what, cause, tuple(evidence),
                   next="; ".join(commands))

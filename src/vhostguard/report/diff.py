"""``vhostguard diff`` reports: grouped changes as text and JSON (docs/contract.md)."""
from __future__ import annotations

from typing import Any

from vhostguard.checks import DiffResult, Group, Side
from vhostguard.report.words import plural

SCHEMA = 1


def _side_text(side: Side) -> str:
    outcome = side.kind + (f" {side.status}" if side.status is not None else "") + (f" -> {side.target}" if side.target else "")
    decided = f" [{side.directive}]" if side.directive else ""
    where = f"{side.vhost} on {side.address_set}" if side.address_set else f"{side.vhost} (main server)"
    return f"{where}: {outcome}{decided}"


def diff_text(result: DiffResult, allowed: set[int] | None = None) -> str:
    allowed = allowed or set()
    lines = []
    groups = result.ordered_groups()
    for number, group in enumerate(groups, 1):
        share = group.count / result.requests if result.requests else 0.0
        note = "  (allowed)" if id(group) in allowed else ""
        lines.append(f"{number}. {plural(group.count, 'request')} ({share:.1%}){note}")
        lines.append(f"   old: {_side_text(group.old)}")
        lines.append(f"   new: {_side_text(group.new)}")
        for example in group.examples:
            lines.append(f"   e.g. {example}")
    changed_share = result.changed / result.requests if result.requests else 0.0
    lines.append(
        f"{plural(result.requests, 'request')} replayed, {result.changed:,} changed ({changed_share:.1%}) "
        f"in {plural(len(groups), 'group')}"
        + (f", {result.skipped} skipped (no Host)" if result.skipped else "")
    )
    return "\n".join(lines) + "\n"


def _group_json(group: Group, allowed: bool) -> dict[str, Any]:
    return {"count": group.count, "examples": list(group.examples), "old": group.old.as_dict(),
            "new": group.new.as_dict(), "allowed": allowed}


def diff_json(result: DiffResult, allowed: set[int] | None = None) -> dict[str, Any]:
    allowed = allowed or set()
    return {
        "schema": SCHEMA,
        "requests": result.requests,
        "changed": result.changed,
        "skipped": result.skipped,
        "groups": [_group_json(g, id(g) in allowed) for g in result.ordered_groups()],
    }

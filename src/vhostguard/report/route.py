"""``route`` / ``explain``: one line, every step, and the docs/contract.md JSON."""
from __future__ import annotations

from typing import Any

from vhostguard.checks import Comparison
from vhostguard.report.words import printable, printable_json
from vhostguard.routing import Decision

SCHEMA = 1


def decision_json(decision: Decision) -> dict[str, Any]:
    request = decision.request
    server = decision.server
    outcome = decision.outcome
    directive = outcome.directive
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "request": {
            "method": request.method, "scheme": request.scheme, "host": request.hostname,
            "port": request.port, "path": request.path, "query": request.query,
            "local_ip": request.local_ip,
        },
        "vhost": None if outcome.kind == "refused" else {  # refused: the connection reaches no server
            "id": server.id, "server_name": server.server_name,
            "file": server.source.file if server.source else None,
            "line": server.source.line if server.source else None,
        },
        "outcome": {
            "kind": outcome.kind, "status": outcome.status, "target": outcome.target,
            "directive": (
                {"name": directive.name, "file": directive.source.file, "line": directive.source.line}
                if directive is not None else None
            ),
        },
        "certain": decision.certain,
        "uncertain_reasons": list(decision.uncertain_reasons),
        "steps": [
            {"stage": s.stage, "detail": s.detail,
             "file": s.source.file if s.source else None, "line": s.source.line if s.source else None}
            for s in decision.steps
        ],
    }
    if outcome.members:
        document["outcome"]["members"] = list(outcome.members)
    if outcome.reason:
        document["outcome"]["reason"] = outcome.reason
    return printable_json(document)  # type: ignore[no-any-return]


def _vhost_label(decision: Decision) -> str:
    if decision.outcome.kind == "refused":
        return "no server (connection refused)"
    server = decision.server
    return f"{server.server_name} ({server.id})" if server.id else f"{server.server_name} (main server)"


def _outcome_label(decision: Decision) -> str:
    outcome = decision.outcome
    parts = [outcome.kind]
    if outcome.status is not None:
        parts.append(str(outcome.status))
    if outcome.target:
        parts.append(f"-> {outcome.target}")
    if outcome.members:
        parts.append(f"[members: {', '.join(outcome.members)}]")
    if outcome.kind == "refused" and outcome.reason:
        parts.append(f"({outcome.reason})")
    return " ".join(parts)


def route_line(decision: Decision) -> str:
    line = f"{decision.request.url}  {_vhost_label(decision)}  {_outcome_label(decision)}"
    if not decision.certain:
        line += "  (uncertain: " + "; ".join(decision.uncertain_reasons) + ")"
    return printable(line)


def explain_text(decision: Decision) -> str:
    lines = [f"{decision.request.method} {decision.request.url}"]
    for number, step in enumerate(decision.steps, 1):
        where = f"  [{step.source}]" if step.source else ""
        lines.append(f"  {number}. {step.stage:<8} {step.detail}{where}")
    directive = decision.outcome.directive
    decided = f" (decided at {directive.source})" if directive is not None else ""
    lines.append(f"=> {_vhost_label(decision)}: {_outcome_label(decision)}{decided}")
    if decision.outcome.reason:
        lines.append(f"   reason: {decision.outcome.reason}")
    for reason in decision.uncertain_reasons:
        lines.append(f"   uncertain: {reason}")
    return "\n".join(printable(line) for line in lines) + "\n"


def live_json(comparison: Comparison) -> dict[str, Any]:
    return {
        "agree": comparison.agree,
        "vhost": comparison.live_vhost,
        "outcome": {"kind": comparison.live.kind, "status": comparison.live.status, "target": comparison.live.target},
        "differences": comparison.differences(),
    }


def live_text(comparison: Comparison) -> str:
    where = comparison.live_vhost or ("main server" if comparison.vhost_known else "before vhost selection")
    lines = [f"live apache2: {where}: {comparison.live}"]
    if comparison.agree:
        lines.append("live and offline agree")
    else:
        lines.extend(f"DIFFERS {item}" for item in comparison.differences())
    return "\n".join(lines) + "\n"

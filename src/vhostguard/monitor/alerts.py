"""Alerts: what a rule finding becomes once it starts holding, and until it stops.

:class:`AlertBook` keeps the firing alerts; ``apply`` compares a rule's
findings with them and returns the transitions (new firing alerts, resolved
ones). The JSON shape is docs/contract.md's (``watch``).
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, UTC
from typing import Any

from vhostguard.monitor.rules import AlertKey, Finding

SCHEMA = 1
FIRING = "firing"
RESOLVED = "resolved"


def iso(epoch: float) -> str:
    """Epoch seconds as ISO 8601 in UTC (``2024-01-21T15:00:00+00:00``)."""
    return datetime.fromtimestamp(round(epoch, 3), UTC).isoformat()


@dataclass(frozen=True)
class Alert:
    """One alert in one state. ``started``/``resolved`` are log-clock epoch seconds."""

    id: str
    state: str
    severity: str
    rule: str
    vhost: str
    method: str | None
    endpoint: str | None
    started: float
    resolved: float | None
    observed: dict[str, Any] = field(default_factory=dict)
    evidence: tuple[str, ...] = ()
    summary: str = ""

    @property
    def key(self) -> AlertKey:
        return (self.rule, self.severity, self.vhost, self.method, self.endpoint)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "id": self.id, "state": self.state, "severity": self.severity, "rule": self.rule,
                "vhost": self.vhost, "method": self.method, "endpoint": self.endpoint,
                "started": iso(self.started), "resolved": iso(self.resolved) if self.resolved is not None else None,
                "observed": self.observed, "evidence": list(self.evidence), "summary": self.summary}

    def to_state(self) -> dict[str, Any]:
        data = self.to_json()
        data["started"], data["resolved"] = self.started, self.resolved
        return data

    @staticmethod
    def from_state(data: dict[str, Any]) -> Alert:
        return Alert(str(data["id"]), str(data["state"]), str(data["severity"]), str(data["rule"]), str(data["vhost"]),
                     data.get("method"), data.get("endpoint"), float(data["started"]),
                     None if data.get("resolved") is None else float(data["resolved"]), dict(data.get("observed", {})),
                     tuple(data.get("evidence", ())), str(data.get("summary", "")))


def alert_id(key: AlertKey, started: float) -> str:
    text = "|".join("" if part is None else part for part in key) + f"|{started:.3f}"
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


Evidence = Callable[[Finding], tuple[tuple[str, ...], str]]  # finding -> (evidence lines, summary suffix)


@dataclass
class AlertBook:
    """The alerts firing now, by (rule, severity, vhost, method, endpoint)."""

    active: dict[AlertKey, Alert] = field(default_factory=dict)

    def apply(self, rule: str, findings: dict[AlertKey, Finding], now: float, evidence: Evidence) -> list[Alert]:
        """Fire what newly holds, resolve this rule's alerts that no longer hold; the transitions, in order."""
        changes: list[Alert] = []
        for key in [k for k in self.active if k[0] == rule and k not in findings]:
            firing = self.active.pop(key)
            changes.append(replace(firing, state=RESOLVED, resolved=now))
        for key, finding in findings.items():
            if key in self.active:
                continue
            lines, suffix = evidence(finding)
            alert = Alert(alert_id(key, now), FIRING, finding.severity, finding.rule, finding.vhost, finding.method,
                          finding.endpoint, now, None, finding.observed, lines, finding.summary + suffix)
            self.active[key] = alert
            changes.append(alert)
        return changes

    def firing(self) -> list[Alert]:
        return list(self.active.values())

    def to_state(self) -> list[dict[str, Any]]:
        return [alert.to_state() for alert in self.active.values()]

    def restore(self, items: Iterable[dict[str, Any]]) -> None:
        for data in items:
            alert = Alert.from_state(data)
            self.active[alert.key] = alert

"""The events each command's result becomes: plain functions from the contract's JSON documents.

They read the documents (docs/contract.md "deploy", "doctor", "trace") rather than the library
types, so the store needs nothing but what the commands already print, and a document saved by
hand (``--json > file``) can be recorded the same way.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from vhostguard.diagnose import RecentChange
from vhostguard.incidents.store import Event, epoch, now_iso


def deploy_events(document: Mapping[str, Any]) -> list[Event]:
    """A deploy's or rollback's stages on one clock: the start, each gate (at the start plus the
    gates' time before it), the switch, the reload, the verification, the rollback, the outcome."""
    ident = str(document.get("id", ""))
    kind = str(document.get("kind", "deploy"))
    started = str(document.get("started_at") or now_iso())
    events = [Event(started, "deploy", f"{kind}-started", ident,
                    {"live_dir": document.get("live_dir"), "candidate_hash": document.get("candidate_hash"),
                     "user": document.get("user"), "rollback_of": document.get("rollback_of")})]
    elapsed = 0.0
    for gate in document.get("gates") or []:
        elapsed += float(gate.get("seconds") or 0.0)
        events.append(Event(_later(started, elapsed), "deploy", "gate", ident,
                            {key: gate.get(key) for key in ("name", "status", "seconds", "detail")}))
    switched = document.get("switch") or {}
    if switched.get("at"):
        events.append(Event(str(switched["at"]), "deploy", "switch", ident,
                            {"from": switched.get("from"), "to": switched.get("to")}))
    reloaded = document.get("reload") or {}
    if reloaded.get("at"):
        events.append(Event(str(reloaded["at"]), "deploy", "reload", ident,
                            {"serving_after_s": reloaded.get("serving_after_s"), "command": reloaded.get("command")}))
    verified = document.get("verify")
    rolled = document.get("rollback") or {}
    if verified and reloaded.get("at"):
        at = _later(str(reloaded["at"]), float(reloaded.get("serving_after_s") or 0) + float(verified.get("window_s") or 0))
        events.append(Event(at, "deploy", f"verify-{verified.get('status')}", ident,
                            {"window_s": verified.get("window_s"), "failures": verified.get("failures", [])}))
    if rolled.get("at") and kind == "deploy":
        events.append(Event(str(rolled["at"]), "deploy", "rollback", ident,
                            {"reason": rolled.get("reason"), "verified": rolled.get("verified")}))
    if document.get("outcome"):
        events.append(Event(str(document.get("finished_at") or now_iso()), "deploy", f"{kind}-{document['outcome']}",
                            ident, {"outcome": document["outcome"], "previous_hash": document.get("previous_hash"),
                                    "candidate_hash": document.get("candidate_hash")}))
    return events


def doctor_events(document: Mapping[str, Any], at: str | None = None, run_id: str | None = None) -> list[Event]:
    """One event per finding (in rank order) and one for the run."""
    when = at or now_iso()
    ident = run_id or f"doctor-{when}"
    findings = list(document.get("findings") or [])
    events = [Event(when, "doctor", "finding", ident, dict(finding)) for finding in findings]
    top = findings[0] if findings else None
    events.append(Event(when, "doctor", "doctor-run", ident,
                        {"config": document.get("config"), "findings": len(findings),
                         "top": top.get("summary") if top else None,
                         "checks": [{"name": c.get("name"), "status": c.get("status")} for c in document.get("checks", [])]}))
    return events


def trace_events(document: Mapping[str, Any], at: str | None = None) -> list[Event]:
    when = at or now_iso()
    request = document.get("request") or {}
    url = f"{request.get('scheme', 'http')}://{request.get('host')}:{request.get('port')}{request.get('path', '')}"
    return [Event(when, "trace", "trace", url,
                  {key: document.get(key) for key in ("status", "vhost", "vhost_directive", "failures", "story")})]


def _later(iso: str, seconds: float) -> str:
    return (datetime.fromisoformat(iso) + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def recent_changes_of(events: list[Event]) -> tuple[RecentChange, ...]:
    """For doctor: each deploy or rollback among ``events`` (as ``deploy_events`` records them) that
    switched the config, with when, whether it was rolled back and why, and its verification's
    failures (a host-moved one first: it names the Host and both vhosts)."""
    kinds: dict[str, str] = {}
    switched: dict[str, float] = {}
    rolled: dict[str, tuple[float, str | None]] = {}
    failures: dict[str, tuple[str, ...]] = {}
    for event in events:
        if event.kind.endswith("-started"):
            kinds[event.id] = event.kind.removesuffix("-started")
        elif event.kind == "switch":
            switched[event.id] = epoch(event.time)
        elif event.kind == "rollback":
            reason = event.data.get("reason")
            rolled[event.id] = (epoch(event.time), str(reason) if reason else None)
        elif event.kind == "verify-fail":
            listed = [f for f in event.data.get("failures") or [] if isinstance(f, dict) and f.get("summary")]
            listed.sort(key=lambda f: f.get("kind") != "host-moved")  # a misroute names the Host and both vhosts
            failures[event.id] = tuple(str(f["summary"]) for f in listed)
    return tuple(RecentChange(ident, at, kinds.get(ident, "deploy"),
                              rolled[ident][0] if ident in rolled else None,
                              rolled[ident][1] if ident in rolled else None, failures.get(ident, ()))
                 for ident, at in switched.items())

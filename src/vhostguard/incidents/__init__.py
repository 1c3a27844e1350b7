"""incidents/: what happened, on one clock (issue 13). This layer: the event store.

Public surface: ``EventStore(state_dir)`` with ``append(events)``, ``events(since, until, sources)``
and ``prune(before)``; ``Event``; ``EventStoreError``; the recorders that turn a command's JSON
document into events: ``deploy_events``, ``doctor_events``, ``trace_events``; ``epoch(iso)``.
The postmortem: ``draft(PostmortemInputs) -> dict`` (docs/contract.md "postmortem"; ``AccessLogInput``
is one access log and its parser), rendered by ``to_markdown`` / ``to_html``; ``check_times(text,
LogFacts | None) -> list[Contradiction]`` (the times a hand-written postmortem states, checked).
``run_demo`` tells examples/incident live (``vhostguard demo``), reporting each ``Step``.
"""
from __future__ import annotations

from vhostguard.incidents.demo import DemoOutcome, DemoProblem, Step, apache_available, run_demo
from vhostguard.incidents.demo import free_port as demo_free_port
from vhostguard.incidents.postmortem import AccessLogInput, PostmortemInputs, draft
from vhostguard.incidents.record import deploy_events, doctor_events, recent_changes_of, trace_events
from vhostguard.incidents.render import to_html, to_markdown
from vhostguard.incidents.store import EVENTS_NAME, SOURCES, Event, EventStore, EventStoreError, epoch, now_iso
from vhostguard.incidents.timecheck import Contradiction, LogFacts
from vhostguard.incidents.timecheck import check as check_times

__all__ = [
    "EVENTS_NAME",
    "SOURCES",
    "AccessLogInput",
    "Contradiction",
    "DemoOutcome",
    "DemoProblem",
    "Event",
    "EventStore",
    "EventStoreError",
    "LogFacts",
    "PostmortemInputs",
    "Step",
    "apache_available",
    "check_times",
    "demo_free_port",
    "deploy_events",
    "doctor_events",
    "draft",
    "epoch",
    "now_iso",
    "recent_changes_of",
    "run_demo",
    "to_html",
    "to_markdown",
    "trace_events",
]

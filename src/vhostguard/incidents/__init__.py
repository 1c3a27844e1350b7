"""incidents/: what happened, on one clock (issue 13). This layer: the event store.

Public surface: ``EventStore(state_dir)`` with ``append(events)``, ``events(since, until, sources)``
and ``prune(before)``; ``Event``; ``EventStoreError``; the recorders that turn a command's JSON
document into events: ``deploy_events``, ``doctor_events``, ``trace_events``; ``epoch(iso)``.
"""
from __future__ import annotations

from vhostguard.incidents.record import deploy_events, doctor_events, trace_events
from vhostguard.incidents.store import SOURCES, Event, EventStore, EventStoreError, epoch, now_iso

__all__ = [
    "SOURCES", "Event", "EventStore", "EventStoreError", "deploy_events", "doctor_events", "epoch", "now_iso",
    "trace_events",
]

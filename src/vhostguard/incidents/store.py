"""The event store: what watch, deploy, rollback, doctor and trace saw, on one clock, in SQLite.

Append-only and schema-versioned, in the state directory beside the deploy journal. Several writers
at once (a ``watch`` service and a ``deploy`` run) are safe: WAL lets readers run beside a writer,
every append is one short transaction, and the busy timeout makes a second writer wait its turn
instead of failing. Bounded: events older than the retention are pruned whenever the store is
opened to write, so a store written by a years-long watch stays small. Retention counts from
when an event was recorded, not from its own time: a watch replaying last year's logs records
last year's alerts, and they stay for the postmortem being written now.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, UTC
from types import TracebackType
from typing import Any

EVENTS_NAME = "events.sqlite"
SCHEMA_VERSION = 1
DEFAULT_RETENTION_S = 90 * 86400.0
SOURCES = frozenset({"watch", "deploy", "doctor", "trace"})
_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, time TEXT NOT NULL, source TEXT NOT NULL,
    kind TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, recorded REAL NOT NULL);
CREATE INDEX IF NOT EXISTS events_at ON events (at);
CREATE INDEX IF NOT EXISTS events_recorded ON events (recorded);
"""


class EventStoreError(Exception):
    """The store cannot be used (one line naming the file and what to do)."""


@dataclass(frozen=True)
class Event:
    """One thing that happened: ``time`` ISO 8601 with its offset (UTC when written by us), ``source``
    the command that saw it, ``kind`` what it was (``alert-firing``, ``gate``, ``switch``, ``finding``,
    ...), ``id`` what it belongs to (a deploy id, an alert's key), ``data`` its details as JSON."""

    time: str
    source: str
    kind: str
    id: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"time": self.time, "source": self.source, "kind": self.kind, "id": self.id, "data": dict(self.data)}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def epoch(text: str) -> float:
    """Seconds since the epoch of an ISO 8601 time (a time without offset is taken as UTC)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class EventStore:
    """``with EventStore(state_dir) as store:`` open (created on first use); raises EventStoreError."""

    def __init__(self, state_dir: str, retention_s: float | None = DEFAULT_RETENTION_S) -> None:
        self.path = os.path.join(state_dir, EVENTS_NAME)
        try:
            os.makedirs(state_dir, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a process crash
            self._db.executescript(_SCHEMA)
            self._check_version()
            if retention_s is not None:
                self.prune(time.time() - retention_s)
        except sqlite3.Error as problem:
            raise EventStoreError(f"{self.path}: {problem}; check the state directory (--state DIR)") from None
        except OSError as problem:
            raise EventStoreError(f"{self.path}: {problem.strerror}; choose a writable state directory "
                                  "(--state DIR or $VHOSTGUARD_STATE_DIR)") from None

    def _check_version(self) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")  # two first writers must not both insert the version
            row = self._db.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                self._db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise EventStoreError(f"{self.path}: schema version {row[0]}, this vhostguard reads {SCHEMA_VERSION}; "
                                      "use the vhostguard that wrote it, or move the file away")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def append(self, events: Iterable[Event]) -> int:
        """Add events in one transaction; returns how many. The source must be one of SOURCES."""
        rows = []
        for event in events:
            if event.source not in SOURCES:
                raise ValueError(f"event source {event.source!r} is not one of {sorted(SOURCES)}")
            rows.append((epoch(event.time), event.time, event.source, event.kind, event.id,
                         json.dumps(dict(event.data), ensure_ascii=False, default=str), time.time()))
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("INSERT INTO events (at, time, source, kind, id, data, recorded) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                     rows)
        except sqlite3.Error as problem:
            raise EventStoreError(f"{self.path}: {problem}") from None
        return len(rows)

    def events(self, since: float | None = None, until: float | None = None,
               sources: Iterable[str] = ()) -> list[Event]:
        """Events in time order (then in the order written), ``since``/``until`` epoch seconds inclusive."""
        query = "SELECT time, source, kind, id, data FROM events WHERE at >= ? AND at <= ?"
        parameters: list[Any] = [since if since is not None else float("-inf"),
                                 until if until is not None else float("inf")]
        wanted = sorted(set(sources))
        if wanted:
            query += f" AND source IN ({', '.join('?' for _ in wanted)})"
            parameters += wanted
        rows = self._db.execute(query + " ORDER BY at, seq", parameters).fetchall()
        return [Event(when, source, kind, ident, _data(text)) for when, source, kind, ident, text in rows]

    def prune(self, before: float) -> int:
        """Remove events recorded before ``before`` (epoch seconds); returns how many."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            cursor = self._db.execute("DELETE FROM events WHERE recorded < ?", (before,))
        return cursor.rowcount


def _data(text: str) -> Mapping[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:  # written only by us: unreadable means damaged; the event still lists
        return {}
    return value if isinstance(value, dict) else {}

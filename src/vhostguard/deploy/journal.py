"""The deploy journal: SQLite in the state directory, written before each step and after it.

Each step is recorded as an intent (committed, synced) before the filesystem is touched and gets its
result after, so after a kill -9 or a power loss the journal names the deploy that did not finish and
the step it was in; ``recover`` (recovery.py) reads it. WAL with ``synchronous=FULL``: a committed
intent survives a power loss; a busy timeout so a reader (``history``) never fails on a writer.
"""
from __future__ import annotations

import getpass
import json
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from datetime import datetime, UTC
from types import TracebackType

from vhostguard.deploy.slots import Step

JOURNAL_NAME = "journal.sqlite"
# 2: deploys.report, the deploy's JSON document (gates, switch, reload, verify, rollback) as it grows.
SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS deploys (
    id TEXT PRIMARY KEY, started_at TEXT NOT NULL, user TEXT NOT NULL, live_dir TEXT NOT NULL,
    candidate_hash TEXT, outcome TEXT, finished_at TEXT, report TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS steps (
    deploy_id TEXT NOT NULL REFERENCES deploys(id), seq INTEGER NOT NULL, name TEXT NOT NULL,
    description TEXT NOT NULL, paths TEXT NOT NULL, intent_at TEXT NOT NULL, result_at TEXT,
    PRIMARY KEY (deploy_id, seq));
"""


class JournalError(Exception):
    """The journal cannot be used (one line naming the file)."""


@dataclass(frozen=True)
class StepRecord:
    """A journaled step; ``result_at`` None: announced but never finished (the process died in it)."""

    seq: int
    name: str
    description: str
    paths: tuple[str, ...]
    intent_at: str
    result_at: str | None


@dataclass(frozen=True)
class DeployRecord:
    """A deploy as journaled; ``outcome`` None: it never finished."""

    id: str
    started_at: str
    user: str
    live_dir: str
    candidate_hash: str | None
    outcome: str | None
    finished_at: str | None
    steps: tuple[StepRecord, ...]
    report: Mapping[str, Any] = field(default_factory=dict)

    @property
    def unfinished_step(self) -> StepRecord | None:
        return next((s for s in reversed(self.steps) if s.result_at is None), None)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_deploy_id() -> str:
    """Sortable and unique enough for one host: UTC time to the microsecond plus the pid."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + f"-{os.getpid()}"


class Journal:
    """``with Journal(state_dir) as journal:`` an open journal (created on first use)."""

    def __init__(self, state_dir: str) -> None:
        self.path = os.path.join(state_dir, JOURNAL_NAME)
        try:
            os.makedirs(state_dir, exist_ok=True)
            # isolation_level None: we commit each statement ourselves, at once (an intent must be durable
            # before its step runs, not at the end of an implicit transaction).
            self._db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(_SCHEMA)
            self._check_version()
        except (OSError, sqlite3.Error) as problem:
            raise JournalError(f"{self.path}: {problem}") from None

    def _check_version(self) -> None:
        row = self._db.execute("SELECT version FROM schema_version").fetchone()
        if row is None:
            self._db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        elif row[0] == 1:  # version 1 lacked the report column; its deploys get an empty report
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("ALTER TABLE deploys ADD COLUMN report TEXT NOT NULL DEFAULT '{}'")
                self._db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
        elif row[0] != SCHEMA_VERSION:
            raise JournalError(f"{self.path}: schema version {row[0]}, this vhostguard reads {SCHEMA_VERSION}; "
                               "use the vhostguard that wrote it, or move the file away")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def begin(self, deploy_id: str, live_dir: str, candidate_hash: str | None, user: str | None = None) -> None:
        self._db.execute(
            "INSERT INTO deploys (id, started_at, user, live_dir, candidate_hash) VALUES (?, ?, ?, ?, ?)",
            (deploy_id, now_iso(), user or _user(), os.path.abspath(live_dir), candidate_hash))

    def finish(self, deploy_id: str, outcome: str) -> None:
        self._db.execute("UPDATE deploys SET outcome = ?, finished_at = ? WHERE id = ?",
                         (outcome, now_iso(), deploy_id))

    def record(self, deploy_id: str, report: Mapping[str, Any]) -> None:
        """Replace the deploy's JSON document (what the gates, switch, reload and verify said so far);
        written at each stage, so a crash leaves what was known, e.g. the slot it switched from."""
        self._db.execute("UPDATE deploys SET report = ? WHERE id = ?", (json.dumps(report), deploy_id))

    def recorder(self, deploy_id: str) -> StepRecorder:
        """The ``StepLog`` the slot functions write to for ``deploy_id``."""
        return StepRecorder(self, deploy_id)

    def step_intent(self, deploy_id: str, step: Step) -> int:
        with self._db:  # one transaction: the seq read and the insert together
            self._db.execute("BEGIN IMMEDIATE")
            (seq,) = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM steps WHERE deploy_id = ?",
                                      (deploy_id,)).fetchone()
            self._db.execute(
                "INSERT INTO steps (deploy_id, seq, name, description, paths, intent_at) VALUES (?, ?, ?, ?, ?, ?)",
                (deploy_id, seq, step.name, step.description, json.dumps(list(step.paths)), now_iso()))
        return int(seq)

    def step_result(self, deploy_id: str, seq: int) -> None:
        self._db.execute("UPDATE steps SET result_at = ? WHERE deploy_id = ? AND seq = ?",
                         (now_iso(), deploy_id, seq))

    def get(self, deploy_id: str) -> DeployRecord | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM deploys WHERE id = ?", (deploy_id,)).fetchone()
        return None if row is None else self._record(row)

    def history(self) -> list[DeployRecord]:
        """Every deploy, newest first."""
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM deploys ORDER BY started_at DESC, id DESC").fetchall()
        return [self._record(row) for row in rows]

    def unfinished(self) -> list[DeployRecord]:
        """Deploys with no outcome (their process died), oldest first."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM deploys WHERE outcome IS NULL ORDER BY started_at, id").fetchall()
        return [self._record(row) for row in rows]

    def _record(self, row: tuple[str, str, str, str, str | None, str | None, str | None, str]) -> DeployRecord:
        steps = tuple(
            StepRecord(seq, name, description, tuple(json.loads(paths)), intent_at, result_at)
            for seq, name, description, paths, intent_at, result_at in self._db.execute(
                "SELECT seq, name, description, paths, intent_at, result_at FROM steps "
                "WHERE deploy_id = ? ORDER BY seq", (row[0],)))
        deploy_id, started_at, user, live_dir, candidate_hash, outcome, finished_at, report = row
        try:
            document = json.loads(report)
        except ValueError:  # written only by us; unreadable means damaged: history still lists the deploy
            document = {}
        return DeployRecord(deploy_id, started_at, user, live_dir, candidate_hash, outcome, finished_at, steps,
                            document if isinstance(document, dict) else {})


_COLUMNS = "id, started_at, user, live_dir, candidate_hash, outcome, finished_at, report"


@dataclass(frozen=True)
class StepRecorder:
    """A journal bound to one deploy, as the slot functions' ``StepLog``."""

    journal: Journal
    deploy_id: str

    def intent(self, step: Step) -> int:
        return self.journal.step_intent(self.deploy_id, step)

    def result(self, token: int, step: Step) -> None:
        self.journal.step_result(self.deploy_id, token)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid (a container): the number says who
        return str(os.getuid())

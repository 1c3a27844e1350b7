from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from vhostguard.deploy import Journal, JournalError, Step


def test_history_newest_first_with_steps(tmp_path: Path) -> None:
    with Journal(str(tmp_path)) as journal:
        journal.begin("d1", "/etc/apache2", "aaa", user="alice")
        seq = journal.step_intent("d1", Step("switch-link", "create symlink", ("/x", "y")))
        journal.step_result("d1", seq)
        journal.finish("d1", "deployed")
        journal.begin("d2", "/etc/apache2", "bbb", user="bob")
        journal.step_intent("d2", Step("switch-replace", "rename", ("/x",)))
    with Journal(str(tmp_path)) as journal:  # reopened: what was written is there
        history = journal.history()
        assert [d.id for d in history] == ["d2", "d1"]
        newest, oldest = history
        assert (oldest.outcome, oldest.user, oldest.candidate_hash) == ("deployed", "alice", "aaa")
        assert oldest.steps[0].paths == ("/x", "y") and oldest.steps[0].result_at is not None
        assert oldest.unfinished_step is None
        assert newest.outcome is None and newest.unfinished_step is not None
        assert newest.unfinished_step.name == "switch-replace"
        assert [d.id for d in journal.unfinished()] == ["d2"]


def test_journal_is_wal_with_a_schema_version(tmp_path: Path) -> None:
    Journal(str(tmp_path)).close()
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(2,)]
    db.execute("UPDATE schema_version SET version = 99")
    db.commit()
    db.close()
    with pytest.raises(JournalError, match="schema version 99"):
        Journal(str(tmp_path))


def test_report_document_is_kept_and_replaced(tmp_path: Path) -> None:
    with Journal(str(tmp_path)) as journal:
        journal.begin("d1", "/etc/apache2", "aaa")
        assert journal.get("d1").report == {}  # type: ignore[union-attr]
        journal.record("d1", {"switch": {"from": "blue", "to": "green", "at": None}})
        journal.record("d1", {"switch": {"from": "blue", "to": "green", "at": "T"}, "gates": []})
    with Journal(str(tmp_path)) as journal:
        assert journal.get("d1").report == {"switch": {"from": "blue", "to": "green", "at": "T"}, "gates": []}  # type: ignore[union-attr]


def test_version_1_journal_is_upgraded_in_place(tmp_path: Path) -> None:
    """A journal written before the report column existed: its deploys stay, with an empty report."""
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    db.executescript(
        "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);"
        "CREATE TABLE deploys (id TEXT PRIMARY KEY, started_at TEXT NOT NULL, user TEXT NOT NULL,"
        " live_dir TEXT NOT NULL, candidate_hash TEXT, outcome TEXT, finished_at TEXT);"
        "INSERT INTO deploys VALUES ('old', '2026-01-01T00:00:00+00:00', 'root', '/etc/apache2', 'h', 'deployed', 'x');"
        "CREATE TABLE steps (deploy_id TEXT NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL,"
        " description TEXT NOT NULL, paths TEXT NOT NULL, intent_at TEXT NOT NULL, result_at TEXT,"
        " PRIMARY KEY (deploy_id, seq));")
    db.close()
    with Journal(str(tmp_path)) as journal:
        (old,) = journal.history()
        assert (old.id, old.outcome, old.report) == ("old", "deployed", {})
        journal.record("old", {"outcome": "deployed"})
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(2,)]


def test_unusable_state_directory_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(JournalError, match="file"):
        Journal(str(tmp_path / "file" / "state"))

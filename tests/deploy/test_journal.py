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
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
    db.execute("UPDATE schema_version SET version = 99")
    db.commit()
    db.close()
    with pytest.raises(JournalError, match="schema version 99"):
        Journal(str(tmp_path))


def test_unusable_state_directory_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(JournalError, match="file"):
        Journal(str(tmp_path / "file" / "state"))

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write a dedented text file under tmp_path and return its path."""

    def _write(relative: str, text: str = "") -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return _write


@pytest.fixture(autouse=True)
def _no_system_envvars(monkeypatch: pytest.MonkeyPatch) -> None:
    # Keep a developer's APACHE_* environment out of the tests.
    for name in list(os.environ):
        if name.startswith("APACHE_"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _private_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    # doctor, trace and deploy record events in the state directory: never the machine's own
    # (/var/lib/vhostguard for root) while testing; one per test, as the tests run in parallel.
    monkeypatch.setenv("VHOSTGUARD_STATE_DIR", str(tmp_path_factory.mktemp("state")))

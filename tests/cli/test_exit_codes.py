"""``run`` maps every outcome of a command body to its exit status; a bug of
ours is one line and 70, never 1 (which CI reads as findings or changes)."""
from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from vhostguard.cli.common import UsageProblem, run


def _command(body: object) -> click.Command:
    @click.command()
    def command() -> None:
        run(body)  # type: ignore[arg-type]

    return command


def _invoke(body: object, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.delenv("VHOSTGUARD_TRACEBACK", raising=False)
    result = CliRunner().invoke(_command(body))
    return result.exit_code, result.output


def test_an_unexpected_exception_is_one_line_and_exit_70(monkeypatch: pytest.MonkeyPatch) -> None:
    def body() -> int:
        return {}["missing"]  # a KeyError: a bug, not the user's input

    code, output = _invoke(body, monkeypatch)
    assert code == 70
    assert "Traceback" not in output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and "internal error" in lines[0] and "KeyError" in lines[0]


def test_a_value_error_that_is_not_about_the_request_is_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def body() -> int:
        raise ValueError("unpack")

    code, output = _invoke(body, monkeypatch)
    assert code == 70 and "Traceback" not in output


def test_traceback_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    def body() -> int:
        raise RuntimeError("boom")

    monkeypatch.setenv("VHOSTGUARD_TRACEBACK", "1")
    result = CliRunner().invoke(_command(body))
    assert isinstance(result.exception, RuntimeError)


@pytest.mark.parametrize(
    ("outcome", "status"),
    [(None, 0), (1, 1), (UsageProblem("bad"), 2), (KeyboardInterrupt(), 130), (BrokenPipeError(), 0)],
)
def test_outcomes_keep_their_statuses(outcome: object, status: int, monkeypatch: pytest.MonkeyPatch) -> None:
    def body() -> object:
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    code, _ = _invoke(body, monkeypatch)
    assert code == status


def test_click_usage_errors_stay_clicks(monkeypatch: pytest.MonkeyPatch) -> None:
    def body() -> int:
        raise click.UsageError("no such option")

    code, output = _invoke(body, monkeypatch)
    assert code == 2 and "no such option" in output and "internal error" not in output


def test_help_names_the_contract_that_ships_in_the_repository() -> None:
    """``--help`` pointed at "CONTRACT.md", a design note outside the repository;
    the schemas users can read are in docs/contract.md."""
    from vhostguard.cli import COMMANDS, main

    for name in COMMANDS:
        shown = CliRunner().invoke(main, [name, "--help"]).output
        assert "CONTRACT.md" not in shown, name
        if re.search(r"--json(?!l)", shown):
            assert "docs/contract.md" in shown, name

"""diagnose.misroute offline: the incident example's typo (examples/incident/after: the API
vhost's ServerName lost a letter, so nothing names api.example.com and the catch-all answers)."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from vhostguard.cli import main

AFTER = Path(__file__).resolve().parents[2] / "examples" / "incident" / "after"


def line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_servername_typo_is_the_misroute_of_the_incident() -> None:
    result = CliRunner().invoke(main, ["doctor", "-f", str(AFTER / "apache2.conf"), "--offline", "--json",
                                       "--url", "http://api.example.com/v1/users/42"])
    assert result.exit_code == 1, result.stderr
    (found,) = [f for f in json.loads(result.stdout)["findings"] if f["check"] == "routing"]
    api, default = AFTER / "sites-enabled/api.conf", AFTER / "sites-enabled/000-default.conf"
    assert found["kind"] == "host-misrouted" and found["severity"] == "warning"
    assert found["vhost"] == f"{default}:{line_of(default, '<VirtualHost')}"
    assert found["expected_vhost"] == f"{api}:{line_of(api, '<VirtualHost')}"
    typo = {"name": "ServerName", "file": str(api), "line": line_of(api, "api.exmaple.com")}
    assert found["directives"][-1] == typo
    assert f"correct ServerName api.exmaple.com at {api}:{typo['line']} to api.example.com" in found["cause"]


def test_a_host_far_from_every_name_is_no_typo() -> None:
    result = CliRunner().invoke(main, ["doctor", "-f", str(AFTER / "apache2.conf"), "--offline", "--json",
                                       "--url", "http://shop.example.org/"])
    assert [f for f in json.loads(result.stdout)["findings"] if f["check"] == "routing"] == []

"""``vhostguard drift``: config trees compared pairwise against the first (issue 14, docs/contract.md "drift").

The trees are copies of examples/config-repo in different places (staging, web01, web02), as
each host's /etc/apache2 would be pulled into one directory.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from vhostguard.cli import main

REPO = Path(__file__).resolve().parents[2] / "examples" / "config-repo"
LOG = REPO / "vhostguard" / "access.log"
SHADOWED = "<VirtualHost *:80>\n\tServerName default.example.com\n</VirtualHost>\n"  # VG101 at line 1


@pytest.fixture
def hosts(tmp_path: Path) -> dict[str, Path]:
    found = {}
    for name in ("staging", "web01", "web02"):
        shutil.copytree(REPO, tmp_path / name, symlinks=True)
        found[name] = tmp_path / name / "apache2.conf"
    return found


def drift(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["drift", *args])
    return result.exit_code, result.stdout, result.stderr


def test_the_same_tree_in_three_places_has_no_drift(hosts: dict[str, Path]) -> None:
    code, out, _err = drift(*map(str, hosts.values()), "--requests", str(LOG), "--json")
    assert code == 0
    document = json.loads(out)
    assert document["drift"] is False
    assert [t["routing"]["changed"] for t in document["trees"]] == [0, 0]
    assert [t["routing"]["requests"] for t in document["trees"]] == [400, 400]


def test_a_host_that_routes_differently_and_has_its_own_finding_drifts(hosts: dict[str, Path]) -> None:
    web02 = hosts["web02"].parent
    api = web02 / "sites-available" / "api.conf"
    api.write_text(api.read_text().replace("5000", "5001"))
    (web02 / "sites-available" / "x.conf").write_text(SHADOWED)
    os.symlink("../sites-available/x.conf", web02 / "sites-enabled" / "x.conf")
    code, out, _err = drift(*map(str, hosts.values()), "--requests", str(LOG), "--json")
    assert code == 1
    document = json.loads(out)
    web01, drifted = document["trees"]
    assert web01["drift"] is False and drifted["drift"] is True
    group = drifted["routing"]["groups"][0]
    assert group["new"]["outcome"]["target"].startswith("http://127.0.0.1:5001/v1/")
    assert drifted["routing"]["changed"] == sum(1 for line in LOG.read_text().splitlines() if '"GET /v1/' in line)
    assert [(f["code"], f["file"], f["line"]) for f in drifted["lint"]["only_in_tree"]] == [
        ("VG101", f"{web02}/sites-enabled/x.conf", 1)]
    assert drifted["lint"]["only_in_reference"] == []
    code, text, _err = drift(*map(str, hosts.values()), "--requests", str(LOG))
    assert code == 1
    assert f"{hosts['web02']}: DRIFT" in text and f"{hosts['web01']}: same" in text
    assert f"lint only here: {web02}/sites-enabled/x.conf:1: VG101" in text


def test_without_requests_only_lint_is_compared_and_said_so(hosts: dict[str, Path]) -> None:
    staging = hosts["staging"].parent
    (staging / "sites-available" / "x.conf").write_text(SHADOWED)
    os.symlink("../sites-available/x.conf", staging / "sites-enabled" / "x.conf")
    code, out, _err = drift(str(hosts["staging"]), str(hosts["web01"]))
    assert code == 1
    assert "routing not compared: no --requests" in out
    assert f"lint only in the reference: {staging}/sites-enabled/x.conf:1: VG101" in out


def test_one_tree_is_bad_input(hosts: dict[str, Path]) -> None:
    code, _out, err = drift(str(hosts["staging"]))
    assert code == 2
    assert "two or more" in err

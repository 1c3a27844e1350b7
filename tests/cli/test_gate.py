"""``vhostguard gate``: the deploy gates as one command (issue 14, docs/contract.md "gate").

Each test copies examples/config-repo (a Debian /etc/apache2 kept in git, with expectations and a
recorded access log) to a temp dir and changes it the way a bad commit would.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from tests.support.apache import needs_apache
from vhostguard.cli import main

REPO = Path(__file__).resolve().parents[2] / "examples" / "config-repo"
GATES = ["load", "lint", "expectations", "sandbox", "diff", "syntax"]

API_BAD_TARGET = """\
<VirtualHost *:80>
	ServerName api.example.com
	ProxyPass /v1/ http://127.0.0.1:5001/v1/
	ProxyPass /v2/ http://127.0.0.1:5002/v2/
</VirtualHost>
"""
# The API under the default site's name: 000-default.conf answers it first (VG101).
API_NAME_TAKEN = """\
<VirtualHost *:80>
	ServerName default.example.com
	ProxyPass /v1/ http://127.0.0.1:5000/v1/
</VirtualHost>
"""
# A second vhost claiming the shop's name: lint VG101 (error: never reached), at its <VirtualHost> line.
SHOP_TWICE = """\
<VirtualHost *:80>
	# a copy-paste of the shop
	ServerName shop.example.com
	DocumentRoot /var/www/html
</VirtualHost>
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    copy = tmp_path / "apache2"
    shutil.copytree(REPO, copy, symlinks=True)
    return copy


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["gate", *args])
    return result.exit_code, result.stdout, result.stderr


def gate_json(*args: str) -> tuple[int, dict[str, dict[str, object]]]:
    code, out, err = run(*args, "--json")
    assert code in (0, 1), err
    document = json.loads(out)
    assert document["schema"] == 1
    assert [g["name"] for g in document["gates"]] == GATES
    return code, {g["name"]: g for g in document["gates"]}


def test_the_example_passes_every_gate_and_replays_its_log(repo: Path) -> None:
    code, gates = gate_json("-f", str(repo / "apache2.conf"), "--expect", str(repo / "vhostguard" / "expect.yaml"),
                            "--against", str(repo / "apache2.conf"), "--requests", str(repo / "vhostguard" / "access.log"),
                            "--no-apache2")
    assert code == 0
    assert [gates[n]["status"] for n in GATES] == ["pass", "pass", "pass", "skipped", "pass", "skipped"]
    assert "7 cases pass" in str(gates["expectations"]["detail"])
    assert "0 of 400 requests changed" in str(gates["diff"]["detail"])
    assert "--live" in str(gates["sandbox"]["detail"])
    assert "--no-apache2" in str(gates["syntax"]["detail"])


def test_without_a_baseline_the_diff_gate_is_skipped_saying_why(repo: Path) -> None:
    code, gates = gate_json("-f", str(repo / "apache2.conf"), "--no-apache2")
    assert code == 0
    assert gates["diff"]["status"] == "skipped"
    assert "--against" in str(gates["diff"]["detail"])
    assert gates["expectations"]["status"] == "skipped" and "--expect" in str(gates["expectations"]["detail"])


def test_requests_without_a_baseline_is_bad_input(repo: Path) -> None:
    code, _out, err = run("-f", str(repo / "apache2.conf"), "--requests", str(repo / "vhostguard" / "access.log"))
    assert code == 2
    assert "--against" in err


def test_a_duplicate_server_name_is_refused_by_lint_with_file_and_line(repo: Path) -> None:
    (repo / "sites-available" / "shop-copy.conf").write_text(SHOP_TWICE)
    os.symlink("../sites-available/shop-copy.conf", repo / "sites-enabled" / "zz-shop-copy.conf")
    code, out, _err = run("-f", str(repo / "apache2.conf"), "--no-apache2")
    assert code == 1
    assert f"{repo}/sites-enabled/zz-shop-copy.conf:1: VG101" in out
    assert "refused by the lint gate" in out


def test_fail_on_warning_makes_a_warning_block(repo: Path) -> None:
    # The example has one warning: /var/www/shop does not exist on this machine (VG201).
    code, gates = gate_json("-f", str(repo / "apache2.conf"), "--no-apache2", "--fail-on", "warning")
    assert code == 1
    assert gates["lint"]["status"] == "fail"
    assert "VG201" in str(gates["lint"]["evidence"])
    assert gate_json("-f", str(repo / "apache2.conf"), "--no-apache2")[0] == 0


def test_a_routing_change_fails_the_diff_gate_unless_allowed(repo: Path, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline"
    shutil.copytree(repo, baseline, symlinks=True)
    (repo / "sites-available" / "api.conf").write_text(API_BAD_TARGET)
    args = ("-f", str(repo / "apache2.conf"), "--against", str(baseline / "apache2.conf"),
            "--requests", str(repo / "vhostguard" / "access.log"), "--no-apache2")
    code, gates = gate_json(*args)
    assert code == 1
    assert gates["diff"]["status"] == "fail"
    assert f"{repo}/sites-enabled/api.conf:3" in str(gates["diff"]["evidence"])
    assert "127.0.0.1:5001" in str(gates["diff"]["detail"])
    allow = tmp_path / "allow.yaml"
    allow.write_text("- {new_target: 'http://127.0.0.1:5001/*'}\n")
    code, gates = gate_json(*args, "--allow", str(allow))
    assert code == 0, gates["diff"]
    assert "allowed by --allow" in str(gates["diff"]["detail"])


def test_with_checks_one_file_in_its_real_tree_and_writes_nothing_there(repo: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()}
    candidate = tmp_path / "api.conf.new"
    candidate.write_text(API_NAME_TAKEN)
    dest = repo / "sites-available" / "api.conf"
    code, out, _err = run("-f", str(repo / "apache2.conf"), "--with", f"{dest}={candidate}", "--no-apache2")
    assert code == 1
    # Reported where the file will be (sites-enabled/api.conf links to it), not in the temp copy.
    assert f"{repo}/sites-enabled/api.conf:1: VG101" in out
    assert "vhostguard-gate-" not in out
    assert {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()} == before
    assert list(scratch.iterdir()) == []  # the copy is gone
    good = tmp_path / "api.conf.good"
    good.write_text((REPO / "sites-available" / "api.conf").read_text().replace("ProxyPreserveHost On", "ProxyPreserveHost Off"))
    code, gates = gate_json("-f", str(repo / "apache2.conf"), "--with", f"{dest}={good}", "--no-apache2",
                            "--requests", str(repo / "vhostguard" / "access.log"))
    assert code == 0
    assert gates["diff"]["status"] == "pass"  # the real tree is the baseline: untouched files are equal
    assert "0 of 400 requests changed" in str(gates["diff"]["detail"])


def test_with_a_change_of_routing_is_caught_by_the_diff_against_the_real_tree(repo: Path, tmp_path: Path) -> None:
    candidate = tmp_path / "api.conf.new"
    candidate.write_text(API_BAD_TARGET)
    dest = repo / "sites-available" / "api.conf"
    code, gates = gate_json("-f", str(repo / "apache2.conf"), "--with", f"{dest}={candidate}", "--no-apache2",
                            "--requests", str(repo / "vhostguard" / "access.log"))
    assert code == 1
    assert gates["diff"]["status"] == "fail"
    assert f"{repo}/sites-enabled/api.conf:3" in str(gates["diff"]["evidence"])


@pytest.mark.parametrize("spec", ["nothing", "/etc/passwd={src}", "{repo}/apache2.conf=/nonexistent/file"])
def test_with_bad_input_is_exit_2(repo: Path, tmp_path: Path, spec: str) -> None:
    src = tmp_path / "x.conf"
    src.write_text("# nothing\n")
    code, _out, err = run("-f", str(repo / "apache2.conf"), "--with", spec.format(src=src, repo=repo), "--no-apache2")
    assert code == 2
    assert err.startswith("vhostguard: --with") and len(err.splitlines()) == 1


def test_junit_has_one_testcase_per_gate_and_the_evidence(repo: Path, tmp_path: Path) -> None:
    (repo / "sites-available" / "shop-copy.conf").write_text(SHOP_TWICE)
    os.symlink("../sites-available/shop-copy.conf", repo / "sites-enabled" / "zz-shop-copy.conf")
    report = tmp_path / "gate.xml"
    code, _out, _err = run("-f", str(repo / "apache2.conf"), "--no-apache2", "--junit", str(report))
    assert code == 1
    suite = ElementTree.parse(report).getroot().find("testsuite")
    assert suite is not None
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == GATES
    assert suite.get("failures") == "1"
    failure = cases["lint"].find("failure")
    assert failure is not None and "VG101" in (failure.get("message") or "")
    assert f"{repo}/sites-enabled/zz-shop-copy.conf:1: VG101" in (failure.text or "")
    assert cases["lint"].get("file") == f"{repo}/sites-enabled/zz-shop-copy.conf" and cases["lint"].get("line") == "1"
    assert cases["diff"].find("skipped") is not None


def test_sarif_holds_the_lint_findings(repo: Path, tmp_path: Path) -> None:
    report = tmp_path / "gate.sarif"
    code, _out, _err = run("-f", str(repo / "apache2.conf"), "--no-apache2", "--sarif", str(report))
    assert code == 0
    sarif = json.loads(report.read_text())
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["VG201"]  # the warning is reported, the gate passes
    assert results[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 4


def test_a_bad_output_path_fails_before_any_work(repo: Path, tmp_path: Path) -> None:
    code, out, err = run("-f", str(repo / "apache2.conf"), "--junit", str(tmp_path / "missing" / "x.xml"))
    assert code == 2 and out == ""
    assert "--junit" in err


def test_no_apache2_installed_skips_the_syntax_gate_saying_so(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vhostguard.deploy.gates.find_apache2", lambda: None)
    code, gates = gate_json("-f", str(repo / "apache2.conf"))
    assert code == 0
    assert gates["syntax"]["status"] == "skipped"
    assert "install apache2" in str(gates["syntax"]["detail"])


@needs_apache
def test_apache2_t_runs_on_the_tree_and_on_the_with_copy(repo: Path, tmp_path: Path) -> None:
    code, gates = gate_json("-f", str(repo / "apache2.conf"))
    assert code == 0
    assert gates["syntax"]["status"] == "pass" and "Syntax OK" in str(gates["syntax"]["detail"])
    # A directive of a module the tree does not load passes vhostguard's load gate only when unknown to it;
    # apache2 -t refuses it at its file:line. Header is mod_headers' (loaded): use a typo vhostguard keeps.
    candidate = tmp_path / "shop.conf.new"
    candidate.write_text("<VirtualHost *:80>\n\tServerName shop.example.com\n\tDocumentRoot /var/www/shop\n"
                         "\tHeader always set X-Frame-Options\n</VirtualHost>\n")
    code, gates = gate_json("-f", str(repo / "apache2.conf"), "--with",
                            f"{repo / 'sites-available' / 'shop.conf'}={candidate}")
    assert code == 1, gates
    assert gates["syntax"]["status"] == "fail"
    assert f"{repo}/sites-enabled/shop.conf:4" in str(gates["syntax"]["evidence"])


def test_with_follows_an_absolute_link_into_the_tree_to_the_replaced_file(repo: Path, tmp_path: Path) -> None:
    # sites-enabled/api.conf -> /abs/.../sites-available/api.conf: in the copy it must lead to the copy's file,
    # or the gate would check the real (old) file and let the bad one through.
    link = repo / "sites-enabled" / "api.conf"
    link.unlink()
    os.symlink(repo / "sites-available" / "api.conf", link)
    candidate = tmp_path / "api.conf.new"
    candidate.write_text(API_NAME_TAKEN)
    code, out, _err = run("-f", str(repo / "apache2.conf"), "--with", f"{repo / 'sites-available' / 'api.conf'}={candidate}",
                          "--no-apache2")
    assert code == 1, out
    assert f"{repo}/sites-enabled/api.conf:1: VG101" in out
    assert os.readlink(link) == str(repo / "sites-available" / "api.conf")


def test_with_a_symlink_as_dest_replaces_the_link_in_the_copy_only(repo: Path, tmp_path: Path) -> None:
    candidate = tmp_path / "api.conf.new"
    candidate.write_text(API_NAME_TAKEN)
    link = repo / "sites-enabled" / "api.conf"
    code, out, _err = run("-f", str(repo / "apache2.conf"), "--with", f"{link}={candidate}", "--no-apache2")
    assert code == 1
    assert f"{repo}/sites-enabled/api.conf:1: VG101" in out
    assert os.readlink(link) == "../sites-available/api.conf"
    assert "default.example.com" not in (repo / "sites-available" / "api.conf").read_text()


def test_with_never_writes_through_a_directory_link_leading_out_of_the_tree(repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, repo / "conf-local")
    candidate = tmp_path / "x.conf"
    candidate.write_text("# x\n")
    code, _out, err = run("-f", str(repo / "apache2.conf"), "--with", f"{repo / 'conf-local' / 'x.conf'}={candidate}",
                          "--no-apache2")
    assert code == 2
    assert "symlink leading out" in err
    assert list(elsewhere.iterdir()) == []


@needs_apache
def test_live_runs_the_expectations_on_a_sandboxed_apache2(repo: Path) -> None:
    code, gates = gate_json("-f", str(repo / "apache2.conf"), "--expect", str(repo / "vhostguard" / "expect.yaml"),
                            "--live", "--no-apache2")
    assert code == 0
    assert gates["sandbox"]["status"] == "pass"
    assert "7 cases pass in the sandbox" in str(gates["sandbox"]["detail"])


def test_with_a_file_the_config_does_not_read_is_said(repo: Path, tmp_path: Path) -> None:
    candidate = tmp_path / "new.conf"
    candidate.write_text(API_NAME_TAKEN)
    code, out, _err = run("-f", str(repo / "apache2.conf"), "--with", f"{repo / 'sites-available' / 'new.conf'}={candidate}",
                          "--no-apache2", "--json")
    assert code == 0
    assert any("does not read" in note and "new.conf" in note for note in json.loads(out)["notes"])


def test_with_a_dest_the_config_reads_by_its_real_absolute_path_is_refused(repo: Path, tmp_path: Path) -> None:
    # An Include naming the real tree would make the gates check the old file, not SRC: never a false pass.
    conf = repo / "apache2.conf"
    conf.write_text(conf.read_text().replace("IncludeOptional sites-enabled/*.conf",
                                             f"IncludeOptional {repo}/sites-enabled/*.conf"))
    candidate = tmp_path / "api.conf.new"
    candidate.write_text(API_NAME_TAKEN)
    code, _out, err = run("-f", str(conf), "--with", f"{repo / 'sites-available' / 'api.conf'}={candidate}", "--no-apache2")
    assert code == 2
    assert "by its path in the real tree" in err

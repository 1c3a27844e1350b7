"""Text, JSON (CONTRACT.md) and SARIF 2.1.0 output."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vhostguard.lint import Severity, default_registry
from vhostguard.lint.core import Finding
from vhostguard.lint.docs import rules_markdown
from vhostguard.lint.reporters import json_report, sarif_report, text_report

SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
ROOT_DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


def sample(tmp_path: Path) -> list[Finding]:
    conf = tmp_path / "conf" / "apache2.conf"
    return [
        Finding("VG101", "unreachable-vhost", Severity.ERROR, "vhost b can never be reached", str(conf), 12, "Remove the names.", "https://x/rules.md#vg101-unreachable-vhost"),
        Finding("VG304", "trace-enabled", Severity.WARNING, "TraceEnable On allows TRACE", "/etc/apache2/apache2.conf", 3, "Set `TraceEnable Off`.", "https://x/rules.md#vg304-trace-enabled"),
    ]


def test_text_is_ruff_like(tmp_path: Path) -> None:
    findings = sample(tmp_path)
    lines = text_report(findings).splitlines()
    assert lines[0] == f"{findings[0].file}:12: VG101 vhost b can never be reached"
    assert lines[1] == "    error; hint: Remove the names."
    assert lines[2].startswith("/etc/apache2/apache2.conf:3: VG304 ")
    assert lines[-1] == "Found 2 problems (1 error, 1 warning)."
    assert text_report([]) == "No problems found.\n"


def test_json_matches_contract(tmp_path: Path) -> None:
    document = json_report(sample(tmp_path))
    assert set(document) == {"schema", "findings", "summary"}
    assert document["schema"] == 1
    assert document["summary"] == {"error": 1, "warning": 1, "info": 0}
    first = document["findings"][0]
    assert set(first) == {"code", "severity", "message", "file", "line", "hint", "rule_url"}
    assert first["severity"] == "error" and first["line"] == 12
    json.dumps(document)  # serialisable as is


def test_sarif_structure_and_rule_metadata(tmp_path: Path) -> None:
    rules = list(default_registry())
    log = sarif_report(sample(tmp_path), rules, "0.1.0", root=tmp_path)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "vhostguard"
    assert [r["id"] for r in driver["rules"]] == [r.code for r in rules]
    vg101 = driver["rules"][0]
    assert vg101["name"] == "unreachable-vhost"
    assert vg101["defaultConfiguration"]["level"] == "error"
    assert "## Why is this bad?" in vg101["help"]["markdown"]
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["VG101", "VG304"]
    assert results[0]["level"] == "error" and results[1]["level"] == "warning"
    assert driver["rules"][results[1]["ruleIndex"]]["id"] == "VG304"
    inside = results[0]["locations"][0]["physicalLocation"]
    assert inside["artifactLocation"] == {"uri": "conf/apache2.conf", "uriBaseId": "SRCROOT"}
    assert inside["region"]["startLine"] == 12
    outside = results[1]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert outside == {"uri": "file:///etc/apache2/apache2.conf"}


def test_sarif_validates_against_the_2_1_0_schema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    log = sarif_report(sample(tmp_path), list(default_registry()), "0.1.0", root=tmp_path)
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert [f"{list(e.path)}: {e.message}" for e in errors] == []
    # The schema does catch a broken log (so the check above means something).
    broken = dict(log, version="2.0.0")
    assert list(validator.iter_errors(broken))


def test_docs_rules_md_is_up_to_date() -> None:
    expected = rules_markdown(default_registry())
    assert ROOT_DOCS.read_text() == expected, "regenerate with: vhostguard rules --markdown > docs/rules.md"


def test_rule_reference_has_every_rule_and_anchor() -> None:
    text = rules_markdown(default_registry())
    for rule in default_registry():
        assert f"### {rule.code} {rule.name}\n" in text
        assert f"(#{rule.code.lower()}-{rule.name})" in text
    assert "#### What it does" in text and "## Routing (VG1xx)" in text

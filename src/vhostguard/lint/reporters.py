"""Findings rendered as text (ruff-like), JSON (docs/contract.md) and SARIF 2.1.0."""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.runner import summarize

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
TOOL_URI = "https://github.com/vhostguard/vhostguard"
SRCROOT = "SRCROOT"


def text_report(findings: Sequence[Finding]) -> str:
    """``file:line: CODE message`` and an indented hint line (with the
    severity) per finding, then a one-line count."""
    lines: list[str] = []
    for finding in findings:
        lines.append(f"{finding.file}:{finding.line}: {finding.code} {finding.message}")
        lines.append(f"    {finding.severity.value}; hint: {finding.hint}")
    counts = summarize(findings)
    if findings:
        parts = ", ".join(f"{n} {sev}" for sev, n in counts.items() if n)
        lines.append(f"Found {len(findings)} problem{'s' if len(findings) != 1 else ''} ({parts}).")
    else:
        lines.append("No problems found.")
    return "\n".join(lines) + "\n"


def finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "code": finding.code, "severity": finding.severity.value, "message": finding.message,
        "file": finding.file, "line": finding.line, "hint": finding.hint, "rule_url": finding.rule_url,
    }


def json_report(findings: Sequence[Finding]) -> dict[str, Any]:
    """docs/contract.md: ``{"schema": 1, "findings": [...], "summary": {...}}``."""
    return {"schema": 1, "findings": [finding_json(f) for f in findings], "summary": summarize(findings)}


def _rule_descriptor(rule: type[Rule]) -> dict[str, Any]:
    docs = rule.documentation()
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.summary},
        "help": {"text": f"{rule.hint}\n\n{docs}", "markdown": docs},
        "helpUri": rule.url(),
        "defaultConfiguration": {"level": SARIF_LEVEL[rule.severity]},
        "properties": {"tags": [rule.code[:3] + "xx"]},
    }


def _artifact(file: str, root: Path) -> dict[str, Any]:
    """Repository-relative when the file is under ``root`` (what code scanning
    wants), else an absolute file URI. The path is the one the configuration
    included, as the text output names it: a Debian sites-enabled/x.conf stays
    that, not the sites-available/x.conf its symlink points to (only ``root``
    itself may be reached through a symlink, e.g. a symlinked working directory)."""
    path = Path(os.path.abspath(file))
    for base in dict.fromkeys((Path(os.path.abspath(root)), root.resolve())):
        if path.is_relative_to(base):
            return {"uri": path.relative_to(base).as_posix(), "uriBaseId": SRCROOT}
    return {"uri": path.as_uri()}


def sarif_report(findings: Sequence[Finding], rules: Iterable[type[Rule]], version: str, root: Path | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run: every rule's metadata and one result per finding."""
    root = root or Path(os.getcwd())
    descriptors = list(rules)
    index = {rule.code: i for i, rule in enumerate(descriptors)}
    results = []
    for finding in findings:
        result: dict[str, Any] = {
            "ruleId": finding.code,
            "level": SARIF_LEVEL[finding.severity],
            "message": {"text": f"{finding.message}\nHint: {finding.hint}"},
            "locations": [{"physicalLocation": {
                "artifactLocation": _artifact(finding.file, root),
                "region": {"startLine": max(finding.line, 1)},
            }}],
            "properties": {"hint": finding.hint},
        }
        if finding.code in index:
            result["ruleIndex"] = index[finding.code]
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "vhostguard", "version": version, "informationUri": TOOL_URI,
                "rules": [_rule_descriptor(rule) for rule in descriptors],
            }},
            "originalUriBaseIds": {SRCROOT: {"uri": Path(os.path.abspath(root)).as_uri() + "/"}},
            "results": results,
        }],
    }

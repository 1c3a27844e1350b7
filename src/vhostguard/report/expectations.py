"""``vhostguard test`` reports: readable text, JSON, and JUnit XML."""
from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

from vhostguard.checks import CaseResult, Expectations, shown
from vhostguard.report.words import printable

SCHEMA = 1


def results_text(expectations: Expectations, results: list[CaseResult], mode: str) -> str:
    lines: list[str] = []
    for result in results:
        case = result.case
        if result.passed:
            lines.append(f"PASS {case.name}")
            continue
        lines.append(f"FAIL {case.name}  [{expectations.path}:{case.line}]")
        lines.append(f"     {case.method} {case.url}")
        for mismatch in result.mismatches:
            lines.append(f"     - expected {mismatch.field}: {shown(mismatch.expected)}")
            lines.append(f"     + actual   {mismatch.field}: {shown(mismatch.actual)}")
    failed = sum(1 for r in results if not r.passed)
    lines.append(f"{len(results) - failed} passed, {failed} failed ({mode})")
    return "\n".join(printable(line) for line in lines) + "\n"


def results_json(expectations: Expectations, results: list[CaseResult], mode: str) -> dict[str, Any]:
    failed = sum(1 for r in results if not r.passed)
    return {
        "schema": SCHEMA,
        "file": expectations.path,
        "config": expectations.config,
        "mode": mode,
        "cases": [
            {
                "name": r.case.name, "url": r.case.url, "line": r.case.line, "passed": r.passed,
                "expected": r.case.expect, "actual": r.actual.as_dict(),
                "mismatches": [{"field": m.field, "expected": m.expected, "actual": m.actual} for m in r.mismatches],
            }
            for r in results
        ],
        "summary": {"passed": len(results) - failed, "failed": failed},
    }


def results_junit(expectations: Expectations, results: list[CaseResult], mode: str) -> str:
    failed = sum(1 for r in results if not r.passed)
    suite = ElementTree.Element("testsuite", name=f"vhostguard {mode}: {expectations.path}",
                                tests=str(len(results)), failures=str(failed), errors="0")
    for result in results:
        case = ElementTree.SubElement(suite, "testcase", classname=expectations.path, name=result.case.name,
                                      file=expectations.path, line=str(result.case.line))
        if not result.passed:
            message = "; ".join(f"{m.field}: expected {shown(m.expected)}, got {shown(m.actual)}" for m in result.mismatches)
            failure = ElementTree.SubElement(case, "failure", message=message)
            failure.text = f"{result.case.method} {result.case.url}\n{message}"
    suites = ElementTree.Element("testsuites")
    suites.append(suite)
    return ElementTree.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"

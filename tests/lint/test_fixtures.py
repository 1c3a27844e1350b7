"""Every rule against its fixture pair: the bad config triggers exactly the
marked lines, the good config triggers nothing; and the meta-test that every
registered rule has both fixtures and complete documentation."""
from __future__ import annotations

from pathlib import Path

import pytest

from vhostguard.lint import default_registry
from vhostguard.lint.core import DOC_SECTIONS, doc_sections

from tests.lint.conftest import FIXTURES, expected_markers

CODES = [rule.code for rule in default_registry()]


@pytest.mark.parametrize("code", CODES)
def test_bad_fixture_triggers_marked_lines(code: str, lint_dir) -> None:
    directory = FIXTURES / code / "bad"
    conf = directory / "apache2.conf"
    result = lint_dir(directory, select=[code])
    assert result.errors == ()
    expected = {(c, line) for c, line in expected_markers(conf) if c == code}
    assert expected, f"{conf} has no '# expect: {code}' marker"
    found = {(f.code, f.line) for f in result.findings if Path(f.file) == conf}
    assert found == expected
    assert all(f.file == str(conf) for f in result.findings)


@pytest.mark.parametrize("code", CODES)
def test_good_fixture_is_clean(code: str, lint_dir) -> None:
    directory = FIXTURES / code / "good"
    result = lint_dir(directory, select=[code])
    assert result.errors == ()
    assert [f"{f.line}: {f.message}" for f in result.findings] == []
    assert expected_markers(directory / "apache2.conf") == set()


def test_every_rule_has_fixtures_and_docs() -> None:
    problems = []
    for rule in default_registry():
        for kind in ("bad", "good"):
            if not (FIXTURES / rule.code / kind / "apache2.conf").is_file():
                problems.append(f"{rule.code}: no {kind} fixture")
        sections = doc_sections(rule)
        for wanted in DOC_SECTIONS:
            if wanted not in sections:
                problems.append(f"{rule.code}: documentation lacks '## {wanted}'")
        for attribute in ("name", "summary", "hint"):
            if not getattr(rule, attribute, ""):
                problems.append(f"{rule.code}: no {attribute}")
        if rule.name.startswith(("no-", "disallow-")):
            problems.append(f"{rule.code}: name {rule.name} should describe the pattern")
    assert problems == []


def test_no_fixture_folder_without_rule() -> None:
    assert sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()) == sorted(CODES)

"""Every rule against its fixture pair: the bad config triggers exactly the
marked lines, the good config triggers nothing; and the meta-test that every
registered rule has both fixtures and complete documentation, and lives in a
module of its own named after it."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import vhostguard.lint.rules as rules_package
from vhostguard.lint import default_registry
from vhostguard.lint.core import DOC_SECTIONS, Rule, doc_sections

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


FAMILY_PACKAGES = {"1": "routing", "2": "files", "3": "security", "4": "tls", "5": "observability"}


def _rule_modules() -> dict[str, list[type[Rule]]]:
    """Every module under lint/rules/<family>/ -> the Rule classes it defines."""
    found: dict[str, list[type[Rule]]] = {}
    for family in pkgutil.iter_modules(rules_package.__path__, rules_package.__name__ + "."):
        assert family.ispkg, f"{family.name} is a module: rule families are packages"
        package = importlib.import_module(family.name)
        for info in pkgutil.iter_modules(package.__path__, family.name + "."):
            module = importlib.import_module(info.name)
            found[info.name] = [
                obj for obj in vars(module).values()
                if inspect.isclass(obj) and issubclass(obj, Rule) and obj is not Rule and obj.__module__ == info.name
            ]
    return found


def test_every_rule_is_its_own_module_and_registered() -> None:
    # Registration is explicit (each family's RULES); this catches a rule
    # module somebody forgot to list, and a module named after another rule.
    problems = []
    defined: list[type[Rule]] = []
    for name, classes in _rule_modules().items():
        leaf = name.rsplit(".", 1)[1]
        if leaf.startswith("_"):
            problems += [f"{name} defines rule {c.code}: rules go in their own module" for c in classes]
            continue
        if len(classes) != 1:
            problems.append(f"{name} defines {len(classes)} rules, not one")
            continue
        rule = classes[0]
        defined.append(rule)
        family = FAMILY_PACKAGES.get(rule.code[2], "?")
        wanted = f"{rules_package.__name__}.{family}.{rule.code.lower()}_{rule.name.replace('-', '_')}"
        if name != wanted:
            problems.append(f"{rule.code} {rule.name} is in {name}, expected {wanted}")
    registered = list(default_registry())
    problems += [f"{rule.code} is not in its family's RULES" for rule in defined if rule not in registered]
    problems += [f"{rule.code} is registered but not defined in a rule module" for rule in registered if rule not in defined]
    assert problems == []

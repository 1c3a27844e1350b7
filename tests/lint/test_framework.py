"""The lint framework: severities, the registry, selection, waivers, run()."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vhostguard.config import LoadOptions, load
from vhostguard.lint import Registry, SelectionError, Severity, default_registry, fails, run, summarize
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule
from vhostguard.lint.waivers import waived_codes
from vhostguard.model import build_model

Write = Callable[..., Path]


def lint_text(write: Write, text: str, select: list[str] | None = None, ignore: list[str] | None = None) -> list[Finding]:
    conf = write("apache2.conf", text)
    tree = load(str(conf), LoadOptions(env_file=""))
    assert tree.errors == ()
    return run(build_model(tree), tree, select=select, ignore=ignore)


def test_severity_is_ordered() -> None:
    assert Severity.INFO < Severity.WARNING < Severity.ERROR
    assert max([Severity.WARNING, Severity.ERROR, Severity.INFO]) is Severity.ERROR
    assert Severity.parse("Warning") is Severity.WARNING
    with pytest.raises(ValueError):
        Severity.parse("fatal")


def test_codes_and_names_are_unique_and_in_families() -> None:
    registry = default_registry()
    codes = [rule.code for rule in registry]
    assert codes == sorted(codes)
    assert len({rule.name for rule in registry}) == len(codes)
    assert {code[:3] for code in codes} == {"VG1", "VG2", "VG3", "VG4", "VG5"}


def test_registry_rejects_duplicates_and_bad_codes() -> None:
    class One(Rule):
        code, name, severity, summary, hint = "VG901", "one-thing", Severity.INFO, "s", "h"

    class Same(Rule):
        code, name, severity, summary, hint = "VG901", "other-thing", Severity.INFO, "s", "h"

    class Bad(Rule):
        code, name, severity, summary, hint = "X1", "bad-code", Severity.INFO, "s", "h"

    registry = Registry()
    registry.register(One)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Same)
    with pytest.raises(ValueError, match="not VGnnn"):
        registry.register(Bad)
    assert list(registry) == [One]


def test_selection_by_code_prefix_name_and_all() -> None:
    registry = default_registry()
    assert registry.resolve(["VG101"]) == {"VG101"}
    assert registry.resolve(["open-proxy"]) == {"VG301"}
    assert {c[:3] for c in registry.resolve(["VG4"])} == {"VG4"}
    assert registry.resolve(["ALL"]) == {rule.code for rule in registry}
    with pytest.raises(SelectionError):
        registry.resolve(["VG999"])


BASE = """\
ServerName fixture.test
Listen 80
TraceEnable On
ServerSignature On
"""


def test_select_and_ignore(write: Write) -> None:
    assert {f.code for f in lint_text(write, BASE, select=["VG3"])} == {"VG304", "VG306", "VG308"}
    assert {f.code for f in lint_text(write, BASE, select=["VG3"], ignore=["VG304", "root-directory-not-denied"])} == {"VG306"}


def test_waiver_on_comment_line_above(write: Write) -> None:
    text = BASE.replace("TraceEnable On", "# load balancer health checks use TRACE\n# vhostguard: ignore=VG304\nTraceEnable On")
    assert {f.code for f in lint_text(write, text, select=["VG304", "VG306"])} == {"VG306"}


def test_waiver_with_several_codes_and_on_a_section(write: Write) -> None:
    text = """\
    ServerName fixture.test
    Listen 80
    # vhostguard: ignore=VG304, VG306
    <VirtualHost *:80>
        ServerName www.example.com
        TraceEnable On
        ServerSignature On
    </VirtualHost>
    <VirtualHost *:80>
        ServerName shop.example.com
        ServerSignature On
    </VirtualHost>
    """
    findings = lint_text(write, text, select=["VG304", "VG306"])
    assert [(f.code, f.line) for f in findings] == [("VG306", 11)]


def test_waiver_for_another_code_does_not_hide(write: Write) -> None:
    text = BASE.replace("TraceEnable On", "# vhostguard: ignore=VG306\nTraceEnable On")
    assert {f.code for f in lint_text(write, text, select=["VG304"])} == {"VG304"}


def test_waiver_must_be_directly_above(write: Write) -> None:
    # A blank line ends the comment block: the waiver belongs to nothing.
    text = BASE.replace("TraceEnable On", "# vhostguard: ignore=VG304\n\nTraceEnable On")
    assert {f.code for f in lint_text(write, text, select=["VG304"])} == {"VG304"}


def test_waived_codes_parsing() -> None:
    assert waived_codes(["# vhostguard: ignore=VG101,vg202  VG303"]) == {"VG101", "VG202", "VG303"}
    assert waived_codes(["# nothing to see"]) == frozenset()


def test_findings_sorted_with_metadata(write: Write) -> None:
    findings = lint_text(write, BASE, select=["VG304", "VG306"])
    assert [(f.code, f.line) for f in findings] == [("VG304", 3), ("VG306", 4)]
    first = findings[0]
    assert first.severity is Severity.WARNING
    assert "TraceEnable On" in first.message
    assert first.hint == "Set `TraceEnable Off`."
    assert first.rule_url.endswith("#vg304-trace-enabled")


def test_summary_and_fail_threshold(write: Write) -> None:
    findings = lint_text(write, BASE, select=["VG304"])
    assert summarize(findings) == {"error": 0, "warning": 1, "info": 0}
    assert not fails(findings, Severity.ERROR)
    assert fails(findings, Severity.WARNING)
    assert fails(findings, Severity.INFO)


def test_node_rules_only_see_their_directives(write: Write) -> None:
    seen: list[str] = []

    class Spy(Rule):
        code, name, severity, summary, hint = "VG999", "spy", Severity.INFO, "s", "h"
        directives = frozenset({"traceenable"})

        def check_node(self, node, ctx: LintContext) -> Iterator[Finding]:
            seen.append(node.name)
            yield self.finding(node, "seen")

    registry = Registry()
    registry.register(Spy)
    conf = write("apache2.conf", BASE)
    tree = load(str(conf), LoadOptions(env_file=""))
    findings = run(build_model(tree), tree, registry=registry)
    assert seen == ["TraceEnable"]
    assert [(f.code, f.line) for f in findings] == [("VG999", 3)]

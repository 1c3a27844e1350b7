"""The lint vocabulary: severities, findings, and the Rule base class.

A rule is a class whose metadata lives on the class (code, name, default
severity, one-line summary, fix hint, documentation in the docstring) and
whose checks are methods: ``check_node`` for the directives it names in
``directives`` (dispatch by name, so a rule only sees what it asked for) and
``check`` for whole-configuration questions (several vhosts sharing an
address set, a Listen nobody uses).
"""
from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from vhostguard.ordered import OrderedEnum
from vhostguard.config import Directive
from vhostguard.config import Source

if TYPE_CHECKING:
    from vhostguard.lint.context import LintContext

# Where the generated rule reference (docs/rules.md) is published; each rule's
# anchor is appended. One constant so a fork or a docs site changes one line.
RULES_DOC_URL = "https://github.com/vhostguard/vhostguard/blob/main/docs/rules.md"

DOC_SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead:")


class Severity(OrderedEnum):
    """Ordered: ``Severity.ERROR > Severity.WARNING > Severity.INFO``.

    error: traffic goes somewhere it was not meant to, or a door is open;
    warning: risky or blind; info: style.
    """

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls(text.lower())
        except ValueError:
            raise ValueError(f"unknown severity {text!r}: use error, warning or info") from None




@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: which rule, how bad, where, and what to do about it.

    ``node`` is the directive or section the finding is about (waivers on the
    comment lines above it, or above an enclosing section, apply); it is None
    for findings about something absent from the configuration.
    """

    code: str
    name: str
    severity: Severity
    message: str
    file: str
    line: int
    hint: str
    rule_url: str
    node: Directive | None = field(default=None, compare=False, repr=False)

    def sort_key(self) -> tuple[str, int, str]:
        return (self.file, self.line, self.code)


def rule_anchor(code: str, name: str) -> str:
    """The Markdown heading anchor of a rule in docs/rules.md (GitHub's slug rules)."""
    return f"{code.lower()}-{name}"


class Rule:
    """Base class of every rule. Subclasses set the class attributes and
    override ``check_node`` and/or ``check``; the docstring is the rule's
    documentation (sections "What it does", "Why is this bad?", "Example",
    "Use instead:", optionally "Known problems" and "References")."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    summary: ClassVar[str]
    hint: ClassVar[str]
    directives: ClassVar[frozenset[str]] = frozenset()  # lower-case names for check_node

    def check_node(self, node: Directive, ctx: LintContext) -> Iterable[Finding]:
        return ()

    def check(self, ctx: LintContext) -> Iterable[Finding]:
        return ()

    # -- helpers for subclasses ------------------------------------------------

    @classmethod
    def url(cls) -> str:
        return f"{RULES_DOC_URL}#{rule_anchor(cls.code, cls.name)}"

    @classmethod
    def documentation(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    def finding(self, where: Directive | Source, message: str, hint: str | None = None) -> Finding:
        """A finding of this rule at a directive (waivable) or a bare source position."""
        node = where if isinstance(where, Directive) else None
        source = where.source if isinstance(where, Directive) else where
        return Finding(
            code=self.code, name=self.name, severity=self.severity, message=message,
            file=source.file, line=source.line, hint=hint or self.hint, rule_url=self.url(), node=node,
        )


_SECTION_HEADING = re.compile(r"^## (.+)$", re.MULTILINE)


def doc_sections(rule: type[Rule]) -> list[str]:
    """The ``## `` section headings of a rule's documentation, in order."""
    return _SECTION_HEADING.findall(rule.documentation())

"""The rule registry: rules are added explicitly, never discovered by import."""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from vhostguard.lint.core import Rule

_CODE = re.compile(r"^VG\d{3}$")


class SelectionError(ValueError):
    """A --select/--ignore entry that names no rule."""


@dataclass
class Registry:
    """Rules by code, in registration order (which is also documentation order)."""

    _rules: dict[str, type[Rule]] = field(default_factory=dict)

    def register(self, rule: type[Rule]) -> type[Rule]:
        """Add one rule class; codes and names must be unique and well formed."""
        if not _CODE.match(rule.code):
            raise ValueError(f"{rule.__name__}: rule code {rule.code!r} is not VGnnn")
        if rule.code in self._rules:
            raise ValueError(f"{rule.__name__}: code {rule.code} already registered by {self._rules[rule.code].__name__}")
        if any(other.name == rule.name for other in self._rules.values()):
            raise ValueError(f"{rule.__name__}: rule name {rule.name!r} already registered")
        self._rules[rule.code] = rule
        return rule

    def register_all(self, rules: Iterable[type[Rule]]) -> None:
        for rule in rules:
            self.register(rule)

    def __iter__(self) -> Iterator[type[Rule]]:
        return iter(self._rules.values())

    def __len__(self) -> int:
        return len(self._rules)

    def get(self, code: str) -> type[Rule] | None:
        return self._rules.get(code.upper())

    def resolve(self, selectors: Iterable[str]) -> set[str]:
        """Codes named by selectors: a code (VG101), a prefix (VG1, VG), a rule
        name (unreachable-vhost) or ALL. Raises SelectionError for one that
        names nothing, so a typo never silently disables a rule."""
        chosen: set[str] = set()
        for raw in selectors:
            selector = raw.strip()
            if not selector:
                continue
            upper = selector.upper()
            if upper == "ALL":
                found = set(self._rules)
            else:
                found = {code for code, rule in self._rules.items() if code.startswith(upper) or rule.name == selector.lower()}
            if not found:
                raise SelectionError(f"{selector!r} matches no rule (see `vhostguard rules`)")
            chosen |= found
        return chosen


def default_registry() -> Registry:
    """A fresh registry with every built-in rule family, in code order."""
    from vhostguard.lint.rules import FAMILIES

    registry = Registry()
    for family in FAMILIES:
        registry.register_all(family)
    return registry

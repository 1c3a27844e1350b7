"""The built-in rule families, one module each, registered in this order."""
from __future__ import annotations

from vhostguard.lint.core import Rule
from vhostguard.lint.rules import routing

FAMILIES: tuple[tuple[type[Rule], ...], ...] = (
    routing.RULES,
)

"""The built-in rule families, one module each, registered in this order."""
from __future__ import annotations

from vhostguard.lint.core import Rule
from vhostguard.lint.rules import files, observability, routing, security, tls

FAMILIES: tuple[tuple[type[Rule], ...], ...] = (
    routing.RULES,
    files.RULES,
    security.RULES,
    tls.RULES,
    observability.RULES,
)

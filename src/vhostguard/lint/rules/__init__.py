"""The built-in rule families, registered in this order.

Each family is a package with one module per rule
(``routing/vg108_proxypass_shadowed.py``: code, metadata and documentation
together) and a ``_common.py`` for helpers several of its rules share. Every
family lists its rules in ``RULES`` by hand: nothing is discovered by
importing a folder, so the order (and therefore docs/rules.md) is fixed.
"""
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

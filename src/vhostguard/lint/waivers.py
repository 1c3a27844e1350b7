"""``# vhostguard: ignore=CODE[,CODE]`` on the comment lines directly above a
directive or section. httpd has no trailing comments (a ``#`` after a
directive is one of its arguments), so the line above is the only place."""
from __future__ import annotations

import re
from collections.abc import Iterable

from vhostguard.config import ConfigTree, Directive

_IGNORE = re.compile(r"vhostguard:\s*ignore\s*=\s*([A-Za-z0-9_,\s-]+)")


def waived_codes(comments: Iterable[str]) -> frozenset[str]:
    """The codes a node's comment lines waive (upper-cased; ``ALL`` waives every rule)."""
    codes: set[str] = set()
    for comment in comments:
        for match in _IGNORE.finditer(comment):
            codes |= {c.strip().upper() for c in re.split(r"[,\s]+", match.group(1)) if c.strip()}
    return frozenset(codes)


def waiver_index(tree: ConfigTree) -> dict[int, frozenset[str]]:
    """``id(node)`` -> codes waived for it, including those waived on enclosing sections."""
    index: dict[int, frozenset[str]] = {}
    stack: list[tuple[Directive, frozenset[str]]] = [(node, frozenset()) for node in reversed(tree.nodes)]
    while stack:
        node, inherited = stack.pop()
        codes = inherited | waived_codes(node.comments) if node.comments else inherited
        if codes:
            index[id(node)] = codes
        for child in reversed(node.children or ()):
            stack.append((child, codes))
    return index


def waived_along(chain: Iterable[Directive]) -> frozenset[str]:
    """The codes waived for a node given it and its enclosing sections (what
    ``waiver_index`` holds for it)."""
    return frozenset().union(*(waived_codes(node.comments) for node in chain if node.comments))


def is_waived(code: str, codes: frozenset[str]) -> bool:
    return code in codes or "ALL" in codes

"""``run(model, tree, select, ignore) -> list[Finding]``: every selected rule
over one configuration, waivers applied, findings sorted by file and line."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from vhostguard.config import ConfigTree, Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.registry import Registry, default_registry
from vhostguard.lint.waivers import is_waived, waived_along
from vhostguard.model import ServerModel


def selected_rules(registry: Registry, select: Iterable[str] | None, ignore: Iterable[str] | None) -> list[type[Rule]]:
    """Rules chosen by ``select`` (None: all) minus ``ignore``, in registry order."""
    chosen = registry.resolve(select) if select else {rule.code for rule in registry}
    dropped = registry.resolve(ignore) if ignore else set()
    return [rule for rule in registry if rule.code in chosen and rule.code not in dropped]


def run(
    model: ServerModel,
    tree: ConfigTree,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
    registry: Registry | None = None,
) -> list[Finding]:
    """Lint one configuration.

    ``select``/``ignore`` take codes, code prefixes, rule names or ``ALL``;
    an entry that names no rule raises ``SelectionError``. Findings waived by
    ``# vhostguard: ignore=CODE`` comments are dropped.
    """
    rules = [rule() for rule in selected_rules(registry or default_registry(), select, ignore)]
    ctx = LintContext(model, tree)
    found: list[Finding] = []
    for rule in rules:
        found.extend(rule.check(ctx))
    by_directive: dict[str, list[Rule]] = defaultdict(list)
    for rule in rules:
        for key in rule.directives:
            by_directive[key].append(rule)
    if by_directive:
        for node in ctx.nodes_named(*by_directive):
            for rule in by_directive[node.key]:
                found.extend(rule.check_node(node, ctx))
    waived: dict[int, frozenset[str]] = {}
    kept = [f for f in found if f.node is None or not is_waived(f.code, _waived_for(f.node, ctx, waived))]
    return sorted(_unique(kept), key=Finding.sort_key)


def _waived_for(node: Directive, ctx: LintContext, cache: dict[int, frozenset[str]]) -> frozenset[str]:
    # Codes waived on the node and its enclosing sections, looked up only for
    # the nodes findings are about (issue 17.15: indexing every node of a large
    # tree cost more than the few findings need).
    codes = cache.get(id(node))
    if codes is None:
        codes = cache[id(node)] = waived_along(ctx.ancestry(node)) if ctx.in_tree(node) else frozenset()
    return codes


def _unique(findings: list[Finding]) -> list[Finding]:
    # A directive of the main server is seen once per vhost by rules that
    # work per server; report it once.
    seen: set[tuple[str, str, int, str]] = set()
    unique: list[Finding] = []
    for finding in findings:
        key = (finding.code, finding.file, finding.line, finding.message)
        if key not in seen:
            seen.add(key)
            unique.append(finding)
    return unique


def summarize(findings: Iterable[Finding]) -> dict[str, int]:
    """Counts per severity, every severity present (docs/contract.md ``summary``)."""
    counts = {severity.value: 0 for severity in sorted(Severity, reverse=True)}
    for finding in findings:
        counts[finding.severity.value] += 1
    return counts


def fails(findings: Iterable[Finding], fail_on: Severity) -> bool:
    """Whether any finding is at or above ``fail_on`` (exit status 1)."""
    return any(finding.severity >= fail_on for finding in findings)

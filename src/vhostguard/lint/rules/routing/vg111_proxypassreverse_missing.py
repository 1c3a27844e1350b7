"""VG111 proxypassreverse-missing. A ProxyPass to an HTTP backend without a matching ProxyPassReverse."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.config.nodes import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.routing._common import PROXY_KEYS

_REVERSIBLE = ("http://", "https://", "balancer://", "h2://", "h2c://", "ajp://")


class ProxyPassReverseMissing(Rule):
    """
    ## What it does
    Checks for a `ProxyPass` to an HTTP backend without a `ProxyPassReverse`
    for the same backend URL.

    ## Why is this bad?
    Without `ProxyPassReverse`, redirects from the backend (`Location:
    http://127.0.0.1:5000/login`) reach clients unchanged: they point at an
    internal address, or at the wrong path prefix.

    ## Example
    ```apache
    ProxyPass /app/ http://127.0.0.1:8080/
    ```

    ## Use instead:
    ```apache
    ProxyPass        /app/ http://127.0.0.1:8080/
    ProxyPassReverse /app/ http://127.0.0.1:8080/
    ```

    ## Known problems
    Backends that only ever send relative redirects do not need it; waive the
    finding with `# vhostguard: ignore=VG111`.
    """

    code = "VG111"
    name = "proxypassreverse-missing"
    severity = Severity.WARNING
    summary = "A ProxyPass to an HTTP backend without a matching ProxyPassReverse."
    hint = "Add `ProxyPassReverse` with the same path and backend URL."
    directives = frozenset(PROXY_KEYS)

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if len(node.args) < 2 or not node.args[1].lower().startswith(_REVERSIBLE):
            return
        target = node.args[1].split("$", 1)[0].rstrip("/").lower()
        owner = ctx.owner(node)
        candidates = list(ctx.server_nodes(owner)) + ([] if owner.is_main else list(ctx.server_nodes(ctx.main)))
        for other in candidates:
            if other.key == "proxypassreverse" and other.args:
                url = other.args[-1].rstrip("/").lower()
                if target.startswith(url) or url.startswith(target):
                    return
        yield self.finding(node, f"{ctx.label(owner)}: {node.name} {node.args[0]} {node.args[1]} has no ProxyPassReverse for {node.args[1]}")

"""VG111 proxypassreverse-missing. A ProxyPass to an HTTP backend without a matching ProxyPassReverse."""
from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.routing._common import PROXY_KEYS, covers, location_of, prefix_path, section_label
from vhostguard.model import Server

_REVERSIBLE = ("http://", "https://", "balancer://", "h2://", "h2c://", "ajp://")


class ProxyPassReverseMissing(Rule):
    """
    ## What it does
    Checks for a `ProxyPass` to an HTTP backend without a `ProxyPassReverse`
    for the same backend URL. Inside `<Location /path>` both directives take
    only the URL; a `ProxyPassReverse` there applies to requests under that
    section only, so it counts for mappings whose path it contains or lies
    under.

    ## Why is this bad?
    Without `ProxyPassReverse`, redirects from the backend (`Location:
    http://127.0.0.1:5000/login`) reach clients unchanged: they point at an
    internal address, or at the wrong path prefix.

    ## Example
    ```apache
    ProxyPass /app/ http://127.0.0.1:8080/
    <Location /api/>
        ProxyPass http://127.0.0.1:8081/
    </Location>
    ```

    ## Use instead:
    ```apache
    ProxyPass        /app/ http://127.0.0.1:8080/
    ProxyPassReverse /app/ http://127.0.0.1:8080/
    <Location /api/>
        ProxyPass        http://127.0.0.1:8081/
        ProxyPassReverse http://127.0.0.1:8081/
    </Location>
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
        section = location_of(ctx, node)
        if section is None:
            if len(node.args) < 2:
                return
            url = node.args[1]
            scope = None if node.key == "proxypassmatch" else node.args[0]
            what, hint = f"{node.name} {node.args[0]} {url}", None
        else:
            if not node.args:
                return
            url = node.args[0]
            scope = prefix_path(section) if node.key == "proxypass" else None
            what = f"{node.name} {url} in {section_label(section)}"
            hint = "Add `ProxyPassReverse URL` with the same backend URL inside the same `<Location>`."
        if not url.lower().startswith(_REVERSIBLE):
            return
        target = url.split("$", 1)[0].rstrip("/").lower()
        owner = ctx.owner(node)
        grouped = ctx.remember("proxypassreverse-by-server", partial(_group_reverse_nodes, ctx))
        for reverse in _reverse_urls(ctx, grouped, owner, scope):
            known = reverse.rstrip("/").lower()
            if target.startswith(known) or known.startswith(target):
                return
        yield self.finding(node, f"{ctx.label(owner)}: {what} has no ProxyPassReverse for {url}", hint)


def _reverse_urls(ctx: LintContext, grouped: dict[int, list[Directive]], owner: Server, scope: str | None) -> Iterator[str]:
    """Backend URLs of the ProxyPassReverse lines that can rewrite responses to
    requests under the path ``scope`` (None: a path we cannot judge, so all)."""
    servers = [owner] if owner.is_main else [owner, ctx.main]
    for server in servers:
        for node in grouped.get(id(server), ()):
            section = location_of(ctx, node)
            if section is None:
                yield node.args[1] if len(node.args) >= 2 else node.args[0]
                continue
            # In a <Location>, ProxyPassReverse takes only the URL and applies
            # to the requests under that section (the list merges per directory).
            path = prefix_path(section)
            if scope is None or path is None or covers(path, scope) or covers(scope, path):
                yield node.args[0]


def _group_reverse_nodes(ctx: LintContext) -> dict[int, list[Directive]]:
    """Each server's ProxyPassReverse lines with arguments, in configuration order,
    by ``id(server)``. Grouped once per run from the by-name index (issue 17.15:
    walking the vhost's directives for each of its ProxyPass lines); the main
    server's are its own directives (a section the model skipped belongs to nobody)."""
    found: dict[int, list[Directive]] = {}
    for node in ctx.nodes_named("proxypassreverse"):
        if node.args:
            found.setdefault(id(ctx.owner(node)), []).append(node)
    found[id(ctx.main)] = [n for n in ctx.server_nodes(ctx.main) if n.key == "proxypassreverse" and n.args]
    return found

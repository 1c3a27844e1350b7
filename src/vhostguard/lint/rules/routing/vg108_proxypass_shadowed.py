"""VG108 proxypass-shadowed. A ProxyPass shadowed by an earlier, more general one."""
from __future__ import annotations

import re
from collections.abc import Iterator

from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.routing import proxy as mod_proxy


def _regex_shadows(pattern: str, path: str) -> bool:
    """Does an earlier regex mapping take ``path`` and everything under it?"""
    try:
        compiled = re.compile(pattern)
    except re.error:
        return False
    probe = path.rstrip("/") + "/vhostguard-probe"
    return bool(compiled.search(path) and compiled.search(probe))


def _proxy_shadower(mapping: mod_proxy.ProxyMapping, earlier: list[mod_proxy.ProxyMapping]) -> mod_proxy.ProxyMapping | None:
    if mapping.regex:
        return None
    for previous in earlier:
        if previous.regex:
            if _regex_shadows(previous.path, mapping.path):
                return previous
        elif mod_proxy.alias_match(mapping.path, previous.path) > 0:
            return previous
    return None


class ProxyPassShadowed(Rule):
    """
    ## What it does
    Checks for a `ProxyPass` whose path is already matched by an earlier, more
    general `ProxyPass`/`ProxyPassMatch` of the same server.

    ## Why is this bad?
    mod_proxy uses the first mapping that matches, in configuration order
    (the main server's before the vhost's). A `/api/` mapping listed before
    `/api/v2/` swallows `/api/v2/`: those requests go to the wrong backend.

    ## Example
    ```apache
    ProxyPass /api/    http://127.0.0.1:5000/
    ProxyPass /api/v2/ http://127.0.0.1:6000/
    ```

    ## Use instead:
    ```apache
    ProxyPass /api/v2/ http://127.0.0.1:6000/
    ProxyPass /api/    http://127.0.0.1:5000/
    ```

    ## References
    - https://httpd.apache.org/docs/2.4/mod/mod_proxy.html#proxypass
    """

    code = "VG108"
    name = "proxypass-shadowed"
    severity = Severity.ERROR
    summary = "A ProxyPass shadowed by an earlier, more general one."
    hint = "Order ProxyPass lines from the most specific path to the most general."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for server in ctx.servers:
            mappings = mod_proxy.server_mappings(ctx.main, server)
            for index, mapping in enumerate(mappings):
                shadower = _proxy_shadower(mapping, mappings[:index])
                if shadower is None:
                    continue
                owner = ctx.owner(mapping.node)
                yield self.finding(mapping.node, f"{ctx.label(owner)}: {mapping.node.name} {mapping.path} is never used: {shadower.node.name} {shadower.path} at {shadower.node.source} matches first")

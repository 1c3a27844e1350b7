"""VG112 rewrite-proxy-without-mod-proxy. RewriteRule [P] while mod_proxy is not loaded."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.routing import parse_flags


class RewriteProxyWithoutModProxy(Rule):
    """
    ## What it does
    Checks for `RewriteRule ... [P]` when mod_proxy is not loaded.

    ## Why is this bad?
    mod_rewrite hands `[P]` requests to mod_proxy; without it httpd answers
    every such request with an error instead of proxying it.

    ## Example
    ```apache
    LoadModule rewrite_module modules/mod_rewrite.so
    RewriteEngine on
    RewriteRule ^/app/(.*)$ http://127.0.0.1:8080/$1 [P]
    ```

    ## Use instead:
    ```apache
    LoadModule rewrite_module modules/mod_rewrite.so
    LoadModule proxy_module modules/mod_proxy.so
    LoadModule proxy_http_module modules/mod_proxy_http.so
    RewriteEngine on
    RewriteRule ^/app/(.*)$ http://127.0.0.1:8080/$1 [P]
    ```
    """

    code = "VG112"
    name = "rewrite-proxy-without-mod-proxy"
    severity = Severity.ERROR
    summary = "RewriteRule [P] while mod_proxy is not loaded."
    hint = "Load proxy_module (and the protocol module, e.g. proxy_http_module)."
    directives = frozenset({"rewriterule"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if len(node.args) < 3 or ctx.has_module("proxy_module"):
            return
        flags, _ = parse_flags(node.args[2])
        if flags.proxy:
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: RewriteRule {node.args[0]} has [P] but proxy_module is not loaded")

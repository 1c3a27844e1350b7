"""VG116 main-rewrite-not-inherited. Main-server RewriteRules that no request reaches: every connection goes to a vhost and no vhost inherits them."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.routing._rewrite import enclosing, inherits_main_rules, is_on, server_engine


class MainRewriteNotInherited(Rule):
    """
    ## What it does
    Checks for `RewriteRule` lines of the main server (outside any
    `<VirtualHost>` and section, e.g. in `apache2.conf` or a
    `conf-enabled/*.conf` file) when every connection is answered by a vhost
    and no vhost inherits them: `RewriteOptions Inherit` (or
    `InheritBefore`) in the vhost, or `RewriteOptions InheritDown` (or
    `InheritDownBefore`) in the main server, in a vhost whose engine is on
    and that holds a mod_rewrite directive of its own.

    ## Why is this bad?
    mod_rewrite's server-context rules are per server: a vhost runs its own
    and, without an inherit option, not the main server's. A site-wide
    "redirect everything to HTTPS" or "block this user agent" written once
    outside the vhosts silently applies to no request at all.

    ## Example
    ```apache
    RewriteEngine On
    RewriteCond %{HTTPS} off
    RewriteRule ^ https://%{HTTP_HOST}%{REQUEST_URI} [R=301,L]
    <VirtualHost *:80>
        ServerName www.example.com
    </VirtualHost>
    ```

    `RewriteOptions InheritDown` in the main server is not enough on its
    own: a vhost with no mod_rewrite directive at all shares the main
    server's configuration object and mod_rewrite does nothing for it
    (apache2 2.4 answers 404 where the inherited rule would redirect).

    ## Use instead:
    ```apache
    RewriteEngine On
    RewriteOptions InheritDown
    RewriteCond %{HTTPS} off
    RewriteRule ^ https://%{HTTP_HOST}%{REQUEST_URI} [R=301,L]
    <VirtualHost *:80>
        ServerName www.example.com
        RewriteEngine On
    </VirtualHost>
    ```

    ## Known problems
    Reported once, at the first such rule. Rules are judged unused only when
    no `Listen` address reaches the main server (vhosts take every port).

    ## References
    - https://httpd.apache.org/docs/2.4/mod/mod_rewrite.html#rewriteoptions
    """

    code = "VG116"
    name = "main-rewrite-not-inherited"
    severity = Severity.ERROR
    summary = "Main-server RewriteRules that no request reaches: every connection goes to a vhost and no vhost inherits them."
    hint = "Move the rules into the vhosts, or add `RewriteOptions Inherit` and `RewriteEngine On` to each vhost that needs them."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        if not ctx.has_module("rewrite_module") or not ctx.model.vhosts:
            return
        rules = [node for node in ctx.nodes_named("rewriterule")
                 if node.args and ctx.owner(node).is_main and enclosing(ctx, node) is None]
        if not rules or not is_on(server_engine(ctx, ctx.main)):
            return  # none, or never run anyway (VG115 says so)
        if ctx.main_answers:
            return
        if any(inherits_main_rules(ctx, vhost) and is_on(server_engine(ctx, vhost)) for vhost in ctx.model.vhosts):
            return
        count = "1 rule" if len(rules) == 1 else f"{len(rules)} rules"
        yield self.finding(
            rules[0],
            f"the main server's RewriteRule {rules[0].args[0]} ({count} in all) never runs: every connection goes to a vhost and none has RewriteOptions Inherit",
        )

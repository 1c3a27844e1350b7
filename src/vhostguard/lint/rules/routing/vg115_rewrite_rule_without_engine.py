"""VG115 rewrite-rule-without-engine. A RewriteRule where RewriteEngine is not On: it never runs."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.routing._rewrite import enclosing, inherits_main_rules, is_on, section_engine, server_engine


class RewriteRuleWithoutEngine(Rule):
    """
    ## What it does
    Checks for a `RewriteRule` in a server (the main server or a
    `<VirtualHost>`) or a section (`<Directory>`, `<Location>`, ...) where
    `RewriteEngine` is not `On`: never set there nor inherited, or set `Off`
    by the last `RewriteEngine` line of that level.

    A vhost without its own `RewriteEngine` takes the main server's, and a
    section without one takes its enclosing section's, then its server's
    (mod_rewrite's `cmd_rewriteengine` and configuration merging). The rules
    themselves are not inherited: that is VG116's business; a main-server
    rule that a vhost inherits (`RewriteOptions Inherit`) runs with that
    vhost's engine and is not reported here.

    ## Why is this bad?
    With the engine off, mod_rewrite ignores every rule of that level without
    a word in the error log: the redirect to HTTPS, the front controller or
    the rule that forbids dot-files is simply not there.

    ## Example
    ```apache
    <VirtualHost *:80>
        ServerName www.example.com
        RewriteCond %{HTTPS} off
        RewriteRule ^ https://%{HTTP_HOST}%{REQUEST_URI} [R=301,L]
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    <VirtualHost *:80>
        ServerName www.example.com
        RewriteEngine On
        RewriteCond %{HTTPS} off
        RewriteRule ^ https://%{HTTP_HOST}%{REQUEST_URI} [R=301,L]
    </VirtualHost>
    ```

    ## Known problems
    A rule in a section is not reported while some other section of its
    server (or of the main server) turns the engine on, nor a main-server
    section's while some vhost turns it on: sections merge per request.
    Rules in `.htaccess` files are not read.

    ## References
    - https://httpd.apache.org/docs/2.4/mod/mod_rewrite.html#rewriteengine
    """

    code = "VG115"
    name = "rewrite-rule-without-engine"
    severity = Severity.ERROR
    summary = "A RewriteRule where RewriteEngine is not On: it never runs."
    hint = "Add `RewriteEngine On` in the same context as the rules (each vhost, or the section)."
    directives = frozenset({"rewriterule"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if not node.args or not ctx.has_module("rewrite_module"):
            return
        level = enclosing(ctx, node)
        owner = ctx.owner(node)
        if level is None or level.key == "virtualhost":
            engine = server_engine(ctx, owner)
            where = ctx.label(owner)
            if owner.is_main and not is_on(engine) and any(
                    inherits_main_rules(ctx, vhost) and is_on(server_engine(ctx, vhost)) for vhost in ctx.model.vhosts):
                return  # appended to a vhost's rules (RewriteOptions Inherit) and run there
        else:
            engine, in_sections = section_engine(ctx, level)
            if not in_sections and not is_on(engine) and self._turned_on_elsewhere(ctx, node):
                return
            where = f"<{level.name} {' '.join(level.args)}> of {ctx.label(owner)}"
        if is_on(engine):
            return
        why = "RewriteEngine is never turned on there" if engine is None else f"RewriteEngine Off at {engine.source} turns it off"
        yield self.finding(node, f"RewriteRule {node.args[0]} in {where} never runs: {why}")

    @staticmethod
    def _turned_on_elsewhere(ctx: LintContext, rule: Directive) -> bool:
        """May the engine be on where this section's rules merge? A main-server
        section also applies to every vhost's requests, with that vhost's
        default state; any section may merge with another one turning it on."""
        owner = ctx.owner(rule)
        if owner.is_main and any(is_on(server_engine(ctx, vhost)) for vhost in ctx.model.vhosts):
            return True
        for engine in ctx.nodes_named("rewriteengine"):
            level = enclosing(ctx, engine)
            if level is None or level.key == "virtualhost" or not is_on(engine):
                continue
            server = ctx.owner(engine)
            if server is owner or server.is_main:
                return True
        return False

"""VG307 allowoverride-all. AllowOverride All on a DocumentRoot: .htaccess can change anything."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.security._common import first_arg_in, is_served, served_roots


class AllowOverrideAll(Rule):
    """
    ## What it does
    Checks for `AllowOverride All` on a served directory (a DocumentRoot or
    Alias target, or a directory above or below one).

    ## Why is this bad?
    Every `.htaccess` file under it can then change routing, access control
    and handlers: whoever can write a file in the tree (an upload, a CMS
    plugin) can reconfigure the server, and vhostguard cannot see those rules.

    ## Example
    ```apache
    <Directory /var/www/html>
        AllowOverride All
    </Directory>
    ```

    ## Use instead:
    ```apache
    <Directory /var/www/html>
        AllowOverride None
    </Directory>
    ```
    """

    code = "VG307"
    name = "allowoverride-all"
    severity = Severity.WARNING
    summary = "AllowOverride All on a DocumentRoot: .htaccess can change anything."
    hint = "Use `AllowOverride None` and move the rules into the configuration (or allow only the groups you need)."
    directives = frozenset({"directory"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        overrides = [child for child in node.children or () if child.key == "allowoverride" and first_arg_in(child, "all")]
        # served_roots lists every server's roots: only worth it, once, for a section that allows all.
        if not overrides or not node.args or node.args[0] == "~":
            return
        if not is_served(ctx.path(node.args[0]), served_roots(ctx)):
            return
        for child in overrides:
                yield self.finding(child, f"{ctx.label(ctx.owner(node))}: AllowOverride All in <Directory {node.args[0]}> lets .htaccess files reconfigure the server")

"""VG306 server-signature-on. ServerSignature On: version footer on error pages."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.security._common import first_arg_in


class ServerSignatureOn(Rule):
    """
    ## What it does
    Checks for `ServerSignature On` or `ServerSignature EMail`.

    ## Why is this bad?
    Error pages and directory listings then end with the server name and
    httpd version (as set by ServerTokens), telling scanners what to try.

    ## Example
    ```apache
    ServerSignature On
    ```

    ## Use instead:
    ```apache
    ServerSignature Off
    ```
    """

    code = "VG306"
    name = "server-signature-on"
    severity = Severity.WARNING
    summary = "ServerSignature On: version footer on error pages."
    hint = "Set `ServerSignature Off`."
    directives = frozenset({"serversignature"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if first_arg_in(node, "on", "email"):
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: ServerSignature {node.args[0]} adds the server version to error pages")

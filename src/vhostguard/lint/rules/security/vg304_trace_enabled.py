"""VG304 trace-enabled. TraceEnable on: the TRACE method echoes requests back."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.security._common import first_arg_in


class TraceEnabled(Rule):
    """
    ## What it does
    Checks for `TraceEnable On` or `TraceEnable extended`.

    ## Why is this bad?
    TRACE echoes the request back, headers included; with a client-side bug
    it leaks cookies and authorization headers (cross-site tracing), and
    scanners flag it on every audit.

    ## Example
    ```apache
    TraceEnable On
    ```

    ## Use instead:
    ```apache
    TraceEnable Off
    ```
    """

    code = "VG304"
    name = "trace-enabled"
    severity = Severity.WARNING
    summary = "TraceEnable on: the TRACE method echoes requests back."
    hint = "Set `TraceEnable Off`."
    directives = frozenset({"traceenable"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if first_arg_in(node, "on", "extended"):
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: TraceEnable {node.args[0]} allows the TRACE method")

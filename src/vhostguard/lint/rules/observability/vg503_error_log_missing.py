"""VG503 error-log-missing. No ErrorLog in the main server."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity


class ErrorLogMissing(Rule):
    """
    ## What it does
    Checks that the main server sets `ErrorLog`.

    ## Why is this bad?
    httpd then writes to its compiled-in default (`logs/error_log` under
    ServerRoot), which on packaged servers is usually not where anybody looks
    or rotates, or does not exist so that httpd cannot start.

    ## Example
    ```apache
    ServerRoot /etc/apache2
    Listen 80
    ```

    ## Use instead:
    ```apache
    ServerRoot /etc/apache2
    Listen 80
    ErrorLog /var/log/apache2/error.log
    ```
    """

    code = "VG503"
    name = "error-log-missing"
    severity = Severity.WARNING
    summary = "No ErrorLog in the main server."
    hint = "Set ErrorLog in the main server configuration."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        if ctx.own(ctx.main, "errorlog"):
            return
        yield self.finding(ctx.absence_anchor(), f"the main server has no ErrorLog: errors go to {ctx.path('logs/error_log')}")

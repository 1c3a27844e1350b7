"""VG403 certificate-expiring. A certificate close to its expiry date."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.tls._common import load_certificate, utc_now

EXPIRY_WARNING_DAYS = 30


class CertificateExpiring(Rule):
    """
    ## What it does
    Checks every `SSLCertificateFile` for a certificate that expires within
    30 days.

    ## Why is this bad?
    Renewal that has not happened 30 days before expiry has usually failed
    silently; this is the last comfortable moment to fix it.

    ## Example
    ```apache
    SSLCertificateFile /etc/ssl/manual/www.example.com.pem
    ```

    ## Use instead:
    ```apache
    SSLCertificateFile /etc/letsencrypt/live/www.example.com/fullchain.pem
    ```
    """

    code = "VG403"
    name = "certificate-expiring"
    severity = Severity.WARNING
    summary = f"A certificate that expires within {EXPIRY_WARNING_DAYS} days."
    hint = "Renew the certificate now and check why automatic renewal did not."
    directives = frozenset({"sslcertificatefile"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        cert = load_certificate(ctx.path(node.args[0])) if node.args else None
        if cert is None:
            return
        now = utc_now()
        left = cert.not_valid_after_utc - now
        if dt.timedelta(0) <= left < dt.timedelta(days=EXPIRY_WARNING_DAYS):
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: certificate {node.args[0]} expires on {cert.not_valid_after_utc:%Y-%m-%d} ({left.days} days left)")

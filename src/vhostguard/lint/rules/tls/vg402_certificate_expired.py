"""VG402 certificate-expired. An expired (or not yet valid) certificate."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.tls._common import load_certificate, utc_now


class CertificateExpired(Rule):
    """
    ## What it does
    Checks every `SSLCertificateFile` for a certificate whose validity has
    ended (or not yet begun).

    ## Why is this bad?
    Every client refuses the connection: the site is down for everyone using
    HTTPS, and automated clients fail hard.

    ## Example
    ```apache
    SSLCertificateFile /etc/ssl/old/www.example.com.pem
    ```

    ## Use instead:
    ```apache
    SSLCertificateFile /etc/letsencrypt/live/www.example.com/fullchain.pem
    ```
    """

    code = "VG402"
    name = "certificate-expired"
    severity = Severity.ERROR
    summary = "An expired (or not yet valid) certificate."
    hint = "Renew the certificate and reload httpd; automate renewal (ACME/certbot)."
    directives = frozenset({"sslcertificatefile"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        cert = load_certificate(ctx.path(node.args[0])) if node.args else None
        if cert is None:
            return
        now = utc_now()
        if cert.not_valid_after_utc < now:
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: certificate {node.args[0]} expired on {cert.not_valid_after_utc:%Y-%m-%d}")
        elif cert.not_valid_before_utc > now:
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: certificate {node.args[0]} is not valid before {cert.not_valid_before_utc:%Y-%m-%d}")

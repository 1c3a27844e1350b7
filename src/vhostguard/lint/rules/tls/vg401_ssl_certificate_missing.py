"""VG401 ssl-certificate-missing. SSLEngine on without SSLCertificateFile."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.tls._common import cert_pairs, tls_servers


class SslCertificateMissing(Rule):
    """
    ## What it does
    Checks for `SSLEngine on` in a server that has no `SSLCertificateFile`
    (of its own or inherited from the main server).

    ## Why is this bad?
    httpd refuses to start (AH02572: "Failed to configure at least one
    certificate and key").

    ## Example
    ```apache
    <VirtualHost *:443>
        ServerName www.example.com
        SSLEngine on
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    <VirtualHost *:443>
        ServerName www.example.com
        SSLEngine on
        SSLCertificateFile /etc/ssl/www.example.com.pem
        SSLCertificateKeyFile /etc/ssl/private/www.example.com.key
    </VirtualHost>
    ```
    """

    code = "VG401"
    name = "ssl-certificate-missing"
    severity = Severity.ERROR
    summary = "SSLEngine on without SSLCertificateFile."
    hint = "Add SSLCertificateFile and SSLCertificateKeyFile to the vhost."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for server in tls_servers(ctx):
            if not cert_pairs(ctx, server):
                node = ctx.effective(server, "sslengine")
                if node is not None:
                    yield self.finding(node, f"{ctx.label(server)}: SSLEngine on but no SSLCertificateFile")

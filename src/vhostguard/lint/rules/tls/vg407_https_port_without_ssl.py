"""VG407 https-port-without-ssl. A *:443 vhost without SSLEngine on."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity


class HttpsPortWithoutSsl(Rule):
    """
    ## What it does
    Checks for vhosts on port 443 without `SSLEngine on`.

    ## Why is this bad?
    Browsers speak TLS to port 443; a plain-HTTP vhost there answers the TLS
    handshake with an HTTP error ("SSL_ERROR_RX_RECORD_TOO_LONG"), so the
    site is unreachable over HTTPS.

    ## Example
    ```apache
    <VirtualHost *:443>
        ServerName www.example.com
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    <VirtualHost *:443>
        ServerName www.example.com
        SSLEngine on
        SSLCertificateFile /etc/ssl/www.pem
        SSLCertificateKeyFile /etc/ssl/private/www.key
    </VirtualHost>
    ```
    """

    code = "VG407"
    name = "https-port-without-ssl"
    severity = Severity.ERROR
    summary = "A *:443 vhost without SSLEngine on."
    hint = "Add `SSLEngine on` with a certificate, or move the vhost to port 80."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for server in ctx.model.vhosts:
            node = ctx.vhost_node(server)
            if node is not None and any(a.port == 443 for a in server.addresses) and not ctx.ssl_enabled(server):
                yield self.finding(node, f"vhost {server.server_name} listens on port 443 without SSLEngine on")

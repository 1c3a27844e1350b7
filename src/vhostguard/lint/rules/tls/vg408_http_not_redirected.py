"""VG408 http-not-redirected. An HTTP vhost for a name that has an HTTPS vhost, without a redirect to https."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.routing._common import answers_name
from vhostguard.lint.rules.tls._common import declared_names, tls_servers
from vhostguard.routing import Request


class HttpNotRedirected(Rule):
    """
    ## What it does
    Checks, for every name served by an HTTPS vhost, that `http://name/` is
    redirected to `https://` by the vhost that answers it on port 80.

    ## Why is this bad?
    Users who type the bare name, old links and bookmarks keep using plain
    HTTP: cookies and credentials travel unencrypted, and the HTTP vhost
    tends to drift from the HTTPS one.

    ## Example
    ```apache
    <VirtualHost *:80>
        ServerName www.example.com
        DocumentRoot /var/www/www
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    <VirtualHost *:80>
        ServerName www.example.com
        Redirect permanent / https://www.example.com/
    </VirtualHost>
    ```
    """

    code = "VG408"
    name = "http-not-redirected"
    severity = Severity.WARNING
    summary = "An HTTP vhost for a name that has an HTTPS vhost, without a redirect to https."
    hint = "Redirect the HTTP vhost: `Redirect permanent / https://NAME/`."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        if not any(listen.port == 80 for listen in ctx.model.listens):
            return
        reported: set[str | None] = set()
        for server in tls_servers(ctx):
            for name in declared_names(server):
                finding = self._check_name(ctx, name, reported)
                if finding is not None:
                    yield finding

    def _check_name(self, ctx: LintContext, name: str, reported: set[str | None]) -> Finding | None:
        try:
            request = Request.from_url(f"http://{name}/")
        except ValueError:
            return None
        decision = ctx.router.route(request)
        http = decision.server
        node = ctx.vhost_node(http)
        if node is None or http.id in reported or ctx.ssl_enabled(http) or not answers_name(http, name.lower()):
            return None
        outcome = decision.outcome
        if outcome.kind == "redirect" and (outcome.target or "").startswith("https://"):
            return None
        reported.add(http.id)
        return self.finding(node, f"vhost {http.server_name} answers http://{name}/ with {outcome.kind} instead of redirecting to https://{name}/")

"""VG105 vhost-without-listen. A vhost on an address:port that no Listen opens."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.routing._common import listen_covers


class VhostWithoutListen(Rule):
    """
    ## What it does
    Checks for `<VirtualHost>` addresses on an address:port that no `Listen`
    opens.

    ## Why is this bad?
    httpd only accepts connections on the sockets `Listen` opens. A vhost on
    another port (a typo, or a `Listen 443` inside an `<IfModule>` that is not
    loaded) never receives a request.

    ## Example
    ```apache
    Listen 80
    <VirtualHost *:8080>
        ServerName app.example.com
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    Listen 80
    Listen 8080
    <VirtualHost *:8080>
        ServerName app.example.com
    </VirtualHost>
    ```
    """

    code = "VG105"
    name = "vhost-without-listen"
    severity = Severity.ERROR
    summary = "A vhost on an address:port that no Listen opens."
    hint = "Add a matching `Listen`, or fix the port in `<VirtualHost>`."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for server in ctx.model.vhosts:
            node = ctx.vhost_node(server)
            missing = [a.display() for a in server.addresses if a.port is not None and not listen_covers(ctx, a.ip, a.port)]
            if missing and node is not None:
                yield self.finding(node, f"vhost {server.server_name}: no Listen opens {', '.join(missing)}, so it never receives a request")

"""VG101 unreachable-vhost. A name-based vhost whose names are all taken by earlier vhosts on its address set."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.routing._common import unreachable_in


class UnreachableVhost(Rule):
    """
    ## What it does
    Checks for name-based vhosts whose every ServerName and ServerAlias is
    already answered by an earlier vhost on the same address set.

    ## Why is this bad?
    httpd walks the vhosts of an address set in configuration order and the
    first name match wins. A vhost whose names are all taken earlier never
    receives a request: its routes, TLS settings and logs are dead code, and
    the traffic meant for it is served by the other vhost.

    ## Example
    ```apache
    <VirtualHost *:80>
        ServerName www.example.com
        ServerAlias example.com
    </VirtualHost>
    <VirtualHost *:80>
        ServerName example.com
        ProxyPass / http://127.0.0.1:8080/
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    <VirtualHost *:80>
        ServerName www.example.com
    </VirtualHost>
    <VirtualHost *:80>
        ServerName example.com
        ProxyPass / http://127.0.0.1:8080/
    </VirtualHost>
    ```

    ## Known problems
    Matching on the `<VirtualHost>` address itself (httpd's last resort) is
    not considered.

    ## References
    - https://httpd.apache.org/docs/2.4/vhosts/details.html
    """

    code = "VG101"
    name = "unreachable-vhost"
    severity = Severity.ERROR
    summary = "A name-based vhost whose names are all taken by earlier vhosts on its address set."
    hint = "Remove the names from the earlier vhost, or merge the two vhosts."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for server in ctx.model.vhosts:
            winners = unreachable_in(server, ctx)
            node = ctx.vhost_node(server)
            if winners is None or node is None:
                continue
            taken = "; ".join(f"{name} by {w.server_name} ({w.id})" for name, w in winners.items())
            yield self.finding(node, f"<VirtualHost> {server.server_name} can never be reached: every name is taken earlier ({taken})")

"""VG105 vhost-without-listen. A vhost on an address:port that no Listen opens."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.routing._common import listen_covers


class VhostWithoutListen(Rule):
    """
    ## What it does
    Checks for a `<VirtualHost>` none of whose addresses is on an
    address:port that a `Listen` opens.

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

    ## Known problems
    A vhost with at least one listened address is not reported: it answers
    there, and an address for a module that is off (`*:443` while mod_ssl
    and its `Listen 443` are disabled) is a common, harmless leftover.
    """

    code = "VG105"
    name = "vhost-without-listen"
    severity = Severity.ERROR
    summary = "A vhost on an address:port that no Listen opens."
    hint = "Add a matching `Listen`, or fix the port in `<VirtualHost>`."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for server in ctx.model.vhosts:
            node = ctx.vhost_node(server)
            ports = [(a, a.port) for a in server.addresses if a.port is not None]
            missing = list(dict.fromkeys(a.display() for a, port in ports if not listen_covers(ctx, a.ip, port)))
            # One address some Listen opens is enough to receive requests: `<VirtualHost
            # *:80 *:443>` with mod_ssl (and its Listen 443) disabled still answers on 80.
            if missing and len(missing) == len({a.display() for a, _ in ports}) and node is not None:
                yield self.finding(node, f"vhost {server.server_name}: no Listen opens {', '.join(missing)}, so it never receives a request")

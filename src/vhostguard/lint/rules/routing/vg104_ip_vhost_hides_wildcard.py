"""VG104 ip-vhost-hides-wildcard. An IP-specific vhost hides the *:port vhosts for connections to that IP."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.routing._common import listen_covers


class IpVhostHidesWildcard(Rule):
    """
    ## What it does
    Checks for an IP-specific vhost (`<VirtualHost 10.0.0.5:80>`) on a port
    that also has `*:80` vhosts.

    ## Why is this bad?
    For a connection to an address that IP-specific vhosts name, httpd only
    considers those vhosts: the `*:port` vhosts are never candidates, whatever
    the Host says. On a server whose public address is that IP, the wildcard
    vhosts become unreachable and their Hosts land on the IP vhost.

    ## Example
    ```apache
    <VirtualHost 10.0.0.5:80>
        ServerName admin.example.com
    </VirtualHost>
    <VirtualHost *:80>
        ServerName www.example.com
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    <VirtualHost *:80>
        ServerName admin.example.com
    </VirtualHost>
    <VirtualHost *:80>
        ServerName www.example.com
    </VirtualHost>
    ```

    ## References
    - https://httpd.apache.org/docs/2.4/vhosts/details.html
    """

    code = "VG104"
    name = "ip-vhost-hides-wildcard"
    severity = Severity.WARNING
    summary = "An IP-specific vhost hides the *:port vhosts for connections to that IP."
    hint = "Use the same address form (all `*:port` or all `IP:port`) for every vhost on a port."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        wildcard = {aset.port: aset for aset in ctx.model.address_sets if aset.ip is None}
        for aset in ctx.model.address_sets:
            if aset.ip is None or aset.port is None:
                continue
            other = wildcard.get(aset.port) or wildcard.get(None)
            if other is None or not listen_covers(ctx, aset.ip, aset.port):
                continue
            hidden = [s for s in other.servers if not any(s is mine for mine in aset.servers)]
            node = ctx.vhost_node(aset.default)
            if hidden and node is not None:
                names = ", ".join(s.server_name for s in hidden)
                yield self.finding(node, f"vhost {aset.default.server_name} on {aset.address} hides the {other.address} vhosts ({names}) for connections to {aset.ip}")

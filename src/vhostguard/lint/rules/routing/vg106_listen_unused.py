"""VG106 listen-unused. A Listen with no vhost on its port and no main-server content."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity

_MAIN_CONTENT = frozenset({
    "documentroot", "proxypass", "proxypassmatch", "alias", "aliasmatch", "scriptalias", "scriptaliasmatch",
    "redirect", "redirectmatch", "redirectpermanent", "redirecttemp", "rewriterule", "wsgiscriptalias", "sethandler",
})


class ListenUnused(Rule):
    """
    ## What it does
    Checks for a `Listen` whose port no vhost uses while the main server
    (the configuration outside `<VirtualHost>`) has no content of its own.

    ## Why is this bad?
    Connections on that port are answered by the main server with httpd's
    defaults (on Debian the stock `/var/www/html`): an open port that serves
    something nobody configured on purpose.

    ## Example
    ```apache
    Listen 80
    Listen 8080
    <VirtualHost *:80>
        ServerName www.example.com
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    Listen 80
    <VirtualHost *:80>
        ServerName www.example.com
    </VirtualHost>
    ```
    """

    code = "VG106"
    name = "listen-unused"
    severity = Severity.WARNING
    summary = "A Listen with no vhost on its port and no main-server content."
    hint = "Remove the `Listen`, or add the vhost meant to answer on it."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        if any(node.key in _MAIN_CONTENT for node in ctx.server_nodes(ctx.main)):
            return
        for listen in ctx.model.listens:
            used = any(
                (aset.port is None or aset.port == listen.port) and (aset.ip is None or listen.ip is None or aset.ip == listen.ip)
                for aset in ctx.model.address_sets
            )
            if not used:
                where = listen.address or str(listen.port)
                node = next((n for n in ctx.tree.walk() if n.key == "listen" and n.source == listen.source), None)
                yield self.finding(node or listen.source, f"Listen {where}: no vhost uses this port and the main server has no content")

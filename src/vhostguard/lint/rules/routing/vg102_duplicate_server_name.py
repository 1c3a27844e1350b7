"""VG102 duplicate-server-name. A ServerName/ServerAlias already answered by an earlier vhost on the same address set."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.routing._common import unreachable_in
from vhostguard.model import AddressSet, Server


class DuplicateServerName(Rule):
    """
    ## What it does
    Checks for a ServerName or ServerAlias that an earlier vhost on the same
    address set already declares (as a name, alias or matching wildcard alias).

    ## Why is this bad?
    Only the first vhost in configuration order gets requests for a duplicated
    name; the later declaration is silently ignored, so requests for that name
    do not go where its author meant them to.

    ## Example
    ```apache
    <VirtualHost *:80>
        ServerName www.example.com
        ServerAlias shop.example.com
    </VirtualHost>
    <VirtualHost *:80>
        ServerName shop.example.com
        ServerAlias shop.example.net
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    <VirtualHost *:80>
        ServerName www.example.com
    </VirtualHost>
    <VirtualHost *:80>
        ServerName shop.example.com
        ServerAlias shop.example.net
    </VirtualHost>
    ```

    ## Known problems
    When every name of a vhost is taken, VG101 (unreachable-vhost) reports the
    vhost instead of one finding per name.
    """

    code = "VG102"
    name = "duplicate-server-name"
    severity = Severity.ERROR
    summary = "A ServerName/ServerAlias already answered by an earlier vhost on the same address set."
    hint = "Declare each host name in exactly one vhost per address set."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for aset in ctx.model.address_sets:
            for position, server in enumerate(aset.servers):
                if position == 0 or unreachable_in(server, ctx) is not None:
                    continue
                if any(earlier is server for earlier in aset.servers[:position]):
                    # A vhost listing one address twice (`<VirtualHost localhost:80
                    # 127.0.0.1:80>`) is in the set twice: its names are its own.
                    continue
                yield from self._duplicates(server, position, aset, ctx)

    def _duplicates(self, server: Server, position: int, aset: AddressSet, ctx: LintContext) -> Iterator[Finding]:
        owners = ctx.name_owners(aset)
        for node in server.directives:
            if node.key not in ("servername", "serveralias") or not node.args:
                continue
            for word in node.args if node.key == "serveralias" else node.args[:1]:
                name = server.server_name.lower() if node.key == "servername" else word.lower()
                if "*" in name or "?" in name:
                    continue
                winner = owners.first_answering(name, position)
                if winner is not None:
                    yield self.finding(node, f"{ctx.label(server)}: {node.name} {name} on {aset.address} is already answered by {winner.server_name} ({winner.id})")

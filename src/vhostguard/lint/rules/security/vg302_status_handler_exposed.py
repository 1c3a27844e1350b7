"""VG302 status-handler-exposed. server-status/server-info/balancer-manager reachable without a Require restriction."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.security._common import granted_to_anyone
from vhostguard.model import Server
from vhostguard.routing import applicable

STATUS_HANDLERS = frozenset({"server-status", "server-info", "balancer-manager"})


class StatusHandlerExposed(Rule):
    """
    ## What it does
    Checks that `server-status`, `server-info` and `balancer-manager` handlers
    are restricted with `Require` (e.g. `Require local` or `Require ip`).

    ## Why is this bad?
    server-status shows every client address and URL being served,
    server-info the whole configuration, and balancer-manager lets anyone
    disable backends or add new ones.

    ## Example
    ```apache
    <Location /server-status>
        SetHandler server-status
    </Location>
    ```

    ## Use instead:
    ```apache
    <Location /server-status>
        SetHandler server-status
        Require local
    </Location>
    ```

    ## References
    - https://httpd.apache.org/docs/2.4/mod/mod_status.html
    """

    code = "VG302"
    name = "status-handler-exposed"
    severity = Severity.ERROR
    summary = "server-status/server-info/balancer-manager reachable without a Require restriction."
    hint = "Add `Require local` (or `Require ip ADMIN-NETWORK`) to the section that sets the handler."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for server in ctx.servers:
            for node, path in self._handlers(server, ctx):
                chosen = applicable(ctx.sections(server), path, None)
                if granted_to_anyone(chosen):
                    yield self.finding(node, f"{ctx.label(server)}: SetHandler {node.args[0]} at {path} is open to any client")

    @staticmethod
    def _handlers(server: Server, ctx: LintContext) -> Iterator[tuple[Directive, str]]:
        for node in server.directives:
            if node.key == "sethandler" and node.args and node.args[0].lower() in STATUS_HANDLERS:
                yield node, "/"
            if node.key == "location" and node.args and node.args[0] != "~":
                for child in node.children or ():
                    if child.key == "sethandler" and child.args and child.args[0].lower() in STATUS_HANDLERS:
                        yield child, node.args[0]

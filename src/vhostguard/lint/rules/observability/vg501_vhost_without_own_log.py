"""VG501 vhost-without-own-log. A vhost without its own CustomLog, logged in a shared format without %v."""
from __future__ import annotations

import re
from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.observability._common import ACCESS_LOG_KEYS, AccessLogFormats
from vhostguard.model import Server

_VHOST = re.compile(r"%(?:[<>]|!?[\d,]+)*[vV]")


def _access_logs(server: Server) -> list[Directive]:
    return [d for d in server.directives if d.children is None and d.key in ACCESS_LOG_KEYS]


class VhostWithoutOwnLog(Rule):
    """
    ## What it does
    Checks for vhosts without a CustomLog of their own whose requests end up
    in the main server's log without `%v` (or in no access log at all).

    ## Why is this bad?
    When several vhosts write one log without the vhost name, nobody can tell
    which site a request (or an error spike) belongs to; without any access
    log the vhost's traffic is invisible.

    ## Example
    ```apache
    LogFormat "%h %l %u %t \\"%r\\" %>s %b %D" common
    CustomLog /var/log/apache2/access.log common
    <VirtualHost *:80>
        ServerName www.example.com
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    LogFormat "%v %h %l %u %t \\"%r\\" %>s %b %D" vhost_common
    CustomLog /var/log/apache2/access.log vhost_common
    <VirtualHost *:80>
        ServerName www.example.com
    </VirtualHost>
    ```
    """

    code = "VG501"
    name = "vhost-without-own-log"
    severity = Severity.WARNING
    summary = "A vhost without its own CustomLog, logged in a shared format without %v."
    hint = "Give the vhost its own CustomLog, or add %v to the shared LogFormat."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        shared = _access_logs(ctx.main)
        formats = AccessLogFormats(ctx)
        for server in ctx.model.vhosts:
            node = ctx.vhost_node(server)
            if node is None or any(d.key != "globallog" for d in _access_logs(server)):
                continue
            inherited = shared + [d for d in _access_logs(server) if d.key == "globallog"]
            if not inherited:
                yield self.finding(node, f"vhost {server.server_name} has no CustomLog and the main server has none: its requests are not logged")
                continue
            if not any(_VHOST.search(formats.of(log)[0]) for log in inherited):
                logs = ", ".join(f"{log.name} {log.args[0] if log.args else ''}" for log in inherited)
                yield self.finding(node, f"vhost {server.server_name} has no CustomLog of its own and the shared log ({logs}) has no %v")

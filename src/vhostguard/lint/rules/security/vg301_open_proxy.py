"""VG301 open-proxy. ProxyRequests On without access control: an open forward proxy."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.security._common import granted_to_anyone
from vhostguard.routing import Section


class OpenProxy(Rule):
    """
    ## What it does
    Checks for `ProxyRequests On` without a `<Proxy>` section that restricts
    who may use the forward proxy.

    ## Why is this bad?
    A forward proxy open to the Internet relays anybody's traffic (spam,
    attacks, access to internal addresses) under your server's address; open
    proxies are found and abused within hours.

    ## Example
    ```apache
    ProxyRequests On
    ```

    ## Use instead:
    ```apache
    ProxyRequests On
    <Proxy "*">
        Require ip 10.0.0.0/8
    </Proxy>
    ```

    ## References
    - https://httpd.apache.org/docs/2.4/mod/mod_proxy.html#access
    """

    code = "VG301"
    name = "open-proxy"
    severity = Severity.ERROR
    summary = "ProxyRequests On without access control: an open forward proxy."
    hint = "Turn ProxyRequests off (ProxyPass does not need it), or restrict it in a <Proxy \"*\"> section."
    directives = frozenset({"proxyrequests"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if not node.args or node.args[0].lower() != "on":
            return
        owner = ctx.owner(node)
        scopes = [owner] if owner.is_main else [owner, ctx.main]
        for server in scopes:
            for section in ctx.server_nodes(server):
                restricting = (
                    section.key in ("proxy", "proxymatch") and section.children is not None
                    and not granted_to_anyone([Section("proxy", False, section.arg_text, section)])
                )
                if restricting:
                    return
        yield self.finding(node, f"{ctx.label(owner)}: ProxyRequests On and no <Proxy> section restricts access: anyone can use this server as a proxy")

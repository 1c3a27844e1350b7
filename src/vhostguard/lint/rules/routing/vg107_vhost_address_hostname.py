"""VG107 vhost-address-hostname. <VirtualHost> with a host name instead of an IP address."""
from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.model import AddressError, normalize_ip, split_host_port


class VhostAddressHostname(Rule):
    """
    ## What it does
    Checks for `<VirtualHost>` lines that name a host instead of an IP
    address, `*` or `_default_`.

    ## Why is this bad?
    httpd resolves the name through DNS once, at start-up: when DNS is slow
    or down the vhost is silently dropped, and when the name later resolves
    elsewhere the vhost answers on the wrong address (or nowhere). Host names
    belong in ServerName/ServerAlias.

    ## Example
    ```apache
    <VirtualHost www.example.com:80>
        ServerName www.example.com
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    <VirtualHost *:80>
        ServerName www.example.com
    </VirtualHost>
    ```

    ## References
    - https://httpd.apache.org/docs/2.4/dns-caveats.html
    """

    code = "VG107"
    name = "vhost-address-hostname"
    severity = Severity.WARNING
    summary = "<VirtualHost> with a host name instead of an IP address."
    hint = "Use `*:port` or the IP address in `<VirtualHost>` and put the name in ServerName."
    directives = frozenset({"virtualhost"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        for word in node.args:
            body = word[:-2] if word.endswith(":*") else word
            try:
                host, _ = split_host_port(body)
            except AddressError:
                continue
            if host is None or host == "*" or host.lower() == "_default_":
                continue
            # Most vhosts share a few addresses: parse each once per run.
            if ctx.remember(("is-ip", host), partial(_is_ip, host)):
                continue
            yield self.finding(node, f"<VirtualHost {word}> names the host {host}: httpd resolves it once through DNS at start-up")


def _is_ip(host: str) -> bool:
    return normalize_ip(host) is not None

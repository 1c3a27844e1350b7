"""VG406 weak-tls-protocol. SSLProtocol allows SSLv3, TLSv1 or TLSv1.1."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity

WEAK_PROTOCOLS = ("SSLv3", "TLSv1", "TLSv1.1")
_PROTOCOLS = {"sslv3": "SSLv3", "tlsv1": "TLSv1", "tlsv1.1": "TLSv1.1", "tlsv1.2": "TLSv1.2", "tlsv1.3": "TLSv1.3"}
# mod_ssl's "all" with an OpenSSL built without SSLv3 (every current distribution).
_ALL = frozenset({"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"})


def enabled_protocols(node: Directive) -> set[str]:
    """``SSLProtocol`` as mod_ssl reads it: a bare word replaces, +/- adjust."""
    enabled: set[str] = set()
    for word in node.args:
        sign = word[0] if word[0] in "+-" else ""
        name = word[1:] if sign else word
        chosen = set(_ALL) if name.lower() == "all" else {_PROTOCOLS.get(name.lower(), name)}
        if sign == "+":
            enabled |= chosen
        elif sign == "-":
            enabled -= chosen
        else:
            enabled = chosen
    return enabled


class WeakTlsProtocol(Rule):
    """
    ## What it does
    Checks for `SSLProtocol` settings that enable SSLv3, TLSv1 or TLSv1.1.

    ## Why is this bad?
    These protocols are deprecated (RFC 8996) and have known attacks
    (POODLE, BEAST); PCI DSS and most audits reject them.

    ## Example
    ```apache
    SSLProtocol all -SSLv3
    ```

    ## Use instead:
    ```apache
    SSLProtocol -all +TLSv1.2 +TLSv1.3
    ```

    ## References
    - https://httpd.apache.org/docs/2.4/mod/mod_ssl.html#sslprotocol
    """

    code = "VG406"
    name = "weak-tls-protocol"
    severity = Severity.WARNING
    summary = "SSLProtocol allows SSLv3, TLSv1 or TLSv1.1."
    hint = "Use `SSLProtocol -all +TLSv1.2 +TLSv1.3`."
    directives = frozenset({"sslprotocol"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        weak = [p for p in WEAK_PROTOCOLS if p in enabled_protocols(node)]
        if weak:
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: SSLProtocol {' '.join(node.args)} enables {', '.join(weak)}")

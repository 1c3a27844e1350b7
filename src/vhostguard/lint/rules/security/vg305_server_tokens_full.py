"""VG305 server-tokens-full. ServerTokens Full: module names and versions in every Server header."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.security._common import first_arg_in


class ServerTokensFull(Rule):
    """
    ## What it does
    Checks for `ServerTokens Full`, which adds every module's name and
    version to the `Server:` header.

    ## Why is this bad?
    The Server header then lists the exact versions of httpd, OpenSSL, PHP
    and other modules: a ready-made list of CVEs to try.

    ## Example
    ```apache
    ServerTokens Full
    ```

    ## Use instead:
    ```apache
    ServerTokens Prod
    ```
    """

    code = "VG305"
    name = "server-tokens-full"
    severity = Severity.WARNING
    summary = "ServerTokens Full: module names and versions in every Server header."
    hint = "Set `ServerTokens Prod`."
    directives = frozenset({"servertokens"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if first_arg_in(node, "full"):
            yield self.finding(node, "ServerTokens Full sends httpd's and every module's version in the Server header")

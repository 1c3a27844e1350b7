"""VG204 tls-file-missing. A certificate, key or chain file that does not exist or is unreadable."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.files._common import path_problem

TLS_FILE_KEYS = frozenset({"sslcertificatefile", "sslcertificatekeyfile", "sslcertificatechainfile", "sslcacertificatefile"})


class TlsFileMissing(Rule):
    """
    ## What it does
    Checks that every `SSLCertificateFile`, `SSLCertificateKeyFile`,
    `SSLCertificateChainFile` and `SSLCACertificateFile` exists and is
    readable.

    ## Why is this bad?
    httpd refuses to start (AH02572 and friends): a renewal that moved the
    files, or a typo, takes every site on the server down at the next restart.

    ## Example
    ```apache
    SSLCertificateFile /etc/ssl/certs/www.pem
    ```

    ## Use instead:
    ```apache
    SSLCertificateFile /etc/letsencrypt/live/www.example.com/fullchain.pem
    ```
    """

    code = "VG204"
    name = "tls-file-missing"
    severity = Severity.ERROR
    summary = "A certificate, key or chain file that does not exist or is unreadable."
    hint = "Fix the path, or deploy the file before reloading."
    directives = TLS_FILE_KEYS

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if not node.args or node.args[0].startswith(("pkcs11:", "|")):
            return
        path = ctx.path(node.args[0])
        problem = path_problem(path, directory=False)
        if problem:
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: {node.name} {path} {problem}")

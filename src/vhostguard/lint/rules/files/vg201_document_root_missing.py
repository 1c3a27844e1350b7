"""VG201 document-root-missing. A DocumentRoot that does not exist or is unreadable."""
from __future__ import annotations

import os
from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.files._common import path_problem


class DocumentRootMissing(Rule):
    """
    ## What it does
    Checks that every `DocumentRoot` is an existing, readable directory.

    ## Why is this bad?
    httpd starts with a warning (AH00112) and then answers every request for
    that vhost with 404 or 403: the site is down although the server is up.

    ## Example
    ```apache
    DocumentRoot /var/www/typo
    ```

    ## Use instead:
    ```apache
    DocumentRoot /var/www/html
    ```

    ## Known problems
    Paths are checked on the machine running vhostguard; lint the target
    filesystem (or an image of it) for a meaningful answer.
    """

    code = "VG201"
    name = "document-root-missing"
    severity = Severity.WARNING
    summary = "A DocumentRoot that does not exist or is unreadable."
    hint = "Create the directory, or point DocumentRoot at the deployed tree."
    directives = frozenset({"documentroot"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if not node.args:
            return
        path = ctx.path(node.args[0])
        if ctx.listed(path):
            # Listed (by VG309): an existing directory, so only the access check is left.
            problem = None if os.access(path, os.R_OK | os.X_OK) else "is not readable"
        else:
            problem = path_problem(path, directory=True)
        if problem:
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: DocumentRoot {path} {problem}")

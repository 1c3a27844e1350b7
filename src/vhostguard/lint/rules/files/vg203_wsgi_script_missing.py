"""VG203 wsgi-script-missing. A WSGIScriptAlias script that does not exist or is unreadable."""
from __future__ import annotations

import os
from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.files._common import is_pattern, path_problem


class WsgiScriptMissing(Rule):
    """
    ## What it does
    Checks that the script of every `WSGIScriptAlias` exists and is readable.

    ## Why is this bad?
    mod_wsgi answers 404 (or 500) for the whole mounted application.

    ## Example
    ```apache
    WSGIScriptAlias / /srv/app/wsgi.py
    ```

    ## Use instead:
    ```apache
    WSGIScriptAlias / /srv/app/app/wsgi.py
    ```
    """

    code = "VG203"
    name = "wsgi-script-missing"
    severity = Severity.WARNING
    summary = "A WSGIScriptAlias script that does not exist or is unreadable."
    hint = "Deploy the script, or fix its path."
    directives = frozenset({"wsgiscriptalias"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if len(node.args) < 2 or is_pattern(node.args[1]):
            return
        path = ctx.path(node.args[1])
        problem = path_problem(path, directory=os.path.isdir(path))
        if problem:
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: WSGIScriptAlias {node.args[0]} script {path} {problem}")

"""VG202 alias-target-missing. An Alias/ScriptAlias target that does not exist or is unreadable."""
from __future__ import annotations

import os
from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.files._common import is_pattern


class AliasTargetMissing(Rule):
    """
    ## What it does
    Checks that the target of every `Alias` and `ScriptAlias` exists and is
    readable.

    ## Why is this bad?
    Requests under the alias get 404 (or 403 when `<Directory />` denies):
    the URL space is claimed but serves nothing.

    ## Example
    ```apache
    Alias /static/ /srv/app/statc/
    ```

    ## Use instead:
    ```apache
    Alias /static/ /srv/app/static/
    ```

    ## Known problems
    `AliasMatch` targets with back-references are not checked.
    """

    code = "VG202"
    name = "alias-target-missing"
    severity = Severity.WARNING
    summary = "An Alias/ScriptAlias target that does not exist or is unreadable."
    hint = "Create the target, or fix the path in the Alias."
    directives = frozenset({"alias", "scriptalias", "aliasmatch", "scriptaliasmatch"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if len(node.args) < 2 or is_pattern(node.args[1]):
            return
        path = ctx.path(node.args[1])
        problem = None if os.path.exists(path) and os.access(path, os.R_OK) else ("does not exist" if not os.path.exists(path) else "is not readable")
        if problem:
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: {node.name} {node.args[0]} target {path} {problem}")

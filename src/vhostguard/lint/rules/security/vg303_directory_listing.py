"""VG303 directory-listing. Options Indexes on a served directory tree."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.security._common import is_served, served_roots


def _option_words(node: Directive) -> set[str]:
    return {w.lower().lstrip("+") for w in node.args if not w.startswith("-")}


class DirectoryListing(Rule):
    """
    ## What it does
    Checks for `Options Indexes` (or `+Indexes`, `All`) on a directory that is
    served (a DocumentRoot or Alias target, or a directory above or below
    one) while mod_autoindex is loaded.

    ## Why is this bad?
    Any directory without an index file is listed: backups, uploads, build
    artefacts and editor swap files become discoverable.

    ## Example
    ```apache
    <Directory /var/www/>
        Options Indexes FollowSymLinks
    </Directory>
    ```

    ## Use instead:
    ```apache
    <Directory /var/www/>
        Options FollowSymLinks
    </Directory>
    ```
    """

    code = "VG303"
    name = "directory-listing"
    severity = Severity.WARNING
    summary = "Options Indexes on a served directory tree."
    hint = "Remove Indexes from Options (or use `Options -Indexes`)."
    directives = frozenset({"directory"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if not ctx.has_module("autoindex_module") or not node.args or node.args[0] == "~":
            return
        if not is_served(ctx.path(node.args[0]), served_roots(ctx)):
            return
        for child in node.children or ():
            if child.key == "options" and ({"indexes", "all"} & _option_words(child)):
                yield self.finding(child, f"{ctx.label(ctx.owner(node))}: Options {' '.join(child.args)} in <Directory {node.args[0]}> lists directories without an index")

"""VG308 root-directory-not-denied. <Directory /> is missing or does not deny access."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.security._common import granted_to_anyone
from vhostguard.routing import Section


class RootDirectoryNotDenied(Rule):
    """
    ## What it does
    Checks that the main server has `<Directory />` with `Require all denied`.

    ## Why is this bad?
    httpd 2.4 grants access where no `Require` applies. Without a denying
    `<Directory />`, any Alias, symlink or rewrite that reaches outside the
    DocumentRoot serves the filesystem (`/etc`, application secrets).

    ## Example
    ```apache
    <Directory />
        Options FollowSymLinks
    </Directory>
    ```

    ## Use instead:
    ```apache
    <Directory />
        Options FollowSymLinks
        AllowOverride None
        Require all denied
    </Directory>
    ```
    """

    code = "VG308"
    name = "root-directory-not-denied"
    severity = Severity.WARNING
    summary = "<Directory /> is missing or does not deny access."
    hint = "Add `Require all denied` to `<Directory />` and grant access per served directory."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        roots = [n for n in ctx.main.directives if n.key == "directory" and n.args and n.args[0].rstrip("/") == ""]
        if not roots:
            yield self.finding(ctx.absence_anchor(), "the main server has no <Directory /> section: access outside the served trees is granted by default")
            return
        sections = [Section("directory", False, "/", node) for node in roots]
        if granted_to_anyone(sections):
            yield self.finding(roots[-1], "<Directory /> does not deny access: the whole filesystem is servable through any Alias or symlink")


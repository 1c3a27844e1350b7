"""VG309 vcs-files-exposed. .git/.env files under a DocumentRoot are served to clients."""
from __future__ import annotations

import os
from collections.abc import Iterator

from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity

VCS_PATHS = (".git/HEAD", ".git/config", ".env", ".svn/entries", ".hg/store/00manifest.i")
_FIRST_NAMES = frozenset(relative.split("/", 1)[0] for relative in VCS_PATHS)


class VcsFilesExposed(Rule):
    """
    ## What it does
    Checks whether `.git`, `.svn`, `.hg` or `.env` files present under a
    DocumentRoot are served to clients, by routing a request for each.

    ## Why is this bad?
    A served `.git` directory gives away the whole source history (and the
    secrets ever committed); `.env` files hold database passwords and API keys.

    ## Example
    ```apache
    DocumentRoot /srv/app/public
    ```

    ## Use instead:
    ```apache
    DocumentRoot /srv/app/public
    <DirectoryMatch "/\\.(git|svn|hg)">
        Require all denied
    </DirectoryMatch>
    <Files ".env">
        Require all denied
    </Files>
    ```

    ## Known problems
    Only files present when vhostguard runs are checked. A request whose
    routing is uncertain (per-directory rewrite rules or `.htaccess` files
    that are not modelled, which often deny dot-files) is not reported.
    """

    code = "VG309"
    name = "vcs-files-exposed"
    severity = Severity.ERROR
    summary = ".git/.env files under a DocumentRoot are served to clients."
    hint = "Deny them (`<DirectoryMatch \"/\\.git\">` / `<Files \".env\">` with `Require all denied`), or deploy without them."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        present: dict[str, list[str]] = {}  # per distinct DocumentRoot, listed once
        for server in ctx.model.vhosts:
            root = server.document_root
            found = present.get(root)
            if found is None:
                found = present[root] = _present(ctx, root)
            for relative in found:
                decision = ctx.route_to(server, "/" + relative)
                # An uncertain decision is no proof: a per-directory `RewriteRule ... [F]`
                # or an .htaccess (Drupal's `RewriteRule "/\.|^\.(?!well-known/)" - [F]`)
                # that routing does not model may well deny the file.
                if decision is not None and decision.certain and decision.outcome.kind in ("file", "handler"):
                    where = ctx.effective(server, "documentroot") or ctx.vhost_node(server)
                    if where is not None:
                        yield self.finding(where, f"{ctx.label(server)}: /{relative} is served from {server.document_root} to any client")


def _present(ctx: LintContext, root: str) -> list[str]:
    """The VCS_PATHS present under ``root``: one directory listing, then a look
    only at the paths whose first component is listed (most roots have none)."""
    listed = ctx.listing(root)
    if isinstance(listed, frozenset):
        if listed.isdisjoint(_FIRST_NAMES):
            return []  # the common case, without a look at each path (issue 17.15)
        names: frozenset[str] | None = listed
    elif issubclass(listed, (FileNotFoundError, NotADirectoryError)):
        return []
    else:
        names = None  # not listable (no read permission) but maybe searchable: look at each path
    return [
        relative for relative in VCS_PATHS
        if (names is None or relative.split("/", 1)[0] in names) and os.path.exists(os.path.join(root, relative))
    ]

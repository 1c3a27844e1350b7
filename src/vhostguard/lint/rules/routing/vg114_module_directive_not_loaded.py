"""VG114 module-directive-not-loaded. A directive of a module that is not loaded."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.config import catalog
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity


def _providers() -> dict[str, frozenset[str]]:
    """Directive (sections as ``<name``) -> every module that defines it."""
    found: dict[str, set[str]] = {}
    for info in catalog().modules.values():
        for directive in info.directives:
            found.setdefault(directive, set()).add(info.name)
    return {k: frozenset(v) for k, v in found.items()}


class ModuleDirectiveNotLoaded(Rule):
    """
    ## What it does
    Checks for directives (and sections) of a module that is neither
    compiled in nor loaded with `LoadModule`.

    ## Why is this bad?
    httpd refuses to start ("Invalid command ..., perhaps misspelled or defined
    by a module not included in the server configuration"); a reload with such
    a config keeps the old one running while the deploy looks successful.

    ## Example
    ```apache
    <VirtualHost *:80>
        ServerName app.example.com
        ProxyPass / http://127.0.0.1:8080/
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    LoadModule proxy_module modules/mod_proxy.so
    LoadModule proxy_http_module modules/mod_proxy_http.so
    <VirtualHost *:80>
        ServerName app.example.com
        ProxyPass / http://127.0.0.1:8080/
    </VirtualHost>
    ```

    ## Known problems
    Directives of modules missing from vhostguard's module table (third-party
    modules such as mod_wsgi) are not judged.
    """

    code = "VG114"
    name = "module-directive-not-loaded"
    severity = Severity.ERROR
    summary = "A directive of a module that is not loaded."
    hint = "Add the module's LoadModule (a2enmod on Debian), or wrap the directive in <IfModule>."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        # The verdict depends on the directive only: decide it once per name.
        missing = {key: modules for key, modules in _providers().items() if not any(ctx.has_module(m) for m in modules)}
        # Only the directives of those names: the by-name index, not a walk of the tree.
        for node in ctx.nodes_named(*dict.fromkeys(key.removeprefix("<") for key in missing)):
            modules = missing.get("<" + node.key if node.is_section else node.key)
            if modules is None:
                continue
            wanted = " or ".join(sorted(modules))
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: {node.name} needs {wanted}, which is not loaded")

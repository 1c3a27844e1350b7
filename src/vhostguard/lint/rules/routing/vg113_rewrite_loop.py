"""VG113 rewrite-loop. A per-directory RewriteRule that matches its own substitution and loops."""
from __future__ import annotations

import re
from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.routing import parse_flags

_LOOP_SAMPLES = ("vhostguard/probe", "index.html", "")


def _substitute(template: str, found: re.Match[str]) -> str:
    def group(m: re.Match[str]) -> str:
        try:
            return found.group(int(m.group(1))) or ""
        except IndexError:
            return ""

    return re.sub(r"\$(\d)", group, template)


def _loops(pattern: str, substitution: str, nocase: bool) -> bool:
    """Does applying the rule to its own result keep matching and changing it?"""
    try:
        compiled = re.compile(pattern, re.IGNORECASE if nocase else 0)
    except re.error:
        return False
    for sample in _LOOP_SAMPLES:
        current = sample
        for _ in range(4):
            found = compiled.search(current)
            if found is None:
                break
            rewritten = _substitute(substitution, found).lstrip("/")
            if rewritten == current:
                break  # mod_rewrite ignores a rewrite to the same URL
            current = rewritten
        else:
            return True
    return False


class RewriteLoop(Rule):
    """
    ## What it does
    Checks for per-directory `RewriteRule`s (inside `<Directory>`) whose
    substitution matches their own pattern again, with no `RewriteCond` and
    no `[END]` to stop them.

    ## Why is this bad?
    In per-directory context a rewrite causes an internal redirect, and the
    rules run again on the new URL; `[L]` only ends the current pass. A rule
    that matches its own result loops until httpd gives up after 10 internal
    redirects (AH00124) and answers 500.

    ## Example
    ```apache
    <Directory /var/www/app>
        RewriteEngine on
        RewriteRule ^(.*)$ index.php/$1 [L]
    </Directory>
    ```

    ## Use instead:
    ```apache
    <Directory /var/www/app>
        RewriteEngine on
        RewriteRule ^(.*)$ index.php/$1 [END]
    </Directory>
    ```

    ## Known problems
    Rules with any `RewriteCond`, or with `%{VAR}` in the substitution, are
    not judged.

    ## References
    - https://httpd.apache.org/docs/2.4/rewrite/flags.html#flag_end
    """

    code = "VG113"
    name = "rewrite-loop"
    severity = Severity.ERROR
    summary = "A per-directory RewriteRule that matches its own substitution and loops."
    hint = "Add `[END]`, or a RewriteCond that excludes the rewritten URL."
    directives = frozenset({"directory", "directorymatch"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        pending_cond = False
        for child in node.children or ():
            if child.key == "rewritecond":
                pending_cond = True
                continue
            if child.key != "rewriterule":
                continue
            guarded, pending_cond = pending_cond, False
            if guarded or len(child.args) < 2 or "%{" in child.args[1] or child.args[1] == "-":
                continue
            flags, _ = parse_flags(child.args[2] if len(child.args) > 2 else "")
            if flags.end or flags.redirect or flags.proxy or flags.status or "://" in child.args[1]:
                continue
            if _loops(child.args[0], child.args[1], flags.nocase):
                yield self.finding(child, f"{ctx.label(ctx.owner(child))}: RewriteRule {child.args[0]} {child.args[1]} in <Directory {node.arg_text}> matches its own result and loops (500, AH00124)")

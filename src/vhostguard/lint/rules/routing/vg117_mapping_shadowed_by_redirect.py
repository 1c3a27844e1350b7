"""VG117 mapping-shadowed-by-redirect. A ProxyPass or Alias that never gets a request: an unconditional redirect of its server answers every request first."""
from __future__ import annotations

import re
from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.routing._rewrite import enclosing, is_on, server_engine
from vhostguard.model import Server

PROBES = ("/", "/vhostguard-probe/x.html")
_REDIRECT_KEYS = frozenset({"redirect", "redirectpermanent", "redirecttemp"})
_STATUS_WORDS = frozenset({"permanent", "temp", "seeother", "gone"})
_MAPPING_KEYS = frozenset({"proxypass", "proxypassmatch", "alias", "aliasmatch", "scriptalias", "scriptaliasmatch",
                           "wsgiscriptalias", "wsgiscriptaliasmatch"})
_REDIRECT_FLAG = re.compile(r"^R(?:=|$)|^redirect(?:=|$)", re.IGNORECASE)


def _matches_everything(pattern: str) -> bool:
    try:
        compiled = re.compile(pattern)
    except re.error:
        return False
    return all(compiled.search(probe) for probe in PROBES)


def _flags(node: Directive) -> list[str]:
    last = node.args[-1] if len(node.args) >= 3 else ""
    if not (last.startswith("[") and last.endswith("]")):
        return []
    return [flag.strip() for flag in last[1:-1].split(",")]


def _unconditional(ctx: LintContext, server: Server, node: Directive) -> bool:
    """Does ``node`` (a server-level directive of ``server``) redirect every request?"""
    args = node.args
    if node.key in _REDIRECT_KEYS or node.key == "redirectmatch":
        if node.key in ("redirect", "redirectmatch") and args and (args[0].lower() in _STATUS_WORDS or args[0].isdigit()):
            args = args[1:]
        if len(args) < 2:
            return False  # no target: `Redirect gone /` and friends answer 410, not a redirect
        return args[0] == "/" if node.key != "redirectmatch" else _matches_everything(args[0])
    if node.key == "rewriterule" and len(args) >= 2 and not args[0].startswith("!"):
        if not any(_REDIRECT_FLAG.match(flag) for flag in _flags(node)) or not is_on(server_engine(ctx, server)):
            return False
        parent = ctx.parent(node)
        siblings = ctx.tree.nodes if parent is None or parent.children is None else parent.children
        index = next(i for i, sibling in enumerate(siblings) if sibling is node)
        if index and siblings[index - 1].key == "rewritecond":
            return False  # its conditions decide
        return _matches_everything(args[0])
    return False


class MappingShadowedByRedirect(Rule):
    """
    ## What it does
    Checks for a `ProxyPass`, `Alias` or `ScriptAlias` of a server whose
    requests all get an unconditional redirect of the same server first:
    a `RewriteRule` matching every URL with the `R` flag and no
    `RewriteCond` (mod_rewrite translates before mod_proxy and mod_alias),
    or `Redirect /` / an all-matching `RedirectMatch` (mod_alias tries
    redirects before its aliases; `ProxyPass` still wins over them). Each
    mapping is routed to confirm it.

    ## Why is this bad?
    A vhost turned into "redirect everything to https://" (certbot's
    `RewriteRule ^ https://%{SERVER_NAME}%{REQUEST_URI} [END,NE,R=permanent]`
    without its `RewriteCond`, or a `Redirect /` added later) keeps its old
    `ProxyPass` and `Alias` lines. They look active and are dead; the same
    lines copied into the HTTPS vhost may be missing without anyone noticing.

    ## Example
    ```apache
    <VirtualHost *:80>
        ServerName www.example.com
        Redirect permanent / https://www.example.com/
        Alias /.well-known/acme-challenge/ /var/lib/letsencrypt/http_challenges/
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    <VirtualHost *:80>
        ServerName www.example.com
        RedirectMatch permanent ^/(?!\\.well-known/acme-challenge/)(.*) https://www.example.com/$1
        Alias /.well-known/acme-challenge/ /var/lib/letsencrypt/http_challenges/
    </VirtualHost>
    ```

    ## Known problems
    Only redirects and mappings written in the server itself (not in
    sections) are judged.

    ## References
    - https://httpd.apache.org/docs/2.4/mod/mod_alias.html#order
    - https://httpd.apache.org/docs/2.4/rewrite/flags.html#flag_r
    """

    code = "VG117"
    name = "mapping-shadowed-by-redirect"
    severity = Severity.ERROR
    summary = "A ProxyPass or Alias that never gets a request: an unconditional redirect of its server answers every request first."
    hint = "Exclude the mapped paths from the redirect (a RewriteCond, or a RedirectMatch that skips them), or remove the dead mappings."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        keys = ("redirect", "redirectpermanent", "redirecttemp", "redirectmatch", "rewriterule")
        candidates: dict[int, list[Directive]] = {}
        for node in ctx.nodes_named(*keys):
            level = enclosing(ctx, node)
            if level is None or level.key == "virtualhost":
                candidates.setdefault(id(ctx.owner(node)), []).append(node)
        for server in ctx.servers:
            redirects = [node for node in candidates.get(id(server), ()) if _unconditional(ctx, server, node)]
            if redirects:
                yield from self._dead(ctx, server, redirects)

    def _dead(self, ctx: LintContext, server: Server, redirects: list[Directive]) -> Iterator[Finding]:
        for node, path in _mappings(ctx, server):
            culprit = None
            for probe in dict.fromkeys((path, path.rstrip("/") + "/vhostguard-probe")):
                decision = ctx.route_to(server, probe)
                if decision is None or not decision.certain or decision.outcome.kind != "redirect":
                    culprit = None
                    break
                found = next((r for r in redirects if r is decision.outcome.directive), None)
                if found is None:
                    culprit = None
                    break
                culprit = found
            if culprit is not None:
                yield self.finding(node, f"{ctx.label(server)}: {node.name} {path} is never used: {culprit.name} {' '.join(culprit.args[:2])} at {culprit.source} redirects every request first")


def _mappings(ctx: LintContext, server: Server) -> Iterator[tuple[Directive, str]]:
    """The server's own ProxyPass/Alias lines (server level, or ProxyPass in a <Location>) with their path."""
    for node in ctx.server_nodes(server):
        if node.key not in _MAPPING_KEYS or not node.args:
            continue
        level = enclosing(ctx, node)
        if level is None or level.key == "virtualhost":
            if node.key.endswith("match") or len(node.args) < 2 or node.args[1] == "!":
                continue
            yield node, node.args[0]
        elif (level.key == "location" and node.key == "proxypass" and node.args[0] != "!" and level.args
              and level.args[0] != "~" and not any(ch in level.args[0] for ch in "*?[")):
            yield node, level.args[0]  # a plain prefix <Location>: its path is the mapping's

"""VG109 alias-shadowed. An Alias shadowed by an earlier, more general Alias or by a ProxyPass."""
from __future__ import annotations

from collections.abc import Iterator

from vhostguard.lint.context import LintContext
from vhostguard.routing import AliasEntry, ProxyMapping, ProxyMatch, alias_entries, alias_matches, match_mapping, server_mappings
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.routing._common import InEveryServer, LocationProxy, location_proxies, location_taker, section_label


def _first_proxy(mappings: list[ProxyMapping], path: str) -> ProxyMatch | None:
    for mapping in mappings:
        hit = match_mapping(mapping, path)
        if hit is not None:
            return hit
    return None


class AliasShadowed(Rule):
    """
    ## What it does
    Checks for an `Alias`/`ScriptAlias`/`WSGIScriptAlias` whose path is
    already taken by an earlier, more general alias, or by a `ProxyPass`
    (which runs before mod_alias whatever the order in the file), including
    the `ProxyPass URL` of a `<Location>` covering the alias path. A
    `<Location>` with `ProxyPass !` over the alias path keeps it served
    (mod_proxy stops there, before its server-level list). An alias of the
    main server, which every vhost inherits, is reported only when it is
    shadowed in every server that receives requests: a vhost proxying `/`
    leaves it used elsewhere.

    ## Why is this bad?
    mod_alias uses the first alias that matches; mod_proxy's mappings win over
    every alias. The shadowed alias never serves its files: those URLs go to
    another directory or to a backend.

    ## Example
    ```apache
    ProxyPass / http://127.0.0.1:8080/
    Alias /static/ /srv/app/static/
    ```

    ## Use instead:
    ```apache
    ProxyPass /static/ !
    ProxyPass / http://127.0.0.1:8080/
    Alias /static/ /srv/app/static/
    ```

    ## References
    - https://httpd.apache.org/docs/2.4/mod/mod_alias.html#order
    """

    code = "VG109"
    name = "alias-shadowed"
    severity = Severity.ERROR
    summary = "An Alias shadowed by an earlier, more general Alias or by a ProxyPass."
    hint = "Order aliases from the most specific path to the most general, and exclude aliased paths from ProxyPass with `ProxyPass /path !`."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        # A main-server alias is in every server's list (vhosts inherit it):
        # it is never used only if it is shadowed in all of them. One vhost
        # proxying / does not make Debian's `Alias /icons/` dead elsewhere.
        in_every_server = InEveryServer()
        for server in ctx.servers:
            if server.is_main and ctx.model.vhosts and not ctx.main_answers:
                continue  # no connection reaches the main server itself: only the vhosts count
            main_owned: dict[int, Finding] = {}
            _, aliases = alias_entries(ctx.main, server)
            proxies = server_mappings(ctx.main, server) if aliases else []
            locations = location_proxies(ctx, server) if aliases else []
            for index, entry in enumerate(aliases):
                if entry.regex:
                    continue
                message = self._shadowed(entry, aliases[:index], proxies, locations)
                if message is None:
                    continue
                owner = ctx.owner(entry.node)
                finding = self.finding(entry.node, f"{ctx.label(owner)}: {entry.node.name} {entry.fake} is never used: {message}")
                if owner.is_main:
                    main_owned[id(entry.node)] = finding
                else:
                    yield finding
            in_every_server.add(main_owned)
        yield from in_every_server.findings()

    @staticmethod
    def _shadowed(entry: AliasEntry, earlier: list[AliasEntry], proxies: list[ProxyMapping],
                  locations: list[LocationProxy]) -> str | None:
        taker = location_taker(entry.fake, locations)
        if taker is not None and taker.url != "!":
            return f"ProxyPass in {section_label(taker.section)} at {taker.node.source} proxies it first"
        # A <Location> "ProxyPass !" covering the alias stops mod_proxy before its server list.
        hit = _first_proxy(proxies, entry.fake) if taker is None else None
        probe = entry.fake.rstrip("/") + "/vhostguard-probe"
        deep = _first_proxy(proxies, probe)
        if hit is not None and hit.url is not None and deep is not None and deep.url is not None:
            return f"{hit.mapping.node.name} {hit.mapping.path} at {hit.mapping.node.source} proxies it first"
        for previous in earlier:
            if not previous.regex and alias_matches(entry.fake, previous.fake) > 0:
                return f"{previous.node.name} {previous.fake} at {previous.node.source} matches first"
        return None

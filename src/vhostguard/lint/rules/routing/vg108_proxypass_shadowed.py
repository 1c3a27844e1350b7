"""VG108 proxypass-shadowed. A ProxyPass shadowed by an earlier, more general one."""
from __future__ import annotations

import re
from collections.abc import Iterator

from vhostguard.config import Directive, has_wildcard
from vhostguard.lint.context import LintContext
from vhostguard.routing import ProxyMapping, proxy_alias_match, server_mappings
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.routing._common import (
    InEveryServer,
    PROXY_KEYS, LocationProxy, covers, location_of, location_proxies, location_taker, section_label,
)
from vhostguard.model import Server


def _regex_shadows(pattern: str, path: str) -> bool:
    """Does an earlier regex mapping take ``path`` and everything under it?"""
    try:
        compiled = re.compile(pattern)
    except re.error:
        return False
    probe = path.rstrip("/") + "/vhostguard-probe"
    return bool(compiled.search(path) and compiled.search(probe))


def _proxy_shadower(mapping: ProxyMapping, earlier: list[ProxyMapping]) -> ProxyMapping | None:
    if mapping.regex:
        return None
    for previous in earlier:
        if previous.regex:
            if _regex_shadows(previous.path, mapping.path):
                return previous
        elif proxy_alias_match(mapping.path, previous.path) > 0:
            return previous
    return None


def _location_taker(mapping: ProxyMapping, locations: list[LocationProxy]) -> LocationProxy | None:
    """A <Location> ProxyPass that takes every request ``mapping`` could match (see location_taker)."""
    if mapping.regex or any(o.startswith("mapping=") or o == "interpolate" for o in mapping.options):
        return None
    return location_taker(mapping.path, locations)


def _location_overrider(entry: LocationProxy, later: list[LocationProxy]) -> LocationProxy | None:
    """A later <Location> whose path covers ``entry``'s: its ProxyPass replaces
    ``entry``'s for every request (per-directory merging, later wins)."""
    if entry.path is None:
        return None
    for other in later:
        if other.path is not None and covers(other.path, entry.path):
            return other
    return None


def _proxy_lines_per_owner(ctx: LintContext) -> dict[int, int]:
    """id() of a server -> how many ProxyPass/ProxyPassMatch lines it holds at any
    depth (at least as many as the mappings routing lists for it)."""
    counts: dict[int, int] = {}
    for node in ctx.nodes_named(*PROXY_KEYS):
        owner = id(ctx.owner(node))
        counts[owner] = counts.get(owner, 0) + 1
    return counts


class ProxyPassShadowed(Rule):
    """
    ## What it does
    Checks for a `ProxyPass` that never gets a request because another mapping
    of the same server takes all of its URLs first: an earlier, more general
    `ProxyPass`/`ProxyPassMatch`, a `<Location>` with its own `ProxyPass`
    covering the path, a later `<Location>` covering a `<Location>`'s path,
    or a later `ProxyPass` in the same `<Location>`.

    ## Why is this bad?
    mod_proxy uses the first server-context mapping that matches, in
    configuration order (the main server's before the vhost's). A `/api/`
    mapping listed before `/api/v2/` swallows `/api/v2/`: those requests go to
    the wrong backend.

    Inside `<Location /path>`, `ProxyPass URL` maps the section's path. httpd
    merges `<Location>` sections in configuration order (the main server's
    first) and keeps the `ProxyPass` of the last one that applies, whatever
    its path length (one per section: its last line); that mapping is tried
    before every server-context `ProxyPass`. So `<Location /api/>` after
    `<Location /api/v2/>` swallows `/api/v2/`, and `<Location /api/>`
    swallows `ProxyPass /api/v2/ ...` wherever that line is.

    ## Example
    ```apache
    ProxyPass /api/    http://127.0.0.1:5000/
    ProxyPass /api/v2/ http://127.0.0.1:6000/
    <Location /app/v2/>
        ProxyPass http://127.0.0.1:8001/
    </Location>
    <Location /app/>
        ProxyPass http://127.0.0.1:8000/
    </Location>
    ```

    ## Use instead:
    ```apache
    ProxyPass /api/v2/ http://127.0.0.1:6000/
    ProxyPass /api/    http://127.0.0.1:5000/
    <Location /app/>
        ProxyPass http://127.0.0.1:8000/
    </Location>
    <Location /app/v2/>
        ProxyPass http://127.0.0.1:8001/
    </Location>
    ```

    A `ProxyPass URL` (not `ProxyPassMatch`) inside `<LocationMatch>` or
    `<Location ~ ...>` whose regex has no `*`, `?` or `[...]` is never used
    either: mod_proxy takes the section's text (`^/api/`) as a literal path
    prefix, which the requests the section matches do not start with
    (apache2 answers 404). With a wildcard in the text (`^/api/(.*)$`, a
    wildcard `<Location>`) mod_proxy compiles it as a regex and the mapping
    is used.

    ## Known problems
    Otherwise `<LocationMatch>`, `<Location ~ ...>` and wildcard `<Location>`
    sections are not judged; while one of them carries a `ProxyPass`,
    server-context mappings under an earlier `<Location>` are not reported
    either. A
    main-server `ProxyPass` shadowed in some vhosts only is not reported.

    ## References
    - https://httpd.apache.org/docs/2.4/mod/mod_proxy.html#proxypass
    - https://httpd.apache.org/docs/2.4/sections.html#merging
    """

    code = "VG108"
    name = "proxypass-shadowed"
    severity = Severity.ERROR
    summary = "A ProxyPass shadowed by a more general one that httpd tries first."
    hint = "Order ProxyPass lines from the most specific path to the most general."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        yield from self._literal_patterns(ctx)
        # A main-server line is in every server's list: it is never used only
        # if it is shadowed in all of them.
        in_every_server = InEveryServer()
        counts = _proxy_lines_per_owner(ctx)
        for server in ctx.servers:
            main_owned: dict[int, Finding] = {}
            # One mapping and no <Location> ProxyPass shadow nothing: skip
            # routing's mapping list for such servers (issue 17.15, most vhosts).
            if counts.get(id(ctx.main), 0) + (0 if server.is_main else counts.get(id(server), 0)) < 2 \
                    and not location_proxies(ctx, server):
                in_every_server.add({})  # nothing is shadowed in this server
                continue
            for node, finding in self._shadowed(server, ctx):
                if ctx.owner(node).is_main:
                    main_owned[id(node)] = finding
                else:
                    yield finding
            in_every_server.add(main_owned)
        yield from in_every_server.findings()

    def _literal_patterns(self, ctx: LintContext) -> Iterator[Finding]:
        # mod_proxy's add_pass takes the section's text as the mapping's path and
        # compiles it as a regex for ProxyPassMatch or when apr_fnmatch_test finds a
        # wildcard in it: `ProxyPass URL` in <LocationMatch ^/api/> maps the literal
        # prefix "^/api/", which no request path starts with (apache2 answers 404
        # where a proxy was meant), while in <LocationMatch ^/api/(.*)$> it is used.
        for node in ctx.nodes_named("proxypass"):
            section = location_of(ctx, node)
            if section is None or not node.args or node.args[0] == "!" or not (section.regex or section.glob):
                continue
            if section.pattern.startswith("/") or has_wildcard(section.pattern):
                continue  # <LocationMatch /api/>: a usable prefix; ^/api/(.*)$, /x/*/: searched as a regex
            how = "no request path starts with it"
            yield self.finding(
                node,
                f"{ctx.label(ctx.owner(node))}: {node.name} {node.args[0]} in {section_label(section)} is never used: mod_proxy takes {section.pattern} as a literal path prefix and {how}",
                "Use `ProxyPassMatch URL` (with $1 for the groups) in a regex section, or a plain `<Location /prefix/>`.",
            )

    def _shadowed(self, server: Server, ctx: LintContext) -> Iterator[tuple[Directive, Finding]]:
        mappings = server_mappings(ctx.main, server)
        locations = location_proxies(ctx, server)
        for index, mapping in enumerate(mappings):
            label = ctx.label(ctx.owner(mapping.node))
            taker = _location_taker(mapping, locations)
            if taker is not None:
                yield mapping.node, self.finding(
                    mapping.node,
                    f"{label}: {mapping.node.name} {mapping.path} is never used: the ProxyPass of {section_label(taker.section)} at {taker.node.source} is tried first",
                    "Move the mapping into a `<Location>` placed after the more general one: `<Location>` mappings are tried before server-context ProxyPass lines.",
                )
                continue
            shadower = _proxy_shadower(mapping, mappings[:index])
            if shadower is not None:
                yield mapping.node, self.finding(mapping.node, f"{label}: {mapping.node.name} {mapping.path} is never used: {shadower.node.name} {shadower.path} at {shadower.node.source} matches first")
        for index, entry in enumerate(locations):
            yield from self._in_location(entry, locations[index + 1:], ctx)

    def _in_location(self, entry: LocationProxy, later: list[LocationProxy], ctx: LintContext) -> Iterator[tuple[Directive, Finding]]:
        label = ctx.label(ctx.owner(entry.node))
        section = section_label(entry.section)
        where = f"{entry.node.name} {entry.url} in {section}"
        # httpd keeps one mapping per section: the last ProxyPass line.
        for node in entry.section.children:
            if node.key in PROXY_KEYS and node.args and node is not entry.node:
                yield node, self.finding(
                    node,
                    f"{label}: {node.name} {node.args[0]} in {section} is never used: the later {entry.node.name} at {entry.node.source} replaces it",
                    "Keep one ProxyPass per `<Location>`; give each backend its own `<Location>`.",
                )
        overrider = _location_overrider(entry, later)
        if overrider is not None:
            yield entry.node, self.finding(
                entry.node,
                f"{label}: {where} is never used: {section_label(overrider.section)} at {overrider.section.node.source} comes later, covers it and its ProxyPass wins",
                "Put `<Location>` sections with ProxyPass from the most general path to the most specific: the last one that applies wins.",
            )

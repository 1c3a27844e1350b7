"""Helpers shared by several routing rules."""
from __future__ import annotations

from dataclasses import dataclass

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding
from vhostguard.lint.names import NameOwners
from vhostguard.model import Server
from vhostguard.model import wildcard_regex
from vhostguard.routing import proxy_alias_match, Section, collect_sections

PROXY_KEYS = ("proxypass", "proxypassmatch")
LOCATION_KEYS = ("location", "locationmatch")


def _names(server: Server) -> list[str]:
    return [server.server_name.lower(), *(a.lower() for a in server.aliases)]


def answers_name(earlier: Server, name: str) -> bool:
    """Would ``earlier`` win a Host equal to ``name`` (a plain name)?"""
    if name in _names(earlier):
        return True
    return any(wildcard_regex(pattern).match(name) for pattern in earlier.wild_aliases)


def _taken_on(server: Server, owners: NameOwners, position: int) -> dict[str, Server] | None:
    """Each of ``server``'s names -> the earlier vhost that wins it; None if any name is free."""
    winners: dict[str, Server] = {}
    for name in _names(server):
        winner = owners.first_answering(name, position)
        if winner is None:
            return None
        winners.setdefault(name, winner)
    for pattern in server.wild_aliases:
        # Only the same pattern or ``*`` surely takes every Host a wildcard could match.
        covering = owners.first_covering(pattern, position)
        if covering is None:
            return None
        winners.setdefault(pattern, covering)
    return winners


def unreachable_in(server: Server, ctx: LintContext) -> dict[str, Server] | None:
    """Names -> winners when ``server`` is unreachable in every address set it is in."""
    return ctx.remember(("unreachable", id(server)), lambda: _unreachable(server, ctx))


def _unreachable(server: Server, ctx: LintContext) -> dict[str, Server] | None:
    placements = ctx.placements(server)
    if not placements:
        return None
    found: dict[str, Server] = {}
    for aset, position in placements:
        if position == 0:
            return None  # the default vhost answers unknown Hosts: reachable
        winners = _taken_on(server, ctx.name_owners(aset), position)
        if winners is None:
            return None
        found.update(winners)
    return found


def listen_covers(ctx: LintContext, ip: str | None, port: int) -> bool:
    return any(listen.port == port and (listen.ip is None or ip is None or listen.ip == ip) for listen in ctx.model.listens)


# -- ProxyPass inside <Location> -------------------------------------------------
#
# mod_proxy's add_pass: in a <Location>, ProxyPass takes only the URL and the
# section's path is the path. Each section keeps one such mapping (the last);
# per-directory merging keeps the one of the last applicable section, and
# proxy_trans tries it before the server's ProxyPass list.


def location_of(ctx: LintContext, node: Directive) -> Section | None:
    """The <Location>/<LocationMatch> directly holding ``node``, if any."""
    parent = ctx.parent(node)
    if parent is None or parent.key not in LOCATION_KEYS:
        return None
    sections = collect_sections((parent,))
    return sections[0] if sections else None


def section_label(section: Section) -> str:
    """How messages name a section: ``<Location /app/>``, ``<LocationMatch ^/re/>``."""
    return f"<{section.node.name} {' '.join(section.node.args)}>"


def prefix_path(section: Section) -> str | None:
    """The path of a <Location> that matches as a plain prefix (None for regex and wildcard sections)."""
    if section.regex or section.glob or not section.pattern:
        return None
    return section.pattern


def covers(outer: str, inner: str) -> bool:
    """Is every URI under the prefix ``inner`` also under the prefix ``outer``?
    (mod_proxy's alias_match, which <Location> prefix matching agrees with.)"""
    return proxy_alias_match(inner, outer) > 0


@dataclass(frozen=True, slots=True)
class LocationProxy:
    """The ProxyPass that one <Location> section contributes."""

    section: Section
    node: Directive

    @property
    def url(self) -> str:
        return self.node.args[0]

    @property
    def path(self) -> str | None:
        return prefix_path(self.section)

    @property
    def plain(self) -> bool:
        """Does mod_proxy match it exactly like the section's prefix? Not for
        ProxyPassMatch (the path becomes a regex), ``mapping=`` (tried in
        another phase) or ``interpolate`` (the path is rewritten per request)."""
        options = [a.lower() for a in self.node.args[1:]]
        return (
            self.path is not None and self.node.key == "proxypass" and self.url != "~"
            and "interpolate" not in options and not any(o.startswith("mapping=") for o in options)
        )


def location_proxies(ctx: LintContext, server: Server) -> list[LocationProxy]:
    """The ProxyPass of every <Location> that can apply to ``server``'s requests,
    in merge order (the main server's sections first, later ones win)."""
    # A server's sections are the main server's and its own top-level ones, so
    # one without such a ProxyPass in either has none: skip routing's
    # server_sections for it (issue 17.15: most of VG108's time at 10,000 vhosts).
    holders = ctx.remember("location-proxy-holders", lambda: _location_proxy_holders(ctx))
    if id(ctx.main) not in holders and id(server) not in holders:
        return []
    found = []
    for section in ctx.sections(server).locations:
        nodes = [child for child in section.children if child.key in PROXY_KEYS and child.args]
        if nodes:
            found.append(LocationProxy(section, nodes[-1]))
    return found


def _location_proxy_holders(ctx: LintContext) -> frozenset[int]:
    """id() of every server owning a ProxyPass/ProxyPassMatch directly inside a <Location>/<LocationMatch>."""
    return frozenset(
        id(ctx.owner(node)) for node in ctx.nodes_named(*PROXY_KEYS)
        if node.args and (parent := ctx.parent(node)) is not None and parent.key in LOCATION_KEYS
    )


def location_taker(path: str, locations: list[LocationProxy]) -> LocationProxy | None:
    """The <Location> ProxyPass that takes every request under the prefix ``path``.

    proxy_trans tries the merged <Location> mapping before the server list and
    stops when it matches (or is ``!``). That is only certain when every
    <Location> mapping from the covering one on matches like its prefix: a
    later regex or wildcard section could leave some URIs to the server list.
    """
    taker = None
    for index, entry in enumerate(locations):
        where = entry.path
        if where is not None and covers(where, path) and all(
                e.plain or _disjoint(e.section, path) for e in locations[index:]):
            taker = entry
    return taker


_REGEX_META = frozenset(".^$*+?{}[]\\|()")
_GLOB_META = frozenset("*?[")


def _literal_prefix(section: Section) -> str | None:
    """The text every URI a regex or wildcard <Location> applies to starts with (None: unknown)."""
    pattern = section.pattern
    if section.regex:
        if not pattern.startswith("^/") or "|" in pattern:
            return None  # unanchored, or alternatives each with their own start
        text = pattern[1:]
        meta = _REGEX_META
    elif section.glob:
        text = pattern
        meta = _GLOB_META
    else:
        return None
    end = next((i for i, ch in enumerate(text) if ch in meta), len(text))
    if section.regex and end < len(text) and text[end] in "?*{":
        end -= 1  # the quantifier makes the character before it optional
    return text[:end] if end > 0 else None


def _disjoint(section: Section, path: str) -> bool:
    """Can the regex or wildcard ``section`` apply to no URI under the prefix ``path``?"""
    prefix = _literal_prefix(section)
    return prefix is not None and not (prefix.startswith(path) or path.startswith(prefix))


class InEveryServer:
    """Findings on main-server lines, kept only when every server that counts has them: a vhost
    inherits the main server's lines, so such a line is dead only if it is dead in all of them."""

    def __init__(self) -> None:
        self._common: dict[int, Finding] | None = None

    def add(self, found: dict[int, Finding]) -> None:
        """One server's findings on main-server lines, by the line's ``id``."""
        self._common = found if self._common is None else {k: f for k, f in self._common.items() if k in found}

    def findings(self) -> list[Finding]:
        return list((self._common or {}).values())

"""Helpers shared by several routing rules."""
from __future__ import annotations

from vhostguard.lint.context import LintContext
from vhostguard.model import Server
from vhostguard.model.matching import wildcard_regex

PROXY_KEYS = ("proxypass", "proxypassmatch")


def _names(server: Server) -> list[str]:
    return [server.server_name.lower(), *(a.lower() for a in server.aliases)]


def answers_name(earlier: Server, name: str) -> bool:
    """Would ``earlier`` win a Host equal to ``name`` (a plain name)?"""
    if name in _names(earlier):
        return True
    return any(wildcard_regex(pattern).match(name) for pattern in earlier.wild_aliases)


def _covers_wild(earlier: Server, pattern: str) -> bool:
    """Does ``earlier`` take every Host a wildcard alias could match? (only for the same pattern or ``*``)"""
    return any(p.lower() in (pattern.lower(), "*") for p in earlier.wild_aliases)


def _taken_by(server: Server, earlier: list[Server]) -> dict[str, Server] | None:
    """Each of ``server``'s names -> the earlier vhost that wins it; None if any name is free."""
    winners: dict[str, Server] = {}
    for name in _names(server):
        winner = next((e for e in earlier if answers_name(e, name)), None)
        if winner is None:
            return None
        winners.setdefault(name, winner)
    for pattern in server.wild_aliases:
        winner = next((e for e in earlier if _covers_wild(e, pattern)), None)
        if winner is None:
            return None
        winners.setdefault(pattern, winner)
    return winners


def unreachable_in(server: Server, ctx: LintContext) -> dict[str, Server] | None:
    """Names -> winners when ``server`` is unreachable in every address set it is in."""
    sets = ctx.address_sets_of(server)
    if not sets:
        return None
    found: dict[str, Server] = {}
    for aset in sets:
        position = next(i for i, s in enumerate(aset.servers) if s is server)
        if position == 0:
            return None  # the default vhost answers unknown Hosts: reachable
        winners = _taken_by(server, list(aset.servers[:position]))
        if winners is None:
            return None
        found.update(winners)
    return found


def listen_covers(ctx: LintContext, ip: str | None, port: int) -> bool:
    return any(l.port == port and (l.ip is None or ip is None or l.ip == ip) for l in ctx.model.listens)

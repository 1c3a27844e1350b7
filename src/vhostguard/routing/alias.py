"""mod_alias (Redirect*, Alias*, ScriptAlias*) and mod_wsgi's WSGIScriptAlias*.

Follows ``translate_alias_redir`` (modules/mappers/mod_alias.c): every
redirect before any alias; in each list the vhost's entries come before the
main server's, first match wins.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from vhostguard.config import Directive
from vhostguard.model import Server
from vhostguard.speed import draft_class
from vhostguard.routing.regex import compile_regex, pregsub
from vhostguard.routing.request import escape_uri
from vhostguard.routing.sections import ServerLevels, server_levels

_STATUS_WORDS = {"permanent": 301, "temp": 302, "seeother": 303, "gone": 410}
_REDIRECT_KEYS = {"redirect": None, "redirectmatch": None, "redirectpermanent": 301, "redirecttemp": 302}
_ALIAS_KEYS = {
    "alias": "file", "aliasmatch": "file", "scriptalias": "script", "scriptaliasmatch": "script",
    "wsgiscriptalias": "wsgi", "wsgiscriptaliasmatch": "wsgi",
}


@dataclass(frozen=True, slots=True)
class AliasEntry:
    node: Directive
    fake: str
    real: str | None  # None for a "gone" redirect
    regex: bool
    kind: str  # redirect | file | script | wsgi
    status: int | None = None
    # A prefix with no runs of slashes: against a URI without them too, it can
    # only match if the URI starts with it (a cheap test to try first).
    plain: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "plain", not self.regex and bool(self.fake) and "//" not in self.fake)


def _redirect_entry(node: Directive) -> AliasEntry | None:
    args = list(node.args)
    status = _REDIRECT_KEYS[node.key]
    if status is None and args and (args[0].lower() in _STATUS_WORDS or args[0].isdigit()):
        word = args.pop(0).lower()
        status = _STATUS_WORDS.get(word) or int(word)
    status = status or 302
    regex = node.key == "redirectmatch"
    if not args:
        return None
    if status == 410 or not 300 <= status < 400:
        return AliasEntry(node, args[0], args[1] if len(args) > 1 else None, regex, "redirect", status)
    if len(args) < 2:
        return None  # the one-argument form belongs in <Location>: handled per directory
    return AliasEntry(node, args[0], args[1], regex, "redirect", status)


redirect_entry = _redirect_entry  # (for the Redirects of per-directory sections and files)


def _alias_entry(node: Directive) -> AliasEntry | None:
    if len(node.args) < 2:
        return None
    return AliasEntry(node, node.args[0], node.args[1], node.key.endswith("match"), _ALIAS_KEYS[node.key])


def entries(main: Server, server: Server, levels: ServerLevels | None = None) -> tuple[list[AliasEntry], list[AliasEntry]]:
    """(redirects, aliases) in matching order: the vhost's, then the main server's.

    ``levels``: the two servers' server-level directives (``server_levels``), if already at hand.
    """
    main_level, own = levels or server_levels(main, server)
    sources = [own] + ([] if server.is_main else [main_level])
    redirects: list[AliasEntry] = []
    aliases: list[AliasEntry] = []
    for nodes in sources:
        for node in nodes:
            if node.key in _REDIRECT_KEYS:
                entry = _redirect_entry(node)
                if entry is not None:
                    redirects.append(entry)
            elif node.key in _ALIAS_KEYS:
                entry = _alias_entry(node)
                if entry is not None:
                    aliases.append(entry)
    return redirects, aliases


def alias_matches(uri: str, fake: str) -> int:
    """mod_alias's ``alias_matches``: like mod_proxy's, but the whole alias must be consumed."""
    if "//" not in fake and "//" not in uri:
        # No runs of slashes to fold, so the walk below is a plain prefix test.
        if not fake or not uri.startswith(fake):
            return 0
        end = len(fake)
        if fake[-1] != "/" and end < len(uri) and uri[end] != "/":
            return 0
        return end
    u, a = 0, 0
    while a < len(fake):
        if fake[a] == "/":
            if u >= len(uri) or uri[u] != "/":
                return 0
            while a < len(fake) and fake[a] == "/":
                a += 1
            while u < len(uri) and uri[u] == "/":
                u += 1
        else:
            if u >= len(uri) or uri[u] != fake[a]:
                return 0
            u += 1
            a += 1
    if fake and fake[-1] != "/" and u < len(uri) and uri[u] != "/":
        return 0
    return u


_URL_SAFE = "/:@!$&'()*+,;=~"
_SLASHES = re.compile(r"/{2,}")
# A character escape_uri(text, _URL_SAFE) would change: most paths have none, and
# the search is much cheaper than escaping it.
_NEEDS_ESCAPE = re.compile(r"[^A-Za-z0-9_.\-/:@!$&'()*+,;=~]")


@dataclass(frozen=True, slots=True)
class AliasHit:
    entry: AliasEntry
    result: str | None  # redirect URL, or filesystem path


_AliasHitDraft = draft_class(AliasHit)


def _new_alias_hit(entry: AliasEntry, result: str | None) -> AliasHit:
    """``AliasHit(entry, result)``, made quicker (see routing.drafts): one per matching entry per request."""
    hit = _AliasHitDraft()
    hit.entry = entry
    hit.result = result
    hit.__class__ = AliasHit
    return hit  # type: ignore[no-any-return]


def match(entry: AliasEntry, uri: str, server_root: str) -> AliasHit | None:
    if entry.regex:
        compiled = compile_regex(entry.fake)
        found = compiled.search(uri) if compiled else None
        if found is None:
            return None
        if entry.real is None:
            return _new_alias_hit(entry, None)
        result = pregsub(entry.real, found)
        if entry.kind == "redirect":
            path, sep, query = result.partition("?")
            result = escape_uri(path, "/:@!$&'()*+,;=~%#") + (sep + query)
        elif not os.path.isabs(result):
            result = os.path.normpath(os.path.join(server_root, result))
        return _new_alias_hit(entry, result)
    length = alias_matches(uri, entry.fake)
    if length == 0:
        return None
    if entry.real is None:
        return _new_alias_hit(entry, None)
    rest = uri[length:]
    if entry.kind == "redirect":
        return _new_alias_hit(entry, entry.real + (escape_uri(rest, _URL_SAFE) if _NEEDS_ESCAPE.search(rest) else rest))
    real = entry.real if os.path.isabs(entry.real) else os.path.join(server_root, entry.real)
    # httpd concatenates (translate_alias_redir: real + the rest of r->uri), so
    # "ScriptAlias /cgi-bin/ /usr/lib/cgi-bin" maps /cgi-bin/x to /usr/lib/cgi-binx;
    # a run of slashes where the two meet is one slash to the filesystem.
    joined = real + rest
    return _new_alias_hit(entry, _SLASHES.sub("/", joined) if "//" in joined else joined)


def location_redirect(node: Directive) -> AliasEntry | None:
    """The one-argument ``Redirect [status] URL`` form inside ``<Location>``."""
    args = list(node.args)
    status = _REDIRECT_KEYS.get(node.key)
    if status is None and args and (args[0].lower() in _STATUS_WORDS or args[0].isdigit()):
        word = args.pop(0).lower()
        status = _STATUS_WORDS.get(word) or int(word)
    if len(args) != 1 and not (status == 410 and not args):
        return None
    return AliasEntry(node, "", args[0] if args else None, False, "redirect", status or 302)

"""mod_proxy reverse mappings: ``ProxyPass``/``ProxyPassMatch`` and balancers.

Follows ``proxy_trans`` and ``ap_proxy_trans_match`` (modules/proxy/mod_proxy.c):
the ProxyPass of the matching ``<Location>`` first, then the server's list
(main server's entries before the vhost's) in order; ``!`` declines.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from vhostguard.config import Directive, has_wildcard
from vhostguard.model import Server
from vhostguard.speed import draft_class
from vhostguard.routing.regex import compile_regex, pregsub
from vhostguard.routing.sections import Section, ServerLevels, server_levels


@dataclass(frozen=True, slots=True)
class ProxyMapping:
    node: Directive
    path: str  # prefix or regex
    target: str  # URL or "!"
    regex: bool
    options: tuple[str, ...]
    # A prefix with no runs of slashes: against a URI without them too, it can
    # only match if the URI starts with it (a cheap test to try first).
    plain: bool = field(init=False, repr=False, compare=False)
    # Stored rather than properties: routing asks on every proxied request.
    excluded: bool = field(init=False, repr=False, compare=False)  # "ProxyPass /path !"
    nocanon: bool = field(init=False, repr=False, compare=False)
    noquery: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_field = object.__setattr__
        set_field(self, "plain", not self.regex and bool(self.path) and "//" not in self.path)
        set_field(self, "excluded", self.target == "!")
        set_field(self, "nocanon", "nocanon" in self.options)
        set_field(self, "noquery", "noquery" in self.options)


def _mapping(node: Directive, location: Section | None) -> ProxyMapping | None:
    args = node.args
    regex = node.key == "proxypassmatch"
    if location is not None:
        if not args:
            return None
        # add_pass: the path is the section's own text (cmd->path: the path of <Location>,
        # the regex of <LocationMatch> or <Location ~>), a regex for ProxyPassMatch or when
        # apr_fnmatch_test finds a wildcard in it, else a literal prefix: ProxyPass in
        # <LocationMatch ^/api/> maps "^/api/", which no request path starts with, while
        # in <LocationMatch ^/api/(.*)$> or <Location /x*> it is searched as a regex.
        regex = regex or has_wildcard(location.pattern)
        return ProxyMapping(node, location.pattern, args[0], regex, tuple(a.lower() for a in args[1:]))
    if args and args[0] == "~":
        # "ProxyPass ~ regex url": the server-context spelling of ProxyPassMatch (add_pass)
        regex, args = True, args[1:]
    if len(args) < 2:
        return None
    return ProxyMapping(node, args[0], args[1], regex, tuple(a.lower() for a in args[2:]))


def server_mappings(main: Server, server: Server, levels: ServerLevels | None = None) -> list[ProxyMapping]:
    """Server-context ProxyPass entries: the main server's first, then the vhost's.

    ``levels``: the two servers' server-level directives (``server_levels``), if already at hand.
    """
    main_level, own = levels or server_levels(main, server)
    nodes = main_level if server.is_main else main_level + own
    found = []
    for node in nodes:
        if node.key in ("proxypass", "proxypassmatch"):
            mapping = _mapping(node, None)
            if mapping is not None:
                found.append(mapping)
    return found


def location_mapping(locations: Sequence[Section]) -> ProxyMapping | None:
    """The ProxyPass of the last matching ``<Location>`` that has one."""
    found: ProxyMapping | None = None
    for section in locations:
        if "proxypass" not in section.last and "proxypassmatch" not in section.last:
            continue  # the common case: nothing to look at
        for node in section.children:
            if node.key in ("proxypass", "proxypassmatch"):
                mapping = _mapping(node, section)
                if mapping is not None:
                    found = mapping
    return found


def alias_match(uri: str, fake: str) -> int:
    """mod_proxy's ``alias_match``: slash-folding prefix match ending at a segment boundary."""
    if fake and "//" not in fake and "//" not in uri:
        # No runs of slashes to fold (the usual case: r->uri has merged slashes),
        # so the walk below is a plain prefix test; same answer, far fewer steps.
        if not uri.startswith(fake):
            return 0
        end = len(fake)
        if fake[-1] != "/" and end < len(uri) and uri[end] != "/":
            return 0
        return end
    u, a = 0, 0
    while a < len(fake) and u < len(uri):
        if fake[a] == "/":
            if uri[u] != "/":
                return 0
            while a < len(fake) and fake[a] == "/":
                a += 1
            while u < len(uri) and uri[u] == "/":
                u += 1
        else:
            if uri[u] != fake[a]:
                return 0
            u += 1
            a += 1
    if u == len(uri) and a != len(fake):
        return 0
    if fake[a - 1] != "/" and u < len(uri) and uri[u] != "/":
        return 0
    return u


@dataclass(frozen=True, slots=True)
class ProxyMatch:
    mapping: ProxyMapping
    url: str | None  # None when the mapping is a "!" exclusion
    # nocanon in force: ``url`` holds the client's raw path and query (r->unparsed_uri) as sent
    raw: bool = False


_ProxyMatchDraft = draft_class(ProxyMatch)


def _new_proxy_hit(mapping: ProxyMapping, url: str | None, raw: bool = False) -> ProxyMatch:
    """``ProxyMatch(mapping, url, raw)``, made quicker (see routing.drafts): one per matching entry per request."""
    hit = _ProxyMatchDraft()
    hit.mapping = mapping
    hit.url = url
    hit.raw = raw
    hit.__class__ = ProxyMatch
    return hit  # type: ignore[no-any-return]


def match_mapping(mapping: ProxyMapping, uri: str, unparsed: str | None = None) -> ProxyMatch | None:
    """Does ``mapping`` claim the decoded ``uri``, and for which backend URL?

    ``unparsed`` is the request target as the client sent it (raw path and
    query, ``r->unparsed_uri``): with ``nocanon`` httpd builds the URL from it,
    unless the raw form does not match the way the decoded one does (then it
    falls back to the decoded path, AH01136), as ``ap_proxy_trans_match`` does.
    """
    use_raw = mapping.nocanon and unparsed is not None and not mapping.excluded
    if mapping.regex:
        compiled = compile_regex(mapping.path)
        found = compiled.search(uri) if compiled else None
        if found is None:
            return None
        if mapping.excluded:
            return _new_proxy_hit(mapping, None)
        subject = uri
        if use_raw:
            raw_found = compiled.search(unparsed) if compiled and unparsed is not None else None
            if raw_found is not None and unparsed is not None:
                found, subject = raw_found, unparsed
            else:
                use_raw = False
        substituted = pregsub(mapping.target, found)
        return _new_proxy_hit(mapping, substituted if substituted != mapping.target else mapping.target + subject, use_raw)
    length = alias_match(uri, mapping.path)
    if length == 0:
        return None
    if mapping.excluded:
        return _new_proxy_hit(mapping, None)
    if use_raw and unparsed is not None and alias_match(unparsed, mapping.path) == length:
        return _new_proxy_hit(mapping, mapping.target + unparsed[length:], True)
    return _new_proxy_hit(mapping, mapping.target + uri[length:])


_CANON_SAFE = "/:@!$&()*+,;=~-._"
_ENCODED_SLASH = re.compile(r"%2f", re.IGNORECASE)
# A character quote(path, safe=_CANON_SAFE) would change: most paths have none, and
# the search is much cheaper than quote's own scan.
_NEEDS_ESCAPE = re.compile(r"[^A-Za-z0-9/:@!$&()*+,;=~\-._]")


def backend_url(url: str, query: str | None, mapping: ProxyMapping | None, *, raw: bool = False,
                keep_encoded_slashes: bool = False) -> str:
    """The URL as the backend sees it: path re-escaped by proxy canon, query appended.

    ``raw``: no canonicalisation (the ``proxy-nocanon`` note: ProxyPass ``nocanon``,
    whose URL already carries the client's own query, or RewriteRule ``[P,NE]``,
    whose query mod_rewrite appends). ``keep_encoded_slashes``: AllowEncodedSlashes
    NoDecode, where canon leaves the ``%2F`` kept in r->uri as it is
    (``PROXY_CANONENC_NOENCODEDSLASHENCODING``) instead of escaping its ``%``.
    """
    if raw and mapping is not None and mapping.nocanon:
        return url
    if raw:
        escaped = url
    else:
        scheme, sep, rest = url.partition("://")
        host, slash, path = rest.partition("/")
        if _NEEDS_ESCAPE.search(path):
            # r->uri holds bytes that are not UTF-8 as lone surrogates (decode_uri);
            # ap_proxy_canonenc escapes each such byte as %XX, upper-case, as it
            # does any other: /v1/%ff reaches the backend as /v1/%FF, %c0%af as
            # %C0%AF (checked against apache2 2.4, tests/routing differential).
            if keep_encoded_slashes and "%" in path:
                pieces = _ENCODED_SLASH.split(path)
                kept = _ENCODED_SLASH.findall(path)
                path = "".join(quote(piece, safe=_CANON_SAFE, errors="surrogateescape") + (kept[i] if i < len(kept) else "")
                               for i, piece in enumerate(pieces))
            else:
                path = quote(path, safe=_CANON_SAFE, errors="surrogateescape")
        escaped = f"{scheme}{sep}{host}{slash}{path}" if sep else url
    if query is not None and not (mapping is not None and mapping.noquery):
        escaped += "?" + query
    return escaped


def balancer_members(all_directives: list[Directive], balancer_url: str) -> tuple[str, ...]:
    """Members of ``balancer://name`` from ``<Proxy balancer://name>`` sections or BalancerMember lines."""
    wanted = balancer_url.rstrip("/").lower()
    members: list[str] = []
    for node in all_directives:
        if node.key == "proxy" and node.args and node.args[0].rstrip("/").lower() == wanted:
            members.extend(c.args[0] for c in node.children or () if c.key == "balancermember" and c.args)
        elif node.key == "balancermember" and len(node.args) >= 2 and node.args[0].rstrip("/").lower() == wanted:
            members.append(node.args[1])
    return tuple(members)


def balancer_name(url: str) -> str | None:
    if not url.lower().startswith("balancer://"):
        return None
    rest = url[len("balancer://"):]
    return "balancer://" + rest.split("/", 1)[0]

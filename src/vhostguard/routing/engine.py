"""``route(model, request) -> Decision``: what httpd does with one request, and why.

The order is httpd's: vhost selection, server-context mod_rewrite, mod_proxy
mappings, mod_alias (redirects, then aliases), the DocumentRoot; then the
per-directory merge for access control, handlers and files (mod_dir).
"""
from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from vhostguard.config import AccessFile, ConfigError, Directive, Overrides, read_access_file
from vhostguard.model import AddressSet, Match, Server, ServerModel
from vhostguard.routing import access as mod_access
from vhostguard.routing import alias as mod_alias
from vhostguard.routing import proxy as mod_proxy
from vhostguard.routing.access import AccessResult
from vhostguard.routing.cgi import ScriptPath, extension_handler, find_script
from vhostguard.routing.connection import Refusal, refusal
from vhostguard.routing.decision import RECIPE, Decision, Outcome, StepEntry, new_decision, new_outcome, step_entry
from vhostguard.routing.request import Request, decode_uri, escape_uri, is_plain_path
from vhostguard.routing.perdir import Fixup, PerDirRewrite, directory_walk, fixup, server_rewrite
from vhostguard.routing.rewrite import (
    FIXED_DETAILS, NO_MATCH, EnvStore, RewriteResult, RewriteUnsupported, Rule, any_rule_pattern, rules_for, run_perdir_rules,
    run_rules,
)
from vhostguard.routing.sections import (
    Section, ServerSections, collect_sections, existing_directory, files_matches, last_of, last_value, matching_files,
    matching_locations, server_levels, server_sections,
)
from vhostguard.routing.sni import SniChecker
from vhostguard.routing.urls import SECTION_KEYS, USE_CANONICAL_DNS_NOTE, UrlSettings, construct_url, has_scheme, in_sections
from vhostguard.routing.urls import server_name_for_url, server_port, url_settings

MAX_INTERNAL_REDIRECTS = 10
_CACHE_LIMIT = 100_000  # entries per cache before it starts over: a long log replay must stay bounded
_UNKNOWN = object()  # "not cached yet", where None is a cached answer
_MAX_STAT_DEPTH = 64  # ancestors resolved ahead of a path (bounds the work for absurdly deep paths)
_HTTP_HEADER_VARS = {
    "HTTP_USER_AGENT": "User-Agent", "HTTP_REFERER": "Referer", "HTTP_COOKIE": "Cookie",
    "HTTP_FORWARDED": "Forwarded", "HTTP_HOST": "Host", "HTTP_PROXY_CONNECTION": "Proxy-Connection",
    "HTTP_ACCEPT": "Accept",
}


@dataclass(frozen=True, slots=True)
class _DirWalk:
    """The directory walk's result for one deepest existing directory of one server."""

    # the <Directory>/<DirectoryMatch> sections that apply and the per-directory (.htaccess)
    # files the walk read, in merge order
    sections: tuple[Section, ...]
    files: tuple[Section, ...]  # the <Files>/<FilesMatch> sections of those per-directory files
    error: ConfigError | None  # a per-directory file httpd refuses (500)
    notes: tuple[str, ...]  # what the walk could not model
    rewrite: PerDirRewrite | None  # per-directory mod_rewrite, when the engine is on and has rules here
    redirects: tuple[mod_alias.AliasEntry, ...]  # mod_alias Redirects of these sections (fixup_redir)
    deciding: Section | None  # access.deciders for these sections, to carry on from
    compat_nodes: list[Directive]  # (shared: never modified)


@dataclass(slots=True)
class _ServerPlan:
    """Everything about one server that does not depend on the request."""

    server: Server
    sections: ServerSections
    rewrite_engine: Directive | None
    rules: list[Rule]
    rule_problems: list[str]
    proxies: list[mod_proxy.ProxyMapping]
    redirects: list[mod_alias.AliasEntry]
    aliases: list[mod_alias.AliasEntry]
    urls: UrlSettings  # UseCanonicalName & co. (routing.urls)
    base_last: dict[str, Directive]
    unmodelled_ifs: tuple[Section, ...]
    if_notes: tuple[str, ...]  # the uncertainty each of unmodelled_ifs adds
    docroot_node: Directive | None
    # "RewriteRule <args>" per rule node (by id; plan.rules keeps the nodes alive), for trace steps
    rule_texts: dict[int, str]
    # The trace steps that name nothing request-specific, by (id(rule node), detail): built once
    rule_steps: dict[tuple[int, str], StepEntry]
    any_rule: re.Pattern[str] | None  # see rewrite.any_rule_pattern
    no_match_steps: tuple[object, ...]  # the trace when no rule's pattern matches (recipe entries)
    # Every directive name at server level or in a section: a lookup for any other
    # name (SetHandler, FallbackResource, ... in most configs) needs no merge.
    keys: frozenset[str]
    # The prefixes of every ProxyPass, Redirect and Alias when all are plain (see
    # ProxyMapping.plain), else None: one startswith() then rules them all out for most URIs.
    mapped_prefixes: tuple[str, ...] | None
    location_proxies: bool  # does any <Location> hold a ProxyPass?
    location_redirects: bool  # ... or a Redirect?
    # The directory walk per deepest existing directory: many requests end in the same one.
    walks: dict[str, _DirWalk] = field(default_factory=dict)
    access_names: tuple[str, ...] = (".htaccess",)  # AccessFileName
    server_rewrite: PerDirRewrite | None = None  # the per-directory rewrite defaults of the server
    recursion_limit: int = MAX_INTERNAL_REDIRECTS  # LimitInternalRecursion
    env_open: bool = False  # SetEnvIf and the like may set variables %{ENV:...} reads
    urls_in_sections: bool = False  # does a section set UseCanonicalName or UseCanonicalPhysicalPort?
    section_redirects: bool = False  # does a <Files> or <Location> hold a Redirect*?

    def urls_for(self, chosen: Sequence[Section]) -> UrlSettings:
        """The URL settings where ``chosen`` (the sections in force when a URL is built) apply."""
        return in_sections(self.urls, chosen) if self.urls_in_sections and chosen else self.urls

    def last(self, chosen: Sequence[Section], key: str) -> Directive | None:
        """``last_value`` for this server: the ``key`` directive that wins for ``chosen``."""
        return last_value(self.base_last, chosen, key) if key in self.keys else None


class _Trail:
    """The steps and uncertainties collected while routing one request.

    ``steps`` is the makings of a Decision's steps recipe (see decision.RECIPE),
    whose text is formatted only if someone reads it.
    """

    __slots__ = ("end", "env", "steps", "uncertain")

    def __init__(self, entries: tuple[object, ...]) -> None:
        self.steps: list[object] = list(entries)  # RECIPE and the vhost steps
        self.uncertain: list[str] | None = None  # most decisions have none: no list for them
        self.end = False  # a RewriteRule [END] ran: no rewriting in later rounds
        self.env: EnvStore | None = None  # the round's environment variables, once a rule reads or sets one

    def variables(self, plan: _ServerPlan) -> EnvStore:
        if self.env is None:
            self.env = EnvStore(open_names=plan.env_open)
        return self.env

    def add(self, stage: str, template: str, args: tuple[str | int | None, ...], node: Directive | None = None) -> None:
        """A step whose detail is ``template.format(*args)`` (the same text as an f-string);
        ``args`` hold strings and numbers only, so that the recipe is no work for the GC."""
        source = node.source if node is not None else None
        if source is None:
            self.steps += (stage, template, args, None, None, None)
        else:
            self.steps += (stage, template, args, source.file, source.line, source.macro)

    def unsure(self, reason: str) -> None:
        if self.uncertain is None:
            self.uncertain = [reason]
        elif reason not in self.uncertain:
            self.uncertain.append(reason)


class Router:
    """Routes requests through one model; per-server plans are built once.

    ``from_logs``: the requests were read from access logs. They reached the
    server, and their port may be the canonical ``%p`` (the Host's or the
    ServerName's, not the one the connection came to), so the connection checks
    (routing.connection: refused, plain HTTP to an SSL port) are not made.
    """

    def __init__(self, model: ServerModel, *, from_logs: bool = False) -> None:
        self.model = model
        self._check_connections = not from_logs
        self._plans: dict[str | None, _ServerPlan] = {}
        self._decisions: dict[Request, Decision] = {}
        self._fs: dict[str, str | None] = {}
        self._walk_dirs: dict[str, str] = {}  # directory -> the deepest existing directory at or above it
        # file name -> (what _kind says of it, the deepest existing directory on its path):
        # what serving a file asks, in one lookup
        self._files: dict[str, tuple[str | None, str]] = {}
        # (local_ip, port, Host) -> the match, the steps that explain it (a recipe's start),
        # and the matched server's plan (None for a malformed Host, which never needs one)
        self._vhosts: dict[tuple[str | None, int, str | None], tuple[Match, tuple[object, ...], _ServerPlan | None]] = {}
        # (id(deciding section), remote_ip, method) -> (that section, verdict, its step); the
        # section is kept so an id is never reused while its entry lives
        self._verdicts: dict[tuple[int, str, str], tuple[Section | None, AccessResult, StepEntry]] = {}
        # (id(address set), local_ip, port) -> (that set, the step naming it), kept as _verdicts is
        self._address_steps: dict[tuple[int, str | None, int], tuple[AddressSet, StepEntry]] = {}
        # The main server's sections, shared by every plan (collected once, not per server).
        self._main_sections = collect_sections(model.main.directives)
        self._main_level = server_levels(model.main, model.main)[0]  # likewise
        loaded = {m.name for m in model.tree.modules}
        self.modules = loaded
        self._all_nodes = list(model.tree.walk())
        self._sni = SniChecker(model)
        # (local_ip, port, scheme) -> routing.connection's refusal (None: the request reaches a server)
        self._refusals: dict[tuple[str | None, int, str], Refusal | None] = {}

    def kind(self, path: str) -> str | None:
        """'file', 'dir' or None; cached, since many requests share directories."""
        return self._kind(path)

    def _kind(self, path: str) -> str | None:
        """'file', 'dir' or None; cached, since many requests share directories."""
        kind = self._fs.get(path, _UNKNOWN)
        if kind is _UNKNOWN:
            kind = self._stat_kinds(path)
        return kind  # type: ignore[return-value]

    def _stat_kinds(self, path: str) -> str | None:
        """What ``os.path.isdir`` and ``os.path.isfile`` say of ``path``, and of its
        ancestors not yet known, from the top down: a path under a parent that is
        not a directory cannot be found (the kernel resolves every component on the
        way: ENOENT or ENOTDIR), so it needs no ``stat``. Many requests ask for
        paths under a missing directory, and each such directory costs one ``stat``
        instead of one per path; a parent that is a directory is needed anyway
        (the directory walk asks for it)."""
        fs = self._fs
        if len(fs) > _CACHE_LIMIT:
            fs.clear()
        pending = [path]
        parent = path.rpartition("/")[0]
        while parent and parent not in fs and len(pending) < _MAX_STAT_DEPTH:
            pending.append(parent)
            parent = parent.rpartition("/")[0]
        # No parent, or one left unknown at the depth bound: stat as if it were a directory.
        kind = fs.get(parent, "dir") if parent else "dir"
        for name in reversed(pending):
            kind = fs[name] = _stat_kind(name) if kind == "dir" else None
        return kind

    def _file_facts(self, filename: str) -> tuple[str | None, str]:
        """What ``filename`` is ('file', 'dir' or None) and the deepest existing directory
        on its path (where httpd's directory walk stops), for ``self._files``."""
        kind = self._kind(filename)
        if kind == "dir":
            walk_dir = filename.rstrip("/") or "/"
        else:
            parent = _dirname(filename) if not filename.endswith("/") else filename.rstrip("/") or "/"
            known = self._walk_dirs.get(parent)
            if known is None:
                if len(self._walk_dirs) > _CACHE_LIMIT:
                    self._walk_dirs.clear()
                known = self._walk_dirs[parent] = existing_directory(parent, self._is_dir)
            walk_dir = known
        if len(self._files) > _CACHE_LIMIT:
            self._files.clear()
        found = self._files[filename] = (kind, walk_dir)
        return found

    def _dir_walk(self, plan: _ServerPlan, walk_dir: str) -> _DirWalk:
        """The <Directory> sections for ``walk_dir`` and what they imply, for ``plan.walks``."""
        if len(plan.walks) > _CACHE_LIMIT:
            plan.walks.clear()
        found = plan.walks[walk_dir] = _dir_walk(plan, walk_dir, self._read_access_file)
        return found

    def _read_access_file(self, path: str, overrides: Overrides) -> AccessFile | None:
        """One per-directory file, read (never run) with the modules and defines of the config."""
        if self._kind(path) != "file":
            return None  # (the usual case, from the stat cache)
        tree = self.model.tree
        return read_access_file(path, overrides, [m.name for m in tree.modules], [name for name, _ in tree.defines],
                                tree.server_root)

    def _is_dir(self, path: str) -> bool:
        return self._kind(path) == "dir"

    def _is_file(self, path: str) -> bool:
        return self._kind(path) == "file"

    def plan(self, server: Server) -> _ServerPlan:
        found = self._plans.get(server.id)
        if found is None:
            found = self._plans[server.id] = _make_plan(self.model.main, server, self._main_sections, self._main_level)
        return found

    def route(self, request: Request) -> Decision:
        """Route one request; a request seen before gets its memoised decision
        (routing is a pure function of the request and the filesystem)."""
        found = self._decisions.get(request)
        if found is None:
            if len(self._decisions) > 200_000:
                self._decisions.clear()
            found = self._decisions[request] = self._route(request)
        return found

    def _route(self, request: Request) -> Decision:
        match, vhost_steps, plan = self._vhost(request)
        key = (request.local_ip, request.port, request.scheme)  # all a refusal depends on
        if key in self._refusals or not self._check_connections:
            refused = self._refusals.get(key)
        else:
            if len(self._refusals) > _CACHE_LIMIT:
                self._refusals.clear()
            refused = self._refusals[key] = refusal(self.model.listens, request, self._sni.speaks_tls(match))
        if refused is not None and refused.kind == "refused":
            source = refused.listen.source if refused.listen is not None else None
            steps = (RECIPE, *step_entry("connection", refused.reason, source))
            return new_decision(request, match, new_outcome("refused", None, None, reason=refused.reason), steps, True, ())
        trail = _Trail(vhost_steps)
        if refused is not None:
            trail.add("connection", "{}", (refused.reason,), None)
            return new_decision(request, match, new_outcome(refused.kind, refused.status, None, reason=refused.reason),
                                tuple(trail.steps), True, ())
        outcome = self._inside(match, plan, request, trail)
        uncertain = trail.uncertain
        return new_decision(request, match, outcome, tuple(trail.steps), uncertain is None,
                        () if uncertain is None else tuple(uncertain))

    def _vhost(self, request: Request) -> tuple[Match, tuple[object, ...], _ServerPlan | None]:
        """The server that answers, the steps that say why and its plan; all depend only
        on (local address, port, Host), which many distinct requests share."""
        key = (request.local_ip, request.port, request.host)
        found = self._vhosts.get(key)
        if found is None:
            if len(self._vhosts) > _CACHE_LIMIT:
                self._vhosts.clear()
            match = self.model.match(request.local_ip, request.port, request.host)
            plan = self.plan(match.server) if match.how != "bad-host" else None
            found = self._vhosts[key] = (match, self._explain_match(match, request), plan)
        return found

    def _explain_match(self, match: Match, request: Request) -> tuple[object, ...]:
        """RECIPE and two steps: the address set the connection lands in, and why this
        server in it. The first names no Host, so all the Hosts that reach one set share it."""
        aset = match.address_set
        if aset is None:
            return (RECIPE, *_no_vhost_step(match.server, request))
        key = (id(aset), request.local_ip, request.port)
        found = self._address_steps.get(key)
        if found is None or found[0] is not aset:
            if len(self._address_steps) > _CACHE_LIMIT:
                self._address_steps.clear()
            found = self._address_steps[key] = (aset, _address_step(aset, request))
        return (RECIPE, *found[1], *step_entry("vhost", _match_reason(match, aset), match.server.source))

    # -- inside the vhost ------------------------------------------------------

    def _inside(self, match: Match, plan: _ServerPlan | None, request: Request, trail: _Trail) -> Outcome:
        if plan is None:  # see _vhost
            return new_outcome("bad-request", 400, None, reason=match.host.error)
        if request.host is None and not request.http10:
            return new_outcome("bad-request", 400, None, reason="HTTP/1.1 request without Host")
        if request.scheme == "https":
            # mod_ssl's post-read check (SNI vs Host) answers before any translation.
            objection = self._sni.check(request, match)
            if objection is not None:
                trail.add("ssl", "{}", (objection.reason,), objection.directive)
                return new_outcome(objection.kind, objection.status, None, objection.directive,
                                   reason=objection.reason)
        for reason in match.server.uncertain:
            trail.unsure(reason)
        uri = request.path
        if not is_plain_path(uri):  # else decoding would leave it as it is
            decoded = decode_uri(uri, plan.urls.encoded_slashes)
            if decoded.error is not None:
                kind = "bad-request" if "400" in decoded.error else "not-found"
                return new_outcome(kind, 400 if kind == "bad-request" else 404, None, reason=decoded.error)
            uri = decoded.uri
        return self._translate(plan, request, uri, request.query, trail, depth=0)

    def _translate(self, plan: _ServerPlan, request: Request, uri: str, query: str | None, trail: _Trail, depth: int,
                   again: bool = False) -> Outcome:
        """One round of translation; ``again``: a round after a per-directory rewrite's
        internal redirect, where the server-context rules run again (hook_uri2file)."""
        filename: str | None = None
        handler: str | None = None
        rewrite_node: Directive | None = None
        context: tuple[str, str] | None = None
        entry_uri = uri  # the URI the location walk before translate_name saw
        if plan.rewrite_engine is not None and plan.rules and (depth == 0 or (again and not trail.end)):
            # translate_name runs after the location walk of the URI as it came (request.c):
            # a <Location> UseCanonicalName is in force for the URLs the rules build.
            before = matching_locations(plan.sections, uri) if plan.urls_in_sections else _NO_SECTIONS
            rewritten = self._rewrite(plan, request, uri, query, trail, before)
            if isinstance(rewritten, Outcome):
                return rewritten
            if rewritten is not None:
                rewrite_node = rewritten.rule.node if rewritten.rule else None
                query = rewritten.query
                handler = rewritten.handler
                if rewritten.action == "passthrough":
                    uri = rewritten.target or uri
                    trail.add("rewrite", "passes {} on to mod_proxy/mod_alias [PT]", (uri,), rewrite_node)
                elif rewritten.action == "file":
                    filename = rewritten.target
                    trail.add("rewrite", "maps to the file {}", (filename,), rewrite_node)
        prefixes = plan.sections.location_prefixes
        locations: Sequence[Section] = (
            _NO_SECTIONS if prefixes is not None and not uri.startswith(prefixes)  # the usual case, inline
            else matching_locations(plan.sections, uri)
        )
        # mod_proxy's and mod_alias's translate_name read the per-directory config of that
        # walk: after a [PT] to another URI, the <Location> ProxyPass or Redirect of the
        # URI as it came applies, not the new one's (seen live; the walk after
        # map_to_storage, which access and handlers see, is the new URI's).
        walked = locations if uri == entry_uri else matching_locations(plan.sections, entry_uri)
        alias_kind = "file"
        alias_node: Directive | None = rewrite_node
        mapped = plan.mapped_prefixes
        if filename is None and (  # else no ProxyPass, Redirect or Alias can apply (see mapped_prefixes)
            mapped is None or uri.startswith(mapped) or "//" in uri
            or (walked and (plan.location_proxies or plan.location_redirects))
        ):
            proxied = self._proxy(plan, uri, query, walked, trail, request)
            if proxied is not None:
                return self._finish_proxy(plan, request, uri, query, proxied, locations, trail)
            redirected = self._redirect(plan, request, uri, query, walked, trail)
            if redirected is not None:
                return redirected
            aliased = self._alias(plan, uri, trail)
            if aliased is not None:
                filename, alias_kind, alias_node = aliased.result or "", aliased.entry.kind, aliased.entry.node
                if not aliased.entry.regex and aliased.entry.real is not None:
                    context = (aliased.entry.fake, aliased.entry.real)  # ap_set_context_info
        if filename is None:
            root = plan.server.document_root
            filename = root.rstrip("/") + uri
            node = plan.docroot_node
            trail.add("docroot", "DocumentRoot {} + {} = {}", (root, uri, filename), node)
            alias_node = node
        return self._serve(plan, request, uri, query, filename, alias_kind, alias_node, handler, trail, depth, locations,
                           context)

    def _rewrite(self, plan: _ServerPlan, request: Request, uri: str, query: str | None, trail: _Trail,
                 locations: Sequence[Section] = ()) -> RewriteResult | Outcome | None:
        urls = plan.urls_for(locations)
        port = server_port(urls, request)  # first, as ever: it raises for a Host port int() refuses
        if plan.any_rule is not None and plan.any_rule.search(uri) is None:
            # No rule's pattern matches: the trace is "pattern does not match" for each.
            trail.steps += plan.no_match_steps
            for note in plan.rule_problems:
                trail.unsure(note)
            return None
        try:
            result = run_rules(plan.rules, uri, query, _RewriteVars(plan, request, uri, query, port, self, trail, urls))
        except RewriteUnsupported as problem:
            trail.unsure(str(problem))
            return None
        if result.end:
            trail.end = True  # (apr_pool_userdata "really_last": per-directory rules are skipped too)
        fixed = plan.rule_steps
        for traced, detail in result.trace:
            step = fixed.get((id(traced), detail))
            if step is None:
                trail.add("rewrite", "{}: {}", (plan.rule_texts[id(traced)], detail), traced)
            else:
                trail.steps += step
        for note in plan.rule_problems:
            trail.unsure(note)
        node = result.rule.node if result.rule else None
        if result.action == "status":
            return _status_outcome(result.status or 500, node)
        if result.action == "proxy":
            noescape = result.rule is not None and result.rule.flags.noescape  # [NE]: the proxy-nocanon note
            return self._proxy_outcome(result.target or "", result.query, None, node, plan, raw=noescape)
        if result.action == "redirect":
            if urls.canonical == "dns" and not has_scheme(result.rule.substitution if result.rule else ""):
                trail.unsure(USE_CANONICAL_DNS_NOTE)
            return new_outcome("redirect", result.status, result.target, node)
        if result.action == "none":
            return None
        return result

    # -- mod_proxy -------------------------------------------------------------

    def _proxy(self, plan: _ServerPlan, uri: str, query: str | None, locations: Sequence[Section], trail: _Trail,
               request: Request | None = None) -> mod_proxy.ProxyMatch | None:
        in_location = mod_proxy.location_mapping(locations) if plan.location_proxies else None
        candidates = plan.proxies if in_location is None else [in_location, *plan.proxies]
        merged = "//" not in uri
        # r->unparsed_uri, which a nocanon mapping forwards as the client sent it
        unparsed = None if request is None else request.path + (f"?{request.query}" if request.query is not None else "")
        winner: mod_proxy.ProxyMatch | None = None
        for mapping in candidates:
            if merged and mapping.plain and not uri.startswith(mapping.path):
                continue  # cannot match: see ProxyMapping.plain
            hit = mod_proxy.match_mapping(mapping, uri, unparsed)
            if hit is None:
                continue
            if winner is None:
                winner = hit
                if hit.url is None:
                    trail.add("proxy", "{} {} ! excludes {} from proxying", (mapping.node.name, mapping.path, uri), mapping.node)
            else:
                trail.add("proxy", "{} {} also matches but is shadowed by the one at {}",
                          (mapping.node.name, mapping.path, str(winner.mapping.node.source)), mapping.node)
        if winner is None or winner.url is None:
            return None
        return winner

    def _finish_proxy(self, plan: _ServerPlan, request: Request, uri: str, query: str | None, hit: mod_proxy.ProxyMatch,
                      locations: Sequence[Section], trail: _Trail) -> Outcome:
        """A mapping matched: access control (no file, so only <Location>s apply), then the backend."""
        mapping = hit.mapping
        trail.add("proxy", "{} {} {} matches {}", (mapping.node.name, mapping.path, mapping.target, uri), mapping.node)
        if mapping.nocanon and not hit.raw:
            trail.add("proxy", "the client's raw URI does not match as the decoded one does: nocanon is ignored (AH01136)",
                      (), mapping.node)
        denied = self._access(plan, request, None, locations, None, trail)
        if denied is not None:
            return denied
        if plan.section_redirects and locations:
            # mod_alias's fixup_redir runs before the proxy handler: a <Location> Redirect wins.
            for entry in _section_redirect_entries(locations):
                redirect_hit = mod_alias.match(entry, uri, self.model.tree.server_root)
                if redirect_hit is not None:
                    return self._redirect_to(plan, request, query, redirect_hit, trail, locations)
        return self._proxy_outcome(hit.url or "", query, mapping, mapping.node, plan, raw=hit.raw)

    def _proxy_outcome(self, url: str, query: str | None, mapping: mod_proxy.ProxyMapping | None, node: Directive | None,
                       plan: _ServerPlan | None = None, raw: bool = False) -> Outcome:
        keep_slashes = plan is not None and plan.urls.encoded_slashes == "nodecode"
        target = mod_proxy.backend_url(url, query, mapping, raw=raw, keep_encoded_slashes=keep_slashes)
        balancer = mod_proxy.balancer_name(url)
        members = mod_proxy.balancer_members(self._all_nodes, balancer) if balancer is not None else ()
        return new_outcome("proxy", None, target, node, members)

    # -- mod_alias ---------------------------------------------------------------

    def _redirect(self, plan: _ServerPlan, request: Request, uri: str, query: str | None, locations: Sequence[Section], trail: _Trail) -> Outcome | None:
        entry_hit: mod_alias.AliasHit | None = None
        if plan.location_redirects:  # the one-argument Redirect of the last <Location> with one
            for section in reversed(locations):
                node = section.redirect
                if node is not None:
                    entry = mod_alias.location_redirect(node)
                    if entry is not None:
                        entry_hit = mod_alias.AliasHit(entry, entry.real)
                        break
        if entry_hit is None:
            merged = "//" not in uri
            for entry in plan.redirects:
                if merged and entry.plain and not uri.startswith(entry.fake):
                    continue  # cannot match: see AliasEntry.plain
                hit = mod_alias.match(entry, uri, self.model.tree.server_root)
                if hit is not None:
                    entry_hit = hit
                    break
        if entry_hit is None:
            return None
        return self._redirect_to(plan, request, query, entry_hit, trail, locations)

    def _redirect_to(self, plan: _ServerPlan, request: Request, query: str | None, entry_hit: mod_alias.AliasHit,
                     trail: _Trail, chosen: Sequence[Section]) -> Outcome:
        """The answer of a matching Redirect (mod_alias's translate_redir and fixup_redir)."""
        entry = entry_hit.entry
        status = entry.status or 302
        if not 300 <= status < 400:
            trail.add("alias", "{} {}: responds {}", (entry.node.name, entry.fake, status), entry.node)
            return _status_outcome(status, entry.node)
        target = entry_hit.result or ""
        if target.startswith("/"):
            target = self._absolute(plan, request, target, trail, chosen)
        if query is not None and "?" not in target:
            target += "?" + query
        trail.add("alias", "{} {} redirects {} to {}", (entry.node.name, entry.fake, status, target), entry.node)
        return new_outcome("redirect", status, target, entry.node)

    def _absolute(self, plan: _ServerPlan, request: Request, path: str, trail: _Trail, chosen: Sequence[Section]) -> str:
        """``ap_construct_url``: scheme://name[:port]path (routing.urls), with the
        UseCanonicalName of the sections in force (``chosen``)."""
        urls = plan.urls_for(chosen)
        if urls.canonical == "dns":
            trail.unsure(USE_CANONICAL_DNS_NOTE)
        return construct_url(urls, request, path)

    def _alias(self, plan: _ServerPlan, uri: str, trail: _Trail) -> mod_alias.AliasHit | None:
        merged = "//" not in uri
        for entry in plan.aliases:
            if merged and entry.plain and not uri.startswith(entry.fake):
                continue  # cannot match: see AliasEntry.plain
            hit = mod_alias.match(entry, uri, self.model.tree.server_root)
            if hit is not None:
                trail.add("alias", "{} {} {} maps {} to {}", (entry.node.name, entry.fake, entry.real, uri, hit.result), entry.node)
                return hit
        return None

    # -- access, handlers and files -------------------------------------------------

    def _access(self, plan: _ServerPlan, request: Request, walk: _DirWalk | None, after_walk: Sequence[Section],
                filename: str | None, trail: _Trail) -> Outcome | None:
        """Access control for the sections that apply: ``walk``'s directories (for a
        file), then ``after_walk`` (<Files>, <Location>)."""
        if plan.if_notes or (walk is not None and walk.notes):  # rarely anything to note
            self._note_unmodelled(plan, walk, trail)
        if walk is None:
            deciding, compat_nodes = mod_access.deciders(after_walk) if after_walk else (None, _NO_NODES)
        elif after_walk:
            deciding, compat_nodes = mod_access.deciders(after_walk, walk.deciding, walk.compat_nodes)
        else:
            deciding, compat_nodes = walk.deciding, walk.compat_nodes
        if compat_nodes:
            _, result, step = self._verdict(deciding, compat_nodes, request)
        else:  # the memoised case, looked up here (see _verdict)
            found = self._verdicts.get((id(deciding), request.remote_ip, request.method))
            if found is None or found[0] is not deciding:
                found = self._verdict(deciding, compat_nodes, request)
            _, result, step = found
        if result.uncertain:
            trail.unsure(result.uncertain)
        trail.steps += step
        if result.verdict == "denied":
            return new_outcome("forbidden", 403, None, result.directive, reason=result.detail)
        if result.verdict == "auth":
            return new_outcome("unauthorized", 401, None, result.directive, reason=result.detail)
        return None

    def _verdict(self, deciding: Section | None, compat_nodes: list[Directive],
                 request: Request) -> tuple[Section | None, AccessResult, StepEntry]:
        """``access.decide`` as (deciding, verdict, its step), memoised in ``self._verdicts``
        when one section's Require lines decide alone (no Order/Allow/Deny): then the
        verdict depends on that section and the client only."""
        result = mod_access.decide(deciding, compat_nodes, request.remote_ip, request.method)
        found = (deciding, result, _access_step(result))
        if not compat_nodes:
            if len(self._verdicts) > _CACHE_LIMIT:
                self._verdicts.clear()
            self._verdicts[(id(deciding), request.remote_ip, request.method)] = found
        return found

    def _note_unmodelled(self, plan: _ServerPlan, walk: _DirWalk | None, trail: _Trail) -> None:
        for note in plan.if_notes:
            trail.unsure(note)
        for note in walk.notes if walk is not None else ():
            trail.unsure(note)

    def lookup_file(self, plan: _ServerPlan, request: Request, path: str) -> bool:
        """``RewriteCond -F`` (``ap_sub_req_lookup_file``): ``path`` is a file, its per-directory
        files are readable, and access to it is granted (no <Location> applies to a file lookup)."""
        found, walk_dir = self._files.get(path) or self._file_facts(path)
        if found != "file":
            return False
        walk = plan.walks.get(walk_dir) or self._dir_walk(plan, walk_dir)
        if walk.error is not None:
            return False
        after = _after_walk(plan, walk, path, _NO_SECTIONS)
        deciding, compat_nodes = mod_access.deciders(after, walk.deciding, walk.compat_nodes)
        result = mod_access.decide(deciding, compat_nodes, request.remote_ip, request.method)
        if result.uncertain:
            raise RewriteUnsupported(f"RewriteCond -F on {path}: {result.uncertain}")
        return result.verdict == "granted"

    def _fixups(self, plan: _ServerPlan, request: Request, uri: str, query: str | None, filename: str, walk_dir: str,
                walk: _DirWalk, chosen: Sequence[Section], trail: _Trail, depth: int,
                context: tuple[str, str] | None, subrequest: bool) -> Outcome | None:
        """The fixup hooks that can answer from per-directory config: mod_rewrite's (first),
        then mod_alias's Redirects."""
        if walk.rewrite is not None and not trail.end:
            rewritten = self._perdir_rewrite(plan, request, uri, query, filename, walk_dir, walk, chosen, trail,
                                             depth, context, subrequest)
            if rewritten is not None:
                return rewritten
        return self._dir_redirect(plan, request, uri, query, walk, trail, chosen) if walk.redirects else None

    def _perdir_rewrite(self, plan: _ServerPlan, request: Request, uri: str, query: str | None, filename: str,
                        walk_dir: str, walk: _DirWalk, chosen: Sequence[Section], trail: _Trail, depth: int,
                        context: tuple[str, str] | None, subrequest: bool = False) -> Outcome | None:
        """mod_rewrite's ``hook_fixup``: the per-directory rules, then what their result means
        (None: the request goes on as mapped)."""
        config = walk.rewrite
        assert config is not None  # (the caller's test)
        directory = config.directory or ""
        node = config.node
        for section in chosen:
            if section.kind != "directory" and not _REWRITE_KEYS.isdisjoint(section.last):
                trail.unsure(f"mod_rewrite directives in <{section.node.name}> at {section.node.source} are not modelled")
        current, path_info = _split_path_info(filename, walk_dir, self._kind)
        if "allownoslash" not in config.options and current == directory[:-1]:
            # The directory itself without its slash: left to mod_dir's redirect.
            return None
        options = _options(plan.sections.base, chosen)
        if "followsymlinks" not in options and "symlinksifownermatch" not in options:
            trail.add("rewrite", "Options FollowSymLinks and SymLinksIfOwnerMatch are both off: per-directory "
                      "RewriteRule is forbidden (AH00670)", (), node)
            return new_outcome("forbidden", 403, None, node, reason="AH00670: per-directory rewriting needs FollowSymLinks")
        try:
            urls = plan.urls_for(chosen)
            env = _PerDirVars(plan, request, uri, query, server_port(urls, request), self, trail, current, urls)
            result = run_perdir_rules(list(config.rules), current, path_info, directory, query, env, subrequest)
        except (RewriteUnsupported, ValueError) as problem:
            trail.unsure(str(problem))
            return None
        for traced, detail in result.trace:
            trail.add("rewrite", "{} (per-directory {}): {}", (" ".join([traced.name, *traced.args]), directory, detail),
                      traced)
        if result.end:
            trail.end = True
        rule_node = result.rule.node if result.rule is not None else node
        done = fixup(config, result, current, query, plan.server.document_root, context)
        if done.kind in ("proxy", "internal") and walk.redirects:
            # hook_fixup only set a handler: mod_alias's fixup_redir, which runs next, still answers first.
            redirected = self._dir_redirect(plan, request, uri, done.query, walk, trail, chosen)
            if redirected is not None:
                return redirected
        return self._fixup_outcome(plan, request, done, rule_node, trail, depth, current)

    def _dir_redirect(self, plan: _ServerPlan, request: Request, uri: str, query: str | None, walk: _DirWalk,
                      trail: _Trail, chosen: Sequence[Section]) -> Outcome | None:
        """mod_alias's ``fixup_redir``: the first per-directory Redirect that matches ``uri``."""
        for entry in walk.redirects:
            hit = mod_alias.match(entry, uri, self.model.tree.server_root)
            if hit is not None:
                return self._redirect_to(plan, request, query, hit, trail, chosen)
        return None

    def _fixup_outcome(self, plan: _ServerPlan, request: Request, done: Fixup, rule_node: Directive | None, trail: _Trail,
                       depth: int, filename: str) -> Outcome | None:
        """What ``hook_fixup``'s answer means: an outcome, a new round after an internal
        redirect, or None (the request goes on as mapped). ``filename``: the round's file name."""
        if done.kind == "declined":
            if done.reason:
                trail.add("rewrite", "{}", (done.reason,), rule_node)
            return None
        if done.kind == "status":
            return _status_outcome(done.status or 500, rule_node)
        if done.kind == "bad-request":
            return new_outcome("bad-request", 400, None, rule_node, reason=done.reason)
        if done.kind == "proxy":
            if "proxy_module" not in self.modules:
                return new_outcome("forbidden", 403, None, rule_node, reason="[P] without mod_proxy (AH10160)")
            return self._proxy_outcome(done.target or "", done.query, None, rule_node)
        if done.kind == "redirect":
            return new_outcome("redirect", done.status, done.target, rule_node)
        target = done.target or "/"
        if depth >= plan.recursion_limit:
            trail.add("rewrite", "internal redirect to {}: more than LimitInternalRecursion {} (AH00124)",
                      (target, plan.recursion_limit), rule_node)
            # (the target: the file whose rules looped, so that diagnose can name them)
            return new_outcome("error", 500, filename, rule_node,
                               reason=f"AH00124: more than {plan.recursion_limit} internal redirects")
        trail.add("rewrite", "internal redirect to {}{}", (target, "" if done.query is None else "?" + done.query), rule_node)
        trail.env = trail.variables(plan).redirected()
        if not is_plain_path(target):  # the new request's URI is decoded and normalised as a client's is
            decoded = decode_uri(target)
            if decoded.error is not None:
                trail.unsure(f"the internal redirect to {target} is not modelled ({decoded.error})")
                return None
            target = decoded.uri
        return self._translate(plan, request, target, done.query, trail, depth + 1, again=True)

    def _serve(self, plan: _ServerPlan, request: Request, uri: str, query: str | None, filename: str, kind: str,
               node: Directive | None, handler: str | None, trail: _Trail, depth: int,
               locations: Sequence[Section] | None = None, context: tuple[str, str] | None = None,
               subrequest: bool = False) -> Outcome:
        """Serve ``filename`` (``locations``: the <Location>s for ``uri``, if already known;
        ``context``: the Alias (URL prefix, directory) that mapped it, for per-directory rewriting;
        ``subrequest``: mod_dir's lookup of an index file)."""
        # Cached (two lookups and no call, for most requests): found is 'file', 'dir' or None.
        found, walk_dir = self._files.get(filename) or self._file_facts(filename)
        walk = plan.walks.get(walk_dir) or self._dir_walk(plan, walk_dir)
        if walk.error is not None:
            # ap_directory_walk reads the per-directory files before any access check: 500.
            trail.add("htaccess", "{}", (str(walk.error),), None)
            return new_outcome("error", 500, None, None, reason=f"{walk.error} (httpd logs it and answers 500)")
        if locations is None:
            locations = matching_locations(plan.sections, uri)
        after_walk = _after_walk(plan, walk, filename, locations)
        # Read only from here on, so the walk's own tuple serves when nothing follows it.
        chosen: Sequence[Section] = (*walk.sections, *after_walk) if after_walk else walk.sections
        denied = self._access(plan, request, walk, after_walk, filename, trail)
        if denied is not None:
            return denied
        if plan.section_redirects and after_walk:
            walk = _with_section_redirects(walk, after_walk)
        if (walk.rewrite is not None and not trail.end) or walk.redirects:
            fixed = self._fixups(plan, request, uri, query, filename, walk_dir, walk, chosen, trail, depth, context,
                                 subrequest)
            if fixed is not None:
                return fixed
        if kind in ("file", "script") and found == "dir":
            by_mod_dir = self._mod_dir(plan, request, uri, query, filename, chosen, node, trail, depth, kind)
            if by_mod_dir is not None:
                return by_mod_dir
        by_set_handler = self._set_handler(plan, query, filename, kind, found, chosen, trail)
        if by_set_handler is not None:
            return by_set_handler
        if handler:
            return new_outcome("handler", 200, handler, node)
        if kind == "file" and found != "dir" and "addhandler" in plan.keys and "mime_module" in self.modules:
            by_extension = self._cgi_by_extension(plan, filename, found, chosen, trail)
            if by_extension is not None:
                return by_extension
        if kind == "wsgi":
            return new_outcome("wsgi", 200 if found == "file" else 404, filename, node)
        if kind == "script":
            return self._script(filename, found, node, trail)
        return self._file(plan, request, uri, query, filename, found, chosen, node, trail, depth)

    def _set_handler(self, plan: _ServerPlan, query: str | None, filename: str, kind: str, found: str | None,
                     chosen: Sequence[Section], trail: _Trail) -> Outcome | None:
        """The handler a SetHandler names for ``filename``, if one does (None: not decided here)."""
        # (The key test is plan.last's own, made here: most configs have no SetHandler.)
        set_handler = plan.last(chosen, "sethandler") if "sethandler" in plan.keys else None
        if set_handler is None or not set_handler.args or set_handler.args[0].lower() == "none":
            return None
        name = set_handler.args[0]
        trail.add("handler", "SetHandler {}", (name,), set_handler)
        if name.lower().startswith("proxy:"):
            return self._proxy_outcome(_handler_proxy_url(name, filename), query, None, set_handler, plan)
        if name.lower() != "cgi-script":
            return new_outcome("handler", 200, name, set_handler)
        if kind != "script":  # a ScriptAlias needs no ExecCGI (mod_cgi's is_scriptaliased)
            return self._cgi_by_handler(plan, filename, found, chosen, set_handler, trail)
        return None

    def _cgi_by_extension(self, plan: _ServerPlan, filename: str, found: str | None, chosen: Sequence[Section],
                          trail: _Trail) -> Outcome | None:
        """mod_mime's ``AddHandler cgi-script .cgi`` for the file the directory walk finds (routing.cgi)."""
        script = ScriptPath(filename, "") if found == "file" else find_script(filename, self._kind)
        if script is None:
            return None
        nodes = [n for n in (*plan.sections.base, *[c for s in chosen for c in s.children]) if n.key in _HANDLER_KEYS]
        added = extension_handler(nodes, script.script)
        if added is None or added.args[0].lower() != "cgi-script":
            return None
        trail.add("handler", "AddHandler cgi-script: {} is a CGI script", (script.script,), added)
        return self._cgi_by_handler(plan, script.script + script.path_info, found, chosen, added, trail)

    def _cgi_by_handler(self, plan: _ServerPlan, filename: str, found: str | None, chosen: Sequence[Section],
                        node: Directive, trail: _Trail) -> Outcome:
        """cgi-script set by SetHandler or AddHandler: mod_cgi runs it only where Options has ExecCGI."""
        if "execcgi" not in _options(plan.sections.base, chosen):
            trail.add("handler", "Options has no ExecCGI here: mod_cgi refuses {}", (filename,), node)
            return new_outcome("forbidden", 403, filename, node, reason="Options ExecCGI is off in this directory")
        return self._script(filename, found, node, trail)

    def _script(self, filename: str, found: str | None, node: Directive | None, trail: _Trail) -> Outcome:
        """mod_cgi(d) for ``filename``: the script (and PATH_INFO) the directory walk finds (routing.cgi)."""
        if found == "dir":
            trail.add("handler", "{} is a directory: mod_cgi refuses to run it", (filename,), node)
            return new_outcome("forbidden", 403, filename, node, reason="attempt to invoke directory as script")
        script = ScriptPath(filename, "") if found == "file" else find_script(filename, self._kind)
        if script is None:
            return new_outcome("not-found", 404, filename, node, reason="script not found")
        if script.path_info:
            trail.add("handler", "runs {} with PATH_INFO {}", (script.script, script.path_info), node)
        if not _executable(script.script):
            trail.add("handler", "{} is not executable: the exec fails", (script.script,), node)
            return new_outcome("error", 500, script.script, node, reason="script not executable")
        return new_outcome("script", 200, script.script, node)

    def _file(self, plan: _ServerPlan, request: Request, uri: str, query: str | None, filename: str, found: str | None,
              chosen: Sequence[Section], node: Directive | None, trail: _Trail, depth: int) -> Outcome:
        """A static file: ``found`` is what the filesystem holds at ``filename`` ('file', 'dir' or None)."""
        if found == "file":
            return new_outcome("file", 200, filename, node)
        if found == "dir":
            return self._directory(plan, filename, chosen, node, trail)
        fallback = (
            plan.last(chosen, "fallbackresource") if "fallbackresource" in plan.keys and "dir_module" in self.modules
            else None
        )
        if fallback is not None and fallback.args and fallback.args[0].lower() != "disabled" and depth < MAX_INTERNAL_REDIRECTS:
            target = fallback.args[0]
            trail.add("files", "{} does not exist: FallbackResource {}", (filename, target), fallback)
            if not target.startswith("/"):
                target = uri.rsplit("/", 1)[0] + "/" + target
            return self._translate(plan, request, target, query, trail, depth + 1)
        trail.add("files", "{} does not exist", (filename,), node)
        return new_outcome("not-found", 404, filename, node)

    def _mod_dir(self, plan: _ServerPlan, request: Request, uri: str, query: str | None, filename: str, chosen: Sequence[Section], node: Directive | None, trail: _Trail, depth: int, kind: str = "file") -> Outcome | None:
        """mod_dir's fixup for a directory: the trailing-slash redirect, then DirectoryIndex.

        It runs before any handler (DirectoryCheckHandler Off), so a SetHandler
        location that maps to a directory is redirected too.
        """
        if "dir_module" not in self.modules:
            return None
        if not uri.endswith("/"):
            slash = plan.last(chosen, "directoryslash")
            if slash is None or not slash.args or slash.args[0].lower() != "off":
                target = self._absolute(plan, request, _escape_path(uri) + "/", trail, chosen) + (f"?{query}" if query is not None else "")
                trail.add("files", "{} is a directory: mod_dir adds the trailing slash", (filename,), slash or node)
                return new_outcome("redirect", 301, target, slash or node)
            return None
        index_node = plan.last(chosen, "directoryindex")
        names = list(index_node.args) if index_node is not None else ["index.html"]
        for name in names:
            if name.lower() == "disabled":
                return None
            if name.startswith("/"):
                trail.add("files", "DirectoryIndex {} is a URL path", (name,), index_node)
                if depth < MAX_INTERNAL_REDIRECTS:
                    return self._translate(plan, request, name, query, trail, depth + 1)
                continue
            candidate = os.path.join(filename, name)
            if self._is_file(candidate):
                trail.add("files", "DirectoryIndex serves {}", (candidate,), index_node)
                return self._serve(plan, request, uri + name, query, candidate, kind, node, None, trail, depth + 1,
                                   subrequest=True)
        return None

    def _directory(self, plan: _ServerPlan, filename: str, chosen: Sequence[Section], node: Directive | None, trail: _Trail) -> Outcome:
        """A directory nothing else served: mod_autoindex lists it or refuses; without it, 404."""
        options = _options(plan.sections.base, chosen)
        if "autoindex_module" in self.modules and "indexes" in options:
            trail.add("files", "{} has no index: Options Indexes lists it", (filename,), node)
            return new_outcome("handler", 200, "autoindex", node)
        if "autoindex_module" in self.modules:
            trail.add("files", "{} has no index and Options has no Indexes", (filename,), node)
            return new_outcome("forbidden", 403, filename, node, reason="directory listing forbidden by Options")
        trail.add("files", "{} is a directory and nothing serves it", (filename,), node)
        return new_outcome("not-found", 404, filename, node)


_NO_SECTIONS: tuple[Section, ...] = ()
_HANDLER_KEYS = frozenset({"addhandler", "removehandler"})
_NO_NODES: list[Directive] = []  # never modified (see access.deciders)
_ENV_SETTERS = frozenset({"setenvif", "setenvifnocase", "setenvifexpr", "browsermatch", "browsermatchnocase"})
_REWRITE_KEYS = frozenset({"rewriteengine", "rewriteoptions", "rewritebase", "rewriterule", "rewritecond"})
_DECIDING_KEYS = frozenset({"require", "requireall", "requireany", "requirenone", "sethandler", "redirect", "proxypass", "rewriterule", "allow", "deny"})


def _stat_kind(path: str) -> str | None:
    """'dir', 'file' or None, from one ``stat`` (``os.path.isdir`` and ``isfile`` are each a stat)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):  # as os.path.isdir/isfile: unreadable means "not there"
        return None
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else None


def _executable(path: str) -> bool:
    """Does any execute bit allow running ``path`` (the workers run as User, rarely its owner)?"""
    try:
        return bool(os.stat(path).st_mode & 0o111)
    except (OSError, ValueError):
        return False


def _dirname(path: str) -> str:
    """``os.path.dirname`` for a str path, without its generic detours (a hot path)."""
    head, slash, _ = path.rpartition("/")
    if not slash:
        return ""
    return head.rstrip("/") or head + "/"  # a head of slashes only is kept whole, as dirname does


def _escape_path(uri: str) -> str:
    return escape_uri(uri, "/:@!$&'()*+,;=~")


def _options(base: tuple[Directive, ...], chosen: Sequence[Section]) -> set[str]:
    """``Options`` merged in order: absolute lists replace, +/- adjust (default FollowSymLinks)."""
    current = {"followsymlinks"}
    nodes = [n for n in base if n.key == "options"] + [n for s in chosen for n in s.children if n.key == "options"]
    for node in nodes:
        words = [w.lower() for w in node.args]
        if words and all(not w.startswith(("+", "-")) for w in words):
            current = set()
        for word in words:
            if word.startswith("+"):
                current.add(word[1:])
            elif word.startswith("-"):
                current.discard(word[1:])
            elif word == "all":
                current |= {"indexes", "includes", "followsymlinks", "execcgi", "multiviews"}
            elif word != "none":
                current.add(word)
    return current


def _handler_proxy_url(handler: str, filename: str) -> str:
    """``SetHandler "proxy:unix:/path|fcgi://localhost/"``: the backend URL for this request.
    mod_proxy's handler appends r->filename, the file the request maps to (proxy_handler:
    handler + filename), so php-fpm gets the script's path (apache2 2.4.71)."""
    return handler[len("proxy:"):] + filename


def _status_outcome(status: int, node: Directive | None) -> Outcome:
    kinds = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 410: "gone", 421: "misdirected"}
    kind = kinds.get(status, "error")
    return new_outcome(kind, status, None, node)


def _split_path_info(filename: str, walk_dir: str, kind: Callable[[str], str | None]) -> tuple[str, str]:
    """``r->filename`` and ``r->path_info`` after the directory walk: the path up to the first
    component that is not a directory (a file, or the first missing name), and the rest."""
    if kind(filename) is not None:
        return filename, ""
    base = walk_dir.rstrip("/")
    if not filename.startswith(base + "/"):
        return filename, ""
    name, slash, rest = filename[len(base) + 1:].partition("/")
    return f"{base}/{name}", slash + rest


class _RewriteVars:
    """``RewriteEnv`` for one request: what server-context rules can read.

    Made for every request to a server with rules, though most match no rule
    and read nothing; so the server name is worked out on first use.
    """

    __slots__ = ("_name", "_plan", "_port", "_query", "_request", "_router", "_trail", "_uri", "_urls")

    def __init__(self, plan: _ServerPlan, request: Request, uri: str, query: str | None, port: int, router: Router,
                 trail: _Trail, urls: UrlSettings | None = None) -> None:
        self._router = router  # for what the filesystem holds (its stat cache) and -F lookups
        self._trail = trail  # for the round's environment variables
        self._plan = plan
        self._request = request
        self._uri = uri
        self._query = query
        self._port = port  # SERVER_PORT
        self._name: str | None = None
        self._urls = urls or plan.urls  # UseCanonicalName & co. where the rules run

    @property
    def document_root(self) -> str:
        return self._plan.server.document_root

    def _server(self) -> tuple[str, int]:
        """SERVER_NAME and SERVER_PORT as UseCanonicalName makes them."""
        if self._name is None:
            self._name = server_name_for_url(self._urls, self._request)
        return self._name, self._port

    @property
    def own_prefixes(self) -> tuple[str, ...]:
        server_name, port = self._server()
        scheme = self._request.scheme
        default = 443 if scheme == "https" else 80
        return (f"{scheme}://{server_name}:{port}",) + ((f"{scheme}://{server_name}",) if port == default else ())

    def lookup(self, name: str) -> str | None:
        upper = name.upper()
        request = self._request
        if upper.startswith("HTTP:"):
            return request.header(name[5:]) or ""
        if upper in _SERVER_VARS:
            return self._variable(upper)
        if upper in _HTTP_HEADER_VARS:
            return request.header(_HTTP_HEADER_VARS[upper]) or ""
        if upper.startswith("ENV:"):
            return self.variables.get(name[4:])
        return None

    @property
    def variables(self) -> EnvStore:
        return self._trail.variables(self._plan)

    def _variable(self, upper: str) -> str:
        """One of ``_SERVER_VARS``."""
        request = self._request
        if upper == "HTTP_HOST":
            return request.host or ""
        if upper == "HTTPS":
            return "on" if request.scheme == "https" else "off"
        if upper in ("REQUEST_URI", "REQUEST_FILENAME", "SCRIPT_FILENAME"):
            return self._uri
        if upper == "QUERY_STRING":
            return self._query or ""
        if upper == "REQUEST_METHOD":
            return request.method
        if upper == "SERVER_PORT":
            return str(self._server()[1])
        if upper == "SERVER_NAME":
            return self._server()[0]
        if upper == "REMOTE_ADDR":
            return request.remote_ip
        if upper == "REQUEST_SCHEME":
            return request.scheme
        if upper == "DOCUMENT_ROOT":
            return self._plan.server.document_root
        protocol = "HTTP/1.0" if request.http10 else "HTTP/1.1"
        if upper == "THE_REQUEST":
            return f"{request.method} {request.path}{'?' + request.query if request.query is not None else ''} {protocol}"
        if upper == "SERVER_PROTOCOL":
            return protocol
        return request.local_ip or ""  # SERVER_ADDR

    def lookup_file(self, path: str) -> bool:
        if not path.startswith("/"):
            raise RewriteUnsupported(f"RewriteCond -F on the relative path {path!r} is not modelled")
        return self._router.lookup_file(self._plan, self._request, path)

    def file_kind(self, path: str) -> str | None:
        # A relative name is relative to httpd's working directory: / once it has detached.
        return self._router.kind(path if path.startswith("/") else "/" + path)

    def fully_qualify(self, target: str) -> str:
        """mod_rewrite's ``fully_qualify_uri``: ws://, fcgi://, unix: ... targets stay as they are."""
        if has_scheme(target):
            return target
        return construct_url(self._urls, self._request, ("" if target.startswith("/") else "/") + target)


class _PerDirVars(_RewriteVars):
    """``_RewriteVars`` for per-directory rules: ``%{REQUEST_FILENAME}`` is ``r->filename``,
    which the rules change as they go."""

    __slots__ = ("_filename",)

    def __init__(self, plan: _ServerPlan, request: Request, uri: str, query: str | None, port: int, router: Router,
                 trail: _Trail, filename: str, urls: UrlSettings | None = None) -> None:
        super().__init__(plan, request, uri, query, port, router, trail, urls)
        self._filename = filename

    def set_filename(self, filename: str) -> None:
        self._filename = filename

    def lookup(self, name: str) -> str | None:
        if name.upper() in ("REQUEST_FILENAME", "SCRIPT_FILENAME"):
            return self._filename
        return super().lookup(name)


_SERVER_VARS = frozenset({
    "HTTP_HOST", "HTTPS", "REQUEST_URI", "REQUEST_FILENAME", "SCRIPT_FILENAME", "QUERY_STRING", "REQUEST_METHOD",
    "SERVER_PORT", "SERVER_NAME", "REMOTE_ADDR", "REQUEST_SCHEME", "DOCUMENT_ROOT", "THE_REQUEST", "SERVER_PROTOCOL",
    "SERVER_ADDR",
})


def _make_plan(main: Server, server: Server, main_sections: list[Section], main_level: tuple[Directive, ...]) -> _ServerPlan:
    levels = server_levels(main, server, main_level)
    engine, rules, problems = rules_for(main, server, levels)
    redirects, aliases = mod_alias.entries(main, server, levels)
    proxies = mod_proxy.server_mappings(main, server, levels)
    sections = server_sections(main, server, main_sections, levels)
    base_last = last_of(sections.base)
    unmodelled_ifs = tuple(s for s in sections.ifs if any(c.key in _DECIDING_KEYS for c in s.children))
    rule_texts = {id(rule.node): " ".join([rule.node.name, *rule.node.args]) for rule in rules}
    rule_steps = {(id(rule.node), detail): step_entry("rewrite", f"{rule_texts[id(rule.node)]}: {detail}", rule.node.source)
                  for rule in rules for detail in FIXED_DETAILS}
    everywhere = (*sections.directories, *sections.files, *sections.locations)
    access_name = base_last.get("accessfilename")
    recursion = base_last.get("limitinternalrecursion")
    own_level = levels[1] if any(n.key == "rewriteoptions" for n in levels[1]) else levels[0]
    return _ServerPlan(
        server=server, sections=sections, rewrite_engine=engine, rules=rules, rule_problems=problems,
        proxies=proxies, redirects=redirects, aliases=aliases,
        urls=url_settings(base_last, server),
        base_last=base_last, unmodelled_ifs=unmodelled_ifs,
        if_notes=tuple(f"<If {s.pattern}> at {s.node.source} is not evaluated" for s in unmodelled_ifs),
        docroot_node=last_value(base_last, [], "documentroot"),
        rule_texts=rule_texts, rule_steps=rule_steps,
        any_rule=any_rule_pattern(rules) if engine is not None and rules else None,
        no_match_steps=tuple(entry for rule in rules for entry in rule_steps[id(rule.node), NO_MATCH]),
        keys=frozenset(base_last).union(*(s.last for s in everywhere)),
        mapped_prefixes=(
            (*[m.path for m in proxies], *[e.fake for e in (*redirects, *aliases)])
            if all(m.plain for m in proxies) and all(e.plain for e in (*redirects, *aliases)) else None
        ),
        location_proxies=any("proxypass" in s.last or "proxypassmatch" in s.last for s in sections.locations),
        location_redirects=any(s.redirect is not None for s in sections.locations),
        env_open=bool(_ENV_SETTERS & (frozenset(base_last).union(*(s.last for s in everywhere)))),
        urls_in_sections=any(key in s.last for s in everywhere for key in SECTION_KEYS),
        section_redirects=any(not _REDIRECT_NAMES.isdisjoint(s.last) for s in (*sections.files, *sections.locations)),
        access_names=tuple(access_name.args) if access_name is not None and access_name.args else (".htaccess",),
        server_rewrite=server_rewrite(engine, own_level),
        recursion_limit=(int(recursion.args[0]) if recursion is not None and recursion.args and recursion.args[0].isdigit()
                         else MAX_INTERNAL_REDIRECTS),
    )


def _dir_walk(plan: _ServerPlan, walk_dir: str, read: Callable[[str, Overrides], AccessFile | None]) -> _DirWalk:
    walk = directory_walk(plan.sections, walk_dir, plan.access_names, read,
                          plan.server_rewrite or server_rewrite(None, ()))
    sections = walk.sections
    rewrite = walk.rewrite if walk.rewrite is not None and walk.rewrite.on and walk.rewrite.directory else None
    return _DirWalk(sections, walk.files, walk.error, walk.notes, rewrite, walk.redirects,
                    *mod_access.deciders(sections))


_REDIRECT_NAMES = frozenset({"redirect", "redirectmatch", "redirectpermanent", "redirecttemp"})


def _with_section_redirects(walk: _DirWalk, after_walk: Sequence[Section]) -> _DirWalk:
    """``walk`` with the path-and-URL Redirects of the <Files> and <Location> sections merged
    after it, in the order fixup_redir tries them: a later section's entries before an earlier
    one's (merge_alias_dir_config appends the base list after the new one). The
    one-argument <Location> form is not among them (translate_alias_redir answers it)."""
    extra = _section_redirect_entries(after_walk)
    return replace(walk, redirects=(*extra, *walk.redirects)) if extra else walk


def _section_redirect_entries(sections: Sequence[Section]) -> tuple[mod_alias.AliasEntry, ...]:
    """The path-and-URL Redirects of ``sections``, a later section's first (see above)."""
    return tuple(entry for section in reversed(sections) if not _REDIRECT_NAMES.isdisjoint(section.last)
                 for entry in map(mod_alias.redirect_entry, [n for n in section.children if n.key in _REDIRECT_NAMES])
                 if entry is not None)


def _after_walk(plan: _ServerPlan, walk: _DirWalk, filename: str, locations: Sequence[Section]) -> Sequence[Section]:
    """The sections merged after the directory walk: <Files> (the config's, then those of the
    per-directory files), then <Location>."""
    if not plan.sections.files and not walk.files:
        return locations
    basename = os.path.basename(filename.rstrip("/"))
    own = [s for s in walk.files if basename and files_matches(s, basename)]
    return [*matching_files(plan.sections, walk.sections, filename), *own, *locations]


def _access_step(result: AccessResult) -> StepEntry:
    return step_entry("access", result.detail, result.directive.source if result.directive is not None else None)


def _no_vhost_step(server: Server, request: Request) -> StepEntry:
    where = f"{request.local_ip or '*'}:{request.port}"
    return step_entry("vhost", f"no <VirtualHost> listens on {where}: the main server ({server.server_name}) answers")


def _address_step(aset: AddressSet, request: Request) -> StepEntry:
    where = f"{request.local_ip or '*'}:{request.port}"
    shown = ", ".join(s.server_name for s in aset.servers[:5])
    more = f", ... {len(aset.servers) - 5} more" if len(aset.servers) > 5 else ""
    return step_entry("vhost", f"connection to {where} uses address set {aset.address} [{shown}{more}]", aset.default.source)


def _match_reason(match: Match, aset: AddressSet) -> str:
    host = match.host.name
    how = match.how
    if how == "name":
        return f"Host {host} matches ServerName {match.matched}"
    if how in ("alias", "wild-alias"):
        return f"Host {host} matches ServerAlias {match.matched}"
    if how == "virthost":
        return f"Host {host} matches the <VirtualHost> address {match.matched}"
    if how == "only":
        return f"only one vhost on {aset.address}: it answers whatever the Host"
    if how == "default":
        if host:
            return f"no ServerName/ServerAlias matches Host {host}: the first vhost on {aset.address} is the default"
        return f"no Host header: the first vhost on {aset.address} is the default"
    if how == "bad-host":
        return f"malformed Host ({match.host.error}): 400 from the default vhost"
    return how


def route(model: ServerModel, request: Request) -> Decision:
    """Route one request (builds a fresh Router; use Router for many requests)."""
    return Router(model).route(request)

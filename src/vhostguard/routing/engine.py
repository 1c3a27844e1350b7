"""``route(model, request) -> Decision``: what httpd does with one request, and why.

The order is httpd's: vhost selection, server-context mod_rewrite, mod_proxy
mappings, mod_alias (redirects, then aliases), the DocumentRoot; then the
per-directory merge for access control, handlers and files (mod_dir).
"""
from __future__ import annotations

import os
from urllib.parse import quote
from dataclasses import dataclass, field

from vhostguard.config.nodes import Directive
from vhostguard.model import Match, Server, ServerModel
from vhostguard.routing import alias as mod_alias
from vhostguard.routing import proxy as mod_proxy
from vhostguard.routing.access import check_access
from vhostguard.routing.decision import Decision, Outcome, Step
from vhostguard.routing.request import Request, decode_uri
from vhostguard.routing.rewrite import RewriteEnv, RewriteResult, RewriteUnsupported, Rule, rules_for, run_rules
from vhostguard.routing.sections import (
    Section, ServerSections, applicable, existing_directory, last_of, last_value, location_matches, server_sections,
)

MAX_INTERNAL_REDIRECTS = 10
_HTTP_HEADER_VARS = {
    "HTTP_USER_AGENT": "User-Agent", "HTTP_REFERER": "Referer", "HTTP_COOKIE": "Cookie",
    "HTTP_FORWARDED": "Forwarded", "HTTP_HOST": "Host", "HTTP_PROXY_CONNECTION": "Proxy-Connection",
    "HTTP_ACCEPT": "Accept",
}


@dataclass
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
    canonical_name: bool
    base_last: dict[str, Directive]
    unmodelled_ifs: tuple[Section, ...]


@dataclass
class _Trail:
    steps: list[Step] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)

    def add(self, stage: str, detail: str, node: Directive | None = None) -> None:
        self.steps.append(Step(stage, detail, node.source if node is not None else None))

    def unsure(self, reason: str) -> None:
        if reason not in self.uncertain:
            self.uncertain.append(reason)


class Router:
    """Routes requests through one model; per-server plans are built once."""

    def __init__(self, model: ServerModel) -> None:
        self.model = model
        self._plans: dict[str | None, _ServerPlan] = {}
        self._decisions: dict[Request, Decision] = {}
        self._fs: dict[str, str | None] = {}
        self._walk_dirs: dict[str, str] = {}
        loaded = {m.name for m in model.tree.modules}
        self.modules = loaded
        self._all_nodes = list(model.tree.walk())

    def _kind(self, path: str) -> str | None:
        """'file', 'dir' or None; cached, since many requests share directories."""
        if path in self._fs:
            return self._fs[path]
        if len(self._fs) > 100_000:
            self._fs.clear()
        kind = "dir" if os.path.isdir(path) else "file" if os.path.isfile(path) else None
        self._fs[path] = kind
        return kind

    def _walk_dir(self, filename: str) -> str:
        """The deepest existing directory on ``filename``'s path, cached per parent directory."""
        parent = os.path.dirname(filename) if not filename.endswith("/") else filename.rstrip("/") or "/"
        found = self._walk_dirs.get(filename)
        if found is None:
            if self._is_dir(filename):
                found = filename.rstrip("/") or "/"
            else:
                found = self._walk_dirs.get(parent)
                if found is None:
                    found = self._walk_dirs[parent] = existing_directory(parent, self._is_dir)
            if len(self._walk_dirs) > 100_000:
                self._walk_dirs.clear()
            self._walk_dirs[filename] = found
        return found

    def _is_dir(self, path: str) -> bool:
        return self._kind(path) == "dir"

    def _is_file(self, path: str) -> bool:
        return self._kind(path) == "file"

    def plan(self, server: Server) -> _ServerPlan:
        found = self._plans.get(server.id)
        if found is None:
            main = self.model.main
            engine, rules, problems = rules_for(main, server)
            redirects, aliases = mod_alias.entries(main, server)
            sections = server_sections(main, server)
            canonical = last_value(sections.base, [], "usecanonicalname")
            found = _ServerPlan(
                server, sections, engine, rules, problems, mod_proxy.server_mappings(main, server),
                redirects, aliases, bool(canonical and canonical.args and canonical.args[0].lower() == "on"),
                last_of(sections.base),
                tuple(s for s in sections.ifs if any(c.key in _DECIDING_KEYS for c in s.children)),
            )
            self._plans[server.id] = found
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
        trail = _Trail()
        match = self.model.match(request.local_ip, request.port, request.host)
        _explain_match(match, request, trail)
        outcome = self._inside(match, request, trail)
        return Decision(request, match, outcome, tuple(trail.steps), not trail.uncertain, tuple(trail.uncertain))

    # -- inside the vhost ------------------------------------------------------

    def _inside(self, match: Match, request: Request, trail: _Trail) -> Outcome:
        if match.how == "bad-host":
            return Outcome("bad-request", 400, None, reason=match.host.error)
        if request.host is None and not request.http10:
            return Outcome("bad-request", 400, None, reason="HTTP/1.1 request without Host")
        plan = self.plan(match.server)
        for reason in match.server.uncertain:
            trail.unsure(reason)
        decoded = decode_uri(request.path)
        if decoded.error is not None:
            kind = "bad-request" if "400" in decoded.error else "not-found"
            return Outcome(kind, 400 if kind == "bad-request" else 404, None, reason=decoded.error)
        return self._translate(plan, request, decoded.uri, request.query, trail, depth=0)

    def _translate(self, plan: _ServerPlan, request: Request, uri: str, query: str | None, trail: _Trail, depth: int) -> Outcome:
        filename: str | None = None
        handler: str | None = None
        rewrite_node: Directive | None = None
        if plan.rewrite_engine is not None and plan.rules and depth == 0:
            rewritten = self._rewrite(plan, request, uri, query, trail)
            if isinstance(rewritten, Outcome):
                return rewritten
            if rewritten is not None:
                rewrite_node = rewritten.rule.node if rewritten.rule else None
                query = rewritten.query
                handler = rewritten.handler
                if rewritten.action == "passthrough":
                    uri = rewritten.target or uri
                    trail.add("rewrite", f"passes {uri} on to mod_proxy/mod_alias [PT]", rewrite_node)
                elif rewritten.action == "file":
                    filename = rewritten.target
                    trail.add("rewrite", f"maps to the file {filename}", rewrite_node)
        locations = [s for s in plan.sections.locations if location_matches(s, uri)]
        alias_kind = "file"
        alias_node: Directive | None = rewrite_node
        if filename is None:
            proxied = self._proxy(plan, uri, query, locations, trail)
            if proxied is not None:
                return self._finish_proxy(plan, request, uri, query, proxied, trail)
            redirected = self._redirect(plan, request, uri, query, locations, trail)
            if redirected is not None:
                return redirected
            aliased = self._alias(plan, uri, trail)
            if aliased is not None:
                filename, alias_kind, alias_node = aliased.result or "", aliased.entry.kind, aliased.entry.node
        if filename is None:
            root = plan.server.document_root
            filename = root.rstrip("/") + uri
            node = last_value(plan.base_last, [], "documentroot")
            trail.add("docroot", f"DocumentRoot {root} + {uri} = {filename}", node)
            alias_node = node
        return self._serve(plan, request, uri, query, filename, alias_kind, alias_node, handler, trail, depth)

    def _rewrite(self, plan: _ServerPlan, request: Request, uri: str, query: str | None, trail: _Trail) -> RewriteResult | Outcome | None:
        env = self._rewrite_env(plan, request, uri, query)
        try:
            result = run_rules(plan.rules, uri, query, env)
        except RewriteUnsupported as problem:
            trail.unsure(str(problem))
            return None
        for node, detail in result.trace:
            trail.add("rewrite", f"{' '.join([node.name, *node.args])}: {detail}", node)
        for problem in plan.rule_problems:
            trail.unsure(problem)
        node = result.rule.node if result.rule else None
        if result.action == "status":
            return _status_outcome(result.status or 500, node)
        if result.action == "proxy":
            return self._proxy_outcome(result.target or "", result.query, None, node)
        if result.action == "redirect":
            return Outcome("redirect", result.status, result.target, node)
        if result.action == "none":
            return None
        return result

    def _rewrite_env(self, plan: _ServerPlan, request: Request, uri: str, query: str | None) -> RewriteEnv:
        server_name = self._server_name_for_url(plan, request)
        port = self._server_port(plan, request)
        scheme = request.scheme
        default = 443 if scheme == "https" else 80
        own = (f"{scheme}://{server_name}:{port}",) + ((f"{scheme}://{server_name}",) if port == default else ())

        def lookup(name: str) -> str | None:
            upper = name.upper()
            if upper.startswith("HTTP:"):
                return request.header(name[5:]) or ""
            values = {
                "HTTP_HOST": request.host or "",
                "HTTPS": "on" if scheme == "https" else "off",
                "REQUEST_URI": uri,
                "REQUEST_FILENAME": uri,
                "SCRIPT_FILENAME": uri,
                "QUERY_STRING": query or "",
                "REQUEST_METHOD": request.method,
                "SERVER_PORT": str(port),
                "SERVER_NAME": server_name,
                "REMOTE_ADDR": request.remote_ip,
                "REQUEST_SCHEME": scheme,
                "DOCUMENT_ROOT": plan.server.document_root,
                "THE_REQUEST": f"{request.method} {request.path}{'?' + request.query if request.query is not None else ''} {'HTTP/1.0' if request.http10 else 'HTTP/1.1'}",
                "SERVER_PROTOCOL": "HTTP/1.0" if request.http10 else "HTTP/1.1",
                "SERVER_ADDR": request.local_ip or "",
            }
            if upper in values:
                return values[upper]
            if upper in _HTTP_HEADER_VARS:
                return request.header(_HTTP_HEADER_VARS[upper]) or ""
            return None

        def qualify(target: str) -> str:
            if "://" in target.split("/", 1)[0] or target.lower().startswith(("http://", "https://", "balancer://", "unix:")):
                return target
            port_text = "" if port == default else f":{port}"
            return f"{scheme}://{server_name}{port_text}{'' if target.startswith('/') else '/'}{target}"

        return RewriteEnv(lookup, plan.server.document_root, qualify, own)

    def _server_name_for_url(self, plan: _ServerPlan, request: Request) -> str:
        if not plan.canonical_name and request.host:
            name = request.host.rsplit(":", 1)[0] if "]" not in request.host else request.host.split("]")[0] + "]"
            return name.lower().rstrip(".")
        return plan.server.server_name

    def _server_port(self, plan: _ServerPlan, request: Request) -> int:
        if not plan.canonical_name and request.host and ":" in request.host.rsplit("]", 1)[-1]:
            text = request.host.rsplit(":", 1)[1]
            if text.isdigit():
                return int(text)
        if plan.canonical_name and plan.server.declared_name and plan.server.declared_name.port:
            return plan.server.declared_name.port
        return request.port

    # -- mod_proxy -------------------------------------------------------------

    def _proxy(self, plan: _ServerPlan, uri: str, query: str | None, locations: list[Section], trail: _Trail) -> mod_proxy.ProxyMatch | None:
        candidates: list[mod_proxy.ProxyMapping] = []
        in_location = mod_proxy.location_mapping(locations)
        if in_location is not None:
            candidates.append(in_location)
        candidates.extend(plan.proxies)
        winner: mod_proxy.ProxyMatch | None = None
        for mapping in candidates:
            hit = mod_proxy.match_mapping(mapping, uri)
            if hit is None:
                continue
            if winner is None:
                winner = hit
                if hit.url is None:
                    trail.add("proxy", f"{mapping.node.name} {mapping.path} ! excludes {uri} from proxying", mapping.node)
            else:
                trail.add("proxy", f"{mapping.node.name} {mapping.path} also matches but is shadowed by the one at {winner.mapping.node.source}", mapping.node)
        if winner is None or winner.url is None:
            return None
        return winner

    def _finish_proxy(self, plan: _ServerPlan, request: Request, uri: str, query: str | None, hit: mod_proxy.ProxyMatch, trail: _Trail) -> Outcome:
        mapping = hit.mapping
        trail.add("proxy", f"{mapping.node.name} {mapping.path} {mapping.target} matches {uri}", mapping.node)
        denied = self._access(plan, request, applicable(plan.sections, uri, None, self._is_dir, self._walk_dir), None, trail)
        if denied is not None:
            return denied
        return self._proxy_outcome(hit.url or "", query, mapping, mapping.node)

    def _proxy_outcome(self, url: str, query: str | None, mapping: mod_proxy.ProxyMapping | None, node: Directive | None) -> Outcome:
        target = mod_proxy.backend_url(url, query, mapping)
        balancer = mod_proxy.balancer_name(url)
        members = mod_proxy.balancer_members(self._all_nodes, balancer) if balancer is not None else ()
        return Outcome("proxy", None, target, node, members)

    # -- mod_alias ---------------------------------------------------------------

    def _redirect(self, plan: _ServerPlan, request: Request, uri: str, query: str | None, locations: list[Section], trail: _Trail) -> Outcome | None:
        entry_hit: mod_alias.AliasHit | None = None
        for section in reversed(locations):
            node = next((n for n in reversed(section.children) if n.key in ("redirect", "redirectpermanent", "redirecttemp")), None)
            if node is not None:
                entry = mod_alias.location_redirect(node)
                if entry is not None:
                    entry_hit = mod_alias.AliasHit(entry, entry.real)
                    break
        if entry_hit is None:
            for entry in plan.redirects:
                hit = mod_alias.match(entry, uri, self.model.tree.server_root)
                if hit is not None:
                    entry_hit = hit
                    break
        if entry_hit is None:
            return None
        entry = entry_hit.entry
        status = entry.status or 302
        if not 300 <= status < 400:
            trail.add("alias", f"{entry.node.name} {entry.fake}: responds {status}", entry.node)
            return _status_outcome(status, entry.node)
        target = entry_hit.result or ""
        if target.startswith("/"):
            target = self._absolute(plan, request, target)
        if query is not None and "?" not in target:
            target += "?" + query
        trail.add("alias", f"{entry.node.name} {entry.fake} redirects {status} to {target}", entry.node)
        return Outcome("redirect", status, target, entry.node)

    def _absolute(self, plan: _ServerPlan, request: Request, path: str) -> str:
        """``ap_construct_url``: scheme://name[:port]path as the client addressed us."""
        name = self._server_name_for_url(plan, request)
        port = self._server_port(plan, request)
        default = 443 if request.scheme == "https" else 80
        if ":" in name and not name.startswith("["):
            name = f"[{name}]"
        return f"{request.scheme}://{name}{'' if port == default else f':{port}'}{path}"

    def _alias(self, plan: _ServerPlan, uri: str, trail: _Trail) -> mod_alias.AliasHit | None:
        for entry in plan.aliases:
            hit = mod_alias.match(entry, uri, self.model.tree.server_root)
            if hit is not None:
                trail.add("alias", f"{entry.node.name} {entry.fake} {entry.real} maps {uri} to {hit.result}", entry.node)
                return hit
        return None

    # -- access, handlers and files -------------------------------------------------

    def _access(self, plan: _ServerPlan, request: Request, chosen: list[Section], filename: str | None, trail: _Trail) -> Outcome | None:
        self._note_unmodelled(plan, chosen, filename, trail)
        result = check_access(chosen, request.remote_ip, request.method)
        if result.uncertain:
            trail.unsure(result.uncertain)
        trail.add("access", result.detail, result.directive)
        if result.verdict == "denied":
            return Outcome("forbidden", 403, None, result.directive, reason=result.detail)
        if result.verdict == "auth":
            return Outcome("unauthorized", 401, None, result.directive, reason=result.detail)
        return None

    def _note_unmodelled(self, plan: _ServerPlan, chosen: list[Section], filename: str | None, trail: _Trail) -> None:
        for section in plan.unmodelled_ifs:
            trail.unsure(f"<If {section.pattern}> at {section.node.source} is not evaluated")
        rewrite_here = [s for s in chosen if s.kind == "directory" and s.has_rewrite]
        if rewrite_here:
            trail.unsure(f"per-directory RewriteRule at {rewrite_here[-1].node.source} is not modelled")
        if filename is not None:
            override = last_value((), [s for s in chosen if s.kind == "directory"], "allowoverride")
            if override is not None and override.args and override.args[0].lower() != "none":
                for directory in _ancestors(filename):
                    if self._is_file(os.path.join(directory, ".htaccess")):
                        trail.unsure(f"{directory}/.htaccess is allowed by AllowOverride at {override.source} and not modelled")
                        break

    def _serve(self, plan: _ServerPlan, request: Request, uri: str, query: str | None, filename: str, kind: str, node: Directive | None, handler: str | None, trail: _Trail, depth: int) -> Outcome:
        chosen = applicable(plan.sections, uri, filename, self._is_dir, self._walk_dir)
        denied = self._access(plan, request, chosen, filename, trail)
        if denied is not None:
            return denied
        if kind == "file" and self._is_dir(filename):
            by_mod_dir = self._mod_dir(plan, request, uri, query, filename, chosen, node, trail, depth)
            if by_mod_dir is not None:
                return by_mod_dir
        set_handler = last_value(plan.base_last, chosen, "sethandler")
        if set_handler is not None and set_handler.args and set_handler.args[0].lower() != "none":
            name = set_handler.args[0]
            trail.add("handler", f"SetHandler {name}", set_handler)
            if name.lower().startswith("proxy:"):
                return self._proxy_outcome(_handler_proxy_url(name, uri), query, None, set_handler)
            if name.lower() == "cgi-script":
                kind = "script"
            else:
                return Outcome("handler", 200, name, set_handler)
        if handler:
            return Outcome("handler", 200, handler, node)
        if kind == "wsgi":
            return Outcome("wsgi", 200 if self._is_file(filename) else 404, filename, node)
        if kind == "script":
            if self._is_file(filename):
                return Outcome("script", 200, filename, node)
            return Outcome("not-found", 404, filename, node, reason="script not found")
        return self._file(plan, request, uri, query, filename, chosen, node, trail, depth)

    def _file(self, plan: _ServerPlan, request: Request, uri: str, query: str | None, filename: str, chosen: list[Section], node: Directive | None, trail: _Trail, depth: int) -> Outcome:
        if self._is_file(filename):
            return Outcome("file", 200, filename, node)
        if self._is_dir(filename):
            return self._directory(plan, filename, chosen, node, trail)
        fallback = last_value(plan.base_last, chosen, "fallbackresource") if "dir_module" in self.modules else None
        if fallback is not None and fallback.args and fallback.args[0].lower() != "disabled" and depth < MAX_INTERNAL_REDIRECTS:
            target = fallback.args[0]
            trail.add("files", f"{filename} does not exist: FallbackResource {target}", fallback)
            if not target.startswith("/"):
                target = uri.rsplit("/", 1)[0] + "/" + target
            return self._translate(plan, request, target, query, trail, depth + 1)
        trail.add("files", f"{filename} does not exist", node)
        return Outcome("not-found", 404, filename, node)

    def _mod_dir(self, plan: _ServerPlan, request: Request, uri: str, query: str | None, filename: str, chosen: list[Section], node: Directive | None, trail: _Trail, depth: int) -> Outcome | None:
        """mod_dir's fixup for a directory: the trailing-slash redirect, then DirectoryIndex.

        It runs before any handler (DirectoryCheckHandler Off), so a SetHandler
        location that maps to a directory is redirected too.
        """
        if "dir_module" not in self.modules:
            return None
        if not uri.endswith("/"):
            slash = last_value(plan.base_last, chosen, "directoryslash")
            if slash is None or not slash.args or slash.args[0].lower() != "off":
                target = self._absolute(plan, request, _escape_path(uri) + "/") + (f"?{query}" if query is not None else "")
                trail.add("files", f"{filename} is a directory: mod_dir adds the trailing slash", slash or node)
                return Outcome("redirect", 301, target, slash or node)
            return None
        index_node = last_value(plan.base_last, chosen, "directoryindex")
        names = list(index_node.args) if index_node is not None else ["index.html"]
        for name in names:
            if name.lower() == "disabled":
                return None
            if name.startswith("/"):
                trail.add("files", f"DirectoryIndex {name} is a URL path", index_node)
                if depth < MAX_INTERNAL_REDIRECTS:
                    return self._translate(plan, request, name, query, trail, depth + 1)
                continue
            candidate = os.path.join(filename, name)
            if self._is_file(candidate):
                trail.add("files", f"DirectoryIndex serves {candidate}", index_node)
                return self._serve(plan, request, uri + name, query, candidate, "file", node, None, trail, depth + 1)
        return None

    def _directory(self, plan: _ServerPlan, filename: str, chosen: list[Section], node: Directive | None, trail: _Trail) -> Outcome:
        """A directory nothing else served: mod_autoindex lists it or refuses; without it, 404."""
        options = _options(plan.sections.base, chosen)
        if "autoindex_module" in self.modules and "indexes" in options:
            trail.add("files", f"{filename} has no index: Options Indexes lists it", node)
            return Outcome("handler", 200, "autoindex", node)
        if "autoindex_module" in self.modules:
            trail.add("files", f"{filename} has no index and Options has no Indexes", node)
            return Outcome("forbidden", 403, filename, node, reason="directory listing forbidden by Options")
        trail.add("files", f"{filename} is a directory and nothing serves it", node)
        return Outcome("not-found", 404, filename, node)


_DECIDING_KEYS = frozenset({"require", "requireall", "requireany", "requirenone", "sethandler", "redirect", "proxypass", "rewriterule", "allow", "deny"})


def _ancestors(path: str) -> list[str]:
    parts = os.path.dirname(path).split("/")
    return ["/".join(parts[:i]) or "/" for i in range(1, len(parts) + 1)]


def _escape_path(uri: str) -> str:
    return quote(uri, safe="/:@!$&'()*+,;=~")


def _options(base: tuple[Directive, ...], chosen: list[Section]) -> set[str]:
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


def _handler_proxy_url(handler: str, uri: str) -> str:
    """``SetHandler "proxy:unix:/path|fcgi://localhost/"``: the backend URL for this request."""
    body = handler[len("proxy:"):]
    if body.lower().startswith("unix:") and "|" in body:
        return body.split("|", 1)[1].rstrip("/") + uri
    return body.rstrip("/") + uri


def _status_outcome(status: int, node: Directive | None) -> Outcome:
    kinds = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 410: "gone", 421: "misdirected"}
    kind = kinds.get(status, "error" if status >= 500 else "error")
    return Outcome(kind, status, None, node)


def _explain_match(match: Match, request: Request, trail: _Trail) -> None:
    server = match.server
    aset = match.address_set
    where = f"{request.local_ip or '*'}:{request.port}"
    if aset is None:
        trail.add("vhost", f"no <VirtualHost> listens on {where}: the main server ({server.server_name}) answers")
        return
    shown = ", ".join(s.server_name for s in aset.servers[:5])
    more = f", ... {len(aset.servers) - 5} more" if len(aset.servers) > 5 else ""
    trail.steps.append(Step("vhost", f"connection to {where} uses address set {aset.address} [{shown}{more}]", aset.default.source))
    host = match.host.name
    reasons = {
        "name": f"Host {host} matches ServerName {match.matched}",
        "alias": f"Host {host} matches ServerAlias {match.matched}",
        "wild-alias": f"Host {host} matches ServerAlias {match.matched}",
        "virthost": f"Host {host} matches the <VirtualHost> address {match.matched}",
        "only": f"only one vhost on {aset.address}: it answers whatever the Host",
        "default": (f"no ServerName/ServerAlias matches Host {host}: the first vhost on {aset.address} is the default"
                    if host else f"no Host header: the first vhost on {aset.address} is the default"),
        "bad-host": f"malformed Host ({match.host.error}): 400 from the default vhost",
    }
    trail.steps.append(Step("vhost", reasons.get(match.how, match.how), server.source))


def route(model: ServerModel, request: Request) -> Decision:
    """Route one request (builds a fresh Router; use Router for many requests)."""
    return Router(model).route(request)

"""VG1xx routing: requests that go to a vhost, backend or path they were not meant for."""
from __future__ import annotations

import re
from collections.abc import Iterator

from vhostguard.config.modules import catalog
from vhostguard.config.nodes import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.model import AddressSet, Server
from vhostguard.model.addresses import AddressError, normalize_ip, split_host_port
from vhostguard.model.matching import wildcard_regex
from vhostguard.routing import Decision, Request
from vhostguard.routing import alias as mod_alias
from vhostguard.routing import proxy as mod_proxy
from vhostguard.routing.rewrite import parse_flags

UNKNOWN_HOST = "vhostguard-unknown-host.invalid"  # .invalid never resolves: no real vhost names it
SERVING_KINDS = frozenset({"proxy", "file", "script", "wsgi", "handler"})
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


class UnreachableVhost(Rule):
    """
    ## What it does
    Checks for name-based vhosts whose every ServerName and ServerAlias is
    already answered by an earlier vhost on the same address set.

    ## Why is this bad?
    httpd walks the vhosts of an address set in configuration order and the
    first name match wins. A vhost whose names are all taken earlier never
    receives a request: its routes, TLS settings and logs are dead code, and
    the traffic meant for it is served by the other vhost.

    ## Example
    ```apache
    <VirtualHost *:80>
        ServerName www.example.com
        ServerAlias example.com
    </VirtualHost>
    <VirtualHost *:80>
        ServerName example.com
        ProxyPass / http://127.0.0.1:8080/
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    <VirtualHost *:80>
        ServerName www.example.com
    </VirtualHost>
    <VirtualHost *:80>
        ServerName example.com
        ProxyPass / http://127.0.0.1:8080/
    </VirtualHost>
    ```

    ## Known problems
    Matching on the `<VirtualHost>` address itself (httpd's last resort) is
    not considered.

    ## References
    - https://httpd.apache.org/docs/2.4/vhosts/details.html
    """

    code = "VG101"
    name = "unreachable-vhost"
    severity = Severity.ERROR
    summary = "A name-based vhost whose names are all taken by earlier vhosts on its address set."
    hint = "Remove the names from the earlier vhost, or merge the two vhosts."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for server in ctx.model.vhosts:
            winners = unreachable_in(server, ctx)
            node = ctx.vhost_node(server)
            if winners is None or node is None:
                continue
            taken = "; ".join(f"{name} by {w.server_name} ({w.id})" for name, w in winners.items())
            yield self.finding(node, f"<VirtualHost> {server.server_name} can never be reached: every name is taken earlier ({taken})")


class DuplicateServerName(Rule):
    """
    ## What it does
    Checks for a ServerName or ServerAlias that an earlier vhost on the same
    address set already declares (as a name, alias or matching wildcard alias).

    ## Why is this bad?
    Only the first vhost in configuration order gets requests for a duplicated
    name; the later declaration is silently ignored, so requests for that name
    do not go where its author meant them to.

    ## Example
    ```apache
    <VirtualHost *:80>
        ServerName www.example.com
        ServerAlias shop.example.com
    </VirtualHost>
    <VirtualHost *:80>
        ServerName shop.example.com
        ServerAlias shop.example.net
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    <VirtualHost *:80>
        ServerName www.example.com
    </VirtualHost>
    <VirtualHost *:80>
        ServerName shop.example.com
        ServerAlias shop.example.net
    </VirtualHost>
    ```

    ## Known problems
    When every name of a vhost is taken, VG101 (unreachable-vhost) reports the
    vhost instead of one finding per name.
    """

    code = "VG102"
    name = "duplicate-server-name"
    severity = Severity.ERROR
    summary = "A ServerName/ServerAlias already answered by an earlier vhost on the same address set."
    hint = "Declare each host name in exactly one vhost per address set."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for aset in ctx.model.address_sets:
            for position, server in enumerate(aset.servers):
                if position == 0 or unreachable_in(server, ctx) is not None:
                    continue
                earlier = list(aset.servers[:position])
                yield from self._duplicates(server, earlier, aset, ctx)

    def _duplicates(self, server: Server, earlier: list[Server], aset: AddressSet, ctx: LintContext) -> Iterator[Finding]:
        for node in server.directives:
            if node.key not in ("servername", "serveralias") or not node.args:
                continue
            for word in node.args if node.key == "serveralias" else node.args[:1]:
                name = server.server_name.lower() if node.key == "servername" else word.lower()
                if "*" in name or "?" in name:
                    continue
                winner = next((e for e in earlier if answers_name(e, name)), None)
                if winner is not None:
                    yield self.finding(node, f"{ctx.label(server)}: {node.name} {name} on {aset.address} is already answered by {winner.server_name} ({winner.id})")


def _probe_paths(server: Server, ctx: LintContext) -> list[str]:
    paths = ["/"]
    proxies = [m for m in mod_proxy.server_mappings(ctx.main, server) if not m.regex and not m.excluded]
    _, aliases = mod_alias.entries(ctx.main, server)
    paths += [m.path for m in proxies] + [a.fake for a in aliases if not a.regex]
    for node in ctx.server_nodes(server):
        if node.key == "location" and node.args and node.args[0] != "~" and any(c.key in PROXY_KEYS + ("sethandler",) for c in node.children or ()):
            paths.append(node.args[0])
    return list(dict.fromkeys(paths))


def _route_unknown(ctx: LintContext, aset: AddressSet, path: str) -> Decision | None:
    port = aset.port or 80
    scheme = "https" if port == 443 or ctx.ssl_enabled(aset.default) else "http"
    netloc = UNKNOWN_HOST if port == (443 if scheme == "https" else 80) else f"{UNKNOWN_HOST}:{port}"
    try:
        request = Request.from_url(f"{scheme}://{netloc}{path}", local_ip=aset.ip)
    except ValueError:
        return None
    return ctx.router.route(request)


def _serves(decision: Decision) -> bool:
    outcome = decision.outcome
    if outcome.kind in SERVING_KINDS:
        return True
    # A missing DocumentRoot still means "serve files from here" once deployed.
    return outcome.kind == "not-found" and outcome.directive is not None and outcome.directive.key in ("documentroot", "alias", "aliasmatch")


class DefaultVhostServesApp(Rule):
    """
    ## What it does
    Checks that the default (first) vhost of every address set with several
    name-based vhosts is a deliberate catch-all: it denies, redirects or
    returns a fixed status, or is marked `# vhostguard: catch-all`.

    ## Why is this bad?
    Requests whose Host matches no ServerName/ServerAlias (typos, scanners, a
    new DNS name not yet configured, HTTP/1.0 clients) are answered by the
    first vhost. When that vhost proxies to an application, serves aliases or
    a real DocumentRoot, unknown Hosts land on that application: this is how a
    forgotten ServerAlias sends customers to the wrong site.

    ## Example
    ```apache
    <VirtualHost *:80>
        ServerName api.example.com
        ProxyPass / http://127.0.0.1:5000/
    </VirtualHost>
    <VirtualHost *:80>
        ServerName www.example.com
        DocumentRoot /var/www/www
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    # vhostguard: catch-all
    <VirtualHost *:80>
        ServerName default.invalid
        Redirect 404 /
    </VirtualHost>
    <VirtualHost *:80>
        ServerName api.example.com
        ProxyPass / http://127.0.0.1:5000/
    </VirtualHost>
    ```

    ## Known problems
    Address sets with a single vhost are not reported: that vhost answers every
    Host by design. The check routes `/` and each proxied or aliased path with
    an unknown Host; rules that depend on unmodelled input may hide an application.
    """

    code = "VG103"
    name = "default-vhost-serves-app"
    severity = Severity.WARNING
    summary = "The default vhost of an address set serves an application instead of being a catch-all."
    hint = "Put a catch-all vhost first (deny, redirect or fixed status) or mark it `# vhostguard: catch-all`."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for aset in ctx.model.address_sets:
            default = aset.default
            node = ctx.vhost_node(default)
            if len(aset.servers) < 2 or node is None or ctx.is_marked_catch_all(default):
                continue
            for path in _probe_paths(default, ctx):
                decision = _route_unknown(ctx, aset, path)
                if decision is not None and decision.server is default and _serves(decision):
                    what = decision.outcome.kind
                    yield self.finding(node, f"vhost {default.server_name} is the default for {aset.address}: unknown Hosts get {what} {decision.outcome.target or ''} for {path}".rstrip())
                    break


def _listen_covers(ctx: LintContext, ip: str | None, port: int) -> bool:
    return any(l.port == port and (l.ip is None or ip is None or l.ip == ip) for l in ctx.model.listens)


class IpVhostHidesWildcard(Rule):
    """
    ## What it does
    Checks for an IP-specific vhost (`<VirtualHost 10.0.0.5:80>`) on a port
    that also has `*:80` vhosts.

    ## Why is this bad?
    For a connection to an address that IP-specific vhosts name, httpd only
    considers those vhosts: the `*:port` vhosts are never candidates, whatever
    the Host says. On a server whose public address is that IP, the wildcard
    vhosts become unreachable and their Hosts land on the IP vhost.

    ## Example
    ```apache
    <VirtualHost 10.0.0.5:80>
        ServerName admin.example.com
    </VirtualHost>
    <VirtualHost *:80>
        ServerName www.example.com
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    <VirtualHost *:80>
        ServerName admin.example.com
    </VirtualHost>
    <VirtualHost *:80>
        ServerName www.example.com
    </VirtualHost>
    ```

    ## References
    - https://httpd.apache.org/docs/2.4/vhosts/details.html
    """

    code = "VG104"
    name = "ip-vhost-hides-wildcard"
    severity = Severity.WARNING
    summary = "An IP-specific vhost hides the *:port vhosts for connections to that IP."
    hint = "Use the same address form (all `*:port` or all `IP:port`) for every vhost on a port."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        wildcard = {aset.port: aset for aset in ctx.model.address_sets if aset.ip is None}
        for aset in ctx.model.address_sets:
            if aset.ip is None or aset.port is None:
                continue
            other = wildcard.get(aset.port) or wildcard.get(None)
            if other is None or not _listen_covers(ctx, aset.ip, aset.port):
                continue
            hidden = [s for s in other.servers if not any(s is mine for mine in aset.servers)]
            node = ctx.vhost_node(aset.default)
            if hidden and node is not None:
                names = ", ".join(s.server_name for s in hidden)
                yield self.finding(node, f"vhost {aset.default.server_name} on {aset.address} hides the {other.address} vhosts ({names}) for connections to {aset.ip}")


class VhostWithoutListen(Rule):
    """
    ## What it does
    Checks for `<VirtualHost>` addresses on an address:port that no `Listen`
    opens.

    ## Why is this bad?
    httpd only accepts connections on the sockets `Listen` opens. A vhost on
    another port (a typo, or a `Listen 443` inside an `<IfModule>` that is not
    loaded) never receives a request.

    ## Example
    ```apache
    Listen 80
    <VirtualHost *:8080>
        ServerName app.example.com
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    Listen 80
    Listen 8080
    <VirtualHost *:8080>
        ServerName app.example.com
    </VirtualHost>
    ```
    """

    code = "VG105"
    name = "vhost-without-listen"
    severity = Severity.ERROR
    summary = "A vhost on an address:port that no Listen opens."
    hint = "Add a matching `Listen`, or fix the port in `<VirtualHost>`."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for server in ctx.model.vhosts:
            node = ctx.vhost_node(server)
            missing = [a.display() for a in server.addresses if a.port is not None and not _listen_covers(ctx, a.ip, a.port)]
            if missing and node is not None:
                yield self.finding(node, f"vhost {server.server_name}: no Listen opens {', '.join(missing)}, so it never receives a request")


_MAIN_CONTENT = frozenset({
    "documentroot", "proxypass", "proxypassmatch", "alias", "aliasmatch", "scriptalias", "scriptaliasmatch",
    "redirect", "redirectmatch", "redirectpermanent", "redirecttemp", "rewriterule", "wsgiscriptalias", "sethandler",
})


class ListenUnused(Rule):
    """
    ## What it does
    Checks for a `Listen` whose port no vhost uses while the main server
    (the configuration outside `<VirtualHost>`) has no content of its own.

    ## Why is this bad?
    Connections on that port are answered by the main server with httpd's
    defaults (on Debian the stock `/var/www/html`): an open port that serves
    something nobody configured on purpose.

    ## Example
    ```apache
    Listen 80
    Listen 8080
    <VirtualHost *:80>
        ServerName www.example.com
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    Listen 80
    <VirtualHost *:80>
        ServerName www.example.com
    </VirtualHost>
    ```
    """

    code = "VG106"
    name = "listen-unused"
    severity = Severity.WARNING
    summary = "A Listen with no vhost on its port and no main-server content."
    hint = "Remove the `Listen`, or add the vhost meant to answer on it."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        if any(node.key in _MAIN_CONTENT for node in ctx.server_nodes(ctx.main)):
            return
        for listen in ctx.model.listens:
            used = any(
                (aset.port is None or aset.port == listen.port) and (aset.ip is None or listen.ip is None or aset.ip == listen.ip)
                for aset in ctx.model.address_sets
            )
            if not used:
                where = listen.address or str(listen.port)
                node = next((n for n in ctx.tree.walk() if n.key == "listen" and n.source == listen.source), None)
                yield self.finding(node or listen.source, f"Listen {where}: no vhost uses this port and the main server has no content")


class VhostAddressHostname(Rule):
    """
    ## What it does
    Checks for `<VirtualHost>` lines that name a host instead of an IP
    address, `*` or `_default_`.

    ## Why is this bad?
    httpd resolves the name through DNS once, at start-up: when DNS is slow
    or down the vhost is silently dropped, and when the name later resolves
    elsewhere the vhost answers on the wrong address (or nowhere). Host names
    belong in ServerName/ServerAlias.

    ## Example
    ```apache
    <VirtualHost www.example.com:80>
        ServerName www.example.com
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    <VirtualHost *:80>
        ServerName www.example.com
    </VirtualHost>
    ```

    ## References
    - https://httpd.apache.org/docs/2.4/dns-caveats.html
    """

    code = "VG107"
    name = "vhost-address-hostname"
    severity = Severity.WARNING
    summary = "<VirtualHost> with a host name instead of an IP address."
    hint = "Use `*:port` or the IP address in `<VirtualHost>` and put the name in ServerName."
    directives = frozenset({"virtualhost"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        for word in node.args:
            body = word[:-2] if word.endswith(":*") else word
            try:
                host, _ = split_host_port(body)
            except AddressError:
                continue
            if host is None or host == "*" or host.lower() == "_default_" or normalize_ip(host) is not None:
                continue
            yield self.finding(node, f"<VirtualHost {word}> names the host {host}: httpd resolves it once through DNS at start-up")


def _regex_shadows(pattern: str, path: str) -> bool:
    """Does an earlier regex mapping take ``path`` and everything under it?"""
    try:
        compiled = re.compile(pattern)
    except re.error:
        return False
    probe = path.rstrip("/") + "/vhostguard-probe"
    return bool(compiled.search(path) and compiled.search(probe))


def _proxy_shadower(mapping: mod_proxy.ProxyMapping, earlier: list[mod_proxy.ProxyMapping]) -> mod_proxy.ProxyMapping | None:
    if mapping.regex:
        return None
    for previous in earlier:
        if previous.regex:
            if _regex_shadows(previous.path, mapping.path):
                return previous
        elif mod_proxy.alias_match(mapping.path, previous.path) > 0:
            return previous
    return None


class ProxyPassShadowed(Rule):
    """
    ## What it does
    Checks for a `ProxyPass` whose path is already matched by an earlier, more
    general `ProxyPass`/`ProxyPassMatch` of the same server.

    ## Why is this bad?
    mod_proxy uses the first mapping that matches, in configuration order
    (the main server's before the vhost's). A `/api/` mapping listed before
    `/api/v2/` swallows `/api/v2/`: those requests go to the wrong backend.

    ## Example
    ```apache
    ProxyPass /api/    http://127.0.0.1:5000/
    ProxyPass /api/v2/ http://127.0.0.1:6000/
    ```

    ## Use instead:
    ```apache
    ProxyPass /api/v2/ http://127.0.0.1:6000/
    ProxyPass /api/    http://127.0.0.1:5000/
    ```

    ## References
    - https://httpd.apache.org/docs/2.4/mod/mod_proxy.html#proxypass
    """

    code = "VG108"
    name = "proxypass-shadowed"
    severity = Severity.ERROR
    summary = "A ProxyPass shadowed by an earlier, more general one."
    hint = "Order ProxyPass lines from the most specific path to the most general."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for server in ctx.servers:
            mappings = mod_proxy.server_mappings(ctx.main, server)
            for index, mapping in enumerate(mappings):
                shadower = _proxy_shadower(mapping, mappings[:index])
                if shadower is None:
                    continue
                owner = ctx.owner(mapping.node)
                yield self.finding(mapping.node, f"{ctx.label(owner)}: {mapping.node.name} {mapping.path} is never used: {shadower.node.name} {shadower.path} at {shadower.node.source} matches first")


def _first_proxy(mappings: list[mod_proxy.ProxyMapping], path: str) -> mod_proxy.ProxyMatch | None:
    for mapping in mappings:
        hit = mod_proxy.match_mapping(mapping, path)
        if hit is not None:
            return hit
    return None


class AliasShadowed(Rule):
    """
    ## What it does
    Checks for an `Alias`/`ScriptAlias`/`WSGIScriptAlias` whose path is
    already taken by an earlier, more general alias, or by a `ProxyPass`
    (which runs before mod_alias whatever the order in the file).

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
        for server in ctx.servers:
            _, aliases = mod_alias.entries(ctx.main, server)
            proxies = mod_proxy.server_mappings(ctx.main, server)
            for index, entry in enumerate(aliases):
                if entry.regex:
                    continue
                message = self._shadowed(entry, aliases[:index], proxies)
                if message is not None:
                    owner = ctx.owner(entry.node)
                    yield self.finding(entry.node, f"{ctx.label(owner)}: {entry.node.name} {entry.fake} is never used: {message}")

    @staticmethod
    def _shadowed(entry: mod_alias.AliasEntry, earlier: list[mod_alias.AliasEntry], proxies: list[mod_proxy.ProxyMapping]) -> str | None:
        hit = _first_proxy(proxies, entry.fake)
        probe = entry.fake.rstrip("/") + "/vhostguard-probe"
        deep = _first_proxy(proxies, probe)
        if hit is not None and hit.url is not None and deep is not None and deep.url is not None:
            return f"{hit.mapping.node.name} {hit.mapping.path} at {hit.mapping.node.source} proxies it first"
        for previous in earlier:
            if not previous.regex and mod_alias.alias_matches(entry.fake, previous.fake) > 0:
                return f"{previous.node.name} {previous.fake} at {previous.node.source} matches first"
        return None


def _url_path_slash(url: str) -> bool | None:
    """Whether a backend URL ends in '/' (None: not a URL we can judge)."""
    if "|" in url:
        url = url.split("|", 1)[1]
    if "://" not in url:
        return None
    return url.endswith("/")


def _group_slash(pattern: str, url: str) -> tuple[bool, bool] | None:
    """For ``ProxyPassMatch ^/a/(.*) http://b/a/$1``: is there a '/' before
    the first group in the pattern, and before ``$1`` in the URL?"""
    group = pattern.find("(")
    ref = url.find("$1")
    if group <= 0 or ref <= 0:
        return None
    return pattern[group - 1] == "/", url[ref - 1] == "/"


class ProxyPassTrailingSlash(Rule):
    """
    ## What it does
    Checks that the path and the backend URL of a `ProxyPass` (or the group
    and `$1` of a `ProxyPassMatch`) agree on the trailing slash.

    ## Why is this bad?
    mod_proxy replaces the matched path with the URL and appends the rest of
    the request path. `ProxyPass /app/ http://backend/app` turns `/app/login`
    into `http://backend/applogin`; the opposite mismatch produces `//` that
    many backends route differently.

    ## Example
    ```apache
    ProxyPass /app/ http://127.0.0.1:8080/app
    ```

    ## Use instead:
    ```apache
    ProxyPass /app/ http://127.0.0.1:8080/app/
    ```

    ## References
    - https://httpd.apache.org/docs/2.4/mod/mod_proxy.html#proxypass
    """

    code = "VG110"
    name = "proxypass-trailing-slash"
    severity = Severity.ERROR
    summary = "ProxyPass/ProxyPassMatch path and URL disagree on the trailing slash."
    hint = "End both the path and the URL with '/', or neither."
    directives = frozenset(PROXY_KEYS)

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        path, url = self._path_and_url(node, ctx)
        if path is None or url is None or url == "!":
            return
        if node.key == "proxypassmatch":
            slashes = _group_slash(path, url)
            if slashes is not None and slashes[0] != slashes[1]:
                yield self.finding(node, f"{ctx.label(ctx.owner(node))}: {node.name} {path} {url}: the pattern has {'a' if slashes[0] else 'no'} '/' before its group but the URL has {'one' if slashes[1] else 'none'} before $1")
            return
        url_slash = _url_path_slash(url)
        if url_slash is None or path.endswith("/") == url_slash:
            return
        yield self.finding(node, f"{ctx.label(ctx.owner(node))}: {node.name} {path} {url}: the path {'ends' if path.endswith('/') else 'does not end'} with '/' but the URL {'does' if url_slash else 'does not'}")

    @staticmethod
    def _path_and_url(node: Directive, ctx: LintContext) -> tuple[str | None, str | None]:
        if len(node.args) >= 2 and not node.args[1].startswith(("max=", "timeout=", "retry=")):
            return node.args[0], node.args[1]
        return None, None


_REVERSIBLE = ("http://", "https://", "balancer://", "h2://", "h2c://", "ajp://")


class ProxyPassReverseMissing(Rule):
    """
    ## What it does
    Checks for a `ProxyPass` to an HTTP backend without a `ProxyPassReverse`
    for the same backend URL.

    ## Why is this bad?
    Without `ProxyPassReverse`, redirects from the backend (`Location:
    http://127.0.0.1:5000/login`) reach clients unchanged: they point at an
    internal address, or at the wrong path prefix.

    ## Example
    ```apache
    ProxyPass /app/ http://127.0.0.1:8080/
    ```

    ## Use instead:
    ```apache
    ProxyPass        /app/ http://127.0.0.1:8080/
    ProxyPassReverse /app/ http://127.0.0.1:8080/
    ```

    ## Known problems
    Backends that only ever send relative redirects do not need it; waive the
    finding with `# vhostguard: ignore=VG111`.
    """

    code = "VG111"
    name = "proxypassreverse-missing"
    severity = Severity.WARNING
    summary = "A ProxyPass to an HTTP backend without a matching ProxyPassReverse."
    hint = "Add `ProxyPassReverse` with the same path and backend URL."
    directives = frozenset(PROXY_KEYS)

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if len(node.args) < 2 or not node.args[1].lower().startswith(_REVERSIBLE):
            return
        target = node.args[1].split("$", 1)[0].rstrip("/").lower()
        owner = ctx.owner(node)
        candidates = list(ctx.server_nodes(owner)) + ([] if owner.is_main else list(ctx.server_nodes(ctx.main)))
        for other in candidates:
            if other.key == "proxypassreverse" and other.args:
                url = other.args[-1].rstrip("/").lower()
                if target.startswith(url) or url.startswith(target):
                    return
        yield self.finding(node, f"{ctx.label(owner)}: {node.name} {node.args[0]} {node.args[1]} has no ProxyPassReverse for {node.args[1]}")


class RewriteProxyWithoutModProxy(Rule):
    """
    ## What it does
    Checks for `RewriteRule ... [P]` when mod_proxy is not loaded.

    ## Why is this bad?
    mod_rewrite hands `[P]` requests to mod_proxy; without it httpd answers
    every such request with an error instead of proxying it.

    ## Example
    ```apache
    LoadModule rewrite_module modules/mod_rewrite.so
    RewriteEngine on
    RewriteRule ^/app/(.*)$ http://127.0.0.1:8080/$1 [P]
    ```

    ## Use instead:
    ```apache
    LoadModule rewrite_module modules/mod_rewrite.so
    LoadModule proxy_module modules/mod_proxy.so
    LoadModule proxy_http_module modules/mod_proxy_http.so
    RewriteEngine on
    RewriteRule ^/app/(.*)$ http://127.0.0.1:8080/$1 [P]
    ```
    """

    code = "VG112"
    name = "rewrite-proxy-without-mod-proxy"
    severity = Severity.ERROR
    summary = "RewriteRule [P] while mod_proxy is not loaded."
    hint = "Load proxy_module (and the protocol module, e.g. proxy_http_module)."
    directives = frozenset({"rewriterule"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if len(node.args) < 3 or ctx.has_module("proxy_module"):
            return
        flags, _ = parse_flags(node.args[2])
        if flags.proxy:
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: RewriteRule {node.args[0]} has [P] but proxy_module is not loaded")


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


def _providers() -> dict[str, frozenset[str]]:
    """Directive (sections as ``<name``) -> every module that defines it."""
    found: dict[str, set[str]] = {}
    for info in catalog().modules.values():
        for directive in info.directives:
            found.setdefault(directive, set()).add(info.name)
    return {k: frozenset(v) for k, v in found.items()}


class ModuleDirectiveNotLoaded(Rule):
    """
    ## What it does
    Checks for directives (and sections) of a module that is neither
    compiled in nor loaded with `LoadModule`.

    ## Why is this bad?
    httpd refuses to start ("Invalid command ..., perhaps misspelled or defined
    by a module not included in the server configuration"); a reload with such
    a config keeps the old one running while the deploy looks successful.

    ## Example
    ```apache
    <VirtualHost *:80>
        ServerName app.example.com
        ProxyPass / http://127.0.0.1:8080/
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    LoadModule proxy_module modules/mod_proxy.so
    LoadModule proxy_http_module modules/mod_proxy_http.so
    <VirtualHost *:80>
        ServerName app.example.com
        ProxyPass / http://127.0.0.1:8080/
    </VirtualHost>
    ```

    ## Known problems
    Directives of modules missing from vhostguard's module table (third-party
    modules such as mod_wsgi) are not judged.
    """

    code = "VG114"
    name = "module-directive-not-loaded"
    severity = Severity.ERROR
    summary = "A directive of a module that is not loaded."
    hint = "Add the module's LoadModule (a2enmod on Debian), or wrap the directive in <IfModule>."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        providers = _providers()
        for node in ctx.tree.walk():
            key = "<" + node.key if node.is_section else node.key
            modules = providers.get(key)
            if not modules or any(ctx.has_module(m) for m in modules):
                continue
            wanted = " or ".join(sorted(modules))
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: {node.name} needs {wanted}, which is not loaded")


RULES: tuple[type[Rule], ...] = (
    UnreachableVhost, DuplicateServerName, DefaultVhostServesApp, IpVhostHidesWildcard, VhostWithoutListen,
    ListenUnused, VhostAddressHostname, ProxyPassShadowed, AliasShadowed, ProxyPassTrailingSlash,
    ProxyPassReverseMissing, RewriteProxyWithoutModProxy, RewriteLoop, ModuleDirectiveNotLoaded,
)

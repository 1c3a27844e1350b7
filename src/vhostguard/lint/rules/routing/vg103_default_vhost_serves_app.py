"""VG103 default-vhost-serves-app. The default vhost of an address set serves an application instead of being a catch-all."""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.routing._common import PROXY_KEYS
from vhostguard.model import AddressSet, Server
from vhostguard.routing import alias_entries, server_mappings, Decision, Request

UNKNOWN_HOST = "vhostguard-unknown-host.invalid"  # .invalid never resolves: no real vhost names it
SERVING_KINDS = frozenset({"proxy", "file", "script", "wsgi", "handler"})


def _probe_paths(server: Server, ctx: LintContext) -> list[str]:
    paths = ["/"]
    proxies = [m for m in server_mappings(ctx.main, server) if not m.regex and not m.excluded]
    _, aliases = alias_entries(ctx.main, server)
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


# The default sites distributions ship, by file name (Debian/Ubuntu's a2ensite
# names; RHEL's mod_ssl ships its _default_:443 vhost in conf.d/ssl.conf), and
# the placeholder DocumentRoot they serve.
STOCK_SITE_FILES = frozenset({"000-default.conf", "default-ssl.conf", "ssl.conf"})
STOCK_DOCUMENT_ROOTS = frozenset({"/var/www/html"})
_APP_KEYS = frozenset({"servername", "serveralias", "proxypass", "proxypassmatch", "alias", "aliasmatch",
                       "scriptalias", "scriptaliasmatch", "wsgiscriptalias", "rewriterule", "sethandler"})


def stock_default_site(ctx: LintContext, server: Server) -> bool:
    """Is ``server`` a distribution's default site as shipped: its file, no name or
    application of its own, the placeholder DocumentRoot?"""
    node = ctx.vhost_node(server)
    if node is None or os.path.basename(node.source.file) not in STOCK_SITE_FILES:
        return False
    if server.document_root.rstrip("/") not in STOCK_DOCUMENT_ROOTS:
        return False
    return not any(child.key in _APP_KEYS for child in ctx.server_nodes(server))


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
    Host by design. A distribution's stock default site left enabled
    (Debian's `000-default.conf` serving `/var/www/html`, unchanged) is
    reported at severity info: it shows a placeholder page, not an application. The check routes `/` and each proxied or aliased path with
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
                    if stock_default_site(ctx, default):
                        # On every stock install: unknown Hosts get the placeholder page,
                        # not an application. Said once, as information.
                        yield replace(self.finding(
                            node,
                            f"vhost {default.server_name} is the distribution's stock default site and the default for {aset.address}: unknown Hosts get its placeholder page {decision.outcome.target or ''}".rstrip(),
                            "Disable the stock site (`a2dissite 000-default`) or replace it with a catch-all that denies or redirects.",
                        ), severity=Severity.INFO)
                        break
                    yield self.finding(node, f"vhost {default.server_name} is the default for {aset.address}: unknown Hosts get {what} {decision.outcome.target or ''} for {path}".rstrip())
                    break

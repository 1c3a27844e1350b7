"""VG3xx security: doors left open by the configuration."""
from __future__ import annotations

import os
from collections.abc import Iterator

from vhostguard.config.nodes import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.model import Server
from vhostguard.routing import DEFAULT_REMOTE_IP
from vhostguard.routing.access import check_access
from vhostguard.routing.sections import Section, applicable, server_sections

STATUS_HANDLERS = frozenset({"server-status", "server-info", "balancer-manager"})


def _granted_to_anyone(sections: list[Section]) -> bool:
    """Would a client from an arbitrary public address get in? (DEFAULT_REMOTE_IP is TEST-NET-1.)"""
    return check_access(sections, DEFAULT_REMOTE_IP, "GET").verdict == "granted"


def _under(path: str, root: str) -> bool:
    path, root = path.rstrip("/") or "/", root.rstrip("/") or "/"
    return path == root or root == "/" or path.startswith(root + "/")


def served_roots(ctx: LintContext) -> list[str]:
    """Directories requests are mapped into: every DocumentRoot and Alias target."""
    roots: list[str] = []
    for server in ctx.servers:
        if server.is_main and ctx.model.vhosts and not _main_answers(ctx):
            continue
        roots.append(server.document_root)
        for node in ctx.server_nodes(server):
            if node.key in ("alias", "scriptalias") and len(node.args) >= 2:
                roots.append(ctx.path(node.args[1]))
    return list(dict.fromkeys(os.path.normpath(r) for r in roots))


def _main_answers(ctx: LintContext) -> bool:
    """Does some Listen port have no vhost, so the main server answers there?"""
    ports = {aset.port for aset in ctx.model.address_sets}
    return None not in ports and any(listen.port not in ports for listen in ctx.model.listens)


def _is_served(directory: str, roots: list[str]) -> bool:
    return any(_under(root, directory) or _under(directory, root) for root in roots)


class OpenProxy(Rule):
    """
    ## What it does
    Checks for `ProxyRequests On` without a `<Proxy>` section that restricts
    who may use the forward proxy.

    ## Why is this bad?
    A forward proxy open to the Internet relays anybody's traffic (spam,
    attacks, access to internal addresses) under your server's address; open
    proxies are found and abused within hours.

    ## Example
    ```apache
    ProxyRequests On
    ```

    ## Use instead:
    ```apache
    ProxyRequests On
    <Proxy "*">
        Require ip 10.0.0.0/8
    </Proxy>
    ```

    ## References
    - https://httpd.apache.org/docs/2.4/mod/mod_proxy.html#access
    """

    code = "VG301"
    name = "open-proxy"
    severity = Severity.ERROR
    summary = "ProxyRequests On without access control: an open forward proxy."
    hint = "Turn ProxyRequests off (ProxyPass does not need it), or restrict it in a <Proxy \"*\"> section."
    directives = frozenset({"proxyrequests"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if not node.args or node.args[0].lower() != "on":
            return
        owner = ctx.owner(node)
        scopes = [owner] if owner.is_main else [owner, ctx.main]
        for server in scopes:
            for section in ctx.server_nodes(server):
                if section.key in ("proxy", "proxymatch") and section.children is not None:
                    if not _granted_to_anyone([Section("proxy", False, section.arg_text, section)]):
                        return
        yield self.finding(node, f"{ctx.label(owner)}: ProxyRequests On and no <Proxy> section restricts access: anyone can use this server as a proxy")


class StatusHandlerExposed(Rule):
    """
    ## What it does
    Checks that `server-status`, `server-info` and `balancer-manager` handlers
    are restricted with `Require` (e.g. `Require local` or `Require ip`).

    ## Why is this bad?
    server-status shows every client address and URL being served,
    server-info the whole configuration, and balancer-manager lets anyone
    disable backends or add new ones.

    ## Example
    ```apache
    <Location /server-status>
        SetHandler server-status
    </Location>
    ```

    ## Use instead:
    ```apache
    <Location /server-status>
        SetHandler server-status
        Require local
    </Location>
    ```

    ## References
    - https://httpd.apache.org/docs/2.4/mod/mod_status.html
    """

    code = "VG302"
    name = "status-handler-exposed"
    severity = Severity.ERROR
    summary = "server-status/server-info/balancer-manager reachable without a Require restriction."
    hint = "Add `Require local` (or `Require ip ADMIN-NETWORK`) to the section that sets the handler."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for server in ctx.servers:
            sections = server_sections(ctx.main, server)
            for node, path in self._handlers(server, ctx):
                chosen = applicable(sections, path, None)
                if _granted_to_anyone(chosen):
                    yield self.finding(node, f"{ctx.label(server)}: SetHandler {node.args[0]} at {path} is open to any client")

    @staticmethod
    def _handlers(server: Server, ctx: LintContext) -> Iterator[tuple[Directive, str]]:
        for node in server.directives:
            if node.key == "sethandler" and node.args and node.args[0].lower() in STATUS_HANDLERS:
                yield node, "/"
            if node.key == "location" and node.args and node.args[0] != "~":
                for child in node.children or ():
                    if child.key == "sethandler" and child.args and child.args[0].lower() in STATUS_HANDLERS:
                        yield child, node.args[0]


def _option_words(node: Directive) -> set[str]:
    return {w.lower().lstrip("+") for w in node.args if not w.startswith("-")}


class DirectoryListing(Rule):
    """
    ## What it does
    Checks for `Options Indexes` (or `+Indexes`, `All`) on a directory that is
    served (a DocumentRoot or Alias target, or a directory above or below
    one) while mod_autoindex is loaded.

    ## Why is this bad?
    Any directory without an index file is listed: backups, uploads, build
    artefacts and editor swap files become discoverable.

    ## Example
    ```apache
    <Directory /var/www/>
        Options Indexes FollowSymLinks
    </Directory>
    ```

    ## Use instead:
    ```apache
    <Directory /var/www/>
        Options FollowSymLinks
    </Directory>
    ```
    """

    code = "VG303"
    name = "directory-listing"
    severity = Severity.WARNING
    summary = "Options Indexes on a served directory tree."
    hint = "Remove Indexes from Options (or use `Options -Indexes`)."
    directives = frozenset({"directory"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if not ctx.has_module("autoindex_module") or not node.args or node.args[0] == "~":
            return
        if not _is_served(ctx.path(node.args[0]), served_roots(ctx)):
            return
        for child in node.children or ():
            if child.key == "options" and ({"indexes", "all"} & _option_words(child)):
                yield self.finding(child, f"{ctx.label(ctx.owner(node))}: Options {' '.join(child.args)} in <Directory {node.args[0]}> lists directories without an index")


def _flag(node: Directive, *values: str) -> bool:
    return bool(node.args) and node.args[0].lower() in values


class TraceEnabled(Rule):
    """
    ## What it does
    Checks for `TraceEnable On` or `TraceEnable extended`.

    ## Why is this bad?
    TRACE echoes the request back, headers included; with a client-side bug
    it leaks cookies and authorization headers (cross-site tracing), and
    scanners flag it on every audit.

    ## Example
    ```apache
    TraceEnable On
    ```

    ## Use instead:
    ```apache
    TraceEnable Off
    ```
    """

    code = "VG304"
    name = "trace-enabled"
    severity = Severity.WARNING
    summary = "TraceEnable on: the TRACE method echoes requests back."
    hint = "Set `TraceEnable Off`."
    directives = frozenset({"traceenable"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if _flag(node, "on", "extended"):
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: TraceEnable {node.args[0]} allows the TRACE method")


class ServerTokensFull(Rule):
    """
    ## What it does
    Checks for `ServerTokens Full`, which adds every module's name and
    version to the `Server:` header.

    ## Why is this bad?
    The Server header then lists the exact versions of httpd, OpenSSL, PHP
    and other modules: a ready-made list of CVEs to try.

    ## Example
    ```apache
    ServerTokens Full
    ```

    ## Use instead:
    ```apache
    ServerTokens Prod
    ```
    """

    code = "VG305"
    name = "server-tokens-full"
    severity = Severity.WARNING
    summary = "ServerTokens Full: module names and versions in every Server header."
    hint = "Set `ServerTokens Prod`."
    directives = frozenset({"servertokens"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if _flag(node, "full"):
            yield self.finding(node, "ServerTokens Full sends httpd's and every module's version in the Server header")


class ServerSignatureOn(Rule):
    """
    ## What it does
    Checks for `ServerSignature On` or `ServerSignature EMail`.

    ## Why is this bad?
    Error pages and directory listings then end with the server name and
    httpd version (as set by ServerTokens), telling scanners what to try.

    ## Example
    ```apache
    ServerSignature On
    ```

    ## Use instead:
    ```apache
    ServerSignature Off
    ```
    """

    code = "VG306"
    name = "server-signature-on"
    severity = Severity.WARNING
    summary = "ServerSignature On: version footer on error pages."
    hint = "Set `ServerSignature Off`."
    directives = frozenset({"serversignature"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if _flag(node, "on", "email"):
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: ServerSignature {node.args[0]} adds the server version to error pages")


class AllowOverrideAll(Rule):
    """
    ## What it does
    Checks for `AllowOverride All` on a served directory (a DocumentRoot or
    Alias target, or a directory above or below one).

    ## Why is this bad?
    Every `.htaccess` file under it can then change routing, access control
    and handlers: whoever can write a file in the tree (an upload, a CMS
    plugin) can reconfigure the server, and vhostguard cannot see those rules.

    ## Example
    ```apache
    <Directory /var/www/html>
        AllowOverride All
    </Directory>
    ```

    ## Use instead:
    ```apache
    <Directory /var/www/html>
        AllowOverride None
    </Directory>
    ```
    """

    code = "VG307"
    name = "allowoverride-all"
    severity = Severity.WARNING
    summary = "AllowOverride All on a DocumentRoot: .htaccess can change anything."
    hint = "Use `AllowOverride None` and move the rules into the configuration (or allow only the groups you need)."
    directives = frozenset({"directory"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        if not node.args or node.args[0] == "~" or not _is_served(ctx.path(node.args[0]), served_roots(ctx)):
            return
        for child in node.children or ():
            if child.key == "allowoverride" and _flag(child, "all"):
                yield self.finding(child, f"{ctx.label(ctx.owner(node))}: AllowOverride All in <Directory {node.args[0]}> lets .htaccess files reconfigure the server")


class RootDirectoryNotDenied(Rule):
    """
    ## What it does
    Checks that the main server has `<Directory />` with `Require all denied`.

    ## Why is this bad?
    httpd 2.4 grants access where no `Require` applies. Without a denying
    `<Directory />`, any Alias, symlink or rewrite that reaches outside the
    DocumentRoot serves the filesystem (`/etc`, application secrets).

    ## Example
    ```apache
    <Directory />
        Options FollowSymLinks
    </Directory>
    ```

    ## Use instead:
    ```apache
    <Directory />
        Options FollowSymLinks
        AllowOverride None
        Require all denied
    </Directory>
    ```
    """

    code = "VG308"
    name = "root-directory-not-denied"
    severity = Severity.WARNING
    summary = "<Directory /> is missing or does not deny access."
    hint = "Add `Require all denied` to `<Directory />` and grant access per served directory."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        roots = [n for n in ctx.main.directives if n.key == "directory" and n.args and n.args[0].rstrip("/") == ""]
        if not roots:
            yield self.finding(self._anchor(ctx), "the main server has no <Directory /> section: access outside the served trees is granted by default")
            return
        sections = [Section("directory", False, "/", node) for node in roots]
        if _granted_to_anyone(sections):
            yield self.finding(roots[-1], "<Directory /> does not deny access: the whole filesystem is servable through any Alias or symlink")

    @staticmethod
    def _anchor(ctx: LintContext) -> Directive:
        # A finding about something absent sits on the first directive of the main file.
        for node in ctx.tree.nodes:
            if node.source.file == ctx.tree.main_file:
                return node
        return ctx.tree.nodes[0]


VCS_PATHS = (".git/HEAD", ".git/config", ".env", ".svn/entries", ".hg/store/00manifest.i")


class VcsFilesExposed(Rule):
    """
    ## What it does
    Checks whether `.git`, `.svn`, `.hg` or `.env` files present under a
    DocumentRoot are served to clients, by routing a request for each.

    ## Why is this bad?
    A served `.git` directory gives away the whole source history (and the
    secrets ever committed); `.env` files hold database passwords and API keys.

    ## Example
    ```apache
    DocumentRoot /srv/app/public
    ```

    ## Use instead:
    ```apache
    DocumentRoot /srv/app/public
    <DirectoryMatch "/\\.(git|svn|hg)">
        Require all denied
    </DirectoryMatch>
    <Files ".env">
        Require all denied
    </Files>
    ```

    ## Known problems
    Only files present when vhostguard runs are checked.
    """

    code = "VG309"
    name = "vcs-files-exposed"
    severity = Severity.ERROR
    summary = ".git/.env files under a DocumentRoot are served to clients."
    hint = "Deny them (`<DirectoryMatch \"/\\.git\">` / `<Files \".env\">` with `Require all denied`), or deploy without them."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for server in ctx.model.vhosts:
            for relative in VCS_PATHS:
                if not os.path.exists(os.path.join(server.document_root, relative)):
                    continue
                decision = ctx.route_to(server, "/" + relative)
                if decision is not None and decision.outcome.kind in ("file", "handler"):
                    where = ctx.effective(server, "documentroot") or ctx.vhost_node(server)
                    if where is not None:
                        yield self.finding(where, f"{ctx.label(server)}: /{relative} is served from {server.document_root} to any client")


RULES: tuple[type[Rule], ...] = (
    OpenProxy, StatusHandlerExposed, DirectoryListing, TraceEnabled, ServerTokensFull, ServerSignatureOn,
    AllowOverrideAll, RootDirectoryNotDenied, VcsFilesExposed,
)

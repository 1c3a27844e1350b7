"""Helpers shared by several security rules."""
from __future__ import annotations

import os

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.model import Server
from vhostguard.routing import DEFAULT_REMOTE_IP
from vhostguard.routing import server_mappings
from vhostguard.routing import check_access
from vhostguard.routing import Section


def granted_to_anyone(sections: list[Section]) -> bool:
    """Would a client from an arbitrary public address get in? (DEFAULT_REMOTE_IP is TEST-NET-1.)"""
    return check_access(sections, DEFAULT_REMOTE_IP, "GET").verdict == "granted"


def _under(path: str, root: str) -> bool:
    path, root = path.rstrip("/") or "/", root.rstrip("/") or "/"
    return path == root or root == "/" or path.startswith(root + "/")


def served_roots(ctx: LintContext) -> list[str]:
    """Directories requests are mapped into: every DocumentRoot (but that of a
    server proxying every request) and Alias target (listed once per lint run:
    a rule asks for every <Directory>)."""
    return ctx.remember("served-roots", lambda: _served_roots(ctx))


def _served_roots(ctx: LintContext) -> list[str]:
    roots: list[str] = []
    for server in ctx.servers:
        if server.is_main and ctx.model.vhosts and not _main_answers(ctx):
            continue
        if not _proxies_everything(ctx, server):
            roots.append(server.document_root)
        for node in ctx.server_nodes(server):
            if node.key in ("alias", "scriptalias") and len(node.args) >= 2:
                roots.append(ctx.path(node.args[1]))
    return list(dict.fromkeys(os.path.normpath(r) for r in roots))


def _proxies_everything(ctx: LintContext, server: Server) -> bool:
    """Does every request of ``server`` go to a backend, so its DocumentRoot serves nothing?

    A reverse-proxy vhost often keeps the DocumentRoot of the template it was
    made from (Debian's /var/www/html). ``ProxyPass /`` takes every URI
    (mod_proxy translates before mod_alias and the DocumentRoot), unless some
    ``ProxyPass /path !`` (server list or ``<Location>``) leaves a path to them.
    """
    mappings = server_mappings(ctx.main, server)
    if any(m.excluded for m in mappings) or not any(not m.regex and m.path == "/" and not m.excluded for m in mappings):
        return False
    for section in ctx.sections(server).locations:
        if any(child.key == "proxypass" and child.args[:1] == ("!",) for child in section.children):
            return False
    decisions = [ctx.route_to(server, path) for path in ("/", "/index.html", "/vhostguard-probe/")]
    return all(d is not None and d.certain and d.outcome.kind == "proxy" for d in decisions)


def _main_answers(ctx: LintContext) -> bool:
    """Does some Listen port have no vhost, so the main server answers there?"""
    ports = {aset.port for aset in ctx.model.address_sets}
    return None not in ports and any(listen.port not in ports for listen in ctx.model.listens)


def is_served(directory: str, roots: list[str]) -> bool:
    return any(_under(root, directory) or _under(directory, root) for root in roots)


def first_arg_in(node: Directive, *values: str) -> bool:
    return bool(node.args) and node.args[0].lower() in values

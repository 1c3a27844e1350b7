"""Where the config sends requests: every filesystem root and every backend a
directive names, with its vhost and file:line.

This is the map from what a worker did (opened ``/srv/www/x.html``,
connected to ``127.0.0.1:5000``) back to the directive responsible, for
``trace``; doctor's backend check walks the same list. Only literal targets
are listed: a ``$1`` in an AliasMatch keeps its prefix, a RewriteRule [P]
target with variables is skipped.
"""
from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from vhostguard.config import Directive
from vhostguard.model import Server, ServerModel

_FILE_DIRECTIVES = {"documentroot", "alias", "scriptalias", "aliasmatch", "scriptaliasmatch"}
_PROXY_DIRECTIVES = {"proxypass", "proxypassmatch", "balancermember"}
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ajp": 8009, "fcgi": 9000, "scgi": 4000, "uwsgi": 3031, "h2c": 80, "h2": 443}


@dataclass(frozen=True)
class ConfigTarget:
    """A directive's target. ``kind`` is ``file`` (``root`` is a directory or
    file path) or ``backend`` (``address`` is ``host:port``, ``[v6]:port`` or
    ``unix:/path``; ``url`` the backend URL as written). ``vhost`` is the
    VHOST-ID, None for the main server (whose ProxyPass vhosts inherit)."""

    kind: str
    directive: str  # as written: DocumentRoot, Alias, ProxyPass...
    file: str
    line: int
    vhost: str | None
    root: str | None = None
    address: str | None = None
    url: str | None = None
    url_path: str | None = None  # the URL-path the directive maps (Alias /x, ProxyPass /api)

    def label(self) -> str:
        return f"{self.directive} at {self.file}:{self.line}"


def config_targets(model: ServerModel) -> tuple[ConfigTarget, ...]:
    """Every DocumentRoot/Alias*/ScriptAlias* root and ProxyPass*/BalancerMember
    (and literal RewriteRule [P]) backend of the main server and each vhost,
    in configuration order."""
    found: list[ConfigTarget] = []
    servers: list[Server] = [model.main, *model.vhosts]
    for server in servers:
        for node in _walk(server.directives, top=server.is_main):
            target = _target(model, server, node)
            if target is not None:
                found.append(target)
    return tuple(found)


def _walk(nodes: tuple[Directive, ...], top: bool) -> Iterator[tuple[Directive, str | None]]:
    """Directives inside sections too, with the enclosing <Location> path (for a
    one-argument ProxyPass or Alias); the main server's list skips vhosts."""
    stack: list[tuple[Directive, str | None]] = [(node, None) for node in reversed(nodes)]
    while stack:
        node, location = stack.pop()
        if top and node.key == "virtualhost":
            continue
        yield node, location
        if node.children:
            inner = node.args[0] if node.key in ("location", "locationmatch") and node.args else location
            stack.extend((child, inner) for child in reversed(node.children))


def _target(model: ServerModel, server: Server, item: tuple[Directive, str | None]) -> ConfigTarget | None:
    node, location = item
    vhost = server.id
    source = node.source
    if node.key in _FILE_DIRECTIVES:
        file_url_path: str
        if node.key == "documentroot":
            if not node.args:
                return None
            file_url_path, raw = "/", node.args[0]
        elif len(node.args) >= 2:
            file_url_path, raw = node.args[0], node.args[1]
        elif len(node.args) == 1 and location is not None:
            file_url_path, raw = location, node.args[0]
        else:
            return None
        if node.key.endswith("match"):
            raw = raw.split("$", 1)[0]  # the literal prefix of a substituted path
            if not raw.strip("/"):
                return None
        root = _norm_path(raw if raw.startswith("/") else os.path.join(model.tree.server_root, raw))
        return ConfigTarget("file", node.name, source.file, source.line, vhost, root=root, url_path=file_url_path)
    if node.key in _PROXY_DIRECTIVES:
        url_path: str | None
        if node.key == "balancermember":
            url = node.args[1] if len(node.args) > 1 and "://" in node.args[1] and "://" not in node.args[0] else (node.args[0] if node.args else "")
            url_path = None
        elif len(node.args) >= 2:
            url_path, url = node.args[0], node.args[1]
        elif len(node.args) == 1 and location is not None:
            url_path, url = location, node.args[0]
        else:
            return None
        address = backend_address(url)
        if address is None:
            return None
        return ConfigTarget("backend", node.name, source.file, source.line, vhost, address=address, url=url, url_path=url_path)
    if node.key == "rewriterule" and len(node.args) >= 3 and re.search(r"(^|[,\[])(P|proxy)([,\]]|$)", node.args[2], re.I):
        address = backend_address(node.args[1])
        if address is None or "$" in address or "%" in address:
            return None
        return ConfigTarget("backend", node.name, source.file, source.line, vhost, address=address, url=node.args[1],
                            url_path=node.args[0])
    return None


def _norm_path(path: str) -> str:
    normal = os.path.normpath(path)
    return "/" if normal == "//" else normal


def backend_address(url: str) -> str | None:
    """``host:port`` a backend URL connects to (``unix:/path`` for mod_proxy's
    ``unix:/path|http://...`` form); None for ``!``, balancers and non-URLs."""
    if url.lower().startswith("unix:"):
        return "unix:" + url[5:].split("|", 1)[0]
    if "://" not in url:
        return None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "balancer" or not parts.hostname:
        return None
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if port is None:
        return None
    host = parts.hostname
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def same_address(configured: str, connected: str, resolved: Mapping[str, set[str]] | None = None) -> bool:
    """Does a configured backend address name the address a worker connected to?
    A host name matches through ``resolved`` (name -> addresses: the answers the
    worker itself got, from DNS or its hosts file, never a lookup of ours);
    ``localhost`` names both loopback addresses."""
    if configured == connected:
        return True
    if configured.startswith("unix:") or connected.startswith("unix:"):
        return False
    host, _, port = configured.rpartition(":")
    peer_host, _, peer_port = connected.rpartition(":")
    if port != peer_port:
        return False
    host, peer_host = host.strip("[]").lower(), peer_host.strip("[]")
    if resolved and peer_host in resolved.get(host, ()):
        return True
    if host == "localhost":
        try:
            return ipaddress.ip_address(peer_host).is_loopback
        except ValueError:
            return False
    try:
        return ipaddress.ip_address(host) == ipaddress.ip_address(peer_host)
    except ValueError:
        return False


def file_target(targets: tuple[ConfigTarget, ...], path: str, vhost: str | None = None, prefer: bool = False) -> ConfigTarget | None:
    """The file target whose root holds ``path`` most specifically (the longest
    root); with ``prefer``, one of ``vhost`` (or the main server's) wins when any does."""
    best: ConfigTarget | None = None
    best_key = (-1, -1)
    normal = _norm_path(path)
    for target in targets:
        if target.kind != "file" or target.root is None:
            continue
        root = target.root
        if normal != root and not normal.startswith(root.rstrip("/") + "/"):
            continue
        mine = 1 if prefer and target.vhost in (vhost, None) else 0
        key = (mine, len(root))
        if key > best_key:
            best, best_key = target, key
    return best


def backend_targets(targets: tuple[ConfigTarget, ...], address: str,
                    resolved: Mapping[str, set[str]] | None = None) -> list[ConfigTarget]:
    """Backend targets naming ``address`` (see ``same_address``)."""
    return [t for t in targets
            if t.kind == "backend" and t.address is not None and same_address(t.address, address, resolved)]


def backend_host(target: ConfigTarget) -> str | None:
    """The host name (lower-cased) of a backend target, None for unix sockets."""
    if target.address is None or target.address.startswith("unix:"):
        return None
    return target.address.rpartition(":")[0].strip("[]").lower()

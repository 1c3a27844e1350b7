"""Build the ServerModel from a loaded ConfigTree."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from vhostguard.config import ConfigTree, Directive
from vhostguard.config import server_root_relative
from vhostguard.config import ConfigError
from vhostguard.model.addresses import (
    AddressError, ListenAddress, VhostAddress, local_host_name, parse_listen, parse_vhost_address, reverse_name,
)
from vhostguard.model.matching import AddressSet, Match, Matcher, build_address_sets
from vhostguard.model.server import (
    DEFAULT_DOCUMENT_ROOT, Server, collect_names, last_arg, parse_server_name, vhost_id,
)


# (word, default port) -> _parse_address's result, for one build: most vhosts
# share a few words such as ``*:80``, and a hostname resolves once.
_ParsedAddresses = dict[tuple[str, int | None], tuple[tuple[VhostAddress, ...], str | None]]


@dataclass(frozen=True)
class ServerModel:
    """Listens, the main server, every vhost and the address sets httpd matches with."""

    tree: ConfigTree
    listens: tuple[ListenAddress, ...]
    main: Server
    vhosts: tuple[Server, ...]
    address_sets: tuple[AddressSet, ...]
    errors: tuple[ConfigError, ...] = ()
    _matcher: Matcher = field(repr=False, compare=False, default=None)  # type: ignore[assignment]

    def match(self, local_ip: str | None, port: int, host: str | None) -> Match:
        """The server httpd picks for a connection to (local_ip, port) with this Host.

        ``local_ip`` None means an address no IP-specific vhost names.
        ``host`` None means no Host at all (HTTP/1.0).
        """
        return self._matcher.match(local_ip, port, host)

    def default_local_ip(self, port: int) -> str | None:
        """The address a connection to ``port`` arrives on by default: the IP of the first
        Listen covering the port, or None (an address no IP vhost names) for a wildcard Listen."""
        for listen in self.listens:
            if listen.port == port:
                return listen.ip
        return None

    def vhost(self, vhost_id: str) -> Server | None:
        for server in self.vhosts:
            if server.id == vhost_id:
                return server
        return None


def build_model(tree: ConfigTree) -> ServerModel:
    """Derive the server model; address problems are returned in ``errors``."""
    errors: list[ConfigError] = []
    top = tree.nodes
    main_directives = tuple(node for node in top if node.key != "virtualhost")
    main_name, main_aliases, main_wild = collect_names(main_directives)
    main_docroot = _document_root(tree, main_directives) or DEFAULT_DOCUMENT_ROOT
    main = Server(
        id=None, source=None,
        server_name=main_name.host if main_name else local_host_name(),
        declared_name=main_name, aliases=tuple(main_aliases), wild_aliases=tuple(main_wild),
        addresses=(), document_root=main_docroot, directives=main_directives,
    )
    listens = _listens(tree, errors)
    _check_server_names(main_directives, errors, main=True)
    built: list[Server] = []
    port_so_far: int | None = None  # httpd reads a port-less vhost's port from the main ServerName seen so far
    parsed: _ParsedAddresses = {}
    for node in top:
        if node.key == "servername" and node.args:
            port_so_far = parse_server_name(node.args[0], node.source).port
        elif node.key == "virtualhost":
            vhost = _vhost(tree, node, main, port_so_far, errors, parsed)
            if vhost is not None:
                built.append(vhost)
    vhosts = _unique_ids(built)
    address_sets = build_address_sets(vhosts)
    return ServerModel(tree, listens, main, vhosts, address_sets, tuple(errors), Matcher(main, address_sets))


def _listens(tree: ConfigTree, errors: list[ConfigError]) -> tuple[ListenAddress, ...]:
    found: list[ListenAddress] = []
    for node in tree.nodes:
        if node.key == "listen":
            try:
                found.append(parse_listen(node.args, node.source))
            except AddressError as problem:
                errors.append(ConfigError(node.source, f"Listen {' '.join(node.args)}: {problem}"))
    return tuple(found)


def _document_root(tree: ConfigTree, directives: tuple[Directive, ...]) -> str | None:
    node = last_arg(directives, "documentroot")
    return server_root_relative(tree.server_root, node.args[0]) if node else None


def _check_server_names(directives: tuple[Directive, ...], errors: list[ConfigError], main: bool = False) -> None:
    """The checks httpd's ServerName/ServerAlias handlers make, in its words."""
    for node in directives:
        if main and node.key == "serveralias":
            errors.append(ConfigError(node.source, "ServerAlias only used in <VirtualHost>"))
        if node.key != "servername":
            continue
        if len(node.args) != 1:
            errors.append(ConfigError(node.source, "ServerName takes one argument, The hostname and port of the server"))
            continue
        text = node.args[0]
        if "*" in text or "?" in text or "[" in text:
            errors.append(ConfigError(node.source, f'Invalid ServerName "{text}" use ServerAlias to set multiple server names.'))
            continue
        rest = text.split("://", 1)[1] if "://" in text else text
        if ":" in rest:
            port = rest.rsplit(":", 1)[1]
            if not port.isdigit() or not 0 < int(port) < 65536:
                errors.append(ConfigError(node.source, f'The port number "{text}" is outside the appropriate range (i.e., 1..65535).'))


def _unique_ids(vhosts: list[Server]) -> tuple[Server, ...]:
    """One Use can expand to several vhosts on the same line: number the later ones."""
    seen: dict[str, int] = {}
    unique: list[Server] = []
    for server in vhosts:
        assert server.id is not None
        count = seen.get(server.id, 0)
        seen[server.id] = count + 1
        unique.append(server if count == 0 else replace(server, id=f"{server.id}+{count}"))
    return tuple(unique)


def _parse_address(
    word: str, default_port: int | None, parsed: _ParsedAddresses,
) -> tuple[tuple[VhostAddress, ...], str | None]:
    """The addresses of one ``<VirtualHost>`` word, and why they are uncertain (None: they are not)."""
    found = parsed.get((word, default_port))
    if found is None:
        addresses = tuple(parse_vhost_address(word, default_port))
        note = None
        if not addresses:
            note = f"<VirtualHost> address {word} does not resolve; httpd ignores it"
        elif any(a.uncertain for a in addresses):
            note = f"<VirtualHost> address {word} is a hostname, resolved through DNS at start-up"
        found = parsed[(word, default_port)] = (addresses, note)
    return found


def _vhost(
    tree: ConfigTree, node: Directive, main: Server, default_port: int | None, errors: list[ConfigError],
    parsed: _ParsedAddresses,
) -> Server | None:
    children = node.children or ()
    _check_server_names(children, errors)
    addresses: list[VhostAddress] = []
    uncertain: list[str] = []
    if not node.args:
        errors.append(ConfigError(node.source, "<VirtualHost> directive requires additional arguments"))
        return None
    for word in node.args:
        try:
            resolved, note = _parse_address(word, default_port, parsed)
        except AddressError as problem:
            errors.append(ConfigError(node.source, f"<VirtualHost {word}>: {problem}"))
            return None
        if note is not None:
            uncertain.append(note)
        addresses.extend(resolved)
    declared, aliases, wild = collect_names(children)
    return Server(
        id=vhost_id(node.source), source=node.source,
        server_name=declared.host if declared else _derived_name(addresses, main),
        declared_name=declared, aliases=tuple(aliases), wild_aliases=tuple(wild),
        addresses=tuple(addresses),
        document_root=_document_root(tree, children) or main.document_root,
        directives=children, uncertain=tuple(uncertain),
    )


def _derived_name(addresses: list[VhostAddress], main: Server) -> str:
    """httpd's name for a vhost without ServerName (``ap_fini_vhost_config``)."""
    if any(a.is_wildcard for a in addresses):
        return main.server_name
    if not addresses:
        return "bogus_host_without_forward_dns"
    return reverse_name(addresses[0].ip or "") or "bogus_host_without_reverse_dns"

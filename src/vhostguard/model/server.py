"""Servers: the main server and each ``<VirtualHost>``, with what they inherit."""
from __future__ import annotations

from dataclasses import dataclass

from vhostguard.config import Directive
from vhostguard.config import Source, slot_setters
from vhostguard.model.addresses import VhostAddress

DEFAULT_DOCUMENT_ROOT = "/var/www/html"  # Debian's compiled-in DOCUMENT_LOCATION


@dataclass(frozen=True, slots=True, init=False)
class ServerName:
    """``ServerName [scheme://]host[:port]`` split into its parts."""

    host: str
    scheme: str | None
    port: int | None
    source: Source | None

    def __init__(self, host: str, scheme: str | None, port: int | None, source: Source | None) -> None:
        # Written out, with slot setters, because a build makes one per vhost
        # (see config.source.slot_setters); the same as dataclass's __init__.
        _set_host(self, host)
        _set_scheme(self, scheme)
        _set_port(self, port)
        _set_name_source(self, source)


_set_host, _set_scheme, _set_port, _set_name_source = slot_setters(ServerName, "host", "scheme", "port", "source")


def parse_server_name(text: str, source: Source | None) -> ServerName:
    scheme = None
    rest = text
    if "://" in rest:
        scheme, rest = rest.split("://", 1)
    port = None
    if rest.startswith("["):
        end = rest.find("]")
        host, tail = (rest[: end + 1], rest[end + 1 :]) if end >= 0 else (rest, "")
        if tail.startswith(":") and tail[1:].isdigit():
            port = int(tail[1:])
    else:
        host, sep, port_text = rest.rpartition(":")
        if sep and port_text.isdigit():
            port = int(port_text)
        else:
            host = rest
    return ServerName(host, scheme.lower() if scheme else None, port, source)


@dataclass(frozen=True, slots=True, init=False)
class Server:
    """A server that can answer a request: a vhost, or the main server (``id`` None).

    ``server_name`` is what ``apache2 -S`` shows (inherited or derived when the
    vhost has no ServerName); ``declared_name`` is the vhost's own ServerName.
    ``directives`` are the section's children (for the main server, the
    top-level directives outside any VirtualHost).
    """

    id: str | None
    source: Source | None
    server_name: str
    declared_name: ServerName | None
    aliases: tuple[str, ...]
    wild_aliases: tuple[str, ...]
    addresses: tuple[VhostAddress, ...]
    document_root: str
    directives: tuple[Directive, ...]
    uncertain: tuple[str, ...] = ()

    def __init__(
        self,
        id: str | None,
        source: Source | None,
        server_name: str,
        declared_name: ServerName | None,
        aliases: tuple[str, ...],
        wild_aliases: tuple[str, ...],
        addresses: tuple[VhostAddress, ...],
        document_root: str,
        directives: tuple[Directive, ...],
        uncertain: tuple[str, ...] = (),
    ) -> None:
        # Written out, with slot setters, because a build makes one per vhost
        # (see config.source.slot_setters); the same as dataclass's __init__.
        _set_id(self, id)
        _set_source(self, source)
        _set_server_name(self, server_name)
        _set_declared_name(self, declared_name)
        _set_aliases(self, aliases)
        _set_wild_aliases(self, wild_aliases)
        _set_addresses(self, addresses)
        _set_document_root(self, document_root)
        _set_directives(self, directives)
        _set_uncertain(self, uncertain)

    @property
    def is_main(self) -> bool:
        return self.id is None

    @property
    def all_aliases(self) -> tuple[str, ...]:
        """ServerAlias arguments in the order ``apache2 -S`` prints them."""
        return self.aliases + self.wild_aliases

    def label(self) -> str:
        return self.server_name if self.id is None else f"{self.server_name} ({self.id})"


(
    _set_id, _set_source, _set_server_name, _set_declared_name, _set_aliases, _set_wild_aliases, _set_addresses,
    _set_document_root, _set_directives, _set_uncertain,
) = slot_setters(
    Server, "id", "source", "server_name", "declared_name", "aliases", "wild_aliases", "addresses",
    "document_root", "directives", "uncertain",
)


def vhost_id(source: Source) -> str:
    return f"{source.file}:{source.line}"


def is_wild_name(name: str) -> bool:
    return "*" in name or "?" in name


def collect_names(directives: tuple[Directive, ...]) -> tuple[ServerName | None, list[str], list[str]]:
    """The last ServerName, and every ServerAlias split into plain and wildcard names."""
    name: ServerName | None = None
    plain: list[str] = []
    wild: list[str] = []
    for node in directives:
        key = node.key
        if key == "servername" and node.args:
            name = parse_server_name(node.args[0], node.source)
        elif key == "serveralias":
            for alias in node.args:
                (wild if is_wild_name(alias) else plain).append(alias)
    return name, plain, wild


def last_arg(directives: tuple[Directive, ...], key: str) -> Directive | None:
    found = None
    for node in directives:
        if node.key == key and node.args:
            found = node
    return found

"""``vhostguard vhosts``: the facts of ``apache2 -S``, as text and as JSON."""
from __future__ import annotations

from typing import Any

from vhostguard.model import AddressSet, Server, ServerModel

SCHEMA = 1


def vhosts_json(model: ServerModel) -> dict[str, Any]:
    """The docs/contract.md document for ``vhosts --json``."""
    return {
        "schema": SCHEMA,
        "listen": [
            {"address": listen.address, "port": listen.port, "protocol": listen.protocol,
             "file": listen.source.file, "line": listen.source.line}
            for listen in model.listens
        ],
        "address_sets": [
            {"address": aset.address, "default": aset.default.id, "vhosts": [s.id for s in aset.servers]}
            for aset in model.address_sets
        ],
        "vhosts": {server.id: _vhost_json(server) for server in model.vhosts},
        "main_server": {"server_name": model.main.server_name, "document_root": model.main.document_root},
    }


def _vhost_json(server: Server) -> dict[str, Any]:
    assert server.source is not None
    entry: dict[str, Any] = {
        "server_name": server.server_name,
        "aliases": list(server.all_aliases),
        "addresses": [a.display() for a in server.addresses],
        "document_root": server.document_root,
        "file": server.source.file,
        "line": server.source.line,
    }
    if server.source.macro:
        entry["macro"] = server.source.macro
    if server.uncertain:
        entry["uncertain"] = list(server.uncertain)
    return entry


def _where(server: Server) -> str:
    assert server.source is not None
    where = f"{server.source.file}:{server.source.line}"
    if server.source.macro:
        where += f", {server.source.macro.split(' (defined')[0]}"
    return where


def _address_set_lines(aset: AddressSet) -> list[str]:
    if len(aset.servers) == 1:
        server = aset.default
        return [f"{aset.address:<22} {server.server_name} ({_where(server)})"]
    lines = [f"{aset.address:<22} is a NameVirtualHost", f"{'':8} default server {aset.default.server_name} ({_where(aset.default)})"]
    port = "*" if aset.port is None else str(aset.port)
    for server in aset.servers:
        lines.append(f"{'':8} port {port} namevhost {server.server_name} ({_where(server)})")
        lines.extend(f"{'':16} alias {alias}" for alias in server.aliases)
        lines.extend(f"{'':16} wild alias {alias}" for alias in server.wild_aliases)
    return lines


def vhosts_text(model: ServerModel) -> str:
    """Human output laid out like ``apache2 -S``."""
    lines = ["VirtualHost configuration:"]
    for aset in model.address_sets:
        lines.extend(_address_set_lines(aset))
    lines.append(f'ServerRoot: "{model.tree.server_root}"')
    lines.append(f'Main DocumentRoot: "{model.main.document_root}"')
    lines.append(f"Main ServerName: {model.main.server_name}")
    for listen in model.listens:
        written = listen.address or str(listen.port)
        proto = f" {listen.protocol}" if listen.protocol else ""
        lines.append(f"Listen {written}{proto} ({listen.source})")
    for server in model.vhosts:
        for reason in server.uncertain:
            lines.append(f"uncertain: {server.id}: {reason}")
    return "\n".join(lines) + "\n"

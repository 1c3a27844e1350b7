"""A config line as the diagnosis names it, and the line that made httpd pick a vhost."""
from __future__ import annotations

from dataclasses import dataclass

from vhostguard.diagnose.targets import ConfigTarget
from vhostguard.model import Server


@dataclass(frozen=True)
class DirectiveRef:
    name: str
    file: str
    line: int
    vhost: str | None = None

    @classmethod
    def of(cls, target: ConfigTarget) -> DirectiveRef:
        return cls(target.directive, target.file, target.line, target.vhost)


def naming_directive(server: Server, match: object) -> DirectiveRef | None:
    """The ServerName/ServerAlias (or VirtualHost line) that made httpd pick ``server``."""
    how = getattr(match, "how", None)
    matched = getattr(match, "matched", None)
    wanted = {"name": "servername", "alias": "serveralias", "wild-alias": "serveralias"}.get(how or "")
    if wanted is not None:
        for node in server.directives:
            if node.key == wanted and (matched is None or any(arg.lower() == str(matched).lower() for arg in node.args)):
                return DirectiveRef(node.name, node.source.file, node.source.line, server.id)
    if server.source is not None:
        # no name matched: the first vhost of the address set (httpd's default for it), or the only one
        return DirectiveRef("VirtualHost", server.source.file, server.source.line, server.id)
    return None

"""Which access logs a configuration writes, and in which format.

Mirrors mod_log_config's configuration handling (modules/loggers/
mod_log_config.c): ``LogFormat fmt name`` defines a nickname per server, a
vhost sees the main server's nicknames under its own; ``LogFormat fmt``
without a name sets the format of ``TransferLog``; ``CustomLog file fmt``,
``GlobalLog`` (inherited by every vhost) and ``TransferLog file``. A vhost
with no log of its own writes to the main server's logs.

Two httpd details are kept on purpose:

* a format argument that is not a nickname *is* the format (``CustomLog x
  combined`` without ``LogFormat ... combined`` logs the word "combined");
* a main-server log shared by vhosts without logs of their own has its
  nickname re-resolved in each of those vhosts (``open_multi_logs``), on one
  shared structure; vhosts are opened in reverse configuration order
  (core.c prepends each new vhost), so the first such vhost in the file
  decides the format.

Static: nothing here starts or asks apache2.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from vhostguard.config import server_root_relative
from vhostguard.config import ConfigTree, Directive
from vhostguard.config import Source
from vhostguard.logs.format import CLF_FORMAT

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LogTarget:
    """One log file and the format(s) written to it.

    ``formats`` holds format strings (nicknames resolved), in order of first
    use; more than one when servers write different formats to one file.
    ``servers`` are ``"main"`` or vhost ids (``file:line``); ``conditions``
    the ``env=``/``expr=`` clauses of the directives (a conditional log
    holds only some requests).
    """

    path: str
    formats: tuple[str, ...]
    sources: tuple[Source, ...]
    servers: tuple[str, ...]
    conditions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LogConfig:
    """The access logs of a configuration, notes about the ones that cannot be read, and nicknames."""

    targets: tuple[LogTarget, ...]
    notes: tuple[str, ...]
    nicknames: Mapping[str, str] = field(default_factory=dict)

    def target_for(self, path: str) -> LogTarget | None:
        """The target a given file belongs to, rotated names included (``access.log.1``, ``.2.gz``).

        Paths are compared as real paths: ``./access.log`` in the log
        directory, or a symlink to the file, is the file the config writes.
        """
        wanted = {os.path.abspath(path), os.path.realpath(path)}
        wanted |= {_base_name(p) for p in wanted}
        for target in self.targets:
            names = {target.path, os.path.realpath(target.path)}
            if names & wanted or {_base_name(n) for n in names} & wanted:
                return target
        return None


@dataclass
class _Log:
    """A CustomLog/GlobalLog/TransferLog directive as httpd keeps it (config_log_state)."""

    fname: str
    format_string: str | None  # None: TransferLog, uses the request's server default format
    source: Source
    condition: str | None
    inherit: bool
    resolved: str | None = None  # the format, as open_multi_logs last resolved it


@dataclass
class _Server:
    id: str
    formats: dict[str, str]
    default_string: str | None
    logs: list[_Log]


def find_logs(tree: ConfigTree) -> LogConfig:
    """Every access log of ``tree`` with its format; piped logs are skipped with a note."""
    notes: list[str] = []
    main = _server("main", [n for n in tree.nodes if n.key != "virtualhost"], None, notes)
    vhosts = [_server(f"{n.source.file}:{n.source.line}", list(n.children or ()), main, notes)
              for n in tree.nodes if n.key == "virtualhost"]
    for log in main.logs:
        log.resolved = _lookup(main, log.format_string)
    for vhost in reversed(vhosts):  # httpd's order: the first vhost in the file is opened last
        for log in vhost.logs:
            log.resolved = _lookup(vhost, log.format_string)
        if not vhost.logs:
            for log in main.logs:
                log.resolved = _lookup(vhost, log.format_string)
    uses: list[tuple[_Server, _Log]] = [(main, log) for log in main.logs]
    for vhost in vhosts:
        uses += [(vhost, log) for log in vhost.logs]
        uses += [(vhost, log) for log in main.logs if log.inherit or not vhost.logs]
    return LogConfig(_targets(tree, uses, notes), tuple(notes), dict(main.formats))


def _server(server_id: str, directives: list[Directive], main: _Server | None, notes: list[str]) -> _Server:
    own: dict[str, str] = {} if main else {"CLF": CLF_FORMAT}
    default_string: str | None = None
    logs: list[_Log] = []
    for node in directives:
        key = node.key
        if key == "logformat" and node.args:
            if len(node.args) >= 2:
                own[node.args[1]] = node.args[0]  # apr_table_setn: the last definition wins
            else:
                default_string = node.args[0]
        elif key in ("customlog", "globallog") and node.args:
            if key == "globallog" and main is not None:
                notes.append(f"{node.source}: GlobalLog is only allowed in the main server (httpd refuses this)")
                continue
            fmt = node.args[1] if len(node.args) > 1 else None
            if fmt is None:
                notes.append(f"{node.source}: {node.name} takes two or three arguments (httpd refuses this); "
                             "reading it with the default format")
            condition = node.args[2] if len(node.args) > 2 else None
            logs.append(_Log(node.args[0], fmt if fmt is not None else "CLF", node.source, condition, key == "globallog"))
        elif key == "transferlog" and node.args:
            logs.append(_Log(node.args[0], None, node.source, None, False))
    formats = {**main.formats, **own} if main else own  # apr_table_overlay: the vhost's own first
    if main is not None and default_string is None:
        default_string = main.default_string  # merge_config_log_state inherits the default format
    return _Server(server_id, formats, default_string, logs)


def _lookup(server: _Server, format_string: str | None) -> str | None:
    if format_string is None:
        return None
    return server.formats.get(format_string, format_string)


def _default_format(server: _Server) -> str:
    if server.default_string is None:
        return CLF_FORMAT
    return server.formats.get(server.default_string, server.default_string)


@dataclass
class _Group:
    """What is known about one log file while the servers are walked (lists keep first-seen order)."""

    formats: list[str] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    servers: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)

    def add(self, fmt: str, source: Source, server: str, condition: str | None) -> None:
        _once(self.formats, fmt)
        _once(self.sources, source)
        _once(self.servers, server)
        if condition is not None:
            _once(self.conditions, condition)


def _once(values: list[T], value: T) -> None:
    if value not in values:
        values.append(value)


def _targets(tree: ConfigTree, uses: list[tuple[_Server, _Log]], notes: list[str]) -> tuple[LogTarget, ...]:
    groups: dict[str, _Group] = {}  # insertion order: first use of each file
    skipped: set[int] = set()
    for server, log in uses:
        if log.fname.startswith("|"):
            if id(log) not in skipped:
                skipped.add(id(log))
                notes.append(f"{log.source}: piped log skipped: {log.fname}")
            continue
        path = server_root_relative(tree.server_root, log.fname)
        fmt = log.resolved if log.format_string is not None else _default_format(server)
        assert fmt is not None
        groups.setdefault(path, _Group()).add(fmt, log.source, server.id, log.condition)
    return tuple(LogTarget(path, tuple(g.formats), tuple(g.sources), tuple(g.servers), tuple(g.conditions))
                 for path, g in groups.items())


def _base_name(path: str) -> str:
    """``access.log.2.gz`` -> ``access.log`` (logrotate's numbered and compressed names)."""
    base = path
    for suffix in (".gz", ".bz2", ".xz"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    stem, dot, number = base.rpartition(".")
    if dot and number.isdigit():
        base = stem
    return base

"""What rules share about one configuration: the tree, the model, who owns
each directive, which modules are loaded, and a router for "where would this
request go" questions. Built once per lint run; rules only read it."""
from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Iterator
from functools import cached_property
from typing import Any, TypeVar

from vhostguard.config import server_root_relative
from vhostguard.config import catalog
from vhostguard.config import ConfigTree, Directive
from vhostguard.config import Source
from vhostguard.lint.names import NameOwners
from vhostguard.model import AddressSet, Server, ServerModel
from vhostguard.routing import Decision, Request, Router
from vhostguard.routing import Section, ServerSections, collect_sections, server_levels, server_sections

CATCH_ALL_MARK = "vhostguard: catch-all"

T = TypeVar("T")


class LintContext:
    """Read-only facts about one configuration, computed on first use."""

    def __init__(self, model: ServerModel, tree: ConfigTree) -> None:
        self.model = model
        self.tree = tree
        self._owner: dict[int, Server] = {}
        self._vhost_node: dict[str | None, Directive] = {}
        self._name_owners: dict[int, NameOwners] = {}
        self._sections: dict[int, ServerSections] = {}
        self._by_key: dict[str, list[Directive]] = {}
        self._order: list[Directive] = []  # every node, depth first, in configuration order
        self._parents: dict[int, Directive] = {}
        self._memo: dict[Hashable, Any] = {}
        self._listings: dict[str, frozenset[str] | type[OSError]] = {}
        self._index_tree()

    def _index_tree(self) -> None:
        # One walk of the whole tree (issue 17.15: three walks were a quarter of
        # lint's own time at 10,000 vhosts) records, for every node, its position
        # in configuration order, the section holding it, the vhost owning it and its name.
        # The model builds one Server per top-level <VirtualHost>, in order, and skips
        # those with a bad address; a Server keeps its section's children and source.
        # Compared by identity and in order: every empty section shares the same ().
        vhosts = iter(self.model.vhosts)
        pending = next(vhosts, None)
        by_key = self._by_key
        order = self._order
        parents = self._parents
        owner = self._owner
        for node in self.tree.nodes:
            server: Server | None = None
            if pending is not None and node.key == "virtualhost" and node.children is not None \
                    and pending.directives is node.children and pending.source is node.source:
                server = pending
                self._vhost_node[server.id] = node
                pending = next(vhosts, None)
            order.append(node)
            found = by_key.get(node.key)
            if found is None:
                by_key[node.key] = [node]
            else:
                found.append(node)
            if not node.children:
                continue
            # Depth first without recursion (a section may nest deeply): a stack of
            # (section, the iterator over its children not yet visited).
            stack = [(node, iter(node.children))]
            while stack:
                parent, unvisited = stack[-1]
                for child in unvisited:
                    key = id(child)
                    order.append(child)
                    parents[key] = parent
                    if server is not None:
                        owner[key] = server
                    found = by_key.get(child.key)
                    if found is None:
                        by_key[child.key] = [child]
                    else:
                        found.append(child)
                    if child.children:
                        stack.append((child, iter(child.children)))
                        break
                else:
                    stack.pop()

    def remember(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, worked out once per lint run for ``key`` (for facts several
        rules ask about every server, e.g. whether a vhost is reachable)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]  # type: ignore[no-any-return]

    # -- servers ---------------------------------------------------------------

    @property
    def main(self) -> Server:
        return self.model.main

    @property
    def servers(self) -> tuple[Server, ...]:
        """The main server, then every vhost in configuration order."""
        return (self.model.main, *self.model.vhosts)

    def owner(self, node: Directive) -> Server:
        """The server a directive belongs to (the main server outside any vhost)."""
        return self._owner.get(id(node), self.model.main)

    def vhost_node(self, server: Server) -> Directive | None:
        """The ``<VirtualHost>`` section of a vhost (None for the main server)."""
        return self._vhost_node.get(server.id)

    @staticmethod
    def label(server: Server) -> str:
        """How messages name a server: ``vhost NAME`` or ``the main server``."""
        return "the main server" if server.is_main else f"vhost {server.server_name}"

    def server_nodes(self, server: Server) -> Iterator[Directive]:
        """Every directive of a server, sections included, depth first (for the
        main server: everything outside ``<VirtualHost>``)."""
        return _walk(server.directives)

    def nodes_named(self, *keys: str) -> list[Directive]:
        """Every directive or section named by one of ``keys`` (lower case), in
        configuration order; the tree is walked once for all such questions."""
        if len(keys) == 1:
            return list(self._by_key.get(keys[0], ()))
        wanted = {key for key in keys if key in self._by_key}
        if len(wanted) <= 1:
            return [node for key in wanted for node in self._by_key[key]]
        # A filter of the ordered list: cheaper than sorting the names' lists together.
        return [node for node in self._order if node.key in wanted]

    def parent(self, node: Directive) -> Directive | None:
        """The section directly holding ``node`` (None at the top level of the configuration)."""
        return self._parents.get(id(node))

    def ancestry(self, node: Directive) -> Iterator[Directive]:
        """``node``, then each section enclosing it, innermost first."""
        current: Directive | None = node
        while current is not None:
            yield current
            current = self._parents.get(id(current))

    def in_tree(self, node: Directive) -> bool:
        """Is ``node`` one of the configuration's directives (not one made up by a rule)?"""
        return id(node) in self._parents or id(node) in self._top_level

    @cached_property
    def _top_level(self) -> frozenset[int]:
        return frozenset(id(node) for node in self.tree.nodes)

    def own(self, server: Server, key: str) -> list[Directive]:
        """Server-level directives named ``key`` written in this server itself."""
        if key not in self._by_key:
            return []  # written nowhere (a server's directives are nodes of the tree): no scan
        return [d for d in server.directives if d.children is None and d.key == key]

    def effective(self, server: Server, key: str) -> Directive | None:
        """The server-level directive that applies: the vhost's last, else the main server's."""
        own = self.own(server, key)
        if own:
            return own[-1]
        if server.is_main:
            return None
        inherited = self.own(self.main, key)
        return inherited[-1] if inherited else None

    def absence_anchor(self) -> Directive | Source:
        """Where a finding about something missing from the main server sits: the
        first directive of the main file (waivable there), else the first
        directive read at all, else line 1 of the main file (a configuration
        with no directives: empty, comments only, all inside a false <IfDefine>)."""
        for node in self.tree.nodes:
            if node.source.file == self.tree.main_file:
                return node
        return self.tree.nodes[0] if self.tree.nodes else Source(self.tree.main_file, 1)

    @cached_property
    def main_answers(self) -> bool:
        """Does some connection reach the main server: a Listen address that no
        vhost's address set takes (the model's matching, as httpd picks)?"""
        return any(self.model.match(listen.ip, listen.port, None).server.is_main for listen in self.model.listens)

    def is_marked_catch_all(self, server: Server) -> bool:
        node = self.vhost_node(server)
        return node is not None and any(CATCH_ALL_MARK in comment for comment in node.comments)

    def ssl_enabled(self, server: Server) -> bool:
        return self.remember(("ssl", id(server)), lambda: self._ssl_enabled(server))

    def _ssl_enabled(self, server: Server) -> bool:
        engine = self.effective(server, "sslengine")
        return engine is not None and bool(engine.args) and engine.args[0].lower() in ("on", "optional")

    @cached_property
    def _main_sections(self) -> tuple[list[Section], tuple[Directive, ...]]:
        main = self.model.main
        return collect_sections(main.directives), server_levels(main, main)[0]

    def sections(self, server: Server) -> ServerSections:
        """The <Location>/<Directory>/<Files>/<If> sections that can apply to
        ``server``'s requests (routing's ``server_sections``, worked out once per server)."""
        found = self._sections.get(id(server))
        if found is None:
            main_sections, main_level = self._main_sections
            levels = server_levels(self.model.main, server, main_level)
            found = self._sections[id(server)] = server_sections(self.model.main, server, main_sections, levels)
        return found

    # -- modules and paths -------------------------------------------------------

    @cached_property
    def modules(self) -> frozenset[str]:
        """LoadModule identifiers loaded, plus compiled-in modules' identifiers."""
        table = catalog()
        names = {m.name for m in self.tree.modules}
        names |= {info.name for info in table.compiled_in_modules()}
        return frozenset(names)

    def has_module(self, name: str) -> bool:
        return name in self.modules

    def listing(self, path: str) -> frozenset[str] | type[OSError]:
        """The names in the directory ``path``, or the class of the error listing
        it raised; one ``os.listdir`` per distinct path and run (VG309 lists every
        DocumentRoot; VG201 then knows those roots are directories, issue 17.15)."""
        found = self._listings.get(path)
        if found is None:
            try:
                found = frozenset(os.listdir(path))
            except OSError as problem:
                found = type(problem)  # the class: an exception would keep its traceback's frames
            self._listings[path] = found
        return found

    def listed(self, path: str) -> bool:
        """Has ``path`` already been listed as a directory in this run (no file-system call)?"""
        return isinstance(self._listings.get(path), frozenset)

    def path(self, text: str) -> str:
        """A path argument as httpd resolves it (relative to ServerRoot)."""
        return server_root_relative(self.tree.server_root, text)  # normalised there

    # -- routing -----------------------------------------------------------------

    @cached_property
    def router(self) -> Router:
        return Router(self.model)

    @cached_property
    def _placements(self) -> dict[int, list[tuple[AddressSet, int]]]:
        # id(server) -> (address set, the server's first position in it), in model order:
        # one pass instead of a scan of every set per question (issue 17.15).
        found: dict[int, list[tuple[AddressSet, int]]] = {}
        for aset in self.model.address_sets:
            seen: set[int] = set()
            for position, server in enumerate(aset.servers):
                if id(server) not in seen:
                    seen.add(id(server))
                    found.setdefault(id(server), []).append((aset, position))
        return found

    def placements(self, server: Server) -> list[tuple[AddressSet, int]]:
        """Each address set holding ``server`` and its position there (0: the set's default)."""
        return self._placements.get(id(server), [])

    def address_sets_of(self, server: Server) -> list[AddressSet]:
        return [aset for aset, _ in self.placements(server)]

    def name_owners(self, aset: AddressSet) -> NameOwners:
        """Who answers which host name first on ``aset`` (built on first use)."""
        owners = self._name_owners.get(id(aset))
        if owners is None:
            owners = self._name_owners[id(aset)] = NameOwners(aset.servers)
        return owners

    def request_for(self, server: Server, path: str, *, scheme: str | None = None, host: str | None = None) -> Request | None:
        """A request that httpd would give to ``server`` (None when none can be built).

        The connection goes to the server's first address set with a concrete
        port; the Host is the server's name unless ``host`` says otherwise.
        """
        for aset in self.address_sets_of(server):
            if aset.port is None:
                continue
            chosen_scheme = scheme or ("https" if aset.port == 443 or self.ssl_enabled(server) else "http")
            name = host or server.server_name
            default_port = 443 if chosen_scheme == "https" else 80
            netloc = name if aset.port == default_port else f"{name}:{aset.port}"
            try:
                return Request.from_url(f"{chosen_scheme}://{netloc}{path}", local_ip=aset.ip)
            except ValueError:
                return None
        return None

    def route_to(self, server: Server, path: str, *, host: str | None = None) -> Decision | None:
        """Route ``path`` on ``server``; None when no request reaches that server."""
        request = self.request_for(server, path, host=host)
        if request is None:
            return None
        decision = self.router.route(request)
        return decision if decision.server is server or host is not None else None


def _walk(nodes: tuple[Directive, ...]) -> Iterator[Directive]:
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        yield node
        if node.children:
            stack.extend(reversed(node.children))

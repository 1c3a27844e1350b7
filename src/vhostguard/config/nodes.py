"""The plain data the loader produces: directives, sections and the include tree."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from vhostguard.config.source import ConfigError, ConfigWarning, Source
from vhostguard.speed import slot_setters


@dataclass(frozen=True, slots=True, init=False)
class Directive:
    """One directive or section after includes, conditionals and macros.

    ``name`` is spelled as written (sections without ``<``); ``args`` are the
    words as httpd's handlers see them after ``${VAR}`` expansion; ``children``
    is ``None`` for a plain directive and a tuple for a section. ``conditions``
    lists the enclosing conditional sections that were true (e.g.
    ``"IfModule mod_ssl.c"``), outermost first; ``comments`` the comment lines
    directly above it (for ``# vhostguard:`` annotations).
    """

    name: str
    args: tuple[str, ...]
    source: Source
    children: tuple[Directive, ...] | None = None
    conditions: tuple[str, ...] = ()
    comments: tuple[str, ...] = ()
    arg_text: str = ""
    # The case-folded name, for lookups (httpd directive names are case-insensitive);
    # stored because routing asks for it in its innermost loops.
    key: str = field(init=False, repr=False, compare=False)

    def __init__(
        self,
        name: str,
        args: tuple[str, ...],
        source: Source,
        children: tuple[Directive, ...] | None = None,
        conditions: tuple[str, ...] = (),
        comments: tuple[str, ...] = (),
        arg_text: str = "",
    ) -> None:
        # Written out, with slot setters, because the loader makes one per line
        # (see slot_setters); the same as dataclass's __init__ plus ``key``.
        _set_name(self, name)
        _set_args(self, args)
        _set_source(self, source)
        _set_children(self, children)
        _set_conditions(self, conditions)
        _set_comments(self, comments)
        _set_arg_text(self, arg_text)
        _set_key(self, name.lower())

    @property
    def is_section(self) -> bool:
        return self.children is not None

    def find(self, name: str) -> Iterator[Directive]:
        """Direct children named ``name`` (case-insensitive)."""
        wanted = name.lower()
        for child in self.children or ():
            if child.key == wanted:
                yield child

    def last(self, name: str) -> Directive | None:
        """The last direct child named ``name``: for most directives, the one that wins."""
        found = None
        for found in self.find(name):  # noqa: B007 - the loop keeps the last one
            pass
        return found


_set_name, _set_args, _set_source, _set_children, _set_conditions, _set_comments, _set_arg_text, _set_key = slot_setters(
    Directive, "name", "args", "source", "children", "conditions", "comments", "arg_text", "key"
)


@dataclass(frozen=True, slots=True)
class IncludedFile:
    """A file read while loading, as ``apache2 -t -D DUMP_INCLUDES`` lists it."""

    path: str
    depth: int
    included_from: Source | None


@dataclass(frozen=True, slots=True)
class LoadedModule:
    name: str
    path: str
    source: Source


@dataclass(frozen=True, slots=True)
class ConfigTree:
    """The effective configuration: top-level nodes in httpd's reading order."""

    main_file: str
    server_root: str
    nodes: tuple[Directive, ...]
    files: tuple[IncludedFile, ...] = ()
    modules: tuple[LoadedModule, ...] = ()
    defines: tuple[tuple[str, str | None], ...] = ()
    errors: tuple[ConfigError, ...] = ()
    warnings: tuple[ConfigWarning, ...] = field(default_factory=tuple)

    def find(self, name: str) -> Iterator[Directive]:
        wanted = name.lower()
        for node in self.nodes:
            if node.key == wanted:
                yield node

    def walk(self) -> Iterator[Directive]:
        """Every node, depth first, in configuration order."""
        stack = list(reversed(self.nodes))
        while stack:
            node = stack.pop()
            yield node
            if node.children:
                stack.extend(reversed(node.children))

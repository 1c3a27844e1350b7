"""Which per-directory sections apply to a request, in httpd's merge order.

Merge order (core's walks): server-level directives (main, then vhost), then
``<Directory>`` (non-regex, fewest path components first), ``<DirectoryMatch>``
in order, ``<Files>``/``<FilesMatch>``, then ``<Location>``/``<LocationMatch>``
in configuration order; sections inside the vhost after those outside it.
Later wins.
"""
from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from vhostguard.config import Directive
from vhostguard.config import has_wildcard, slot_setters
from vhostguard.model import Server
from vhostguard.routing.regex import compile_regex

LOCATION_KINDS = frozenset({"location", "locationmatch"})
DIRECTORY_KINDS = frozenset({"directory", "directorymatch"})
FILES_KINDS = frozenset({"files", "filesmatch"})


_AUTHZ_KEYS = frozenset({"require", "requireall", "requireany", "requirenone"})
_COMPAT_KEYS = frozenset({"order", "allow", "deny", "satisfy"})
_REDIRECT_KEYS = frozenset({"redirect", "redirectpermanent", "redirecttemp"})


@dataclass(frozen=True, slots=True)
class Section:
    """A section that can apply to requests: its kind, matcher text, and node.

    What routing asks of a section on every request (is the pattern a glob,
    its authorization directives, ...) is worked out once, here.
    """

    kind: str  # location | directory | files | proxy | if
    regex: bool
    pattern: str
    node: Directive
    nested_in: Directive | None = None  # the <Directory> holding a <Files>
    children: tuple[Directive, ...] = field(init=False, repr=False, compare=False)
    glob: bool = field(init=False, repr=False, compare=False)
    authz: tuple[Directive, ...] = field(init=False, repr=False, compare=False)
    compat: tuple[Directive, ...] = field(init=False, repr=False, compare=False)
    has_rewrite: bool = field(init=False, repr=False, compare=False)
    # The last child of each name: ``last_value`` asks for one name per section
    # many times per request, so a lookup beats a scan of the children.
    last: dict[str, Directive] = field(init=False, repr=False, compare=False)
    # The last Redirect/RedirectPermanent/RedirectTemp child (a <Location>'s one-argument form).
    redirect: Directive | None = field(init=False, repr=False, compare=False)
    # A <Directory> path without trailing slashes ("/" for the root), as the walk compares it.
    dir_path: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Slot setters, not object.__setattr__ (half the cost; see config.source.slot_setters):
        # every router makes the sections of every server it routes to.
        children = self.node.children or ()
        last = last_of(children)
        pattern = self.pattern
        _set_children(self, children)
        _set_glob(self, not self.regex and has_wildcard(pattern))  # core's d_is_fnmatch (apr_fnmatch_test)
        _set_authz(self, tuple([n for n in children if n.key in _AUTHZ_KEYS]))
        _set_compat(self, tuple([n for n in children if n.key in _COMPAT_KEYS]))
        _set_has_rewrite(self, "rewriterule" in last)
        _set_last(self, last)
        redirect = None
        if not _REDIRECT_KEYS.isdisjoint(last):
            redirect = [n for n in children if n.key in _REDIRECT_KEYS][-1]
        _set_redirect(self, redirect)
        _set_dir_path(self, pattern.rstrip("/") or "/")


(
    _set_children, _set_glob, _set_authz, _set_compat, _set_has_rewrite, _set_last, _set_redirect, _set_dir_path,
) = slot_setters(Section, "children", "glob", "authz", "compat", "has_rewrite", "last", "redirect", "dir_path")


@dataclass(frozen=True, slots=True)
class ServerSections:
    """The sections of one server (main server's first, then the vhost's)."""

    base: tuple[Directive, ...]  # server-level directives, main then vhost
    locations: tuple[Section, ...]
    directories: tuple[Section, ...]  # non-regex sorted by depth, then regex in order
    files: tuple[Section, ...]
    ifs: tuple[Section, ...]
    # When every <Location> is a plain prefix (no regex, no wildcard): those prefixes,
    # for one startswith() that rules them all out for most URIs; else None.
    location_prefixes: tuple[str, ...] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        plain = all(not s.regex and not s.glob for s in self.locations)
        object.__setattr__(self, "location_prefixes", tuple([s.pattern for s in self.locations]) if plain else None)


def _section_of(node: Directive, nested_in: Directive | None = None) -> Section | None:
    key = node.key
    args = node.args
    if key in ("location", "directory", "files", "proxy"):
        if args and args[0] == "~":
            return Section(key, True, args[1] if len(args) > 1 else "", node, nested_in)
        return Section(key, False, args[0] if args else "", node, nested_in)
    if key in ("locationmatch", "directorymatch", "filesmatch", "proxymatch"):
        return Section(key[:-5], True, args[0] if args else "", node, nested_in)
    if key in ("if", "elseif", "else"):
        return Section("if", False, node.arg_text, node, nested_in)
    return None


def collect_sections(directives: tuple[Directive, ...]) -> list[Section]:
    """The sections among ``directives`` (and the <Files>/<If> inside a <Directory>), in order."""
    found: list[Section] = []
    for node in directives:
        if node.children is None:
            continue
        section = _section_of(node)
        if section is None:
            continue
        found.append(section)
        if section.kind == "directory":
            for child in node.children:
                inner = _section_of(child, node)
                if inner is not None and inner.kind in ("files", "if"):
                    found.append(inner)
    return found


def _depth(path: str) -> int:
    return path.rstrip("/").count("/") if path != "/" else 0


# (the main server's server-level directives, the server's own): each part of a
# routing plan reads them, so a router works them out once per server
ServerLevels = tuple[tuple[Directive, ...], tuple[Directive, ...]]


def server_levels(main: Server, server: Server, main_level: tuple[Directive, ...] | None = None) -> ServerLevels:
    """The directives outside any section: the main server's (``main_level``, if already
    at hand) and ``server``'s own (the same, for the main server)."""
    if main_level is None:
        main_level = tuple([d for d in main.directives if d.children is None])
    own = main_level if server is main else tuple([d for d in server.directives if d.children is None])
    return main_level, own


def server_sections(main: Server, server: Server, main_sections: Sequence[Section] | None = None,
                    levels: ServerLevels | None = None) -> ServerSections:
    """``main_sections``: ``collect_sections(main.directives)``, and ``levels``: ``server_levels``,
    if already at hand (a router works them out once)."""
    main_secs = list(main_sections) if main_sections is not None else collect_sections(main.directives)
    own = collect_sections(server.directives) if not server.is_main else []
    everything = main_secs + own
    main_level, own_level = levels or server_levels(main, server)
    base = main_level if server.is_main else main_level + own_level
    plain_dirs = [s for s in everything if s.kind == "directory" and not s.regex]
    regex_dirs = [s for s in everything if s.kind == "directory" and s.regex]
    ordered_dirs = sorted(plain_dirs, key=lambda s: _depth(s.pattern))  # stable: ties keep config order
    return ServerSections(
        base=base,
        locations=tuple([s for s in everything if s.kind == "location"]),
        directories=tuple(ordered_dirs + regex_dirs),
        files=tuple([s for s in everything if s.kind == "files"]),
        ifs=tuple([s for s in everything if s.kind == "if"]),
    )


def location_matches(section: Section, uri: str) -> bool:
    """``ap_location_walk``: prefix match ending at a '/' boundary, fnmatch, or regex."""
    if section.regex:
        compiled = compile_regex(section.pattern)
        return bool(compiled and compiled.search(uri))
    pattern = section.pattern
    if section.glob:
        # apr_fnmatch(d, uri, APR_FNM_PATHNAME) on the whole URI, unlike the directory
        # walk's per-component test: <Location /files/*/> applies to /files/a/ but not
        # to /files/a/x (seen live, tests/routing/realworld/test_proxy_sections_live.py).
        return _fnmatch_whole_path(pattern, uri)
    if not uri.startswith(pattern):
        return False
    if pattern.endswith("/") or len(uri) == len(pattern):
        return True
    return uri[len(pattern)] == "/"


def _fnmatch_pathname(pattern: str, text: str) -> bool:
    """APR_FNM_PATHNAME: wildcards do not cross '/'; a prefix of whole segments matches."""
    parts = pattern.rstrip("/").split("/")
    segments = text.split("/")
    if len(segments) < len(parts):
        return False
    return all(fnmatch.fnmatchcase(seg, pat) for seg, pat in zip(segments, parts))


def _fnmatch_whole_path(pattern: str, text: str) -> bool:
    """``apr_fnmatch`` with APR_FNM_PATHNAME: segment by segment, wildcards never cross '/',
    and the pattern must use up the whole text."""
    parts = pattern.split("/")
    segments = text.split("/")
    if len(segments) != len(parts):
        return False
    return all(_segment_matcher(part)(segment) is not None for segment, part in zip(segments, parts))


@lru_cache(maxsize=1024)
def _segment_matcher(part: str) -> Callable[[str], re.Match[str] | None]:
    """One segment of an apr_fnmatch pattern as a regex: ``*``, ``?``, ``[...]`` (negated by
    ``!`` or ``^``; a ``[`` without its ``]`` is literal) and ``\\`` escapes."""
    out: list[str] = []
    index = 0
    while index < len(part):
        char = part[index]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "\\" and index + 1 < len(part):
            index += 1
            out.append(re.escape(part[index]))
        elif char == "[" and "]" in part[index + 2:]:
            end = part.index("]", index + 2)
            body = part[index + 1:end]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
            index = end
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out), re.DOTALL).fullmatch


def directory_matches(section: Section, path: str) -> bool:
    """Does a ``<Directory>`` apply to filesystem ``path`` (a directory path)?"""
    if section.regex:
        compiled = compile_regex(section.pattern)
        return bool(compiled and compiled.search(path if path.endswith("/") else path + "/"))
    pattern = section.dir_path
    if pattern == "/":
        return True
    if section.glob:
        return _fnmatch_pathname(pattern, path)
    return path == pattern or path.startswith(pattern + "/")


def files_matches(section: Section, basename: str) -> bool:
    if section.regex:
        compiled = compile_regex(section.pattern)
        return bool(compiled and compiled.search(basename))
    return fnmatch.fnmatchcase(basename, section.pattern)


def existing_directory(path: str, is_dir: Callable[[str], bool] = os.path.isdir) -> str:
    """The deepest existing directory on ``path`` (httpd's directory walk stops there)."""
    current = path
    while current and current != "/":
        if is_dir(current):
            return current
        current = os.path.dirname(current)
    return "/"


def applicable(sections: ServerSections, uri: str, filename: str | None,
               is_dir: Callable[[str], bool] = os.path.isdir,
               walk_dir_of: Callable[[str], str] | None = None) -> list[Section]:
    """Sections that apply, in merge order (later wins).

    ``walk_dir_of(filename)`` may supply the deepest existing directory (cached by the caller).
    """
    chosen: list[Section] = []
    if filename is not None:
        walk_dir = walk_dir_of(filename) if walk_dir_of is not None else existing_directory(filename, is_dir)
        directories = matching_directories(sections, walk_dir)
        chosen.extend(directories)
        chosen.extend(matching_files(sections, directories, filename))
    chosen.extend(matching_locations(sections, uri))
    return chosen


def matching_directories(sections: ServerSections, walk_dir: str) -> list[Section]:
    """The ``<Directory>``/``<DirectoryMatch>`` sections for the deepest existing directory."""
    return [s for s in sections.directories if directory_matches(s, walk_dir)]


def matching_files(sections: ServerSections, directories: Sequence[Section], filename: str) -> list[Section]:
    """The ``<Files>`` sections for ``filename``; one nested in a ``<Directory>``
    counts only when that directory applies."""
    if not sections.files:
        return []
    matched_dirs = {id(section.node) for section in directories}
    basename = os.path.basename(filename.rstrip("/"))
    chosen: list[Section] = []
    for section in sections.files:
        if section.nested_in is not None and id(section.nested_in) not in matched_dirs:
            continue
        if basename and files_matches(section, basename):
            chosen.append(section)
    return chosen


def matching_locations(sections: ServerSections, uri: str) -> list[Section]:
    prefixes = sections.location_prefixes
    if prefixes is not None and not uri.startswith(prefixes):
        return []  # a plain <Location> matches only URIs that start with its path
    return [s for s in sections.locations if location_matches(s, uri)]


def last_of(nodes: tuple[Directive, ...]) -> dict[str, Directive]:
    """The last directive of each name among ``nodes`` (later wins)."""
    return {node.key: node for node in nodes}


def last_value(base: tuple[Directive, ...] | dict[str, Directive], chosen: Sequence[Section], key: str) -> Directive | None:
    """The last ``key`` directive in merge order: server level, then sections.

    ``base`` may be pre-indexed with ``last_of`` (routing does, per server).
    """
    found: Directive | None
    if isinstance(base, dict):
        found = base.get(key)
    else:
        found = None
        for node in base:
            if node.key == key:
                found = node
    for section in chosen:
        winner = section.last.get(key)
        if winner is not None:
            found = winner
    return found

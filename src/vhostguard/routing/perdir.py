"""Per-directory configuration: the directory walk with ``.htaccess`` files, and per-directory mod_rewrite.

server/request.c ``ap_directory_walk`` merges, directory by directory from
``/`` down to the deepest existing one, the ``<Directory>`` sections of that
depth and then that directory's ``AccessFileName`` files (where
``AllowOverride``/``AllowOverrideList`` let any directive in); regex sections
follow. mod_rewrite's per-directory configuration is merged along the way
(``config_perdir_merge``) and run in the fixup phase (``hook_fixup``): the
directory prefix is stripped from the file name, the rules applied, the prefix
(or ``RewriteBase``) put back and the result served by an internal redirect.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vhostguard.config import AccessFile, ConfigError, Directive, Overrides, Source, parse_overrides
from vhostguard.routing.alias import AliasEntry, redirect_entry
from vhostguard.routing.request import escape_uri
from vhostguard.routing.rewrite import PerDirResult, Rule, collect_rules, escape_location
from vhostguard.routing.sections import Section, ServerSections, collect_sections, directory_matches

_REWRITE_KEYS = frozenset({"rewriteengine", "rewriteoptions", "rewritebase", "rewriterule", "rewritecond"})
_REDIRECT_KEYS = frozenset({"redirect", "redirectmatch", "redirectpermanent", "redirecttemp"})
# ap_escape_uri's (ap_os_escape_path) safe characters, for a rewritten query string in a redirect.
_QUERY_SAFE = "$-_.+!*'(),:;@&=/~"


@dataclass(frozen=True, slots=True)
class PerDirRewrite:
    """mod_rewrite's merged per-directory configuration (``rewrite_perdir_conf``)."""

    on: bool
    directory: str | None  # the prefix rules see stripped, with a trailing slash; None: no rules here
    base: str | None  # RewriteBase
    options: frozenset[str]
    rules: tuple[Rule, ...]
    problems: tuple[str, ...] = ()
    node: Directive | None = None  # the section (or per-directory file) whose directory it is


@dataclass(frozen=True, slots=True)
class DirectoryWalk:
    """What the walk to one directory found beyond the config's own sections."""

    sections: tuple[Section, ...]  # <Directory>s and per-directory files, in merge order
    files: tuple[Section, ...]  # <Files>/<FilesMatch> of the per-directory files
    error: ConfigError | None  # a per-directory file httpd refuses: 500
    notes: tuple[str, ...]  # what makes an answer uncertain
    rewrite: PerDirRewrite | None  # the rewrite configuration merged over ``sections``
    # mod_alias's per-directory Redirects in matching order (merge_alias_dir_config puts the
    # later section's first); fixup_redir tries them after mod_rewrite's fixup
    redirects: tuple[AliasEntry, ...] = ()


def server_rewrite(engine: Directive | None, base: Sequence[Directive]) -> PerDirRewrite:
    """The per-directory rewrite defaults a server gives every request (``lookup_defaults``):
    the engine switch and RewriteOptions set at server level (``cmd->path == NULL``)."""
    return PerDirRewrite(engine is not None, None, None, _options(base) or frozenset(), ())


def directory_walk(sections: ServerSections, walk_dir: str, access_names: Sequence[str],
                   read: Callable[[str, Overrides], AccessFile | None], server: PerDirRewrite) -> DirectoryWalk:
    """The sections for ``walk_dir`` in merge order, with the per-directory files ``read`` finds."""
    plain = [s for s in sections.directories if not s.regex and directory_matches(s, walk_dir)]
    regex = [s for s in sections.directories if s.regex and directory_matches(s, walk_dir)]
    merged: list[Section] = []
    files: list[Section] = []
    notes: list[str] = []
    error: ConfigError | None = None
    if not any("allowoverride" in s.last or "allowoverridelist" in s.last for s in plain):
        access_names = ()  # httpd 2.4's default is AllowOverride None: no file to look for (most configs)
    directories = _path_directories(walk_dir)
    position = 0
    for directory in directories:
        depth = _depth(directory)
        while position < len(plain) and _depth(plain[position].dir_path) <= depth:
            merged.append(plain[position])
            position += 1
        if error is not None or not access_names:
            continue
        applying = [s for s in merged if directory_matches(s, directory)]
        override = _last(applying, "allowoverride")
        allow_list = _last(applying, "allowoverridelist")
        overrides = parse_overrides(override.args if override else None, allow_list.args if allow_list else None)
        if overrides.none:
            continue
        for name in access_names:
            found = read(directory.rstrip("/") + "/" + name, overrides)
            if found is None:
                continue
            if found.unmodelled is not None:
                notes.append(found.unmodelled)
            if found.error is not None:
                error = found.error
                break
            node = Directive("Directory", (directory,), Source(found.path, 1), found.nodes, (), (), directory)
            merged.append(Section("directory", False, directory, node))
            for inner in collect_sections(found.nodes):
                if inner.kind == "files":
                    files.append(inner)
                elif inner.kind == "if":
                    notes.append(f"<If {inner.pattern}> at {inner.node.source} is not evaluated")
    merged.extend(plain[position:])
    merged.extend(regex)
    rewrite = merge_rewrite(server, merged)
    notes.extend(rewrite.problems if rewrite.directory is not None and rewrite.on else ())
    redirects = [entry for section in reversed(merged) if not _REDIRECT_KEYS.isdisjoint(section.last)
                 for entry in map(redirect_entry, [n for n in section.children if n.key in _REDIRECT_KEYS])
                 if entry is not None]
    return DirectoryWalk(tuple(merged), tuple(files), error, tuple(notes), rewrite, tuple(redirects))


def merge_rewrite(server: PerDirRewrite, sections: Sequence[Section]) -> PerDirRewrite:
    """``config_perdir_merge`` over the sections that hold rewrite directives, in merge order.

    (httpd makes a module's per-directory configuration only for sections that use one of
    its directives; the others leave it as it was.)
    """
    current = server
    for section in sections:
        if _REWRITE_KEYS.isdisjoint(section.last):
            continue
        current = _merge(current, section)
    return current


def _merge(base: PerDirRewrite, section: Section) -> PerDirRewrite:
    children = section.children
    engine = [n for n in children if n.key == "rewriteengine"]
    on = bool(engine[-1].args and engine[-1].args[0].lower() == "on") if engine else base.on
    own_options = _options(children)
    options = own_options if own_options is not None else base.options
    base_nodes = [n for n in children if n.key == "rewritebase"]
    own_base = base_nodes[-1].args[0] if base_nodes and base_nodes[-1].args else None
    url = (own_base if base_nodes else base.base) if "mergebase" in options else own_base
    rules, problems = collect_rules(children)
    if "inherit" in options or ("inheritdown" in base.options and "ignoreinherit" not in options):
        merged_rules = (*rules, *base.rules)
    elif "inheritbefore" in options or ("inheritdownbefore" in base.options and "ignoreinherit" not in options):
        merged_rules = (*base.rules, *rules)
    else:
        merged_rules = tuple(rules)
    pattern = section.pattern
    directory = pattern if pattern.endswith("/") else pattern + "/"
    return PerDirRewrite(on, directory, url, options, merged_rules, (*base.problems, *problems), section.node)


def _options(nodes: Sequence[Directive]) -> frozenset[str] | None:
    """The RewriteOptions words of one context (each directive adds to them), or None if unset."""
    found = [n for n in nodes if n.key == "rewriteoptions"]
    if not found:
        return None
    return frozenset(word.lower() for node in found for word in node.args)


def _last(sections: Sequence[Section], key: str) -> Directive | None:
    found = None
    for section in sections:
        found = section.last.get(key, found)
    return found


def _depth(path: str) -> int:
    return path.rstrip("/").count("/") if path != "/" else 0


def _path_directories(walk_dir: str) -> list[str]:
    """``/``, ``/srv``, ``/srv/www`` ... down to ``walk_dir``: the directories the walk enters."""
    parts = [p for p in walk_dir.split("/") if p]
    return ["/"] + ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def subst_prefix_path(text: str, match: str, subst: str) -> str:
    """mod_rewrite's ``subst_prefix_path``: ``match`` (a directory) at the start of ``text``
    replaced by ``subst``, a slash kept between; ``text`` unchanged when it does not start so."""
    length = len(match) - 1 if match.endswith("/") else len(match)
    if not text.startswith(match[:length]) or text[length:length + 1] != "/":
        return text
    rest = text[length + 1:]
    if subst and not subst.endswith("/"):
        subst += "/"
    return subst + rest


@dataclass(frozen=True, slots=True)
class Fixup:
    """What ``hook_fixup`` does with a rule list's result.

    ``kind``: declined (serve as mapped), status, proxy, redirect, bad-request, or internal
    (an internal redirect to ``target``, a URL-path, with ``query``).
    """

    kind: str
    target: str | None = None
    status: int | None = None
    query: str | None = None
    reason: str = ""


def fixup(config: PerDirRewrite, result: PerDirResult, filename: str, old_query: str | None, docroot: str,
          context: tuple[str, str] | None) -> Fixup:
    """The end of ``hook_fixup`` (``filename``: ``r->filename`` before the rules; ``context``:
    mod_alias's context prefix and document root, when an Alias mapped the request)."""
    directory = config.directory or ""
    query = result.query
    if result.action == "none":
        return Fixup("declined")
    if result.action == "status":
        return Fixup("status", status=result.status)
    if result.action == "proxy":
        return Fixup("proxy", result.target, query=query)
    target = result.target or ""
    if result.action == "redirect":
        if config.base is not None:
            scheme_end = target.find("://")
            slash = target.find("/", scheme_end + 3) if scheme_end >= 0 else -1
            if slash >= 0 and slash + 1 < len(target):
                head, tail = target[: slash + 1], target[slash + 1:]
                replaced = subst_prefix_path(tail, directory[1:] if directory.startswith("/") else directory, config.base[1:])
                target = head + replaced
        location = target if result.noescape else escape_location(target)
        if query is not None:
            unchanged = result.noescape or query == old_query
            location += "?" + (query if unchanged else escape_uri(query, _QUERY_SAFE))
        return Fixup("redirect", location, status=result.status if result.status and 300 <= result.status < 400 else 302)
    if not target.startswith("/"):
        return Fixup("bad-request", status=400, reason=f"rewritten to {target}, not a path")
    if target == filename:
        return Fixup("declined", reason="the rewritten file name equals the original: rewrite ignored")
    mapped = target
    substituted = False  # hook_fixup compares pointers: did one of the two replacements apply?
    if config.base is not None:
        length = len(directory) - 1 if directory.endswith("/") else len(directory)
        substituted = target.startswith(directory[:length]) and target[length:length + 1] == "/"
        mapped = subst_prefix_path(target, directory, config.base)
    else:
        root = docroot[:-1] if docroot.endswith("/") else docroot
        if target.startswith(root) and target[len(root):len(root) + 1] == "/":
            mapped, substituted = target[len(root):], True
    if not substituted and context is not None and "ignorecontextinfo" not in config.options:
        prefix, context_root = context
        mapped = subst_prefix_path(target, context_root, prefix)
    return Fixup("internal", mapped, query=query)

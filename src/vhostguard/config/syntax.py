"""What ``apache2 -t`` checks of each directive before and as it runs it.

server/config.c's ``invoke_cmd`` refuses a directive whose context mask
(``req_override``) the enclosing section does not grant ("X not allowed here",
"X not allowed in <Directory> context"), then a wrong number of arguments for
its kind (TAKE1 ... ITERATE2, FLAG, NO_ARGS: "X takes one argument, <help>");
the handler then often calls core.c's ``ap_check_cmd_context`` ("Listen cannot
occur within <VirtualHost> section"). The table in ``data/directives.json`` is
generated from httpd's command tables by ``tools/gen_directive_syntax.py`` and
checked against the installed apache2 by tests/config/test_directive_syntax_live.py.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

# include/http_config.h's req_override bits.
OR_LIMIT, OR_OPTIONS, OR_FILEINFO, OR_AUTHCFG, OR_INDEXES = 1, 2, 4, 8, 16
ACCESS_CONF, RSRC_CONF, EXEC_ON_READ, PROXY_CONF = 64, 128, 256, 2048
OR_ALL = OR_LIMIT | OR_OPTIONS | OR_FILEINFO | OR_AUTHCFG | OR_INDEXES
_MASK_BITS = {
    "OR_LIMIT": OR_LIMIT, "OR_OPTIONS": OR_OPTIONS, "OR_FILEINFO": OR_FILEINFO, "OR_AUTHCFG": OR_AUTHCFG,
    "OR_INDEXES": OR_INDEXES, "OR_UNSET": 32, "ACCESS_CONF": ACCESS_CONF, "RSRC_CONF": RSRC_CONF,
    "EXEC_ON_READ": EXEC_ON_READ, "NONFATAL_OVERRIDE": 512, "NONFATAL_UNKNOWN": 1024, "PROXY_CONF": PROXY_CONF,
}
# ap_check_cmd_context's flags.
NOT_IN_VIRTUALHOST, NOT_IN_LIMIT, NOT_IN_DIRECTORY, NOT_IN_LOCATION = 1, 2, 4, 8
NOT_IN_FILES, NOT_IN_HTACCESS, NOT_IN_PROXY = 16, 32, 64
NOT_IN_DIR_LOC_FILE = NOT_IN_DIRECTORY | NOT_IN_LOCATION | NOT_IN_FILES
NOT_IN_DIR_CONTEXT = NOT_IN_LIMIT | NOT_IN_DIR_LOC_FILE | NOT_IN_PROXY
_FORBIDDEN_BITS = {
    "NOT_IN_VIRTUALHOST": NOT_IN_VIRTUALHOST, "NOT_IN_LIMIT": NOT_IN_LIMIT, "NOT_IN_DIRECTORY": NOT_IN_DIRECTORY,
    "NOT_IN_LOCATION": NOT_IN_LOCATION, "NOT_IN_FILES": NOT_IN_FILES, "NOT_IN_HTACCESS": NOT_IN_HTACCESS,
    "NOT_IN_PROXY": NOT_IN_PROXY,
}
# What the server-level reading grants (config.c: ap_process_config_tree).
_SERVER_OVERRIDE = (RSRC_CONF | OR_ALL) & ~(OR_AUTHCFG | OR_LIMIT)
# What each section grants its contents (core.c dirsection/urlsection/filesection/ifsection,
# mod_proxy's proxysection, mod_authz_core's <Require*>, mod_authn_core's <AuthnProviderAlias>);
# <VirtualHost> and <Limit> keep what encloses them.
_SECTION_OVERRIDE = {
    **dict.fromkeys(("directory", "directorymatch", "location", "locationmatch", "files", "filesmatch",
                     "if", "elseif", "else"), OR_ALL | ACCESS_CONF),
    "proxy": OR_ALL | ACCESS_CONF | PROXY_CONF, "proxymatch": OR_ALL | ACCESS_CONF | PROXY_CONF,
    **dict.fromkeys(("requireall", "requireany", "requirenone", "requirenotall", "authnprovideralias"),
                    OR_AUTHCFG | ACCESS_CONF),
    "authzprovideralias": OR_AUTHCFG,
}
_KEEPS_OVERRIDE = frozenset({"virtualhost", "limit", "limitexcept"})
_PER_DIRECTORY = frozenset({"directory", "directorymatch", "location", "locationmatch", "files", "filesmatch",
                            "if", "elseif", "else", "proxy", "proxymatch"})
_EXPOSES = {
    "virtualhost": NOT_IN_VIRTUALHOST, "limit": NOT_IN_DIR_CONTEXT, "limitexcept": NOT_IN_DIR_CONTEXT,
    **dict.fromkeys(("directory", "directorymatch"), NOT_IN_DIR_LOC_FILE),
    **dict.fromkeys(("location", "locationmatch"), NOT_IN_DIR_LOC_FILE),
    **dict.fromkeys(("files", "filesmatch", "if", "elseif", "else"), NOT_IN_DIR_LOC_FILE),
    **dict.fromkeys(("proxy", "proxymatch"), NOT_IN_DIR_LOC_FILE | NOT_IN_PROXY),
}
# Word counts each kind accepts whatever the words (none empty); FLAG depends on the word: none.
_SURE_COUNTS = {
    "TAKE1": (1, 1), "TAKE2": (2, 2), "TAKE12": (1, 2), "TAKE3": (3, 3), "TAKE23": (2, 3), "TAKE123": (1, 3),
    "TAKE13": (3, 3), "ITERATE": (1, 1 << 30), "ITERATE2": (2, 1 << 30), "FLAG": (1, 0),
}
# config.c invoke_cmd: the words each kind takes, and how it says so.
_COUNT_WORDS = {
    "TAKE1": "takes one argument", "TAKE2": "takes two arguments", "TAKE12": "takes 1-2 arguments",
    "TAKE3": "takes three arguments", "TAKE23": "takes two or three arguments",
    "TAKE123": "takes one, two or three arguments", "TAKE13": "takes one or three arguments",
    "ITERATE": "requires at least one argument", "ITERATE2": "requires at least two arguments",
}


@dataclass(frozen=True, slots=True)
class DirectiveSyntax:
    """One command_rec: its name as httpd spells it, argument kind, contexts and checks."""

    name: str
    kind: str  # TAKE1, FLAG, RAW_ARGS, ... (httpd's cmd_how)
    override: int  # req_override: RSRC_CONF, ACCESS_CONF, OR_* bits
    help: str | None  # the errmsg httpd appends to its argument-count errors
    forbidden: int  # the ap_check_cmd_context flags its handler passes
    modules: tuple[str, ...]
    # Judged here: not a section nor run while reading (EXEC_ON_READ), which the loader reads itself;
    # and checked at all (a count-checked kind, a context mask short of everything, or handler checks).
    judged: bool = True
    # The word counts its kind surely accepts (when none is empty): the loader's quick path.
    least: int = 0
    most: int = 1 << 30


@dataclass(frozen=True, slots=True)
class Context:
    """Where a directive sits: the enclosing sections (not conditionals), outermost first, as written.

    ``override`` is the req_override bits granted there, None inside a section whose body
    httpd hands to a module as it is (<Perl>, <Lua...>, ...) or whose rules we do not know.
    Made once per change of sections (``Context.of``): the loader asks for every directive.
    """

    sections: tuple[str, ...]
    override: int | None
    # The ap_check_cmd_context flags that can refuse anything here (a quick filter).
    exposed: int = 0

    @classmethod
    def of(cls, sections: tuple[str, ...]) -> Context:
        context = _SERVER
        for section in sections:
            context = context.enter(section)
        return context

    def enter(self, section: str) -> Context:
        """The context inside ``section`` (as written) opened here."""
        key = section.lower()
        granted = self.override
        if granted is not None and key not in _KEEPS_OVERRIDE:
            granted = _SECTION_OVERRIDE.get(key)
        return Context((*self.sections, section), granted, self.exposed | _EXPOSES.get(key, 0))

    @property
    def modelled(self) -> bool:
        return self.override is not None


_SERVER = Context((), _SERVER_OVERRIDE)


@lru_cache(maxsize=1)
def syntax_table() -> dict[str, DirectiveSyntax]:
    """The bundled directive table, keyed by lower-cased name (read once; immutable data)."""
    try:
        raw = json.loads(resources.files("vhostguard.config").joinpath("data/directives.json").read_text())
    except (FileNotFoundError, OSError, ValueError):
        raw = {}
    table: dict[str, DirectiveSyntax] = {}
    for name, entry in raw.get("directives", {}).items():
        override = sum(_MASK_BITS[bit] for bit in entry.get("contexts", ()))
        forbidden = sum(_FORBIDDEN_BITS[bit] for bit in entry.get("forbidden", ()))
        judged = not name.startswith("<") and not override & EXEC_ON_READ
        least, most = _SURE_COUNTS.get(entry["kind"], (0, 1 << 30))
        table[name.lower()] = DirectiveSyntax(name, entry["kind"], override, entry.get("help"), forbidden,
                                              tuple(entry.get("modules", ())), judged, least, most)
    return table


def directive_error(spec: DirectiveSyntax, words: Sequence[str], context: Context) -> str | None:
    """httpd's message for ``spec`` given ``words`` at ``context``, or None when it is accepted.

    Checked in httpd's order: the context mask, the argument count, then the handler's
    own context check. Sections and directives run while reading (EXEC_ON_READ) are
    not judged here: the loader reads those itself.
    """
    granted = context.override
    if granted is None or not spec.judged:
        return None
    if not granted & spec.override:
        if context.sections:
            return f"{spec.name} not allowed in <{_canonical(context.sections[-1])}> context"
        return f"{spec.name} not allowed here"
    return argument_error(spec, words) or _cmd_context_error(spec, context)


def argument_error(spec: DirectiveSyntax, words: Sequence[str]) -> str | None:
    """invoke_cmd's argument check: a quoted empty word ("") counts as missing, as in httpd."""
    kind, count = spec.kind, len(words)
    if kind == "FLAG":
        # Only the first word is read; what follows it is ignored.
        if not words or words[0].lower() not in ("on", "off"):
            return f"{spec.name} must be On or Off"
        return None
    if kind == "NO_ARGS":
        # invoke_cmd would say "takes no arguments", but apache2 2.4.71 accepts and ignores them
        # (seen with "AuthnCacheEnable x" and "SSLRequireSSL x").
        return None
    wording = _COUNT_WORDS.get(kind)
    if wording is None:  # RAW_ARGS, TAKE_ARGV: the handler judges its own arguments
        return None
    if _fits(kind, words, count):
        return None
    return f"{spec.name} {wording}" + (f", {spec.help}" if spec.help else "")


def _fits(kind: str, words: Sequence[str], count: int) -> bool:
    if count == 0 or words[0] == "":
        return False
    if kind == "TAKE1":
        return count == 1
    if kind == "TAKE2":
        return count == 2 and words[1] != ""
    if kind == "TAKE12":
        return count <= 2
    if kind == "TAKE3":
        return count == 3 and words[1] != "" and words[2] != ""
    if kind == "TAKE23":
        return count in (2, 3) and words[1] != ""
    if kind == "TAKE123":
        return count <= 3
    if kind == "TAKE13":
        return count <= 3 and not (count == 2 and words[1] != "")
    if kind == "ITERATE":
        return True
    return count >= 2  # ITERATE2


def _cmd_context_error(spec: DirectiveSyntax, context: Context) -> str | None:
    """core.c's ap_check_cmd_context, for the flags the directive's handler passes."""
    forbidden = spec.forbidden
    if not forbidden & context.exposed:
        return None
    keys = [section.lower() for section in context.sections]
    if forbidden & NOT_IN_VIRTUALHOST and "virtualhost" in keys:
        return f"{spec.name} cannot occur within <VirtualHost> section"
    if forbidden & NOT_IN_DIR_CONTEXT and ("limit" in keys or "limitexcept" in keys):
        return f"{spec.name} cannot occur within <Limit> or <LimitExcept> section"
    if forbidden & NOT_IN_DIR_LOC_FILE == NOT_IN_DIR_LOC_FILE and any(key in _PER_DIRECTORY for key in keys):
        return f"{spec.name} cannot occur within directory context"
    for flag, names in (
        (NOT_IN_DIRECTORY, ("directory", "directorymatch")),
        (NOT_IN_LOCATION, ("location", "locationmatch")),
        (NOT_IN_FILES, ("files", "filesmatch", "if", "elseif", "else")),
        (NOT_IN_PROXY, ("proxy", "proxymatch")),
    ):
        if not forbidden & flag:
            continue
        for name in names:  # find_parent: the nearest enclosing section of each name in turn
            for section in reversed(context.sections):
                if section.lower() == name:
                    return f"{spec.name} cannot occur within <{_canonical(section)}> section"
    return None


def _canonical(section: str) -> str:
    """A section as httpd names it in messages: its command's spelling, whatever the config wrote."""
    spec = syntax_table().get(f"<{section.lower()}")
    return spec.name[1:] if spec is not None else section

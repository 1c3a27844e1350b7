"""Per-directory configuration files (``.htaccess``), read as httpd reads them at request time.

server/request.c's ``ap_directory_walk`` calls ``ap_parse_htaccess`` for every
directory on the path whose ``AllowOverride`` is not None; each directive in
the file must be one the override mask (or ``AllowOverrideList``) allows, else
the request is answered 500 with "X not allowed here"; an unknown directive (or
one of a module not loaded) is "Invalid command 'X', perhaps misspelled or
defined by a module not included in the server configuration", also 500
(config.c ``ap_walk_config_sub``/``invoke_cmd``). ``AllowOverride
Nonfatal=...`` turns those two into warnings. The file is untrusted text: it is
only read (never run), and only up to ``MAX_ACCESS_FILE_BYTES``.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vhostguard.config.conditions import CONDITIONAL_SECTIONS, ConditionContext, ConditionError, evaluate
from vhostguard.config.lexer import logical_texts, split_directive, split_words
from vhostguard.config.modules import ModuleState, catalog
from vhostguard.config.nodes import Directive
from vhostguard.config.source import ConfigError, Source
from vhostguard.config.syntax import (
    OR_ALL, OR_AUTHCFG, OR_FILEINFO, OR_INDEXES, OR_LIMIT, OR_OPTIONS, argument_error, syntax_table,
)

# Larger files are not read here (httpd has no limit; a router reading untrusted trees needs one).
MAX_ACCESS_FILE_BYTES = 1 << 20
_NONFATAL_OVERRIDE, _NONFATAL_UNKNOWN = 1, 2
_OVERRIDE_WORDS = {"limit": OR_LIMIT, "options": OR_OPTIONS, "fileinfo": OR_FILEINFO, "authconfig": OR_AUTHCFG,
                   "indexes": OR_INDEXES, "all": OR_ALL}
# Sections whose body httpd reads with the file's own override mask (core.c, mod_authz_core).
_SECTIONS = frozenset({"files", "filesmatch", "if", "elseif", "else", "limit", "limitexcept", "requireall",
                       "requireany", "requirenone"})


@dataclass(frozen=True, slots=True)
class Overrides:
    """What ``AllowOverride``/``AllowOverrideList`` let a per-directory file set."""

    mask: int  # OR_* bits
    names: frozenset[str] = frozenset()  # AllowOverrideList, lower-cased
    nonfatal: int = 0

    @property
    def none(self) -> bool:
        return not self.mask and not self.names


def parse_overrides(allow_override: Sequence[str] | None, allow_list: Sequence[str] | None) -> Overrides:
    """core.c ``set_override``/``set_override_list``: the words of the two directives (None: absent,
    i.e. httpd 2.4's default ``AllowOverride None``)."""
    mask = 0
    nonfatal = 0
    for word in allow_override or ():
        key, _, value = word.lower().partition("=")
        if key == "none":
            mask = 0
        elif key == "nonfatal":
            for item in value.split(","):
                nonfatal |= {"override": _NONFATAL_OVERRIDE, "unknown": _NONFATAL_UNKNOWN,
                             "all": _NONFATAL_OVERRIDE | _NONFATAL_UNKNOWN}.get(item, 0)
        else:
            mask |= _OVERRIDE_WORDS.get(key, 0)
    names = frozenset(w.lower() for w in allow_list or () if w.lower() != "none")
    return Overrides(mask, names, nonfatal)


@dataclass(frozen=True, slots=True)
class AccessFile:
    """One per-directory file as read: its directives, or the error that makes httpd answer 500.

    ``unmodelled``: a reason the reading here may differ from httpd's (a file too large to
    read, an ``Include``): the caller then cannot be certain.
    """

    path: str
    nodes: tuple[Directive, ...]
    error: ConfigError | None = None
    unmodelled: str | None = None


def read_access_file(path: str, overrides: Overrides, loaded_modules: Iterable[str],
                     defines: Iterable[str] = (), server_root: str = "/", httpd_version: str = "2.4.71") -> AccessFile | None:
    """Read the per-directory file ``path`` (None when there is no regular file there)."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    if info.st_size > MAX_ACCESS_FILE_BYTES:
        return AccessFile(path, (), None, f"{path} is larger than {MAX_ACCESS_FILE_BYTES} bytes and was not read")
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_ACCESS_FILE_BYTES + 1)
    except OSError as exc:
        # httpd: AH00529 "unable to check htaccess file, ensure it is readable": 403.
        return AccessFile(path, (), None, f"{path} cannot be read ({exc.strerror}): httpd answers 403")
    modules = ModuleState(catalog())
    for name in loaded_modules:
        modules.load(name)
    defined = frozenset(defines)
    reader = _AccessReader(path, overrides, modules, ConditionContext(defined.__contains__, modules, server_root, httpd_version))
    return reader.read(data.decode("utf-8", errors="surrogateescape"))


@dataclass
class _Open:
    """A section open while reading: its children (a conditional shares its parent's list)."""

    name: str
    source: Source
    arg_text: str
    children: list[Directive]
    conditional: bool
    active: bool  # inside conditions that all hold


class _AccessReader:
    """One pass over the logical lines; sections nest on an explicit stack."""

    def __init__(self, path: str, overrides: Overrides, modules: ModuleState, conditions: ConditionContext) -> None:
        self.path = path
        self.overrides = overrides
        self.modules = modules
        self.conditions = conditions
        self.table = syntax_table()
        self.stack = [_Open("", Source(path, 0), "", [], False, True)]
        self.unmodelled: str | None = None

    def read(self, text: str) -> AccessFile:
        texts, numbers = logical_texts(text)
        for line, number in zip(texts, numbers):
            if not line or line.startswith("#"):
                continue
            src = Source(self.path, number)
            name, rest, words = split_directive(line)
            if name.startswith("</"):
                problem = self._close(name, src)
            elif name.startswith("<"):
                problem = self._open(name, rest, src)
            else:
                problem = self._directive(name, rest, words, src)
            if problem is not None:
                return problem
        if len(self.stack) > 1:
            return self._fail(self.stack[-1].source, f"<{self.stack[-1].name}> was not closed.")
        return AccessFile(self.path, tuple(self.stack[0].children), None, self.unmodelled)

    def _close(self, name: str, src: Source) -> AccessFile | None:
        if len(self.stack) == 1:
            return self._fail(src, f"{name} without matching <{name[2:].rstrip('>')} section")
        frame = self.stack.pop()
        if name[2:].rstrip(">").lower() != frame.name.lower():
            return self._fail(src, f"Expected </{frame.name}> but saw {name}")
        if not frame.conditional and frame.active:
            self.stack[-1].children.append(Directive(frame.name, tuple(split_words(frame.arg_text)), frame.source,
                                                     tuple(frame.children), (), (), frame.arg_text))
        return None

    def _open(self, name: str, rest: str, src: Source) -> AccessFile | None:
        section = name[1:].rstrip(">")
        body = (rest if not name.endswith(">") else "").strip()
        arg_text = body[:-1].strip() if body.endswith(">") else body
        key = section.lower()
        parent = self.stack[-1]
        if key in CONDITIONAL_SECTIONS:
            chosen = False
            if parent.active:
                try:
                    chosen = evaluate(section, arg_text, self.conditions)
                except ConditionError as problem:
                    return self._fail(src, str(problem))
            self.stack.append(_Open(section, src, arg_text, parent.children, True, parent.active and chosen))
            return None
        if parent.active:
            verdict = self._judge(f"<{section}", f"<{key}", (), src)
            if isinstance(verdict, AccessFile):
                return verdict
            if key not in _SECTIONS:
                self.unmodelled = self.unmodelled or f"{src}: <{section}> in a per-directory file is not modelled"
        self.stack.append(_Open(section, src, arg_text, [], False, parent.active))
        return None

    def _directive(self, name: str, rest: str, words: Sequence[str], src: Source) -> AccessFile | None:
        if not self.stack[-1].active:
            return None
        verdict = self._judge(name, name.lower(), words, src)
        if isinstance(verdict, AccessFile):
            return verdict
        if not verdict:
            return None  # ignored under AllowOverride Nonfatal=...
        if name.lower() in ("include", "includeoptional"):
            self.unmodelled = self.unmodelled or f"{src}: {name} in a per-directory file is not modelled"
        self.stack[-1].children.append(Directive(name, tuple(words), src, None, (), (), rest))
        return None

    def _judge(self, name: str, key: str, words: Sequence[str], src: Source) -> AccessFile | bool:
        """config.c ``invoke_cmd`` for a per-directory file: known, allowed, with fitting arguments.

        True: taken; False: ignored (AllowOverride Nonfatal=...); an AccessFile: the error."""
        spec = self.table.get(key)
        if spec is None or not self.modules.has_key(key):
            if self.overrides.nonfatal & _NONFATAL_UNKNOWN:
                return False
            return self._fail(src, f"Invalid command '{name}', perhaps misspelled or defined by a module not "
                                   "included in the server configuration")
        if not spec.override & self.overrides.mask and key.lstrip("<") not in self.overrides.names:
            if self.overrides.nonfatal & _NONFATAL_OVERRIDE:
                return False
            return self._fail(src, f"{spec.name} not allowed here")
        if spec.judged:
            problem = argument_error(spec, words)
            if problem is not None:
                return self._fail(src, problem)
        return True

    def _fail(self, src: Source, message: str) -> AccessFile:
        return AccessFile(self.path, (), ConfigError(src, message))

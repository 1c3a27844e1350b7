"""Read an httpd 2.4 configuration tree exactly as httpd builds it.

httpd reads its configuration in one pass and executes some directives while
reading (``EXEC_ON_READ``: Include, Define, ServerRoot, LoadModule, the
``<If*>`` conditionals, ``<Macro>``/``Use``). Each of those changes how later
lines are read, so the loader works the same way: one sequential pass over
logical lines, with a small mutable state that never leaves this module.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from vhostguard.config.conditions import CONDITIONAL_SECTIONS, ConditionContext, ConditionError, evaluate
from vhostguard.config.envfile import read_env_file
from vhostguard.config.expand import expand_variables
from vhostguard.config.includes import IncludeError, expand_include, server_root_relative
from vhostguard.config.lexer import LogicalLine, logical_texts, next_word, split_directive, split_words
from vhostguard.config.macros import Macro
from vhostguard.config.modules import ModuleState, catalog
from vhostguard.config.nodes import ConfigTree, Directive, IncludedFile, LoadedModule
from vhostguard.config.source import ConfigError, ConfigWarning, Source

DEFAULT_HTTPD_VERSION = "2.4.71"
MAX_INCLUDE_DEPTH = 128
# Directives httpd executes while reading (EXEC_ON_READ) or that change how later
# lines read; every other directive is only recorded.
_EXECUTED_ON_READ = frozenset(
    {"include", "includeoptional", "use", "undefmacro", "define", "undefine", "serverroot", "loadmodule"}
)
SYSTEM_CONFIG_FILES = (
    "/etc/apache2/apache2.conf",
    "/etc/httpd/conf/httpd.conf",
    "/usr/local/apache2/conf/httpd.conf",
)


@dataclass(frozen=True)
class LoadOptions:
    """How to read a configuration, mirroring apache2's command line.

    ``defines`` are ``-D NAME[=VALUE]``; ``env_file`` is a shell file sourced
    for ``${VAR}`` (``None``: ``envvars`` beside the main file when present,
    ``""``: none); ``environ`` defaults to the process environment.
    """

    server_root: str | None = None
    defines: Mapping[str, str | None] = field(default_factory=dict)
    env_file: str | None = None
    environ: Mapping[str, str] | None = None
    httpd_version: str = DEFAULT_HTTPD_VERSION
    fail_fast: bool = False


class _FailFast(Exception):
    def __init__(self, error: ConfigError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class _Frame:
    """An open section while reading one file."""

    name: str
    source: Source


@dataclass
class _State:
    server_root: str
    defines: dict[str, str | None]
    environ: Mapping[str, str]
    modules: ModuleState
    httpd_version: str
    fail_fast: bool
    macros: dict[str, Macro] = field(default_factory=dict)
    macros_in_use: list[str] = field(default_factory=list)
    include_depth: int = 0
    files: list[IncludedFile] = field(default_factory=list)
    loaded: list[LoadedModule] = field(default_factory=list)
    errors: list[ConfigError] = field(default_factory=list)
    warnings: list[ConfigWarning] = field(default_factory=list)
    open_files: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)  # enclosing non-conditional sections
    # The defines with a value, as ${NAME} reads them; built on first use after each change.
    _variables: dict[str, str] | None = field(default=None, repr=False)

    def define(self, name: str, value: str | None) -> None:
        self.defines[name] = value
        self._variables = None

    def undefine(self, name: str) -> None:
        self.defines.pop(name, None)
        self._variables = None

    def variables(self) -> dict[str, str]:
        if self._variables is None:
            self._variables = {k: v for k, v in self.defines.items() if v is not None}
        return self._variables

    def error(self, source: Source | None, message: str) -> None:
        problem = ConfigError(source, message)
        if self.fail_fast:
            raise _FailFast(problem)
        self.errors.append(problem)

    def warn(self, source: Source | None, message: str) -> None:
        self.warnings.append(ConfigWarning(source, message))

    def condition_context(self) -> ConditionContext:
        return ConditionContext(lambda name: name in self.defines, self.modules, self.server_root, self.httpd_version)


def find_system_config() -> str | None:
    """The first system configuration file that exists (Debian, RHEL, source build)."""
    for candidate in SYSTEM_CONFIG_FILES:
        if os.path.isfile(candidate):
            return candidate
    return None


def load(main_file: str, options: LoadOptions | None = None) -> ConfigTree:
    """Load ``main_file`` and everything it includes.

    Returns the effective tree with every problem found in ``errors`` (httpd
    would refuse such a config); with ``options.fail_fast`` the first problem
    is raised as ConfigError instead.
    """
    options = options or LoadOptions()
    main_path = os.path.abspath(main_file)
    server_root = os.path.abspath(options.server_root) if options.server_root else os.path.dirname(main_path)
    environ: dict[str, str] = dict(os.environ if options.environ is None else options.environ)
    state = _State(
        server_root=server_root,
        defines={name: value for name, value in options.defines.items()},
        environ=environ,
        modules=ModuleState(catalog()),
        httpd_version=options.httpd_version,
        fail_fast=options.fail_fast,
    )
    try:
        environ.update(_env_file_vars(main_path, options))
        nodes = _read_file(state, main_path, None)
    except _FailFast as stop:
        raise stop.error from None
    except ConfigError as problem:
        if options.fail_fast:
            raise
        state.errors.append(problem)
        nodes = []
    return ConfigTree(
        main_file=main_path,
        server_root=state.server_root,
        nodes=tuple(nodes),
        files=tuple(state.files),
        modules=tuple(state.loaded),
        defines=tuple(sorted(state.defines.items())),
        errors=tuple(state.errors),
        warnings=tuple(state.warnings),
    )


def _env_file_vars(main_path: str, options: LoadOptions) -> dict[str, str]:
    if options.env_file == "":
        return {}
    if options.env_file is not None:
        return read_env_file(options.env_file)
    beside = os.path.join(os.path.dirname(main_path), "envvars")
    if os.path.isfile(beside):
        return read_env_file(beside, os.path.dirname(main_path))
    return {}


def _read_text(path: str, opened_by: Source | None) -> str:
    try:
        # Unbuffered: the whole file is read at once, and a buffered reader would
        # cost two more system calls per file (isatty, lseek).
        data = open(path, "rb", buffering=0).read()  # noqa: SIM115 - closed by refcount at once
    except FileNotFoundError:
        raise ConfigError(opened_by, f"Could not open configuration file {path}: No such file or directory") from None
    except IsADirectoryError:
        raise ConfigError(opened_by, f"Could not open configuration file {path}: Is a directory") from None
    except PermissionError:
        raise ConfigError(opened_by, f"Could not open configuration file {path}: Permission denied") from None
    except OSError as exc:
        raise ConfigError(opened_by, f"Could not open configuration file {path}: {exc.strerror}") from None
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise ConfigError(Source(path, line), "file contains NUL bytes (binary file?); include only text config files")
    return data.decode("utf-8", errors="surrogateescape")


def _read_file(state: _State, path: str, opened_by: Source | None) -> list[Directive]:
    if path in state.open_files:
        chain = " -> ".join([*state.open_files[state.open_files.index(path):], path])
        raise ConfigError(opened_by, f"include loop: {chain}; remove the Include that closes the loop")
    text = _read_text(path, opened_by)
    state.files.append(IncludedFile(path, len(state.open_files), opened_by))
    state.open_files.append(path)
    try:
        texts, numbers = logical_texts(text)
        reader = _Reader(state, path, texts, numbers, macro=None)
        return reader.read_block(None)
    finally:
        state.open_files.pop()


class _Reader:
    """Reads the logical lines of one file (or one macro expansion).

    ``texts[i]`` is a logical line and ``numbers[i]`` its line number.
    """

    def __init__(
        self, state: _State, path: str, texts: list[str], numbers: Sequence[int], macro: tuple[Source, str] | None,
    ) -> None:
        self.state = state
        self.path = path
        self.texts = texts
        self.numbers = numbers
        self.index = 0  # of the next line to read
        self.macro = macro  # (Use source, description) when reading a macro expansion
        # The enclosing true conditionals, outermost first; a tuple, so each
        # Directive can share it as its ``conditions``.
        self.conditions: tuple[str, ...] = ()

    # -- structure -------------------------------------------------------

    def read_block(self, frame: _Frame | None) -> list[Directive]:
        """Read nodes until the end of ``frame``'s section (or of the file)."""
        nodes: list[Directive] = []
        comments: list[str] = []
        texts, macro = self.texts, self.macro
        while self.index < len(texts):
            text = texts[self.index]
            self.index += 1
            if not text:
                comments = []
                continue
            if text.startswith("#"):
                comments.append(text)
                continue
            above: tuple[str, ...] = ()
            if comments:
                above, comments = tuple(comments), []
            number = self.numbers[self.index - 1]
            if macro is None:
                src = Source(self.path, number)
            else:  # the Use line, and the line within the expansion
                src = Source(macro[0].file, macro[0].line, f"{macro[1]}:{number}")
            if "$" in text:
                text = expand_variables(text, self.state.variables(), self.state.environ, lambda n, s=src: self._undefined(s, n))
            name, rest, words = split_directive(text)
            if name.startswith("</"):
                if self._close(frame, name, src):
                    return nodes
                continue
            if name.startswith("<"):
                nodes.extend(self._section(name, rest, src, above))
                continue
            node = Directive(name, tuple(words), src, None, self.conditions, above, rest)
            if node.key in _EXECUTED_ON_READ:
                nodes.extend(self._execute(node))
            else:
                nodes.append(node)
        if frame is not None:
            self.state.error(frame.source, f"<{frame.name}> is never closed: expected </{frame.name}> before the end of {self.path}")
        return nodes

    def _undefined(self, src: Source, name: str) -> None:
        self.state.warn(src, f"Config variable ${{{name}}} is not defined")

    def _close(self, frame: _Frame | None, name: str, src: Source) -> bool:
        """Handle ``</Name>``; True when it closes ``frame``."""
        if frame is None:
            self.state.error(src, f"{name} without matching <{name[2:].rstrip('>')} section")
            return False
        if not name.endswith(">"):
            self.state.error(src, f"{name}> directive missing closing '>'")
            return True
        if name[2:-1].lower() != frame.name.lower():
            self.state.error(
                src, f"Expected </{frame.name}> but saw {name} (section opened at {frame.source})"
            )
        return True

    def _section(self, word: str, rest: str, src: Source, above: tuple[str, ...]) -> list[Directive]:
        name = word[1:-1] if word.endswith(">") else word[1:]
        if word.endswith(">") or not rest:
            rest = ">" if not rest else rest
        end = rest.rfind(">")
        if end < 0:
            self.state.error(src, f"<{name}> directive missing closing '>'")
            arg_text = rest
        else:
            arg_text = rest[:end].strip()
        key = name.lower()
        frame = _Frame(name, src)
        if key == "virtualhost" and self.state.sections:
            self.state.error(src, f"<VirtualHost> cannot occur within <{self.state.sections[-1]}> section")
        if key in CONDITIONAL_SECTIONS:
            return self._conditional(name, arg_text, frame)
        if key == "macro":
            self._define_macro(arg_text, frame)
            return []
        self.state.sections.append(name)
        try:
            children = self.read_block(frame)
        finally:
            self.state.sections.pop()
        return [Directive(name, tuple(split_words(arg_text)), src, tuple(children), self.conditions, above, arg_text)]

    def _conditional(self, name: str, arg_text: str, frame: _Frame) -> list[Directive]:
        try:
            chosen = evaluate(name, arg_text, self.state.condition_context())
        except ConditionError as problem:
            self.state.error(frame.source, str(problem))
            chosen = False
        if not chosen:
            self._skip_section(frame)
            return []
        outer = self.conditions
        self.conditions = (*outer, f"{name} {arg_text}".strip())
        try:
            return self.read_block(frame)
        finally:
            self.conditions = outer

    def _skip_section(self, frame: _Frame) -> None:
        """Skip a false conditional's body unread, like ``ap_soak_end_container``."""
        depth = 0
        while self.index < len(self.texts):
            text = self.texts[self.index]
            self.index += 1
            if not text.startswith("<"):
                continue
            word, _ = next_word(text)
            if word.startswith("</"):
                if depth == 0:
                    return
                depth -= 1
            else:
                depth += 1
        self.state.error(frame.source, f"<{frame.name}> is never closed: expected </{frame.name}> before the end of {self.path}")

    # -- directives executed while reading ---------------------------------

    def _execute(self, node: Directive) -> list[Directive]:
        """Carry out a directive in ``_EXECUTED_ON_READ``; the nodes it stands for in the tree."""
        key, name, args, src = node.key, node.name, node.args, node.source
        if key in ("include", "includeoptional"):
            return self._include(node, optional=key == "includeoptional")
        if key == "use":
            return self._use(node)
        if key == "undefmacro":
            if not args or self.state.macros.pop(args[0].lower(), None) is None:
                self.state.warn(src, f"cannot remove undefined macro '{args[0] if args else ''}'")
            return []
        if key in ("define", "undefine") and self.state.sections and self.state.sections[-1].lower() != "virtualhost":
            self.state.error(src, f"{name} is not valid in <{self.state.sections[-1]} context")
            return [node]
        if key == "define":
            return self._define(node)
        if key == "undefine":
            if args:
                self.state.undefine(args[0])
            return [node]
        if key == "serverroot":
            self._server_root(node)
            return [node]
        if key == "loadmodule" and len(args) >= 2:
            self.state.loaded.append(LoadedModule(args[0], server_root_relative(self.state.server_root, args[1]), src))
            if not self.state.modules.load(args[0]):
                self.state.warn(src, f"module {args[0]} is already loaded, skipping")
        return [node]

    def _define(self, node: Directive) -> list[Directive]:
        if not node.args or len(node.args) > 2:
            self.state.error(node.source, "Define takes one or two arguments, a variable name and an optional value")
            return [node]
        if ":" in node.args[0]:
            self.state.error(node.source, "Variable name must not contain ':'")
            return [node]
        self.state.define(node.args[0], node.args[1] if len(node.args) == 2 else self.state.defines.get(node.args[0]))
        return [node]

    def _server_root(self, node: Directive) -> None:
        if len(node.args) != 1:
            self.state.error(node.source, "ServerRoot takes one argument, the server's root directory")
            return
        root = os.path.normpath(os.path.join(self.state.server_root, node.args[0]))
        if not os.path.isdir(root):
            self.state.warn(node.source, f"ServerRoot {root} is not a directory here; relative paths resolve against it anyway")
        self.state.server_root = root

    def _include(self, node: Directive, optional: bool) -> list[Directive]:
        if len(node.args) != 1:
            self.state.error(node.source, f"{node.name} takes one argument, a file, directory or wildcard pattern")
            return []
        state = self.state
        state.include_depth += 1
        try:
            if state.include_depth > MAX_INCLUDE_DEPTH:
                state.error(node.source, f"Exceeded maximum include depth of {MAX_INCLUDE_DEPTH}, There appears to be a recursion.")
                return []
            target = server_root_relative(state.server_root, node.args[0])
            try:
                paths = expand_include(target, optional)
            except IncludeError as problem:
                state.error(node.source, str(problem))
                return []
            nodes: list[Directive] = []
            for path in paths:
                try:
                    nodes.extend(_with_conditions(_read_file(state, path, node.source), self.conditions))
                except ConfigError as problem:
                    state.error(problem.source, problem.message)
            return nodes
        finally:
            state.include_depth -= 1

    def _define_macro(self, arg_text: str, frame: _Frame) -> None:
        words = split_words(arg_text)
        body_start = self.index
        depth = 0
        while self.index < len(self.texts):
            text = self.texts[self.index]
            self.index += 1
            word = next_word(text)[0].lower() if text.startswith("<") else ""
            if word.startswith("<macro"):
                depth += 1
            elif word.startswith("</macro"):
                if depth == 0:
                    break
                depth -= 1
        else:
            self.state.error(frame.source, f"<Macro> is never closed: expected </Macro> before the end of {self.path}")
            return
        if not words:
            self.state.error(frame.source, "<Macro> needs a name: <Macro name [$param ...]>")
            return
        body_end = self.index - 1
        body = tuple(map(LogicalLine, self.numbers[body_start:body_end], self.texts[body_start:body_end]))
        macro = Macro(words[0], tuple(words[1:]), body, frame.source)
        if words[0].lower() in self.state.macros:
            self.state.warn(frame.source, f"macro '{words[0]}' redefined")
        self.state.macros[words[0].lower()] = macro

    def _use(self, node: Directive) -> list[Directive]:
        state = self.state
        if not node.args:
            state.error(node.source, "Use needs a macro name: Use name [value ...]")
            return []
        name = node.args[0]
        key = name.lower()
        macro = state.macros.get(key)
        if macro is None:
            state.error(node.source, f"macro '{name}' undefined")
            return []
        values = list(node.args[1:])
        if len(values) != len(macro.params):
            state.error(
                node.source,
                f"macro '{macro.name}' (defined on line {macro.source.line} of \"{macro.source.file}\") used with "
                f"{len(values)} arguments instead of {len(macro.params)}",
            )
            return []
        if key in state.macros_in_use:
            state.error(node.source, f"recursive use of macro '{macro.name}' is invalid")
            return []
        use = node.source  # the Use line's file and line, without any expansion it sits in
        use_source = use if use.macro is None else Source(use.file, use.line)
        lines = macro.expand(values)
        description = macro.description(self._named_at(node.source))
        reader = _Reader(state, self.path, lines, range(1, len(lines) + 1), (use_source, description))
        reader.conditions = self.conditions
        state.macros_in_use.append(key)
        try:
            return reader.read_block(None)
        finally:
            state.macros_in_use.pop()


    def _named_at(self, use: Source) -> Source:
        """Where httpd says a Use is: inside another expansion, that expansion is the "file"."""
        if self.macro is None or use.macro is None:
            return use if use.macro is None else Source(use.file, use.line)
        return Source(self.macro[1], int(use.macro.rsplit(":", 1)[1]))


def _with_conditions(nodes: list[Directive], conditions: tuple[str, ...]) -> list[Directive]:
    """Prefix the conditions of the including context onto included nodes."""
    if not conditions:
        return nodes
    return [_prefixed(node, conditions) for node in nodes]


def _prefixed(node: Directive, prefix: tuple[str, ...]) -> Directive:
    children = None if node.children is None else tuple(_prefixed(c, prefix) for c in node.children)
    return Directive(node.name, node.args, node.source, children, prefix + node.conditions, node.comments, node.arg_text)

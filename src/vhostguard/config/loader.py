"""Read an httpd 2.4 configuration tree exactly as httpd builds it.

httpd reads its configuration in one pass and executes some directives while
reading (``EXEC_ON_READ``: Include, Define, ServerRoot, LoadModule, the
``<If*>`` conditionals, ``<Macro>``/``Use``). Each of those changes how later
lines are read, so the loader works the same way: one sequential pass over
logical lines, with a small mutable state that never leaves this module.
"""
from __future__ import annotations

import os
import stat
from functools import partial
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from vhostguard.config.conditions import CONDITIONAL_SECTIONS, ConditionContext, ConditionError, evaluate
from vhostguard.config.envfile import read_env_file
from vhostguard.config.expand import expand_variables
from vhostguard.config.includes import IncludeError, expand_include, server_root_relative
from vhostguard.config.placement import placement_error
from vhostguard.config.lexer import _SPACE, LogicalLine, logical_texts, next_word, split_directive, split_words
from vhostguard.config.macros import Macro
from vhostguard.config.modules import ModuleState, catalog
from vhostguard.config.nodes import ConfigTree, Directive, IncludedFile, LoadedModule
from vhostguard.config.source import ConfigError, ConfigWarning, Source
from vhostguard.config.syntax import Context, argument_error, directive_error, syntax_table

DEFAULT_HTTPD_VERSION = "2.4.71"
MAX_INCLUDE_DEPTH = 128
# httpd's longest configuration line (VARBUF_MAX_LEN in server/config.c). httpd
# applies it before ${VAR} expansion and mod_macro's substitutions and has no
# bound after them; here it bounds what they make too, so that a doubling
# Define chain stops with an error instead of exhausting memory.
MAX_LINE_CHARS = 16 * 1024 * 1024
# Lines all mod_macro expansions of one load may make (a Use of a macro that
# uses another twice, and so on, doubles per level: 25 levels are 2**25 lines,
# which httpd builds until memory runs out). Ten times the largest macro
# config measured (docs/benchmarks.md: 10,000 vhosts); reading that many
# lines takes about a minute.
MAX_MACRO_LINES = 1_000_000
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

    ``defines`` are ``-D NAME[=VALUE]``; ``env_file`` is a Debian-style
    envvars file for ``${VAR}`` (``None``: ``envvars`` beside the main file
    when present, ``""``: none), read without running it unless
    ``trust_env`` (then /bin/sh sources it, as apache2ctl does; only for a
    named ``env_file``); ``environ`` defaults to the process environment.
    """

    server_root: str | None = None
    defines: Mapping[str, str | None] = field(default_factory=dict)
    env_file: str | None = None
    trust_env: bool = False
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
    files: list[IncludedFile] = field(default_factory=list)
    loaded: list[LoadedModule] = field(default_factory=list)
    errors: list[ConfigError] = field(default_factory=list)
    warnings: list[ConfigWarning] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)  # enclosing non-conditional sections
    contexts: list[Context] = field(default_factory=lambda: [Context.of(())])  # [-1]: inside ``sections``
    # Directives no module loaded so far provides, with what their syntax check found: httpd
    # looks directives up only after reading everything (config.c ap_walk_config_sub), so a
    # LoadModule after them still counts; judged at the end by _module_errors.
    unloaded: list[tuple[Source, str, str | None]] = field(default_factory=list)
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
        if not main_file:
            raise ConfigError(None, "the main config file name is empty; name a file, as apache2 -f does")
        environ.update(_env_file_vars(main_path, options))
        nodes = _Reader(state).read_main(main_path)
        _module_errors(state, main_path)
    except _FailFast as stop:
        raise stop.error from None
    except ConfigError as problem:
        if options.fail_fast:
            raise
        state.errors.append(problem)
        nodes = []
    if not nodes and not state.errors:
        # Empty input is an error, not a silent pass (httpd: AH00534, no MPM loaded).
        state.errors.append(ConfigError(
            Source(main_path, 1), "the configuration has no directive at all (empty, comments only, or all inside false conditions); httpd would not start with it",
        ))
        if options.fail_fast:
            raise state.errors[0]
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


def _module_errors(state: _State, main_path: str) -> None:
    """The checks that need the config's module set: only when it loads modules at all.

    A config without any LoadModule is not one httpd starts (no MPM) nor one whose
    modules we know: it is a fragment, or a static build. Its directives of known
    modules are taken as present; misspelled ones are still refused as they are read.
    """
    modules = state.modules
    for source, name, problem in state.unloaded:
        if modules.has_directive(name):
            if problem is not None:
                state.error(source, problem)
            continue
        if modules.unknown_loaded:
            continue  # a module we do not know may provide it: unmodelled, not refused
        module = catalog().module_for_directive(name)
        if module is None:
            state.error(source, _invalid_command(name, None))
        elif state.loaded:
            state.error(source, _invalid_command(name, module.source[:-2]))
    if state.loaded and not modules.has_mpm():
        state.error(Source(main_path, 1), "AH00534: apache2: Configuration error: No MPM loaded. (LoadModule one of "
                                          "mpm_event_module, mpm_worker_module, mpm_prefork_module)")


def _env_file_vars(main_path: str, options: LoadOptions) -> dict[str, str]:
    tree = os.path.dirname(main_path)
    if not options.env_file:
        if options.trust_env:
            raise ConfigError(None, "trusting the environment file needs one named: pass --env-file FILE with --trust-env")
        if options.env_file == "":
            return {}
        beside = os.path.join(tree, "envvars")
        # The default envvars belongs to the tree under audit: read, never run.
        return read_env_file(beside, tree, roots=(tree,)) if os.path.isfile(beside) else {}
    return read_env_file(options.env_file, trusted=options.trust_env, roots=(tree,))


def _read_text(path: str, opened_by: Source | None) -> str:
    try:
        # Non-blocking, so that a FIFO named as a config file cannot stall the open;
        # unbuffered, since the whole file is read at once.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(opened_by, f"Could not open configuration file {path}: No such file or directory") from None
    except PermissionError:
        raise ConfigError(opened_by, f"Could not open configuration file {path}: Permission denied") from None
    except OSError as exc:
        raise ConfigError(opened_by, f"Could not open configuration file {path}: {exc.strerror}") from None
    with open(fd, "rb", buffering=0) as handle:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError(opened_by, f"Could not open configuration file {path}: Is a directory")
        if not stat.S_ISREG(mode):
            # httpd's AH00554 (ap_pcfg_openfile): devices, FIFOs and sockets are refused.
            raise ConfigError(opened_by, f"Access to file {path} denied by server: not a regular file")
        data = handle.read()
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise ConfigError(Source(path, line), "file contains NUL bytes (binary file?); include only text config files")
    return data.decode("utf-8", errors="surrogateescape")


@dataclass
class _Open:
    """A section open while reading: where its children go, and what to restore at its end."""

    name: str
    source: Source
    nodes: list[Directive]  # its children; a conditional shares its parent's list
    conditional: bool
    outer_conditions: tuple[str, ...]  # the conditions in force where it opened
    above: tuple[str, ...] = ()
    arg_text: str = ""


@dataclass
class _Input:
    """The logical lines of one file or one macro expansion, as they are read.

    ``texts[i]`` is a logical line and ``numbers[i]`` its line number. A file
    waiting its turn in an Include has no text yet (``texts`` None): httpd
    reads each file when it gets to it.
    """

    path: str
    texts: list[str] | None
    numbers: Sequence[int]
    macro: tuple[Source, str] | None  # (Use source, description) when reading a macro expansion
    conditions: tuple[str, ...]  # the enclosing true conditionals, outermost first
    opened_by: Source | None = None
    base: int = 0  # how many sections were open when it started
    macro_key: str | None = None
    index: int = 0  # of the next line to read
    comments: list[str] = field(default_factory=list)


class _Reader:
    """Reads the main file and everything it includes in one loop.

    Sections, includes and macro expansions nest as deep as httpd lets them
    (1,000 nested ``<IfModule>`` are fine for ``apache2 -t``), so nothing here
    recurses: open sections and the inputs being read are explicit stacks.
    """

    def __init__(self, state: _State) -> None:
        self.state = state
        self.inputs: list[_Input] = []
        self.open: list[_Open] = []
        self.top: list[Directive] = []
        self.syntax = syntax_table()
        self.expanded_lines = 0

    # -- inputs ----------------------------------------------------------

    def read_main(self, path: str) -> list[Directive]:
        self._push_file(path, None, ())
        self._activate(self.inputs[-1], main=True)
        self._run()
        return self.top

    def _push_file(self, path: str, opened_by: Source | None, conditions: tuple[str, ...]) -> None:
        self.inputs.append(_Input(path, None, (), None, conditions, opened_by, len(self.open)))

    def _open_files(self) -> list[str]:
        return [i.path for i in self.inputs if i.macro is None and i.texts is not None]

    def _activate(self, item: _Input, main: bool = False) -> bool:
        """Read a file's text when its turn comes; False when it cannot be read."""
        state = self.state
        try:
            open_files = self._open_files()
            if item.path in open_files:
                chain = " -> ".join([*open_files[open_files.index(item.path):], item.path])
                raise ConfigError(item.opened_by, f"include loop: {chain}; remove the Include that closes the loop")
            text = _read_text(item.path, item.opened_by)
        except ConfigError as problem:
            if main:
                raise
            state.error(problem.source, problem.message)
            return False
        state.files.append(IncludedFile(item.path, len(open_files), item.opened_by))
        texts, numbers = logical_texts(text)
        if texts and texts[0].startswith("\ufeff"):
            # httpd reads a UTF-8 byte order mark as part of the first word.
            shown = "\\xef\\xbb\\xbf" + next_word(texts[0])[0][1:]
            state.error(
                Source(item.path, numbers[0]),
                f"Invalid command '{shown}', perhaps misspelled or defined by a module not included in the server "
                "configuration (the file starts with a UTF-8 byte order mark: save it without one)",
            )
            texts[0] = texts[0][1:].lstrip(_SPACE)
        item.texts, item.numbers = texts, numbers
        return True

    def _current(self) -> _Input | None:
        """The input to read the next line from, after finishing exhausted ones."""
        inputs = self.inputs
        while inputs:
            item = inputs[-1]
            if item.texts is None and not self._activate(item):
                inputs.pop()
                continue
            assert item.texts is not None
            if item.index < len(item.texts):
                return item
            self._finish(item)
            inputs.pop()
        return None

    def _finish(self, item: _Input) -> None:
        """An input ended: every section still open in it is reported and closed."""
        while len(self.open) > item.base:
            frame = self.open[-1]
            if not frame.conditional:
                # A true <IfModule>/<IfDefine>/... ends with its file: httpd reads its body
                # up to the closing tag or the end of the file, whichever comes first.
                self.state.error(frame.source, f"<{frame.name}> is never closed: expected </{frame.name}> before the end of {item.path}")
            self._end_section(item)
        if item.macro_key is not None:
            self.state.macros_in_use.remove(item.macro_key)

    def _target(self) -> list[Directive]:
        return self.open[-1].nodes if self.open else self.top

    # -- structure -------------------------------------------------------

    def _run(self) -> None:
        state = self.state
        while (item := self._current()) is not None:
            texts = item.texts
            assert texts is not None
            text = texts[item.index]
            item.index += 1
            if not text:
                item.comments = []
                continue
            if text.startswith("#"):
                item.comments.append(text)
                continue
            above: tuple[str, ...] = ()
            if item.comments:
                above, item.comments = tuple(item.comments), []
            number = item.numbers[item.index - 1]
            macro = item.macro
            if macro is None:
                src = Source(item.path, number)
            else:  # the Use line, and the line within the expansion
                src = Source(macro[0].file, macro[0].line, f"{macro[1]}:{number}")
            if "$" in text:
                text = expand_variables(text, state.variables(), state.environ, partial(self._undefined, src))
                if len(text) > MAX_LINE_CHARS:
                    state.error(src, f"Line too long after ${{VAR}} expansion (more than {MAX_LINE_CHARS} characters); "
                                     "check the Define or variable it uses")
                    continue
            name, rest, words = split_directive(text)
            if name.startswith("</"):
                self._close(item, name, src)
                continue
            if name.startswith("<"):
                self._section(item, name, rest, src, above)
                continue
            node = Directive(name, tuple(words), src, None, item.conditions, above, rest)
            self._check_syntax(name, node.key, words, src)
            if node.key in _EXECUTED_ON_READ:
                self._target().extend(self._execute(item, node))
            else:
                self._target().append(node)

    def _check_syntax(self, name: str, key: str, args: Sequence[str], src: Source) -> None:
        """Is the directive known, with arguments of its kind, in a context it allows?"""
        state = self.state
        context = state.contexts[-1]
        if context.override is None or key in _EXECUTED_ON_READ:
            # Inside a section whose body we do not know how httpd reads (<Perl>, <Lua...>);
            # or read by _execute, which words its argument errors with _argument_error.
            return
        spec = self.syntax.get(key)
        problem = None
        if spec is not None and spec.judged and not (
            # The quick path (most lines): a context its mask allows, no handler check that
            # could refuse it here, and a word count its kind surely takes.
            spec.override & context.override and not spec.forbidden & context.exposed
            and spec.least <= len(args) <= spec.most and "" not in args
        ):
            problem = directive_error(spec, args, context)
        if not state.modules.has_key(key):
            state.unloaded.append((src, name, problem))  # judged at the end, see _module_errors
        elif problem is not None:
            state.error(src, problem)

    def _undefined(self, src: Source, name: str) -> None:
        self.state.warn(src, f"Config variable ${{{name}}} is not defined")

    def _close(self, item: _Input, name: str, src: Source) -> None:
        """Handle ``</Name>``."""
        if len(self.open) <= item.base:
            self.state.error(src, f"{name} without matching <{name[2:].rstrip('>')} section")
            return
        frame = self.open[-1]
        if not name.endswith(">"):
            self.state.error(src, f"{name}> directive missing closing '>'")
        elif name[2:-1].lower() != frame.name.lower():
            self.state.error(
                src, f"Expected </{frame.name}> but saw {name} (section opened at {frame.source})"
            )
        self._end_section(item)

    def _end_section(self, item: _Input) -> None:
        frame = self.open.pop()
        if frame.conditional:
            item.conditions = frame.outer_conditions
            return
        self.state.sections.pop()
        self.state.contexts.pop()
        self._target().append(Directive(
            frame.name, tuple(split_words(frame.arg_text)), frame.source, tuple(frame.nodes),
            frame.outer_conditions, frame.above, frame.arg_text,
        ))

    def _section(self, item: _Input, word: str, rest: str, src: Source, above: tuple[str, ...]) -> None:
        name = word[1:-1] if word.endswith(">") else word[1:]
        if word.endswith(">") or not rest:
            rest = rest if rest else ">"
        end = rest.rfind(">")
        if end < 0:
            self.state.error(src, f"<{name}> directive missing closing '>'")
            arg_text = rest
        else:
            arg_text = rest[:end].strip()
        key = name.lower()
        misplaced = placement_error(key, self.state.sections)
        if misplaced is not None:
            self.state.error(src, misplaced)
        if key in CONDITIONAL_SECTIONS:
            self._conditional(item, name, arg_text, src)
            return
        if key != "macro":
            self._check_syntax(f"<{name}", f"<{key}", (), src)
        if key == "macro":
            if not self.state.modules.has_directive("<Macro"):
                self.state.error(src, _invalid_command("<Macro", "mod_macro"))
                self._skip_macro(item)
                return
            self._define_macro(item, arg_text, src)
            return
        self.state.sections.append(name)
        self.state.contexts.append(self.state.contexts[-1].enter(name))
        self.open.append(_Open(name, src, [], False, item.conditions, above, arg_text))

    def _conditional(self, item: _Input, name: str, arg_text: str, src: Source) -> None:
        try:
            chosen = evaluate(name, arg_text, self.state.condition_context())
        except ConditionError as problem:
            self.state.error(src, str(problem))
            chosen = False
        if not chosen:
            self._skip_section(item, name, src)
            return
        self.open.append(_Open(name, src, self._target(), True, item.conditions))
        item.conditions = (*item.conditions, f"{name} {arg_text}".strip())

    def _skip_section(self, item: _Input, name: str, src: Source) -> None:
        """Skip a false conditional's body unread, like ``ap_soak_end_container``."""
        texts = item.texts
        assert texts is not None
        depth = 0
        while item.index < len(texts):
            text = texts[item.index]
            item.index += 1
            if not text.startswith("<"):
                continue
            word, _ = next_word(text)
            if word.startswith("</"):
                if depth == 0:
                    return
                depth -= 1
            else:
                depth += 1
        self.state.error(src, f"<{name}> is never closed: expected </{name}> before the end of {item.path}")

    # -- directives executed while reading ---------------------------------

    def _execute(self, item: _Input, node: Directive) -> list[Directive]:
        """Carry out a directive in ``_EXECUTED_ON_READ``; the nodes it stands for in the tree."""
        key, name, args, src = node.key, node.name, node.args, node.source
        if key in ("include", "includeoptional"):
            self._include(item, node, optional=key == "includeoptional")
            return []
        if key in ("use", "undefmacro") and not self.state.modules.has_directive(key):
            self.state.error(src, _invalid_command(name, "mod_macro"))
            return []
        if key == "use":
            self._use(item, node)
            return []
        if key == "undefmacro":
            if not args or self.state.macros.pop(args[0].lower(), None) is None:
                self.state.warn(src, f"cannot remove undefined macro '{args[0] if args else ''}'")
            return []
        if key in ("define", "undefine") and self.state.sections and self.state.sections[-1].lower() != "virtualhost":
            self.state.error(src, f"{name} is not valid in <{self.state.sections[-1]} context")
            return [node]
        if key == "define":
            return self._define(node)
        if key == "serverroot":
            self._server_root(node)
            return [node]
        if (problem := _argument_error(node)) is not None:  # UnDefine, LoadModule
            self.state.error(src, problem)
            return [node]
        if key == "undefine":
            self.state.undefine(args[0])
            return [node]
        if key == "loadmodule":
            self.state.loaded.append(LoadedModule(args[0], server_root_relative(self.state.server_root, args[1]), src))
            if not self.state.modules.load(args[0]):
                self.state.warn(src, f"module {args[0]} is already loaded, skipping")
        return [node]

    def _define(self, node: Directive) -> list[Directive]:
        if (problem := _argument_error(node)) is not None:
            self.state.error(node.source, problem)
            return [node]
        if ":" in node.args[0]:
            self.state.error(node.source, "Variable name must not contain ':'")
            return [node]
        self.state.define(node.args[0], node.args[1] if len(node.args) == 2 else self.state.defines.get(node.args[0]))
        return [node]

    def _server_root(self, node: Directive) -> None:
        if (problem := _argument_error(node)) is not None:
            self.state.error(node.source, problem)
            return
        root = os.path.normpath(os.path.join(self.state.server_root, node.args[0]))
        if not os.path.isdir(root):
            self.state.warn(node.source, f"ServerRoot {root} is not a directory here; relative paths resolve against it anyway")
        self.state.server_root = root

    def _include(self, item: _Input, node: Directive, optional: bool) -> None:
        if (problem := _argument_error(node)) is not None:
            self.state.error(node.source, problem)
            return
        state = self.state
        if len(self._open_files()) > MAX_INCLUDE_DEPTH:
            state.error(node.source, f"Exceeded maximum include depth of {MAX_INCLUDE_DEPTH}, There appears to be a recursion.")
            return
        target = server_root_relative(state.server_root, node.args[0])
        try:
            paths = expand_include(target, optional)
        except IncludeError as problem:
            state.error(node.source, str(problem))
            return
        # Pushed last file first: each is read when the one before it is done.
        for path in reversed(paths):
            self._push_file(path, node.source, item.conditions)

    def _define_macro(self, item: _Input, arg_text: str, src: Source) -> None:
        texts = item.texts
        assert texts is not None
        words = split_words(arg_text)
        body_start = item.index
        if not self._skip_macro(item):
            self.state.error(src, f"<Macro> is never closed: expected </Macro> before the end of {item.path}")
            return
        if not words:
            self.state.error(src, "<Macro> needs a name: <Macro name [$param ...]>")
            return
        body_end = item.index - 1
        body = tuple(map(LogicalLine, item.numbers[body_start:body_end], texts[body_start:body_end]))
        macro = Macro(words[0], tuple(words[1:]), body, src)
        if words[0].lower() in self.state.macros:
            self.state.warn(src, f"macro '{words[0]}' redefined")
        self.state.macros[words[0].lower()] = macro

    @staticmethod
    def _skip_macro(item: _Input) -> bool:
        """Move past a ``<Macro>`` body and its ``</Macro>``; False when it is never closed."""
        texts = item.texts
        assert texts is not None
        depth = 0
        while item.index < len(texts):
            text = texts[item.index]
            item.index += 1
            word = next_word(text)[0].lower() if text.startswith("<") else ""
            if word.startswith("<macro"):
                depth += 1
            elif word.startswith("</macro"):
                if depth == 0:
                    return True
                depth -= 1
        return False

    def _use(self, item: _Input, node: Directive) -> None:
        state = self.state
        if not node.args:
            state.error(node.source, "Use needs a macro name: Use name [value ...]")
            return
        name = node.args[0]
        key = name.lower()
        macro = state.macros.get(key)
        if macro is None:
            state.error(node.source, f"macro '{name}' undefined")
            return
        values = list(node.args[1:])
        if len(values) != len(macro.params):
            state.error(
                node.source,
                f"macro '{macro.name}' (defined on line {macro.source.line} of \"{macro.source.file}\") used with "
                f"{len(values)} arguments instead of {len(macro.params)}",
            )
            return
        if key in state.macros_in_use:
            state.error(node.source, f"recursive use of macro '{macro.name}' is invalid")
            return
        if self.expanded_lines > MAX_MACRO_LINES:
            return  # reported once, at the Use that went over
        self.expanded_lines += len(macro.templates)
        if self.expanded_lines > MAX_MACRO_LINES:
            state.error(node.source, f"macro expansions make more than {MAX_MACRO_LINES} lines; "
                                     "check for Use lines that multiply (a macro that uses another several times)")
            return
        lines = macro.expand(values)
        if sum(map(len, lines)) > MAX_LINE_CHARS:
            state.error(node.source, f"expanding macro '{macro.name}' makes more than {MAX_LINE_CHARS} characters")
            return
        use = node.source  # the Use line's file and line, without any expansion it sits in
        use_source = use if use.macro is None else Source(use.file, use.line)
        description = macro.description(self._named_at(item, node.source))
        state.macros_in_use.append(key)
        self.inputs.append(_Input(
            item.path, lines, range(1, len(lines) + 1), (use_source, description), item.conditions,
            base=len(self.open), macro_key=key,
        ))

    @staticmethod
    def _named_at(item: _Input, use: Source) -> Source:
        """Where httpd says a Use is: inside another expansion, that expansion is the "file"."""
        if item.macro is None or use.macro is None:
            return use if use.macro is None else Source(use.file, use.line)
        return Source(item.macro[1], int(use.macro.rsplit(":", 1)[1]))


def _argument_error(node: Directive) -> str | None:
    """httpd's argument-count error for a directive the loader runs itself (Include, Define, ...)."""
    spec = syntax_table().get(node.key)
    return argument_error(spec, node.args) if spec is not None else None


def _invalid_command(name: str, module: str | None) -> str:
    """httpd's words for a directive no loaded module provides, with which module would."""
    words = f"Invalid command '{name}', perhaps misspelled or defined by a module not included in the server configuration"
    if module is None:
        return f"{words} (no module of httpd 2.4 knows it: check the spelling)"
    return f"{words} (LoadModule the {module} module first)"

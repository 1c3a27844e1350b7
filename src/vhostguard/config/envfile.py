"""Read a Debian-style ``envvars`` file for the variables apache2ctl exports.

apache2ctl sources envvars with /bin/sh. A config tree under audit may come
from anyone, so by default the file is not run: it is read as the small shell
subset Debian's envvars is written in (assignments, ``export``, ``unset``,
``if [ ... ]; then ... else ... fi``, ``${VAR}``/``${VAR:-default}``/
``${VAR##prefix}`` expansions, quoting, ``. FILE`` of a file inside the
configuration tree), with /bin/sh's (dash's) meaning. Anything else is
reported as unsupported at file:line. Only ``trusted=True`` (``--env-file
FILE --trust-env``) sources the file with /bin/sh, as apache2ctl does.
"""
from __future__ import annotations

import os
import re
import signal
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field

from vhostguard.config.source import ConfigError, Source

_SHELL_NOISE = {"PWD", "SHLVL", "_", "OLDPWD"}
_CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
_TRUST_HINT = "pass --env-file FILE --trust-env to source it with /bin/sh"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEYWORDS = frozenset({"if", "then", "elif", "else", "fi"})
_UNSUPPORTED_KEYWORDS = frozenset({"for", "while", "until", "case", "do", "done", "esac", "in", "{", "}", "!", "function"})
MAX_ENV_FILE_BYTES = 1 << 20  # an envvars file is a few kB; more is not one
MAX_SOURCE_DEPTH = 16  # ". FILE" nesting (dash has none: a file sourcing itself never ends)
MAX_VALUE_CHARS = 1 << 20


def read_env_file(
    path: str,
    confdir: str | None = None,
    *,
    trusted: bool = False,
    roots: Sequence[str] = (),
    timeout: float = 10.0,
) -> dict[str, str]:
    """The variables ``path`` exports, as apache2ctl would see them.

    ``APACHE_CONFDIR`` is preset as apache2ctl presets it (``confdir``, by
    default the file's directory), since Debian's envvars derives a suffix
    from it. Untrusted (the default), the file is interpreted, never run;
    ``. FILE`` may read only files under ``roots`` or the file's own
    directory. ``trusted`` sources it with /bin/sh (its whole process group
    is killed after ``timeout`` seconds). Raises ConfigError naming
    file:line for what cannot be read.
    """
    if not os.path.isfile(path):
        raise ConfigError(Source(path, 0), "environment file not found; pass --env-file with an existing file")
    confdir = confdir or os.path.dirname(os.path.abspath(path))
    if trusted:
        return _run_shell(path, confdir, timeout)
    allowed = tuple(os.path.realpath(r) for r in (*roots, os.path.dirname(os.path.abspath(path))))
    shell = _Shell(allowed)
    shell.assign("PATH", _CLEAN_PATH, export=True)
    shell.assign("APACHE_CONFDIR", confdir, export=True)
    shell.source(os.path.abspath(path), None)
    return shell.exported()


def _run_shell(path: str, confdir: str, timeout: float) -> dict[str, str]:
    import subprocess  # imported here: only --trust-env pays for it

    env = {"PATH": _CLEAN_PATH, "APACHE_CONFDIR": confdir}
    script = '. "$1" >/dev/null 2>&1 || exit 3; env -0'
    try:
        # A session of its own, so that a timeout ends everything the file started.
        proc = subprocess.Popen(
            ["/bin/sh", "-c", script, "sh", os.path.abspath(path)], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
        )
    except OSError as exc:
        raise ConfigError(Source(path, 0), f"could not source environment file: {exc.strerror}") from None
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.kill()
        try:
            proc.communicate(timeout=2)
        except subprocess.TimeoutExpired:
            pass  # a descendant that left the group still holds the pipe: stop reading
        raise ConfigError(
            Source(path, 0), f"sourcing the environment file with /bin/sh took more than {timeout:g} s; it was stopped"
        ) from None
    finally:
        _kill_group(proc.pid)  # what the file left running in the background goes too
    if proc.returncode != 0:
        raise ConfigError(Source(path, 0), "sourcing the environment file with /bin/sh failed; check its shell syntax")
    result: dict[str, str] = {}
    for item in out.split(b"\0"):
        if b"=" not in item:
            continue
        key, _, value = item.partition(b"=")
        name = os.fsdecode(key)
        if name not in _SHELL_NOISE and name != "PATH":
            result[name] = os.fsdecode(value)
    return result


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# -- the shell subset -----------------------------------------------------------


class _Unsupported(Exception):
    def __init__(self, line: int, what: str) -> None:
        super().__init__(what)
        self.line = line
        self.what = what


@dataclass(frozen=True, slots=True)
class _Lit:
    text: str
    quoted: bool


@dataclass(frozen=True, slots=True)
class _Param:
    name: str
    op: str  # "", ":-", "-", ":+", "+", "#", "##", "%", "%%", "len"
    word: tuple[_Lit | _Param, ...]
    quoted: bool


_Part = _Lit | _Param


@dataclass(frozen=True, slots=True)
class _Command:
    line: int
    words: tuple[tuple[_Part, ...], ...]


@dataclass(frozen=True, slots=True)
class _Keyword:
    line: int
    word: str


class _Lexer:
    """Splits shell text into simple commands and if/then/elif/else/fi keywords."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1

    def fail(self, what: str) -> _Unsupported:
        return _Unsupported(self.line, what)

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def advance(self) -> str:
        char = self.text[self.pos]
        self.pos += 1
        if char == "\n":
            self.line += 1
        return char

    def items(self) -> list[_Command | _Keyword]:
        out: list[_Command | _Keyword] = []
        while self.pos < len(self.text):
            line = self.line
            words = self.command_words()
            while words and len(words[0]) == 1 and isinstance(words[0][0], _Lit) and not words[0][0].quoted:
                first = words[0][0].text
                if first in _UNSUPPORTED_KEYWORDS or first.endswith("()"):
                    raise _Unsupported(line, f"'{first}'")
                if first not in _KEYWORDS:
                    break
                out.append(_Keyword(line, first))
                words = words[1:]
            if words:
                out.append(_Command(line, tuple(words)))
            if self.pos < len(self.text):
                self.advance()  # the ';' or newline that ended the command
        return out

    def command_words(self) -> list[tuple[_Part, ...]]:
        words: list[tuple[_Part, ...]] = []
        while self.pos < len(self.text):
            char = self.peek()
            if char in " \t":
                self.advance()
            elif char == "\\" and self.peek(1) == "\n":
                self.advance()
                self.advance()
            elif char == "#":
                while self.pos < len(self.text) and self.peek() != "\n":
                    self.advance()
            elif char in "\n;":
                if char == ";" and self.peek(1) == ";":
                    raise self.fail("';;'")
                return words
            else:
                words.append(self.word())
        return words

    def word(self) -> tuple[_Part, ...]:
        parts: list[_Part] = []
        plain: list[str] = []

        def flush(quoted: bool = False) -> None:
            if plain:
                parts.append(_Lit("".join(plain), quoted))
                plain.clear()

        while self.pos < len(self.text):
            char = self.peek()
            if char in " \t\n;":
                break
            if char in "|&<>()`":
                raise self.fail(f"'{char}' (pipes, redirections, subshells and command substitution)")
            if char == "\\":
                self.advance()
                if self.peek() == "\n":
                    self.advance()
                    continue
                flush()
                if self.pos < len(self.text):
                    parts.append(_Lit(self.advance(), True))
                continue
            if char == "'":
                flush()
                parts.append(self.single_quoted())
                continue
            if char == '"':
                flush()
                self.advance()
                parts.extend(self.double_quoted())
                continue
            if char == "$":
                param = self.dollar(quoted=False)
                if param is not None:
                    flush()
                    parts.append(param)
                    continue
                plain.append(self.advance())
                continue
            plain.append(self.advance())
        flush()
        return tuple(parts)

    def single_quoted(self) -> _Lit:
        """The text of a '...' word part, the opening quote being next: taken as it is."""
        self.advance()
        start = self.pos
        while self.pos < len(self.text) and self.peek() != "'":
            self.advance()
        if self.pos >= len(self.text):
            raise self.fail("an unterminated single quote")
        text = self.text[start : self.pos]
        self.advance()
        return _Lit(text, True)

    def double_quoted(self) -> list[_Part]:
        parts: list[_Part] = []
        plain: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise self.fail("an unterminated double quote")
            char = self.peek()
            if char == '"':
                self.advance()
                break
            if char == "`":
                raise self.fail("'`' (command substitution)")
            if char == "\\" and self.peek(1) in '$`"\\\n':
                self.advance()
                escaped = self.advance()
                if escaped != "\n":
                    plain.append(escaped)
                continue
            if char == "$":
                param = self.dollar(quoted=True)
                if param is not None:
                    if plain:
                        parts.append(_Lit("".join(plain), True))
                        plain.clear()
                    parts.append(param)
                    continue
            plain.append(self.advance())
        parts.append(_Lit("".join(plain), True))
        return parts

    def dollar(self, quoted: bool) -> _Param | None:
        """An expansion at ``$``, or None when the ``$`` is a literal dollar sign."""
        after = self.peek(1)
        if after == "(":
            raise self.fail("'$(' (command substitution or arithmetic)")
        if after and (after.isdigit() or after in "?$!#*@-"):
            raise self.fail(f"'${after}' (special parameters)")
        found = _NAME.match(self.text, self.pos + 1)
        if found:
            self.pos = found.end()
            return _Param(found.group(0), "", (), quoted)
        if after != "{":
            return None
        self.pos += 2
        length = self.peek() == "#" and bool(_NAME.match(self.text, self.pos + 1))
        if length:
            self.pos += 1
        found = _NAME.match(self.text, self.pos)
        if not found:
            raise self.fail("this ${...} expansion")
        name = found.group(0)
        self.pos = found.end()
        if length:
            if self.peek() != "}":
                raise self.fail("this ${#...} expansion")
            self.pos += 1
            return _Param(name, "len", (), quoted)
        op = ""
        for candidate in (":-", ":+", "##", "%%", "-", "+", "#", "%", ""):
            if self.text.startswith(candidate, self.pos):
                op = candidate
                break
        self.pos += len(op)
        if not op:
            if self.peek() != "}":
                raise self.fail(f"'${{{name}{self.peek()}' (only :-, -, :+, +, #, ##, %, %% are read)")
            self.pos += 1
            return _Param(name, "", (), quoted)
        return _Param(name, op, self.brace_word(quoted), quoted)

    def brace_word(self, quoted: bool) -> tuple[_Part, ...]:
        """The word after the operator of ``${NAME<op>word}``, up to its ``}``."""
        parts: list[_Part] = []
        plain: list[str] = []

        def flush() -> None:
            if plain:
                parts.append(_Lit("".join(plain), quoted))
                plain.clear()

        while True:
            if self.pos >= len(self.text):
                raise self.fail("an unterminated ${...}")
            char = self.peek()
            if char == "}":
                self.advance()
                flush()
                return tuple(parts)
            if char == "`":
                raise self.fail("'`' (command substitution)")
            if char == "\\":
                self.advance()
                flush()
                if self.pos < len(self.text):
                    parts.append(_Lit(self.advance(), True))
                continue
            if char == "'" and not quoted:
                flush()
                parts.append(self.single_quoted())
                continue
            if char == '"':
                flush()
                self.advance()
                parts.extend(self.double_quoted())
                continue
            if char == "$":
                param = self.dollar(quoted)
                if param is not None:
                    flush()
                    parts.append(param)
                    continue
            plain.append(self.advance())


@dataclass
class _Shell:
    roots: tuple[str, ...]
    values: dict[str, str] = field(default_factory=dict)
    exports: set[str] = field(default_factory=set)
    sourcing: list[str] = field(default_factory=list)

    def assign(self, name: str, value: str, export: bool = False) -> None:
        self.values[name] = value
        if export:
            self.exports.add(name)

    def exported(self) -> dict[str, str]:
        return {
            name: self.values[name]
            for name in sorted(self.exports)
            if name in self.values and name != "PATH" and name not in _SHELL_NOISE
        }

    # -- files ---------------------------------------------------------------

    def source(self, path: str, by: Source | None) -> None:
        if len(self.sourcing) >= MAX_SOURCE_DEPTH:
            raise ConfigError(by, f"'. {path}' nests more than {MAX_SOURCE_DEPTH} files deep; {_TRUST_HINT}")
        try:
            # Non-blocking: a FIFO must not stall the open before it is refused.
            with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as handle:
                if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                    raise ConfigError(by or Source(path, 0), f"{path} is not a regular file")
                data = handle.read(MAX_ENV_FILE_BYTES + 1)
        except OSError as exc:
            raise ConfigError(by or Source(path, 0), f"could not read environment file {path}: {exc.strerror}") from None
        if len(data) > MAX_ENV_FILE_BYTES:
            raise ConfigError(Source(path, 0), f"environment file is larger than {MAX_ENV_FILE_BYTES} bytes; {_TRUST_HINT}")
        if b"\0" in data:
            raise ConfigError(Source(path, data[: data.index(b"\0")].count(b"\n") + 1), "environment file contains NUL bytes")
        text = data.decode("utf-8", errors="surrogateescape")
        self.sourcing.append(path)
        try:
            items = _Lexer(text).items()
            position = self.block(path, items, 0, frozenset())
            if position < len(items):
                item = items[position]
                raise _Unsupported(item.line, f"'{item.word}' without its 'if'" if isinstance(item, _Keyword) else "this line")
        except _Unsupported as problem:
            raise ConfigError(
                Source(path, problem.line),
                f"{problem.what} is not supported in an environment file read without a shell "
                f"(assignments, export, unset, '.', if [ ... ] are); {_TRUST_HINT}",
            ) from None
        finally:
            self.sourcing.pop()

    # -- control flow --------------------------------------------------------

    def block(self, path: str, items: list[_Command | _Keyword], pos: int, stop: frozenset[str], run: bool = True) -> int:
        """Run (or, with ``run`` False, skip) items from ``pos`` up to a keyword in ``stop``; the position of that keyword."""
        while pos < len(items):
            item = items[pos]
            if isinstance(item, _Keyword):
                if item.word in stop:
                    return pos
                if item.word != "if":
                    raise _Unsupported(item.line, f"'{item.word}' without its 'if'")
                pos = self.if_statement(path, items, pos + 1, item.line, run)
                continue
            if run:
                self.command(path, item)
            pos += 1
        if stop:
            last = items[-1].line if items else 1
            raise _Unsupported(last, "an 'if' without its 'fi'")
        return pos

    def if_statement(self, path: str, items: list[_Command | _Keyword], pos: int, line: int, run: bool) -> int:
        taken = False
        while True:
            status, pos = self.condition(path, items, pos, line, run and not taken)
            pos = self.expect(items, pos, "then", line)
            chosen = run and not taken and status == 0
            pos = self.block(path, items, pos, frozenset({"elif", "else", "fi"}), chosen)
            taken = taken or chosen
            word = items[pos].word  # type: ignore[union-attr]  # block stops at a keyword
            pos += 1
            if word == "elif":
                continue
            if word == "else":
                pos = self.block(path, items, pos, frozenset({"fi"}), run and not taken)
                pos += 1
            return pos

    def condition(self, path: str, items: list[_Command | _Keyword], pos: int, line: int, run: bool) -> tuple[int, int]:
        status = 0
        start = pos
        while pos < len(items) and isinstance(items[pos], _Command):
            if run:
                status = self.command(path, items[pos])  # type: ignore[arg-type]
            pos += 1
        if pos == start:
            raise _Unsupported(line, "an empty 'if' condition")
        return status, pos

    @staticmethod
    def expect(items: list[_Command | _Keyword], pos: int, word: str, line: int) -> int:
        if pos >= len(items) or not isinstance(items[pos], _Keyword) or items[pos].word != word:  # type: ignore[union-attr]
            raise _Unsupported(items[pos].line if pos < len(items) else line, f"an 'if' without '{word}'")
        return pos + 1

    # -- simple commands -----------------------------------------------------

    def command(self, path: str, command: _Command) -> int:  # noqa: C901 - one branch per builtin of the shell subset
        words = list(command.words)
        if all(_is_assignment(word) for word in words):
            for word in words:  # one after the other: B=$A sees the A assigned before it
                name, value = self.assignment(word, command.line)  # type: ignore[misc]
                self.assign(name, value)
            return 0
        if _is_assignment(words[0]):
            raise _Unsupported(command.line, "an assignment before a command")
        name = self.plain_word(words[0], command.line)
        args = words[1:]
        if name == "export":
            return self.export(args, command.line)
        if name == "unset":
            values = [self.plain_word(w, command.line) for w in args]
            if values and values[0] == "-v":
                values = values[1:]
            for value in values:
                if not _NAME.fullmatch(value):
                    raise _Unsupported(command.line, f"'unset {value}'")
                self.values.pop(value, None)
                self.exports.discard(value)
            return 0
        if name in ("true", ":") and not args:
            return 0
        if name == "false" and not args:
            return 1
        if name in ("[", "test"):
            values = [self.plain_word(w, command.line) for w in args]
            if name == "[":
                if not values or values[-1] != "]":
                    raise _Unsupported(command.line, "'[' without its ']'")
                values = values[:-1]
            return 0 if _test(values, command.line) else 1
        if name == ".":
            if len(args) != 1:
                raise _Unsupported(command.line, "'.' with other than one file")
            self.dot(path, self.plain_word(args[0], command.line), command.line)
            return 0
        raise _Unsupported(command.line, f"the command '{name}'")

    def export(self, args: list[tuple[_Part, ...]], line: int) -> int:
        # Every argument is expanded before any is assigned: export is a command.
        expanded: list[tuple[str, str | None]] = []
        for word in args:
            assignment = self.assignment(word, line)
            if assignment is not None:
                expanded.append(assignment)
                continue
            name = self.plain_word(word, line)
            if not _NAME.fullmatch(name):
                raise _Unsupported(line, f"'export {name}'")
            expanded.append((name, None))
        for name, value in expanded:
            if value is not None:
                self.values[name] = value
            self.exports.add(name)
        return 0

    def dot(self, path: str, target: str, line: int) -> None:
        if not os.path.isabs(target):
            # dash looks a name without '/' up in PATH, and a relative one in the working directory.
            raise _Unsupported(line, f"'. {target}' (a relative path)")
        real = os.path.realpath(target)
        if not any(real == root or real.startswith(root.rstrip("/") + "/") for root in self.roots):
            raise _Unsupported(line, f"'. {target}' (a file outside the configuration tree)")
        self.source(real, Source(path, line))

    # -- words ---------------------------------------------------------------

    def assignment(self, word: tuple[_Part, ...], line: int) -> tuple[str, str] | None:
        if not _is_assignment(word):
            return None
        head = word[0].text  # type: ignore[union-attr]  # _is_assignment: the first part is a _Lit
        found = re.match(r"([A-Za-z_][A-Za-z0-9_]*)=", head)
        if not found:
            return None
        rest = head[found.end():]
        if rest.startswith("~"):
            raise _Unsupported(line, "'~' (tilde expansion)")
        value_parts = ((_Lit(rest, False),) if rest else ()) + word[1:]
        return found.group(1), self.expand(value_parts, line)  # assignments are neither split nor globbed

    def plain_word(self, word: tuple[_Part, ...], line: int) -> str:
        """A command word, refused where field splitting or pathname expansion could change it."""
        for part in word:
            if isinstance(part, _Lit) and not part.quoted and (re.search(r"[*?]", part.text) or part.text.startswith("~")):
                raise _Unsupported(line, f"'{part.text}' (pathname or tilde expansion)")
            if isinstance(part, _Param) and not part.quoted:
                value = self.param(part, line)
                if not value or re.search(r"[\s*?\[]", value):
                    raise _Unsupported(line, f"an unquoted ${{{part.name}}} whose value would be split or globbed; quote it")
        text = self.expand(word, line)
        if "[" in text and text != "[" and any(isinstance(p, _Lit) and not p.quoted and "[" in p.text for p in word):
            raise _Unsupported(line, f"'{text}' (pathname expansion)")
        return text

    def expand(self, word: Sequence[_Part], line: int) -> str:
        out: list[str] = []
        size = 0
        for part in word:
            piece = part.text if isinstance(part, _Lit) else self.param(part, line)
            size += len(piece)
            if size > MAX_VALUE_CHARS:
                raise _Unsupported(line, f"a value longer than {MAX_VALUE_CHARS} characters")
            out.append(piece)
        return "".join(out)

    def param(self, part: _Param, line: int) -> str:
        value = self.values.get(part.name)
        op = part.op
        if op == "":
            return value or ""
        if op == "len":
            return str(len(value or ""))
        if op in (":-", "-"):
            use_default = value is None or (op == ":-" and value == "")
            return self.expand(part.word, line) if use_default else value or ""
        if op in (":+", "+"):
            use_alternative = value is not None and (op == "+" or value != "")
            return self.expand(part.word, line) if use_alternative else ""
        value = value or ""
        matches = _pattern(part.word, self, line).fullmatch
        if op in ("#", "##"):
            cuts = range(len(value) + 1) if op == "#" else range(len(value), -1, -1)
            for cut in cuts:
                if matches(value[:cut]):
                    return value[cut:]
            return value
        cuts = range(len(value), -1, -1) if op == "%" else range(len(value) + 1)
        for cut in cuts:
            if matches(value[cut:]):
                return value[:cut]
        return value


def _is_assignment(word: tuple[_Part, ...]) -> bool:
    first = word[0] if word else None
    return isinstance(first, _Lit) and not first.quoted and re.match(r"[A-Za-z_][A-Za-z0-9_]*=", first.text) is not None


def _pattern(word: Sequence[_Part], shell: _Shell, line: int) -> re.Pattern[str]:
    """A ``${VAR#pattern}`` pattern as a regex: unquoted text is a glob, quoted text literal."""
    pieces: list[str] = []
    for part in word:
        if isinstance(part, _Lit):
            pieces.append(re.escape(part.text) if part.quoted else _glob(part.text))
        else:
            value = shell.param(part, line)
            pieces.append(re.escape(value) if part.quoted else _glob(value))
    return re.compile("".join(pieces), re.DOTALL)


def _glob(text: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        index += 1
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            end = text.find("]", index + 1 if text[index : index + 1] in ("!", "]") else index)
            if end < 0:
                out.append(re.escape(char))
                continue
            body = text[index:end]
            index = end + 1
            negate = body.startswith("!")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\").replace("[", "\\[") + "]")
        else:
            out.append(re.escape(char))
    return "".join(out)


def _test(args: list[str], line: int) -> bool:
    """``test``/``[`` for string comparisons and the file tests that only look."""
    if args and args[0] == "!":
        return not _test(args[1:], line)
    if not args:
        return False
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        op, operand = args
        if op == "-z":
            return operand == ""
        if op == "-n":
            return operand != ""
        if op in ("-e", "-f", "-d"):
            check = {"-e": os.path.exists, "-f": os.path.isfile, "-d": os.path.isdir}[op]
            return check(operand)
    if len(args) == 3:
        left, op, right = args
        if op == "=":
            return left == right
        if op == "!=":
            return left != right
        if op in ("-eq", "-ne", "-lt", "-le", "-gt", "-ge"):
            try:
                a, b = int(left), int(right)
            except ValueError:
                raise _Unsupported(line, f"'{left} {op} {right}' (not integers)") from None
            return {"-eq": a == b, "-ne": a != b, "-lt": a < b, "-le": a <= b, "-gt": a > b, "-ge": a >= b}[op]
    raise _Unsupported(line, f"the test '[ {' '.join(args)} ]'")

"""Compile an Apache ``LogFormat`` string into a fast line parser.

``compile_format(fmt)`` reads the format exactly as mod_log_config does
(``parse_log_item``: modifiers ``!``, ``<``, ``>``, status lists, ``{arg}``,
``%%``, the ``\\n \\t \\r \\\\`` escapes of literal text) and returns a
:class:`LogFormat` whose ``parse(line)`` gives one record: a dict with the
keys of CONTRACT.md (``logs --jsonl``), a logged ``-`` being None.

Records are plain dicts, not dataclasses: their keys depend on the format,
they are what ``--jsonl`` prints, and building one is the main per-line cost
(a frozen dataclass per line costs about twice as much in CPython).

How a line is read, fastest first (every path gives the same record):

1. the *split path*, for lines without a backslash (httpd writes one only
   to escape a value): ``line.split('"')``, then each unquoted piece split
   on spaces, token counts and literals checked, numbers checked. Any
   surprise hands the line to
2. the *regex path*: one compiled regex with a group per field (a value
   between quotes is matched as httpd escapes it, so ``\\"`` never ends it);
   when it fails, a lenient regex lets up to two unquoted values that may
   hold a space (``%u``, ``%{X}i``...) hold one; values are unescaped.
3. A line neither regex matches raises :class:`LineError` saying what was
   expected at which column.

The split and convert steps are generated as Python source per format
(straight-line code, no per-field loop): that is what makes CPython fast
here. The generated source is kept on ``LogFormat.source`` for reading.
The format comes from a tree under audit: none of its text is ever written
into that source; literals and header names are constants of the generated
functions' globals under names we number (``_Compiler.const``), and every
compiled code object is checked to name and hold nothing else (``_code``).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import CodeType
from typing import Any, cast

from vhostguard.logs import directives as d
from vhostguard.logs.directives import Slot, resolve
from vhostguard.logs.escapes import unescape
from vhostguard.logs.timefmt import time_combiner

# httpd's compiled-in default (DEFAULT_LOG_FORMAT), also its built-in nickname "CLF".
CLF_FORMAT = '%h %l %u %t "%r" %>s %b'

# The nicknames Debian's /etc/apache2/apache2.conf defines (and upstream's
# httpd.conf, with %b where Debian logs %O). Used only when no config is
# given: with a config, its own LogFormat lines are the truth.
DEFAULT_NICKNAMES: Mapping[str, str] = {
    "vhost_combined": '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
    "combined": '%h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
    "common": '%h %l %u %t "%r" %>s %O',
    "referer": "%{Referer}i -> %U",
    "agent": "%{User-agent}i",
    "CLF": CLF_FORMAT,
}

MAX_RELAXED = 2  # unquoted space-holding values the lenient regex relaxes; more would backtrack exponentially
LENIENT_MAX = 16384  # longer lines get the strict regex only: the lenient one is quadratic on a bad line


class FormatError(ValueError):
    """A LogFormat string httpd would refuse (message in httpd's words) or that cannot be read back."""


class LineError(ValueError):
    """A line that does not fit the format: ``message`` says what was expected where."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


class _UndiagnosedLineError(LineError):
    """A line the format's regex refused, diagnosed only when its message or column is asked for:
    a diagnosis costs ~100 µs, and a batch reader only counts most such lines."""

    def __init__(self, line: str, diagnose: Callable[[str], tuple[str, int | None]]) -> None:
        ValueError.__init__(self, line)
        self._line = line
        self._diagnose = diagnose
        self._found: tuple[str, int | None] | None = None

    def _diagnosis(self) -> tuple[str, int | None]:
        if self._found is None:
            self._found = self._diagnose(self._line)
        return self._found

    @property
    def message(self) -> str:  # type: ignore[override]
        return self._diagnosis()[0]

    @property
    def column(self) -> int | None:  # type: ignore[override]
        return self._diagnosis()[1]

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class Literal:
    text: str


@dataclass(frozen=True, slots=True)
class Field:
    """A ``%`` directive: its slot, its index among the fields, and its status condition."""

    slot: Slot
    index: int
    conditional: bool


Item = Literal | Field


# --- reading the format string (parse_log_item) --------------------------------

def tokenize(fmt: str) -> tuple[Item, ...]:
    """The items of a LogFormat string, literals merged; raises FormatError like httpd."""
    items: list[Item] = []
    i = 0
    n = len(fmt)
    while i < n:
        if fmt[i] != "%":
            text, i = _literal(fmt, i)
            _append_literal(items, text)
            continue
        i += 1
        if i < n and fmt[i] == "%":
            _append_literal(items, "%")
            i += 1
            continue
        start = i - 1
        letter, arg, want_orig, conditional, i = _directive(fmt, i)
        resolved = resolve(letter, arg, want_orig, fmt[start:i])
        if isinstance(resolved, str):
            _append_literal(items, resolved)
        else:
            items.append(Field(resolved, sum(isinstance(x, Field) for x in items), conditional))
    return tuple(items)


def _literal(fmt: str, i: int) -> tuple[str, int]:
    # parse_log_misc_string: \\ \r \n \t are escapes; any other backslash is copied.
    out: list[str] = []
    n = len(fmt)
    while i < n and fmt[i] != "%":
        ch = fmt[i]
        i += 1
        if ch != "\\":
            out.append(ch)
            continue
        nxt = fmt[i] if i < n else ""
        if nxt in ("\\", "r", "n", "t") and nxt:
            out.append({"\\": "\\", "r": "\r", "n": "\n", "t": "\t"}[nxt])
            i += 1
        else:
            out.append("\\")
    return "".join(out), i


def _append_literal(items: list[Item], text: str) -> None:
    if not text:
        return
    if items and isinstance(items[-1], Literal):
        items[-1] = Literal(items[-1].text + text)
    else:
        items.append(Literal(text))


def _directive(fmt: str, i: int) -> tuple[str, str, bool | None, bool, int]:
    arg = ""
    want_orig: bool | None = None
    conditional = False
    n = len(fmt)
    while i < n:
        ch = fmt[i]
        if ch in "!,":
            i += 1
        elif ch == "<":
            want_orig, i = True, i + 1
        elif ch == ">":
            want_orig, i = False, i + 1
        elif ch == "{":
            end = fmt.find("}", i + 1)
            if end < 0:  # ap_getword takes the rest of the string
                break
            arg, i = fmt[i + 1:end], end + 1
        elif ch in "0123456789":
            while i < n and fmt[i] in "0123456789":
                i += 1
            conditional = True
        else:
            if ch == "^" and fmt[i:i + 3] in d.LETTERS:
                return fmt[i:i + 3], arg, want_orig, conditional, i + 3
            if ch not in d.LETTERS:
                raise FormatError(f"Unrecognized LogFormat directive %{ch}")
            return ch, arg, want_orig, conditional, i + 1
    raise FormatError("Ran off end of LogFormat parsing args to some directive")


# --- the compiled parser ----------------------------------------------------------

@dataclass(frozen=True)
class LogFormat:
    """A compiled LogFormat. ``parse(line)`` (no trailing newline) returns a record or raises LineError.

    ``keys`` lists the record keys in format order; ``fields`` the slots.
    ``parse_regex`` reads a line by the regex path only (same result, slower:
    for tests and for checking the split path); ``source`` is the generated code.
    """

    format: str
    keys: tuple[str, ...]
    all_keys: tuple[str, ...]
    fields: tuple[Slot, ...]
    parse: Callable[[str], dict[str, Any]] = field(repr=False, compare=False)
    parse_regex: Callable[[str], dict[str, Any]] = field(repr=False, compare=False)
    source: str = field(repr=False, compare=False)
    has_split_path: bool = False
    lenient: bool = True

    def strict(self) -> LogFormat:
        """The same format without the lenient regex (see ``compile_format``)."""
        return self if not self.lenient else _compile(self.format, self._wanted(), False)

    def _wanted(self) -> frozenset[str] | None:
        return None if self.keys == self.all_keys else frozenset(self.keys)

    def __call__(self, line: str) -> dict[str, Any]:
        return self.parse(line)

    def __reduce__(self) -> tuple[Any, ...]:
        # Generated functions do not pickle: the other process compiles the same format again.
        return (_compile, (self.format, self._wanted(), self.lenient))


def compile_format(fmt: str, fields: Iterable[str] | None = None, lenient: bool = True) -> LogFormat:
    """Compile LogFormat text ``fmt``; ``fields`` limits the keys built (all by default).

    Limiting fields changes nothing about which lines are valid, only what
    is converted. ``lenient=False`` drops the lenient regex: an unquoted
    value holding a space then makes the line malformed (used to choose
    between formats: relaxed, ``%u`` of combined can swallow the ``%l %u``
    of a vhost_combined line). Raises FormatError for a format httpd
    rejects, or one that writes a newline inside a record (it cannot be
    read line by line).
    """
    return _compile(fmt, None if fields is None else frozenset(fields), lenient)


@lru_cache(maxsize=64)
def _compile(fmt: str, wanted: frozenset[str] | None, lenient: bool) -> LogFormat:
    if not fmt:  # httpd: `LogFormat ""` is "LogFormat takes 1-2 arguments"
        raise FormatError("the format is empty (httpd refuses an empty LogFormat)")
    items = tokenize(fmt)
    for item in items:
        if isinstance(item, Literal) and "\n" in item.text:
            raise FormatError("the format writes a newline inside a record; it cannot be read line by line")
    return _Compiler(fmt, items, wanted, lenient).build()


RowParser = Callable[[list[str]], tuple[list[tuple[Any, ...]], list[int]]]


@lru_cache(maxsize=64)
def compile_rows(fmt: str, columns: tuple[str, ...], lenient: bool = True) -> RowParser:
    """``rows(lines) -> (rows, bad)`` for LogFormat text ``fmt``: bulk parsing for aggregations.

    ``rows`` holds, for each line that parses, the tuple of its ``columns``
    (record keys; None for a key the format does not log), in line order;
    ``bad`` the indexes in ``lines`` of the lines that do not (``parse``
    says why). Exactly the lines and values of ``compile_format(fmt,
    columns).parse``, without a dict or a call per line.
    """
    wanted = frozenset(columns)
    parse = _compile(fmt, wanted, lenient).parse
    return _Compiler(fmt, tokenize(fmt), wanted, lenient).build_rows(columns, parse)


def parser_for(fmt: str, nicknames: Mapping[str, str] | None = None, fields: Iterable[str] | None = None,
               lenient: bool = True) -> LogFormat:
    """The parser for a nickname (looked up in ``nicknames``, else DEFAULT_NICKNAMES) or a format string.

    As in httpd, a name that is not a defined nickname is itself the format.
    """
    table = DEFAULT_NICKNAMES if nicknames is None else nicknames
    return compile_format(table.get(fmt, fmt), fields, lenient)


# --- code generation ---------------------------------------------------------------

_ESCAPED_QUOTED = r'[^"\\]*(?:\\.[^"\\]*)*'  # httpd writes " and \ inside a value as \" and \\
_NUMBER = "-?[0-9]+|-"
_UNSIGNED = "[0-9]+|-"  # a duration: never negative (a negative %D would make sums go down)
_INT_KINDS = (d.INT, d.DURATION, d.BYTES_CLF)
_SPLIT_KINDS = _INT_KINDS + (d.HEX, d.CONN)  # values that can never hold the literal that follows them
_CHECKED_KINDS = (*_SPLIT_KINDS, d.QUERY)  # values the split path checks the way the regex path does
_is_number = re.compile(_NUMBER, re.ASCII).fullmatch
_is_unsigned = re.compile(_UNSIGNED, re.ASCII).fullmatch
_is_hex = re.compile("[0-9a-fA-F]+|-", re.ASCII).fullmatch
_CONN = frozenset(("X", "+", "-"))


@dataclass
class _Piece:
    """Text between two ``"`` of the format (or before the first / after the last)."""

    items: list[Item]
    interior: bool

    @property
    def fields(self) -> list[Field]:
        return [item for item in self.items if isinstance(item, Field)]

    @property
    def whole(self) -> bool:
        # A lone field between two quotes takes the whole piece, spaces included.
        return self.interior and len(self.items) == 1 and isinstance(self.items[0], Field)


class _Compiler:
    def __init__(self, fmt: str, items: tuple[Item, ...], wanted: frozenset[str] | None, lenient: bool) -> None:
        self.fmt = fmt
        self.items = items
        self.fields = [item for item in items if isinstance(item, Field)]
        self.pieces = _pieces(items)
        self.whole = {f.index for piece in self.pieces if piece.whole for f in piece.fields}
        self.relaxed = self._relaxed() if lenient else set()
        self.lenient = lenient
        self.outputs = _outputs(self.fields)
        self.wanted = wanted
        # for error messages: (lenient, k) -> the regex of items[:k + 1], compiled when a diagnosis needs it
        self.prefixes: dict[tuple[bool, int], re.Pattern[str]] = {}
        self.env: dict[str, Any] = {"_isnum": _is_number, "_isunsigned": _is_unsigned, "_ishex": _is_hex, "_CONN": _CONN,
                                    "_unescape": unescape, "_split_request": _split_request, "LineError": LineError}
        self.consts: dict[str, str] = {}  # format-derived text -> its name in env

    def const(self, value: str) -> str:
        """The name that stands for ``value`` in the generated code: the one way format text enters it.

        The format comes from a tree under audit. Its text (literals, header
        names) is never written into the source, not even as ``repr()``: it
        is a value in ``env`` under a name made from our counter. A global
        of the generated function costs no more than an inline literal.
        """
        name = self.consts.get(value)
        if name is None:
            name = self.consts[value] = f"_lit{len(self.consts)}"
            self.env[name] = value
        return name

    # the regexes

    def _relaxed(self) -> set[int]:
        candidates = [f.index for f in self.fields
                      if f.slot.spaces and f.index not in self.whole and f.slot.kind in (d.STR, d.USER, d.REQUEST)]
        return set(candidates[:MAX_RELAXED])

    def pattern(self, f: Field, lenient: bool) -> str:
        slot = f.slot
        kind = slot.kind
        if kind == d.DURATION:
            return _UNSIGNED
        if kind in _INT_KINDS:
            return _NUMBER
        if kind == d.HEX:
            return "[0-9a-fA-F]+|-"
        if kind == d.CONN:
            return "[X+-]"
        if kind == d.TIME:
            assert slot.time is not None
            return f"{slot.time.pattern}|-"
        whole = f.index in self.whole
        if kind == d.QUERY:
            return r'-|\?' + (_ESCAPED_QUOTED if whole else "[^ ]*?") + "|"
        if whole:
            return _ESCAPED_QUOTED if slot.escaped else '[^"]*'
        if lenient and f.index in self.relaxed:
            return ".*?"
        return "[^ ]*?"  # an unquoted value ends at the next space (lazy: the literal after it decides)

    def regex(self, items: Iterable[Item], lenient: bool, anchored: bool = True) -> re.Pattern[str]:
        parts = []
        for item in items:
            if isinstance(item, Literal):
                parts.append(re.escape(item.text))
            else:
                parts.append(f"(?P<v{item.index}>{self.pattern(item, lenient)})")
        return re.compile("".join(parts) + (r"\Z" if anchored else ""), re.ASCII | re.DOTALL)

    # the generated source

    def build(self) -> LogFormat:
        keys = tuple(key for key in self.outputs if self.wanted is None or key in self.wanted)
        body = self._convert(keys)
        lines = self._slow_source(body)
        plain = _SplitPlan(self, escaped=False).lines()
        if plain is None:
            lines += ["def parse(line):", "    return _slow(line)"]
        else:
            # httpd writes ASCII only, and a backslash only to escape a value.
            # A line with a backslash but no \" splits the same way and is
            # unescaped after; one with \" (or anything odd) takes the regex.
            ascii_format = self.fmt.isascii()
            head = ["    if not line.isascii():", "        return _slow(line)"] if ascii_format else []
            head += ["    if '\\\\' in line:", "        return _escaped(line)"]
            lines += self._fast("parse", head, plain, body, ascii_format)
            escaped = _SplitPlan(self, escaped=True).lines()
            assert escaped is not None
            lines += self._fast("_escaped", ["    if '\\\\\"' in line:", "        return _slow(line)"], escaped, body,
                                ascii_format)
        source = "\n".join(lines) + "\n"
        exec(self._code(source), self.env)  # our own generated code, checked by _code
        return LogFormat(self.fmt, keys, tuple(self.outputs), tuple(f.slot for f in self.fields), self.env["parse"],
                         self.env["_slow"], source, plain is not None, self.lenient)

    def build_rows(self, columns: tuple[str, ...], parse: Callable[[str], dict[str, Any]]) -> RowParser:
        """``rows(lines)``: the values of ``columns`` of each line, as tuples, with no dict per line.

        The split path's code in one loop over a block of lines; a line it
        cannot take goes to ``parse`` (same format and fields), so the rows
        are exactly what ``parse`` would give. A column the format does not
        log is None.
        """
        stmts, values = self._values(columns)
        self.env["parse"] = parse
        self.env["_row"] = lambda record: tuple(map(record.get, columns))
        plain = _SplitPlan(self, escaped=False).lines()
        if plain is None:
            body = ["try:", "    add(_row(parse(line)))", "except LineError:", "    bad(i)"]
        else:
            row = "(" + ", ".join(values.get(c, "None") for c in columns) + ("," if len(columns) == 1 else "") + ")"
            test = "not line.isascii() or '\\\\' in line" if self.fmt.isascii() else "'\\\\' in line"
            body = [f"if {test}:", *("    " + f for f in _ROW_FALLBACK)]
            for line in plain:
                indent = line[:len(line) - len(line.lstrip())]
                body += [indent + f for f in _ROW_FALLBACK] if line.strip() == "return _slow(line)" else [line]
            numbers = [f for f in self.fields if f.slot.kind in _CHECKED_KINDS]
            if numbers:
                tests = " and ".join(_number_test(f, self.fmt.isascii()) for f in numbers)
                body += [f"if not ({tests}):", *("    " + f for f in _ROW_FALLBACK)]
            body += ["try:", *("    " + s for s in stmts), f"    add({row})",
                     "except (ValueError, OverflowError):", *("    " + f for f in _ROW_FALLBACK)]
            body = _without_dead_stores(body)
        lines = ["def _rows(lines):", "    out = []", "    add = out.append", "    failed = []", "    bad = failed.append",
                 "    i = -1", "    for line in lines:", "        i += 1", *("        " + b for b in body),
                 "    return out, failed"]
        source = "\n".join(lines) + "\n"
        exec(self._code(source), self.env)  # our own generated code, checked by _code
        return cast("RowParser", self.env["_rows"])

    def _code(self, source: str) -> CodeType:
        """``source`` compiled, once checked to hold nothing of the format but names of ``env`` constants."""
        code = compile(source, "<LogFormat>", "exec")
        keys = set(self.outputs)  # record keys: from the directive table, never from the format
        for part in _code_objects(code):
            foreign = [name for name in part.co_names if not (name in self.env or name in _OWN_NAMES)]
            foreign += [name for name in part.co_varnames if not _OWN_LOCAL(name)]
            foreign += [value for value in part.co_consts
                        if isinstance(value, str) and not (value in _OWN_STRINGS or value in keys or _GROUP(value))]
            if foreign:  # not an assert: it must hold under python -O too
                raise RuntimeError(f"generated LogFormat code holds text that is not ours: {foreign!r}")
        return code

    def _fast(self, name: str, head: list[str], split: list[str], body: list[str], ascii_line: bool) -> list[str]:
        lines = [f"def {name}(line):", *head, *("    " + line for line in split)]
        numbers = [f for f in self.fields if f.slot.kind in _CHECKED_KINDS]
        if numbers:
            # Every number is checked, built or not: limiting ``fields`` never
            # changes which lines are valid. Anything unusual (a negative
            # number) goes to the regex path.
            tests = " and ".join(_number_test(f, ascii_line) for f in numbers)
            lines += [f"    if not ({tests}):", "        return _slow(line)"]
        return lines + ["    try:", *("        " + line for line in body),
                        "    except (ValueError, OverflowError):", "        return _slow(line)", ""]

    def _slow_source(self, body: list[str]) -> list[str]:
        """``_slow(line)``: the regex path, strict then lenient, unescaping, same conversion."""
        self.env["_strict"] = self.regex(self.items, lenient=False).match
        self.env["_lenient"] = self.regex(self.items, lenient=True).match if self.relaxed else None
        self.env["_diagnose"] = self.diagnose
        self.env["_Undiagnosed"] = _UndiagnosedLineError
        self.env["LENIENT_MAX"] = LENIENT_MAX
        names = ", ".join(f"v{f.index}" for f in self.fields)
        lines = ["def _slow(line):", "    m = _strict(line)",
                 "    if m is None and _lenient is not None and len(line) <= LENIENT_MAX:",
                 "        m = _lenient(line)",
                 "    if m is None:", "        raise _Undiagnosed(line, _diagnose)",
                 *([f"    {names}{',' if len(self.fields) == 1 else ''} = m.groups()"] if self.fields else [])]
        escaped = [f"v{f.index}" for f in self.fields if f.slot.escaped]
        if escaped:
            lines.append("    if '\\\\' in line:")
            lines += [f"        {v} = _unescape({v})" for v in escaped]
        return lines + ["    try:", *("        " + line for line in body),
                        "    except (ValueError, OverflowError) as problem:",
                        "        raise LineError(str(problem)) from None", ""]

    def _convert(self, keys: tuple[str, ...]) -> list[str]:
        """Statements that turn v0..vN into the record, ending in ``return {...}``."""
        stmts, values = self._values(keys)
        return stmts + ["return {" + ", ".join(f"{key!r}: {values[key]}" for key in keys) + "}"]

    def _values(self, keys: Iterable[str]) -> tuple[list[str], dict[str, str]]:
        """Statements to run first, and the expression of each key (of the format) in ``keys``."""
        stmts: list[str] = []
        out = self.outputs
        keys = [key for key in keys if key in out]
        time_fields = [f for f in self.fields if f.slot.kind == d.TIME]
        if time_fields:
            convert = time_combiner(tuple(f.slot.time for f in time_fields))  # type: ignore[misc]
            self.env["_time"] = convert
            args = ", ".join(f"v{f.index}" for f in time_fields)
            # Always converted, built or not: the conversion validates the time.
            if len(time_fields) == 1 and hasattr(convert, "cache"):
                self.env["_times"] = convert.cache
                stmts += [f"t = _times.get({args})", "if t is None:", f"    t = _time({args})"]
            else:
                stmts.append(f"t = _time({args})")
        requests = _by_preference([f for f in self.fields if f.slot.kind == d.REQUEST])
        request = requests[0] if requests else None
        if request is not None and any(k in keys for k in ("method", "path", "query", "protocol")):
            v = _logged_text(requests)
            # "GET /p?q HTTP/1.1" inline; anything else (HTTP/0.9, spaces in the target, '-') by the function
            stmts += [f"r = {v}.split(' ')", "if len(r) == 3:", "    rm, rt, rp = r",
                      "    rpath, rs, rq = rt.partition('?')", "    if not rs:", "        rq = None",
                      "else:", f"    _, rm, rpath, rq, rp = _split_request({v})"]
        return stmts, {key: self._expr(key, out[key], request) for key in keys}

    def _expr(self, key: str, sources: list[Field], request: Field | None) -> str:
        if key == "time":
            return "t"
        if key in _REQUEST_PARTS and key != "request_line" and (not sources or sources[0].slot.kind == d.REQUEST):
            return _REQUEST_PARTS[key]
        first = sources[0].slot
        if first.sub is not None:  # a dict-valued key: one entry per name
            entries: dict[str, list[Field]] = {}
            for f in sources:
                entries.setdefault(f.slot.sub or "", []).append(f)
            return "{" + ", ".join(f"{self.const(name)}: {_logged_value(fs)}" for name, fs in entries.items()) + "}"
        return _logged_value(sources)

    # error messages

    def diagnose(self, line: str) -> tuple[str, int | None]:
        """What was expected where, for a line neither regex matches."""
        if line == "":
            return "empty line", 1
        items = self.items
        position = 0
        lenient = len(line) <= LENIENT_MAX  # the lenient prefixes unless the line is too long for them
        for k in range(len(items)):
            prefix = self.prefixes.get((lenient, k))
            if prefix is None:
                prefix = self.prefixes[(lenient, k)] = self.regex(items[:k + 1], lenient=lenient, anchored=False)
            m = prefix.match(line)
            if m is None:
                return _expected(items, k, line, position), position + 1
            item = items[k]
            if (isinstance(item, Field) and item.slot.kind == d.DURATION and line[position:m.end()] == "-"
                    and line[m.end():m.end() + 1].isdigit()):  # '-' (not logged) matched, then digits
                return f"{item.slot.text} is negative at column {position + 1} (a duration never is)", position + 1
            position = m.end()
        return (f"unexpected text at column {position + 1} after the last field: {line[position:position + 30]!r}",
                position + 1)


# Everything the generated code may name or hold besides env's constants (see _Compiler._code):
# if format text ever reached the source, it would show up as a name or string not listed here.
_OWN_NAMES = frozenset(("parse", "_slow", "_escaped", "_rows", "len", "int", "str",
                        "split", "partition", "rpartition", "startswith", "endswith", "isascii", "isdigit",
                        "get", "group", "groups", "append", "ValueError", "OverflowError"))
_OWN_LOCAL = re.compile(r"line|lines|p|r|m|t|i|out|add|failed|bad|rm|rt|rp|rpath|rs|rq|problem|_|v[0-9]+"
                        r"|t[0-9]+(?:_[0-9]+[abs]?)?", re.ASCII).fullmatch
_OWN_STRINGS = frozenset(('"', " ", "\\", '\\"', "-", "", '""', "?"))
_GROUP = re.compile("v[0-9]+", re.ASCII).fullmatch


def _code_objects(code: CodeType) -> Iterator[CodeType]:
    yield code
    for value in code.co_consts:
        if isinstance(value, CodeType):
            yield from _code_objects(value)


# What the rows loop does with a line the split path does not take: the full parse.
_ROW_FALLBACK = ("try:", "    add(_row(parse(line)))", "except LineError:", "    bad(i)", "continue")
_STORE = re.compile(r"\s*(v[0-9]+) = ")


def _without_dead_stores(body: list[str]) -> list[str]:
    """``body`` without the ``vN = ...`` of values nothing reads (fields not asked for)."""
    text = "\n".join(body)
    kept = []
    for line in body:
        m = _STORE.match(line)
        if m is not None and len(re.findall(rf"\b{m.group(1)}\b", text)) == 1:
            continue
        kept.append(line)
    return kept


_REQUEST_PARTS = {"request_line": "", "method": "rm", "path": "rpath", "query": "rq", "protocol": "rp"}


def _number_test(f: Field, ascii_line: bool) -> str:
    v = f"v{f.index}"
    kind = f.slot.kind
    if kind == d.HEX:
        return f"_ishex({v})"
    if kind == d.CONN:
        return f"{v} in _CONN"
    if kind == d.QUERY:  # httpd writes "" or "?args"; "-" when a status condition fails
        return f"({v}.startswith('?') or {v} == '' or {v} == '-')"
    if ascii_line:  # str.isdigit() also takes non-ASCII digits; the line is known to be ASCII
        return f"({v}.isdigit() or {v} == '-')"
    return f"_isunsigned({v})" if kind == d.DURATION else f"_isnum({v})"


def _by_preference(fields: list[Field]) -> list[Field]:
    """Several fields feeding one key, the one to read first first: by rank (%D over %T), then in format order.

    Nothing after an unconditional field is ever read: it is always logged.
    """
    ordered = sorted(fields, key=lambda f: f.slot.rank)
    cut = next((k for k, f in enumerate(ordered) if not f.conditional), len(ordered) - 1)
    return ordered[:cut + 1]


def _logged_text(fields: list[Field]) -> str:
    """The text of the first of ``fields`` (in preference order) that was logged.

    A field with a status condition (``%400r``, ``%!200,304r``) writes ``-``
    when the condition fails (mod_log_config's ``config_log_transaction``):
    the next field is read instead, so ``%400r "%r"`` gives the request
    line whatever the status.
    """
    text = f"v{fields[-1].index}"
    for f in reversed(fields[:-1]):
        text = f"(v{f.index} if v{f.index} != '-' else {text})"
    return text


def _logged_value(fields: list[Field]) -> str:
    """The value of the first field that was logged (see ``_logged_text``)."""
    chosen = _by_preference(fields)
    value = _value(chosen[-1])
    for f in reversed(chosen[:-1]):
        value = f"({_value(f)} if v{f.index} != '-' else {value})"
    return value


def _value(f: Field) -> str:
    v = f"v{f.index}"
    kind = f.slot.kind
    if f.conditional and kind == d.BYTES_CLF:  # '-' is "condition failed", not CLF's zero bytes
        return f"(None if {v} == '-' else int({v}))"
    if kind in (d.INT,):
        return f"(None if {v} == '-' else int({v}))"
    if kind == d.DURATION:
        scale = f" * {f.slot.scale}" if f.slot.scale != 1 else ""
        return f"(None if {v} == '-' else int({v}){scale})"
    if kind == d.BYTES_CLF:
        return f"(0 if {v} == '-' else int({v}))"
    if kind == d.HEX:
        return f"(None if {v} == '-' else int({v}, 16))"
    if kind == d.QUERY:
        return f"(None if {v} == '-' or {v} == '' else {v}[1:])"
    if kind == d.USER:
        return f"(None if {v} == '-' else '' if {v} == '\"\"' else {v})"
    if kind == d.CONN:
        return v  # %X: '-' means "connection will close", not "not logged"
    return f"(None if {v} == '-' else {v})"


def _expected(items: tuple[Item, ...], k: int, line: str, position: int) -> str:
    item = items[k]
    what = repr(item.text) if isinstance(item, Literal) else f"{item.slot.text} ({_describe(item.slot)})"
    before = items[k - 1] if k else None
    after = f" after {before.slot.text}" if isinstance(before, Field) else ""
    if position >= len(line):
        return f"line ends at column {position + 1}: expected {what}{after}"
    following = items[k + 1] if k + 1 < len(items) else None
    if isinstance(item, Field) and isinstance(following, Literal) and following.text not in line[position:]:
        return f"line ends at column {len(line) + 1} inside {what}"
    return f"expected {what}{after} at column {position + 1}, found {line[position:position + 20]!r}"


def _describe(slot: Slot) -> str:
    kind = slot.kind
    if kind in _INT_KINDS:
        return "a number or '-'"
    if kind == d.HEX:
        return "a hex number or '-'"
    if kind == d.CONN:
        return "X, + or -"
    if kind == d.TIME:
        assert slot.time is not None
        return "a time [dd/Mon/yyyy:hh:mm:ss +zzzz]" if slot.time.clf else f"a time written %{{{slot.time.arg}}}t"
    if kind == d.QUERY:
        return "'?query' or nothing"
    return slot.key if slot.sub is None else f"{slot.key} {slot.sub}"


def _outputs(fields: list[Field]) -> dict[str, list[Field]]:
    """Record key -> the fields that feed it, keys in order of first appearance."""
    out: dict[str, list[Field]] = {}
    for f in fields:
        if f.slot.kind == d.REQUEST:
            out.setdefault("request_line", []).append(f)
            for part in ("method", "path", "query", "protocol"):
                out.setdefault(part, [])  # explicit %m %U %q %H, if any, fill these in
            continue
        out.setdefault(f.slot.key, []).append(f)
    # request parts come from explicit fields when the format has them
    for part in ("method", "path", "query", "protocol"):
        if out.get(part):
            out[part] = [f for f in out[part] if f.slot.kind != d.REQUEST]
    if "status" not in out and "original_status" in out:
        # Formats written with %s only: most requests are not internally
        # redirected, and consumers need a status (see the module notes).
        out["status"] = out["original_status"]
    return out


def _split_request(text: str) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    """``GET /p?q HTTP/1.1`` -> (request_line, method, path, query, protocol); '-' is all None."""
    if text == "-":
        return None, None, None, None, None
    method, sep, rest = text.partition(" ")
    if not sep:
        return text, None, None, None, None  # not a request line (garbage sent to the port)
    target, sep, protocol = rest.rpartition(" ")
    if not sep:
        return text, method, *_target(rest), None  # HTTP/0.9: no protocol
    return text, method, *_target(target), protocol


def _target(target: str) -> tuple[str, str | None]:
    path, sep, query = target.partition("?")
    return path, (query if sep else None)


def _pieces(items: tuple[Item, ...]) -> list[_Piece]:
    pieces: list[list[Item]] = [[]]
    for item in items:
        if isinstance(item, Field):
            pieces[-1].append(item)
            continue
        first, *rest = item.text.split('"')
        if first:
            pieces[-1].append(Literal(first))
        for part in rest:
            pieces.append([])
            if part:
                pieces[-1].append(Literal(part))
    last = len(pieces) - 1
    return [_Piece(p, 0 < i < last) for i, p in enumerate(pieces)]


class _SplitPlan:
    """The split path's source: split on ``"``, then pieces on spaces, checking every literal.

    Gives up (``lines()`` is None) when a field's spaces cannot be known in
    advance (e.g. ``%{%e}t``) or a token mixes fields in a way only a regex
    can take apart.
    """

    def __init__(self, compiler: _Compiler, escaped: bool) -> None:
        self.c = compiler
        self.escaped = escaped  # the line holds a backslash (but no \\"): unescape the values
        self.out: list[str] = []
        self.parts: dict[int, list[str]] = {}

    def lines(self) -> list[str] | None:
        pieces = self.c.pieces
        if len(pieces) > 1:
            self.out.append("p = line.split('\"')")
            self._check(f"len(p) == {len(pieces)}")
            sources = [f"p[{i}]" for i in range(len(pieces))]
        else:
            sources = ["line"]
        for i, piece in enumerate(pieces):
            if not self._piece(i, piece, sources[i]):
                return None
        for f in self.c.fields:
            value = " + ' ' + ".join(self.parts[f.index])
            self.out.append(f"v{f.index} = {value}")
            if self.escaped and f.slot.escaped:
                self.out.append(f"if '\\\\' in v{f.index}:")
                self.out.append(f"    v{f.index} = _unescape(v{f.index})")
        return self.out

    def _check(self, test: str) -> None:
        # Consecutive checks merge into one ``if`` (short-circuit keeps their order).
        if len(self.out) >= 2 and self.out[-1] == "    return _slow(line)" and self.out[-2].startswith("if not ("):
            self.out[-2] = self.out[-2][:-2] + f" and {test}):"
            return
        self.out += [f"if not ({test}):", "    return _slow(line)"]

    def _piece(self, i: int, piece: _Piece, src: str) -> bool:
        if not piece.fields:
            text = "".join(item.text for item in piece.items if isinstance(item, Literal))
            self._check(f"{src} == {self.c.const(text)}")
            return True
        if piece.whole:
            self.parts[piece.fields[0].index] = [src]
            return True
        tokens = self._tokens(piece)
        if tokens is None:
            return False
        name = f"t{i}"
        self.out.append(f"{name} = {src}.split(' ')")
        self._check(f"len({name}) == {len(tokens)}")
        return all(self._token(f"{name}[{j}]", token, f"{name}_{j}") for j, token in enumerate(tokens))

    def _tokens(self, piece: _Piece) -> list[list[Literal | tuple[Field, int]]] | None:
        tokens: list[list[Literal | tuple[Field, int]]] = [[]]
        for item in piece.items:
            if isinstance(item, Literal):
                first, *rest = item.text.split(" ")
                if first:
                    tokens[-1].append(Literal(first))
                for part in rest:
                    tokens.append([])
                    if part:
                        tokens[-1].append(Literal(part))
                continue
            spaces = _spaces(item)
            if spaces is None:
                return None
            for j in range(spaces + 1):
                if j:
                    tokens.append([])
                tokens[-1].append((item, j))
        return tokens

    def _token(self, src: str, token: list[Literal | tuple[Field, int]], var: str) -> bool:
        lits = [x for x in token if isinstance(x, Literal)]
        slots = [x for x in token if not isinstance(x, Literal)]
        if not slots:
            self._check(f"{src} == {self.c.const(''.join(x.text for x in lits))}")
            return True
        if len(slots) == 1:
            return self._one_slot(src, token, var)
        if (len(token) == 3 and isinstance(token[1], Literal) and not isinstance(token[0], Literal)
                and not isinstance(token[2], Literal)):
            return self._two_slots(src, token[0], token[1].text, token[2], var)
        return self._token_regex(src, token, var)

    def _one_slot(self, src: str, token: list[Literal | tuple[Field, int]], var: str) -> bool:
        k = next(i for i, x in enumerate(token) if not isinstance(x, Literal))
        before = "".join(x.text for x in token[:k] if isinstance(x, Literal))
        after = "".join(x.text for x in token[k + 1:] if isinstance(x, Literal))
        f, _ = token[k]  # type: ignore[misc]
        if not before and not after:
            self.parts.setdefault(f.index, []).append(src)
            return True
        self.out.append(f"{var} = {src}")
        tests = [f"len({var}) >= {len(before) + len(after)}"]
        if before:
            tests.append(f"{var}.startswith({self.c.const(before)})")
        if after:
            tests.append(f"{var}.endswith({self.c.const(after)})")
        self._check(" and ".join(tests))
        end = f"len({var}) - {len(after)}" if after else ""
        self.parts.setdefault(f.index, []).append(f"{var}[{len(before)}:{end}]")
        return True

    def _two_slots(self, src: str, left: tuple[Field, int], sep: str, right: tuple[Field, int], var: str) -> bool:
        # "%v:%p": a number cannot hold the separator, so it splits at the
        # separator nearest to the number, which is where the regex splits too.
        (lf, _), (rf, _) = left, right
        if _spaces(lf) != 0 or _spaces(rf) != 0 or any(ch in "0123456789-abcdefABCDEFX+" for ch in sep):
            return self._token_regex(src, [left, Literal(sep), right], var)
        if rf.slot.kind in _SPLIT_KINDS:
            how = "rpartition"
        elif lf.slot.kind in _SPLIT_KINDS:
            how = "partition"
        else:
            return self._token_regex(src, [left, Literal(sep), right], var)
        self.out.append(f"{var}a, {var}s, {var}b = {src}.{how}({self.c.const(sep)})")
        self._check(f"{var}s")
        self.parts[lf.index] = [f"{var}a"]
        self.parts[rf.index] = [f"{var}b"]
        return True

    def _token_regex(self, src: str, token: list[Literal | tuple[Field, int]], var: str) -> bool:
        items: list[Item] = []
        for x in token:
            if isinstance(x, Literal):
                items.append(x)
            elif _spaces(x[0]) != 0:
                return False  # part of a field that spans tokens: no regex for a part
            else:
                items.append(x[0])
        rx = self.c.regex(items, lenient=False)
        name = f"_rx_{var}"
        self.c.env[name] = rx.match
        self.out.append(f"{var} = {name}({src})")
        self._check(f"{var} is not None")
        for item in items:
            if isinstance(item, Field):
                self.parts[item.index] = [f"{var}.group('v{item.index}')"]
        return True


def _spaces(f: Field) -> int | None:
    """How many spaces the field's text always holds in an unquoted position (None: it varies)."""
    if f.slot.kind == d.TIME:
        assert f.slot.time is not None
        return f.slot.time.spaces
    return 0

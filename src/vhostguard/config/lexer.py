"""httpd's config lexing rules: physical lines to logical lines to words.

Mirrors ``ap_cfg_getline`` (continuation, trimming) and ``ap_getword_conf``
(quoting) in httpd's server/util.c. The lexer builds no structure.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

_SPACE = " \t\r\n\f\v"  # C isspace(), which httpd's apr_isspace is
_WORD = re.compile(r"[^ \t\r\n\f\v]+")  # an unquoted word


@dataclass(frozen=True, slots=True)
class LogicalLine:
    """One logical line: trimmed text and the number of its last physical line."""

    line: int
    text: str


def logical_lines(text: str) -> Iterator[LogicalLine]:
    """Join continued lines and trim whitespace, as ``ap_cfg_getline`` does.

    A backslash immediately before the newline continues the line (even on a
    comment line, and even after another backslash); the backslash and the
    newline are removed. A backslash followed by spaces does not continue.
    """
    texts, numbers = logical_texts(text)
    for number, line in zip(numbers, texts):
        yield LogicalLine(number, line)


def logical_texts(text: str) -> tuple[list[str], Sequence[int]]:
    """``logical_lines`` as two parallel sequences: the texts and their line numbers.

    The loader's form: no object per line, and for text without continuations
    (nearly every file) the numbers are just a range.
    """
    physical = text.split("\n")
    if "\\\n" not in text and "\\\r\n" not in text:
        if physical[-1] == "":
            physical.pop()  # the text ended with a newline: no further line
        # One logical line per physical line; stripping also removes a CRLF's \r.
        return [raw.strip(_SPACE) for raw in physical], range(1, len(physical) + 1)
    texts: list[str] = []
    numbers: list[int] = []
    pending: list[str] = []
    last_index = len(physical) - 1
    for index, raw in enumerate(physical):
        if index == last_index and raw == "":
            break  # the text ended with a newline: no further line
        has_newline = index < last_index
        piece = raw[:-1] if raw.endswith("\r") and has_newline else raw
        if has_newline and piece.endswith("\\"):
            pending.append(piece[:-1])
            continue
        pending.append(piece)
        joined = "".join(pending)
        pending.clear()
        texts.append(joined.strip(_SPACE))
        numbers.append(index + 1)
    if pending:
        texts.append("".join(pending).strip(_SPACE))
        numbers.append(last_index + 1)
    return texts, numbers


def _is_simple(text: str) -> bool:
    """Are ``text``'s words exactly what ``str.split()`` makes of it?

    True for the common line: ASCII, no quote, no backslash, and none of the
    \\x1c-\\x1f separators, which str.split() splits on but httpd keeps inside
    a word (as it keeps non-ASCII spaces, hence ASCII only). ``isascii`` costs
    nothing and each ``in`` is one fast scan: much cheaper than the lexing saved.
    """
    return (
        text.isascii()
        and '"' not in text and "'" not in text and "\\" not in text
        and "\x1c" not in text and "\x1d" not in text and "\x1e" not in text and "\x1f" not in text
    )


def next_word(text: str, pos: int = 0) -> tuple[str, int]:
    """Read one word from ``text[pos:]`` like ``ap_getword_conf``.

    Returns the word (quotes removed, ``\\\\`` and ``\\<quote>`` unescaped
    inside quotes, ``\\\\`` outside) and the position after the following
    whitespace. An unterminated quote runs to the end of the line, as in httpd.
    """
    if _is_simple(text):
        parts = text[pos:].split(None, 1)
        if len(parts) == 2:
            return parts[0], len(text) - len(parts[1])
        return (parts[0] if parts else ""), len(text)
    return _read_word(text, pos)


def _read_word(text: str, pos: int) -> tuple[str, int]:
    """``next_word`` for any text: quotes, backslashes, every kind of character."""
    length = len(text)
    while pos < length and text[pos] in _SPACE:
        pos += 1
    if pos >= length:
        return "", length
    quote = text[pos]
    if quote in "\"'":
        end = pos + 1
        while end < length and text[end] != quote:
            if text[end] == "\\" and end + 1 < length and text[end + 1] in (quote, "\\"):
                end += 2
            else:
                end += 1
        word = _unescape(text[pos + 1 : end], quote)
        if end < length:
            end += 1
    else:
        end = _WORD.match(text, pos).end()  # type: ignore[union-attr]  # text[pos] is not a space
        word = _unescape(text[pos:end], "")
    while end < length and text[end] in _SPACE:
        end += 1
    return word, end


def _unescape(chunk: str, quote: str) -> str:
    if "\\" not in chunk:
        return chunk
    out: list[str] = []
    i = 0
    while i < len(chunk):
        char = chunk[i]
        if char == "\\" and i + 1 < len(chunk) and (chunk[i + 1] == "\\" or (quote and chunk[i + 1] == quote)):
            out.append(chunk[i + 1])
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def split_directive(text: str) -> tuple[str, str, list[str]]:
    """A line's first word, the text after it, and that text's words, in one pass.

    The same as ``name, pos = next_word(text)``, ``rest = text[pos:]`` and
    ``split_words(rest)``, which is how a line reads as a directive.
    """
    if _is_simple(text):
        parts = text.split(None, 1)
        if len(parts) == 2:
            return parts[0], parts[1], parts[1].split()
        return (parts[0] if parts else ""), "", []
    name, pos = _read_word(text, 0)
    rest = text[pos:]
    return name, rest, split_words(rest)


def split_words(text: str) -> list[str]:
    """All words of ``text``, as a directive's handler would read them."""
    if _is_simple(text):
        return text.split()
    words: list[str] = []
    pos = 0
    length = len(text)
    while True:
        while pos < length and text[pos] in _SPACE:
            pos += 1
        if pos >= length:
            return words
        word, pos = _read_word(text, pos)
        words.append(word)

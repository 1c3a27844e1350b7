"""httpd's config lexing rules: physical lines to logical lines to words.

Mirrors ``ap_cfg_getline`` (continuation, trimming) and ``ap_getword_conf``
(quoting) in httpd's server/util.c. The lexer builds no structure.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

_SPACE = " \t\r\n\f\v"  # C isspace(), which httpd's apr_isspace is
# Fast paths for the common line without quotes or backslashes, where a word
# is just a run of non-space characters. Not str.split(): that also splits on
# Unicode and \x1c-\x1f whitespace, which httpd keeps inside a word.
_WORD = re.compile(r"[^ \t\r\n\f\v]+")
_HEAD = re.compile(r"[ \t\r\n\f\v]*([^ \t\r\n\f\v]*)[ \t\r\n\f\v]*")


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


def _is_plain(text: str) -> bool:
    """No quote and no backslash: words are runs of non-space characters, taken as written."""
    return '"' not in text and "'" not in text and "\\" not in text


def next_word(text: str, pos: int = 0) -> tuple[str, int]:
    """Read one word from ``text[pos:]`` like ``ap_getword_conf``.

    Returns the word (quotes removed, ``\\\\`` and ``\\<quote>`` unescaped
    inside quotes, ``\\\\`` outside) and the position after the following
    whitespace. An unterminated quote runs to the end of the line, as in httpd.
    """
    if _is_plain(text):
        head = _HEAD.match(text, pos)
        assert head is not None  # every part of the pattern may match empty
        return head.group(1), head.end()
    return _read_word(text, pos)


def _read_word(text: str, pos: int) -> tuple[str, int]:
    """``next_word`` character by character, for text with quotes or backslashes."""
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
    if _is_plain(text):
        head = _HEAD.match(text)
        assert head is not None  # every part of the pattern may match empty
        rest = text[head.end() :]
        return head.group(1), rest, _WORD.findall(rest)
    name, pos = _read_word(text, 0)
    rest = text[pos:]
    return name, rest, split_words(rest)


def split_words(text: str) -> list[str]:
    """All words of ``text``, as a directive's handler would read them."""
    if _is_plain(text):
        return _WORD.findall(text)
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

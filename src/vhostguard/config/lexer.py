"""httpd's config lexing rules: physical lines to logical lines to words.

Mirrors ``ap_cfg_getline`` (continuation, trimming) and ``ap_getword_conf``
(quoting) in httpd's server/util.c. The lexer builds no structure.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


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
    pending: list[str] = []
    physical = text.split("\n")
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
        yield LogicalLine(index + 1, joined.strip(" \t\r\n\f\v"))
    if pending:
        yield LogicalLine(last_index + 1, "".join(pending).strip(" \t\r\n\f\v"))


_SPACE = " \t\r\n\f\v"


def next_word(text: str, pos: int = 0) -> tuple[str, int]:
    """Read one word from ``text[pos:]`` like ``ap_getword_conf``.

    Returns the word (quotes removed, ``\\\\`` and ``\\<quote>`` unescaped
    inside quotes, ``\\\\`` outside) and the position after the following
    whitespace. An unterminated quote runs to the end of the line, as in httpd.
    """
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
        end = pos
        while end < length and text[end] not in _SPACE:
            end += 1
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


def split_words(text: str) -> list[str]:
    """All words of ``text``, as a directive's handler would read them."""
    words: list[str] = []
    pos = 0
    length = len(text)
    while True:
        while pos < length and text[pos] in _SPACE:
            pos += 1
        if pos >= length:
            return words
        word, pos = next_word(text, pos)
        words.append(word)

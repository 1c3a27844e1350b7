"""Line edits on copied config files, and the way back to original lines.

The sandbox edits the real text at the positions the loader reports instead
of writing a flattened config: apache2 must parse what the user wrote, so a
bug in our own parser cannot hide behind our own output.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_BARE_WORD = re.compile(r"""[^\s"'\\]+""")


def quote_word(word: str) -> str:
    """Text that ``ap_getword_conf`` reads back as ``word``.

    Inside double quotes httpd turns ``\\\\`` into ``\\`` and ``\\"`` into
    ``"`` and keeps any other backslash, so escaping both is always safe.
    """
    if _BARE_WORD.fullmatch(word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def word_spans(text: str) -> list[tuple[int, int]]:
    """Start and end of each word of ``text``, with ``ap_getword_conf``'s boundaries."""
    spans: list[tuple[int, int]] = []
    pos, length = 0, len(text)
    while True:
        while pos < length and text[pos].isspace():
            pos += 1
        if pos >= length:
            return spans
        start = pos
        quote = text[pos]
        if quote in "\"'":
            pos += 1
            while pos < length and text[pos] != quote:
                pos += 2 if text[pos] == "\\" and pos + 1 < length and text[pos + 1] in (quote, "\\") else 1
            pos = min(pos + 1, length)
        else:
            while pos < length and not text[pos].isspace():
                pos += 1
        spans.append((start, pos))


def replace_word(text: str, index: int, new_word: str) -> str:
    """``text`` with its ``index``-th word replaced by ``new_word`` (quoted as needed)."""
    spans = word_spans(text)
    start, end = spans[index]
    return text[:start] + quote_word(new_word) + text[end:]


def directive_line(name: str, words: list[str]) -> str:
    return " ".join([name, *(quote_word(w) for w in words)])


@dataclass
class FileEdits:
    """Edits to one file, keyed by the LAST physical line of a directive (the loader's Source.line)."""

    replace: dict[int, str] = field(default_factory=dict)
    insert_after: dict[int, list[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.replace or self.insert_after)


def _body(piece: str) -> str:
    return piece.removesuffix("\r")


def logical_start(lines: list[str], last: int) -> int:
    """Index of the first physical line of the directive ending at index ``last``.

    httpd continues a line that ends in a backslash, so the directive starts
    after the nearest earlier line that does not.
    """
    start = last
    while start > 0 and _body(lines[start - 1]).endswith("\\"):
        start -= 1
    return start


def logical_text(text: str, last_line: int) -> str:
    """The joined, trimmed logical line that ends at physical line ``last_line`` (1-based)."""
    lines = text.split("\n")
    last = last_line - 1
    if not 0 <= last < len(lines):
        return ""
    start = logical_start(lines, last)
    pieces = [_body(lines[i])[:-1] for i in range(start, last)] + [_body(lines[last])]
    return "".join(pieces).strip()


def apply_edits(text: str, edits: FileEdits) -> str:
    """Apply ``edits`` to ``text``.

    A replaced directive keeps its line number: its new text goes on its last
    physical line (the number httpd reports) and its continuation lines
    before that become empty. Inserted lines shift what follows; LineMap
    undoes that shift in apache2's messages.
    """
    lines = text.split("\n")
    for last_line, new_text in edits.replace.items():
        last = last_line - 1
        if not 0 <= last < len(lines):
            raise ValueError(f"line {last_line} is beyond the end of the file")
        start = logical_start(lines, last)
        indent = re.match(r"[ \t]*", lines[start]).group(0)  # type: ignore[union-attr]
        for index in range(start, last):
            lines[index] = "\r" if lines[index].endswith("\r") else ""
        lines[last] = indent + new_text + ("\r" if lines[last].endswith("\r") else "")
    if not edits.insert_after:
        return "\n".join(lines)
    out: list[str] = []
    for number, piece in enumerate(lines, start=1):
        out.append(piece)
        out.extend(edits.insert_after.get(number, ()))
    return "\n".join(out)


@dataclass(frozen=True)
class LineMap:
    """Maps a line of an edited copy back to the original file's line."""

    inserted: dict[str, tuple[tuple[int, int], ...]]  # copy file -> ((original line, lines inserted after it), ...)

    @staticmethod
    def build(edits: dict[str, FileEdits]) -> LineMap:
        return LineMap({
            path: tuple(sorted((line, len(extra)) for line, extra in e.insert_after.items() if extra))
            for path, e in edits.items() if e.insert_after
        })

    def original_line(self, copy_file: str, copy_line: int) -> int:
        shifts = self.inserted.get(copy_file, ())
        offset = 0
        for original, count in shifts:
            first_inserted = original + offset + 1
            if copy_line < first_inserted:
                break
            if copy_line < first_inserted + count:
                return original  # one of our own lines: blame the directive it belongs to
            offset += count
        return copy_line - offset


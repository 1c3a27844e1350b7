"""A rich Console that escapes control characters in what it renders (``vhostguard.cli.output.console``).

Kept apart from ``cli.output`` so that commands printing no table never import rich.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from vhostguard.safetext import terminal_text


class SafeConsole(Console):
    """A rich Console whose rendered text has control characters escaped (its own styles kept).

    Text objects are escaped before rendering, so wrapping and folding see the
    escaped form; every segment is checked again after rendering, which covers
    anything else (plain strings, other renderables).
    """

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None) -> Iterable[Segment]:
        renderable = _escaped(renderable)
        if isinstance(renderable, Table):
            _escape_table(renderable)
        for segment in super().render(renderable, options):
            if segment.control or terminal_text(segment.text) is segment.text:
                yield segment
            else:
                yield Segment(terminal_text(segment.text), segment.style, segment.control)


def _escaped(renderable: Any) -> Any:
    if isinstance(renderable, Text):
        return _escaped_text(renderable)
    if isinstance(renderable, str):
        return terminal_text(renderable)
    return renderable


def _escape_table(table: Table) -> None:
    """Escape a table's cells before it measures its columns (so escaped text is not cut short).

    Cells are in the columns' private ``_cells``; without it (another rich), the
    segments are still escaped after rendering, only possibly cut by the column width.
    """
    table.title = _escaped(table.title)
    table.caption = _escaped(table.caption)
    for column in table.columns:
        column.header = _escaped(column.header)
        column.footer = _escaped(column.footer)
        cells = getattr(column, "_cells", None)
        if isinstance(cells, list):
            cells[:] = [_escaped(cell) for cell in cells]


def _escaped_text(text: Text) -> Text:
    plain = text.plain
    if terminal_text(plain) is plain:
        return text
    # Escaping changes lengths: each span moves to where its characters went.
    pieces = [terminal_text(char) for char in plain]
    offsets = [0]
    for piece in pieces:
        offsets.append(offsets[-1] + len(piece))
    escaped = text.blank_copy("".join(pieces))
    for span in text.spans:
        escaped.stylize(span.style, offsets[span.start], offsets[min(span.end, len(plain))])
    return escaped

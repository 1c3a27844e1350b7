"""mod_macro: ``<Macro>`` definitions and their expansion at ``Use``."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from vhostguard.config.lexer import LogicalLine
from vhostguard.config.source import Source


@dataclass(frozen=True, slots=True)
class Macro:
    name: str
    params: tuple[str, ...]
    body: tuple[LogicalLine, ...]  # line numbers are those of the defining file
    source: Source
    # The lines expansion keeps, as str.format templates: a macro is parsed for
    # its parameters once, not at every Use. ``template`` is them joined by
    # newlines, so that a Use is one format() call; the expanded text splits
    # back into the same lines as long as no line and no value has a newline
    # (a logical line never has; a value only from a multi-line environment
    # variable). None when the body keeps no line or has a newline.
    templates: tuple[str, ...] = field(init=False, repr=False, compare=False)
    template: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        templates = _templates(self.params, self.body)
        joinable = bool(templates) and not any("\n" in template for template in templates)
        object.__setattr__(self, "templates", templates)
        object.__setattr__(self, "template", "\n".join(templates) if joinable else None)

    def description(self, use: Source) -> str:
        """How ``apache2 -S`` names text expanded from this macro."""
        return (
            f"macro '{self.name.lower()}' (defined on line {self.source.line} of \"{self.source.file}\") "
            f"used on line {use.line} of \"{use.file}\""
        )

    def expand(self, values: list[str]) -> list[str]:
        """The body's lines with parameters substituted, longest parameter name first.

        mod_macro drops comment lines first and numbers the rest from 1, as
        lines of a virtual file: line N is ``expand(...)[N - 1]``.
        """
        if self.template is None or "\n" in "".join(values):
            return [template.format(*values) for template in self.templates]
        return self.template.format(*values).split("\n")


def _templates(params: tuple[str, ...], body: tuple[LogicalLine, ...]) -> tuple[str, ...]:
    """Each kept body line with every parameter replaced by ``{index}`` of its value.

    Parameters are found as one left-to-right scan trying the longest name
    first at each position; the text between them is kept literally (braces
    doubled for ``str.format``). A repeated parameter name takes its last value.
    """
    kept = [line.text for line in body if not line.text.startswith("#")]
    if not params:
        return tuple(_literal(text) for text in kept)
    index = {param: position for position, param in enumerate(params)}
    pattern = re.compile("|".join(re.escape(p) for p in sorted(params, key=len, reverse=True)))
    templates: list[str] = []
    for text in kept:
        pieces: list[str] = []
        end = 0
        for found in pattern.finditer(text):
            pieces.append(_literal(text[end : found.start()]))
            pieces.append(f"{{{index[found.group(0)]}}}")
            end = found.end()
        pieces.append(_literal(text[end:]))
        templates.append("".join(pieces))
    return tuple(templates)


def _literal(text: str) -> str:
    """``text`` as a ``str.format`` template that reproduces it."""
    return text.replace("{", "{{").replace("}", "}}")

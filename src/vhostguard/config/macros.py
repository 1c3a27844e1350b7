"""mod_macro: ``<Macro>`` definitions and their expansion at ``Use``."""
from __future__ import annotations

import re
from dataclasses import dataclass

from vhostguard.config.lexer import LogicalLine
from vhostguard.config.source import Source


@dataclass(frozen=True, slots=True)
class Macro:
    name: str
    params: tuple[str, ...]
    body: tuple[LogicalLine, ...]  # line numbers are those of the defining file
    source: Source

    def description(self, use: Source) -> str:
        """How ``apache2 -S`` names text expanded from this macro."""
        return (
            f"macro '{self.name.lower()}' (defined on line {self.source.line} of \"{self.source.file}\") "
            f"used on line {use.line} of \"{use.file}\""
        )

    def expand(self, values: list[str]) -> list[LogicalLine]:
        """Substitute parameters in the body, longest parameter name first.

        Line numbers become 1-based within the macro body, as mod_macro's
        virtual file numbers them; mod_macro drops comment lines first.
        """
        body = [line for line in self.body if not line.text.startswith("#")]
        if not self.params:
            return [LogicalLine(i + 1, line.text) for i, line in enumerate(body)]
        table = dict(zip(self.params, values))
        ordered = sorted(self.params, key=len, reverse=True)
        pattern = re.compile("|".join(re.escape(p) for p in ordered))
        return [
            LogicalLine(i + 1, pattern.sub(lambda m: table[m.group(0)], line.text))
            for i, line in enumerate(body)
        ]

"""Where a piece of configuration came from, and the problems found while reading it."""
from __future__ import annotations

import re
from dataclasses import dataclass

from vhostguard.speed import slot_setters


@dataclass(frozen=True, slots=True, init=False)
class Source:
    """A position in the configuration: the file and the (last physical) line.

    httpd numbers a directive continued over several lines by its last physical
    line, and so do we. For text expanded from a mod_macro ``Use``, ``file`` and
    ``line`` are the ``Use`` line and ``macro`` describes the macro, in the words
    ``apache2 -S`` uses.
    """

    file: str
    line: int
    macro: str | None = None

    def __init__(self, file: str, line: int, macro: str | None = None) -> None:
        _set_file(self, file)
        _set_line(self, line)
        _set_macro(self, macro)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


# C0 controls but tab, DEL, C1 controls, and the lone surrogates that stand for
# bytes that are not UTF-8 (surrogateescape).
_UNPRINTABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\udc80-\udcff]")


def _escape(found: re.Match[str]) -> str:
    code = ord(found.group(0))
    return f"\\x{code - 0xDC00 if code >= 0xDC00 else code:02x}"


def printable(text: str) -> str:
    """``text`` safe to print on one terminal line: what a config brings in (escape
    sequences, line breaks, bytes that are not UTF-8) shown as ``\\xNN``, as httpd
    escapes what it logs."""
    return _UNPRINTABLE.sub(_escape, text)


_set_file, _set_line, _set_macro = slot_setters(Source, "file", "line", "macro")


@dataclass(frozen=True, slots=True)
class ConfigError(Exception):
    """A configuration problem that httpd would refuse to start with."""

    source: Source | None
    message: str

    def __str__(self) -> str:
        if self.source is None:
            return printable(self.message)
        return printable(f"{self.source}: {self.message}")


@dataclass(frozen=True, slots=True)
class ConfigWarning:
    """Something httpd accepts but warns about (e.g. an undefined ``${VAR}``)."""

    source: Source | None
    message: str

    def __str__(self) -> str:
        if self.source is None:
            return printable(self.message)
        return printable(f"{self.source}: {self.message}")

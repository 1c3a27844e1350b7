"""Where a piece of configuration came from, and the problems found while reading it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
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

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class ConfigError(Exception):
    """A configuration problem that httpd would refuse to start with."""

    source: Source | None
    message: str

    def __str__(self) -> str:
        if self.source is None:
            return self.message
        return f"{self.source}: {self.message}"


@dataclass(frozen=True, slots=True)
class ConfigWarning:
    """Something httpd accepts but warns about (e.g. an undefined ``${VAR}``)."""

    source: Source | None
    message: str

    def __str__(self) -> str:
        if self.source is None:
            return self.message
        return f"{self.source}: {self.message}"

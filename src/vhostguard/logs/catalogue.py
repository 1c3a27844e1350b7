"""The AH-code catalogue: what httpd 2.4's numbered error-log messages mean and what to check.

httpd tags most error-log messages with a code, ``AHnnnnn``, fixed at the
call site by ``APLOGNO(nnnnn)`` (docs/log-message-tags in httpd's tree).
The catalogue (``data/ahcodes.json``) holds the codes that show up in real
failures: proxy connects, timeouts and DNS, rewrite loops, access denied,
missing files, .htaccess and TLS problems, worker exhaustion, crashes,
restarts. Each entry names the source file that logs it, the level, the
message format (printf-style, as in the source) and, in our own words, its
meaning, typical causes and what to check. Codes, files, levels and formats
were read from the httpd commit recorded in the data file; the tests check
every code against a list derived from that commit
(tools/ahcodes_from_httpd.py).
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files

_CODE_IN_LINE = re.compile(r"\bAH([0-9]{5}): ")
_CODE_ARG = re.compile(r"(?:AH)?([0-9]{1,5})", re.IGNORECASE)
# printf conversions as httpd's formats use them: %s %d %ld %hu %u %.*s, and APR's %pI (address), %pm (error text).
_CONVERSION = re.compile(r"%(?:\.\*)?(?:p[A-Za-z]|l{0,2}[duxX]|h[du]|[sduxX])")


@dataclass(frozen=True, slots=True)
class CodeEntry:
    """One catalogued message code.

    ``module`` is the name httpd writes in the ``[module:level]`` part of the
    line; ``source`` the file of httpd's tree holding the ``APLOGNO`` site;
    ``level`` the level it is logged at (``startup``: written to stderr or
    the log while starting, before the usual format applies); ``format`` the
    message as the source writes it, code first.
    """

    code: str
    module: str
    source: str
    level: str
    topic: str
    format: str
    meaning: str
    causes: tuple[str, ...]
    checks: tuple[str, ...]
    related: tuple[str, ...] = ()
    pattern: re.Pattern[str] = field(repr=False, compare=False, default=re.compile(""))

    def matches(self, text: str) -> bool:
        """Whether ``text`` (a log line, or its part from the code on) carries this message in its format."""
        start = text.find(self.code + ":")
        return start >= 0 and self.pattern.match(text, start) is not None


@dataclass(frozen=True, slots=True)
class Catalogue:
    """All entries by code, and the httpd sources they were checked against."""

    entries: Mapping[str, CodeEntry]
    httpd_version: str
    httpd_commit: str

    def get(self, code: str) -> CodeEntry | None:
        """The entry for ``code`` (``AH01114``, ``ah01114`` or ``1114``), None when not catalogued."""
        normal = normalise_code(code)
        return self.entries.get(normal) if normal else None

    def explain_line(self, line: str) -> CodeEntry | None:
        """The entry for the message code an error-log line carries, None without a catalogued code."""
        found = _CODE_IN_LINE.search(line)
        return self.entries.get(f"AH{found.group(1)}") if found else None

    def nearest(self, code: str, count: int = 3) -> tuple[str, ...]:
        """The catalogued codes numerically closest to ``code`` (codes of one module are numbered together)."""
        normal = normalise_code(code)
        if normal is None:
            return ()
        number = int(normal[2:])
        return tuple(sorted(self.entries, key=lambda known: (abs(int(known[2:]) - number), known))[:count])


def normalise_code(text: str) -> str | None:
    """``AH01114`` for ``AH01114``, ``ah01114``, ``AH1114`` or ``01114``; None when it is no code at all."""
    m = _CODE_ARG.fullmatch(text.strip())
    return f"AH{int(m.group(1)):05d}" if m else None


def _pattern(format_: str) -> re.Pattern[str]:
    parts = _CONVERSION.split(format_)
    # Conversions match anything; a run of spaces in a format may come out as one (httpd
    # joins string literals, and some formats carry two spaces after a full stop).
    literal = [re.escape(part).replace(r"\ \ ", r"\ +") for part in parts]
    return re.compile(".*?".join(literal), re.DOTALL)


@cache
def load_catalogue() -> Catalogue:
    """The catalogue shipped with vhostguard (read once; it is immutable)."""
    document = json.loads(files("vhostguard.logs").joinpath("data/ahcodes.json").read_text(encoding="utf-8"))
    entries = {}
    for item in document["codes"]:
        entries[item["code"]] = CodeEntry(
            code=item["code"], module=item["module"], source=item["source"], level=item["level"], topic=item["topic"],
            format=item["format"], meaning=item["meaning"], causes=tuple(item["causes"]), checks=tuple(item["checks"]),
            related=tuple(item.get("related", ())), pattern=_pattern(item["format"]))
    httpd = document["httpd"]
    return Catalogue(entries, httpd["version"], httpd["commit"])


def explain_code(code: str) -> CodeEntry | None:
    """The catalogue's entry for ``code`` (any case, ``AH`` optional), None when not catalogued."""
    return load_catalogue().get(code)


def explain_line(line: str) -> CodeEntry | None:
    """The catalogue's entry for the code an error-log line carries, None when it has no catalogued code."""
    return load_catalogue().explain_line(line)

"""httpd's regex helpers as the mappers use them: compile once, substitute ``$N``."""
from __future__ import annotations

import re
from functools import lru_cache

_GROUP = re.compile(r"\$(\d)|\\(.)")


@lru_cache(maxsize=4096)
def compile_regex(pattern: str, ignore_case: bool = False) -> re.Pattern[str] | None:
    """The compiled pattern, or None when Python's ``re`` cannot read it (httpd uses PCRE)."""
    try:
        return re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error:
        return None


def pregsub(template: str, found: re.Match[str]) -> str:
    """``ap_pregsub``: ``$0``-``$9`` from the match (missing groups are empty), ``\\x`` is ``x``."""

    def replace(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            try:
                return found.group(int(m.group(1))) or ""
            except IndexError:
                return ""
        return m.group(2)

    return _GROUP.sub(replace, template)

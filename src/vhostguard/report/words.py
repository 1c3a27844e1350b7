"""Small wording helpers for the reports: counted nouns, text safe to print."""
from __future__ import annotations

import re
from typing import Any

__all__ = ["plural", "printable", "printable_json"]


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``"1 request"``, ``"2 requests"``, ``"0 requests"``; ``plural_form`` for irregular nouns
    (``plural(n, "match", "matches")``). Counts of 1,000 and more get thousands separators."""
    return f"{count:,} {noun if count == 1 else plural_form or noun + 's'}"


# What a terminal must not receive raw: control characters (an ESC from a request
# or config could drive it), and the lone surrogates that bytes which are not
# UTF-8 become in a decoded path (/%ff) or a config file: no encoder writes those.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")  # JSON escapes control characters itself


def _escaped(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code - 0xdc00:02x}" if 0xdc80 <= code <= 0xdcff else f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with control characters and undecodable bytes written ``\\xhh``, as
    httpd's error log writes them (ap_escape_logitem)."""
    return _UNPRINTABLE.sub(_escaped, text) if _UNPRINTABLE.search(text) else text


def printable_json(value: Any) -> Any:
    """``value`` with undecodable bytes written ``\\xhh`` in every string (keys too);
    JSON escapes control characters itself."""
    if isinstance(value, str):
        return _SURROGATE.sub(_escaped, value) if _SURROGATE.search(value) else value
    if isinstance(value, dict):
        return {printable_json(k): printable_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [printable_json(item) for item in value]
    return value

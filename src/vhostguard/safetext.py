"""Text from a config or a log, made safe to print on a terminal or to carry in JSON.

A config tree or a log under audit may come from anyone, and what it holds
reaches the terminal (ServerNames, paths, Host headers, ``%v``) and JSON
documents. Two rules, one implementation each (docs/contract.md,
"Output encoding"):

Terminal: every control character except newline and tab is written as an
escape, as httpd writes them in its logs (``ap_escape_logitem``,
server/util.c): ``\\b``, ``\\r``, ``\\v``, else ``\\xhh`` for C0 controls
and DEL; C1 controls (U+0080-U+009F, which some terminals read as ESC
sequences) as ``\\u0080``..``\\u009f``; a byte that was not UTF-8 and
travelled as a surrogate (Python's ``surrogateescape``: byte 0xhh is
U+DChh) as ``\\xhh``, and any other lone surrogate as ``\\udxxx``. So ESC,
OSC 52 (clipboard), BEL, CSI never reach the terminal raw. Backslashes are
kept as they are (regexes and paths read better), so the escaped form is for
reading, not for undoing.

JSON: the text is UTF-8 always. A lone surrogate (an undecodable byte 0xhh,
carried as U+DChh) is written as the JSON escape ``\\udchh``, which a
reader decodes back to the same string (Python: ``json.loads``, then
``.encode("utf-8", "surrogateescape")`` gives the original bytes); DEL and
C1 controls are written ``\\u007f``, ``\\u0080``..``\\u009f`` so that JSON
shown on a terminal is safe too. C0 controls are escaped by JSON itself.
"""
from __future__ import annotations

import json
import re
from typing import Any

# What a terminal must never receive raw (newline and tab are fine).
_TERMINAL_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
# What JSON leaves raw with ensure_ascii=False and we escape: DEL, C1, lone surrogates.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\ud800-\udfff]")
# The same in UTF-8 JSON bytes (orjson's output): DEL, and C1 as encoded (0xC2 0x80-0x9F is
# always U+0080-U+009F in valid UTF-8, and JSON has characters above ASCII only inside strings).
_JSON_UNSAFE_BYTES = re.compile(b"\x7f|\xc2[\x80-\x9f]")
_NAMED = {"\b": "\\b", "\r": "\\r", "\v": "\\v"}  # the short forms httpd writes
# Printable ASCII, tab and newline: deleting these from ASCII text leaves what must be escaped.
_ASCII_SAFE = b"\t\n" + bytes(range(0x20, 0x7F))


def _terminal_escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x80:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the undecodable byte itself
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def terminal_text(text: str) -> str:
    """``text`` with every control character and lone surrogate escaped (newline and tab kept)."""
    # Fast path for ASCII (nearly all output): isascii, encode and translate are C loops,
    # several times faster than the regex scan.
    if text.isascii() and not text.encode("ascii").translate(None, _ASCII_SAFE):
        return text
    if _TERMINAL_UNSAFE.search(text) is None:
        return text
    return _TERMINAL_UNSAFE.sub(_terminal_escape, text)


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_safe(encoded: str) -> str:
    """JSON text from ``json`` (``ensure_ascii=False``) with DEL, C1 controls and lone surrogates
    escaped as ``\\uXXXX``: the same document, always encodable as UTF-8. These characters can
    only occur inside JSON strings, where the escape means the same character."""
    if encoded.isascii() and "\x7f" not in encoded:  # the fast path: C scans only
        return encoded
    if _JSON_UNSAFE.search(encoded) is None:
        return encoded
    return _JSON_UNSAFE.sub(_json_escape, encoded)


def _json_escape_bytes(match: re.Match[bytes]) -> bytes:
    data = match.group()
    code = data[0] if len(data) == 1 else data[1]
    return b"\\u%04x" % code


def json_safe_bytes(encoded: bytes) -> bytes:
    """UTF-8 JSON bytes (orjson never writes surrogates) with DEL and C1 controls escaped, as ``json_safe``."""
    if b"\x7f" not in encoded and b"\xc2" not in encoded:  # the fast path: two memchr-like scans
        return encoded
    if _JSON_UNSAFE_BYTES.search(encoded) is None:
        return encoded
    return _JSON_UNSAFE_BYTES.sub(_json_escape_bytes, encoded)


def json_dumps(value: Any, *, compact: bool = True) -> str:
    """``value`` as JSON text under the rules above (non-ASCII kept readable; compact separators)."""
    separators = (",", ":") if compact else None
    return json_safe(json.dumps(value, ensure_ascii=False, separators=separators))


def json_line(value: Any) -> bytes:
    """``value`` as one compact JSON line, UTF-8 encoded (never raises on undecodable bytes)."""
    return (json_dumps(value) + "\n").encode("utf-8")

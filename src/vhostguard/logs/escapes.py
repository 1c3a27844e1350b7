"""Undo ``ap_escape_logitem`` (server/util.c).

httpd escapes every byte that is not printable ASCII, plus ``"`` and ``\\``,
in the values it logs from the request (%r, %i, %o, %e, %n, %C, %U, %q, %u,
...): ``\\b \\n \\r \\t \\v \\\\ \\"`` and ``\\xhh`` for the rest, so an access
log is pure ASCII. Reading a value back gives the bytes the client sent;
they are decoded as UTF-8, and bytes that are not UTF-8 stay visible as
``\\xhh`` (Python's ``backslashreplace``) rather than being dropped.
"""
from __future__ import annotations

import codecs
import re

_SIMPLE = {"b": "\b", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}
_SIMPLE_BYTES = {key.encode(): value.encode() for key, value in _SIMPLE.items()}
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPE_BYTES = re.compile(rb"\\(x[0-9a-fA-F]{2}|.)", re.DOTALL)
# Escapes httpd never writes (octal digits, \a, a bad \x, a trailing backslash), which
# Python's escape decoder would read differently: those take the general path.
_UNUSUAL = re.compile(r'\\(?:[^bnrtv\\"x]|x(?![0-9a-fA-F]{2}))|\\\Z', re.DOTALL).search


def _simple(m: re.Match[str]) -> str:
    # An escape httpd never writes (``\q``) is kept as written.
    return _SIMPLE.get(m.group(1), m.group(0))


def _with_bytes(m: re.Match[bytes]) -> bytes:
    token = m.group(1)
    if len(token) == 3:
        return bytes((int(token[1:], 16),))
    return _SIMPLE_BYTES.get(token, m.group(0))


def unescape(text: str) -> str:
    """The value httpd escaped into ``text`` (unchanged when it holds no backslash)."""
    if "\\" not in text:
        return text
    if text.isascii() and _UNUSUAL(text) is None:
        # Every escape httpd writes is also a Python bytes escape, and the C
        # decoder is several times faster than a regex with a callback.
        return codecs.escape_decode(text.encode("ascii"))[0].decode("utf-8", "backslashreplace")
    if "\\x" not in text:
        return _ESCAPE.sub(_simple, text)
    # \xhh escapes are bytes: a UTF-8 character arrives as two or more of them.
    raw = _ESCAPE_BYTES.sub(_with_bytes, text.encode("utf-8", "surrogateescape"))
    return raw.decode("utf-8", "backslashreplace")

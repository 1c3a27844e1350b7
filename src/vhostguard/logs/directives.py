"""What each ``%`` directive of mod_log_config logs, and where it goes in a record.

The table follows ``log_pfn_register`` in modules/loggers/mod_log_config.c
(httpd 2.4.71 as shipped by Debian) plus mod_logio (``%I %O %S %^FB``) and
mod_ssl (``%{VAR}x``, ``%{name}c``). ``escaped`` says whether httpd passes the
value through ``ap_escape_logitem``; ``spaces`` whether a real value can
hold a space (which makes an unquoted field ambiguous).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vhostguard.logs.timefmt import TimePiece, time_piece

# Kinds of values: how a field is matched and converted.
STR = "str"            # text; '-' is null
USER = "user"          # %u: like STR, and httpd writes "" for an empty user
INT = "int"            # decimal; '-' is null
HEX = "hex"            # %{hextid}P
BYTES_CLF = "bytes_clf"  # %b: '-' means 0
CONN = "conn"          # %X: X, + or -
QUERY = "query"        # %q: "" or "?args"
REQUEST = "request"    # %r: method target protocol
TIME = "time"          # %t, %{...}t
DURATION = "duration"  # %D, %T, %{ms}T, %{us}T: converted to microseconds

DICT_KEYS = {"i": "headers_in", "o": "headers_out", "e": "env", "n": "notes", "C": "cookies",
             "^ti": "trailers_in", "^to": "trailers_out", "x": "ssl", "c": "ssl"}


@dataclass(frozen=True, slots=True)
class Slot:
    """One field of a format resolved to its record key.

    ``sub`` is the name inside a dict-valued key (``headers_in``...);
    ``rank`` orders several fields feeding one key (lowest wins: %D over
    %T, %B over %b); ``scale`` converts a duration to microseconds.
    """

    key: str
    kind: str
    escaped: bool
    spaces: bool
    text: str
    sub: str | None = None
    rank: int = 0
    scale: int = 1
    time: TimePiece | None = None

    @property
    def label(self) -> str:
        return f"{self.text} ({self.key}{'.' + self.sub if self.sub else ''})"


def resolve(letter: str, arg: str, want_orig: bool | None, text: str) -> Slot | str:
    """The slot for directive ``letter`` with ``{arg}``, or the constant text httpd writes.

    httpd writes the argument itself for a bogus ``%{x}T``/``%{x}p``/``%{x}P``.
    Raises KeyError for a directive httpd does not know.
    """
    if letter in DICT_KEYS:
        kind = STR
        escaped = letter not in ("x", "c")
        return Slot(DICT_KEYS[letter], kind, escaped, True, text, sub=arg)
    handler = _SIMPLE.get(letter)
    if handler is not None:
        key, kind, escaped, spaces = handler
        if letter in "haL" and arg == "c":
            key = {"h": "peer_host", "a": "peer_addr", "L": "conn_log_id"}[letter]
        return Slot(key, kind, escaped, spaces, text)
    special = _SPECIAL[letter]
    return special(arg, want_orig, text)


# letter -> (key, kind, escaped, spaces)
_SIMPLE: dict[str, tuple[str, str, bool, bool]] = {
    "h": ("remote_host", STR, True, False),
    "a": ("remote_addr", STR, False, False),
    "A": ("local_addr", STR, False, False),
    "l": ("remote_logname", STR, True, False),
    "u": ("remote_user", USER, True, True),
    "f": ("filename", STR, True, True),
    "m": ("method", STR, True, False),
    "U": ("path", STR, True, True),  # r->uri is percent-decoded: "/a%20b" is logged "/a b"
    "H": ("protocol", STR, True, False),
    "q": ("query", QUERY, True, False),
    "v": ("vhost", STR, True, False),
    "V": ("server_name", STR, True, False),
    "X": ("conn_status", CONN, False, False),
    "k": ("keepalive", INT, False, False),
    "L": ("log_id", STR, False, False),
    "R": ("handler", STR, True, False),
    "r": ("request_line", REQUEST, True, True),
    "I": ("bytes_in", INT, False, False),
    "O": ("bytes_out", INT, False, False),
    "S": ("bytes_total", INT, False, False),
    "^FB": ("first_byte_us", INT, False, False),
}


def _status(arg: str, want_orig: bool | None, text: str) -> Slot:
    # %s logs the original request's status unless written %>s (want_orig_default is 1 for "s").
    key = "status" if want_orig is False else "original_status"
    return Slot(key, INT, False, False, text)


def _bytes(clf: bool) -> Callable[[str, bool | None, str], Slot]:
    def make(arg: str, want_orig: bool | None, text: str) -> Slot:
        return Slot("bytes", BYTES_CLF if clf else INT, False, False, text, rank=1 if clf else 0)
    return make


def _duration_us(arg: str, want_orig: bool | None, text: str) -> Slot:
    return Slot("duration_us", DURATION, False, False, text, rank=0, scale=1)


def _duration_scaled(arg: str, want_orig: bool | None, text: str) -> Slot | str:
    unit = arg.lower()
    if unit in ("", "s"):
        return Slot("duration_us", DURATION, False, False, text, rank=3, scale=1_000_000)
    if unit == "ms":
        return Slot("duration_us", DURATION, False, False, text, rank=2, scale=1000)
    if unit == "us":
        return Slot("duration_us", DURATION, False, False, text, rank=1, scale=1)
    return arg  # "bogus format": httpd logs the argument


def _port(arg: str, want_orig: bool | None, text: str) -> Slot | str:
    key = {"": "port", "canonical": "port", "local": "local_port", "remote": "remote_port"}.get(arg.lower())
    return Slot(key, INT, False, False, text) if key else arg


def _pid(arg: str, want_orig: bool | None, text: str) -> Slot | str:
    form = arg.lower()
    if form in ("", "pid"):
        return Slot("pid", INT, False, False, text)
    if form == "tid":
        return Slot("tid", INT, False, False, text)
    if form == "hextid":
        return Slot("tid", HEX, False, False, text)
    return arg


def _time(arg: str, want_orig: bool | None, text: str) -> Slot | str:
    piece = time_piece(arg)
    if isinstance(piece, str):
        return piece
    return Slot("time", TIME, False, False, text, time=piece)


_SPECIAL: dict[str, Callable[[str, bool | None, str], Slot | str]] = {
    "s": _status,
    "b": _bytes(True),
    "B": _bytes(False),
    "D": _duration_us,
    "T": _duration_scaled,
    "p": _port,
    "P": _pid,
    "t": _time,
}

# Every directive letter httpd 2.4.71 accepts ("^xx" are three characters long).
LETTERS = frozenset(DICT_KEYS) | frozenset(_SIMPLE) | frozenset(_SPECIAL)

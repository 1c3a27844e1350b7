"""Times as mod_log_config writes them, read back into ISO 8601.

``%t`` is httpd's CLF time ``[01/Nov/2017:07:28:29 +0000]``; ``%{FORMAT}t``
is ``strftime(FORMAT)`` of the local time (C locale, httpd never calls
``setlocale``), with ``begin:``/``end:`` prefixes and the epoch forms
``sec``, ``msec``, ``usec``, ``msec_frac``, ``usec_frac``
(``log_request_time`` in modules/loggers/mod_log_config.c).

Each time item of a format becomes a :class:`TimePiece`: a regex for its
text and a way to read components (year, month, ..., offset, epoch) out of
it. Several pieces of one format combine into the one ``time`` of a record.
Conversions are cached: a log has at most a few distinct times per second.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, UTC

from vhostguard.speed import memo

MONTHS = {name: index + 1 for index, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"))}
_MONTHS_2 = {name: f"{number:02d}" for name, number in MONTHS.items()}
_FULL_MONTHS = {name: index + 1 for index, name in enumerate(
    ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
     "November", "December"))}
_CACHE_LIMIT = 8192  # distinct time strings kept; a log holds about one per second
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

CLF_PATTERN = r"\[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\]"
_CLF = re.compile(
    r"\[([0-9]{2})/([A-Z][a-z]{2})/([0-9]{4}):([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})\]\Z",
    re.ASCII)


def clf_to_iso(text: str) -> str:
    """``[01/Nov/2017:07:28:29 +0000]`` -> ``2017-11-01T07:28:29+00:00``; ValueError if not a real time."""
    m = _CLF.match(text)
    if m is None or m.group(2) not in _MONTHS_2:
        raise ValueError(f"bad time {text!r}: expected [dd/Mon/yyyy:hh:mm:ss +zzzz]")
    day, month, year, hour, minute, second = m.group(1), _MONTHS_2[m.group(2)], m.group(3), m.group(4), m.group(5), m.group(6)
    # datetime() rejects 31/Feb and 25:00; the cache makes this check rare.
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                          tzinfo=_offset(m.group(7) + m.group(8) + m.group(9)))
        in_range(moment)
    except (ValueError, OverflowError) as problem:
        raise ValueError(f"bad time {text!r}: {problem}") from None
    return f"{year}-{month}-{day}T{hour}:{minute}:{second}{m.group(7)}{m.group(8)}:{m.group(9)}"


def clf_converter() -> Callable[[str], str | None]:
    """A cached ``%t`` converter: ``-`` (a failed status condition) is None."""
    return memo(lambda text: None if text == "-" else clf_to_iso(text), _CACHE_LIMIT)


# --- %{FORMAT}t -------------------------------------------------------------

# strftime conversion -> (regex, component names captured in order, spaces in its output or None if variable)
_NUM2 = "[0-9]{2}"
_SPACE2 = "[ 0-9][0-9]"
_STRFTIME: dict[str, tuple[str, tuple[str, ...], int | None]] = {
    "a": ("[A-Z][a-z]{2}", (), 0),
    "A": ("[A-Z][a-z]+", (), 0),
    "b": ("([A-Z][a-z]{2})", ("mon",), 0),
    "h": ("([A-Z][a-z]{2})", ("mon",), 0),
    "B": ("([A-Z][a-z]+)", ("month_name",), 0),
    "c": (r"[A-Z][a-z]{2} ([A-Z][a-z]{2}) ([ 0-9][0-9]) ([0-9]{2}):([0-9]{2}):([0-9]{2}) (-?[0-9]+)",
          ("mon", "d", "H", "M", "S", "Y"), None),
    "C": (_NUM2, (), 0),
    "d": (f"({_NUM2})", ("d",), 0),
    "D": (f"({_NUM2})/({_NUM2})/({_NUM2})", ("m", "d", "y"), 0),
    "e": (f"({_SPACE2})", ("d",), None),
    "F": (f"(-?[0-9]+)-({_NUM2})-({_NUM2})", ("Y", "m", "d"), 0),
    "G": ("-?[0-9]+", (), 0),
    "g": (_NUM2, (), 0),
    "H": (f"({_NUM2})", ("H",), 0),
    "I": (f"({_NUM2})", ("I",), 0),
    "j": ("([0-9]{3})", ("j",), 0),
    "k": (f"({_SPACE2})", ("H",), None),
    "l": (f"({_SPACE2})", ("I",), None),
    "m": (f"({_NUM2})", ("m",), 0),
    "M": (f"({_NUM2})", ("M",), 0),
    "n": ("\n", (), 0),
    "p": ("(AM|PM)", ("p",), 0),
    "P": ("(am|pm)", ("p",), 0),
    "r": (f"({_NUM2}):({_NUM2}):({_NUM2}) (AM|PM)", ("I", "M", "S", "p"), 1),
    "R": (f"({_NUM2}):({_NUM2})", ("H", "M"), 0),
    "s": ("(-?[0-9]+)", ("s",), 0),
    "S": (f"({_NUM2})", ("S",), 0),
    "t": ("\t", (), 0),
    "T": (f"({_NUM2}):({_NUM2}):({_NUM2})", ("H", "M", "S"), 0),
    "u": ("[1-7]", (), 0),
    "U": (_NUM2, (), 0),
    "V": (_NUM2, (), 0),
    "w": ("[0-6]", (), 0),
    "W": (_NUM2, (), 0),
    "x": (f"({_NUM2})/({_NUM2})/({_NUM2})", ("m", "d", "y"), 0),
    "X": (f"({_NUM2}):({_NUM2}):({_NUM2})", ("H", "M", "S"), 0),
    "y": (f"({_NUM2})", ("y",), 0),
    "Y": ("(-?[0-9]+)", ("Y",), 0),
    "z": ("([+-][0-9]{4})", ("z",), 0),
    "Z": ("([A-Za-z0-9+-]*)", ("Z",), 0),
    "%": ("%", (), 0),
}
# Zone names %Z may write that mean one offset wherever they are read: UTC and
# GMT, and the US names, read as Python's email.utils (RFC 2822) and GoAccess
# read them. Other abbreviations (IST, CST in China, ...) are ambiguous: a time
# written with one of them stays without a zone.
ZONE_NAMES: dict[str, int] = {
    "UTC": 0, "GMT": 0, "UT": 0, "Z": 0,
    "EST": -5 * 60, "EDT": -4 * 60, "CST": -6 * 60, "CDT": -5 * 60,
    "MST": -7 * 60, "MDT": -6 * 60, "PST": -8 * 60, "PDT": -7 * 60,
}
_EPOCH_FORMS = {  # %{sec}t and friends: (regex, component, scale to microseconds or fraction digits)
    "sec": ("-?[0-9]+", "epoch_s"),
    "msec": ("-?[0-9]+", "epoch_ms"),
    "usec": ("-?[0-9]+", "epoch_us"),
    "msec_frac": ("[0-9]{3}", "frac_ms"),
    "usec_frac": ("[0-9]{6}", "frac_us"),
}


@dataclass(frozen=True, slots=True)
class TimePiece:
    """One time item of a format: what it matches and how to read it.

    ``pattern`` has no capturing groups (it is embedded in the line regex);
    ``spaces`` is how many spaces its text always holds (None: it varies,
    e.g. ``%e``); ``end`` is True for ``%{end:...}t``.
    """

    arg: str
    pattern: str
    spaces: int | None
    end: bool
    clf: bool
    _reader: re.Pattern[str] | None
    _names: tuple[str, ...]

    def components(self, text: str) -> dict[str, str]:
        """The components of this piece's text; ValueError if it does not fit."""
        if self.clf:
            m = _CLF.match(text)
            if m is None:
                raise ValueError(f"bad time {text!r}: expected [dd/Mon/yyyy:hh:mm:ss +zzzz]")
            return {"d": m.group(1), "mon": m.group(2), "Y": m.group(3), "H": m.group(4), "M": m.group(5),
                    "S": m.group(6), "z": m.group(7) + m.group(8) + m.group(9)}
        assert self._reader is not None
        m = self._reader.fullmatch(text)
        if m is None:
            raise ValueError(f"bad time {text!r} for %{{{self.arg}}}t")
        found: dict[str, str] = {}
        for name, value in zip(self._names, m.groups()):
            found.setdefault(name, value)
        return found


def time_piece(arg: str) -> TimePiece | str:
    """Compile the argument of ``%{arg}t`` (``""`` for ``%t``).

    Returns a literal string instead when httpd would write a constant
    (a strftime format without conversions is copied as is).
    """
    fmt = arg
    end = False
    for prefix in ("begin", "end"):
        if fmt.startswith(prefix) and (len(fmt) == len(prefix) or fmt[len(prefix)] == ":"):
            end = prefix == "end"
            fmt = fmt[len(prefix) + 1:]
            break
    if fmt == "":
        # %t, %{begin}t, %{end}t: CLF. (A bare "begin:" is strftime("") in httpd, i.e. empty text.)
        if arg.endswith(":"):
            return ""
        return TimePiece(arg, CLF_PATTERN, 1, end, True, None, ())
    if fmt in _EPOCH_FORMS:
        pattern, name = _EPOCH_FORMS[fmt]
        return TimePiece(arg, pattern, 0, end, False, re.compile(f"({pattern})", re.ASCII), (name,))
    return _strftime_piece(arg, fmt, end)


def _strftime_piece(arg: str, fmt: str, end: bool) -> TimePiece | str:
    parts: list[str] = []  # with groups, to read components
    plain: list[str] = []  # without groups, for the line regex
    names: list[str] = []
    spaces: int | None = 0
    literal_only = True
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%" or i + 1 >= len(fmt):
            parts.append(re.escape(ch))
            plain.append(re.escape(ch))
            if ch == " " and spaces is not None:
                spaces += 1
            i += 1
            continue
        i += 1
        conv = fmt[i]
        if conv in "EO" and i + 1 < len(fmt):  # %Ey, %Od: locale alternatives, the C locale ignores them
            i += 1
            conv = fmt[i]
        i += 1
        entry = _STRFTIME.get(conv)
        if entry is None:
            # glibc copies an unknown conversion as written.
            parts.append(re.escape("%" + conv))
            plain.append(re.escape("%" + conv))
            continue
        regex, captured, conv_spaces = entry
        literal_only = literal_only and conv == "%"
        parts.append(regex)
        plain.append(regex.replace("(", "(?:"))  # the templates above hold no escaped parenthesis
        names.extend(captured)
        spaces = None if (spaces is None or conv_spaces is None) else spaces + conv_spaces
    if literal_only:
        return fmt.replace("%%", "%")
    pattern = "".join(plain)
    return TimePiece(arg, pattern, spaces, end, False, re.compile("".join(parts), re.ASCII), tuple(names))


def combine(parts: dict[str, str]) -> str | None:
    """ISO 8601 text from merged components (see :class:`TimePiece`).

    An epoch wins over calendar fields (it is exact); a zone (``%z``, a
    ``%Z`` name of ZONE_NAMES, or an epoch, which is UTC) gives an offset; a
    time logged without zone has none.
    """
    frac, digits = _fraction(parts)
    offset = _offset(parts.get("z"))
    if offset is None and parts.get("Z", "").upper() in ZONE_NAMES:
        offset = timezone(timedelta(minutes=ZONE_NAMES[parts["Z"].upper()]))
    for name, scale, precision in (("epoch_us", 1, 6), ("epoch_ms", 1000, 3), ("epoch_s", 1_000_000, 0), ("s", 1_000_000, 0)):
        if name in parts:
            micros = int(parts[name]) * scale
            if precision == 0 and frac is not None:
                micros += frac
                precision = digits
            moment = (_EPOCH + timedelta(microseconds=micros)).astimezone(offset or UTC)
            return _iso(moment, precision)
    day = _date(parts)
    clock = _clock(parts)
    if day is None and clock is None:
        return None
    if clock is None:
        return day.isoformat() if day else None
    hour, minute, second = clock
    micro = frac if frac is not None else 0
    if day is None:
        return _iso_clock(hour, minute, second, micro, digits if frac is not None else 0)
    moment = datetime(day.year, day.month, day.day, hour, minute, second, micro, tzinfo=offset)
    in_range(moment)
    return _iso(moment, digits if frac is not None else 0)


def _fraction(parts: dict[str, str]) -> tuple[int | None, int]:
    if "frac_us" in parts:
        return int(parts["frac_us"]), 6
    if "frac_ms" in parts:
        return int(parts["frac_ms"]) * 1000, 3
    return None, 0


def in_range(moment: datetime) -> None:
    """ValueError unless ``moment`` is a time every reader can place: in UTC, between years 1 and 9999.

    One rule for ``logs`` and ``report`` (which converts times to UTC seconds):
    ``[31/Dec/9999:23:59:59 -1400]`` or ``[01/Jan/0001:00:00:00 +0100]`` is a
    malformed line, not a time one reader accepts and the other cannot use.
    """
    if moment.tzinfo is not None:
        try:
            moment.astimezone(UTC)
        except OverflowError:
            raise ValueError("out of range once converted to UTC (years 1 to 9999)") from None


def _offset(text: str | None) -> timezone | None:
    """The zone of ``+hhmm``/``-hhmm``; ValueError beyond 23:59 (httpd writes real zones, under a day)."""
    if text is None:
        return None
    if int(text[1:3]) > 23 or int(text[3:5]) > 59:
        raise ValueError(f"zone offset {text} is not a real one (at most 23 hours 59 minutes)")
    minutes = int(text[1:3]) * 60 + int(text[3:5])
    return timezone(timedelta(minutes=-minutes if text[0] == "-" else minutes))


def _date(parts: dict[str, str]) -> date | None:
    year: int | None = None
    if "Y" in parts:
        year = int(parts["Y"])
    elif "y" in parts:
        short = int(parts["y"])
        year = 1900 + short if short >= 69 else 2000 + short  # POSIX strptime %y
    if year is None:
        return None
    if "j" in parts and "m" not in parts and "mon" not in parts:
        return date(year, 1, 1) + timedelta(days=int(parts["j"]) - 1)
    month = _month(parts)
    if month is None or "d" not in parts:
        return None
    return date(year, month, int(parts["d"]))


def _month(parts: dict[str, str]) -> int | None:
    if "m" in parts:
        return int(parts["m"])
    if "mon" in parts:
        if parts["mon"] not in MONTHS:
            raise ValueError(f"bad month {parts['mon']!r}")
        return MONTHS[parts["mon"]]
    if "month_name" in parts:
        if parts["month_name"] not in _FULL_MONTHS:
            raise ValueError(f"bad month {parts['month_name']!r}")
        return _FULL_MONTHS[parts["month_name"]]
    return None


def _clock(parts: dict[str, str]) -> tuple[int, int, int] | None:
    if "H" in parts:
        hour = int(parts["H"])
    elif "I" in parts:
        hour = int(parts["I"]) % 12 + (12 if parts.get("p", "AM").upper() == "PM" else 0)
    else:
        return None
    return hour, int(parts.get("M", "0")), int(parts.get("S", "0"))


def _iso(moment: datetime, digits: int) -> str:
    spec = {0: "seconds", 3: "milliseconds"}.get(digits, "microseconds")
    return moment.isoformat(timespec=spec)


def _iso_clock(hour: int, minute: int, second: int, micro: int, digits: int) -> str:
    text = f"{hour:02d}:{minute:02d}:{second:02d}"
    if digits == 3:
        return f"{text}.{micro // 1000:03d}"
    if digits == 6:
        return f"{text}.{micro:06d}"
    return text


def time_combiner(pieces: tuple[TimePiece, ...]) -> Callable[..., str | None]:
    """A cached function of the pieces' texts (in format order) -> ISO time.

    Pieces of ``%{begin:...}t`` (the default) make the time; ``end:`` pieces
    are used only when the format has no begin piece. A piece logged as
    ``-`` (failed status condition) contributes nothing.
    """
    use_end = all(piece.end for piece in pieces)
    chosen = tuple(i for i, piece in enumerate(pieces) if piece.end == use_end)
    if len(pieces) == 1 and pieces[0].clf:
        return clf_converter()
    cache: dict[tuple[str, ...], str | None] = {}

    def convert(*texts: str) -> str | None:
        found = cache.get(texts, cache)
        if found is not cache:
            return found  # type: ignore[return-value]
        merged: dict[str, str] = {}
        for i in chosen:
            if texts[i] != "-":
                for name, value in pieces[i].components(texts[i]).items():
                    merged.setdefault(name, value)
        try:
            iso = combine(merged) if merged else None
        except (ValueError, OverflowError) as problem:
            raise ValueError(f"bad time {' '.join(texts)!r}: {problem}") from None
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[texts] = iso
        return iso

    return convert

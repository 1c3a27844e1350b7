"""Endpoint templates: ``/v1/users/123/orders/9f1c...`` -> ``/v1/users/{id}/orders/{id}``.

Reports and alerts group requests by endpoint, so an id in the path must
not make every request its own group. Three layers, first match wins:

1. templates the user declares (a patterns file, see :func:`parse_patterns`);
2. automatic rules per path segment: numbers, UUIDs, hex strings and
   base64-like tokens become ``{id}``, e-mail addresses ``{email}``, dates
   ``{date}``;
3. a cardinality cap per vhost: once a vhost has ``max_per_vhost`` distinct
   automatic templates, further new ones fold into ``{other}``, so memory
   (and metric labels) stay bounded whatever the traffic. The cap is
   first come, first kept: in a stream nothing is known about the future,
   and a template once reported must keep its name.

Templating is memoised in bounded caches: per distinct path, and per path
segment (``SegmentTemplates``: ids make most paths new, their segments repeat).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from vhostguard.speed import memo

OTHER = "{other}"
NONE = "-"  # no path logged

_ID = re.compile(
    r"[0-9]+"                                                    # 123
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"  # UUID
    r"|(?=[a-fA-F]*[0-9])[0-9a-fA-F]{8,}"                        # hex with a digit: 9f1c2e3d, sha1
    r"|(?=[A-Za-z_-]*[0-9])(?=[0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,}={0,2}"  # base64url-ish tokens
    r"|(?=[A-Za-z+/]*[0-9])[A-Za-z0-9+/]{20,}={0,2}"             # base64 with + and /
    r"|[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",  # JWT
    re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9:.]+(?:Z|[+-][0-9:]+)?)?", re.ASCII)
_EMAIL = re.compile(r"[^@/\s]+(?:@|%40)[^@/\s]+\.[A-Za-z]{2,}", re.ASCII)
_CANDIDATE = re.compile(r"[0-9@]|%40").search  # segments without a digit or @ are never rewritten
_SEGMENT = re.compile(r"\{[^{}/]*\}")
_HEX_DIGITS = "0123456789abcdefABCDEF"


class PatternError(ValueError):
    """A line of a patterns file that cannot be used (``file:line: message``)."""


@dataclass(frozen=True, slots=True)
class EndpointPattern:
    """A user-declared endpoint: ``name`` is what is reported, ``regex`` what it matches."""

    name: str
    regex: re.Pattern[str]
    origin: str


def template_segment(segment: str) -> str:
    """The automatic placeholder for one path segment, or the segment itself."""
    if segment.isdigit() and segment.isascii():  # the common ids, without a regex
        return "{id}"
    if len(segment) >= 8 and not segment.strip(_HEX_DIGITS) and not segment.isalpha():
        return "{id}"  # hex with a digit (9f1c2e3d, a sha1): what the _ID regex's hex branch takes
    if not segment or _CANDIDATE(segment) is None:
        return segment
    if _DATE.fullmatch(segment):
        return "{date}"
    if _ID.fullmatch(segment):
        return "{id}"
    if _EMAIL.fullmatch(segment):
        return "{email}"
    stem, dot, ext = segment.rpartition(".")
    if dot and ext.isalnum() and len(ext) <= 5 and _ID.fullmatch(stem):
        return "{id}." + ext  # /items/123.json
    return segment


def auto_template(path: str | None) -> str:
    """``path`` with its id-like segments replaced (pure; no cap; query ignored)."""
    if not path:
        return NONE
    path = path.partition("?")[0]
    if "://" in path:  # absolute-form request target (proxy request): keep the path only
        rest = path.split("://", 1)[1]
        path = "/" + rest.partition("/")[2]
    if _CANDIDATE(path) is None:
        return path
    return "/".join(template_segment(segment) for segment in path.split("/"))


class SegmentTemplates:
    """``auto_template`` with a per-segment memo: ids make most paths distinct, their segments repeat.

    Gives exactly ``auto_template(path)`` (a test checks it on many paths). Paths are mostly
    new (ids), their segments mostly not (``v1``, ``users``): the memo is per segment.
    """

    def __init__(self, limit: int = 1 << 16) -> None:
        self._cache: dict[str, str] = {"": ""}
        self._limit = limit

    def __call__(self, path: str | None) -> str:
        if not path:
            return NONE
        if "?" in path:
            path = path.partition("?")[0]
        if "://" in path:
            return auto_template(path)  # absolute-form targets are rare: the plain function does them
        parts = path.split("/")
        get = self._cache.get
        out = [get(segment) for segment in parts]  # the known segments, in one C-level pass
        for _ in range(out.count(None)):  # usually one: the id
            i = out.index(None)
            out[i] = self._segment(parts[i])
        return "/".join(out)  # type: ignore[arg-type]

    def _segment(self, segment: str) -> str:
        if segment.isdigit() and segment.isascii():
            return "{id}"  # the most common id: no memo entry for it
        found = template_segment(segment)
        if len(self._cache) >= self._limit:
            self._cache.clear()
            self._cache[""] = ""
        self._cache[segment] = found
        return found




def host_header_vhost(headers: dict[str, str | None] | None) -> str | None:
    """The vhost a ``Host`` request header names (the header's name in any case), or None.

    The client wrote it: case, a port and a trailing dot do not make another vhost.
    """
    for name, value in (headers or {}).items():
        if name.lower() == "host" and value:
            host = value.lower()
            if host.startswith("["):
                host = host.partition("]")[0] + "]"
            elif host.count(":") == 1:
                host = host.partition(":")[0]
            return host.rstrip(".") or None
    return None


def parse_patterns(lines: Iterable[str], origin: str = "<patterns>") -> tuple[EndpointPattern, ...]:
    """Patterns, one per line, in precedence order.

    * ``/v1/users/{id}/orders/{id}``: a template; ``{name}`` matches one path
      segment, ``{name*}`` the rest of the path; a trailing slash is optional.
    * ``^/v1/files/.+`` (a line starting with ``^``): a Python regex matched at
      the start of the path, optionally followed by whitespace and the name to
      report (default: the regex itself).
    * blank lines and ``#`` comments are skipped.

    Raises PatternError naming ``origin:line``.
    """
    found: list[EndpointPattern] = []
    for number, raw in enumerate(lines, 1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        where = f"{origin}:{number}"
        if text.startswith("^"):
            expr, _, name = text.partition(" ")
            name = name.strip() or expr
            try:
                found.append(EndpointPattern(name, re.compile(expr), where))
            except re.error as problem:
                raise PatternError(f"{where}: bad regex {expr!r}: {problem}") from None
            continue
        if not text.startswith("/") or " " in text:
            raise PatternError(f"{where}: expected a template starting with '/' or a regex starting with '^'")
        found.append(EndpointPattern(text, re.compile(_template_regex(text)), where))
    return tuple(found)


def load_patterns(path: str) -> tuple[EndpointPattern, ...]:
    """``parse_patterns`` of a file; raises OSError or PatternError."""
    with open(path, encoding="utf-8") as handle:
        return parse_patterns(handle, path)


def _template_regex(template: str) -> str:
    parts: list[str] = []
    position = 0
    for m in _SEGMENT.finditer(template):
        parts.append(re.escape(template[position:m.start()]))
        parts.append(".*" if m.group(0).endswith("*}") else "[^/]+")
        position = m.end()
    tail = template[position:].rstrip("/")
    parts.append(re.escape(tail) + "/?\\Z")
    return "".join(parts)


@dataclass
class EndpointTemplater:
    """Path -> endpoint template, with user patterns, automatic rules and a per-vhost cap.

    ``max_vhosts`` bounds the vhosts tracked (a Host header can be anything):
    beyond it, new vhosts share one cap. ``folded`` counts, per vhost, the
    requests folded into ``{other}``.
    """

    patterns: tuple[EndpointPattern, ...] = ()
    max_per_vhost: int = 1000
    max_vhosts: int = 1000
    cache_size: int = 65536
    folded: dict[str, int] = field(default_factory=dict)
    _seen: dict[str, set[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._declared = frozenset(p.name for p in self.patterns)
        self._match = _matcher(self.patterns)
        self._cached = memo(self._compute, self.cache_size)
        self._auto = SegmentTemplates(self.cache_size)

    def template(self, path: str | None, vhost: str | None = None) -> str:
        """The endpoint of ``path`` as served by ``vhost`` (None: one shared namespace)."""
        return self.admit(self._cached(path or ""), vhost)

    def admit(self, name: str, vhost: str | None = None) -> str:
        """Template ``name`` (declared or automatic) of ``vhost`` as reported: itself, or ``{other}``
        past the cap (``template`` is ``admit`` of the path's template; the compiled scanner
        templates in C and admits here)."""
        key = self.vhost_key(vhost)  # first, so a vhost counts toward max_vhosts even if only patterns match
        if name in self._declared:
            return name
        seen = self._seen[key]
        if name in seen:
            return name
        if len(seen) < self.max_per_vhost:
            seen.add(name)
            return name
        self.folded[key] = self.folded.get(key, 0) + 1
        return OTHER

    def vhost_key(self, vhost: str | None) -> str:
        """``vhost`` itself, or ``{other}`` once ``max_vhosts`` others are tracked."""
        key = vhost or NONE
        if key in self._seen:
            return key
        if len(self._seen) < self.max_vhosts:
            self._seen[key] = set()
            return key
        if OTHER not in self._seen:
            self._seen[OTHER] = set()  # beyond the cap: one shared vhost and one shared endpoint cap
        return OTHER

    def _compute(self, path: str) -> str:
        if not path:
            return NONE
        bare = path.partition("?")[0]
        declared = self._match(bare)
        return declared if declared is not None else self._auto(bare)


def _matcher(patterns: tuple[EndpointPattern, ...]):  # type: ignore[no-untyped-def]
    """A function path -> declared name or None: one alternation when it compiles, else in turn."""
    if not patterns:
        return lambda path: None
    names = [p.name for p in patterns]
    try:
        combined = re.compile("|".join(f"(?P<p{i}>{p.regex.pattern})" for i, p in enumerate(patterns)))
    except re.error:  # e.g. the same group name in two user regexes
        combined = None
    if combined is not None and combined.groups == len(patterns):
        match = combined.match

        def one(path: str) -> str | None:
            m = match(path)
            return names[int(m.lastgroup[1:])] if m is not None and m.lastgroup else None
        return one

    def each(path: str) -> str | None:
        for p in patterns:
            if p.regex.match(path):
                return p.name
        return None
    return each

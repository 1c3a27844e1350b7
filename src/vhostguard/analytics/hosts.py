"""Which vhost served each Host over time: ``report``'s host-moved view (and the log-side half of ``watch``'s rule).

A misroute very often answers 200 (a wildcard ``ServerAlias`` or a
catch-all vhost captures the API's Host): no error count shows it, but the
access log does when it logs both the Host asked for (``%{Host}i``, or
``%V`` under ``UseCanonicalName Off``) and the vhost that served it (``%v``).

* :func:`host_column` / :func:`host_header_name`: which record key holds the
  Host (None when the format(s) do not log both), shared with ``monitor``;
* :func:`host_name`: a logged Host normalised as httpd does
  (``model.normalize_host``, httpd's ``fix_hostname``: lower case, port and
  trailing dot gone; None for what httpd rejects with a 400);
* :func:`host_view`: the view from counts per (vhost, Host, minute).

The definition (docs/contract.md, ``report``): per Host, per minute of the
report's timeline, the requests per serving vhost. A minute holding fewer
than ``min_requests`` of the Host's requests is ignored (a stray request
says nothing about the mapping). The Host *moved* at the first counted
minute whose majority vhost (most requests; a tie keeps the previous
majority, else the first name) differs from the previous counted minute's
majority. A Host seen for the first time has no previous majority: it
never moves then. Each (Host, vhost) mapping is listed with its requests
and the first and last minute it was seen; a Host's mappings add up to all
its requests in the log.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vhostguard.logs import FormatChoice, LogFormat, Parser
from vhostguard.model import normalize_host

HOST_HEADER = "headers_in"  # %{Host}i
CANONICAL = "server_name"  # %V: the Host under UseCanonicalName Off (httpd's default)
MIN_REQUESTS = 5  # a minute with fewer requests of a Host does not count for its majority
NO_HOST = "the log format does not log the requested Host (%{Host}i, or %V with UseCanonicalName Off)"
NO_VHOST = "the log format does not log the serving vhost (%v)"


def _formats(parser: Parser) -> tuple[LogFormat, ...]:
    if isinstance(parser, FormatChoice):
        return tuple(parser.formats)
    return (parser,) if isinstance(parser, LogFormat) else ()


def host_column(parser: Parser, canonical_names: bool = False) -> str | None:
    """The record key holding the requested Host when ``parser``'s format(s) log it and the serving
    vhost (``%v``), else None.

    ``%{Host}i`` first; ``%V`` is the Host only under ``UseCanonicalName Off``
    (``canonical_names`` False, httpd's default): with it On, ``%V`` is the
    vhost's own ServerName and says nothing about what the client asked for.
    """
    return host_column_or_reason(parser, canonical_names)[0]


def host_column_or_reason(parser: Parser, canonical_names: bool = False) -> tuple[str | None, str]:
    """``host_column``, and when it is None why ("" otherwise)."""
    formats = _formats(parser)
    if not formats:
        return None, NO_HOST
    headers = all(any(s.key == HOST_HEADER and (s.sub or "").lower() == "host" for s in f.fields) for f in formats)
    vhost = all(any(s.key == "vhost" for s in f.fields) for f in formats)
    if not vhost:
        return None, NO_VHOST
    if headers:
        return HOST_HEADER, ""
    if not canonical_names and all(any(s.key == CANONICAL for s in f.fields) for f in formats):
        return CANONICAL, ""
    return None, NO_HOST


def host_header_name(parser: Parser) -> str:
    """The name under which the format(s) log the Host request header (``%{Host}i``: ``Host``)."""
    for fmt in _formats(parser):
        for slot in fmt.fields:
            if slot.key == HOST_HEADER and (slot.sub or "").lower() == "host":
                return slot.sub or "Host"
    return "Host"


def host_name(value: object) -> str | None:
    """A logged Host value (text, or the record's ``headers_in``) as httpd names it; None when
    not logged (``-``, empty) or when httpd would reject it (no vhost served it by that name)."""
    if isinstance(value, dict):
        value = next((v for k, v in value.items() if k.lower() == "host"), None)
    if not isinstance(value, str) or value in ("", "-"):
        return None
    return normalize_host(value).name


@dataclass(frozen=True, slots=True)
class HostMapping:
    """One Host served by one vhost: requests, and the first and last minute seen (epoch s, UTC)."""

    host: str
    vhost: str
    requests: int
    first_minute: int | None
    last_minute: int | None


@dataclass(frozen=True, slots=True)
class HostChange:
    """The minute at which ``host``'s majority vhost went from ``old`` to ``new``.

    ``requests``: the Host's requests in that minute, ``served``: how many ``new`` served.
    """

    host: str
    minute: int
    old: str
    new: str
    requests: int
    served: int


@dataclass(frozen=True)
class HostView:
    """The host-moved view. ``available`` False (with ``reason``) when the logs do not say both the
    Host and the serving vhost; ``unnamed``: requests without a usable Host (none logged, or one httpd
    rejects), in no mapping."""

    available: bool
    reason: str = ""
    min_requests: int = MIN_REQUESTS
    mappings: tuple[HostMapping, ...] = ()
    moves: tuple[HostChange, ...] = ()
    unnamed: int = 0

    def hosts(self) -> list[str]:
        """The Hosts that moved at least once, in order of their first move."""
        return list(dict.fromkeys(m.host for m in self.moves))


NOT_COMPUTED = HostView(False, "not computed")


def unavailable(reason: str) -> HostView:
    return HostView(False, reason)


def host_view(counts: Mapping[str, Mapping[tuple[str | None, int | None], int]],
              min_requests: int = MIN_REQUESTS, pooled: frozenset[str] = frozenset()) -> HostView:
    """The view from ``counts``: vhost -> (Host or None, minute or None) -> requests. Hosts in
    ``pooled`` (``{other}``: many Hosts counted as one) have mappings but never move."""
    per_host: dict[str, dict[str, dict[int | None, int]]] = {}
    unnamed = 0
    for vhost, cells in counts.items():
        for (host, minute), count in cells.items():
            if host is None:
                unnamed += count
                continue
            minutes = per_host.setdefault(host, {}).setdefault(vhost, {})
            minutes[minute] = minutes.get(minute, 0) + count
    mappings: list[HostMapping] = []
    moves: list[HostChange] = []
    for host in sorted(per_host):
        served = per_host[host]
        for vhost in sorted(served, key=lambda name: (-sum(served[name].values()), name)):
            timed = [minute for minute in served[vhost] if minute is not None]
            mappings.append(HostMapping(host, vhost, sum(served[vhost].values()), min(timed, default=None),
                                        max(timed, default=None)))
        if host not in pooled:
            moves.extend(_moves(host, served, min_requests))
    moves.sort(key=lambda m: (m.minute, m.host))
    return HostView(True, "", min_requests, tuple(mappings), tuple(moves), unnamed)


def _moves(host: str, served: Mapping[str, Mapping[int | None, int]], min_requests: int) -> Iterable[HostChange]:
    by_minute: dict[int, dict[str, int]] = {}
    for vhost, minutes in served.items():
        for minute, count in minutes.items():
            if minute is not None:
                by_minute.setdefault(minute, {})[vhost] = count
    previous: str | None = None
    for minute in sorted(by_minute):
        cell = by_minute[minute]
        total = sum(cell.values())
        if total < min_requests:
            continue
        top = max(cell.values())
        leaders = sorted(name for name, count in cell.items() if count == top)
        major = previous if previous in leaders else leaders[0]
        if previous is not None and major != previous:
            yield HostChange(host, minute, previous, major, total, cell[major])
        previous = major

"""Which vhost serves each Host: the ``host-moved`` rule's counting, learning and config routing.

A misroute very often answers 200 (a wildcard ``ServerAlias`` or a
catch-all vhost captures the API's Host and serves a landing page): no
error rule fires. The access log says which Host was asked for
(``%{Host}i``, or ``%V`` under ``UseCanonicalName Off``) and which vhost
served it (``%v``), so a Host whose requests go to another vhost than usual
is seen whatever the status codes.

* :func:`host_column`: which record key holds the Host, when a format logs
  both it and the serving vhost (the rule is off otherwise);
* :class:`HostNames`: Host values normalised as httpd does
  (``model.normalize_host``: lower case, port and trailing dot gone), at
  most ``max_hosts`` of them (a Host header is client input);
* :func:`moved_hosts`: the pure rule on counts per Host and vhost (baseline
  and recent window), also what ``deploy`` verification can call;
* :func:`config_moves` / :func:`deciding_line`: the same question asked of
  a config offline (after a reload seen in the error log), and the
  ServerName/ServerAlias (or ``<VirtualHost>``) line that decides a Host.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

# Which record key holds the Host and how it is named: one implementation, in analytics (report's view uses it).
from vhostguard.analytics import host_column as host_column, host_header_name as host_header_name
from vhostguard.model import Match, ServerModel, normalize_host
from vhostguard.routing import Request, RequestError, route

Counts = Mapping[str, Mapping[str, float]]  # Host -> vhost -> requests
# httpd (re)read its configuration (diagnose/server_state.py): SIGUSR1 graceful restart (AH00493),
# SIGHUP restart (AH00494), "... configured -- resuming normal operations" (AH00489 event/worker,
# AH00163 prefork) and "Command line: ..." (AH00094), all logged at notice whatever LogLevel says.
RELOAD_CODES = frozenset({"AH00493", "AH00494", "AH00489", "AH00163", "AH00094"})


@dataclass(frozen=True)
class ConfigSource:
    """The config ``watch -f`` reads: its model at the start, and how to read it again after a reload
    (raising whatever loading raises: the watcher says it and keeps the model it has)."""

    model: ServerModel
    load: Callable[[], ServerModel]


@dataclass(frozen=True)
class PlannedMove:
    """A move declared in the rules (``host_moved.planned_moves``): no alert. Glob patterns."""

    host: str = "*"
    old_vhost: str = "*"
    new_vhost: str = "*"

    def covers(self, host: str, old: str, new: str) -> bool:
        return (fnmatch.fnmatchcase(host, self.host.lower()) and fnmatch.fnmatchcase(old, self.old_vhost.lower())
                and fnmatch.fnmatchcase(new, self.new_vhost.lower()))


@dataclass(frozen=True)
class HostMove:
    """A Host served by ``new`` in the recent window while ``usual`` served it in the baseline.

    ``moved`` of the window's ``requests`` went to vhosts other than ``usual``;
    ``baseline`` is the Host's requests in the baseline (before the window).
    """

    host: str
    usual: str
    new: str
    requests: float
    moved: float
    baseline: float

    @property
    def share(self) -> float:
        return self.moved / self.requests if self.requests else 0.0


def _lower(name: str) -> str:
    return name.lower()


def usual_vhosts(baseline: Counts, min_baseline: float, min_usual_share: float) -> dict[str, tuple[str, float]]:
    """Host -> (the vhost that served it, the Host's baseline requests), for Hosts with a stable mapping:
    at least ``min_baseline`` requests, ``min_usual_share`` of them served by one vhost."""
    found: dict[str, tuple[str, float]] = {}
    for host, per_vhost in baseline.items():
        total = sum(per_vhost.values())
        if total < min_baseline or total <= 0:
            continue
        vhost, count = max(per_vhost.items(), key=lambda item: (item[1], item[0]))
        if count >= min_usual_share * total:
            found[host] = (vhost, total)
    return found


def moved_hosts(baseline: Counts, window: Counts, *, min_baseline: float = 20, min_usual_share: float = 0.9,
                min_requests: float = 5, min_share: float = 0.5, known_share: float = 0.01,
                planned: Iterable[PlannedMove] = ()) -> list[HostMove]:
    """The Hosts whose recent requests (``window``) mostly went to another vhost than in ``baseline``.

    ``baseline`` and ``window`` count requests per Host and serving vhost
    (names compared without case); ``baseline`` should not include the
    window (a move must not teach itself). A Host without a stable baseline
    (new, or shared between vhosts) never moves; nor one fewer than
    ``min_requests`` of whose window requests were seen, nor one whose move
    a ``planned`` entry covers. Vhosts that served at least ``known_share``
    of the Host's baseline are no news (an http vhost redirecting to https).
    Sorted by Host.
    """
    planned = tuple(planned)
    usual = usual_vhosts(baseline, min_baseline, min_usual_share)
    moves: list[HostMove] = []
    for host in sorted(usual.keys() & window.keys()):
        vhost, base = usual[host]
        per_vhost = window[host]
        total = sum(per_vhost.values())
        before = {_lower(v): n for v, n in baseline[host].items()}
        others = {v: n for v, n in per_vhost.items()
                  if _lower(v) != _lower(vhost) and n > 0 and before.get(_lower(v), 0.0) < known_share * base}
        moved = sum(others.values())
        if total < min_requests or moved < min_share * total or not others:
            continue
        new = max(others.items(), key=lambda item: (item[1], item[0]))[0]
        if any(p.covers(host, _lower(vhost), _lower(new)) for p in planned):
            continue
        moves.append(HostMove(host, vhost, new, total, moved, base))
    return moves


# -- the log side -------------------------------------------------------------------------

class HostNames:
    """Logged Host values -> normalised Host names; at most ``max_hosts`` distinct names are followed.

    Hosts beyond the cap (any name a client makes up) map to None and are not
    counted; ``seed`` re-admits the names a checkpoint holds. The names in
    ``named`` (with -f CONFIG: every ServerName and ServerAlias without
    wildcard) are always followed: a scanner's made-up Hosts cannot crowd
    out the sites the config serves.
    """

    def __init__(self, max_hosts: int, named: Iterable[str] = ()) -> None:
        self.max_hosts = max_hosts
        self.named = frozenset(name.lower() for name in named)
        self.known: set[str] = set()
        self.memo: dict[object, str | None] = {}  # a logged value -> its name (read directly on the hot path)

    def __call__(self, value: object) -> str | None:
        if isinstance(value, dict):  # %{Host}i comes as the record's headers_in
            value = next((v for k, v in value.items() if k.lower() == "host"), None)
        if not isinstance(value, str):
            return None
        found = self.memo.get(value, self)
        if found is not self:
            return found  # type: ignore[return-value]
        # httpd's fix_hostname; None for what httpd rejects (a 400: no vhost served it)
        name = normalize_host(value).name if value and value != "-" else None
        if name is not None and name not in self.known and name not in self.named:
            if len(self.known) >= self.max_hosts:
                name = None
            else:
                self.known.add(name)
        if len(self.memo) >= 8192:
            self.memo.clear()
        self.memo[value] = name
        return name

    def seed(self, names: Iterable[str]) -> None:
        for name in names:
            if len(self.known) < self.max_hosts:
                self.known.add(name)


# -- the config side ----------------------------------------------------------------------

@dataclass(frozen=True)
class Routed:
    """The vhost a config picks for a Host on one port, and the line that decides it."""

    host: str
    port: int
    vhost: str
    line: str | None  # "ServerAlias *.example.com, sites/001-internal.conf:3"


def route_host(model: ServerModel, host: str) -> list[Routed]:
    """Where ``host`` goes on each port the config listens on (routing's vhost step, offline)."""
    out: list[Routed] = []
    for port in sorted({listen.port for listen in model.listens if listen.port is not None}):
        try:
            decision = route(model, Request("http", host, port, "/", local_ip=model.default_local_ip(port)))
        except (RequestError, ValueError):
            continue
        match = decision.match
        out.append(Routed(host, port, match.server.server_name, deciding_line(match)))
    return out


def deciding_line(match: Match) -> str | None:
    """The ServerName/ServerAlias that made httpd pick the matched server (or its ``<VirtualHost>`` line
    when no name did: the first vhost of its address set), as ``Name args, file:line``."""
    server, how, matched = match.server, match.how, match.matched
    wanted = {"name": "servername", "alias": "serveralias", "wild-alias": "serveralias"}.get(how or "")
    if wanted is not None:
        for node in server.directives:
            if node.key == wanted and (matched is None or any(a.lower() == str(matched).lower() for a in node.args)):
                shown = str(matched) if matched is not None else " ".join(node.args)
                return f"{node.name} {shown}, {node.source.file}:{node.source.line}"
    if server.source is not None:
        what = "first vhost of its address set" if how == "default" else "VirtualHost"
        return f"{what}, {server.source.file}:{server.source.line}"
    return None


def where_now(model: ServerModel, host: str, vhost: str) -> str | None:
    """The line that sends ``host`` to ``vhost`` under ``model`` (first port where it does), or None."""
    for routed in route_host(model, host):
        if routed.vhost.lower() == vhost.lower():
            return routed.line
    return None


def config_moves(old: ServerModel, new: ServerModel, usual: Mapping[str, str]) -> list[Routed]:
    """Hosts (``usual``: Host -> the vhost serving it) that ``new`` sends elsewhere on a port where
    ``old`` sent them to their usual vhost: a move a reload makes, known before traffic shows it."""
    moves: list[Routed] = []
    for host, vhost in sorted(usual.items()):
        before = {r.port: r for r in route_host(old, host)}
        for after in route_host(new, host):
            was = before.get(after.port)
            if was is None or was.vhost.lower() != vhost.lower():
                continue  # the old config did not send it there on this port: not the port it is served on
            if after.vhost.lower() != vhost.lower():
                moves.append(after)
                break
    return moves


def config_names(model: ServerModel) -> set[str]:
    """The Host names a config serves by name: every vhost's ServerName and plain ServerAlias."""
    return {name.lower() for server in model.vhosts for name in (server.server_name, *server.aliases)}


def uses_canonical_names(model: ServerModel) -> bool:
    """Whether any server sets ``UseCanonicalName On`` (or DNS): then ``%V`` is no Host."""
    servers = (model.main, *model.vhosts)
    return any(node.key == "usecanonicalname" and node.args and node.args[0].lower() != "off"
               for server in servers for node in server.directives)


class HostExamples:
    """The last few log lines (``file:line``) of each (Host, vhost), for the alert's examples."""

    def __init__(self, per_pair: int = 3, max_pairs: int = 4096) -> None:
        self.per_pair = per_pair
        self.max_pairs = max_pairs
        self.lines: dict[tuple[str, str], list[str]] = {}

    def add(self, host: str, vhost: str, where: str) -> None:
        kept = self.lines.get((host, vhost))
        if kept is None:
            if len(self.lines) >= self.max_pairs:
                return
            kept = self.lines[(host, vhost)] = []
        kept.append(where)
        del kept[:-self.per_pair]

    def __call__(self, host: str, vhost: str) -> list[str]:
        return list(self.lines.get((host, vhost), ()))

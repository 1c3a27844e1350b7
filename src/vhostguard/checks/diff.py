"""``diff``: replay real requests through the current and the candidate config.

A request has changed when its vhost (server name + address set, never
file:line) or its outcome (kind, status, target) differs. Changes are grouped
by the deciding directives, old vhost + directive -> new vhost + directive.

Relocated trees: OLD and NEW are often the same tree in two places (the live
/etc/apache2 and a candidate copy, or two blue/green slots). A path under
OLD's ServerRoot (or its main file's directory) and the same relative path
under NEW's are the same file once the candidate is in place, so both are
compared relative to their roots (docs/contract.md, "diff across relocated
trees"); ``strict_paths`` compares them literally.

Speed comes from memoising at three levels: the vhost match per connection
and Host, the whole answer per distinct request, and — decisively — the
server: when a request lands on servers whose routing configuration is
identical in both configs (same directives, modules and inherited main-server
settings), its decision cannot differ, so neither side is routed at all.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from vhostguard.checks.replay import ReplayJob, ReplayStats, job_requests
from vhostguard.config import Directive
from vhostguard.logs import fold_jobs
from vhostguard.model import Match, Server, ServerModel
from vhostguard.routing import Decision, Request, Router

MAX_EXAMPLES = 3


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a change: who served the request, what happened, and which line decided."""

    vhost: str  # server name
    address_set: str | None
    vhost_id: str | None
    kind: str
    status: int | None
    target: str | None
    directive: str | None  # "Name file:line"

    def identity(self, relocate: Callable[[str], str] | None = None) -> tuple[Any, ...]:
        """What must be equal for a request to be unchanged (``relocate``: how paths are compared)."""
        target = self.target if relocate is None or self.target is None else relocate(self.target)
        return (self.vhost, self.address_set, self.kind, self.status, target)

    def as_dict(self) -> dict[str, Any]:
        return {
            "vhost": self.vhost, "address_set": self.address_set, "vhost_id": self.vhost_id,
            "outcome": {"kind": self.kind, "status": self.status, "target": self.target},
            "directive": self.directive,
        }


@dataclass
class Group:
    """Changed requests that share old and new vhost and deciding directives."""

    old: Side
    new: Side
    count: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class DiffResult:
    requests: int = 0
    changed: int = 0
    skipped: int = 0  # requests that could not be replayed (e.g. no Host at all)
    groups: dict[tuple[Any, ...], Group] = field(default_factory=dict)

    def merge(self, other: DiffResult) -> None:
        """Add another part's counts (parts of one replay, in order)."""
        self.requests += other.requests
        self.changed += other.changed
        self.skipped += other.skipped
        for key, theirs in other.groups.items():
            mine = self.groups.get(key)
            if mine is None:
                self.groups[key] = theirs
                continue
            mine.count += theirs.count
            for example in theirs.examples:
                if len(mine.examples) < MAX_EXAMPLES and example not in mine.examples:
                    mine.examples.append(example)

    def ordered_groups(self) -> list[Group]:
        return sorted(self.groups.values(), key=lambda g: (-g.count, g.old.vhost, g.new.vhost))


def _side(decision: Decision) -> Side:
    server = decision.server
    directive = decision.outcome.directive
    return Side(
        vhost=server.server_name,
        address_set=decision.match.address_set.address if decision.match.address_set else None,
        vhost_id=server.id,
        kind=decision.outcome.kind,
        status=decision.outcome.status,
        target=decision.outcome.target,
        directive=f"{directive.name} {directive.source}" if directive is not None else None,
    )


def _same(text: str) -> str:
    return text


class Relocation:
    """Paths of two trees compared relative to their roots.

    The roots of a tree are its ServerRoot and its main file's directory
    (the config directory), as spelled and as real paths. A path under a root
    of either tree is compared with the root replaced by the root's role, so
    ``/etc/apache2/htdocs/x`` (live) and ``/srv/candidate/htdocs/x`` (the
    candidate, which will serve from the live path once switched) are the
    same file. A root matches only as a whole path component at the start of
    a word (after a quote, ``=``, ``:``, ``|``, ``(``, a comma or a space), so a URL's
    path that happens to contain it is left alone.
    """

    SERVER_ROOT = "\0ServerRoot"
    CONFIG_DIR = "\0ConfigDir"

    def __init__(self, old: ServerModel, new: ServerModel) -> None:
        roles: dict[str, str] = {}
        for role, paths in ((self.SERVER_ROOT, (old.tree.server_root, new.tree.server_root)),
                            (self.CONFIG_DIR, (os.path.dirname(old.tree.main_file), os.path.dirname(new.tree.main_file)))):
            for path in paths:
                for spelling in (os.path.normpath(path), os.path.realpath(path)):
                    if spelling != "/" and os.path.isabs(spelling):
                        roles.setdefault(spelling, role)
        # Trees in the same place need no mapping.
        self.active = bool(roles) and _spellings(old) != _spellings(new)
        self._roles = roles
        alternatives = "|".join(re.escape(root) for root in sorted(roles, key=len, reverse=True))
        self._pattern = re.compile(rf"(?:^|(?<=[\s\"'=:|(,]))({alternatives})(?=$|[/\s\"'|),])")

    def __call__(self, text: str) -> str:
        if not self.active:
            return text
        return self._pattern.sub(lambda found: self._roles[found.group(1)], text)


def _spellings(model: ServerModel) -> set[str]:
    roots = (model.tree.server_root, os.path.dirname(model.tree.main_file))
    return {os.path.normpath(p) for p in roots} | {os.path.realpath(p) for p in roots}


def _node_digest(node: Directive, into: Any, relocate: Callable[[str], str] = _same) -> None:
    into.update(node.key.encode("utf-8", "surrogateescape"))
    into.update(b"\0".join(relocate(a).encode("utf-8", "surrogateescape") for a in node.args))
    into.update(b"\1")
    for child in node.children or ():
        _node_digest(child, into, relocate)
    into.update(b"\2")


class _Fingerprints:
    """A digest of everything that can change routing inside a server (not file:line; paths
    under the tree's roots relative to them, unless ``relocate`` is the identity)."""

    def __init__(self, model: ServerModel, relocate: Callable[[str], str] = _same) -> None:
        self._model = model
        self._relocate = relocate
        self._cache: dict[str | None, bytes] = {}
        base = hashlib.sha256()
        for name in sorted(m.name for m in model.tree.modules):
            base.update(name.encode("utf-8", "surrogateescape") + b"\0")
        for node in model.main.directives:
            _node_digest(node, base, relocate)
        base.update(relocate(model.main.document_root).encode("utf-8", "surrogateescape"))
        self._base = base.digest()

    def of(self, server: Server) -> bytes:
        found = self._cache.get(server.id)
        if found is None:
            digest = hashlib.sha256(self._base)
            digest.update(server.server_name.encode("utf-8", "surrogateescape") + b"\0"
                          + self._relocate(server.document_root).encode("utf-8", "surrogateescape"))
            for node in server.directives if not server.is_main else ():
                _node_digest(node, digest, self._relocate)
            found = self._cache[server.id] = digest.digest()
        return found


class Differ:
    """Replays requests through two models; feed it requests, then read ``result``.

    ``strict_paths``: compare paths literally, not relative to each tree's roots (``Relocation``)."""

    def __init__(self, old: ServerModel, new: ServerModel, strict_paths: bool = False) -> None:
        self.old, self.new = old, new
        self._old_router, self._new_router = Router(old, from_logs=True), Router(new, from_logs=True)
        relocation = Relocation(old, new)
        self._relocate: Callable[[str], str] | None = relocation if relocation.active and not strict_paths else None
        relocate = self._relocate or _same
        self._old_prints, self._new_prints = _Fingerprints(old, relocate), _Fingerprints(new, relocate)
        self._verdicts: dict[Request, tuple[Any, ...] | None] = {}
        self._addresses: dict[int, str] = {}
        self._same_server: dict[tuple[Any, ...], bool] = {}
        self.result = DiffResult()

    def feed(self, request: Request, example: str | None = None, servers_differ: bool = False) -> None:
        """Replay one request (``example`` is how it is shown in the report; default its URL).
        ``servers_differ``: its connection is known to reach servers whose routing differs."""
        self.result.requests += 1
        key = self._verdicts.get(request, _UNSEEN)
        if key is _UNSEEN:
            key = self._verdicts[request] = self._compare(request, servers_differ)
        if key is None:
            return
        group = self.result.groups[key]
        group.count += 1
        self.result.changed += 1
        if len(group.examples) < MAX_EXAMPLES:
            shown = example or request.url
            if shown not in group.examples:
                group.examples.append(shown)

    def feed_fields(self, fields: tuple[Any, ...]) -> None:
        """Replay one request given as ``Request`` field values.

        Most requests land on a vhost whose routing is the same in both
        configs; that is decided once per (local IP, port, Host), so those
        requests cost one dict lookup and never become ``Request`` objects.
        """
        self.feed_all((fields,))

    def feed_all(self, requests: Iterable[tuple[Any, ...]], tick: Callable[[int], None] | None = None) -> int:
        """``feed_fields`` for each of ``requests``, in one loop (this runs once per log line: the
        lookups are hoisted out of it); ``tick(count)`` after every ``PROGRESS_EVERY`` requests
        (``result.requests`` is up to date then). Returns how many requests were fed."""
        same_server, agree, feed, result = self._same_server, self._servers_agree, self.feed, self.result
        count = same = 0  # requests fed; those of the same server not yet in result.requests
        try:
            for fields in requests:
                count += 1
                connection = (fields[6], fields[2], fields[1])
                known = same_server.get(connection)
                if known is None:
                    known = same_server[connection] = agree(*connection)
                if known:
                    same += 1
                else:
                    feed(Request(*fields), None, True)
                if tick is not None and not count % PROGRESS_EVERY:
                    result.requests += same
                    same = 0
                    tick(count)
        finally:
            result.requests += same
        return count

    def _servers_agree(self, local_ip: str | None, port: int, host: str | None) -> bool:
        old_match = self.old.match(local_ip, port, host)
        new_match = self.new.match(local_ip, port, host)
        return (old_match.server.server_name == new_match.server.server_name
                and self._address(old_match) == self._address(new_match)
                and self._old_prints.of(old_match.server) == self._new_prints.of(new_match.server))

    def _address(self, match: Match) -> str | None:
        aset = match.address_set
        if aset is None:
            return None
        found = self._addresses.get(id(aset))
        if found is None:
            found = self._addresses[id(aset)] = aset.address
        return found

    def _compare(self, request: Request, servers_differ: bool = False) -> tuple[Any, ...] | None:
        if not servers_differ and self._servers_agree(request.local_ip, request.port, request.host):
            return None  # same server, same routing configuration: same decision
        old_side = _side(self._old_router.route(request))
        new_side = _side(self._new_router.route(request))
        if old_side.identity(self._relocate) == new_side.identity(self._relocate):
            return None
        key = (old_side.vhost, old_side.address_set, old_side.directive, old_side.kind, old_side.status,
               new_side.vhost, new_side.address_set, new_side.directive, new_side.kind, new_side.status)
        if key not in self.result.groups:
            self.result.groups[key] = Group(old_side, new_side)
        return key


_UNSEEN: Any = object()


def load_allowances(path: str) -> list[dict[str, str]]:
    """``--allow FILE``: YAML list of intended changes, each matching old/new vhost, kind or target."""
    import yaml

    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or []
    if isinstance(data, dict):
        data = data.get("allow", [])
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ValueError(f"{path}: expected a list of mappings like {{old_vhost: a, new_vhost: b}}")
    return data


def allowed(group: Group, allowances: list[dict[str, str]]) -> bool:
    fields = {
        "old_vhost": group.old.vhost, "new_vhost": group.new.vhost,
        "old_kind": group.old.kind, "new_kind": group.new.kind,
        "old_target": group.old.target, "new_target": group.new.target,
    }
    return any(allowance and all(_field_matches(fields.get(k), str(v)) for k, v in allowance.items()) for allowance in allowances)


def _field_matches(value: str | None, pattern: str) -> bool:
    import fnmatch

    return value is not None and fnmatch.fnmatchcase(value, pattern)


PROGRESS_EVERY = 10000  # requests between two progress reports


def replay(old: ServerModel, new: ServerModel, jobs: list[ReplayJob], default_host: str | None,
           workers: int = 1, progress: Callable[[int], None] | None = None,
           strict_paths: bool = False) -> tuple[DiffResult, ReplayStats]:
    """Replay every job through both models; with ``workers`` > 1 and several jobs, in forked
    processes that share the already-built models (copy on write) and return their parts.
    ``progress`` is called with the requests replayed so far, as they are; ``strict_paths``
    compares paths literally (see ``Relocation``)."""
    if workers > 1 and len(jobs) > 1 and "fork" in multiprocessing.get_all_start_methods():
        return _replay_parallel(old, new, jobs, default_host, workers, progress, strict_paths)
    differ = Differ(old, new, strict_paths)
    stats = ReplayStats()
    tick = None if progress is None else (lambda _count: progress(differ.result.requests))
    for job in jobs:
        differ.feed_all(job_requests(job, stats, default_host, old.default_local_ip), tick)
    if progress is not None:
        progress(differ.result.requests)
    return differ.result, stats


Part = tuple[int, DiffResult, ReplayStats]  # a job's index and what replaying it gave


def _replay_parallel(old: ServerModel, new: ServerModel, jobs: list[ReplayJob], default_host: str | None,
                     workers: int, progress: Callable[[int], None] | None,
                     strict_paths: bool = False) -> tuple[DiffResult, ReplayStats]:
    """The jobs on ``logs.fold_jobs``' forked workers (they share the already-built models, copy on
    write; building them again would cost more than the replay); the parts merged in job order."""
    counter = multiprocessing.get_context("fork").Value("q", 0)  # requests replayed, shared memory
    parent = os.getpid()

    def report() -> None:
        if progress is not None:
            progress(counter.value)

    def read(parts: list[Part], item: tuple[int, ReplayJob]) -> None:
        index, job = item
        differ = Differ(old, new, strict_paths)
        stats = ReplayStats()

        def tick(_count: int) -> None:
            with counter.get_lock():
                counter.value += PROGRESS_EVERY
            if os.getpid() == parent:
                report()

        count = differ.feed_all(job_requests(job, stats, default_host, old.default_local_ip), tick)
        with counter.get_lock():
            counter.value += count % PROGRESS_EVERY
        parts.append((index, differ.result, stats))

    parts = fold_jobs(list(enumerate(jobs)), list, read, list.extend, workers, lambda _: report())
    parts.sort(key=lambda part: part[0])
    result, stats = DiffResult(), ReplayStats()
    for _, part_result, part_stats in parts:
        result.merge(part_result)
        stats.merge(part_stats)
    if progress is not None:
        progress(result.requests)
    return result, stats

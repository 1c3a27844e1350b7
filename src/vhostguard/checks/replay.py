"""Requests to replay: from access logs or URL lists.

Logs are read by the one reader of ``vhostguard.logs`` (plain, gzip, bzip2,
xz, CRLF, pipes read once) in the format ``vhostguard.logs.resolve`` gives
them (``--log-format``, else the old config's, else detected), so ``diff``
reads a log exactly as ``logs`` and ``report`` do.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import Any

from vhostguard.config import ConfigTree
from vhostguard.logs import (
    SAMPLES, TOO_LONG, Malformed, Parser, ReadStats, ResolveError, find_logs, iter_lines, printable, parser_of, read_log, resolve_files, spans,
)
from vhostguard.routing import DEFAULT_REMOTE_IP, Request, RequestError

# Only what a replay needs: converting the rest (times, sizes, agents) would cost most of the parse.
REPLAY_FIELDS = ("headers_in", "server_name", "vhost", "path", "query", "method", "local_port", "port",
                 "local_addr", "remote_addr")
SPLIT_MIN_BYTES = 16 << 20  # smaller logs are not worth a second process
_URL_PREFIXES = ("http://", "https://")


class ReplayError(ValueError):
    """A requests file that cannot be replayed."""


@dataclass
class ReplayStats:
    """What a replay read: lines, malformed ones (the first few kept), lines without a Host, damaged files."""

    lines: int = 0
    malformed: int = 0
    unusable: int = 0  # parsed, but no Host could be found
    samples: list[Malformed] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lines_of: dict[str, int] = field(default_factory=dict)  # lines per file, to number the next part's lines

    def add_read(self, read: ReadStats, name: str, number_from: int = 0) -> None:
        """Count one file's (or one part's) read; ``number_from``: lines of the file before this part."""
        self.lines += read.lines
        self.malformed += read.malformed
        self.samples += [replace(bad, line=bad.line + number_from) for bad in read.samples]
        del self.samples[SAMPLES:]
        self.problems += read.problems
        self.lines_of[name] = self.lines_of.get(name, 0) + read.lines

    def merge(self, other: ReplayStats) -> None:
        """Add the stats of the next parts (in file order): their line numbers continue this one's."""
        self.unusable += other.unusable
        for bad in other.samples:
            if len(self.samples) < SAMPLES:
                self.samples.append(replace(bad, line=bad.line + self.lines_of.get(bad.file, 0)))
        self.lines += other.lines
        self.malformed += other.malformed
        self.problems += other.problems
        for name, count in other.lines_of.items():
            self.lines_of[name] = self.lines_of.get(name, 0) + count

    def sample_text(self, count: int = 3) -> str:
        return "; ".join(f"{bad.file}:{bad.line}: {bad.error}" for bad in self.samples[:count])


@dataclass(frozen=True)
class ReplayJob:
    """One unit of replay work: a URL list, a whole log, a byte range of a plain log, or a stream
    (a pipe: read once, URL list or log decided by its first line)."""

    path: str
    kind: str  # "urls" | "log" | "stream"
    formats: tuple[str, ...] = ()  # LogFormat strings for logs and streams (several: tried in turn)
    span: tuple[int, int] | None = None  # None: the whole file
    tried: tuple[str, ...] = ()  # the formats detection chose among, for hints


def is_url_list(path: str) -> bool:
    """Is ``path`` a URL list (its first line that is not blank nor a comment is a URL)?"""
    stats = ReadStats()
    for lines in iter_lines(path, stats, path):
        for line in lines:
            text = line.strip()
            if text and not text.startswith("#"):
                return text.startswith(_URL_PREFIXES)
    return False


def plan_jobs(paths: list[str], tree: ConfigTree, log_format: str | None, parts: int) -> list[ReplayJob]:
    """Split the replay into jobs; big plain logs are cut into ``parts`` line-aligned ranges."""
    layout = find_logs(tree)
    jobs: list[ReplayJob] = []
    for path in paths:
        try:
            regular = stat.S_ISREG(os.stat(path).st_mode)
        except OSError as problem:
            raise ReplayError(f"{path}: {problem.strerror or problem}") from None
        if regular and is_url_list(path):
            jobs.append(ReplayJob(path, "urls"))
            continue
        try:
            (resolved,) = resolve_files([path], layout, log_format, REPLAY_FIELDS)
        except ResolveError as problem:
            raise ReplayError(f"{path}: cannot use the log format: {problem}") from None
        if not regular:
            jobs.append(ReplayJob(path, "stream", resolved.formats, None, resolved.tried))
            continue
        ranges = spans(path, parts) if parts > 1 and os.path.getsize(path) >= SPLIT_MIN_BYTES else None
        for span in ranges if ranges and len(ranges) > 1 else [None]:
            jobs.append(ReplayJob(path, "log", resolved.formats, span, resolved.tried))
    return jobs


def _parser(formats: tuple[str, ...]) -> Parser:
    return parser_of(formats, REPLAY_FIELDS)


def job_requests(job: ReplayJob, stats: ReplayStats, default_host: str | None,
                 local_ip: Callable[[int], str | None]) -> Iterator[tuple[Any, ...]]:
    """The request field tuples of one job; its lines are counted in ``stats`` once it is read."""
    name = printable(job.path)
    read = ReadStats()
    number_from = stats.lines_of.get(name, 0)
    blocks: Iterable[list[str]] = iter_lines(job.path, read, name, job.span)
    kind = job.kind
    if kind == "stream":
        blocks, urls = _first_line_is_url(iter(blocks))
        kind = "urls" if urls else "log"
    try:
        if kind == "urls":
            yield from _url_requests(blocks, read, name, local_ip)
        else:
            records = read_log(job.path, _parser(job.formats), stats=read, name=name, blocks=blocks)
            local_ip = _memo(local_ip)  # asked once per line that logs no local address
            for record in records:
                fields = record_fields(record, default_host, local_ip)
                if fields is None:
                    stats.unusable += 1
                    continue
                yield fields
    finally:
        stats.add_read(read, name, number_from)


def _memo(local_ip: Callable[[int], str | None]) -> Callable[[int], str | None]:
    """``local_ip`` remembering its answer per port."""
    known: dict[int, str | None] = {}

    def cached(port: int) -> str | None:
        try:
            return known[port]
        except KeyError:
            found = known[port] = local_ip(port)
            return found
    return cached


def _first_line_is_url(blocks: Iterator[list[str]]) -> tuple[Iterator[list[str]], bool]:
    """Look at a stream's first meaningful line without losing any: (all its blocks, is it a URL)."""
    seen: list[list[str]] = []
    for lines in blocks:
        seen.append(lines)
        for line in lines:
            text = line.strip()
            if text and not text.startswith("#"):
                return chain(seen, blocks), text.startswith(_URL_PREFIXES)
    return iter(seen), False


def _url_requests(blocks: Iterable[list[str]], read: ReadStats, name: str,
                  local_ip: Callable[[int], str | None]) -> Iterator[tuple[Any, ...]]:
    """Requests of a URL list; blank and ``#`` lines are neither counted nor malformed."""
    number = 0
    for lines in blocks:
        if lines is TOO_LONG:
            number += 1
            read.lines += 1
            read.malformed += 1
            continue
        for line in lines:
            number += 1
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            read.lines += 1
            try:
                request = Request.from_url(text)
                request = Request.from_url(text, local_ip=local_ip(request.port))
            except RequestError as problem:
                read.malformed += 1
                if len(read.samples) < SAMPLES:
                    read.samples.append(Malformed(name, number, str(problem)))
                continue
            yield (request.scheme, request.host, request.port, request.path, request.query, request.method,
                   request.local_ip, request.remote_ip)


def _header(record: dict[str, Any], name: str) -> str | None:
    headers = record.get("headers_in") or {}
    for key, value in headers.items():
        if key.lower() == name:
            return value if isinstance(value, str) else None  # a logged "-" is None: no header
    return None


def record_fields(record: dict[str, Any], default_host: str | None, local_ip: Callable[[int], str | None]) -> tuple[Any, ...] | None:
    """The fields of a replayable request from one parsed log record, in ``Request``'s
    order (None when no Host can be known). A plain tuple: this runs once per log
    line, and most lines never need a ``Request`` object (see ``Differ.feed_fields``)."""
    headers = record.get("headers_in")
    host = None
    if headers:
        host = headers.get("Host") or headers.get("host") or _header(record, "host")
    host = host or record.get("server_name") or record.get("vhost") or default_host
    path = record.get("path")
    if not host or path is None or not path.startswith("/"):
        return None
    port = record.get("local_port") or record.get("port")
    if port is None:
        _, sep, text = host.rpartition(":")
        port = int(text) if sep and text.isdigit() and "]" not in text else 80
    port = int(port)
    return ("https" if port in (443, 8443) else "http", host, port, path, record.get("query"),
            record.get("method") or "GET", record.get("local_addr") or local_ip(port),
            record.get("remote_addr") or DEFAULT_REMOTE_IP)


def record_request(record: dict[str, Any], default_host: str | None, local_ip: Callable[[int], str | None]) -> Request | None:
    fields = record_fields(record, default_host, local_ip)
    return None if fields is None else Request(*fields)



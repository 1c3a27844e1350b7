"""Requests to replay: from access logs (read with the old config's LogFormat) or URL lists."""
from __future__ import annotations

import gzip
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from vhostguard.config import ConfigTree
from vhostguard.logs.format import FormatError, LineError, LogFormat, parser_for
from vhostguard.routing import DEFAULT_REMOTE_IP, Request, RequestError

SAMPLE_LINES = 200
# Only what a replay needs: converting the rest (times, sizes, agents) would cost most of the parse.
REPLAY_FIELDS = ("headers_in", "server_name", "vhost", "path", "query", "method", "local_port", "port",
                 "local_addr", "remote_addr")
_LOG_DIRECTIVES = ("customlog", "globallog", "transferlog")
_DEFAULT_NICKNAMES = {
    "common": '%h %l %u %t "%r" %>s %b',
    "combined": '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"',
    "vhost_combined": '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
}


class ReplayError(ValueError):
    """A requests file that cannot be replayed."""


@dataclass
class ReplayStats:
    lines: int = 0
    malformed: int = 0
    unusable: int = 0  # parsed, but no Host could be found
    samples: list[str] = field(default_factory=list)  # first malformed lines: "file:line: error"

    def note(self, path: str, line: int, error: str) -> None:
        if len(self.samples) < 5:
            self.samples.append(f"{path}:{line}: {error}")

    def merge(self, other: ReplayStats) -> None:
        self.lines += other.lines
        self.malformed += other.malformed
        self.unusable += other.unusable
        self.samples = sorted(self.samples + other.samples, key=_sample_order)[:5]


def _sample_order(sample: str) -> tuple[str, int]:
    path, line, _ = sample.split(":", 2)
    return path, int(line)


def open_text(path: str) -> IO[str]:
    """Open a log, gzip or plain (by magic bytes, not by name)."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, closed by it
    except OSError as exc:
        raise ReplayError(f"{path}: {exc.strerror}") from None
    magic = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if magic == b"\x1f\x8b" else raw
    return io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="\n")


def config_formats(tree: ConfigTree) -> tuple[dict[str, str], list[str]]:
    """(nicknames, formats of every access log) from the config that wrote the logs."""
    nicknames = dict(_DEFAULT_NICKNAMES)
    used: list[str] = []
    for node in tree.walk():
        if node.key == "logformat" and len(node.args) >= 2:
            nicknames[node.args[1]] = node.args[0]
    for node in tree.walk():
        if node.key in _LOG_DIRECTIVES and len(node.args) >= 2:
            fmt = nicknames.get(node.args[1], node.args[1])
            if fmt not in used:
                used.append(fmt)
        elif node.key == "transferlog" and node.args:
            used.append(nicknames["common"])
    return nicknames, used


def _choose_format(path: str, candidates: list[LogFormat]) -> LogFormat:
    """The candidate format that parses most of the file's first lines."""
    if len(candidates) == 1:
        return candidates[0]
    with open_text(path) as handle:
        sample = [line.rstrip("\n") for _, line in zip(range(SAMPLE_LINES), handle)]
    best, best_score = candidates[0], -1
    for candidate in candidates:
        score = 0
        for line in sample:
            try:
                candidate(line)
                score += 1
            except LineError:
                pass
        if score > best_score:
            best, best_score = candidate, score
    return best


def is_url_list(path: str) -> bool:
    with open_text(path) as handle:
        for line in handle:
            text = line.strip()
            if text and not text.startswith("#"):
                return text.startswith(("http://", "https://"))
    return False


def _header(record: dict[str, Any], name: str) -> str | None:
    headers = record.get("headers_in") or {}
    for key, value in headers.items():
        if key.lower() == name:
            return value
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


CHUNK_BYTES = 8 << 20
SPLIT_MIN_BYTES = 16 << 20  # smaller logs are not worth a second process


@dataclass(frozen=True)
class ReplayJob:
    """One unit of replay work: a URL list, a whole log, or a byte range of a plain log."""

    path: str
    kind: str  # "urls" | "log"
    log_format: str | None = None  # LogFormat text for logs
    start: int = 0
    end: int | None = None  # None: to the end (gzip logs are always read whole)
    first_line: int = 1


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _line_boundaries(path: str, parts: int) -> list[tuple[int, int, int]]:
    """(start, end, first line number) of ``parts`` byte ranges that end at line ends."""
    size = os.path.getsize(path)
    cuts = [0]
    with open(path, "rb") as handle:
        for index in range(1, parts):
            handle.seek(max(size * index // parts, cuts[-1]))
            handle.readline()
            cuts.append(handle.tell())
        cuts.append(size)
        ranges = []
        line = 1
        for start, end in zip(cuts, cuts[1:]):
            if end > start:
                ranges.append((start, end, line))
            handle.seek(start)
            remaining = end - start
            while remaining > 0:
                block = handle.read(min(CHUNK_BYTES, remaining))
                line += block.count(b"\n")
                remaining -= len(block)
    return ranges


def plan_jobs(paths: list[str], tree: ConfigTree, log_format: str | None, parts: int) -> list[ReplayJob]:
    """Split the replay into jobs; big plain logs are cut into ``parts`` line-aligned ranges."""
    nicknames, used = config_formats(tree)
    jobs: list[ReplayJob] = []
    for path in paths:
        if is_url_list(path):
            jobs.append(ReplayJob(path, "urls"))
            continue
        try:
            if log_format is not None:
                candidates = [parser_for(log_format, nicknames, REPLAY_FIELDS)]
            else:
                candidates = [parser_for(fmt, nicknames, REPLAY_FIELDS) for fmt in (used or [nicknames["combined"]])]
        except FormatError as problem:
            raise ReplayError(f"{path}: cannot use the log format: {problem}") from None
        chosen = _choose_format(path, candidates).format
        if parts > 1 and not _is_gzip(path) and os.path.getsize(path) >= SPLIT_MIN_BYTES:
            jobs.extend(ReplayJob(path, "log", chosen, start, end, first) for start, end, first in _line_boundaries(path, parts))
        else:
            jobs.append(ReplayJob(path, "log", chosen))
    return jobs


def _ranged_lines(path: str, start: int, end: int) -> Iterator[str]:
    with open(path, "rb") as handle:
        handle.seek(start)
        remaining = end - start
        tail = b""
        while remaining > 0:
            block = handle.read(min(CHUNK_BYTES, remaining))
            if not block:
                break
            remaining -= len(block)
            block = tail + block
            cut = block.rfind(b"\n") + 1 if remaining > 0 else len(block)
            tail = block[cut:]
            text = block[:cut].decode("utf-8", errors="surrogateescape")
            yield from text.splitlines()


def job_requests(job: ReplayJob, stats: ReplayStats, default_host: str | None,
                 local_ip: Callable[[int], str | None]) -> Iterator[tuple[Any, ...]]:
    """The request field tuples of one job."""
    if job.kind == "urls":
        yield from requests_from_urls(job.path, stats, local_ip)
        return
    assert job.log_format is not None
    fmt = parser_for(job.log_format, None, REPLAY_FIELDS)
    if job.end is None:
        with open_text(job.path) as handle:
            yield from _records(job.path, (line.rstrip("\n") for line in handle), 1, fmt, stats, default_host, local_ip)
    else:
        yield from _records(job.path, _ranged_lines(job.path, job.start, job.end), job.first_line, fmt, stats,
                            default_host, local_ip)


def _records(path: str, lines: Iterator[str], first: int, fmt: LogFormat, stats: ReplayStats,
             default_host: str | None, local_ip: Callable[[int], str | None]) -> Iterator[tuple[Any, ...]]:
    for number, line in enumerate(lines, first):
        stats.lines += 1
        try:
            record = fmt(line)
        except LineError as problem:
            stats.malformed += 1
            stats.note(path, number, str(problem))
            continue
        fields = record_fields(record, default_host, local_ip)
        if fields is None:
            stats.unusable += 1
            continue
        yield fields


def requests_from_urls(path: str, stats: ReplayStats, local_ip: Callable[[int], str | None]) -> Iterator[tuple[Any, ...]]:
    with open_text(path) as handle:
        for number, line in enumerate(handle, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            stats.lines += 1
            try:
                request = Request.from_url(text)
                request = Request.from_url(text, local_ip=local_ip(request.port))
            except RequestError as problem:
                stats.malformed += 1
                stats.note(path, number, str(problem))
                continue
            yield (request.scheme, request.host, request.port, request.path, request.query, request.method,
                   request.local_ip, request.remote_ip)

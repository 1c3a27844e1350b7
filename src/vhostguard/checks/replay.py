"""Requests to replay: from access logs (read with the old config's LogFormat) or URL lists."""
from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from vhostguard.config import ConfigTree
from vhostguard.logs.format import FormatError, LineError, LogFormat, parser_for
from vhostguard.routing import Request, RequestError

SAMPLE_LINES = 200
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


def record_request(record: dict[str, Any], default_host: str | None, local_ip: Callable[[int], str | None]) -> Request | None:
    """A replayable request from one parsed log record (None when no Host can be known)."""
    host = _header(record, "host") or record.get("server_name") or record.get("vhost") or default_host
    if not host or record.get("path") is None:
        return None
    port = record.get("local_port") or record.get("port")
    host_port = None
    if ":" in host.rsplit("]", 1)[-1]:
        text = host.rsplit(":", 1)[1]
        host_port = int(text) if text.isdigit() else None
    if port is None:
        port = host_port or 80
    scheme = "https" if port in (443, 8443) else "http"
    default = 443 if scheme == "https" else 80
    netloc = host if host_port is not None or port == default else f"{host}:{port}"
    try:
        url = f"{scheme}://{netloc}{record['path']}"
        if record.get("query") is not None:
            url += "?" + record["query"]
        method = record.get("method") or "GET"
        return Request.from_url(url, method=method, local_ip=record.get("local_addr") or local_ip(int(port)),
                                remote_ip=record.get("remote_addr") or "192.0.2.10")
    except (RequestError, ValueError):
        return None


def requests_from_log(path: str, fmt: LogFormat, stats: ReplayStats, default_host: str | None,
                      local_ip: Callable[[int], str | None]) -> Iterator[tuple[Request, str]]:
    with open_text(path) as handle:
        for number, line in enumerate(handle, 1):
            stats.lines += 1
            try:
                record = fmt(line.rstrip("\n"))
            except LineError as problem:
                stats.malformed += 1
                stats.note(path, number, str(problem))
                continue
            request = record_request(record, default_host, local_ip)
            if request is None:
                stats.unusable += 1
                continue
            yield request, request.url


def requests_from_urls(path: str, stats: ReplayStats, local_ip: Callable[[int], str | None]) -> Iterator[tuple[Request, str]]:
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
            yield request, text


def replay_sources(paths: list[str], tree: ConfigTree, log_format: str | None, default_host: str | None,
                   local_ip: Callable[[int], str | None], stats: ReplayStats) -> Iterator[tuple[Request, str]]:
    """Every request of every file, in order."""
    nicknames, used = config_formats(tree)
    for path in paths:
        if is_url_list(path):
            yield from requests_from_urls(path, stats, local_ip)
            continue
        try:
            if log_format is not None:
                candidates = [parser_for(log_format, nicknames)]
            else:
                candidates = [parser_for(fmt, nicknames) for fmt in (used or [nicknames["combined"]])]
        except FormatError as problem:
            raise ReplayError(f"{path}: cannot use the log format: {problem}") from None
        yield from requests_from_log(path, _choose_format(path, candidates), stats, default_host, local_ip)

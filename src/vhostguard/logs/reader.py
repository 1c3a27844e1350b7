"""Read access logs: plain or compressed, line by line, never stopping at a bad line.

``read_log(path, parser)`` yields one record per line that parses and
counts (and reports through ``on_malformed``) every line that does not,
with its line number. A compressed file (gzip, bzip2, xz) is recognised by
its first bytes, not its name, so rotated ``access.log.2.gz`` and a
compressed file without suffix both read transparently.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from contextlib import contextmanager
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from vhostguard.logs.format import LineError, LogFormat

CHUNK = 1 << 20  # characters read at a time; lines are split in C
MAX_LINE = 1 << 20  # a longer "line" is not an access-log line (binary data, a missing newline)
DETECT_LINES = 200  # lines read to choose between candidate formats
SAMPLES = 10  # malformed lines kept in ReadStats.samples

_MAGIC: tuple[tuple[bytes, Callable[[Any], Any]], ...] = (
    (b"\x1f\x8b", lambda raw: gzip.GzipFile(fileobj=raw)),
    (b"BZh", bz2.BZ2File),
    (b"\xfd7zXZ\x00", lzma.LZMAFile),
)
# What a damaged or truncated compressed file raises part-way through.
_STREAM_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError)


class Parser(Protocol):
    """Anything with ``parse(line) -> record`` that raises LineError: a LogFormat or a FormatChoice."""

    def parse(self, line: str) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Malformed:
    """A line that did not parse: where, and what was expected there."""

    file: str
    line: int
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "error": self.error}


@dataclass
class ReadStats:
    """Counters a read fills in as it goes (mutable on purpose: a read is a stream).

    ``lines`` counts every line read, ``malformed`` those rejected;
    ``samples`` keeps the first few; ``problems`` holds file-level trouble
    (a compressed file cut short) as one-line messages.
    """

    lines: int = 0
    malformed: int = 0
    samples: list[Malformed] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def parsed(self) -> int:
        return self.lines - self.malformed


@dataclass(frozen=True)
class FormatChoice:
    """Several formats for one file (a config that logs different formats to it): the first that parses wins."""

    formats: tuple[LogFormat, ...]

    def parse(self, line: str) -> dict[str, Any]:
        first: LineError | None = None
        for fmt in self.formats:
            try:
                return fmt.parse(line)
            except LineError as problem:
                first = first or problem
        assert first is not None
        raise first


@contextmanager
def open_log(path: str) -> Iterator[io.TextIOWrapper]:
    """A text stream over ``path``, decompressed if its magic bytes say so.

    Bytes that are not UTF-8 become ``\\xhh`` text (httpd writes ASCII; this
    keeps foreign bytes visible and lines countable). Raises OSError.
    """
    with open(path, "rb") as raw:
        head = raw.peek(6)[:6]
        binary: Any = raw
        for magic, opener in _MAGIC:
            if head.startswith(magic):
                binary = opener(raw)
                break
        # newline="": no translation, "\r" alone does not end a line
        with io.TextIOWrapper(binary, encoding="utf-8", errors="backslashreplace", newline="") as text:
            yield text


def iter_lines(stream: io.TextIOWrapper, stats: ReadStats, name: str) -> Iterator[list[str]]:
    """Lists of complete lines (without their end of line) from ``stream``.

    The end of line is ``\\n``, or ``\\r\\n`` when the first line ends so
    (httpd on Windows writes CRLF). A last line without newline is a line.
    A compressed file cut short ends the lines with a problem noted in
    ``stats``; what was read before still counts.
    """
    rest = ""
    newline = None
    while True:
        try:
            chunk = stream.read(CHUNK)
        except _STREAM_ERRORS as problem:
            stats.problems.append(f"{name}: {_describe(problem)}; read {stats.lines} lines before it")
            chunk = ""
        if not chunk:
            break
        text = rest + chunk if rest else chunk
        if newline is None:
            first = text.find("\n")
            if first < 0 and len(text) <= MAX_LINE:
                rest = text
                continue
            newline = "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"
        lines = text.split(newline)
        rest = lines.pop()
        if len(rest) > MAX_LINE:
            lines.append(rest)  # reported as malformed by the caller (too long); keeps memory bounded
            rest = ""
        if lines:
            yield lines
    if rest:
        yield [rest]


def _describe(problem: BaseException) -> str:
    if isinstance(problem, EOFError):
        return "compressed data ends early"
    return f"cannot read: {problem}"


def read_log(path: str, parser: Parser, *, stats: ReadStats | None = None,
             on_malformed: Callable[[Malformed], None] | None = None, with_position: bool = False,
             name: str | None = None) -> Iterator[dict[str, Any]]:
    """Records of the lines of ``path`` that parse, in file order.

    Every line is counted in ``stats``; a line that does not parse is
    counted as malformed, kept in ``stats.samples`` (the first few) and
    passed to ``on_malformed``, and reading goes on. With ``with_position``
    each record also gets ``file`` (``name``, default ``path``) and ``line``.
    Raises OSError when the file cannot be opened.
    """
    stats = stats if stats is not None else ReadStats()
    name = name or path
    parse = parser.parse
    number = stats.lines
    start = number
    with open_log(path) as stream:
        for lines in iter_lines(stream, stats, name):
            for line in lines:
                number += 1
                try:
                    if len(line) > MAX_LINE:
                        raise LineError(f"line longer than {MAX_LINE} characters")
                    record = parse(line)
                except LineError as problem:
                    stats.lines = number
                    _malformed(stats, Malformed(name, number - start, problem.message), on_malformed)
                    continue
                if with_position:
                    record["file"] = name
                    record["line"] = number - start
                yield record
            stats.lines = number  # per chunk: the hot loop keeps a local counter


def _malformed(stats: ReadStats, bad: Malformed, report: Callable[[Malformed], None] | None) -> None:
    stats.malformed += 1
    if len(stats.samples) < SAMPLES:
        stats.samples.append(bad)
    if report is not None:
        report(bad)


def read_logs(paths: Iterable[tuple[str, Parser]], **options: Any) -> Iterator[dict[str, Any]]:
    """``read_log`` over several (path, parser) pairs in turn, sharing ``stats``."""
    for path, parser in paths:
        yield from read_log(path, parser, **options)


def detect_format(path: str, candidates: Sequence[LogFormat]) -> LogFormat:
    """The candidate that parses the most of the first lines of ``path`` (ties: the earlier).

    A file is written in one format, so choosing once per file is both
    faster and safer than trying every format on every line (a truncated
    combined line can look like a complete common one).
    """
    if len(candidates) == 1:
        return candidates[0]
    sample: list[str] = []
    scratch = ReadStats()
    with open_log(path) as stream:
        for lines in iter_lines(stream, scratch, path):
            sample.extend(lines[:DETECT_LINES - len(sample)])
            if len(sample) >= DETECT_LINES:
                break
    best, best_score = candidates[0], -1
    for fmt in candidates:
        score = sum(1 for line in sample if _parses(fmt, line))
        if score > best_score:
            best, best_score = fmt, score
    return best


def _parses(fmt: LogFormat, line: str) -> bool:
    try:
        fmt.parse(line)
    except LineError:
        return False
    return True

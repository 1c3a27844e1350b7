"""Read access logs: plain or compressed, line by line, never stopping at a bad line.

``read_log(path, parser)`` yields one record per line that parses and
counts (and reports through ``on_malformed``) every line that does not,
with its line number. A compressed file (gzip, bzip2, xz) is recognised by
its first bytes, not its name, so rotated ``access.log.2.gz`` and a
compressed file without suffix both read transparently.
"""
from __future__ import annotations

import bz2
import codecs
import lzma
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from vhostguard.logs.format import LineError, LogFormat

CHUNK = 1 << 18  # bytes read at a time; lines are split in C
MAX_LINE = 1 << 20  # a longer "line" is not an access-log line (binary data, a missing newline)
DETECT_LINES = 200  # lines read to choose between candidate formats
SAMPLES = 10  # malformed lines kept in ReadStats.samples

_DECOMPRESSORS: tuple[tuple[bytes, Callable[[], Any]], ...] = (
    (b"\x1f\x8b", lambda: zlib.decompressobj(wbits=31)),  # gzip
    (b"BZh", bz2.BZ2Decompressor),
    (b"\xfd7zXZ\x00", lzma.LZMADecompressor),
)
COMPRESSED_MAGIC = tuple(magic for magic, _ in _DECOMPRESSORS)
_COMPRESSED_CHUNK = 1 << 14  # compressed bytes per step: what a damaged step loses (its output)
TOO_LONG: list[str] = []  # yielded by iter_lines, by identity, in place of one over-long line
# What a damaged or truncated compressed file raises part-way through.
_STREAM_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError, ValueError)


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
    """Several formats for one file (a config that logs different formats to it).

    Each format is tried strictly first, in order, then leniently: a
    relaxed value must not let one format take another format's line.
    """

    formats: tuple[LogFormat, ...]
    order: tuple[LogFormat, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "order", tuple(f.strict() for f in self.formats) + self.formats)

    def parse(self, line: str) -> dict[str, Any]:
        first: LineError | None = None
        for fmt in self.order:
            try:
                return fmt.parse(line)
            except LineError as problem:
                first = first or problem
        assert first is not None
        raise first


def is_compressed(head: bytes) -> bool:
    """True when ``head`` (a file's first bytes, 6 are enough) starts a gzip, bzip2 or xz stream:
    such a file is read as one stream (it cannot be entered in the middle)."""
    return head.startswith(COMPRESSED_MAGIC)


def iter_bytes(path: str, span: tuple[int, int] | None = None) -> Iterator[bytes]:
    """The bytes of ``path``, decompressed when its first bytes are a gzip, bzip2 or xz magic.

    The file is opened at once (OSError here, not at the first chunk).
    Decompression is done here, member by member (``cat a.gz b.gz`` is one
    valid gzip file), so that a file cut short yields everything up to the
    cut before raising ``EOFError``. ``span`` (start, end) reads only those
    bytes of a plain file (see ``parallel.spans``).
    """
    raw = open(path, "rb")  # noqa: SIM115 - closed by the generator
    if span is not None:
        return _span(raw, *span)
    return _chunks(raw)


def _span(raw: BinaryIO, start: int, end: int) -> Iterator[bytes]:
    with raw:
        raw.seek(start)
        left = end - start
        while left > 0 and (chunk := raw.read(min(CHUNK, left))):
            left -= len(chunk)
            yield chunk


def _chunks(raw: BinaryIO) -> Iterator[bytes]:
    with raw:
        head = raw.peek(6)[:6]  # type: ignore[attr-defined]
        factory = next((make for magic, make in _DECOMPRESSORS if head.startswith(magic)), None)
        if factory is None:
            while chunk := raw.read(CHUNK):
                yield chunk
            return
        decompressor = factory()
        while data := raw.read(_COMPRESSED_CHUNK):
            while data:
                yield from _inflate(decompressor, data)
                if not decompressor.eof:
                    break
                data = decompressor.unused_data  # the next member, if any
                decompressor = factory()
                if not data and not raw.peek(1):  # type: ignore[attr-defined]
                    return
        if not decompressor.eof:
            raise EOFError("compressed data ends early")


def _inflate(decompressor: Any, data: bytes) -> Iterator[bytes]:
    """The output of ``data``, at most CHUNK bytes at a time.

    A compressed block can expand a thousandfold (100 KB of gzipped newlines
    is 100 MB of empty lines): each step's output is capped, so the lines of
    one block, and what is built from them, stay bounded.
    """
    if hasattr(decompressor, "unconsumed_tail"):  # zlib: the input left over waits in unconsumed_tail
        while True:
            out = decompressor.decompress(data, CHUNK)
            if out:
                yield out
            data = decompressor.unconsumed_tail
            if decompressor.eof or (not data and len(out) < CHUNK):
                return
    out = decompressor.decompress(data, CHUNK)  # bz2, lzma: more output waits until needs_input
    while True:
        if out:
            yield out
        if decompressor.eof or decompressor.needs_input:
            return
        out = decompressor.decompress(b"", CHUNK)


def iter_lines(path: str, stats: ReadStats, name: str, span: tuple[int, int] | None = None) -> Iterator[list[str]]:
    r"""Lists of complete lines of ``path`` (decoded, without their end of line).

    Lines end with ``\n``; a ``\r`` before it is dropped (httpd on Windows
    writes CRLF; elsewhere it escapes ``\r``, so a raw one is never data).
    A last line without newline is a line. Bytes that are not UTF-8 become
    ``\xhh`` text. A line longer than MAX_LINE is not kept: the ``TOO_LONG``
    list itself is yielded in its place (memory stays bounded, numbering right).
    A damaged compressed file ends the lines with a problem noted in
    ``stats``; what was read before it still counts.
    """
    decode = codecs.getincrementaldecoder("utf-8")("backslashreplace").decode
    rest = ""
    skipping = False  # inside an over-long line: drop text up to the next newline
    chunks = iter_bytes(path, span)
    failure: BaseException | None = None
    done = 0  # lines yielded, for the message of a damaged file
    while True:
        try:
            data = next(chunks, None)
        except _STREAM_ERRORS as problem:
            failure, data = problem, None
        if data is None:
            break
        done += data.count(b"\n")
        text = decode(data)
        if skipping:
            cut = text.find("\n")
            if cut < 0:
                continue
            text, skipping = text[cut + 1:], False
        lines = text.split("\n")
        if rest:
            lines[0] = rest + lines[0]  # copies one line, not the chunk
        rest = lines.pop()
        if "\r" in text:
            lines = [line[:-1] if line.endswith("\r") else line for line in lines]
        # Only a chunk with an over-long line can be longer than MAX_LINE (CHUNK is smaller).
        if lines and len(lines[0]) + len(text) > MAX_LINE and max(map(len, lines)) > MAX_LINE:
            yield from _split_long(lines, [i for i, line in enumerate(lines) if len(line) > MAX_LINE])
        elif lines:
            yield lines
        if len(rest) > MAX_LINE:
            rest, skipping = "", True
            yield TOO_LONG
    rest += decode(b"", True)
    if rest and not skipping:
        done += 1
        yield [rest[:-1] if rest.endswith("\r") else rest]
    if failure is not None:
        stats.problems.append(f"{printable(name)}: {_describe(failure)}; {done} lines read before it were counted")


def printable(name: str) -> str:
    """A file name as text that can be written anywhere: bytes that are not UTF-8 as ``\\xhh``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _split_long(lines: list[str], long_lines: list[int]) -> Iterator[list[str]]:
    previous = 0
    for i in long_lines:
        if lines[previous:i]:
            yield lines[previous:i]
        yield TOO_LONG
        previous = i + 1
    if lines[previous:]:
        yield lines[previous:]


def _describe(problem: BaseException) -> str:
    if isinstance(problem, EOFError):
        return "compressed data ends early"
    return f"cannot read: {problem}"


def decode_lines(complete: bytes) -> list[str]:
    r"""The lines of ``complete`` (bytes that end at a line's end, its last ``\n`` left out) as
    ``iter_lines`` gives them: cut at ``\n``, the ``\r`` of a CRLF dropped, not UTF-8 as ``\xhh``."""
    text = complete.decode("utf-8", "backslashreplace")
    lines = text.split("\n")
    if "\r" in text:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    return lines


@dataclass
class LogCursor:
    """Where a log is being read from, a read at a time: complete lines only (a line still being
    written waits for its newline), a rotated (another inode) or truncated file read again from 0.

    ``offset`` is the next byte to read; ``start`` where line indexes count from and ``index`` the
    complete lines returned since (``lines_before(path, start) + index + 1`` is a line's number);
    ``mid_line``: ``offset`` falls inside a line, whose rest is not a line.
    """

    path: str
    offset: int = 0
    inode: int | None = None
    mid_line: bool = False
    start: int = field(init=False)
    index: int = 0
    _rest: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        self.start = self.offset

    def read(self, limit: int, until: int | None = None) -> list[str]:
        """The complete lines written since the last read, reading at most ``limit`` bytes (and only up
        to byte ``until`` when given); [] when there are none or the file cannot be read now."""
        try:
            with open(self.path, "rb") as handle:
                info = os.fstat(handle.fileno())
                if (self.inode is not None and info.st_ino != self.inode) or info.st_size < self.offset:
                    self.offset = self.start = self.index = 0
                    self._rest, self.mid_line = b"", False
                self.inode = info.st_ino
                handle.seek(self.offset)
                data = handle.read(limit if until is None else max(0, min(limit, until - self.offset)))
        except OSError:
            return []  # not written yet, or gone
        self.offset += len(data)
        complete, newline, self._rest = (self._rest + data).rpartition(b"\n")
        if not newline:
            return []
        lines = decode_lines(complete)
        if self.mid_line:
            self.mid_line = False
            self.start += len(complete.split(b"\n", 1)[0]) + 1
            lines = lines[1:]
        self.index += len(lines)
        return lines


def read_log(path: str, parser: Parser, *, stats: ReadStats | None = None,
             on_malformed: Callable[[Malformed], None] | None = None, with_position: bool = False,
             name: str | None = None, span: tuple[int, int] | None = None,
             blocks: Iterable[list[str]] | None = None) -> Iterator[dict[str, Any]]:
    """Records of the lines of ``path`` that parse, in file order.

    Every line is counted in ``stats``; a line that does not parse is
    counted as malformed, kept in ``stats.samples`` (the first few) and
    passed to ``on_malformed``, and reading goes on. With ``with_position``
    each record also gets ``file`` (``name``, default ``path``) and ``line``.
    ``span`` reads a byte range of a plain file (line numbers then count from
    the start of the range). ``blocks``: lines already being read from ``path`` by
    ``iter_lines`` (a pipe whose first lines were looked at). Raises OSError when
    the file cannot be opened.
    """
    stats = stats if stats is not None else ReadStats()
    name = name or path
    parse = parser.parse
    number = start = stats.lines
    for lines in iter_lines(path, stats, name, span) if blocks is None else blocks:
        if lines is TOO_LONG:
            number += 1
            stats.lines = number
            _malformed(stats, Malformed(name, number - start, f"line longer than {MAX_LINE} characters"), on_malformed)
            continue
        for line in lines:
            number += 1
            try:
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
    """The candidate that parses the most of the first lines of ``path`` (strictly, then leniently; ties: the earlier).

    A file is written in one format, so choosing once per file is both
    faster and safer than trying every format on every line (a truncated
    combined line can look like a complete common one).
    """
    if len(candidates) == 1:
        return candidates[0]
    sample: list[str] = []
    for lines in iter_lines(path, ReadStats(), path):
        sample.extend(lines[:DETECT_LINES - len(sample)])
        if len(sample) >= DETECT_LINES:
            break
    best, best_score = candidates[0], (-1, -1)
    for fmt in candidates:
        # strict parses first: a relaxed value can make a wrong format fit
        score = (sum(1 for line in sample if _parses(fmt.strict(), line)), sum(1 for line in sample if _parses(fmt, line)))
        if score > best_score:
            best, best_score = fmt, score
    return best


def _parses(fmt: LogFormat, line: str) -> bool:
    try:
        fmt.parse(line)
    except LineError:
        return False
    return True


def count_newlines(handle: BinaryIO, start: int, end: int) -> int:
    """Newlines in bytes ``start``..``end`` of an open binary file (1 MiB at a time): how a line number
    is found for a byte offset (a log read from the middle still names its lines as an editor does)."""
    handle.seek(start)
    count, left = 0, end - start
    while left > 0:
        chunk = handle.read(min(left, 1 << 20))
        if not chunk:
            break
        count += chunk.count(b"\n")
        left -= len(chunk)
    return count

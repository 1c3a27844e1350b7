"""Reading log files: compression by magic bytes, malformed lines counted and located, never fatal."""
from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path
from typing import Any

import pytest

from vhostguard.logs import DEFAULT_NICKNAMES, FormatChoice, ReadStats, compile_format, detect_format, parser_for, read_log
from vhostguard.logs import reader
from vhostguard.logs.reader import CHUNK, iter_lines

COMBINED = compile_format(DEFAULT_NICKNAMES["combined"])
GOOD = '10.0.0.{n} - - [21/Jan/2024:15:00:0{n} +0000] "GET /p/{n} HTTP/1.1" 200 {n} "-" "ua {n}"'


def good(n: int) -> str:
    return GOOD.format(n=n)


def lines_of(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def read(path: Path, parser: object = COMBINED) -> tuple[list[dict], ReadStats, list]:
    stats = ReadStats()
    bad: list = []
    records = list(read_log(str(path), parser, stats=stats, on_malformed=bad.append, with_position=True))  # type: ignore[arg-type]
    return records, stats, bad


def test_malformed_and_truncated_lines_are_counted_with_their_numbers(tmp_path: Path) -> None:
    truncated = good(3)[:-12]  # cut inside the quoted User-Agent, as a crash mid-write leaves it
    log = tmp_path / "access.log"
    log.write_bytes(lines_of(good(1), "garbage", truncated, good(4), "", good(5)))
    records, stats, bad = read(log)
    assert [r["line"] for r in records] == [1, 4, 6]  # the line after a truncated one still parses
    assert [r["path"] for r in records] == ["/p/1", "/p/4", "/p/5"]
    assert (stats.lines, stats.malformed, stats.parsed) == (6, 3, 3)
    assert [(b.line, b.file) for b in bad] == [(2, str(log)), (3, str(log)), (5, str(log))]
    assert "line ends" in bad[1].error or "inside" in bad[1].error
    assert bad[2].error == "empty line"
    assert bad[0].to_json() == {"file": str(log), "line": 2, "error": bad[0].error}


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress])
def test_compressed_files_are_recognised_by_magic_not_name(tmp_path: Path, compress: object) -> None:
    log = tmp_path / "access.log.2"  # no .gz: the bytes decide
    log.write_bytes(compress(lines_of(good(1), good(2))))  # type: ignore[operator]
    records, stats, _ = read(log)
    assert [r["path"] for r in records] == ["/p/1", "/p/2"] and stats.malformed == 0


def test_gzip_named_file_and_plain_file_named_gz(tmp_path: Path) -> None:
    rotated = tmp_path / "access.log.2.gz"
    rotated.write_bytes(gzip.compress(lines_of(good(1))))
    liar = tmp_path / "plain.gz"
    liar.write_bytes(lines_of(good(2)))
    assert [r["path"] for r in read(rotated)[0]] == ["/p/1"]
    assert [r["path"] for r in read(liar)[0]] == ["/p/2"]


def test_truncated_gzip_keeps_what_was_read_and_notes_the_problem(tmp_path: Path) -> None:
    data = gzip.compress(lines_of(*(good(n % 10) for n in range(5000))))
    log = tmp_path / "cut.log.gz"
    log.write_bytes(data[: len(data) - 40])
    records, stats, _ = read(log)
    assert 0 < len(records) <= 5000
    assert stats.problems and "compressed data ends early" in stats.problems[0]


def test_concatenated_gzip_members(tmp_path: Path) -> None:
    log = tmp_path / "multi.gz"
    log.write_bytes(gzip.compress(lines_of(good(1))) + gzip.compress(lines_of(good(2))))
    assert [r["line"] for r in read(log)[0]] == [1, 2]


def test_crlf_lines_and_last_line_without_newline(tmp_path: Path) -> None:
    log = tmp_path / "windows.log"
    log.write_bytes((good(1) + "\r\n" + good(2) + "\r\n" + good(3)).encode())
    records, stats, _ = read(log)
    assert [r["headers_in"]["User-Agent"] for r in records] == ["ua 1", "ua 2", "ua 3"]
    assert stats.lines == 3


def test_binary_and_non_utf8_input_is_malformed_not_fatal(tmp_path: Path) -> None:
    log = tmp_path / "binary.log"
    log.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe\n" + lines_of(good(1)) + b"\xff\xfe\x00garbage\n")
    records, stats, bad = read(log)
    assert [r["line"] for r in records] == [4]
    assert stats.malformed == 4 and [b.line for b in bad] == [1, 2, 3, 5]


def test_empty_file(tmp_path: Path) -> None:
    log = tmp_path / "empty.log"
    log.write_bytes(b"")
    records, stats, _ = read(log)
    assert records == [] and stats.lines == 0


def test_line_numbers_across_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "CHUNK", 100)  # lines straddle chunk boundaries
    log = tmp_path / "chunks.log"
    log.write_bytes(lines_of(*(good(n % 10) if n != 37 else "bad" for n in range(1, 101))))
    records, _stats, bad = read(log)
    assert len(records) == 99 and [b.line for b in bad] == [37]
    assert records[-1]["line"] == 100


def test_overlong_line_is_malformed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "MAX_LINE", 1000)
    monkeypatch.setattr(reader, "CHUNK", 300)
    log = tmp_path / "long.log"
    log.write_bytes(lines_of(good(1), "x" * 5000, good(2)))
    records, stats, bad = read(log)
    assert [r["line"] for r in records] == [1, 3]
    assert stats.malformed == 1 and "longer than" in bad[0].error


def test_stats_accumulate_over_files_with_per_file_line_numbers(tmp_path: Path) -> None:
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    first.write_bytes(lines_of(good(1), "bad"))
    second.write_bytes(lines_of("bad", good(2)))
    stats = ReadStats()
    bad: list = []
    for path in (first, second):
        list(read_log(str(path), COMBINED, stats=stats, on_malformed=bad.append))
    assert (stats.lines, stats.malformed) == (4, 2)
    assert [(b.file, b.line) for b in bad] == [(str(first), 2), (str(second), 1)]


def test_samples_keep_only_the_first_few(tmp_path: Path) -> None:
    log = tmp_path / "bad.log"
    log.write_bytes(lines_of(*(["bad"] * 50)))
    _, stats, bad = read(log)
    assert len(bad) == 50 and len(stats.samples) == reader.SAMPLES


def test_detect_format_prefers_the_one_that_parses(tmp_path: Path) -> None:
    log = tmp_path / "vh.log"
    log.write_bytes(lines_of(*("www.example:80 " + good(n) for n in range(5))))
    candidates = [parser_for(name) for name in ("combined", "vhost_combined", "common")]
    assert detect_format(str(log), candidates).format == DEFAULT_NICKNAMES["vhost_combined"]


def test_format_choice_tries_each_format(tmp_path: Path) -> None:
    log = tmp_path / "mixed.log"
    log.write_bytes(lines_of(good(1), "www:80 " + good(2), "bad"))
    choice = FormatChoice((parser_for("combined"), parser_for("vhost_combined")))
    records, stats, _ = read(log, choice)
    assert [r.get("vhost") for r in records] == [None, "www"] and stats.malformed == 1


def test_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        next(read_log(str(tmp_path / "missing.log"), COMBINED))


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress])
def test_a_highly_compressed_block_is_read_in_bounded_pieces(tmp_path: Path, compress: Any) -> None:
    # Issue 17.13: 100 KB of gzipped newlines is 100 MB of lines; one block must not hold them all.
    path = tmp_path / "newlines.log.z"
    path.write_bytes(compress(b"\n" * (8 << 20)))
    stats = ReadStats()
    sizes = [len(block) for block in iter_lines(str(path), stats, str(path))]
    assert sum(sizes) == 8 << 20
    assert max(sizes) <= CHUNK

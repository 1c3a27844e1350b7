"""Following files like tail -F: new lines, partial lines, rotation, truncation, binary data, resuming."""
from __future__ import annotations

import os
from pathlib import Path

from vhostguard.monitor.tail import MAX_LINE, Follower, Position


def read_all(follower: Follower, now: float = 0.0) -> list[str]:
    lines: list[str] = []
    while (chunk := follower.read(now)) is not None:
        lines += chunk.lines
    return lines


def write(path: Path, text: str | bytes, mode: str = "a") -> None:
    data = text.encode() if isinstance(text, str) else text
    with open(path, mode + "b") as handle:
        handle.write(data)


def test_reads_complete_lines_only_and_waits_for_the_rest(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write(log, "one\ntwo\nthr")
    follower = Follower(str(log))
    assert read_all(follower) == ["one", "two"]
    write(log, "ee\r\nfour\n")
    assert read_all(follower) == ["three", "four"]  # a CR before the newline is not data


def test_at_end_skips_what_was_there_but_not_what_comes(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write(log, "old\n")
    follower = Follower(str(log), at_end=True)
    assert read_all(follower) == []
    write(log, "new\n")
    assert read_all(follower) == ["new"]


def test_a_file_that_appears_later_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "later.log"
    follower = Follower(str(log), at_end=True)
    assert read_all(follower) == []
    write(log, "first\nsecond\n")
    assert read_all(follower) == ["first", "second"]


def test_rename_rotation_drains_the_old_file_then_reads_the_new_one(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write(log, "a1\n")
    follower = Follower(str(log), drain_grace=5.0)
    assert read_all(follower, 0.0) == ["a1"]
    os.rename(log, tmp_path / "access.log.1")
    write(tmp_path / "access.log.1", "a2\n")  # httpd keeps writing to the renamed file until its graceful restart
    write(log, "b1\n")
    assert read_all(follower, 1.0) == ["a2", "b1"]
    write(tmp_path / "access.log.1", "a3-no-newline")  # the last words before httpd lets go of it
    write(log, "b2\n")
    assert read_all(follower, 2.0) == ["b2"]
    assert read_all(follower, 10.0) == ["a3-no-newline"]  # grace over: the old file ends, last line included
    assert follower.stats.rotations == 1
    assert len(follower.positions()) == 1


def test_rename_without_a_new_file_yet_keeps_reading_the_old_one(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write(log, "a1\n")
    follower = Follower(str(log))
    assert read_all(follower) == ["a1"]
    os.rename(log, tmp_path / "access.log.1")
    write(tmp_path / "access.log.1", "a2\n")
    assert read_all(follower) == ["a2"]
    write(log, "b1\n")
    assert read_all(follower) == ["b1"]


def test_copytruncate_starts_again_from_the_beginning(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write(log, "line-1\nline-2\n")
    follower = Follower(str(log))
    assert read_all(follower) == ["line-1", "line-2"]
    os.truncate(log, 0)  # logrotate copytruncate: the same inode, emptied in place
    assert read_all(follower) == []
    write(log, "line-3\n")
    assert read_all(follower) == ["line-3"]
    assert follower.stats.truncations == 1


def test_truncated_and_rewritten_past_the_offset_between_two_reads(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write(log, "x" * 50 + "\n")
    follower = Follower(str(log))
    assert len(read_all(follower)) == 1
    write(log, "fresh-1\n" + "y" * 80 + "\n", mode="w")  # bigger than before: only the head hash tells
    assert read_all(follower) == ["fresh-1", "y" * 80]


def test_binary_and_overlong_lines_are_dropped_and_counted(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write(log, b"ok-1\n" + b"\x00\xff\xfe" * (MAX_LINE // 2) + b"\nok-2\n\xc3\xa9\xff\n")
    follower = Follower(str(log))
    lines: list[str] = []
    dropped = 0
    while (chunk := follower.read(0.0)) is not None:
        lines += chunk.lines
        dropped += chunk.too_long
    assert lines == ["ok-1", "ok-2", "\u00e9\\xff"]  # invalid UTF-8 becomes \xhh text, as the reader does
    assert dropped == 1


def test_resume_from_a_position_inside_a_chunk(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write(log, "".join(f"l{i}\n" for i in range(10)))
    first = Follower(str(log))
    chunk = first.read(0.0)
    assert chunk is not None and chunk.lines[0] == "l0"
    start = chunk.start
    consumed = Position(start.dev, start.inode, start.offset, start.skip + 4, start.line, start.head, start.head_len)
    first.close()
    again = Follower(str(log), [consumed])
    assert read_all(again) == [f"l{i}" for i in range(4, 10)]


def test_resume_after_a_rotation_while_down_drains_the_rotated_file(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write(log, "a1\na2\n")
    follower = Follower(str(log))
    assert read_all(follower) == ["a1", "a2"]
    saved = follower.positions()
    follower.close()
    write(log, "a3\n")  # written after the checkpoint, before the rotation
    os.rename(log, tmp_path / "access.log.1")
    write(log, "b1\n")
    resumed = Follower(str(log), saved)
    assert read_all(resumed) == ["a3", "b1"]
    assert resumed.notes == []


def test_resume_when_the_rotated_file_is_gone_says_so(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write(log, "a1\n")
    follower = Follower(str(log))
    read_all(follower)
    saved = follower.positions()
    follower.close()
    os.rename(log, tmp_path / "access.log.1")
    write(log, "b1\n")  # created while the old inode still exists: a new inode
    os.remove(tmp_path / "access.log.1")  # e.g. compressed to access.log.1.gz
    resumed = Follower(str(log), saved)
    assert read_all(resumed) == ["b1"]
    assert resumed.stats.lost_rotations == 1 and "gone" in resumed.notes[0]


def test_an_inode_reused_for_a_new_file_is_not_taken_for_the_old_one(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write(log, "a1\n")
    follower = Follower(str(log))
    read_all(follower)
    saved = follower.positions()
    follower.close()
    os.remove(log)
    write(log, "b1\n")  # the filesystem may hand out the same inode number: the head hash tells them apart
    assert read_all(Follower(str(log), saved)) == ["b1"]


def test_resume_after_truncation_while_down_reads_from_the_start(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write(log, "a1\na2\na3\n")
    follower = Follower(str(log))
    read_all(follower)
    saved = follower.positions()
    follower.close()
    write(log, "b1\n", mode="w")
    resumed = Follower(str(log), saved)
    assert read_all(resumed) == ["b1"]
    assert resumed.stats.truncations == 1


def test_backlog_counts_unread_bytes(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write(log, "a\n")
    follower = Follower(str(log))
    read_all(follower)
    write(log, "0123456789\n")
    assert follower.backlog() == 11


def test_copytruncate_while_not_watched_reads_the_rest_from_the_copy(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write(log, "".join(f"line {i}\n" for i in range(10)))
    first = Follower(str(log))
    assert len(read_all(first)) == 10
    saved = first.positions()
    first.close()
    write(log, "".join(f"line {i}\n" for i in range(10, 15)))  # written while the watcher is down
    with open(log, "rb") as source, open(tmp_path / "access.log.1", "wb") as copy:
        copy.write(source.read())  # logrotate copytruncate: copy, then truncate in place
    os.truncate(log, 0)
    write(log, "new 1\n")
    again = Follower(str(log), saved)
    assert read_all(again) == [f"line {i}" for i in range(10, 15)] + ["new 1"]
    assert again.stats.lost_bytes == 0 and again.stats.truncations == 1


def test_copytruncate_without_a_copy_counts_the_bytes_it_had_not_read(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write(log, "a\n")
    follower = Follower(str(log))
    assert read_all(follower) == ["a"]
    write(log, "b" * 99 + "\n")  # 100 bytes the follower sees (its backlog) but has not read
    assert follower.backlog() == 100
    os.truncate(log, 0)
    write(log, "c\n")
    assert read_all(follower) == ["c"]
    assert follower.stats.lost_bytes == 100 and "100 bytes" in follower.notes[-1]


def test_a_chunk_carries_the_bytes_of_its_lines_for_the_scanner(tmp_path: Path) -> None:
    """``Chunk.data``: one newline-ended line of bytes per line of text (CRs as in the file), or None when
    lines were dropped (over-long, or consumed before a restart) and the two would not match."""
    log = tmp_path / "access.log"
    write(log, b"a b\r\n\xc3\xa9\xff\nlast")
    follower = Follower(str(log))
    chunk = follower.read(0.0)
    assert chunk is not None and chunk.lines == ["a b", "\u00e9\\xff"]
    assert chunk.data == b"a b\r\n\xc3\xa9\xff\n"
    assert follower.read(0.0) is None
    follower.close()
    write(log, b"ok\n" + b"x" * (MAX_LINE + 10) + b"\nafter\n")  # "last" ends, an over-long line is dropped
    again = Follower(str(log))
    chunks = []
    while (chunk := again.read(0.0)) is not None:
        chunks.append(chunk)
    texts = [line for c in chunks for line in c.lines]
    assert texts == ["a b", "\u00e9\\xff", "lastok", "after"]
    for c in chunks:
        assert c.data is None or c.data.count(b"\n") == len(c.lines)
    start = chunks[0].start
    resumed = Follower(str(log), [Position(start.dev, start.inode, start.offset, 1, start.line, start.head,
                                           start.head_len)])
    first = resumed.read(0.0)
    assert first is not None and first.lines[0] == "\u00e9\\xff" and first.data is None  # a line skipped

from __future__ import annotations

import pytest

from vhostguard.config.lexer import LogicalLine, logical_lines, next_word, split_words


def lines(text: str) -> list[tuple[int, str]]:
    return [(logical.line, logical.text) for logical in logical_lines(text)]


def test_trims_and_numbers_lines() -> None:
    assert lines("  A b  \n\n\tC\n") == [(1, "A b"), (2, ""), (3, "C")]


def test_continuation_joins_and_takes_last_physical_line() -> None:
    assert lines("ServerAlias a \\\n   b\nX\n") == [(2, "ServerAlias a    b"), (3, "X")]


def test_continuation_with_crlf() -> None:
    assert lines("A \\\r\nB\r\nC") == [(2, "A B"), (3, "C")]


def test_backslash_followed_by_space_does_not_continue() -> None:
    assert lines("A \\ \nB\n") == [(1, "A \\"), (2, "B")]


def test_comment_line_continues_too() -> None:
    # httpd joins before it looks for '#', so a comment can swallow a line
    assert lines("# note \\\nListen 80\nListen 81\n") == [(2, "# note Listen 80"), (3, "Listen 81")]


def test_last_line_without_newline() -> None:
    assert lines("A\nB") == [(1, "A"), (2, "B")]


def test_continuation_at_end_of_file() -> None:
    assert lines("A \\\n") == [(2, "A")]  # httpd counts the EOF read


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a b   c", ["a", "b", "c"]),
        ('"a b" c', ["a b", "c"]),
        ("'a b' c", ["a b", "c"]),
        (r'"say \"hi\"" x', ['say "hi"', "x"]),
        (r"'it\'s'", ["it's"]),
        (r'"back\\slash"', ["back\\slash"]),
        (r'"keep\n"', [r"keep\n"]),
        (r"a\\b", ["a\\b"]),
        (r"a\b", [r"a\b"]),
        ('"" x', ["", "x"]),
        ('"unterminated rest', ["unterminated rest"]),
        ("a#b #c", ["a#b", "#c"]),
        ('pre"fix" x', ['pre"fix"', "x"]),
        ("", []),
        ("   ", []),
    ],
)
def test_split_words_like_ap_getword_conf(text: str, words: list[str]) -> None:
    assert split_words(text) == words


def test_next_word_returns_position_after_spaces() -> None:
    word, pos = next_word("<VirtualHost   *:80>")
    assert word == "<VirtualHost"
    assert pos == len("<VirtualHost   ")


def test_logical_line_is_plain_data() -> None:
    assert LogicalLine(3, "x") == LogicalLine(3, "x")

"""A seeded mutation fuzzer over Debian's stock /etc/apache2 (issue 17, item 7).

Each case copies the stock tree, mutates one to three of its files (truncation,
duplicated or dropped lines, random bytes, control characters, deep nesting,
huge lines, broken includes, a BOM, envvars shell), then runs ``vhosts`` and
``lint`` through the CLI in-process. Whatever the input, the commands must
answer within a time limit, exit 0, 1 or 2, never with a traceback, and print
each problem on one line.

CI runs 32 cases (a few seconds); for a long run set VHOSTGUARD_FUZZ_CASES (and
VHOSTGUARD_FUZZ_SEED to start elsewhere).
"""
from __future__ import annotations

import os
import random
import shutil
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from vhostguard.cli import main as cli_main

STOCK = Path("/etc/apache2")
CASES = int(os.environ.get("VHOSTGUARD_FUZZ_CASES", "32"))
FIRST_SEED = int(os.environ.get("VHOSTGUARD_FUZZ_SEED", "1717"))
TIME_LIMIT = 20  # seconds per command; the stock tree loads in well under one
COMMANDS = (("vhosts",), ("vhosts", "--json"), ("lint",))
CONTROL = "".join(chr(c) for c in range(32) if chr(c) not in "\t\n") + "\x7f"


class _Hung(BaseException):
    """Raised by the alarm in the command under test (a BaseException: nothing may catch it)."""


@contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    def _alarm(_signum: int, _frame: object) -> None:
        raise _Hung()

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# -- mutations: each takes (rng, lines, tree) and returns the new lines -----------

Lines = list[bytes]
Mutation = Callable[[random.Random, Lines, Path], Lines]


def _at(rng: random.Random, lines: Lines) -> int:
    return rng.randrange(len(lines) + 1)


def truncate(rng: random.Random, lines: Lines, _tree: Path) -> Lines:
    data = b"".join(lines)
    return _split(data[: rng.randrange(len(data) + 1)])


def duplicate_line(rng: random.Random, lines: Lines, _tree: Path) -> Lines:
    if not lines:
        return lines
    index = rng.randrange(len(lines))
    return lines[: index + 1] + [lines[index]] * rng.randint(1, 3) + lines[index + 1 :]


def drop_lines(rng: random.Random, lines: Lines, _tree: Path) -> Lines:
    if not lines:
        return lines
    index = rng.randrange(len(lines))
    return lines[:index] + lines[index + rng.randint(1, 5) :]


def swap_lines(rng: random.Random, lines: Lines, _tree: Path) -> Lines:
    if len(lines) < 2:
        return lines
    a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines = list(lines)
    lines[a], lines[b] = lines[b], lines[a]
    return lines


def random_bytes(rng: random.Random, lines: Lines, _tree: Path) -> Lines:
    data = bytearray(b"".join(lines))
    for _ in range(rng.randint(1, 20)):
        position = rng.randrange(len(data) + 1)
        data[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return _split(bytes(data))


def flip_bytes(rng: random.Random, lines: Lines, _tree: Path) -> Lines:
    data = bytearray(b"".join(lines))
    for _ in range(rng.randint(1, 30)):
        if data:
            data[rng.randrange(len(data))] = rng.choice(b"<>/\\\"'${}*?[]# \t\n\r\x00\x1b")
    return _split(bytes(data))


def control_chars(rng: random.Random, lines: Lines, _tree: Path) -> Lines:
    if not lines:
        return [rng.choice(CONTROL).encode() + b"\n"]
    index = rng.randrange(len(lines))
    line = lines[index]
    cut = rng.randrange(len(line) + 1)
    junk = "".join(rng.choice(CONTROL) for _ in range(rng.randint(1, 6))).encode()
    return lines[:index] + [line[:cut] + junk + line[cut:]] + lines[index + 1 :]


def deep_nesting(rng: random.Random, lines: Lines, _tree: Path) -> Lines:
    depth = rng.choice((200, 1000, 3000))
    section = rng.choice((b"IfModule !mod_none.c", b"IfDefine !NOPE", b"Location /x", b"VirtualHost *:80", b"Directory /"))
    name = section.split()[0]
    closed = rng.random() < 0.8
    block = [b"<" + section + b">\n"] * depth + [b"ServerAlias deep.example\n"]
    block += [b"</" + name + b">\n"] * (depth if closed else rng.randrange(depth))
    index = _at(rng, lines)
    return lines[:index] + block + lines[index:]


def huge_line(rng: random.Random, lines: Lines, _tree: Path) -> Lines:
    size = rng.choice((70_000, 1_000_000, 4_000_000))
    line = rng.choice((b"ServerAlias ", b"# ", b"Define BIG ", b"RewriteRule ^/", b"<Location /")) + b"a" * size + b"\n"
    index = _at(rng, lines)
    return lines[:index] + [line] + lines[index:]


def broken_include(rng: random.Random, lines: Lines, tree: Path) -> Lines:
    loop_dir = tree / "loop"
    if not loop_dir.exists():
        loop_dir.mkdir()
        (loop_dir / "x.conf").write_text("ServerAlias loop.example\n")
        os.symlink(".", loop_dir / "s1")
        os.symlink(".", loop_dir / "s2")
    choice = rng.choice((
        b"Include /nonexistent/file.conf",
        b"Include nonexistent/*.conf",
        b"IncludeOptional nonexistent/*/*.conf",
        b"Include /dev/zero",
        b"Include /dev/null",
        b"Include apache2.conf",
        b"Include " + os.fsencode(loop_dir),
        b"IncludeOptional " + os.fsencode(loop_dir) + b"/*/*/*/*/*/*/*.conf",
        b"Include " + os.fsencode(tree),
        b"Include",
        b"Include a b",
        b"Include ${UNDEFINED_VAR}/x.conf",
        b"Include [",
    ))
    index = _at(rng, lines)
    return lines[:index] + [choice + b"\n"] + lines[index:]


def directive_noise(rng: random.Random, lines: Lines, _tree: Path) -> Lines:
    choice = rng.choice((
        b"<VirtualHost", b"</VirtualHost>", b"<IfModule>", b"<IfVersion >= x.y>", b"<IfVersion ~ (>",
        b"Define A ${A}${A}", b"Define", b"UnDefine", b"ServerRoot", b"ServerRoot /nonexistent",
        b"LoadModule", b"LoadModule macro_module mod_macro.so", b"<Macro M $a>", b"</Macro>", b"Use M",
        b"Use M x y", b"UndefMacro", b"Listen", b"Listen [::1", b"Listen 99999999999", b"Listen :",
        b"<VirtualHost [::1>", b"<VirtualHost *:abc>", b"ServerName", b"ServerAlias \"unterminated",
        b"Listen 80 \\", b"\\", b"\"", b"'", b"<", b">", b"</>", b"<>", b"${", b"$", b"<If \"%{X} ==\">",
    ))
    index = _at(rng, lines)
    return lines[:index] + [choice + b"\n"] + lines[index:]


def bom(rng: random.Random, lines: Lines, _tree: Path) -> Lines:
    return [b"\xef\xbb\xbf" + (lines[0] if lines else b"\n")] + lines[1:]


def shell_noise(rng: random.Random, lines: Lines, _tree: Path) -> Lines:
    choice = rng.choice((
        b"if [ x = x ]; then", b"fi", b"else", b"export", b"export A", b"export A=$(id)", b"unset",
        b"A=${B:-${C:-d}}", b"A=${B##", b"A='", b"A=\"", b". /etc/passwd", b". envvars", b"[ ]", b"[ a = ]",
        b"echo hi", b"export A=${#}", b"A=1 B=2 C", b"export A=~", b";", b";;", b"export A=\\",
    ))
    index = _at(rng, lines)
    return lines[:index] + [choice + b"\n"] + lines[index:]


MUTATIONS: tuple[Mutation, ...] = (
    truncate, duplicate_line, drop_lines, swap_lines, random_bytes, flip_bytes, control_chars,
    deep_nesting, huge_line, broken_include, directive_noise, bom,
)


def _split(data: bytes) -> Lines:
    return data.splitlines(keepends=True)


def _config_files(tree: Path) -> list[Path]:
    files = [tree / "apache2.conf", tree / "ports.conf", tree / "envvars"]
    for folder in ("sites-enabled", "conf-enabled", "mods-enabled"):
        files.extend(sorted((tree / folder).iterdir()))
    return [f for f in files if f.is_file()]


def mutate(tree: Path, rng: random.Random) -> list[str]:
    """Mutate one to three files of ``tree``; what was done, for the failure message."""
    done: list[str] = []
    files = _config_files(tree)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(files)
        if path.is_symlink():  # mutate a copy, not the shared sites-available/mods-available file
            data = path.read_bytes()
            path.unlink()
            path.write_bytes(data)
        mutation = shell_noise if path.name == "envvars" and rng.random() < 0.7 else rng.choice(MUTATIONS)
        path.write_bytes(b"".join(mutation(rng, _split(path.read_bytes()), tree)))
        done.append(f"{mutation.__name__}({path.relative_to(tree)})")
    return done


def _check_output(stderr: str) -> None:
    for line in stderr.splitlines():
        assert not line.startswith("Traceback"), stderr
        # One line per problem: what the config contains never brings its own line breaks or escapes.
        assert not any(char in CONTROL for char in line), f"control character in output line: {line!r}"


def _run_case(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    tree = tmp_path / f"case{seed}" / "apache2"
    shutil.copytree(STOCK, tree, symlinks=True)
    done = mutate(tree, rng)
    for command in COMMANDS:
        args = [*command, "-f", str(tree / "apache2.conf")]
        try:
            with _time_limit(TIME_LIMIT):
                result = CliRunner().invoke(cli_main, args)
        except _Hung:
            pytest.fail(f"seed {seed} {done}: {' '.join(command)} ran longer than {TIME_LIMIT} s")
        context = f"seed {seed} {done}: {' '.join(command)} exited {result.exit_code}"
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            import traceback

            trace = "".join(traceback.format_exception(*result.exc_info))  # type: ignore[misc]
            pytest.fail(f"{context} with a traceback:\n{trace[-3000:]}")
        assert result.exit_code in (0, 1, 2), f"{context}\n{result.stderr[-2000:]}"
        try:
            _check_output(result.stderr)
        except AssertionError as problem:
            pytest.fail(f"{context}: {problem}")
        if result.exit_code == 2:
            assert result.stderr.strip(), f"{context} without saying why"
    shutil.rmtree(tree.parent)


@pytest.mark.skipif(not (STOCK / "apache2.conf").is_file(), reason="Debian's apache2 is not installed")
@pytest.mark.parametrize("seed", range(FIRST_SEED, FIRST_SEED + CASES))
def test_mutated_stock_tree(seed: int, tmp_path: Path) -> None:
    _run_case(seed, tmp_path)

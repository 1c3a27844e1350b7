"""Our verdict on a config against ``apache2 -t``'s, on real fragments and on
variants made from them with the directive table.

The fragments: Debian's /etc/apache2 tree (conf-, mods-, sites-available), the
examples/ and the test configs. Each is read inside a wrapper that loads every
module Debian ships; apache2 must accept the original (a fragment it refuses,
e.g. for a certificate missing here, is left out: the value checks of handlers
are not ours). Then each variant breaks one thing the table knows (a misspelled
name, a missing argument, a FLAG given ``maybe``, a server-only directive in
``<Directory>``, a global one in ``<VirtualHost>``, no MPM) or adds one that
apache2 accepts (text after a closing tag). Both must give the same verdict,
and a refusal the same line and words.
"""
from __future__ import annotations

import re
import subprocess
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from tests.support.apache import APACHE2, CLEAN_ENV
from vhostguard.config import LoadOptions, load
from vhostguard.config.syntax import NOT_IN_VIRTUALHOST, RSRC_CONF, syntax_table

ROOT = Path(__file__).resolve().parents[2]
MODS_AVAILABLE = Path("/etc/apache2/mods-available")
_ERROR = re.compile(r"AH00526: Syntax error on line (\d+) of ([^\n]*):\n(.*)", re.DOTALL)
_BUILD_ERROR = re.compile(r"Syntax error on line (\d+) of ([^\n:]*): (.*)", re.DOTALL)
VARIANTS_PER_FRAGMENT = 3  # besides the original, taken in turn: about 400 apache2 runs in all
COUNTED = {"TAKE1", "TAKE2", "TAKE12", "TAKE3", "TAKE23", "TAKE123", "TAKE13", "ITERATE", "ITERATE2"}


def _fragments() -> list[Path]:
    debian = sorted(p for d in ("conf-available", "mods-available", "sites-available")
                    for p in (Path("/etc/apache2") / d).glob("*.conf"))
    ours = sorted(p for base in ("examples", "tests") for p in (ROOT / base).rglob("*.conf"))
    return [*debian, *ours]


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


@cache
def _module_lines() -> tuple[str, ...]:
    """LoadModule lines for every module Debian ships here, dependencies first, mpm_event the MPM."""
    loads: dict[str, tuple[str, list[str]]] = {}
    for path in sorted(MODS_AVAILABLE.glob("*.load")):
        text = path.read_text()
        match = re.search(r"^\s*LoadModule\s+(\S+)\s+(\S+)", text, re.MULTILINE)
        if match and Path(match[2]).is_file():
            depends = [d for line in re.findall(r"^#\s*Depends:(.*)$", text, re.MULTILINE) for d in line.split()]
            loads[path.stem] = (match[0].strip(), depends)
    order: list[str] = []

    def visit(name: str) -> None:
        for dep in loads[name][1]:
            visit(dep)
        if name not in order:
            order.append(name)
    for name in ["mpm_event", *sorted(loads)]:
        if not name.startswith("mpm_") or name == "mpm_event":
            visit(name)
    return tuple(loads[name][0] for name in order)


@dataclass(frozen=True)
class Variant:
    name: str
    text: str  # the whole config


def _head(tmp: Path, mpm: bool = True) -> list[str]:
    modules = [line for line in _module_lines() if mpm or "mpm_" not in line]
    return [f"ServerRoot {tmp}", f"PidFile {tmp}/httpd.pid", f"ErrorLog {tmp}/error.log",
            f"DefaultRuntimeDir {tmp}", f"Define WORK {tmp}", f"Define CERTDIR {tmp}", f"Define FIXTURE {tmp}",
            "ServerName vg.test", *modules]


def _directive_lines(lines: list[str]) -> Iterator[tuple[int, str, str]]:
    """(index, name, rest) of one-line directives outside any section opener we would move."""
    for index, line in enumerate(lines):
        if line.rstrip().endswith("\\") or (index and lines[index - 1].rstrip().endswith("\\")):
            continue
        words = line.split(None, 1)
        if not words or words[0].startswith(("#", "<")):
            continue
        yield index, words[0], words[1] if len(words) > 1 else ""


def _variants(tmp: Path, fragment: str) -> Iterator[Variant]:
    head = _head(tmp)
    lines = fragment.splitlines()

    def config(body: list[str], extra: str = "", mpm: bool = True) -> str:
        return "\n".join([*(head if mpm else _head(tmp, mpm=False)), *body, extra]) + "\n"

    yield Variant("original", config(lines))
    table = syntax_table()
    known = [(i, name, rest, table[name.lower()]) for i, name, rest in _directive_lines(lines) if name.lower() in table]
    if known:
        i, name, rest, _ = known[0]
        yield Variant("misspelled", config([*lines[:i], f"{name}{name[-1]} {rest}", *lines[i + 1:]]))
    for i, name, _rest, spec in known:
        if spec.kind in COUNTED:
            yield Variant("no-arguments", config([*lines[:i], name, *lines[i + 1:]]))
            break
    for i, name, _rest, spec in known:
        if spec.kind == "FLAG":
            yield Variant("flag-maybe", config([*lines[:i], f"{name} maybe", *lines[i + 1:]]))
            break
    server_only = next(((name, rest) for _i, name, rest, spec in known if spec.override == RSRC_CONF), ("ServerAdmin", "a@b.example"))
    yield Variant("server-only-in-directory", config(lines, f"<Directory /vg-x>\n{server_only[0]} {server_only[1]}\n</Directory>"))
    global_only = next(((name, rest) for _i, name, rest, spec in known if spec.forbidden & NOT_IN_VIRTUALHOST), ("Listen", "8080"))
    yield Variant("global-in-vhost", config(lines, f"<VirtualHost *:80>\n{global_only[0]} {global_only[1]}\n</VirtualHost>"))
    yield Variant("text-after-close", config(lines, "<IfModule mod_so.c>\n<VirtualHost *:80>\n</VirtualHost> </IfModule>"))
    yield Variant("no-mpm", config(lines, mpm=False))


def _env(tmp: Path) -> dict[str, str]:
    return {**CLEAN_ENV, "APACHE_RUN_USER": "www-data", "APACHE_RUN_GROUP": "www-data", "APACHE_RUN_DIR": str(tmp),
            "APACHE_PID_FILE": f"{tmp}/httpd.pid", "APACHE_LOCK_DIR": str(tmp), "APACHE_LOG_DIR": str(tmp)}


Verdict = tuple[int, str] | None  # None: accepted; else (line, message)


def ours(path: Path, tmp: Path) -> Verdict:
    tree = load(str(path), LoadOptions(env_file="", environ=_env(tmp), server_root=str(tmp)))
    if not tree.errors:
        return None
    error = tree.errors[0]
    return (error.source.line if error.source else 0), error.message


def theirs(path: Path, tmp: Path) -> Verdict:
    assert APACHE2 is not None
    done = subprocess.run([APACHE2, "-t", "-f", str(path)], capture_output=True, text=True, env=_env(tmp),
                          timeout=60, check=False)
    if done.returncode == 0:
        return None
    match = _ERROR.search(done.stderr) or _BUILD_ERROR.search(done.stderr)
    if match is None:
        return 0, done.stderr.strip()
    return (int(match[1]) if match[2] == str(path) else 0), match[3].strip()


def agree(mine: Verdict, real: Verdict) -> bool:
    """Same verdict; for a refusal of the main file, the same line and httpd's words first."""
    if mine is None or real is None:
        return mine is real
    if real[0] == 0:  # reported elsewhere (an included file) or without a line: the verdict is enough
        return True
    # Our message may add a hint after httpd's words, and a build-phase error names the file again.
    return mine[0] == real[0] and (mine[1].startswith(real[1]) or real[1].endswith(mine[1].split(" (")[0]))


def judge(fragment: Path, work: Path) -> list[tuple[str, Verdict, Verdict]]:
    """(variant, ours, apache2's) for each variant of a fragment apache2 accepts; [] when it refuses it."""
    variants = list(_variants(work, fragment.read_text(errors="replace")))
    turn = zlib.crc32(_name(fragment).encode()) % max(1, len(variants) - 1)
    variants = [variants[0], *(variants[1:][turn:] + variants[1:][:turn])[:VARIANTS_PER_FRAGMENT]]

    def run(index: int) -> tuple[str, Verdict, Verdict]:
        variant = variants[index]
        tmp = work / f"v{index}"
        for sub in ("logs", "htdocs", "run", "www"):  # what the test configs log to and serve
            (tmp / sub).mkdir(parents=True)
        path = tmp / "httpd.conf"
        path.write_text(variant.text.replace(str(work), str(tmp)))
        return variant.name, ours(path, tmp), theirs(path, tmp)

    first = run(0)
    if first[2] is not None:
        return [first]  # apache2 refuses the fragment as it is: only the verdict is compared
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = [first, *pool.map(run, range(1, len(variants)))]
    return results


@pytest.mark.httpd
@pytest.mark.skipif(APACHE2 is None, reason="apache2 is not installed")
@pytest.mark.parametrize("fragment", _fragments(), ids=_name)
def test_our_verdict_is_apache2s(tmp_path: Path, fragment: Path) -> None:
    results = judge(fragment, tmp_path)
    if results[0][2] is not None:
        pytest.skip(f"apache2 refuses the fragment itself: {results[0][2]}")
    problems = [f"{name}: ours {mine}, apache2 {real}" for name, mine, real in results if not agree(mine, real)]
    assert problems == []

"""The directive table (data/directives.json, generated from httpd's sources by
tools/gen_directive_syntax.py) put to the installed apache2: for every directive
of every module Debian ships, a wrong argument count, a context its mask refuses,
and each context check its handler makes, one ``apache2 -t`` run each; the
message apache2 prints must be the one the loader gives."""
from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from tests.support.apache import APACHE2, CLEAN_ENV
from vhostguard.config import LoadOptions, load
from vhostguard.config.syntax import (
    ACCESS_CONF, OR_ALL, PROXY_CONF, RSRC_CONF, DirectiveSyntax, syntax_table,
)

MODS_AVAILABLE = Path("/etc/apache2/mods-available")
SERVER_GRANTS = RSRC_CONF | (OR_ALL & ~(1 | 8))  # config.c: (RSRC_CONF|OR_ALL) & ~(OR_AUTHCFG|OR_LIMIT)
COUNT_CHECKED = {"TAKE1", "TAKE2", "TAKE12", "TAKE3", "TAKE23", "TAKE123", "TAKE13", "ITERATE", "ITERATE2", "FLAG", "NO_ARGS"}
FITTING = {"TAKE2": "x x", "TAKE3": "x x x", "TAKE23": "x x", "ITERATE2": "x x", "FLAG": "Off", "NO_ARGS": ""}
SECTIONS = {  # name: (opening lines, closing lines)
    "Directory": ("<Directory />", "</Directory>"), "Location": ("<Location />", "</Location>"),
    "Files": ("<Files x>", "</Files>"), "Proxy": ("<Proxy *>", "</Proxy>"),
    "VirtualHost": ("<VirtualHost *:80>", "</VirtualHost>"), "Limit": ("<Directory />\n<Limit GET>", "</Limit>\n</Directory>"),
}
_ERROR = re.compile(r"AH00526: Syntax error on line (\d+) of [^\n]*:\n(.*)", re.DOTALL)


@dataclass(frozen=True)
class Case:
    directive: str
    line: str  # the directive line as written
    section: str | None  # where it is put (SECTIONS key), None: server level


@cache
def _loads() -> dict[str, tuple[str, list[str]]]:
    """LoadModule identifier -> (its load line, the Debian modules it depends on)."""
    found: dict[str, tuple[str, list[str]]] = {}
    for path in sorted(MODS_AVAILABLE.glob("*.load")):
        text = path.read_text()
        match = re.search(r"^\s*LoadModule\s+(\S+)\s+(\S+)", text, re.MULTILINE)
        if match and Path(match[2]).is_file():
            depends = [d for line in re.findall(r"^#\s*Depends:(.*)$", text, re.MULTILINE) for d in line.split()]
            found[path.stem] = (match[0].strip(), depends)
    return found


def _load_lines(module_source: str) -> list[str] | None:
    """The LoadModule lines (an MPM, dependencies first) for the module built from ``module_source``."""
    from vhostguard.config import catalog

    info = catalog().by_source.get(module_source)
    if info is None:
        return None
    if info.name in ("core_module", "so_module", "http_module", "log_config_module", "logio_module",
                     "version_module", "unixd_module", "watchdog_module"):
        stem = None
    else:
        stem = next((s for s, (line, _) in _loads().items() if line.split()[1] == info.name), None)
        if stem is None:
            return None
    order: list[str] = []

    def visit(name: str) -> None:
        for dep in _loads()[name][1]:
            visit(dep)
        if name not in order:
            order.append(name)
    if stem is not None:
        visit(stem)
    if "proxy" not in order:
        visit("proxy")  # for <Proxy>
    if not any(name.startswith("mpm_") for name in order):
        order.insert(0, "mpm_event")
    return [_loads()[name][0] for name in order]


def _cases(spec: DirectiveSyntax) -> Iterator[Case]:
    if spec.name.startswith("<") or spec.override & 256:  # sections, EXEC_ON_READ: the loader's own
        return
    server = bool(spec.override & SERVER_GRANTS)
    home = None if server else "Proxy" if spec.override & PROXY_CONF and not spec.override & (ACCESS_CONF | OR_ALL) else "Directory"
    if spec.kind in COUNT_CHECKED:
        yield Case(spec.name, f"{spec.name} x" if spec.kind == "NO_ARGS" else spec.name, home)  # accepted
        if spec.kind == "FLAG":
            yield Case(spec.name, f"{spec.name} maybe", home)
    fitting = f"{spec.name} {FITTING.get(spec.kind, 'x')}".strip()
    # A context the mask refuses: server level for a per-directory one, <Directory> for a server one.
    yield Case(spec.name, fitting, "Directory" if server else None)
    # Each context check of its handler where the mask lets it get that far.
    for flag, section in ((1, "VirtualHost"), (2, "Limit"), (8, "Location"), (16, "Files"), (64, "Proxy")):
        if spec.forbidden & flag and (section == "VirtualHost") == server:
            yield Case(spec.name, fitting, section)


def _config(root: Path, loads: list[str], case: Case) -> tuple[str, int]:
    head = [f"ServerRoot {root}", f"PidFile {root}/httpd.pid", f"ErrorLog {root}/error.log",
            f"DefaultRuntimeDir {root}", "ServerName x", *loads]
    opening, closing = SECTIONS[case.section] if case.section else ("", "")
    lines = [*head, *opening.splitlines(), case.line, *closing.splitlines()]
    return "\n".join(lines) + "\n", len(head) + len(opening.splitlines()) + 1


def _ours(path: Path) -> tuple[int, str] | None:
    tree = load(str(path), LoadOptions(env_file="", environ={}))
    if not tree.errors:
        return None
    error = tree.errors[0]
    return (error.source.line if error.source else 0), error.message


def _theirs(path: Path) -> tuple[int, str] | None:
    assert APACHE2 is not None
    done = subprocess.run([APACHE2, "-t", "-f", str(path)], capture_output=True, text=True, env=CLEAN_ENV,
                          timeout=60, check=False)
    if done.returncode == 0:
        return None
    match = _ERROR.search(done.stderr)
    return (int(match[1]), match[2].rstrip("\n")) if match else (0, done.stderr.strip())


def _by_module() -> dict[str, list[DirectiveSyntax]]:
    grouped: dict[str, list[DirectiveSyntax]] = {}
    for spec in syntax_table().values():
        grouped.setdefault(spec.modules[0], []).append(spec)
    return dict(sorted(grouped.items()))


@pytest.mark.httpd
@pytest.mark.skipif(APACHE2 is None, reason="apache2 is not installed")
@pytest.mark.parametrize("module", list(_by_module()))
def test_the_table_is_what_the_installed_apache2_says(tmp_path: Path, module: str) -> None:
    loads = _load_lines(module)
    if loads is None:
        pytest.skip(f"{module} is not installed as a Debian module here")
    cases = [case for spec in _by_module()[module] for case in _cases(spec)]

    def judge(index: int) -> str | None:
        case = cases[index]
        root = tmp_path / str(index)
        root.mkdir()
        text, line = _config(root, loads, case)
        path = root / "httpd.conf"
        path.write_text(text)
        ours, theirs = _ours(path), _theirs(path)
        if theirs is not None and "Cannot load " in theirs[1]:
            return None  # a Debian module whose .load lacks a dependency (mod_dav_lock): not the table's concern
        if ours is not None and theirs is not None and len(_spec(case).modules) > 1:
            # Several modules define it (HeartbeatStorage): httpd uses the help text of the one it finds first.
            ours, theirs = (ours[0], ours[1].split(", ")[0]), (theirs[0], theirs[1].split(", ")[0])
        if ours is not None and ours[1].startswith("Invalid command") and theirs is None:
            return f"{case}: we do not know it, apache2 does"
        if ours is not None and (ours[0] != line or ours[1].startswith("Invalid command")):
            return None if ours == theirs or theirs is not None else f"{case}: ours {ours}, apache2 accepts"
        if ours is None:
            # A refusal we do not model (the handler judging its argument's value) is not the table's
            # concern; a refusal in the table's own words is.
            if theirs is not None and theirs[0] == line and _table_words(theirs[1], case.directive):
                return f"{case}: apache2 says {theirs[1]!r}, we accept"
            return None
        if theirs != (line, ours[1]):
            return f"{case}: ours {ours[1]!r}, apache2 {theirs}"
        return None

    with ThreadPoolExecutor(max_workers=4) as pool:
        problems = [p for p in pool.map(judge, range(len(cases))) if p is not None]
    assert problems == []


def _spec(case: Case) -> DirectiveSyntax:
    return syntax_table()[case.directive.lower()]


def _table_words(message: str, directive: str) -> bool:
    """Is this one of the refusals the table decides (mask, count, FLAG, context check)?"""
    return message.startswith(directive) and any(
        words in message for words in (" not allowed ", " takes ", " requires at least ", " must be On or Off",
                                        " cannot occur within "))

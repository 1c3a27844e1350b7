"""Lint's shortcuts for large configurations (issue 17.15) against the plain
computations they replace, on generated configurations: the context's single
tree walk (names, parents, owners), waivers looked up per finding, VG108
skipping servers that cannot shadow anything, and VG205 resolving a log
directory from the text before the file name."""
from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vhostguard.config import ConfigTree, LoadOptions, load
from vhostguard.config.nodes import Directive
from vhostguard.lint import run
from vhostguard.lint.context import LintContext
from vhostguard.lint.rules.files._common import path_problem
from vhostguard.lint.rules.routing.vg108_proxypass_shadowed import ProxyPassShadowed
from vhostguard.lint.waivers import waived_along, waiver_index
from vhostguard.model import ServerModel, build_model

Write = Callable[..., Path]

PATHS = ("/", "/api/", "/api/v2/", "/app", "/app/x/", "/static/")
BACKENDS = ("http://127.0.0.1:5000/", "http://127.0.0.1:5001/api/", "http://b/app")
LOG_TARGETS = ("logs/a.log", "logs/", "logs/sub/..", "nowhere/..", "nowhere/.", "nowhere/", "missing/x.log", "a.log", "logs//b.log", "{root}/logs/c.log", "{root}/nowhere/d.log", "|/bin/cat")


def _proxy_lines(rng: random.Random, indent: str) -> list[str]:
    lines = []
    for _ in range(rng.randrange(3)):
        lines.append(f"{indent}ProxyPass {rng.choice(PATHS)} {rng.choice(BACKENDS)}")
        if rng.random() < 0.5:
            lines.append(f"{indent}ProxyPassReverse {rng.choice(PATHS)} {rng.choice(BACKENDS)}")
    for _ in range(rng.randrange(2) if rng.random() < 0.5 else 0):
        lines.append(f"{indent}# vhostguard: ignore=VG110" if rng.random() < 0.3 else f"{indent}# a comment")
        lines.append(f"{indent}<Location {rng.choice(PATHS)}>")
        for _ in range(rng.randrange(3)):
            lines.append(f"{indent}    ProxyPass {rng.choice(BACKENDS)}")
        if rng.random() < 0.5:
            lines.append(f"{indent}    ProxyPassReverse {rng.choice(BACKENDS)}")
        lines.append(f"{indent}    Require all granted")
        lines.append(f"{indent}</Location>")
    if rng.random() < 0.3:
        lines.append(f"{indent}Alias {rng.choice(PATHS)} /srv/static/")
    return lines


def generated_config(rng: random.Random, root: Path, vhosts: int) -> str:
    (root / "logs" / "sub").mkdir(parents=True, exist_ok=True)
    lines = [f'ServerRoot "{root}"', "ServerName main.test", "Listen 80", "Listen 8080",
             f"ErrorLog {rng.choice(LOG_TARGETS).format(root=root)}"]
    if rng.random() < 0.4:
        lines += _proxy_lines(rng, "")
    for index in range(vhosts):
        if rng.random() < 0.2:
            lines.append("# vhostguard: ignore=VG108,VG205")
        lines.append(f"<VirtualHost {rng.choice(('*:80', '*:8080', '127.0.0.1:80'))}>")
        lines.append(f"    ServerName v{index % 7}.test")
        lines.append(f"    CustomLog {rng.choice(LOG_TARGETS).format(root=root)} combined")
        lines += _proxy_lines(rng, "    ")
        if rng.random() < 0.3:
            lines += ["    <Directory /srv/>", "        <Files x>", "            Require all denied", "        </Files>", "    </Directory>"]
        lines.append("</VirtualHost>")
    return "\n".join(lines) + "\n"


def _loaded(write: Write, name: str, rng: random.Random) -> tuple[ServerModel, ConfigTree]:
    conf = write(f"{name}/apache2.conf")
    conf.write_text(generated_config(rng, conf.parent, rng.randrange(1, 25)))
    tree = load(str(conf), LoadOptions(env_file=""))
    assert tree.errors == ()
    return build_model(tree), tree


# -- the references: what the context and the rules computed before the shortcuts --


def _walk_with_parents(tree: ConfigTree) -> Iterator[tuple[Directive, Directive | None]]:
    stack: list[tuple[Directive, Directive | None]] = [(node, None) for node in reversed(tree.nodes)]
    while stack:
        node, parent = stack.pop()
        yield node, parent
        stack.extend((child, node) for child in reversed(node.children or ()))


def _reference_owners(model: ServerModel, tree: ConfigTree) -> dict[int, int]:
    """id(node) -> id(owning vhost): every node inside the top-level section a Server was built from."""
    owners: dict[int, int] = {}
    for server in model.vhosts:
        section = next(n for n in tree.nodes if n.children is server.directives and n.source is server.source)
        for node, _ in _walk_with_parents(ConfigTree(main_file=tree.main_file, server_root=tree.server_root, nodes=(section,))):
            if node is not section:
                owners[id(node)] = id(server)
    return owners


def _reference_vg108(ctx: LintContext) -> set[tuple[int, str]]:
    """VG108 asking every server, with routing's sections for each (no skipping)."""
    rule = ProxyPassShadowed()
    ctx.remember("location-proxy-holders", lambda: frozenset(id(server) for server in ctx.servers))
    found: set[tuple[int, str]] = set()
    in_every_server: dict[int, tuple[int, str]] | None = None
    for server in ctx.servers:
        main_owned = {}
        for node, finding in rule._shadowed(server, ctx):
            if ctx.owner(node).is_main:
                main_owned[id(node)] = (finding.line, finding.message)
            else:
                found.add((finding.line, finding.message))
        in_every_server = main_owned if in_every_server is None else {k: v for k, v in in_every_server.items() if k in main_owned}
    return found | set((in_every_server or {}).values())


@pytest.mark.parametrize("seed", range(30))
def test_context_index_equals_plain_walks(write: Write, seed: int) -> None:
    model, tree = _loaded(write, f"c{seed}", random.Random(seed))
    ctx = LintContext(model, tree)
    walked = list(_walk_with_parents(tree))
    owners = _reference_owners(model, tree)
    for node, parent in walked:
        assert ctx.parent(node) is parent
        assert id(ctx.owner(node)) == owners.get(id(node), id(model.main))
        assert ctx.in_tree(node)
    keys = sorted({node.key for node, _ in walked})
    for first, second in zip(keys, keys[1:] + keys[:1], strict=True):
        assert ctx.nodes_named(first, second) == [n for n, _ in walked if n.key in (first, second)]
        assert ctx.nodes_named(first) == [n for n, _ in walked if n.key == first]
    waivers = waiver_index(tree)
    for node, _ in walked:
        assert waived_along(ctx.ancestry(node)) == waivers.get(id(node), frozenset())


@pytest.mark.parametrize("seed", range(30))
def test_vg108_skipping_servers_finds_the_same(write: Write, seed: int) -> None:
    model, tree = _loaded(write, f"p{seed}", random.Random(1000 + seed))
    got = {(f.line, f.message) for f in ProxyPassShadowed().check(LintContext(model, tree))}
    assert got == _reference_vg108(LintContext(model, tree))


@pytest.mark.parametrize("seed", range(10))
def test_vg205_log_directories_as_before(write: Write, seed: int) -> None:
    model, tree = _loaded(write, f"l{seed}", random.Random(2000 + seed))
    ctx = LintContext(model, tree)
    expected = set()
    for node in ctx.nodes_named("errorlog", "customlog"):
        target = node.args[0]
        if target.startswith("|"):
            continue
        directory = os.path.dirname(ctx.path(target))
        if path_problem(directory, directory=True):
            expected.add((node.source.line, directory))
    findings = run(model, tree, select=["VG205"])
    got = {(f.line, f.message.split(" directory ", 1)[1].split(" ", 1)[0]) for f in findings}
    waived = {node.source.line for node in ctx.nodes_named("errorlog", "customlog") if "VG205" in waived_along(ctx.ancestry(node))}
    assert got == {item for item in expected if item[0] not in waived}


ROOT_KINDS = ("dir", "missing", "file", "link-to-dir", "dangling-link", "git", "env", "link-to-file")


def _document_root(root: Path, index: int, kind: str) -> Path:
    path = root / f"www{index}"
    if kind in ("dir", "git", "env"):
        path.mkdir()
    if kind == "git":
        (path / ".git").mkdir()
        (path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    if kind == "env":
        (path / ".env").write_text("SECRET=1\n")
    if kind in ("file", "link-to-file"):
        (root / f"file{index}").write_text("x")
        if kind == "file":
            return root / f"file{index}"
        path.symlink_to(root / f"file{index}")
    if kind == "link-to-dir":
        (root / f"real{index}").mkdir()
        path.symlink_to(root / f"real{index}")
    if kind == "dangling-link":
        path.symlink_to(root / f"gone{index}")
    return path


@pytest.mark.parametrize("seed", range(5))
def test_vg201_after_vg309_listings_as_alone(write: Write, seed: int) -> None:
    """VG201 skips its stat for a DocumentRoot VG309 already listed: run together,
    both find exactly what each finds alone (and VG201 what path_problem says)."""
    rng = random.Random(3000 + seed)
    conf = write(f"d{seed}/apache2.conf")
    root = conf.parent
    lines = [f'ServerRoot "{root}"', "ServerName main.test", "Listen 80", f"DocumentRoot {root}"]
    expected_201 = set()
    for index in range(12):
        path = _document_root(root, index, rng.choice(ROOT_KINDS))
        lines += ["<VirtualHost *:80>", f"    ServerName v{index}.test", f"    DocumentRoot {path}", "</VirtualHost>"]
        if path_problem(str(path), directory=True):
            expected_201.add(len(lines) - 1)
    conf.write_text("\n".join(lines) + "\n")
    tree = load(str(conf), LoadOptions(env_file=""))
    model = build_model(tree)

    def found(select: list[str]) -> set[tuple[str, int, str]]:
        return {(f.code, f.line, f.message) for f in run(model, tree, select=select)}

    together = found(["VG201", "VG309"])
    assert together == found(["VG201"]) | found(["VG309"])
    assert {line for code, line, _ in together if code == "VG201"} == expected_201
    exposed = any(root.glob("www*/.git/HEAD")) or any(root.glob("www*/.env"))
    assert any(code == "VG309" for code, _, _ in together) == exposed


@pytest.mark.parametrize("seed", range(3))
def test_vg205_split_is_os_path_split(seed: int) -> None:
    """VG205's inlined split agrees with os.path.split on paths of slashes, dots and names."""
    from vhostguard.lint.rules.files.vg205_log_directory_missing import _split

    rng = random.Random(4000 + seed)
    paths = ["", "/", "//", "///", "a", "/a", "//a", "a/", "a//", "a//b", "/a/b//c", "..", "a/..", "/x/./"]
    paths += ["".join(rng.choice("/a.b") for _ in range(rng.randrange(1, 9))) for _ in range(500)]
    for path in paths:
        assert _split(path) == os.path.split(path), path

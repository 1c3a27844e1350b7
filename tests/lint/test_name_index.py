"""VG101/VG102 answer "who takes this name first" from an index per address set
(issue 17.15: lint was quadratic in vhosts). Their findings must be those of
the plain walk over the earlier vhosts, which this file keeps as the reference,
on generated configurations full of overlapping names, wildcards and address sets."""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from vhostguard.config import ConfigTree, LoadOptions, load
from vhostguard.lint import run
from vhostguard.model import Server, ServerModel, build_model
from vhostguard.model.matching import wildcard_regex

Write = Callable[..., Path]

ADDRESSES = ("*:80", "*:80", "127.0.0.1:80", "*:8080", "127.0.0.2:8080", "*:80 127.0.0.1:80", "127.0.0.2:8080 *:8080")
NAMES = ("a.test", "b.test", "www.a.test", "x.a.test", "A.Test", "shop.b.test", "a.test.b.test", "ab.test", "a.test.net", "abtest")
WILD = ("*.a.test", "*.test", "*", "a.*", "?.a.test", "*a.test", "*.B.test", "w*.a.test", "*.a.test", "*.net", "*test", "*test.net")


# -- the reference: the walk over the earlier vhosts, as VG101/VG102 did it before the index --


def _names(server: Server) -> list[str]:
    return [server.server_name.lower(), *(a.lower() for a in server.aliases)]


def _answers(earlier: Server, name: str) -> bool:
    return name in _names(earlier) or any(wildcard_regex(p).match(name) for p in earlier.wild_aliases)


def _covers(earlier: Server, pattern: str) -> bool:
    return any(p.lower() in (pattern.lower(), "*") for p in earlier.wild_aliases)


def _taken_by(server: Server, earlier: list[Server]) -> dict[str, Server] | None:
    winners: dict[str, Server] = {}
    for name in _names(server):
        winner = next((e for e in earlier if _answers(e, name)), None)
        if winner is None:
            return None
        winners.setdefault(name, winner)
    for pattern in server.wild_aliases:
        winner = next((e for e in earlier if _covers(e, pattern)), None)
        if winner is None:
            return None
        winners.setdefault(pattern, winner)
    return winners


def _unreachable(server: Server, model: ServerModel) -> dict[str, Server] | None:
    sets = [aset for aset in model.address_sets if any(s is server for s in aset.servers)]
    if not sets:
        return None
    found: dict[str, Server] = {}
    for aset in sets:
        position = next(i for i, s in enumerate(aset.servers) if s is server)
        if position == 0:
            return None
        winners = _taken_by(server, list(aset.servers[:position]))
        if winners is None:
            return None
        found.update(winners)
    return found


def reference(model: ServerModel) -> set[tuple[str, int, str]]:
    """(code, line, message) of VG101 and VG102 by brute force."""
    found: set[tuple[str, int, str]] = set()
    for server in model.vhosts:
        winners = _unreachable(server, model)
        if winners is not None:
            taken = "; ".join(f"{name} by {w.server_name} ({w.id})" for name, w in winners.items())
            found.add(("VG101", server.source.line if server.source else 0, f"<VirtualHost> {server.server_name} can never be reached: every name is taken earlier ({taken})"))
    for aset in model.address_sets:
        for position, server in enumerate(aset.servers):
            if position == 0 or _unreachable(server, model) is not None:
                continue
            earlier = list(aset.servers[:position])
            for node in server.directives:
                if node.key not in ("servername", "serveralias") or not node.args:
                    continue
                for word in node.args if node.key == "serveralias" else node.args[:1]:
                    name = server.server_name.lower() if node.key == "servername" else word.lower()
                    if "*" in name or "?" in name:
                        continue
                    winner = next((e for e in earlier if _answers(e, name)), None)
                    if winner is not None:
                        found.add(("VG102", node.source.line, f"vhost {server.server_name}: {node.name} {name} on {aset.address} is already answered by {winner.server_name} ({winner.id})"))
    return found


def generated_config(rng: random.Random, vhosts: int) -> str:
    lines = ["ServerName main.test", "Listen 80", "Listen 8080"]
    for _ in range(vhosts):
        lines.append(f"<VirtualHost {rng.choice(ADDRESSES)}>")
        if rng.random() < 0.9:
            lines.append(f"    ServerName {rng.choice(NAMES)}")
        for _ in range(rng.randrange(3)):
            pool = WILD if rng.random() < 0.4 else NAMES
            lines.append("    ServerAlias " + " ".join(rng.choice(pool) for _ in range(rng.randrange(1, 4))))
        lines.append("</VirtualHost>")
    return "\n".join(lines) + "\n"


def _model(write: Write, name: str, text: str) -> tuple[ServerModel, ConfigTree]:
    conf = write(f"{name}/apache2.conf", text)
    tree = load(str(conf), LoadOptions(env_file=""))
    assert tree.errors == ()
    return build_model(tree), tree


@pytest.mark.parametrize("seed", range(40))
def test_indexed_findings_equal_brute_force(write: Write, seed: int) -> None:
    rng = random.Random(seed)
    model, tree = _model(write, f"s{seed}", generated_config(rng, rng.randrange(2, 40)))
    findings = run(model, tree, select=["VG101", "VG102"])
    assert {(f.code, f.line, f.message) for f in findings} == reference(model)


def test_generated_configs_exercise_both_rules(write: Write) -> None:
    # The comparison above is only worth something if the reference finds things.
    codes: set[str] = set()
    for seed in range(40):
        rng = random.Random(seed)
        model, _ = _model(write, f"c{seed}", generated_config(rng, rng.randrange(2, 40)))
        codes |= {code for code, _, _ in reference(model)}
    assert codes == {"VG101", "VG102"}


def _chain(vhosts: int) -> str:
    # Every vhost on one address set with its own names and a wildcard alias: each
    # name is looked up against every earlier vhost by the walk.
    body = [f"<VirtualHost *:80>\nServerName s{i}.test\nServerAlias www.s{i}.test *.s{i}.net\n</VirtualHost>" for i in range(vhosts)]
    return "Listen 80\n" + "\n".join(body) + "\n"


def test_name_rules_scale_linearly(write: Write) -> None:
    """Eight times the vhosts must cost well under 64 times (quadratic) the time;
    before the index, 250 -> 2,000 vhosts cost ~60x."""
    timings = []
    for count in (250, 2000):
        model, tree = _model(write, f"n{count}", _chain(count))
        started = time.perf_counter()
        run(model, tree, select=["VG101", "VG102"])
        timings.append(time.perf_counter() - started)
    assert timings[1] < 20 * timings[0] + 0.5

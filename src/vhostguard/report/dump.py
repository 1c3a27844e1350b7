"""``vhostguard dump``: the effective configuration, each line with its file:line."""
from __future__ import annotations

from vhostguard.config import ConfigTree, Directive


def _quote(word: str) -> str:
    if word == "" or any(c.isspace() for c in word) or (word[0] in "\"'"):
        return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return word


def _render(node: Directive, depth: int, out: list[str]) -> None:
    pad = "  " * depth
    args = " ".join(_quote(a) for a in node.args)
    where = f"{node.source}"
    if node.children is None:
        out.append(f"{where}: {pad}{node.name}{' ' + args if args else ''}")
        return
    out.append(f"{where}: {pad}<{node.name}{' ' + args if args else ''}>")
    for child in node.children:
        _render(child, depth + 1, out)
    out.append(f"{where}: {pad}</{node.name}>")


def dump_text(tree: ConfigTree) -> str:
    out: list[str] = []
    for node in tree.nodes:
        _render(node, 0, out)
    return "\n".join(out) + ("\n" if out else "")


def includes_text(tree: ConfigTree) -> str:
    """The include tree, laid out like ``apache2 -t -D DUMP_INCLUDES``."""
    lines = ["Included configuration files:"]
    for item in tree.files:
        where = "(*)" if item.included_from is None else f"({item.included_from.line})"
        lines.append(f"{'  ' * (item.depth + 1)}{where} {item.path}")
    return "\n".join(lines) + "\n"


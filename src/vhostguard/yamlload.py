"""The one way vhostguard reads YAML: expectations (``test``), allow-lists
(``diff --allow``) and watch rules (``watch --rules``).

A YAML file under audit may come from anyone, so reading one is:

* safe: plain data only (mappings, lists, strings, numbers, booleans, null:
  the YAML core schema); any other tag is an error, never a constructor call;
* bounded: aliases may repeat at most ``ALIAS_BUDGET`` nodes in all. A
  600-byte "billion laughs" (an anchor aliased ten times, that node ten
  times, ...) would otherwise expand to 10^9 nodes for whoever walks the data;
  an alias inside the node it refers to (a cycle) is refused too;
* plain: mapping keys are scalars (a ``? [a, b]`` key has no meaning for us);
* located: every error is a ``YamlError`` whose text starts ``source:line:``.

``compose_yaml`` returns the node tree, for callers that report the line of
an item (expectations); ``node_data`` turns a node into plain data;
``load_yaml`` does both at once.
"""
from __future__ import annotations

from typing import IO, Any

import yaml

__all__ = ["ALIAS_BUDGET", "YamlError", "compose_yaml", "line_of", "load_yaml", "node_data"]

# Nodes that aliases may add to a document, over all of them: far more than the
# defaults a rules or expectations file shares by anchors, far less than harm.
ALIAS_BUDGET = 10_000

# libyaml's parser when present (an expectations file can hold thousands of cases);
# composing only, so the C and Python loaders give the same nodes.
_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlError(ValueError):
    """A YAML text that cannot be used; ``str()`` is ``source:line: message``."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        super().__init__(f"{source}:{line}: {message}" if line is not None else f"{source}: {message}")
        self.source = source
        self.line = line
        self.message = message


def line_of(node: yaml.Node) -> int:
    """The 1-based line a node starts on."""
    return int(node.start_mark.line) + 1


def compose_yaml(text_or_stream: str | bytes | IO[str] | IO[bytes], source: str) -> yaml.Node | None:
    """The single document of ``text_or_stream`` as a node tree (None: empty document).

    Raises ``YamlError`` for invalid YAML, text that is not UTF-8, more than
    one document, a mapping key that is not a scalar, a cyclic alias, or
    aliases beyond ``ALIAS_BUDGET``.
    """
    try:
        loader = _COMPOSER(text_or_stream)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as problem:
        raise _located(problem, source) from None
    except UnicodeError:  # a text stream that is not UTF-8, or a str holding undecodable bytes
        raise YamlError(source, None, "not UTF-8 text") from None
    except RecursionError:
        raise YamlError(source, None, "nested too deeply") from None
    if node is not None:
        _check_shape(node, source)
    return node


def node_data(node: yaml.Node | None, source: str) -> Any:
    """Plain data (dict, list, str, int, float, bool, None) from a ``compose_yaml`` node.

    Raises ``YamlError`` naming the line of a tag that is not plain data
    (``!!python/object``, ``!custom``) or of an unhashable key.
    """
    if node is None:
        return None
    constructor = yaml.constructor.SafeConstructor()  # no reader or parser: the node is composed
    try:
        return constructor.construct_document(node)
    except yaml.YAMLError as problem:
        raise _located(problem, source) from None
    except RecursionError:
        raise YamlError(source, line_of(node), "nested too deeply") from None


def load_yaml(text_or_stream: str | bytes | IO[str] | IO[bytes], source: str) -> Any:
    """Plain data from a YAML text or stream; ``source`` names it in errors (a path).

    An empty document gives None. Raises ``YamlError`` (see ``compose_yaml``).
    """
    return node_data(compose_yaml(text_or_stream, source), source)


def _located(problem: yaml.YAMLError, source: str) -> YamlError:
    if isinstance(problem, yaml.reader.ReaderError):
        code = problem.character if isinstance(problem.character, int) else ord(problem.character)
        if isinstance(problem.character, int) and code >= 0x80:  # libyaml reports the byte: not UTF-8
            return YamlError(source, None, f"not UTF-8 text (byte 0x{code:02x} at offset {problem.position})")
        return YamlError(source, None, f"character U+{code:04X} at offset {problem.position}: "
                                       "YAML allows it only escaped in a double-quoted string")
    if isinstance(problem, yaml.constructor.ConstructorError) and "constructor for the tag" in str(problem.problem):
        tag = str(problem.problem).rpartition(" ")[2]
        mark = problem.problem_mark
        return YamlError(source, mark.line + 1 if mark else None,
                         f"the tag {tag} is not allowed: only plain mappings, lists, strings, numbers, booleans and null")
    mark = getattr(problem, "problem_mark", None) or getattr(problem, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    what = getattr(problem, "problem", None) or str(problem)
    context = getattr(problem, "context", None)
    message = f"not valid YAML: {context + ': ' if context else ''}{what}"
    return YamlError(source, line, " ".join(message.split()))  # one line


def _check_shape(root: yaml.Node, source: str) -> None:
    """Refuse complex keys, cycles and alias expansion beyond the budget.

    Walks each distinct node once (a node reached again is an alias), with an
    explicit stack: a deeply nested document must not exhaust Python's.
    """
    sizes: dict[int, int] = {}  # id(node) -> its size with every alias expanded
    on_path: set[int] = set()
    # (node, None): to visit; (node, its children): to total once the children are.
    stack: list[tuple[yaml.Node, list[yaml.Node] | None]] = [(root, None)]
    scalar = yaml.ScalarNode
    while stack:
        node, children = stack.pop()
        key = id(node)
        if children is not None:
            on_path.discard(key)
            total = 1
            for child in children:
                total += sizes[id(child)]
            sizes[key] = total
            continue
        if key in sizes:
            continue  # reached again through an alias: already measured
        if node.__class__ is scalar:
            sizes[key] = 1
            continue
        children = _children(node, source)
        on_path.add(key)
        stack.append((node, children))
        for child in children:
            if id(child) in on_path:
                raise YamlError(source, line_of(child), "an alias refers to a node that contains it")
            if id(child) not in sizes:
                stack.append((child, None))
    added = sizes[id(root)] - len(sizes)
    if added > ALIAS_BUDGET:
        raise YamlError(source, None, f"aliases repeat {added:,} nodes (at most {ALIAS_BUDGET:,}): "
                                      "write the repeated parts out, or share less")


def _children(node: yaml.Node, source: str) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        found: list[yaml.Node] = []
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise YamlError(source, line_of(key), "a mapping key must be a plain value, not a list or mapping")
            found.append(key)
            found.append(value)
        return found
    return []

"""yamlload: the one YAML reader. Plain data only, aliases bounded, errors as source:line."""
from __future__ import annotations

import time

import pytest

from vhostguard.monitor.rules import RulesError, parse_rules
from vhostguard.yamlload import ALIAS_BUDGET, YamlError, compose_yaml, line_of, load_yaml


def laughs(levels: int) -> str:
    """The "billion laughs": each level an anchor aliased nine times by the next."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_at_once() -> None:
    text = laughs(9)
    assert len(text) < 700
    started = time.monotonic()
    with pytest.raises(YamlError, match=r"^bomb\.yaml: aliases repeat [\d,]+ nodes \(at most 10,000\)"):
        load_yaml(text, "bomb.yaml")
    assert time.monotonic() - started < 1.0


def test_aliases_within_the_budget_are_plain_data() -> None:
    data = load_yaml("base: &base {timeout: 5, retries: 2}\nweb: {<<: *base, retries: 3}\ncopy: *base\n", "f.yaml")
    assert data == {"base": {"timeout": 5, "retries": 2}, "web": {"timeout": 5, "retries": 3},
                    "copy": {"timeout": 5, "retries": 2}}
    # Four levels repeat about 8,200 nodes: allowed; five, about 74,700: refused.
    assert ALIAS_BUDGET == 10_000
    assert len(load_yaml(laughs(4), "f.yaml")["l3"]) == 9
    with pytest.raises(YamlError):
        load_yaml(laughs(5), "f.yaml")


@pytest.mark.parametrize(("text", "line", "words"), [
    ("a: 1\nb: &x [1, *x]\n", 2, "an alias refers to a node that contains it"),
    ("a: 1\n? [x, y]\n: 2\n", 2, "a mapping key must be a plain value"),
    ("a:\n  b: {? {c: 1} : 2}\n", 2, "a mapping key must be a plain value"),
    ("a: 1\nb: !!python/object/apply:os.system ['true']\n", 2, "the tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed"),
    ("a: 1\nb: !secret x\n", 2, "the tag '!secret' is not allowed"),
    ("a: 1\n---\nb: 2\n", 2, "not valid YAML"),
    ("a: 1\nb: [\n", 3, "not valid YAML"),
])
def test_errors_name_source_and_line(text: str, line: int, words: str) -> None:
    with pytest.raises(YamlError) as caught:
        load_yaml(text, "f.yaml")
    message = str(caught.value)
    assert message.startswith(f"f.yaml:{line}: ") and words in message
    assert "\n" not in message


def test_bytes_that_are_not_utf8() -> None:
    with pytest.raises(YamlError, match=r"^f\.yaml: not UTF-8 text \(byte 0xff at offset 3\)$"):
        load_yaml(b"a: \xff\n", "f.yaml")


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(YamlError, match=r"^f\.yaml:1: "):
        load_yaml("[" * 20000 + "]" * 20000, "f.yaml")


def test_compose_keeps_lines() -> None:
    root = compose_yaml("a: 1\nitems:\n  - x: 1\n  - y: 2\n", "f.yaml")
    assert root is not None
    items = dict((k.value, v) for k, v in root.value)["items"]
    assert [line_of(item) for item in items.value] == [3, 4]


def test_watch_rules_use_it() -> None:
    with pytest.raises(RulesError, match=r"^rules\.yaml: aliases repeat"):
        parse_rules(laughs(9), "rules.yaml")
    with pytest.raises(RulesError, match=r"^rules\.yaml:1: the tag '!x' is not allowed"):
        parse_rules("endpoint_broken: !x {}\n", "rules.yaml")

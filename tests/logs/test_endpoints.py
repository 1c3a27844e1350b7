"""Endpoint templates: automatic rules, declared patterns first, a bounded cardinality per vhost."""
from __future__ import annotations

from pathlib import Path

import pytest

from vhostguard.logs import OTHER, EndpointTemplater, PatternError, auto_template, load_patterns, parse_patterns


@pytest.mark.parametrize(("path", "template"), [
    ("/v1/users/123/orders/9f1c2e3d4b5a6978", "/v1/users/{id}/orders/{id}"),
    ("/v1/users/123/orders/9f1c2e3d4b5a6978?expand=1", "/v1/users/{id}/orders/{id}"),
    ("/items/550e8400-e29b-41d4-a716-446655440000", "/items/{id}"),
    ("/commits/da39a3ee5e6b4b0d3255bfef95601890afd80709", "/commits/{id}"),
    ("/t/dGhpcyBpcyBhIHRva2VuMTIz", "/t/{id}"),  # base64
    ("/t/aB3_xY9-kL2mN8pQ", "/t/{id}"),  # base64url, 16 characters
    ("/users/jane.doe@example.com/prefs", "/users/{email}/prefs"),
    ("/users/jane%40example.com", "/users/{email}"),
    ("/reports/2024-01-21", "/reports/{date}"),
    ("/reports/2024-01-21T15:00:00Z/raw", "/reports/{date}/raw"),
    ("/items/123.json", "/items/{id}.json"),
    ("/v2/health", "/v2/health"),  # short words and versions stay
    ("/static/app.css", "/static/app.css"),
    ("/getUserPreferences", "/getUserPreferences"),  # a long word without digit is not a token
    ("/", "/"),
    ("", "-"),
    (None, "-"),
    ("http://api.example.com/v1/users/7", "/v1/users/{id}"),  # absolute-form target
])
def test_auto_template(path: str | None, template: str) -> None:
    assert auto_template(path) == template


def test_declared_patterns_take_precedence(tmp_path: Path) -> None:
    patterns_file = tmp_path / "endpoints.txt"
    patterns_file.write_text(
        "# declared endpoints\n"
        "/v1/users/{user}/orders/{order}\n"
        "\n"
        "/v1/files/{path*}\n"
        "^/legacy/[a-z]+\\.php  /legacy/{script}\n"
        "^/search\n"
    )
    patterns = load_patterns(str(patterns_file))
    assert [p.origin for p in patterns] == [f"{patterns_file}:2", f"{patterns_file}:4", f"{patterns_file}:5", f"{patterns_file}:6"]
    templater = EndpointTemplater(patterns)
    assert templater.template("/v1/users/alice/orders/first") == "/v1/users/{user}/orders/{order}"
    assert templater.template("/v1/users/alice/orders/first/") == "/v1/users/{user}/orders/{order}"
    assert templater.template("/v1/files/a/b/c.txt") == "/v1/files/{path*}"
    assert templater.template("/legacy/index.php?x=1") == "/legacy/{script}"
    assert templater.template("/search/anything") == "^/search"
    assert templater.template("/v1/users/alice") == "/v1/users/alice"  # no pattern: automatic rules
    assert templater.template("/v1/users/42") == "/v1/users/{id}"


def test_patterns_with_their_own_groups_still_work() -> None:
    templater = EndpointTemplater(parse_patterns(["^/a/(?P<x>[0-9]+)  /a/{x}", "^/b/(?P<x>[0-9]+)  /b/{x}"]))
    assert templater.template("/b/12") == "/b/{x}"
    assert templater.template("/a/12") == "/a/{x}"


@pytest.mark.parametrize(("line", "message"), [
    ("v1/users", "expected a template starting with '/'"),
    ("^/(unclosed", "bad regex"),
])
def test_bad_pattern_lines_name_their_line(line: str, message: str) -> None:
    with pytest.raises(PatternError, match=rf"^f\.txt:2: .*{message}"):
        parse_patterns(["# ok", line], "f.txt")


def test_cardinality_cap_per_vhost_folds_into_other() -> None:
    templater = EndpointTemplater(max_per_vhost=3)
    kept = [templater.template(f"/page-{name}", "a") for name in ("x", "y", "z")]
    assert kept == ["/page-x", "/page-y", "/page-z"]
    assert templater.template("/page-w", "a") == OTHER
    assert templater.template("/page-x", "a") == "/page-x"  # already kept: keeps its name
    assert templater.template("/page-w", "b") == "/page-w"  # another vhost has its own budget
    assert templater.folded == {"a": 1}


def test_ids_do_not_use_up_the_cap() -> None:
    templater = EndpointTemplater(max_per_vhost=2)
    for n in range(10_000):
        assert templater.template(f"/v1/users/{n}", "api") == "/v1/users/{id}"
    assert templater.folded == {}


def test_declared_templates_are_exempt_from_the_cap() -> None:
    templater = EndpointTemplater(parse_patterns(["/declared/{x}"]), max_per_vhost=1)
    templater.template("/first", "a")
    assert templater.template("/second", "a") == OTHER
    assert templater.template("/declared/7", "a") == "/declared/{x}"


def test_vhosts_are_bounded_too() -> None:
    templater = EndpointTemplater(max_per_vhost=1, max_vhosts=2)
    templater.template("/x", "a")
    templater.template("/y", "b")
    assert [templater.vhost_key(v) for v in ("a", "b", "c")] == ["a", "b", OTHER]
    assert templater.template("/z", "c") == "/z"  # c, d, ... share the overflow bucket
    assert templater.template("/w", "d") == OTHER


def test_memo_is_bounded() -> None:
    templater = EndpointTemplater(cache_size=100, max_per_vhost=10**9)
    for n in range(1000):
        templater.template(f"/p/{n}x", "a")
    assert len(templater._cached.cache) <= 100  # type: ignore[attr-defined]


def test_vhost_cap_holds_when_every_path_matches_a_declared_pattern() -> None:
    # A Host-header flood on a declared endpoint must not grow the vhost labels either.
    templater = EndpointTemplater(parse_patterns(["/v1/{rest*}"]), max_per_vhost=5, max_vhosts=2)
    assert [templater.vhost_key(v) for v in ("a.test", "b.test", "c.test")] == ["a.test", "b.test", "{other}"]
    assert templater.template("/v1/users/1", "d.test") == "/v1/{rest*}"
    assert templater.vhost_key("e.test") == "{other}"
    assert templater.vhost_key("a.test") == "a.test"

"""Routing expectations: "this URL must reach that vhost and that backend".

An expectations file (YAML, docs/contract.md ``vhostguard test``) lists cases; each
is routed offline (or sent to a sandboxed apache2) and compared field by field
with what the team expects.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from vhostguard.routing import DEFAULT_REMOTE_IP, OUTCOME_KINDS, Decision, Request, RequestError, Router, is_ip_address
from vhostguard.yamlload import YamlError, compose_yaml, line_of, node_data

EXPECT_KEYS = ("vhost", "kind", "target", "status")
CASE_KEYS = frozenset({"name", "url", "local_ip", "remote_ip", "method", "headers", "no_host", "expect"})


class ExpectationError(ValueError):
    """An expectations file that cannot be used, with ``file:line`` where possible."""


@dataclass(frozen=True)
class Case:
    name: str
    url: str
    expect: dict[str, Any]
    line: int
    local_ip: str | None = None
    remote_ip: str = DEFAULT_REMOTE_IP
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    no_host: bool = False

    def request(self, default_local_ip: str | None = None) -> Request:
        return Request.from_url(
            self.url, method=self.method, local_ip=self.local_ip or default_local_ip, remote_ip=self.remote_ip,
            headers=self.headers, no_host=self.no_host,
        )


@dataclass(frozen=True)
class Expectations:
    path: str
    config: str | None  # absolute, resolved against the file's directory
    cases: tuple[Case, ...]


@dataclass(frozen=True)
class Actual:
    """What was observed for one case, in the terms expectations use."""

    vhost_id: str | None
    server_name: str | None
    kind: str
    status: int | None
    target: str | None
    certain: bool = True
    reasons: tuple[str, ...] = ()
    unobservable: frozenset[str] = frozenset()  # fields the live server does not reveal

    def as_dict(self) -> dict[str, Any]:
        return {"vhost": self.server_name, "vhost_id": self.vhost_id, "kind": self.kind, "status": self.status, "target": self.target}


@dataclass(frozen=True)
class Mismatch:
    field: str
    expected: Any
    actual: Any


def shown(value: Any) -> str:
    """An expected or actual value as the reports write it: "(none)", "yes", not Python's None, True."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "(none)" if value is None else str(value)


@dataclass(frozen=True)
class CaseResult:
    case: Case
    actual: Actual
    mismatches: tuple[Mismatch, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return not self.mismatches


def load_expectations(path: str) -> Expectations:
    """Read and validate an expectations file; raise ExpectationError naming file:line."""
    try:
        with open(path, encoding="utf-8") as handle:
            root = compose_yaml(handle, path)
    except FileNotFoundError:
        raise ExpectationError(f"{path}: no such expectations file") from None
    except IsADirectoryError:
        raise ExpectationError(f"{path}: is a directory, not an expectations file") from None
    except OSError as exc:
        raise ExpectationError(f"{path}: cannot read: {exc.strerror}") from None
    except YamlError as problem:
        raise ExpectationError(str(problem)) from None
    if not isinstance(root, yaml.MappingNode):
        raise ExpectationError(f"{path}:1: expected a mapping with 'cases:'")
    top = _fields(path, root)
    config_path = None
    if "config" in top:
        config = _value(path, top["config"])
        if not isinstance(config, str) or not config:
            raise ExpectationError(f"{path}:{line_of(top['config'])}: 'config' must be the path of apache2.conf")
        config_path = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), config))
    cases_node = top.get("cases")
    if not isinstance(cases_node, yaml.SequenceNode) or not cases_node.value:
        line = line_of(cases_node) if cases_node is not None else 1
        raise ExpectationError(f"{path}:{line}: 'cases' must be a non-empty list")
    cases = tuple(_case(path, node) for node in cases_node.value)
    return Expectations(os.path.abspath(path), config_path, cases)


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _fields(path: str, node: yaml.MappingNode) -> dict[str, yaml.Node]:
    """A mapping node's values by key (keys are scalars: ``compose_yaml`` checks).

    ``<<: *defaults`` merge keys work as in YAML: the keys written here win, then the
    merged mappings in their order (a value merged in keeps the line of its anchor)."""
    found: dict[str, yaml.Node] = {}
    merged: dict[str, yaml.Node] = {}
    for key, value in node.value:
        if key.tag == _MERGE_TAG:
            sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    raise ExpectationError(f"{path}:{line_of(source)}: '<<' merges mappings only")
                for name, item in _fields(path, source).items():
                    merged.setdefault(name, item)
            continue
        if key.value in found:
            raise ExpectationError(f"{path}:{line_of(key)}: {key.value!r} is given twice")
        found[str(key.value)] = value
    return {**merged, **found}


def _unknown(keys: set[str]) -> str:
    return f"unknown {'key' if len(keys) == 1 else 'keys'} {', '.join(sorted(keys))}"


def _value(path: str, node: yaml.Node) -> Any:
    try:
        return node_data(node, path)
    except YamlError as problem:
        raise ExpectationError(str(problem)) from None


def _text(path: str, fields: dict[str, yaml.Node], name: str, what: str) -> str | None:
    """The string value of ``name`` (None when absent or null); else ExpectationError at its line."""
    if name not in fields:
        return None
    value = _value(path, fields[name])
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ExpectationError(f"{path}:{line_of(fields[name])}: '{name}' must be {what}")
    return value


def _ip(path: str, fields: dict[str, yaml.Node], name: str) -> str | None:
    value = _text(path, fields, name, "an IP address such as 10.0.0.5")
    if value is not None and not is_ip_address(value):
        raise ExpectationError(f"{path}:{line_of(fields[name])}: '{name}' {value!r} is not an IP address (10.0.0.5, ::1)")
    return value


def _case(path: str, node: yaml.Node) -> Case:
    line = line_of(node)
    where = f"{path}:{line}"
    if not isinstance(node, yaml.MappingNode):
        raise ExpectationError(f"{where}: each case must be a mapping with 'url' and 'expect'")
    fields = _fields(path, node)
    unknown = set(fields) - CASE_KEYS
    if unknown:
        raise ExpectationError(f"{where}: {_unknown(unknown)}; use {', '.join(sorted(CASE_KEYS))}")
    url = _text(path, fields, "url", "a URL (http://host/path)")
    if url is None:
        raise ExpectationError(f"{where}: 'url' is required (http://host/path)")
    name = _value(path, fields["name"]) if "name" in fields else None
    if name is not None and not isinstance(name, (str, int, float)):
        raise ExpectationError(f"{path}:{line_of(fields['name'])}: 'name' must be a string")
    method = _text(path, fields, "method", "an HTTP method such as GET")
    no_host = _value(path, fields["no_host"]) if "no_host" in fields else False
    if not isinstance(no_host, bool):
        raise ExpectationError(f"{path}:{line_of(fields['no_host'])}: 'no_host' must be true or false")
    case = Case(
        name=str(name) if name is not None and str(name) else url, url=url,
        expect=_expect(path, node, fields.get("expect")), line=line,
        local_ip=_ip(path, fields, "local_ip"), remote_ip=_ip(path, fields, "remote_ip") or DEFAULT_REMOTE_IP,
        method=(method or "GET").upper(), headers=_headers(path, fields.get("headers")), no_host=no_host,
    )
    try:
        case.request()
    except RequestError as problem:
        raise ExpectationError(f"{path}:{line_of(fields['url'])}: {problem}") from None
    return case


def _expect(path: str, case: yaml.Node, node: yaml.Node | None) -> dict[str, Any]:
    """The ``expect`` mapping, each value checked: a wrong type would fail every run, not this file."""
    usage = f"'expect' must map some of {', '.join(EXPECT_KEYS)} to values"
    if not isinstance(node, yaml.MappingNode) or not node.value:
        raise ExpectationError(f"{path}:{line_of(node if node is not None else case)}: {usage}")
    fields = _fields(path, node)
    unknown = set(fields) - set(EXPECT_KEYS)
    if unknown:
        raise ExpectationError(f"{path}:{line_of(node)}: {_unknown(unknown)}; {usage}")
    expect: dict[str, Any] = {}
    for key, value_node in fields.items():
        value = _value(path, value_node)
        where = f"{path}:{line_of(value_node)}"
        if key == "status":
            if isinstance(value, str) and value.isascii() and value.isdigit():
                value = int(value)  # status: "301", quoted: still a number (it was read with int() before)
            if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
                raise ExpectationError(f"{where}: 'status' must be an HTTP status code (100-599), not {value!r}")
        elif key == "kind":
            if value not in OUTCOME_KINDS:
                raise ExpectationError(f"{where}: 'kind' must be one of {', '.join(OUTCOME_KINDS)}, not {value!r}")
        elif key == "vhost":
            if not isinstance(value, str) or not value:
                raise ExpectationError(f"{where}: 'vhost' must be a ServerName or a VHOST-ID (file:line)")
        elif value is not None and not isinstance(value, str):  # target; null: "no target"
            raise ExpectationError(f"{where}: 'target' must be a URL or path, or null for none")
        expect[key] = value
    return expect


def _headers(path: str, node: yaml.Node | None) -> tuple[tuple[str, str], ...]:
    if node is None:
        return ()
    value = _value(path, node)
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(isinstance(v, (str, int, float)) for v in value.values()):
        raise ExpectationError(f"{path}:{line_of(node)}: 'headers' must be a mapping of header names to values")
    return tuple((str(k), str(v)) for k, v in value.items())


def actual_from_decision(decision: Decision) -> Actual:
    outcome = decision.outcome
    status = outcome.status if outcome.status is not None else (200 if outcome.kind == "proxy" else None)
    if outcome.kind == "refused":  # the connection reaches no server
        return Actual(None, None, outcome.kind, None, None, decision.certain, decision.uncertain_reasons)
    return Actual(decision.server.id, decision.server.server_name, outcome.kind, status, outcome.target,
                  decision.certain, decision.uncertain_reasons)


def _vhost_matches(expected: str, actual: Actual) -> bool:
    if actual.server_name is not None and expected.lower() == actual.server_name.lower():
        return True
    if actual.vhost_id is None:
        return False
    return actual.vhost_id == expected or actual.vhost_id.endswith("/" + expected.lstrip("/"))


def check(case: Case, actual: Actual) -> CaseResult:
    mismatches: list[Mismatch] = []
    for key, wanted in case.expect.items():
        if key in actual.unobservable:
            continue
        if key == "vhost":
            ok = _vhost_matches(str(wanted), actual)
            got: Any = actual.server_name if actual.vhost_id is None else f"{actual.server_name} ({actual.vhost_id})"
        elif key == "status":
            ok = actual.status == wanted
            got = actual.status
        else:
            got = getattr(actual, key)
            ok = got == wanted
        if not ok:
            mismatches.append(Mismatch(key, wanted, got))
    if not actual.certain:
        mismatches.append(Mismatch("certain", True, "; ".join(actual.reasons)))
    return CaseResult(case, actual, tuple(mismatches))


def run_offline(router: Router, cases: Iterable[Case], default_local_ip: Any = None) -> list[CaseResult]:
    """Route each case offline; ``default_local_ip(port)`` picks the local address per case."""
    results = []
    for case in cases:
        request = case.request()
        if case.local_ip is None and default_local_ip is not None:
            request = case.request(default_local_ip(request.port))
        results.append(check(case, actual_from_decision(router.route(request))))
    return results


def run_live(sandbox: Any, cases: Iterable[Case]) -> list[CaseResult]:
    """Send each case to a running ``live.Sandbox`` and check what the real apache2 did."""
    from vhostguard.checks.live_compare import live_view

    results = []
    for case in cases:
        result = sandbox.request(case.url, local_ip=case.local_ip, method=case.method, headers=case.headers,
                                 no_host=case.no_host, http10=case.no_host)
        view = live_view(result)
        vhost_id = result.vhost if result.served_by == "vhost" else None
        hidden = frozenset({"target"}) if view.kind == "file" and view.target is None else frozenset()
        if result.served_by == "unknown":
            hidden |= {"vhost"}
        status = view.status if view.status is not None or view.kind == "refused" else result.status
        actual = Actual(vhost_id, result.server_name, view.kind, status, view.target, unobservable=hidden)
        results.append(check(case, actual))
    return results


def common_routes(requests: Iterable[Request], top: int) -> list[str]:
    """The URL of the first request seen for each of the ``top`` most frequent routes,
    a route being (Host, method-less endpoint template) — ids in paths do not split it."""
    from vhostguard.logs import auto_template

    counts: dict[tuple[str | None, str], int] = {}
    examples: dict[tuple[str | None, str], str] = {}
    for request in requests:
        key = ((request.host or "").lower(), auto_template(request.path))
        counts[key] = counts.get(key, 0) + 1
        examples.setdefault(key, request.url)
    ranked = sorted(counts, key=lambda k: (-counts[k], k))
    return [examples[key] for key in ranked[:top]]


def generate_expectations(router: Router, urls: Iterable[str], default_local_ip: Any = None) -> str:
    """An expectations file (YAML) that pins down today's routing of ``urls``, for review."""
    cases = []
    for url in urls:
        request = Request.from_url(url)
        if default_local_ip is not None:
            request = Request.from_url(url, local_ip=default_local_ip(request.port))
        decision = router.route(request)
        actual = actual_from_decision(decision)
        expect: dict[str, Any] = {}
        if actual.server_name or actual.vhost_id:
            expect["vhost"] = actual.server_name or actual.vhost_id
        expect["kind"] = actual.kind
        if actual.status is not None:
            expect["status"] = actual.status
        if actual.target is not None:
            expect["target"] = actual.target
        entry: dict[str, Any] = {"name": f"{url} -> {actual.kind}", "url": url, "expect": expect}
        if not decision.certain:
            entry["name"] += " (uncertain: review)"
        cases.append(entry)
    header = "# Generated by `vhostguard test --generate`: today's routing. Review every case before committing.\n"
    return header + yaml.safe_dump({"cases": cases}, sort_keys=False, allow_unicode=True, width=120)

"""Routing expectations: "this URL must reach that vhost and that backend".

An expectations file (YAML, CONTRACT.md ``vhostguard test``) lists cases; each
is routed offline (or sent to a sandboxed apache2) and compared field by field
with what the team expects.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from vhostguard.routing import DEFAULT_REMOTE_IP, Decision, Request, RequestError, Router

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


@dataclass(frozen=True)
class CaseResult:
    case: Case
    actual: Actual
    mismatches: tuple[Mismatch, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return not self.mismatches


def _mapping_lines(node: yaml.Node) -> Any:
    """Plain data from a composed YAML node (keeps line numbers out of the data)."""
    return yaml.safe_load(yaml.serialize(node))


def load_expectations(path: str) -> Expectations:
    """Read and validate an expectations file; raise ExpectationError naming file:line."""
    try:
        with open(path, encoding="utf-8") as handle:
            root = yaml.compose(handle)
    except FileNotFoundError:
        raise ExpectationError(f"{path}: no such expectations file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExpectationError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        raise ExpectationError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(root, yaml.MappingNode):
        raise ExpectationError(f"{path}:1: expected a mapping with 'cases:'")
    top = {key.value: value for key, value in root.value}
    config = top.get("config")
    config_path = None
    if config is not None:
        config_path = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), str(config.value)))
    cases_node = top.get("cases")
    if not isinstance(cases_node, yaml.SequenceNode) or not cases_node.value:
        line = (cases_node.start_mark.line + 1) if cases_node is not None else 1
        raise ExpectationError(f"{path}:{line}: 'cases' must be a non-empty list")
    cases = tuple(_case(path, index, node) for index, node in enumerate(cases_node.value, 1))
    return Expectations(os.path.abspath(path), config_path, cases)


def _case(path: str, index: int, node: yaml.Node) -> Case:
    line = node.start_mark.line + 1
    where = f"{path}:{line}"
    if not isinstance(node, yaml.MappingNode):
        raise ExpectationError(f"{where}: each case must be a mapping with 'url' and 'expect'")
    data = _mapping_lines(node)
    unknown = set(data) - CASE_KEYS
    if unknown:
        raise ExpectationError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; use {', '.join(sorted(CASE_KEYS))}")
    if not isinstance(data.get("url"), str):
        raise ExpectationError(f"{where}: 'url' is required (http://host/path)")
    expect = data.get("expect") or {}
    if not isinstance(expect, dict) or not expect or set(expect) - set(EXPECT_KEYS):
        raise ExpectationError(f"{where}: 'expect' must map some of {', '.join(EXPECT_KEYS)} to values")
    headers = data.get("headers") or {}
    if not isinstance(headers, dict):
        raise ExpectationError(f"{where}: 'headers' must be a mapping of header names to values")
    case = Case(
        name=str(data.get("name") or data["url"]), url=data["url"], expect=expect, line=line,
        local_ip=data.get("local_ip"), remote_ip=str(data.get("remote_ip") or DEFAULT_REMOTE_IP),
        method=str(data.get("method") or "GET").upper(),
        headers=tuple((str(k), str(v)) for k, v in headers.items()), no_host=bool(data.get("no_host")),
    )
    try:
        case.request()
    except RequestError as problem:
        raise ExpectationError(f"{where}: {problem}") from None
    return case


def actual_from_decision(decision: Decision) -> Actual:
    outcome = decision.outcome
    status = outcome.status if outcome.status is not None else (200 if outcome.kind == "proxy" else None)
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
            ok = actual.status == int(wanted)
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
        actual = Actual(vhost_id, result.server_name, view.kind, view.status if view.status is not None else result.status,
                        view.target, unobservable=hidden)
        results.append(check(case, actual))
    return results


def common_routes(requests: Iterable[Request], top: int) -> list[str]:
    """The URL of the first request seen for each of the ``top`` most frequent routes,
    a route being (Host, method-less endpoint template) — ids in paths do not split it."""
    from vhostguard.logs.endpoints import auto_template

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
        expect: dict[str, Any] = {"vhost": actual.server_name, "kind": actual.kind}
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

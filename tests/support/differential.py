"""The differential harness: configs routed offline and by the real apache2 in a sandbox.

A test module declares ``SCENARIOS`` (a config body and the requests to send it),
then uses ``parametrize_cases`` and the ``running_scenarios`` context manager:
each served file contains ``FILE:<its own path>`` so a 200 from httpd names the
file it served; backends are recording stubs, so a proxied request names the
backend URL httpd asked for. An uncertain offline answer counts as a miss unless
the case declares ``uncertain`` (a reason that must appear in the offline
answer's reasons: the behaviour truly depends on something outside the config).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from vhostguard.checks import compare
from vhostguard.config import LoadOptions, load
from vhostguard.live import LiveResult, Sandbox
from vhostguard.model import build_model
from vhostguard.routing import Request, Router

MODULES = (
    "mpm_event", "authz_core", "authz_host", "authn_core", "authn_file", "authz_user", "auth_basic", "alias", "rewrite", "proxy",
    "proxy_http", "dir", "autoindex", "status", "mime", "slotmem_shm", "lbmethod_byrequests", "proxy_balancer",
)


@dataclass(frozen=True)
class Case:
    url: str
    local_ip: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    no_host: bool = False
    remote_ip: str = "127.0.0.1"
    uncertain: str = ""  # the offline answer must be uncertain, naming this reason


@dataclass(frozen=True)
class Scenario:
    name: str
    body: str
    cases: tuple[Case, ...]
    files: tuple[str, ...] = ()
    dirs: tuple[str, ...] = ()
    listen: tuple[str, ...] = ("80",)
    modules: tuple[str, ...] = ()  # loaded after MODULES (e.g. "cgid", "proxy_wstunnel")
    # name -> content, written verbatim (after @ROOT@ substitution): .htaccess files, scripts.
    contents: tuple[tuple[str, str], ...] = ()
    executables: tuple[str, ...] = ()  # files made mode 0755 (CGI scripts)
    source: str = ""  # where the real-world pattern comes from (URL or document)


def C(url: str, **kw: Any) -> Case:
    return Case(url, **kw)


SITE = """
<VirtualHost *:80>
  ServerName default.test
  DocumentRoot @ROOT@/default
</VirtualHost>
<VirtualHost *:80>
  ServerName a.test
  ServerAlias alias-a.test *.wild-a.test
  DocumentRoot @ROOT@/a
{body}
</VirtualHost>
"""


def site(body: str) -> str:
    """A default vhost, then ``a.test`` (DocumentRoot @ROOT@/a) with ``body`` inside it."""
    return SITE.replace("{body}", body)


def case_id(scenario: Scenario, case: Case) -> str:
    extra = (f"@{case.local_ip}" if case.local_ip else "") + ("-nohost" if case.no_host else "")
    extra += f"-{case.headers[0][1]}" if case.headers else ""
    return f"{scenario.name}:{case.url}{extra}"


def parametrize_cases(scenarios: Sequence[Scenario]) -> Any:
    """``@parametrize_cases(SCENARIOS)`` over every (scenario, case) pair."""
    pairs = [(scenario, case) for scenario in scenarios for case in scenario.cases]
    return pytest.mark.parametrize(("scenario", "case"), pairs, ids=[case_id(s, c) for s, c in pairs])


def _preamble(root: Path, scenario: Scenario) -> str:
    lines = ["ServerName main.test", f"DocumentRoot {root}/main", "<Directory />", "  Require all denied", "</Directory>",
             f"<Directory {root}/main>", "  Require all granted", "</Directory>"]
    lines += [f"LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so" for m in MODULES + scenario.modules]
    lines += [f"Listen {item}" for item in scenario.listen]
    lines += ["TypesConfig /etc/mime.types", "LogLevel warn"]
    return "\n".join(lines) + "\n"


def build(scenario: Scenario, root: Path) -> Path:
    """Write the scenario's files and config under ``root``; return the main config file."""
    for relative in scenario.files:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"FILE:{path}\n")
    for relative in scenario.dirs:
        (root / relative).mkdir(parents=True, exist_ok=True)
    for relative, content in scenario.contents:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content.replace("@ROOT@", str(root)))
    for name in ("main", "a", "default"):
        (root / name).mkdir(exist_ok=True)
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for filename in filenames:
            os.chmod(os.path.join(dirpath, filename), 0o644)
    for relative in scenario.executables:
        os.chmod(root / relative, 0o755)
    conf = root / "apache2.conf"
    conf.write_text(_preamble(root, scenario) + scenario.body.replace("@ROOT@", str(root)))
    return conf


@dataclass
class Running:
    router: Router
    sandbox: Sandbox
    root: Path
    results: dict[Case, LiveResult] = field(default_factory=dict)


@contextmanager
def running_scenarios(scenarios: Sequence[Scenario], prefix: str = "vg-diff") -> Iterator[dict[str, Running]]:
    """Start one sandboxed apache2 per scenario (stopped and removed on exit)."""
    started: dict[str, Running] = {}
    roots: list[Path] = []
    try:
        for scenario in scenarios:
            root = Path(tempfile.mkdtemp(prefix=f"{prefix}-{scenario.name}-", dir="/tmp"))
            roots.append(root)
            conf = build(scenario, root)
            tree = load(str(conf), LoadOptions(environ={}, env_file=""))
            assert tree.errors == (), tree.errors
            sandbox = Sandbox(str(conf), env_file="").start()
            started[scenario.name] = Running(Router(build_model(tree)), sandbox, root)
        yield started
    finally:
        for item in started.values():
            item.sandbox.stop()
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)


def offline_request(case: Case) -> Request:
    return Request.from_url(case.url, local_ip=case.local_ip, headers=case.headers, no_host=case.no_host,
                            remote_ip=case.remote_ip)


def live_result(run: Running, case: Case) -> LiveResult:
    return run.sandbox.request(case.url, local_ip=case.local_ip, headers=case.headers, no_host=case.no_host,
                               http10=case.no_host)


def assert_offline_equals_live(run: Running, case: Case) -> None:
    """The offline answer is certain and agrees with apache2 (or is uncertain for the declared reason)."""
    decision = run.router.route(offline_request(case))
    if case.uncertain:
        assert not decision.certain, f"{case.url}: expected uncertain ({case.uncertain})"
        assert any(case.uncertain in reason for reason in decision.uncertain_reasons), decision.uncertain_reasons
        return
    live = live_result(run, case)
    assert decision.certain, f"uncertain offline answer counts as a miss: {decision.uncertain_reasons}"
    verdict = compare(decision, live)
    assert verdict.live.kind != "handler" or verdict.live.target, "a 200 the test cannot identify proves nothing"
    assert verdict.agree, f"{case.url}: " + "; ".join(verdict.differences())


def differential_tests(scenarios: Sequence[Scenario], prefix: str = "vg-diff") -> tuple[Any, Any]:
    """The module fixture and the parametrized test of a differential module:
    ``running, test_offline_equals_live = differential_tests(SCENARIOS, "vg-name")``."""

    @pytest.fixture(scope="module")
    def running() -> Iterator[dict[str, Running]]:
        with running_scenarios(scenarios, prefix) as started:
            yield started

    @parametrize_cases(scenarios)
    def test_offline_equals_live(running: dict[str, Running], scenario: Scenario, case: Case) -> None:
        assert_offline_equals_live(running[scenario.name], case)

    return running, test_offline_equals_live

"""pytest plugin: every ``vhostguard*.yaml`` expectations file becomes test items.

Registered through the ``pytest11`` entry point, so ``pytest`` in a config
repository runs the routing expectations like any other test. Offline by
default; ``--vhostguard-live`` runs them against a sandboxed apache2.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vhostguard.checks.expectations import (
    Case, CaseResult, ExpectationError, load_expectations, run_live, run_offline, shown,
)
from vhostguard.config import LoadOptions, load
from vhostguard.model import build_model
from vhostguard.routing import Router


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vhostguard")
    group.addoption("--vhostguard-live", action="store_true", help="run vhostguard*.yaml cases against a sandboxed apache2")


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and fnmatch.fnmatch(file_path.name, "vhostguard*.y*ml"):
        return ExpectationsFile.from_parent(parent, path=file_path)
    return None


class VhostguardFailure(Exception):
    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.case.name)
        self.result = result


class ExpectationsFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            spec = load_expectations(str(self.path))
        except ExpectationError as problem:
            raise self.CollectError(str(problem)) from None
        if spec.config is None:
            raise self.CollectError(f"{self.path}: add 'config: path/to/apache2.conf' to run it under pytest")
        self._spec = spec
        self._results: dict[int, CaseResult] | None = None
        for case in spec.cases:
            yield ExpectationItem.from_parent(self, name=case.name, case=case)

    def results(self) -> dict[int, CaseResult]:
        """Route all cases once (one model, one sandbox for --vhostguard-live)."""
        if self._results is None:
            spec = self._spec
            assert spec.config is not None
            if self.config.getoption("vhostguard_live"):
                from vhostguard.live import Sandbox

                with Sandbox(spec.config) as sandbox:
                    outcome = run_live(sandbox, spec.cases)
            else:
                model = build_model(load(spec.config, LoadOptions()))
                outcome = run_offline(Router(model), spec.cases)
            self._results = {id(r.case): r for r in outcome}
        return self._results


class ExpectationItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        parent = self.parent
        assert isinstance(parent, ExpectationsFile)
        result = parent.results()[id(self.case)]
        if not result.passed:
            raise VhostguardFailure(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, VhostguardFailure):
            result = excinfo.value.result
            lines = [f"{self.case.method} {self.case.url}"]
            for mismatch in result.mismatches:
                lines.append(f"  - expected {mismatch.field}: {shown(mismatch.expected)}")
                lines.append(f"  + actual   {mismatch.field}: {shown(mismatch.actual)}")
            return "\n".join(lines)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.line - 1, f"vhostguard: {self.case.name}"

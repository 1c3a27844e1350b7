"""A doctor check: a name and a function from the context to its result."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vhostguard.diagnose.context import DoctorContext
from vhostguard.diagnose.findings import CheckResult, Finding


@dataclass(frozen=True)
class Check:
    name: str  # as docs/contract.md's checks[].name
    run: Callable[[DoctorContext], CheckResult]


def result(name: str, findings: list[Finding], detail: str) -> CheckResult:
    """``problem`` when anything was found, else ``ok``."""
    return CheckResult(name, "problem" if findings else "ok", detail, tuple(findings))


def skipped(name: str, why: str) -> CheckResult:
    return CheckResult(name, "skipped", why)

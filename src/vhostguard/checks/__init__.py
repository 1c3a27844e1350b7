"""checks/: verdicts that combine stages — offline decisions against the real server,
routing expectations, and config diffs.

The modules are imported on first use (PEP 562): ``diff`` needs the replay and the diff
only, not the live comparison (which imports the live sandbox, ssl, http) nor the
expectations (yaml), ~0.1 s of its start-up.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vhostguard.checks.diff import DiffResult, Group, Side, allowed, load_allowances
    from vhostguard.checks.diff import replay as replay_diff
    from vhostguard.checks.expectations import (
        CaseResult, ExpectationError, Expectations, common_routes, generate_expectations, load_expectations, run_live,
        run_offline, shown,
    )
    from vhostguard.checks.live_compare import Comparison, OutcomeView, compare, live_view, offline_view
    from vhostguard.checks.replay import ReplayError, ReplayStats, job_requests, plan_jobs

# public name -> (the module of this package that defines it, its name there)
_WHERE: dict[str, tuple[str, str]] = {
    **{name: ("diff", name) for name in ("DiffResult", "Group", "Side", "allowed", "load_allowances")},
    "replay_diff": ("diff", "replay"),
    **{name: ("expectations", name) for name in (
        "CaseResult", "ExpectationError", "Expectations", "common_routes", "generate_expectations",
        "load_expectations", "run_live", "run_offline", "shown")},
    **{name: ("live_compare", name) for name in ("Comparison", "OutcomeView", "compare", "live_view", "offline_view")},
    **{name: ("replay", name) for name in ("ReplayError", "ReplayStats", "job_requests", "plan_jobs")},
}

__all__ = [
    "CaseResult",
    "Comparison",
    "DiffResult",
    "ExpectationError",
    "Expectations",
    "Group",
    "OutcomeView",
    "ReplayError",
    "ReplayStats",
    "Side",
    "allowed",
    "common_routes",
    "compare",
    "generate_expectations",
    "job_requests",
    "live_view",
    "load_allowances",
    "load_expectations",
    "offline_view",
    "plan_jobs",
    "replay_diff",
    "run_live",
    "run_offline",
    "shown",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where[0]}"), where[1])
    globals()[name] = value  # later lookups skip this function
    return value

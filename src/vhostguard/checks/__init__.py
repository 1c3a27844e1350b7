"""checks/: verdicts that combine stages — offline decisions against the real server,
routing expectations, and config diffs."""
from __future__ import annotations

from vhostguard.checks.live_compare import Comparison, OutcomeView, compare, live_view, offline_view

from vhostguard.checks.diff import DiffResult, Group, Side, allowed, load_allowances
from vhostguard.checks.diff import replay as replay_diff
from vhostguard.checks.expectations import CaseResult, ExpectationError, Expectations, common_routes, generate_expectations, load_expectations, run_live, run_offline, shown
from vhostguard.checks.replay import ReplayError, ReplayStats, job_requests, plan_jobs

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

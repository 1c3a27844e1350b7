"""checks/: verdicts that combine stages — offline decisions against the real server,
routing expectations, and config diffs."""
from __future__ import annotations

from vhostguard.checks.live_compare import Comparison, OutcomeView, compare, live_view, offline_view

__all__ = ["Comparison", "OutcomeView", "compare", "live_view", "offline_view"]

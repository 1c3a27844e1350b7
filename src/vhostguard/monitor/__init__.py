"""monitor/: aggregates of access-log rows: the report's analysis, and the rolling windows and alerts of ``watch``."""
from __future__ import annotations

from vhostguard.monitor.aggregate import (
    AggregateOptions, Analysis, BurstRule, EndpointSummary, ErrorBurst, Latency, LogSource, SeriesPoint,
    TimelinePoint, analyse, utc_iso,
)
from vhostguard.monitor.errorlog import ErrorEntry, ErrorLogTarget, find_error_logs, parse_error_line
from vhostguard.monitor.sketch import QuantileSketch

__all__ = [
    "AggregateOptions", "Analysis", "BurstRule", "EndpointSummary", "ErrorBurst", "Latency", "LogSource",
    "QuantileSketch", "SeriesPoint", "TimelinePoint", "analyse", "utc_iso",
    "ErrorEntry", "ErrorLogTarget", "find_error_logs", "parse_error_line",
]

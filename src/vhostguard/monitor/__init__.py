"""monitor/: aggregates of access-log records (reports now; rolling windows and alerts for ``watch``)."""
from __future__ import annotations

from vhostguard.monitor.aggregate import (
    AggregateOptions, Analysis, BurstRule, EndpointSummary, ErrorBurst, Latency, LogSource, SeriesPoint,
    TimelinePoint, analyse, utc_iso,
)
from vhostguard.monitor.sketch import QuantileSketch

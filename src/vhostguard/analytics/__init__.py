"""analytics/: the engine of ``report``: per-endpoint aggregates of access logs, exact and mergeable.

Public surface:

* ``analyse(sources, options) -> Analysis``: ``LogSource`` files (their LogFormats resolved by
  ``logs``) aggregated per vhost × method × endpoint (``AggregateOptions``, ``BurstRule``);
* the result types: ``Analysis``, ``EndpointSummary``, ``Latency``, ``SeriesPoint``,
  ``TimelinePoint``, ``ErrorBurst``; ``histogram_quantile`` reads a series point's durations,
  ``utc_iso`` writes its times;
* ``QuantileSketch``: the mergeable latency sketch (relative accuracy);
* the host-moved view (``Analysis.hosts``): ``HostView``, ``HostMapping``, ``HostChange``; the
  log-side helpers ``host_column``, ``host_header_name``, ``host_name`` (shared with ``monitor``);
* ``METHODS``: the method names reported as themselves (others are ``{other}``), shared with ``watch``.
"""
from __future__ import annotations

from vhostguard.analytics.aggregate import (
    METHODS, AggregateOptions, Analysis, BurstRule, EndpointSummary, ErrorBurst, Latency, LogSource, SeriesPoint,
    TimelinePoint, analyse, histogram_quantile, utc_iso,
)
from vhostguard.analytics.hosts import (
    CANONICAL, HOST_HEADER, HostChange, HostMapping, HostView, host_column, host_header_name, host_name,
)
from vhostguard.analytics.sketch import QuantileSketch

__all__ = [
    "CANONICAL",
    "HOST_HEADER",
    "METHODS",
    "AggregateOptions",
    "Analysis",
    "BurstRule",
    "EndpointSummary",
    "ErrorBurst",
    "HostChange",
    "HostMapping",
    "HostView",
    "Latency",
    "LogSource",
    "QuantileSketch",
    "SeriesPoint",
    "TimelinePoint",
    "analyse",
    "histogram_quantile",
    "host_column",
    "host_header_name",
    "host_name",
    "utc_iso",
]

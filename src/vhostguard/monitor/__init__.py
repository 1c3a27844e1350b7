"""monitor/: ``watch``: tailing, rolling windows, alert rules, sinks and the Prometheus exporter (``report``'s engine is analytics/)."""
from __future__ import annotations

from vhostguard.monitor.errorlog import ErrorEntry, ErrorLogTarget, find_error_logs, parse_error_line
from vhostguard.monitor.ingest import Labeler

from vhostguard.monitor.alerts import FIRING, Alert
from vhostguard.monitor.clock import SystemClock
from vhostguard.monitor.exporter import DEFAULT_METRICS_ADDR, MetricsServer, WatchMetrics, parse_addr, registry_for
from vhostguard.monitor.rules import DEFAULT_RULES_YAML, Rules, RulesError, load_rules
from vhostguard.monitor.rules import Evaluator
from vhostguard.monitor.windows import Windows
from vhostguard.monitor.sinks import AlertmanagerSink, JsonLinesSink, Sink, TerminalSink, WebhookSink
from vhostguard.monitor.state import StateError, default_state_dir
from vhostguard.logs import printable
from vhostguard.monitor.watch import AccessLog, Watch, WatchOptions
from vhostguard.monitor.hosts import ConfigSource, HostMove, HostNames, PlannedMove, Routed, moved_hosts
from vhostguard.monitor.hosts import config_moves, host_column, usual_vhosts, where_now
from vhostguard.monitor.rules import host_moves

__all__ = [
    "DEFAULT_METRICS_ADDR",
    "DEFAULT_RULES_YAML",
    "FIRING",
    "AccessLog",
    "Alert",
    "AlertmanagerSink",
    "ConfigSource",
    "ErrorEntry",
    "ErrorLogTarget",
    "Evaluator",
    "HostMove",
    "HostNames",
    "JsonLinesSink",
    "Labeler",
    "MetricsServer",
    "PlannedMove",
    "Routed",
    "Rules",
    "RulesError",
    "Sink",
    "StateError",
    "SystemClock",
    "TerminalSink",
    "Watch",
    "WatchMetrics",
    "WatchOptions",
    "WebhookSink",
    "Windows",
    "config_moves",
    "default_state_dir",
    "find_error_logs",
    "host_column",
    "host_moves",
    "load_rules",
    "moved_hosts",
    "parse_addr",
    "parse_error_line",
    "printable",
    "registry_for",
    "usual_vhosts",
    "where_now",
]

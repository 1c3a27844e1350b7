"""VG5xx observability: logs that cannot tell vhosts apart, lack latency or the Host, or are missing.

One module per rule (``vgNNN_rule_name.py``, documentation in the class
docstring); ``RULES`` lists them explicitly, in code order.
"""
from __future__ import annotations

from vhostguard.lint.core import Rule
from vhostguard.lint.rules.observability.vg501_vhost_without_own_log import VhostWithoutOwnLog
from vhostguard.lint.rules.observability.vg502_logformat_without_duration import LogFormatWithoutDuration
from vhostguard.lint.rules.observability.vg503_error_log_missing import ErrorLogMissing
from vhostguard.lint.rules.observability.vg504_loglevel_verbose import LogLevelVerbose
from vhostguard.lint.rules.observability.vg505_logformat_without_host import LogFormatWithoutHost

RULES: tuple[type[Rule], ...] = (
    VhostWithoutOwnLog,
    LogFormatWithoutDuration,
    ErrorLogMissing,
    LogLevelVerbose,
    LogFormatWithoutHost,
)

"""Helpers shared by several observability rules."""
from __future__ import annotations

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext

ACCESS_LOG_KEYS = ("customlog", "transferlog", "globallog")
COMMON_FORMAT = '%h %l %u %t "%r" %>s %b'  # mod_log_config's default for TransferLog
# The access-log format vhostguard recommends (VG505, `vhostguard logformat`): vhost_combined plus
# the Host asked for (%{Host}i: watch's host-moved), the time taken (%D, microseconds: the latency
# rules) and the error-log id of the request (%L: joins it to its error-log lines).
RECOMMENDED_LOGFORMAT = '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" "%{Host}i" %D %L'
RECOMMENDED_NICKNAME = "vhostguard"


class AccessLogFormats:
    """The LogFormat definitions of one configuration, read once (a rule asks
    for every CustomLog; re-reading the tree each time made lint quadratic)."""

    def __init__(self, ctx: LintContext) -> None:
        self._nicknames: dict[str, Directive] = {}  # nickname -> its (last) definition
        self._default = COMMON_FORMAT  # what TransferLog uses: the last LogFormat without a nickname
        for node in ctx.nodes_named("logformat"):
            if len(node.args) >= 2:
                self._nicknames[node.args[1]] = node
            elif len(node.args) == 1:
                self._default = node.args[0]

    def of(self, node: Directive) -> tuple[str, Directive | None]:
        """The format string a CustomLog/TransferLog/GlobalLog writes, and the LogFormat defining it."""
        if node.key == "transferlog" or len(node.args) < 2:
            return self._default, None
        named = self._nicknames.get(node.args[1])
        if named is not None:
            return named.args[0], named
        return node.args[1], None

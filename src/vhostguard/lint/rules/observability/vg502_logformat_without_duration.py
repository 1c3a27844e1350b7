"""VG502 logformat-without-duration. A LogFormat in use without %D or %T: no latency in the access log."""
from __future__ import annotations

import re
from collections.abc import Iterator

from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.observability._common import ACCESS_LOG_KEYS, AccessLogFormats

_DURATION = re.compile(r"%(?:[<>]|!?[\d,]+)*(?:D|T|\{[^}]*\}T)")


class LogFormatWithoutDuration(Rule):
    """
    ## What it does
    Checks access-log formats that are in use (by nickname or written inline
    in CustomLog) for a request duration: `%D` (microseconds) or `%T` /
    `%{ms}T`.

    ## Why is this bad?
    Without the time taken, the access log cannot show latency: slow
    backends, timeouts and SLO burn go unnoticed until users complain.

    ## Example
    ```apache
    LogFormat "%h %l %u %t \\"%r\\" %>s %O" common
    CustomLog /var/log/apache2/access.log common
    ```

    ## Use instead:
    ```apache
    LogFormat "%h %l %u %t \\"%r\\" %>s %O %D" common
    CustomLog /var/log/apache2/access.log common
    ```
    """

    code = "VG502"
    name = "logformat-without-duration"
    severity = Severity.WARNING
    summary = "A LogFormat in use without %D or %T: no latency in the access log."
    hint = "Add %D (microseconds) to the LogFormat."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        reported: set[int] = set()
        formats = AccessLogFormats(ctx)
        for node in ctx.nodes_named(*ACCESS_LOG_KEYS):
            if not node.args:
                continue
            fmt, definition = formats.of(node)
            if _DURATION.search(fmt):
                continue
            where = definition or node
            if id(where) in reported:
                continue
            reported.add(id(where))
            label = f"LogFormat {definition.args[1]}" if definition is not None else f"the format of {node.name} {node.args[0]}"
            yield self.finding(where, f"{label} has no %D or %T: the access log {node.args[0]} records no request duration")

"""VG502 logformat-without-duration. A LogFormat in use without %D or %T: no latency in the access log."""
from __future__ import annotations

import re
from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.observability._common import ACCESS_LOG_KEYS, AccessLogFormats
from vhostguard.lint.waivers import is_waived, waived_along

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

    ## Known problems
    Every format without a duration is named in one finding, placed at the
    first of them (the stock formats of every distribution lack one); a
    waiver on a format's `LogFormat` line leaves that format out.
    """

    code = "VG502"
    name = "logformat-without-duration"
    severity = Severity.WARNING
    summary = "A LogFormat in use without %D or %T: no latency in the access log."
    hint = "Add %D (microseconds) to the LogFormat."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        # One finding for the whole configuration: the stock formats (Debian's
        # combined and vhost_combined, upstream's common) have no duration, so
        # a finding per format repeated the same news on every install.
        formats = AccessLogFormats(ctx)
        without: dict[int, tuple[Directive, str, list[str]]] = {}  # per format: where, its label, its logs
        for node in ctx.nodes_named(*ACCESS_LOG_KEYS):
            if not node.args:
                continue
            fmt, definition = formats.of(node)
            if _DURATION.search(fmt):
                continue
            where = definition or node
            if ctx.in_tree(where) and is_waived(self.code, waived_along(ctx.ancestry(where))):
                continue  # waived at its definition: left out of the group
            label = f"LogFormat {definition.args[1]}" if definition is not None else f"the format of {node.name} {node.args[0]}"
            without.setdefault(id(where), (where, label, []))[2].append(node.args[0])
        if not without:
            return
        groups = sorted(without.values(), key=lambda group: (group[0].source.file, group[0].source.line))
        labels = [label for _, label, _ in groups]
        logs = list(dict.fromkeys(log for _, _, paths in groups for log in paths))
        have = "has" if len(labels) == 1 else "have"
        what = "the access log" if len(logs) == 1 else "the access logs"
        record = "records" if len(logs) == 1 else "record"
        yield self.finding(groups[0][0], f"{_join(labels)} {have} no %D or %T: {what} {_join(logs)} {record} no request duration")


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]

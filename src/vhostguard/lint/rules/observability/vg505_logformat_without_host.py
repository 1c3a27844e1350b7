"""VG505 logformat-without-host. A LogFormat in use without the serving vhost (%v) and the Host asked for."""
from __future__ import annotations

import re
from collections.abc import Iterator

from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.observability._common import (
    ACCESS_LOG_KEYS, RECOMMENDED_LOGFORMAT, AccessLogFormats,
)

_VHOST = re.compile(r"%(?:[<>]|!?[\d,]+)*v")
# %{Host}i (header names are case-insensitive), or %V: the Host under UseCanonicalName Off.
_HOST = re.compile(r"%(?:[<>]|!?[\d,]+)*(?:\{(?i:host)\}i|V)")


class LogFormatWithoutHost(Rule):
    """
    ## What it does
    Checks access-log formats that are in use for both the vhost that served
    each request (`%v`) and the Host the client asked for (`%{Host}i`, or
    `%V` under `UseCanonicalName Off`).

    ## Why is this bad?
    A misrouted request very often answers 200: a wildcard `ServerAlias` or a
    catch-all vhost captures the API's Host and serves a landing page. Only a
    log that has both names shows a Host served by another vhost than usual
    (`vhostguard watch`'s `host-moved` rule); error-rate alerts never fire.

    ## Example
    ```apache
    LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\"" combined
    CustomLog /var/log/apache2/access.log combined
    ```

    ## Use instead:
    ```apache
    LogFormat "%v:%p %h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\" \\"%{Host}i\\" %D %L" vhostguard
    CustomLog /var/log/apache2/access.log vhostguard
    ```

    ## References
    `vhostguard logformat` prints this format with the lines to install it on
    Debian and RHEL layouts.
    """

    code = "VG505"
    name = "logformat-without-host"
    severity = Severity.INFO
    summary = "A LogFormat in use without both %v and %{Host}i: a Host served by the wrong vhost cannot be seen."
    hint = f"Log {RECOMMENDED_LOGFORMAT} (`vhostguard logformat` prints it for your layout)."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        reported: set[int] = set()
        formats = AccessLogFormats(ctx)
        for node in ctx.nodes_named(*ACCESS_LOG_KEYS):
            if not node.args:
                continue
            fmt, definition = formats.of(node)
            missing = [name for name, pattern in (("%v", _VHOST), ("%{Host}i", _HOST)) if not pattern.search(fmt)]
            if not missing:
                continue
            where = definition or node
            if id(where) in reported:
                continue
            reported.add(id(where))
            label = f"LogFormat {definition.args[1]}" if definition is not None else f"the format of {node.name} {node.args[0]}"
            yield self.finding(where, f"{label} has no {' and no '.join(missing)}: the access log {node.args[0]} "
                                      "cannot show a Host served by another vhost than usual")

"""VG5xx observability: logs that cannot tell vhosts apart, lack latency, or are missing."""
from __future__ import annotations

import re
from collections.abc import Iterator

from vhostguard.config.nodes import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.model import Server

ACCESS_LOG_KEYS = ("customlog", "transferlog", "globallog")
COMMON_FORMAT = '%h %l %u %t "%r" %>s %b'  # mod_log_config's default for TransferLog
_DURATION = re.compile(r"%(?:[<>]|!?[\d,]+)*(?:D|T|\{[^}]*\}T)")
_VHOST = re.compile(r"%(?:[<>]|!?[\d,]+)*[vV]")
_VERBOSE = re.compile(r"^(info|debug|trace[1-8])$", re.IGNORECASE)


def _nicknames(ctx: LintContext) -> dict[str, Directive]:
    """LogFormat nickname -> its (last) definition, over the whole configuration."""
    found: dict[str, Directive] = {}
    for node in ctx.tree.walk():
        if node.key == "logformat" and len(node.args) >= 2:
            found[node.args[1]] = node
    return found


def _default_format(ctx: LintContext) -> str:
    """The format TransferLog uses: the last LogFormat without a nickname."""
    fmt = COMMON_FORMAT
    for node in ctx.tree.walk():
        if node.key == "logformat" and len(node.args) == 1:
            fmt = node.args[0]
    return fmt


def access_log_format(node: Directive, ctx: LintContext) -> tuple[str, Directive | None]:
    """The format string a CustomLog/TransferLog/GlobalLog writes, and the LogFormat defining it."""
    if node.key == "transferlog" or len(node.args) < 2:
        return _default_format(ctx), None
    named = _nicknames(ctx).get(node.args[1])
    if named is not None:
        return named.args[0], named
    return node.args[1], None


def _access_logs(server: Server) -> list[Directive]:
    return [d for d in server.directives if d.children is None and d.key in ACCESS_LOG_KEYS]


class VhostWithoutOwnLog(Rule):
    """
    ## What it does
    Checks for vhosts without a CustomLog of their own whose requests end up
    in the main server's log without `%v` (or in no access log at all).

    ## Why is this bad?
    When several vhosts write one log without the vhost name, nobody can tell
    which site a request (or an error spike) belongs to; without any access
    log the vhost's traffic is invisible.

    ## Example
    ```apache
    LogFormat "%h %l %u %t \\"%r\\" %>s %b %D" common
    CustomLog /var/log/apache2/access.log common
    <VirtualHost *:80>
        ServerName www.example.com
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    LogFormat "%v %h %l %u %t \\"%r\\" %>s %b %D" vhost_common
    CustomLog /var/log/apache2/access.log vhost_common
    <VirtualHost *:80>
        ServerName www.example.com
    </VirtualHost>
    ```
    """

    code = "VG501"
    name = "vhost-without-own-log"
    severity = Severity.WARNING
    summary = "A vhost without its own CustomLog, logged in a shared format without %v."
    hint = "Give the vhost its own CustomLog, or add %v to the shared LogFormat."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        shared = _access_logs(ctx.main)
        for server in ctx.model.vhosts:
            node = ctx.vhost_node(server)
            if node is None or any(d.key != "globallog" for d in _access_logs(server)):
                continue
            inherited = shared + [d for d in _access_logs(server) if d.key == "globallog"]
            if not inherited:
                yield self.finding(node, f"vhost {server.server_name} has no CustomLog and the main server has none: its requests are not logged")
                continue
            if not any(_VHOST.search(access_log_format(log, ctx)[0]) for log in inherited):
                logs = ", ".join(f"{log.name} {log.args[0] if log.args else ''}" for log in inherited)
                yield self.finding(node, f"vhost {server.server_name} has no CustomLog of its own and the shared log ({logs}) has no %v")


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
        for node in ctx.tree.walk():
            if node.key not in ACCESS_LOG_KEYS or not node.args:
                continue
            fmt, definition = access_log_format(node, ctx)
            if _DURATION.search(fmt):
                continue
            where = definition or node
            if id(where) in reported:
                continue
            reported.add(id(where))
            label = f"LogFormat {definition.args[1]}" if definition is not None else f"the format of {node.name} {node.args[0]}"
            yield self.finding(where, f"{label} has no %D or %T: the access log {node.args[0]} records no request duration")


class ErrorLogMissing(Rule):
    """
    ## What it does
    Checks that the main server sets `ErrorLog`.

    ## Why is this bad?
    httpd then writes to its compiled-in default (`logs/error_log` under
    ServerRoot), which on packaged servers is usually not where anybody looks
    or rotates, or does not exist so that httpd cannot start.

    ## Example
    ```apache
    ServerRoot /etc/apache2
    Listen 80
    ```

    ## Use instead:
    ```apache
    ServerRoot /etc/apache2
    Listen 80
    ErrorLog /var/log/apache2/error.log
    ```
    """

    code = "VG503"
    name = "error-log-missing"
    severity = Severity.WARNING
    summary = "No ErrorLog in the main server."
    hint = "Set ErrorLog in the main server configuration."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        if ctx.own(ctx.main, "errorlog") or not ctx.tree.nodes:
            return
        anchor = next((n for n in ctx.tree.nodes if n.source.file == ctx.tree.main_file), ctx.tree.nodes[0])
        yield self.finding(anchor, f"the main server has no ErrorLog: errors go to {ctx.path('logs/error_log')}")


class LogLevelVerbose(Rule):
    """
    ## What it does
    Checks for a `LogLevel` whose default level is more verbose than `warn`
    in the way that matters: `info`, `debug` or `trace1`..`trace8`.

    ## Why is this bad?
    Verbose levels fill disks quickly under load and bury real errors;
    `trace` levels log request data, headers included.

    ## Example
    ```apache
    LogLevel debug
    ```

    ## Use instead:
    ```apache
    LogLevel warn
    # debug a single module only while investigating
    LogLevel warn rewrite:trace3
    ```
    """

    code = "VG504"
    name = "loglevel-verbose"
    severity = Severity.WARNING
    summary = "LogLevel info, debug or trace*: more verbose than warn."
    hint = "Use `LogLevel warn`, raising single modules (`mod:debug`) only while investigating."
    directives = frozenset({"loglevel"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        for word in node.args:
            if ":" not in word and _VERBOSE.match(word):
                yield self.finding(node, f"{ctx.label(ctx.owner(node))}: LogLevel {word} is more verbose than warn")


RULES: tuple[type[Rule], ...] = (VhostWithoutOwnLog, LogFormatWithoutDuration, ErrorLogMissing, LogLevelVerbose)

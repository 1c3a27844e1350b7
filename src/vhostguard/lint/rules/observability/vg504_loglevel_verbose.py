"""VG504 loglevel-verbose. LogLevel info, debug or trace*: more verbose than warn."""
from __future__ import annotations

import re
from collections.abc import Iterator

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity

_VERBOSE = re.compile(r"^(info|debug|trace[1-8])$", re.IGNORECASE)


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

"""VG205 log-directory-missing. A log file whose directory does not exist."""
from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.files._common import path_problem

LOG_KEYS = frozenset({"errorlog", "customlog", "transferlog", "globallog"})


def log_file(node: Directive) -> str | None:
    """The file a log directive writes to (None for pipes and syslog)."""
    if not node.args:
        return None
    target = node.args[0]
    if target.startswith("|") or target.lower().startswith("syslog"):
        return None
    return target


def _split(path: str) -> tuple[str, str]:
    """``os.path.split`` (POSIX) inlined: called for every log directive (issue 17.15)."""
    cut = path.rfind("/") + 1
    head, tail = path[:cut], path[cut:]
    if head and head != "/" * len(head):
        head = head.rstrip("/")
    return head, tail


def _directory_problem(ctx: LintContext, text: str) -> tuple[str, str | None]:
    directory = ctx.path(text)
    return directory, ctx.remember(("log-directory", directory), partial(path_problem, directory, directory=True))


class LogDirectoryMissing(Rule):
    """
    ## What it does
    Checks that the directory of every `ErrorLog`, `CustomLog`,
    `TransferLog` and `GlobalLog` file exists.

    ## Why is this bad?
    httpd cannot open the log and refuses to start ("could not open error log
    file" / "could not open transfer log file").

    ## Example
    ```apache
    ErrorLog /var/log/apache/error.log
    ```

    ## Use instead:
    ```apache
    ErrorLog /var/log/apache2/error.log
    ```
    """

    code = "VG205"
    name = "log-directory-missing"
    severity = Severity.ERROR
    summary = "A log file whose directory does not exist."
    hint = "Create the directory (owned by root), or fix the log path."
    directives = LOG_KEYS

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        target = log_file(node)
        if target is None:
            return
        head, tail = _split(target)
        if tail in ("", ".", ".."):
            directory = os.path.dirname(ctx.path(target))
            problem = ctx.remember(("log-directory", directory), partial(path_problem, directory, directory=True))
        else:
            # The directory of head/NAME is head's: resolved and looked at once per
            # distinct head (most log files of a configuration share a few directories).
            heads: dict[str, tuple[str, str | None]] = ctx.remember("log-heads", dict)
            found = heads.get(head)
            if found is None:
                found = heads[head] = _directory_problem(ctx, head)
            directory, problem = found
        if problem:
            why = " (an undefined ${VAR} is used literally by httpd)" if "${" in directory else ""
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: {node.name} directory {directory} {problem}{why}")

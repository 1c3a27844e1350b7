"""Helpers shared by several observability rules."""
from __future__ import annotations

from vhostguard.config.nodes import Directive
from vhostguard.lint.context import LintContext

ACCESS_LOG_KEYS = ("customlog", "transferlog", "globallog")
COMMON_FORMAT = '%h %l %u %t "%r" %>s %b'  # mod_log_config's default for TransferLog


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

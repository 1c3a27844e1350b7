"""mod_rewrite's configuration as the routing rules need it (modules/mappers/mod_rewrite.c).

- ``RewriteEngine`` outside any section sets the server's state and the
  default of its per-directory state (``cmd_rewriteengine``); a vhost
  without one takes the main server's (``config_server_merge`` merges
  ``state_set`` in 2.4), and a section without one takes its enclosing
  section's, then the server's. The last line of a level wins, wherever the
  rules are: ``RewriteEngine On`` then ``Off`` leaves the rules dead.
- A vhost's rules are its own: the main server's are appended only when the
  vhost's options (its own ``RewriteOptions``, else the main server's) say
  ``Inherit``/``InheritBefore``, or the main server's say
  ``InheritDown``/``InheritDownBefore`` and the vhost's not ``IgnoreInherit``,
  and only in a vhost holding some mod_rewrite directive (see
  ``inherits_main_rules``).
"""
from __future__ import annotations

from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.model import Server

_TRANSPARENT = frozenset({"limit", "limitexcept"})  # no configuration level of their own
_INHERITING = frozenset({"inherit", "inheritbefore"})
_INHERITING_DOWN = frozenset({"inheritdown", "inheritdownbefore"})


def enclosing(ctx: LintContext, node: Directive) -> Directive | None:
    """The level ``node`` configures: None (the main server), a <VirtualHost>, or a per-directory section."""
    parent = ctx.parent(node)
    while parent is not None and parent.key in _TRANSPARENT:
        parent = ctx.parent(parent)
    return parent


def is_on(engine: Directive | None) -> bool:
    return engine is not None and bool(engine.args) and engine.args[0].lower() == "on"


def server_engine(ctx: LintContext, server: Server) -> Directive | None:
    """The ``RewriteEngine`` line deciding ``server``'s state (None: never set, off)."""
    return ctx.effective(server, "rewriteengine")


def _last_engine(section: Directive) -> Directive | None:
    found = None
    for child in section.children or ():
        if child.key == "rewriteengine" and child.args:
            found = child
        elif child.key in _TRANSPARENT:
            found = _last_engine(child) or found
    return found


def section_engine(ctx: LintContext, section: Directive) -> tuple[Directive | None, bool]:
    """The ``RewriteEngine`` line deciding a per-directory section's state, and
    whether it was found in the section or a section enclosing it (False: the
    server's default, see ``server_engine``)."""
    level: Directive | None = section
    while level is not None and level.key != "virtualhost":
        engine = _last_engine(level)
        if engine is not None:
            return engine, True
        level = enclosing(ctx, level)
    return server_engine(ctx, ctx.owner(section)), False


def _options(ctx: LintContext, server: Server) -> frozenset[str] | None:
    nodes = ctx.own(server, "rewriteoptions")
    if not nodes:
        return None
    return frozenset(word.lower() for node in nodes for word in node.args)


REWRITE_KEYS = frozenset({"rewriteengine", "rewriteoptions", "rewritebase", "rewritecond", "rewriterule", "rewritemap"})


def inherits_main_rules(ctx: LintContext, server: Server) -> bool:
    """Are the main server's server-context rules appended to ``server``'s?

    Only for a vhost with some mod_rewrite directive of its own: httpd
    creates a module's server configuration for a vhost when one of its
    directives appears there; without one the vhost shares the main
    server's, and hook_uri2file declines (``conf->server != r->server``).
    `RewriteOptions InheritDown` in the main server alone inherits nothing
    (checked with apache2 2.4).
    """
    if server.is_main:
        return True
    if not any(node.key in REWRITE_KEYS for node in ctx.server_nodes(server)):
        return False
    main = _options(ctx, ctx.main) or frozenset()
    own = _options(ctx, server)
    effective = own if own is not None else main
    if effective & _INHERITING:
        return True
    return bool(main & _INHERITING_DOWN) and "ignoreinherit" not in effective

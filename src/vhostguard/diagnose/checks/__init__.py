"""doctor's checks, registered explicitly in the order they run.

Each check is one module with ``CHECK = Check(name, run)``; ``run(ctx)``
returns a ``CheckResult`` with its findings. A new check is one module and
one line here. logs runs before routing: the failing requests it finds are routed too.
"""
from __future__ import annotations

from vhostguard.diagnose.checks import backends, config, listeners, logs, routing, server
from vhostguard.diagnose.checks.base import Check

CHECKS: tuple[Check, ...] = (config.CHECK, server.CHECK, listeners.CHECK, backends.CHECK, logs.CHECK, routing.CHECK)

__all__ = ["CHECKS", "Check"]

"""doctor's checks, registered explicitly in the order they run.

Each check is one module with ``CHECK = Check(name, run)``; ``run(ctx)``
returns a ``CheckResult`` with its findings. A new check is one module and
one line here (the logs and routing checks of docs/contract.md come next).
"""
from __future__ import annotations

from vhostguard.diagnose.checks import backends, config, listeners, server
from vhostguard.diagnose.checks.base import Check

CHECKS: tuple[Check, ...] = (config.CHECK, server.CHECK, listeners.CHECK, backends.CHECK)

__all__ = ["CHECKS", "Check"]

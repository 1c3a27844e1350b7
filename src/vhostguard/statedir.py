"""Where vhostguard keeps what outlives one run: the deploy journal, kept configs, the event store.

One directory for all of them, so that ``deploy``, ``watch``, ``doctor`` and ``postmortem`` run by the
same user meet in it: ``$VHOSTGUARD_STATE_DIR``; else ``/var/lib/vhostguard`` for root (who deploys
/etc/apache2 and runs the service); else the user's XDG state directory (what a user runs stays the
user's).
"""
from __future__ import annotations

import os
from collections.abc import Mapping

SYSTEM_STATE_DIR = "/var/lib/vhostguard"


def default_state_dir(environ: Mapping[str, str] | None = None, euid: int | None = None) -> str:
    env = os.environ if environ is None else environ
    if env.get("VHOSTGUARD_STATE_DIR"):
        return env["VHOSTGUARD_STATE_DIR"]
    if (os.geteuid() if euid is None else euid) == 0:
        return SYSTEM_STATE_DIR
    base = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "vhostguard")

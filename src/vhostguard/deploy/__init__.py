"""deploy/: changing the live config safely (issue 12). This layer: slots, lock, journal, recovery.

Public surface: ``inspect(live_dir) -> Layout``; ``convert``, ``prepare_idle``, ``switch`` (each
returns the ``Step``s it did, or with ``dry_run`` would do; a ``StepLog`` such as
``Journal.recorder(id)`` is told each step's intent before it and its result after);
``content_hash(tree)``; ``links_through_live(tree, live_dir)`` (absolute links a slot cannot
contain); ``DeployLock(state_dir, id)`` (raises ``LockHeld``); ``Journal(state_dir)``
with ``begin``/``finish``/``history``/``unfinished``; ``recover(live_dir, journal) -> Recovery``.
Gates (deploy/gates.py): ``static_gates(GatePlan) -> list[GateResult]`` (load, lint, expectations,
sandbox, diff; raises ``GateError`` for bad input) and ``syntax_gate(plan, slot_dir) -> GateResult``.
``ServerControl`` (how to reach the running server); ``choose_reload``, ``reload_and_wait -> ReloadResult``
(raises ``ReloadError``); ``take_baseline -> Baseline`` and ``verify -> VerifyResult`` (``VerifyFailure``s).
"""
from __future__ import annotations

from vhostguard.deploy.gates import GateError, GateName, GatePlan, GateResult, GateStatus, static_gates, syntax_gate
from vhostguard.deploy.journal import (
    DeployRecord, Journal, JournalError, StepRecord, StepRecorder, new_deploy_id,
)
from vhostguard.deploy.lock import DeployLock, Holder, LockHeld
from vhostguard.deploy.recovery import Recovery, recover
from vhostguard.deploy.run import (
    DeployError, DeployRequest, RollbackRequest, ServerOptions, default_deploy_state, deploy, history, rollback,
)
from vhostguard.deploy.server import ReloadError, ReloadResult, ServerControl, choose_reload, reload_and_wait
from vhostguard.deploy.verify import Baseline, VerifyFailure, VerifyResult, take_baseline, verify
from vhostguard.deploy.slots import (
    CRASH_ENV, SLOTS, Layout, Slot, SlotError, Step, StepLog, backup_name, content_hash, convert, inspect,
    links_through_live, live_directory, prepare_idle, slot_dir, switch,
)

__all__ = [
    "CRASH_ENV", "SLOTS", "Baseline", "DeployError", "DeployLock", "DeployRecord", "DeployRequest", "GateError",
    "GateName", "GatePlan", "GateResult", "GateStatus", "Holder", "Journal", "JournalError", "Layout", "LockHeld",
    "Recovery", "ReloadError", "ReloadResult", "RollbackRequest", "ServerControl", "ServerOptions", "Slot",
    "SlotError", "Step", "StepLog", "StepRecord", "StepRecorder", "VerifyFailure", "VerifyResult", "backup_name",
    "choose_reload", "content_hash", "convert", "default_deploy_state", "deploy", "history", "inspect",
    "links_through_live", "live_directory", "new_deploy_id", "prepare_idle", "recover", "reload_and_wait", "rollback",
    "slot_dir", "static_gates", "switch", "syntax_gate", "take_baseline", "verify",
]

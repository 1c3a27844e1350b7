"""``doctor``: run every check against the server a config describes, rank the findings.

The config is loaded as apache2ctl would have apache2 see it (an empty
environment but PATH, plus the config's envvars); load errors are findings
of the config check, not a reason to stop. Only a main file that cannot be
read at all stops doctor (``DoctorError``).
"""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import replace

from vhostguard.config import load
from vhostguard.diagnose.changes import change_findings
from vhostguard.diagnose.checks import CHECKS, Check
from vhostguard.diagnose.context import DoctorContext, DoctorOptions, is_local
from vhostguard.diagnose.findings import CheckResult, Diagnosis
from vhostguard.diagnose.rank import rank
from vhostguard.diagnose.server_state import server_state
from vhostguard.model import build_model

CLEAN_PATH = "/usr/sbin:/usr/bin:/bin"  # the PATH apache2ctl (and live.apache_environment) gives apache2


class DoctorError(Exception):
    """doctor could not run (the main config file cannot be read): one line."""


def doctor(options: DoctorOptions, checks: Sequence[Check] = CHECKS) -> Diagnosis:
    """Diagnose the server ``options.main_file`` describes (see the module docstring)."""
    main_file = os.path.abspath(options.main_file)
    options = replace(options, main_file=main_file)
    environ = {"PATH": CLEAN_PATH, **(options.load.environ or {})}
    tree = load(main_file, replace(options.load, environ=environ))
    if not any(included.path == main_file for included in tree.files):
        first = tree.errors[0] if tree.errors else f"{main_file}: cannot be read"
        raise DoctorError(f"{first}")
    model = build_model(tree)
    state = server_state(model) if is_local(options.connect) else None
    ctx = DoctorContext(options, tree, model, state)
    results = tuple(check.run(ctx) for check in checks)
    if options.changes:  # no deploy recorded (or no state directory): nothing to say, not even "ok"
        results += (_changes(options, results),)
    findings = rank(finding for checked in results for finding in checked.findings)
    return Diagnosis(main_file, state, results, findings)


def _changes(options: DoctorOptions, results: tuple[CheckResult, ...]) -> CheckResult:
    """The recent-changes check: the deploys of the window, suspected when the other checks found failures."""
    now = options.now if options.now is not None else time.time()
    failing = [finding for checked in results for finding in checked.findings]
    found = change_findings(options.changes, failing, now - options.since, options.state_option)
    if not found:
        return CheckResult("changes", "ok", "no deploy or rollback recorded in the window")
    status = "problem" if any(f.kind == "deploy-suspect" for f in found) else "ok"
    return CheckResult("changes", status, f"{len(found)} deploy(s) or rollback(s) in the window", found)

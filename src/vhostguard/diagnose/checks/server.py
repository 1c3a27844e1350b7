"""server: the PidFile names a live httpd, and it runs the config on disk."""
from __future__ import annotations

from vhostguard.diagnose.checks.base import Check, result, skipped
from vhostguard.diagnose.context import DoctorContext, iso
from vhostguard.diagnose.findings import CheckResult, Finding, ServerState, Severity

NAME = "server"


def run(ctx: DoctorContext) -> CheckResult:
    state = ctx.server
    if state is None:
        return skipped(NAME, "--connect names another machine: its PidFile and processes cannot be read from here")
    if state.pid is None:
        return result(NAME, [_down(ctx, state)], state.problem or "no running server")
    loaded = state.loaded
    detail = (f"pid {state.pid} ({state.command or '?'}) started {iso(state.started) or '?'}, "
              f"config last loaded {iso(loaded) or '?'}"
              + ("" if state.reloaded is not None else " (no resume notice in the error log: start time used)")
              + f"; config files last changed {iso(state.config_changed) or '?'}")
    findings = [_stale(ctx, state)] if state.stale else []
    return result(NAME, findings, detail)


def _down(ctx: DoctorContext, state: ServerState) -> Finding:
    evidence = [f"{state.pid_file}: {state.problem}", *state.last_words]
    logged = f"; its error log last said: {state.last_words[-1].split(': ', 1)[1]}" if state.last_words else ""
    return Finding(
        NAME, "server-down", Severity.CRITICAL, "no httpd is running for this config",
        f"{state.problem}; nothing answers on its Listen addresses{logged}",
        evidence=tuple(evidence),
        next=f"tail -n 50 {state.error_log}" if state.error_log else "apache2ctl start",
    )


def _stale(ctx: DoctorContext, state: ServerState) -> Finding:
    assert state.config_changed is not None and state.loaded is not None
    changed, loaded = iso(state.config_changed), iso(state.loaded)
    how = "reloaded" if state.reloaded is not None and state.reloaded >= (state.started or 0) else "started"
    evidence = [f"{state.newest_file}: modified {changed}",
                f"/proc/{state.pid}/stat: httpd pid {state.pid} started {iso(state.started)}"]
    caveat = ""
    if state.reload_evidence:
        evidence.append(state.reload_evidence)
    else:
        # Without the notice only the start time is known: a graceful restart since would not show.
        caveat = (f" (no resume notice of pid {state.pid} was found in {state.error_log or 'the error log'}: "
                  "if the server was gracefully restarted since, this finding is wrong)")
    return Finding(
        NAME, "config-stale", Severity.WARNING,
        f"config changed on disk at {changed}, server last (re)loaded at {loaded} < {changed}: "
        "the running server is not running this config",
        f"{state.newest_file} was modified after httpd (pid {state.pid}) last {how}: what it serves follows the older "
        "files, so the rest of this diagnosis (made from the files on disk) may not describe it" + caveat,
        evidence=tuple(evidence),
        next=f"{ctx.options.apache2 or 'apache2'} -t -f {ctx.main_file} && kill -USR1 {state.pid}  # graceful restart",
    )


CHECK = Check(NAME, run)

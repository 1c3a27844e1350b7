"""One deploy, rollback or history: gates, slots, switch, reload, verify, and the way back.

Order of a deploy (each stage journaled before it runs, so a crash can be finished or undone):

1. lock; recover what an earlier, killed run left (slots repaired; a run that had switched is
   switched back to the slot it came from and the server reloaded: the server runs one whole config);
2. the static gates on the candidate (load, lint, expectations, sandbox, diff): a failure blocks it
   with nothing changed;
3. the first time, the plain live directory becomes a symlink to its blue slot (a backup is kept);
4. the candidate is written into the idle slot and ``apache2 -t`` runs on it there (its final place);
5. the access logs' baseline is taken, the symlink switched (one rename), the server reloaded
   gracefully, and the new generation awaited;
6. verification for the watch window; a failure switches back, reloads and verifies the old config.

Every config that was live, or deployed, is kept under ``<state>/trees/<content hash>`` so that
``rollback ID`` can put back the config of any earlier deploy, whatever the slots hold since.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from vhostguard.statedir import default_state_dir
from vhostguard.deploy.gates import GateError, GatePlan, GateResult, static_gates, syntax_gate
from vhostguard.deploy.journal import DeployRecord, Journal, JournalError, new_deploy_id, now_iso
from vhostguard.deploy.lock import DeployLock, LockHeld
from vhostguard.deploy.recovery import recover
from vhostguard.deploy.server import ReloadError, ServerControl, choose_reload, reload_and_wait
from vhostguard.deploy.slots import (
    PARTIAL_SUFFIX, Layout, Slot, SlotError, Step, _fsync_path, _rename_durably, _strip, content_hash, convert,
    copy_tree, crash_point, inspect, live_directory, other, prepare_idle, slot_dir, switch,
)
from vhostguard.deploy.verify import Baseline, VerifyResult, take_baseline, verify

Progress = Callable[[str], None]
TREES = "trees"
ROLLBACK_WATCH_S = 10.0  # how long the old config is verified after an automatic rollback


class DeployError(Exception):
    """The deploy could not run (bad input, lock held, a layout or journal problem): one line, exit 2."""


@dataclass(frozen=True)
class ServerOptions:
    """How to reach and reload the server that runs the live config (apache2's -d, -D, envvars)."""

    live_main: str
    server_root: str | None = None
    env_file: str | None = None
    defines: tuple[str, ...] = ()
    reload_command: str | None = None
    apache2: str | None = None


@dataclass(frozen=True)
class DeployRequest:
    candidate_dir: str
    server: ServerOptions
    state_dir: str
    expectations: tuple[str, ...] = ()
    requests: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    replay_window_s: float = 3600.0
    max_requests: int = 1_000_000
    watch_s: float = 60.0
    force: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class RollbackRequest:
    state_dir: str
    target: str | None = None          # a deploy id; None: the config before the newest deployed one
    server: ServerOptions | None = None  # None: the live path the journal names
    expectations: tuple[str, ...] = ()   # () : the ones the target deploy was verified with
    watch_s: float = ROLLBACK_WATCH_S
    reload_command: str | None = None    # overrides the journaled one


def default_deploy_state(environ: dict[str, str] | None = None) -> str:
    """Where deploys are journaled (``vhostguard.statedir``: shared with the event store)."""
    return default_state_dir(environ)


# --- the deploy document ---------------------------------------------------------------------------

class _Run:
    """One journaled run (deploy or rollback): its document, written to the journal at each stage."""

    def __init__(self, journal: Journal, deploy_id: str, document: dict[str, Any], progress: Progress) -> None:
        self.journal = journal
        self.id = deploy_id
        self.document = document
        self.progress = progress
        self.recorder = journal.recorder(deploy_id)

    def save(self, **fields: Any) -> None:
        self.document.update(fields)
        self.journal.record(self.id, self.document)

    def say(self, text: str) -> None:
        self.progress(text)

    def steps(self, done: list[Step]) -> None:
        self.document.setdefault("steps", []).extend(
            {"name": step.name, "description": step.description, "done": step.done} for step in done)
        self.journal.record(self.id, self.document)

    def finish(self, outcome: str) -> dict[str, Any]:
        self.document["outcome"] = outcome
        self.document["finished_at"] = now_iso()
        self.journal.record(self.id, self.document)
        self.journal.finish(self.id, outcome)
        return self.document


def _new_document(deploy_id: str, kind: str, live_dir: str) -> dict[str, Any]:
    return {"schema": 1, "id": deploy_id, "kind": kind, "live_dir": live_dir, "started_at": now_iso(),
            "outcome": None, "gates": [], "switch": None, "reload": None, "verify": None, "rollback": None,
            "notes": []}


# --- deploy ----------------------------------------------------------------------------------------

def deploy(request: DeployRequest, progress: Progress | None = None) -> dict[str, Any]:
    """Run one deploy and return its document (CONTRACT.md "deploy"). Raises DeployError."""
    say = progress or (lambda _text: None)
    server = request.server
    live = live_directory(server.live_main, server.server_root)
    candidate = os.path.abspath(request.candidate_dir)
    candidate_main = os.path.join(candidate, os.path.relpath(os.path.abspath(server.live_main), live))
    _check_candidate(candidate, candidate_main, live)
    deploy_id = new_deploy_id()
    with _locked(request.state_dir, deploy_id), _journal(request.state_dir) as journal:
        recovered = _recover(journal, live, server, say)
        layout = _layout(live)
        document = _new_document(deploy_id, "deploy", live)
        document.update(candidate=candidate, candidate_hash=content_hash(candidate),
                        verify_files=[os.path.abspath(p) for p in request.expectations],
                        server=_server_json(server))
        if recovered:
            document["notes"].append(f"recovered unfinished deploys first: {', '.join(recovered)}")
        if request.dry_run:
            return _dry_run(request, layout, candidate, candidate_main, document, say)
        journal.begin(deploy_id, live, document["candidate_hash"])
        run = _Run(journal, deploy_id, document, say)
        run.save()  # from now on a crash leaves the way to reach the server and the way back
        return _deploy(request, run, layout, candidate, candidate_main)


def _deploy(request: DeployRequest, run: _Run, layout: Layout, candidate: str, candidate_main: str) -> dict[str, Any]:
    plan = _gate_plan(request, candidate_main)
    if not _static_gates(plan, run, request.force):
        return run.finish("blocked")
    crash_point("deploy:gates-passed")
    live = layout.live_dir
    if layout.kind == "plain":
        syntax = syntax_gate(plan, candidate)  # before converting: a blocked first deploy changes nothing
        if not _gate(run, syntax):
            return run.finish("blocked")
        run.say(f"converting {live} into blue/green slots (first deploy)")
        run.steps(convert(live, log=run.recorder))
        layout = inspect(live)
        run.document["notes"].append(f"converted {live} into slots; the original directory is kept beside it")
    assert layout.live_slot is not None and layout.idle_slot is not None
    _keep_tree(request.state_dir, layout.slot_dir(layout.live_slot), content_hash(live))
    _keep_tree(request.state_dir, candidate, run.document["candidate_hash"])
    run.save(previous_hash=content_hash(live))
    run.say(f"writing the candidate into the idle slot {layout.slot_dir(layout.idle_slot)}")
    run.steps(prepare_idle(live, candidate, log=run.recorder))
    checked_already = any(g["name"] == "syntax" for g in run.document["gates"])
    if not checked_already and not _gate(run, syntax_gate(plan, layout.slot_dir(layout.idle_slot))):
        return run.finish("blocked")
    control = _control(request.server)
    baseline = take_baseline(control)
    return _switch_and_verify(run, control, layout.live_slot, layout.idle_slot, baseline,
                              request.expectations, request.watch_s)


def _switch_and_verify(run: _Run, control: ServerControl, from_slot: Slot, to_slot: Slot, baseline: Baseline,
                       expectations: tuple[str, ...], watch_s: float) -> dict[str, Any]:
    live = _live_of(control)
    run.save(switch={"from": from_slot, "to": to_slot, "at": None})  # before: recovery must know the way back
    run.say(f"switching {live} from {from_slot} to {to_slot}")
    run.steps(switch(live, to_slot, log=run.recorder))
    run.save(switch={"from": from_slot, "to": to_slot, "at": now_iso()})
    crash_point("deploy:switched")
    try:
        reloaded = reload_and_wait(control)
    except ReloadError as problem:
        failure = {"kind": "reload", "summary": str(problem), "evidence": []}
        run.save(verify={"status": "fail", "window_s": 0.0, "failures": [failure]})
        return _roll_back(run, control, from_slot, expectations, f"reload failed: {problem}", watch_s)
    run.save(reload=reloaded.to_json())
    run.say(f"reloaded ({' '.join(reloaded.command)}); the new config serves after {reloaded.serving_after_s:.2f} s")
    crash_point("deploy:reloaded")
    run.say(f"verifying for {watch_s:g} s")
    result = verify(control, expectations, baseline, watch_s, progress=run.say)
    run.save(verify=result.to_json())
    if result.status == "pass":
        return run.finish("deployed")
    first = result.failures[0].summary if result.failures else "verification failed"
    return _roll_back(run, control, from_slot, expectations, first, watch_s)


def _roll_back(run: _Run, control: ServerControl, to_slot: Slot, expectations: tuple[str, ...],
               why: str, watch_s: float) -> dict[str, Any]:
    """The automatic rollback: switch back to the slot that served before, reload, verify it again."""
    live = _live_of(control)
    run.say(f"rolling back to {to_slot}: {why}")
    run.save(rollback={"at": None, "verified": False, "reason": why})
    crash_point("deploy:rollback")
    run.steps(switch(live, to_slot, log=run.recorder))
    at = now_iso()
    try:
        reload_and_wait(control)
    except ReloadError as problem:
        run.save(rollback={"at": at, "verified": False, "reason": why, "problem": str(problem)})
        return run.finish("failed")
    checked = verify(control, expectations, take_baseline(control), min(watch_s, ROLLBACK_WATCH_S),
                     progress=run.say)
    run.save(rollback={"at": at, "verified": checked.status == "pass", "reason": why,
                       "verify": checked.to_json()})
    return run.finish("rolled-back")


def _static_gates(plan: GatePlan, run: _Run, force: bool) -> bool:
    """Run the static gates, record each; False when one fails (``--force`` lets the diff gate's
    routing changes through, recorded as forced; nothing else can be forced)."""
    try:
        results = static_gates(plan, progress=run.say)
    except GateError as problem:
        raise DeployError(str(problem)) from None
    passed = True
    for result in results:
        if force and result.name == "diff" and result.status == "fail":
            result = replace(result, status="pass", detail=f"{result.detail} (forced: --force)")
        passed = _gate(run, result, announce=False) and passed  # static_gates told the progress itself
    return passed


def _gate(run: _Run, result: GateResult, announce: bool = True) -> bool:
    run.document["gates"].append(result.to_json())
    run.journal.record(run.id, run.document)
    if announce:
        run.say(f"gate {result.name}: {result.status} ({result.seconds:.2f} s) {result.detail}")
    return result.status != "fail"


# --- rollback by hand ------------------------------------------------------------------------------

def rollback(request: RollbackRequest, progress: Progress | None = None) -> dict[str, Any]:
    """Put back the config an earlier deploy installed (default: the one before the newest deployed
    one), through the idle slot, switch, reload and verify. Raises DeployError."""
    say = progress or (lambda _text: None)
    deploy_id = new_deploy_id()
    with _locked(request.state_dir, deploy_id), _journal(request.state_dir) as journal:
        target, tree_hash = _rollback_target(journal, request.target)
        server = request.server or _journaled_server(target)
        if request.reload_command:
            server = replace(server, reload_command=request.reload_command)
        live = target.live_dir
        recovered = _recover(journal, live, server, say)
        tree = os.path.join(request.state_dir, TREES, tree_hash)
        if not os.path.isdir(tree):
            raise DeployError(f"{tree}: the config of deploy {target.id} is not kept; deploy it again from its source")
        layout = _layout(live)
        if layout.kind != "slots" or layout.live_slot is None or layout.idle_slot is None:
            raise DeployError(f"{live}: not deployed by vhostguard (a plain directory); nothing to roll back")
        document = _new_document(deploy_id, "rollback", live)
        document.update(rollback_of=target.id, candidate=tree, candidate_hash=tree_hash, server=_server_json(server),
                        verify_files=list(target.report.get("verify_files", ())))
        if recovered:
            document["notes"].append(f"recovered unfinished deploys first: {', '.join(recovered)}")
        if content_hash(live) == tree_hash:
            document["notes"].append("that config is already live; nothing to do")
            document["outcome"] = "unchanged"
            return document
        journal.begin(deploy_id, live, tree_hash)
        run = _Run(journal, deploy_id, document, say)
        run.save(previous_hash=content_hash(live))
        idle = layout.slot_dir(layout.idle_slot)
        if not (os.path.isdir(idle) and content_hash(idle) == tree_hash):
            run.steps(prepare_idle(live, tree, log=run.recorder))
        main = os.path.join(idle, os.path.relpath(os.path.abspath(server.live_main), live))
        plan = GatePlan(live_main=server.live_main, candidate_main=main, server_root=server.server_root,
                        env_file=server.env_file, defines=server.defines, apache2=server.apache2)
        if not _gate(run, syntax_gate(plan, idle)):
            return run.finish("blocked")
        expectations = request.expectations or tuple(p for p in target.report.get("verify_files", ()) if os.path.isfile(p))
        control = _control(server)
        run.save(switch={"from": layout.live_slot, "to": layout.idle_slot, "at": None})
        run.steps(switch(live, layout.idle_slot, log=run.recorder))
        run.save(switch={"from": layout.live_slot, "to": layout.idle_slot, "at": now_iso()})
        try:
            reloaded = reload_and_wait(control)
        except ReloadError as problem:
            run.save(verify={"status": "fail", "window_s": 0.0,
                             "failures": [{"kind": "reload", "summary": str(problem), "evidence": []}]})
            return run.finish("failed")
        run.save(reload=reloaded.to_json())
        checked: VerifyResult = verify(control, expectations, take_baseline(control), request.watch_s, progress=say)
        run.save(verify=checked.to_json(), rollback={"at": run.document["switch"]["at"],
                                                     "verified": checked.status == "pass"})
        return run.finish("rolled-back" if checked.status == "pass" else "failed")


def _rollback_target(journal: Journal, wanted: str | None) -> tuple[DeployRecord, str]:
    """The deploy whose config goes back, and that config's content hash."""
    history = journal.history()
    if wanted is not None:
        record = next((d for d in history if d.id == wanted), None)
        if record is None:
            raise DeployError(f"no deploy {wanted} in the journal; `vhostguard history` lists them")
        if not _changed_live(record):
            raise DeployError(f"deploy {wanted} ended {record.outcome or 'unfinished'}: its config never served; "
                              "name a deployed one")
        if not record.candidate_hash:
            raise DeployError(f"deploy {wanted} has no recorded config")
        return record, record.candidate_hash
    newest = next((d for d in history if _changed_live(d)), None)
    if newest is None or not newest.report.get("previous_hash"):
        raise DeployError("no deploy to roll back in the journal; `vhostguard history` lists them")
    return newest, str(newest.report["previous_hash"])


def _changed_live(record: DeployRecord) -> bool:
    """Did this run leave another config live? A deploy that was deployed, a rollback that rolled back
    (a deploy rolled back automatically left the old one live)."""
    if record.report.get("kind") == "rollback":
        return record.outcome == "rolled-back"
    return record.outcome == "deployed"


def _journaled_server(record: DeployRecord) -> ServerOptions:
    """How the target deploy reached its server (what its command line said)."""
    saved = record.report.get("server") or {}
    main = saved.get("live_main") if isinstance(saved.get("live_main"), str) else None
    return ServerOptions(live_main=main or os.path.join(record.live_dir, "apache2.conf"),
                         server_root=saved.get("server_root"), env_file=saved.get("env_file"),
                         defines=tuple(saved.get("defines") or ()), reload_command=saved.get("reload_command"),
                         apache2=saved.get("apache2"))


def _server_json(server: ServerOptions) -> dict[str, Any]:
    return {"live_main": os.path.abspath(server.live_main), "server_root": server.server_root,
            "env_file": server.env_file, "defines": list(server.defines), "reload_command": server.reload_command,
            "apache2": server.apache2}


# --- history ---------------------------------------------------------------------------------------

def history(state_dir: str, progress: Progress | None = None) -> list[dict[str, Any]]:
    """Every journaled deploy and rollback, newest first, as documents (an older journal's deploys
    without one get what the journal row says). A run that was killed is finished first (as a deploy
    would), unless a deploy holds the lock: then its run is simply in progress."""
    if not os.path.isfile(os.path.join(state_dir, "journal.sqlite")):
        return []
    say = progress or (lambda _text: None)
    with _journal(state_dir) as journal:
        unfinished = journal.unfinished()
        if unfinished:
            lock = DeployLock(state_dir, new_deploy_id())
            try:
                lock.acquire()
            except LockHeld:
                pass
            except OSError:
                pass  # a read-only state directory: history still reads
            else:
                try:
                    for live in dict.fromkeys(record.live_dir for record in unfinished):
                        newest = [r for r in unfinished if r.live_dir == live][-1]
                        _recover(journal, live, _journaled_server(newest), say)
                finally:
                    lock.release()
        return [_as_document(record) for record in journal.history()]


def _as_document(record: DeployRecord) -> dict[str, Any]:
    document = dict(record.report) or _new_document(record.id, "deploy", record.live_dir)
    document.update(id=record.id, started_at=record.started_at, user=record.user, live_dir=record.live_dir,
                    candidate_hash=record.candidate_hash, finished_at=record.finished_at,
                    outcome=record.outcome if record.outcome is not None else "unfinished")
    unfinished = record.unfinished_step
    if unfinished is not None:
        document["interrupted_in"] = unfinished.name
    return document


# --- recovery of a killed run ----------------------------------------------------------------------

def _recover(journal: Journal, live: str, server: ServerOptions, say: Progress) -> list[str]:
    """Repair the slots after a killed run, and put the server back on one whole config: a run that
    had switched (or was switching) goes back to the slot it came from, and the server is reloaded.
    Returns the ids of the runs it closed."""
    unfinished = [d for d in journal.unfinished() if d.live_dir == _strip(live)]
    if not unfinished:
        return []
    say(f"finishing what an interrupted run left: {', '.join(d.id for d in unfinished)}")
    try:
        recover(live, journal)
    except SlotError as problem:
        raise DeployError(str(problem)) from None
    for record in unfinished:
        came_from = (record.report.get("switch") or {}).get("from")
        if came_from not in ("blue", "green"):
            continue
        layout = inspect(live)
        if layout.live_slot != came_from:
            switch(live, came_from, log=journal.recorder(record.id))
        note = f"switched back to {came_from} (the run was interrupted after switching)"
        try:
            reload_and_wait(_control(server))
            note += "; server reloaded"
        except ReloadError as problem:
            note += f"; reload failed: {problem}"
        journal.record(record.id, {**record.report, "recovery": note})
        say(note)
    return [d.id for d in unfinished]


# --- plumbing --------------------------------------------------------------------------------------

def _check_candidate(candidate: str, candidate_main: str, live: str) -> None:
    if not os.path.isdir(candidate):
        raise DeployError(f"{candidate}: not a directory; name the candidate config directory")
    if not os.path.isfile(candidate_main):
        raise DeployError(f"{candidate_main}: missing; the candidate must be laid out as {live} "
                          f"(its main file at {os.path.relpath(candidate_main, candidate)})")
    if os.path.realpath(candidate) == os.path.realpath(live):
        raise DeployError(f"{candidate}: is the live config itself; deploy a copy with the changes")


def _layout(live: str) -> Layout:
    try:
        return inspect(live)
    except SlotError as problem:
        raise DeployError(str(problem)) from None


class _locked:
    """The deploy lock as DeployError when held (the holder's id and pid in the message)."""

    def __init__(self, state_dir: str, deploy_id: str) -> None:
        self._lock = DeployLock(state_dir, deploy_id)

    def __enter__(self) -> None:
        try:
            self._lock.acquire()
        except LockHeld as held:
            raise DeployError(str(held)) from None
        except OSError as problem:
            raise DeployError(f"{self._lock.path}: {problem.strerror}; choose a writable --state DIR") from None

    def __exit__(self, *_exc: object) -> None:
        self._lock.release()


def _journal(state_dir: str) -> Journal:
    try:
        return Journal(state_dir)
    except JournalError as problem:
        raise DeployError(str(problem)) from None


def _gate_plan(request: DeployRequest, candidate_main: str) -> GatePlan:
    server = request.server
    return GatePlan(live_main=os.path.abspath(server.live_main), candidate_main=candidate_main,
                    server_root=server.server_root, expectations=request.expectations, requests=request.requests,
                    allow=request.allow, replay_window_s=request.replay_window_s, max_requests=request.max_requests,
                    env_file=server.env_file, defines=server.defines, apache2=server.apache2)


def _control(server: ServerOptions) -> ServerControl:
    return ServerControl(live_main=os.path.abspath(server.live_main), server_root=server.server_root,
                         env_file=server.env_file, reload_command=server.reload_command, apache2=server.apache2)


def _live_of(control: ServerControl) -> str:
    return live_directory(control.live_main, control.server_root)


def _keep_tree(state_dir: str, tree: str, tree_hash: str) -> None:
    """Keep a copy of a config under ``<state>/trees/<hash>`` (once per content) for ``rollback ID``."""
    kept = os.path.join(state_dir, TREES, tree_hash)
    if os.path.isdir(kept):
        return
    os.makedirs(os.path.dirname(kept), exist_ok=True)
    partial = kept + PARTIAL_SUFFIX
    if os.path.lexists(partial):
        shutil.rmtree(partial)
    copy_tree(os.path.realpath(tree), partial)
    _rename_durably(partial, kept)
    _fsync_path(os.path.dirname(kept))


def _dry_run(request: DeployRequest, layout: Layout, candidate: str, candidate_main: str, document: dict[str, Any],
             say: Progress) -> dict[str, Any]:
    """Run the static gates (they change nothing) and list every step the deploy would take."""
    plan = _gate_plan(request, candidate_main)
    try:
        results = static_gates(plan, progress=say)
    except GateError as problem:
        raise DeployError(str(problem)) from None
    document["gates"] = [r.to_json() for r in results]
    live = layout.live_dir
    steps: list[Step] = []
    live_slot: Slot
    idle_slot: Slot
    if layout.kind == "plain":
        steps += convert(live, dry_run=True)
        live_slot, idle_slot = "blue", "green"
        steps.append(Step("prepare-copy", f"copy {candidate} to {slot_dir(live, 'green')}{PARTIAL_SUFFIX}"))
        steps.append(Step("prepare-place", f"rename {slot_dir(live, 'green')}{PARTIAL_SUFFIX} to {slot_dir(live, 'green')}"))
    else:
        assert layout.live_slot is not None
        live_slot, idle_slot = layout.live_slot, other(layout.live_slot)
        steps += prepare_idle(live, candidate, dry_run=True)
    steps.append(Step("syntax", f"apache2 -t on {slot_dir(live, idle_slot)} in its final place"))
    steps += [Step("switch-link", f"create symlink {live}.vhostguard-link -> {os.path.basename(live)}.{idle_slot}"),
              Step("switch-replace", f"rename {live}.vhostguard-link over {live} (from {live_slot} to {idle_slot})")]
    command = choose_reload(_control(request.server))
    steps.append(Step("reload", f"run {' '.join(command)} and wait for the new generation"))
    steps.append(Step("verify", f"verify for {request.watch_s:g} s; on failure switch back to {live_slot} and reload"))
    document["steps"] = [{"name": s.name, "description": s.description, "done": False} for s in steps]
    document["outcome"] = "dry-run"
    document["blocked_by"] = next((r.name for r in results if r.status == "fail"), None)
    return document

"""The gates a candidate config passes before it goes live (issue 12, docs/contract.md "deploy").

In order: the candidate loads; ``lint --fail-on error``; the ``--verify``
expectations offline, then against the candidate in the live sandbox; a
traffic-replay diff of the live config against the candidate (a routing
change not matched by ``--allow`` blocks); and, once the candidate is in its
idle slot, ``apache2 -t`` on it in its final place. Each gate reuses the stage
that owns the concern (config, lint, checks, live, logs); this module only
wires them, times them and says in one line what passed or failed, with
``file:line`` evidence.

The default requests of the diff gate are the live config's own access logs
(its CustomLog files), cut to the last ``replay_window_s`` of their
timestamps and to the newest ``max_requests`` lines: the cut is found by a
binary search on the log's ``%t`` (a log is written in time order), so a
gigabyte log costs a few dozen reads before the replay itself.
"""
from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from vhostguard.speed import bulk_build
from vhostguard.checks import (
    CaseResult, DiffResult, ExpectationError, Expectations, Group, ReplayError, ReplayStats, Side, allowed,
    load_allowances,
    load_expectations, plan_jobs, replay_diff, run_live, run_offline, shown,
)
from vhostguard.config import ConfigError, ConfigTree, LoadOptions, load, read_env_file
from vhostguard.lint import Finding, SelectionError, SettingsError, Severity, default_registry, fails, load_settings
from vhostguard.lint import run as run_lint
from vhostguard.live import Sandbox, SandboxError, SandboxUnsupported, apache_environment, config_test, find_apache2
from vhostguard.logs import (
    Parser, ResolveError, UntimedLog, count_lines, find_logs, is_compressed, last_time, offset_since, printable, record_time,
    skip_lines, spans, target_parser,
)
from vhostguard.model import ServerModel, build_model
from vhostguard.routing import Router
from vhostguard.deploy.slots import live_directory

GateName = Literal["load", "lint", "expectations", "sandbox", "diff", "syntax"]
GateStatus = Literal["pass", "fail", "skipped"]
STATIC_GATES: tuple[GateName, ...] = ("load", "lint", "expectations", "sandbox", "diff")
MAX_EVIDENCE = 5  # lines of evidence per gate: enough to act on, short enough to read
ALLOW_KEYS = ("old_vhost", "new_vhost", "old_kind", "new_kind", "old_target", "new_target")


class GateError(Exception):
    """Bad input to the gates (an unreadable --verify or --requests file, a bad --allow): one line, file:line."""


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict: its name, pass/fail/skipped, how long it took, one line of detail, evidence."""

    name: GateName
    status: GateStatus
    seconds: float
    detail: str
    evidence: tuple[str, ...] = ()
    # The lint gate's findings, all severities (``gate --sarif`` writes them); not part of the JSON.
    findings: tuple[Finding, ...] = field(default=(), compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "seconds": round(self.seconds, 3), "detail": self.detail,
                "evidence": list(self.evidence)}


@dataclass(frozen=True)
class GatePlan:
    """What to check: the live main file, the candidate's, and the gates' inputs (docs/contract.md "deploy")."""

    live_main: str
    candidate_main: str
    server_root: str | None = None
    expectations: tuple[str, ...] = ()
    requests: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    replay_window_s: float = 3600.0
    max_requests: int = 1_000_000
    env_file: str | None = None
    defines: tuple[str, ...] = ()
    apache2: str | None = None
    # ``vhostguard gate`` (docs/contract.md "gate") asks for more or less than deploy does:
    lint_fail_on: Severity = Severity.ERROR  # the lint gate fails on findings at or above this
    sandbox_skipped: str | None = None  # why the sandbox gate does not run (gate without --live), else None
    diff_skipped: str | None = None  # why the diff gate does not run (gate without a baseline), else None
    verify_option: str = "--verify"  # the option that named the expectations, for messages

    @property
    def live_dir(self) -> str:
        """The live config directory: the slot symlink's path (RHEL: the ServerRoot, not conf/)."""
        return live_directory(self.live_main, self.server_root)

    @property
    def candidate_dir(self) -> str:
        """The candidate tree's root: where the live directory's copy is (RHEL: the candidate's
        ServerRoot for its conf/httpd.conf, as the live directory is /etc/httpd)."""
        main = os.path.abspath(self.candidate_main)
        relative = os.path.relpath(os.path.abspath(self.live_main), self.live_dir)
        if not relative.startswith(os.pardir) and main.endswith(os.sep + relative):
            return main[: -len(relative) - 1]
        return os.path.dirname(main)

    def in_tree(self, path: str | None, tree_dir: str) -> str | None:
        """``path`` (named for the live config) as it is for a copy of the live directory at ``tree_dir``:
        a path under the live directory moves with it, any other stays."""
        if path is None:
            return None
        absolute = os.path.abspath(path)
        relative = os.path.relpath(absolute, self.live_dir)
        if relative == os.curdir:
            return tree_dir
        if relative.startswith(os.pardir + os.sep) or relative == os.pardir:
            return path
        return os.path.join(tree_dir, relative)

    def define_map(self) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for item in self.defines:
            name, sep, value = item.partition("=")
            found[name] = value if sep else None
        return found

    def live_options(self) -> LoadOptions:
        return LoadOptions(server_root=self.server_root, defines=self.define_map(), env_file=self.env_file)

    def candidate_options(self) -> LoadOptions:
        """How to read the candidate as it will be read in its final place: its envvars (the one named
        for the live config mapped into it, else its own) read with APACHE_CONFDIR the live directory,
        as apache2ctl will preset it after the switch (Debian's envvars derives the instance suffix of
        /etc/apache2-NAME, and so the log and run directories, from it). Raises ConfigError for an
        envvars file that cannot be read."""
        server_root = self.in_tree(self.server_root, self.candidate_dir)
        env_file = self.in_tree(self.env_file, self.candidate_dir) or os.path.join(self.candidate_dir, "envvars")
        if not self.env_file and not os.path.isfile(env_file):
            return LoadOptions(server_root=server_root, defines=self.define_map(), env_file="")
        exported = read_env_file(env_file, self.live_dir, roots=(self.candidate_dir,))
        return LoadOptions(server_root=server_root, defines=self.define_map(), env_file="",
                           environ={**os.environ, **exported})


@dataclass
class _Inputs:
    """The gates' inputs, read and checked before any gate runs (bad input is GateError, not a failed gate)."""

    expectations: list[Expectations] = field(default_factory=list)
    allowances: list[dict[str, str]] = field(default_factory=list)


@dataclass
class _State:
    """What one gate hands the next: the candidate's tree and model."""

    tree: ConfigTree | None = None
    model: ServerModel | None = None


Progress = Callable[[str], None]


def static_gates(plan: GatePlan, progress: Progress | None = None) -> list[GateResult]:
    """Run the static gates (load, lint, expectations, sandbox, diff) in order; the first failure
    stops them and the rest are returned "skipped". Always returns all five.

    Raises GateError for bad input (an unreadable --verify or --requests file, a bad --allow)."""
    say = progress or (lambda _text: None)
    inputs = _read_inputs(plan)
    state = _State()
    found: list[Finding] = []
    steps: list[tuple[GateName, Callable[[], tuple[GateStatus, str, tuple[str, ...]]]]] = [
        ("load", lambda: _load_gate(plan, state)),
        ("lint", lambda: _lint_findings(_lint_gate(plan, state), found)),
        ("expectations", lambda: _expectations_gate(plan, inputs, state)),
        ("sandbox", lambda: _sandbox_gate(plan, inputs)),
        ("diff", lambda: _diff_gate(plan, inputs, state, say)),
    ]
    results: list[GateResult] = []
    failed: GateName | None = None
    for name, gate in steps:
        if failed is not None:
            results.append(GateResult(name, "skipped", 0.0, f"not run: the {failed} gate failed"))
            continue
        say(f"gate {name}")
        started = time.monotonic()
        status, detail, evidence = gate()
        detail = _one_line(detail)
        results.append(GateResult(name, status, time.monotonic() - started, detail, evidence[:MAX_EVIDENCE],
                                  tuple(found) if name == "lint" else ()))
        say(f"gate {name}: {status}: {detail}")
        if status == "fail":
            failed = name
    return results


def _lint_findings(verdict: tuple[GateStatus, str, tuple[str, ...], tuple[Finding, ...]],
                   found: list[Finding]) -> tuple[GateStatus, str, tuple[str, ...]]:
    """The lint gate's verdict; its findings are kept aside in ``found`` for its GateResult."""
    status, detail, evidence, findings = verdict
    found += findings
    return status, detail, evidence


# -- inputs ---------------------------------------------------------------------------------------


def _read_inputs(plan: GatePlan) -> _Inputs:
    inputs = _Inputs()
    for path in plan.expectations:
        try:
            inputs.expectations.append(load_expectations(path))
        except ExpectationError as problem:
            raise GateError(f"{plan.verify_option} {problem}") from None
    for path in plan.requests:
        try:
            with open(path, "rb"):
                pass
        except OSError as problem:
            raise GateError(f"--requests {printable(path)}: {problem.strerror or problem}") from None
    for pattern in plan.allow:
        inputs.allowances += _allowances(pattern)
    return inputs


def _allowances(pattern: str) -> list[dict[str, str]]:
    """``--allow``: a YAML file as ``diff --allow`` reads it, or one inline mapping:
    ``new_vhost=shop.example.com,new_kind=proxy`` or ``{new_vhost: shop.example.com}``."""
    if os.path.isfile(pattern):
        try:
            found = load_allowances(pattern)
        except (OSError, ValueError) as problem:
            raise GateError(f"--allow {problem}") from None
        _check_keys(pattern, found)
        return found
    text = pattern.strip()
    if text.startswith("{"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            data = None
        if not isinstance(data, dict) or not data:
            raise GateError(f"--allow {pattern!r}: not a mapping like {{new_vhost: a, new_kind: proxy}}")
        mapping = {str(k): str(v) for k, v in data.items()}
    else:
        mapping = {}
        for part in (p for p in text.split(",") if p.strip()):
            key, sep, value = part.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise GateError(f"--allow {pattern!r}: expected KEY=PATTERN[,KEY=PATTERN] (keys: {', '.join(ALLOW_KEYS)}), "
                                "or the path of a YAML allow file")
            mapping[key.strip()] = value.strip()
        if not mapping:
            raise GateError("--allow '': give KEY=PATTERN, e.g. new_vhost=shop.example.com")
    _check_keys(pattern, [mapping])
    return [mapping]


def _check_keys(where: str, allowances: list[dict[str, str]]) -> None:
    for allowance in allowances:
        unknown = sorted(set(map(str, allowance)) - set(ALLOW_KEYS))
        if unknown:
            raise GateError(f"--allow {where}: unknown key {unknown[0]!r} (keys: {', '.join(ALLOW_KEYS)})")


# -- load, lint, expectations, sandbox --------------------------------------------------------------


def _load(main_file: str, options: LoadOptions) -> tuple[ConfigTree, ServerModel, tuple[ConfigError, ...]]:
    with bulk_build():
        tree = load(main_file, options)
        model = build_model(tree)
    return tree, model, tree.errors + model.errors


def _load_gate(plan: GatePlan, state: _State) -> tuple[GateStatus, str, tuple[str, ...]]:
    try:
        tree, model, errors = _load(plan.candidate_main, plan.candidate_options())
    except ConfigError as problem:
        return "fail", f"the candidate does not load: {problem}", (str(problem),)
    if errors:
        return ("fail", f"the candidate does not load: {_count(len(errors), 'error')}; first: {errors[0]}",
                tuple(str(e) for e in errors))
    state.tree, state.model = tree, model
    warned = f", {_count(len(tree.warnings), 'warning')}" if tree.warnings else ""
    return ("pass", f"the candidate loads: {_count(len(tree.files), 'file')}, {_count(len(model.vhosts), 'vhost')}, "
            f"{_count(len(tree.modules), 'module')}{warned}", tuple(str(w) for w in tree.warnings))


def _lint_gate(plan: GatePlan, state: _State) -> tuple[GateStatus, str, tuple[str, ...], tuple[Finding, ...]]:
    assert state.model is not None and state.tree is not None
    try:
        settings = load_settings(plan.candidate_main)
    except SettingsError as problem:
        raise GateError(str(problem)) from None
    try:
        with bulk_build():
            findings = run_lint(state.model, state.tree, list(settings.select), list(settings.ignore), default_registry())
    except SelectionError as problem:
        raise GateError(str(problem)) from None
    threshold = plan.lint_fail_on
    blocking = sorted((f for f in findings if f.severity >= threshold), key=lambda f: f.sort_key())
    evidence = tuple(f"{f.file}:{f.line}: {f.code} {f.message}" for f in blocking)
    label = f"lint --fail-on {threshold.value}"
    if threshold is Severity.ERROR:
        counted, below = ("error", "errors"), ("warning or info", "warnings or infos")
    else:
        counted, below = ("finding", f"findings at {threshold.value} or above"), ("finding below", "findings below")
    if fails(findings, threshold):
        first = blocking[0]
        return ("fail", f"{label}: {_count(len(blocking), *counted)}; first: {first.file}:{first.line}: "
                f"{first.code} {first.message}", evidence, tuple(findings))
    return "pass", f"{label}: no {counted[1]} ({_count(len(findings), *below)})", (), tuple(findings)


def _cases(inputs: _Inputs) -> int:
    return sum(len(spec.cases) for spec in inputs.expectations)


def _failures(spec: Expectations, results: list[CaseResult]) -> list[str]:
    lines = []
    for result in results:
        if result.passed:
            continue
        what = "; ".join(f"{m.field}: expected {shown(m.expected)}, got {shown(m.actual)}" for m in result.mismatches)
        lines.append(f"{spec.path}:{result.case.line}: {result.case.name or result.case.url}: {what}")
    return lines


def _expectations_gate(plan: GatePlan, inputs: _Inputs, state: _State) -> tuple[GateStatus, str, tuple[str, ...]]:
    if not inputs.expectations:
        return "skipped", f"no {plan.verify_option} file", ()
    model = state.model
    assert model is not None
    router = Router(model)
    failed: list[str] = []
    for spec in inputs.expectations:
        failed += _failures(spec, run_offline(router, spec.cases, model.default_local_ip))
    total = _cases(inputs)
    if failed:
        return "fail", f"{len(failed)} of {_count(total, 'case')} failed offline; first: {failed[0]}", tuple(failed)
    return "pass", f"{_count(total, 'case')} pass offline", ()


def _sandbox_gate(plan: GatePlan, inputs: _Inputs) -> tuple[GateStatus, str, tuple[str, ...]]:
    if not inputs.expectations:
        return "skipped", f"no {plan.verify_option} file", ()
    if plan.sandbox_skipped:
        return "skipped", plan.sandbox_skipped, ()
    apache2 = plan.apache2 or find_apache2()
    if apache2 is None:
        return "skipped", "no apache2 or httpd binary to start the sandbox with (install apache2)", ()
    failed: list[str] = []
    try:
        with Sandbox(plan.candidate_main, server_root=plan.in_tree(plan.server_root, plan.candidate_dir),
                     defines=plan.define_map(), env_file=plan.in_tree(plan.env_file, plan.candidate_dir),
                     apache2=apache2) as sandbox:
            for spec in inputs.expectations:
                failed += _failures(spec, run_live(sandbox, spec.cases))
    except SandboxUnsupported as problem:
        return "skipped", f"the sandbox cannot run the candidate faithfully: {_first_line(str(problem.message))}", \
            tuple(str(problem.message).splitlines()[1:])
    except SandboxError as problem:
        lines = str(problem).splitlines()
        return "fail", f"the candidate did not start in the sandbox: {_first_line(problem.message)}", tuple(lines[1:] or lines)
    total = _cases(inputs)
    if failed:
        return "fail", f"{len(failed)} of {_count(total, 'case')} failed in the sandbox; first: {failed[0]}", tuple(failed)
    return "pass", f"{_count(total, 'case')} pass in the sandbox", ()


# -- diff -------------------------------------------------------------------------------------------


@dataclass
class _Window:
    """The part of the live access logs the diff gate replays, and what it left out and why."""

    jobs: list[Any] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    older: int = 0  # lines before the window
    capped: int = 0  # lines in the window beyond max_requests (the oldest)
    before: dict[str, int] = field(default_factory=dict)  # lines of each file before its first replayed one
    by_time: bool = False  # some log was cut to the time window
    skips: list[str] = field(default_factory=list)  # logs left out, and why
    notes: list[str] = field(default_factory=list)  # how the others were read


def _diff_gate(plan: GatePlan, inputs: _Inputs, state: _State, say: Progress) -> tuple[GateStatus, str, tuple[str, ...]]:
    assert state.model is not None
    if plan.diff_skipped:
        return "skipped", plan.diff_skipped, ()
    try:
        live_tree, live_model, errors = _load(plan.live_main, plan.live_options())
    except ConfigError as problem:
        return "skipped", f"the live config does not load ({problem}): no routing to compare with", ()
    if errors:
        return "skipped", f"the live config does not load ({errors[0]}): no routing to compare with", ()
    workers = max(1, min(os.cpu_count() or 1, 4))
    if plan.requests:
        try:
            jobs = plan_jobs(list(plan.requests), live_tree, None, workers)
        except ReplayError as problem:
            raise GateError(f"--requests {problem}") from None
        window = _Window(jobs, [printable(p) for p in plan.requests])
    else:
        window = _live_window(plan, live_tree, workers)
        if not window.jobs:
            return "skipped", "nothing to replay: " + "; ".join(window.skips or ["the live config writes no access log"]), ()
    say(f"gate diff: replaying {', '.join(window.names)}")
    with bulk_build():
        try:
            result, stats = replay_diff(live_model, state.model, window.jobs, None, workers)
        except ReplayError as problem:
            raise GateError(f"--requests {problem}") from None
        except OSError as problem:
            raise GateError(f"{printable(str(problem.filename or 'requests'))}: {problem.strerror or problem}") from None
    if plan.requests and stats.problems:
        raise GateError(f"--requests {stats.problems[0]}")
    return _diff_verdict(plan, inputs, window, result, stats)


def _diff_verdict(plan: GatePlan, inputs: _Inputs, window: _Window, result: DiffResult,
                  stats: ReplayStats) -> tuple[GateStatus, str, tuple[str, ...]]:
    source = _source_text(plan, window, result)
    skipped = _skipped_text(window, stats)
    malformed = tuple(f"{bad.file}:{bad.line + window.before.get(bad.file, 0)}: malformed: {bad.error}"
                      for bad in stats.samples)
    if not result.requests:
        return "skipped", f"0 requests to replay from {', '.join(window.names)}{skipped}", malformed
    groups = result.ordered_groups()
    blocking = [g for g in groups if not allowed(g, inputs.allowances)]
    allowed_count = sum(g.count for g in groups) - sum(g.count for g in blocking)
    allowed_text = f" ({allowed_count:,} allowed by --allow)" if allowed_count else ""
    if blocking:
        changed = sum(g.count for g in blocking)
        evidence = tuple(_group_line(g) for g in blocking) + malformed
        return ("fail", f"{changed:,} of {result.requests:,} requests would be routed differently, "
                f"not matched by --allow{allowed_text}; first: {_group_line(blocking[0])}; {source}{skipped}", evidence)
    return "pass", f"{result.changed:,} of {result.requests:,} requests changed{allowed_text}; {source}{skipped}", ()


def _group_line(group: Group) -> str:
    """One changed group: the candidate's deciding line first (what to look at), counts, one example."""
    old, new = group.old, group.new
    where = new.directive or old.directive or f"vhost {new.vhost_id or new.vhost}"
    example = f" (e.g. {group.examples[0]})" if group.examples else ""
    return f"{where}: {group.count:,} requests {_side_text(old)} -> {_side_text(new)}{example}"


def _side_text(side: Side) -> str:
    return " ".join(part for part in (side.vhost, side.kind, side.target) if part)


def _source_text(plan: GatePlan, window: _Window, result: DiffResult) -> str:
    if not window.by_time:
        return f"replayed {result.requests:,} from {', '.join(window.names)}"
    return f"replayed {result.requests:,} from the last {_duration(plan.replay_window_s)} of {', '.join(window.names)}"


def _skipped_text(window: _Window, stats: ReplayStats) -> str:
    parts = []
    if window.older:
        parts.append(f"{_count(window.older, 'line')} older than the window")
    if window.capped:
        parts.append(f"{_count(window.capped, 'line')} beyond --max-requests (the oldest)")
    if stats.malformed:
        parts.append(f"{_count(stats.malformed, 'malformed line')}")
    if stats.unusable:
        parts.append(f"{_count(stats.unusable, 'line')} with no Host to replay (%{{Host}}i, %V or %v)")
    parts += window.skips
    parts += stats.problems
    skipped = f"; skipped: {', '.join(parts)}" if parts else ""
    return skipped + (f"; {'; '.join(window.notes)}" if window.notes else "")


def _live_window(plan: GatePlan, live_tree: ConfigTree, workers: int) -> _Window:
    """The live config's access logs, cut to the last ``replay_window_s`` of timestamps and the newest
    ``max_requests`` lines, as replay jobs."""
    window = _Window()
    layout = find_logs(live_tree)
    window.skips += list(layout.notes)
    logs: list[tuple[str, Parser | None]] = []
    seen: set[str] = set()
    missing = []
    for target in layout.targets:
        real = os.path.realpath(target.path)
        if real in seen:
            continue
        seen.add(real)
        if not os.path.isfile(target.path) or os.path.getsize(target.path) == 0:
            missing.append(printable(target.path))
            continue
        try:
            parser: Parser | None = target_parser(target, ("time",))
        except ResolveError as problem:
            window.skips.append(f"{printable(target.path)}: {problem}")
            continue
        logs.append((target.path, parser))
    if missing:
        window.skips.append(f"{', '.join(missing)}: missing or empty")
    cuts = _cuts(logs, plan.replay_window_s, plan.max_requests, window)
    for path, (start, end) in cuts.items():
        if start >= 0 and end <= start:
            continue  # nothing in the window
        try:
            (job,) = plan_jobs([path], live_tree, None, 1)
        except (ReplayError, ValueError) as problem:
            window.skips.append(str(problem))
            continue
        window.names.append(printable(path))
        if job.kind != "log" or start < 0:
            window.jobs.append(job)  # compressed or not a log: replayed whole (it cannot be entered in the middle)
            continue
        window.jobs += [replace(job, span=part) for part in _parts(path, start, end, workers)]
    return window


def _cuts(logs: list[tuple[str, Parser | None]], window_s: float, max_lines: int,
          window: _Window) -> dict[str, tuple[int, int]]:
    """Per log, the byte range to replay: (-1, -1) for a log that must be read whole."""
    ends: dict[str, tuple[int, float | None]] = {}
    for path, parser in logs:
        with open(path, "rb") as handle:
            if is_compressed(handle.read(6)):
                ends[path] = (-1, None)
                continue
            size = handle.seek(0, os.SEEK_END)
            ends[path] = (size, last_time(handle, size, record_time(parser)) if parser is not None else None)
    newest = max((moment for _size, moment in ends.values() if moment is not None), default=None)
    cuts: dict[str, tuple[int, int]] = {}
    lines_in: dict[str, int] = {}
    for path, parser in logs:
        size, moment = ends[path]
        if size < 0:
            cuts[path] = (-1, -1)
            window.notes.append(f"{printable(path)} is compressed: read whole, without the time window")
            continue
        with open(path, "rb") as handle:
            start = 0
            if newest is not None and moment is not None and parser is not None:
                try:
                    start = offset_since(handle, size, newest - window_s, record_time(parser))
                    window.by_time = True
                except UntimedLog as problem:
                    window.notes.append(f"{printable(path)}: {problem}: read whole, without the time window")
            else:
                window.notes.append(f"{printable(path)} logs no readable time (%t): read whole, without the time window")
            before = count_lines(handle, 0, start)
            window.older += before
            window.before[printable(path)] = before
            lines_in[path] = count_lines(handle, start, size)
            cuts[path] = (start, size)
    total = sum(lines_in.values())
    if total > max_lines:
        # Keep the newest lines of each log, in proportion to its share of the window.
        for path, count in lines_in.items():
            keep = max_lines * count // total
            with open(path, "rb") as handle:
                start = skip_lines(handle, cuts[path][0], count - keep)
            window.capped += count - keep
            window.before[printable(path)] += count - keep
            cuts[path] = (start, cuts[path][1])
    return cuts


def _parts(path: str, start: int, end: int, workers: int) -> list[tuple[int, int]]:
    """[start, end) cut at line starts into up to ``workers`` ranges (one unless it is big)."""
    if workers < 2 or end - start < 16 << 20:
        return [(start, end)]
    return spans(path, workers, start, end) or [(start, end)]


# -- syntax -----------------------------------------------------------------------------------------

# Run by /bin/sh inside a private mount namespace: the slot is bound over the live directory, so every
# absolute path naming the live directory reads the candidate, as after the switch. Its arguments are
# passed as positional parameters, never interpolated into the script.
_BIND_SCRIPT = ('mount --bind -- "$1" "$2" || { echo "vhostguard-bind-failed" >&2; exit 125; }; '
                'cd -- "$2" || exit 125; shift 2; exec "$@"')
_BIND_FAILED = "vhostguard-bind-failed"
_SBIN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def syntax_gate(plan: GatePlan, slot_dir: str, *, private_mount: bool = True, missing: GateStatus = "fail") -> GateResult:
    """``apache2 -t`` on the candidate in its final place: ``slot_dir`` is the idle slot that the live
    directory will point at after the switch. Inside a private mount namespace the slot is bound over
    the live directory and apache2 reads the live paths (-d/-f as for the live config, Debian's envvars
    as apache2ctl reads them); where that is not permitted (or ``private_mount`` is False) the slot is
    checked in its own place (-d/-f mapped into it) and the detail says so. Never modifies the live dir.
    ``slot_dir`` the live directory itself: the config is checked in place (``vhostguard gate``).
    ``missing``: the status when no apache2 is installed (``gate`` skips, saying why; deploy fails)."""
    started = time.monotonic()

    def result(status: GateStatus, detail: str, evidence: tuple[str, ...] = ()) -> GateResult:
        return GateResult("syntax", status, time.monotonic() - started, _one_line(detail), evidence[:MAX_EVIDENCE])

    apache2 = plan.apache2 or find_apache2()
    if apache2 is None:
        return result(missing, "apache2 -t could not run: no apache2 or httpd binary found (install apache2)")
    if not os.access(apache2, os.X_OK):
        return result("fail", f"apache2 -t could not run: {printable(apache2)} is not an executable file")
    slot_dir = os.path.abspath(slot_dir)
    live_dir = plan.live_dir
    live_main = os.path.abspath(plan.live_main)
    slot_main = plan.in_tree(live_main, slot_dir) or live_main
    server_root = plan.server_root or live_dir
    try:
        env = _slot_environment(plan, slot_dir)
    except ConfigError as problem:
        return result("fail", f"the candidate's environment file cannot be read: {problem}", (str(problem),))
    defines = plan.define_map()
    if slot_dir == live_dir:
        verdict = config_test(apache2, live_main, server_root, defines, env=env)
        return _syntax_result(result, verdict.ok, verdict.output, verdict.file, verdict.line, "in place", live_dir, slot_dir)
    fallback = "not asked for a private mount namespace"
    unshare = shutil.which("unshare", path=_SBIN_PATH)
    if private_mount and unshare is None:
        fallback = "no unshare(1) to make a private mount namespace"
    elif private_mount and unshare is not None and os.path.isdir(live_dir):
        prefix = (unshare, "--mount", "--propagation", "private", "--", "/bin/sh", "-c", _BIND_SCRIPT, "sh",
                  slot_dir, live_dir)
        verdict = config_test(apache2, live_main, server_root, defines, env=env, prefix=prefix)
        refused = _namespace_refused(verdict.output)
        if refused is None:
            where = "in its final place (the slot bound over " + printable(live_dir) + " in a private mount namespace)"
            return _syntax_result(result, verdict.ok, verdict.output, verdict.file, verdict.line, where, live_dir, slot_dir)
        fallback = f"no private mount namespace: {refused}"
    elif private_mount:
        fallback = f"{printable(live_dir)} is not a directory to bind the slot over"
    verdict = config_test(apache2, slot_main, plan.in_tree(server_root, slot_dir), defines, env=env)
    where = (f"in the slot ({fallback}; -d/-f point into the slot, so paths naming {printable(live_dir)} "
             "read the live tree)")
    return _syntax_result(result, verdict.ok, verdict.output, verdict.file, verdict.line, where, live_dir, slot_dir)


def _slot_environment(plan: GatePlan, slot_dir: str) -> dict[str, str]:
    """PATH plus what the slot's envvars exports, with APACHE_CONFDIR the live directory (the final
    place, as apache2ctl will preset it after the switch)."""
    env = apache_environment(os.path.join(slot_dir, os.path.basename(plan.live_main)), "")
    path = plan.in_tree(plan.env_file, slot_dir) if plan.env_file else os.path.join(slot_dir, "envvars")
    if path is not None and (plan.env_file or os.path.isfile(path)):
        env.update(read_env_file(path, plan.live_dir))
    return env


def _namespace_refused(output: str) -> str | None:
    """Why the private mount namespace could not be made (None: apache2 ran in it)."""
    lines = output.splitlines()
    if _BIND_FAILED in lines:
        return "; ".join(line for line in lines if line != _BIND_FAILED)[:200] or "mount --bind failed"
    if lines and lines[0].startswith("unshare:"):
        return lines[0]
    return None


def _syntax_result(result: Callable[..., GateResult], ok: bool, output: str, file: str | None, line: int | None,
                   where: str, live_dir: str, slot_dir: str) -> GateResult:
    lines = [text.strip() for text in output.splitlines() if text.strip()]
    if ok:
        return result("pass", f"apache2 -t: Syntax OK {where}")
    said = [text for text in lines if text not in ("Action '-t' failed.", "Action 'configtest' failed.")]
    evidence: list[str] = []
    if file is not None and line is not None:
        in_slot = _moved(file, live_dir, slot_dir)
        shown_as = f" (read as {printable(file)})" if in_slot != file else ""
        evidence.append(f"{printable(in_slot)}:{line}{shown_as}: {' '.join(said[1:2]) or ' '.join(said[:1])}")
    evidence += said
    return result("fail", f"apache2 -t failed {where}: {' '.join(said[:2]) or 'no message'}", tuple(evidence))


def _moved(path: str, live_dir: str, slot_dir: str) -> str:
    if path == live_dir or path.startswith(live_dir + os.sep):
        return slot_dir + path[len(live_dir):]
    return path


# -- words ------------------------------------------------------------------------------------------


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number:,} {singular if number == 1 else (plural or singular + 's')}"


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


def _one_line(text: str) -> str:
    """A detail is one line: a message that spans several (apache2's, a sandbox's) is joined."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no message"

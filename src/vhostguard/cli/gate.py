"""``vhostguard gate``: the deploy gates as one command, for CI and config management (issue 14).

The gates are deploy's (``deploy.static_gates`` then ``deploy.syntax_gate``); this module only says
what to check, prepares the ``--with`` copy, and writes the verdict as text, JSON, JUnit or SARIF.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import click

from vhostguard import __version__
from vhostguard.cli.common import ConfigArgs, UsageProblem, config_options, emit_json, json_lines, run
from vhostguard.cli.output import check_output, write_output
from vhostguard.cli.params import duration
from vhostguard.config import ConfigError, load
from vhostguard.deploy import GateError, GatePlan, GateResult, static_gates, syntax_gate
from vhostguard.exitcodes import ExitCode
from vhostguard.lint import (
    SelectionError, SettingsError, Severity, default_registry, load_settings, sarif_report, selected_rules,
)
from vhostguard.safetext import terminal_text

_READ_AS = re.compile(r"((\S+):\d+) \(read as \2\)")
SEVERITIES = tuple(s.value for s in sorted(Severity, reverse=True))
MAX_EVIDENCE_SHOWN = 5


def gate_lines(gates: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Each gate's line (name, status, seconds, detail) and its evidence: shared by gate and deploy."""
    for gate in gates:
        yield f"  gate {gate['name']:<12} {gate['status']:<7} {gate['seconds']:6.2f} s  {gate['detail']}"
        for line in gate.get("evidence", [])[:MAX_EVIDENCE_SHOWN]:
            yield f"      {line}"


@dataclass(frozen=True)
class _Replacement:
    """``--with DEST=SRC``: the file DEST of the tree, as it would be with SRC's content."""

    dest: str
    src: str


def _replacement(text: str) -> _Replacement:
    dest, sep, src = text.partition("=")
    if not sep or not dest.strip() or not src.strip():
        raise UsageProblem(f"--with {text!r}: expected DEST=SRC (the tree's file, then the file to check in its place)")
    return _Replacement(os.path.abspath(dest), src)


@click.command(name="gate")
@config_options
@click.option("--with", "replacements", multiple=True, metavar="DEST=SRC",
              help="Check the tree as it would be with file DEST replaced by SRC (repeatable); the real tree is the "
                   "baseline. Ansible: validate: 'vhostguard gate --with /etc/apache2/sites-available/api.conf=%s'.")
@click.option("--against", "against", metavar="OLD_MAIN_FILE",
              help="Baseline config: the diff gate replays requests through it and the candidate.")
@click.option("--requests", "requests", multiple=True, metavar="LOG",
              help="Access log (or URL list) to replay for the diff gate (default: the baseline's own access logs).")
@click.option("--allow", "allow", multiple=True, metavar="FILE.yaml",
              help="Intended routing changes the diff gate lets through (the format of diff --allow).")
@click.option("--expect", "expectations", multiple=True, metavar="FILE.yaml", help="Routing expectations to check.")
@click.option("--live", is_flag=True, help="Also run the expectations against a sandboxed apache2 (the sandbox gate).")
@click.option("--fail-on", "fail_on", type=click.Choice(SEVERITIES), default=None,
              help="The lint gate fails on findings at or above this severity [default: the project's fail-on, else error].")
@click.option("--replay-window", "replay_window", callback=duration, default="1h", show_default=True,
              help="How far back the baseline's own access logs are replayed.")
@click.option("--max-requests", type=click.IntRange(min=1), default=1_000_000, show_default=True,
              help="At most this many requests replayed.")
@click.option("--apache2", "apache2", metavar="PATH", help="The apache2/httpd binary for apache2 -t (default: found on PATH).")
@click.option("--no-apache2", "no_apache2", is_flag=True,
              help="Do not run apache2 -t (it loads the modules the config names: not for a tree you do not trust).")
@click.option("--json", "json_output", is_flag=True, help="Print {\"schema\": 1, \"gates\": [...]} (docs/contract.md).")
@click.option("--junit", "junit", metavar="FILE", help="Also write JUnit XML, one testcase per gate.")
@click.option("--sarif", "sarif", metavar="FILE", help="Also write the lint gate's findings as SARIF 2.1.0.")
def gate(config: str | None, server_root: str | None, defines: tuple[str, ...], env_file: str | None,
         replacements: tuple[str, ...], against: str | None, requests: tuple[str, ...], allow: tuple[str, ...],
         expectations: tuple[str, ...], live: bool, fail_on: str | None, replay_window: float, max_requests: int,
         apache2: str | None, no_apache2: bool, json_output: bool, junit: str | None, sarif: str | None) -> None:
    """Run the deploy gates on a config without deploying it: load, lint, expectations, (--live) sandbox,
    a traffic-replay diff against a baseline, and apache2 -t when apache2 is installed.
    Exit 0 when every gate passes (or is skipped, saying why), 1 when one fails, 2 on bad input."""

    def action() -> int:
        for option, path in (("--junit", junit), ("--sarif", sarif)):
            if path:
                check_output(option, path)
        args = ConfigArgs(config, server_root, defines, env_file)
        if args.trust_env:
            raise UsageProblem("gate reads the envvars file without running it; --trust-env is not supported here")
        main = _existing(args.main_file(), "-f")
        baseline = _existing(against, "--against") if against else None
        withs = [_replacement(text) for text in replacements]
        notes: list[str] = []
        if requests and baseline is None and not withs:
            raise UsageProblem("--requests needs a baseline to compare with: --against OLD_MAIN_FILE (or --with DEST=SRC)")
        base = GatePlan(live_main=main, candidate_main=main, server_root=server_root, expectations=expectations,
                        requests=requests, allow=allow, replay_window_s=replay_window, max_requests=max_requests,
                        env_file=env_file, defines=defines, apache2=apache2, lint_fail_on=_threshold(main, fail_on),
                        verify_option="--expect",
                        sandbox_skipped=None if live else "not asked for (--live runs the expectations on a sandboxed apache2)")
        if withs:
            with tempfile.TemporaryDirectory(prefix="vhostguard-gate-") as scratch:
                copy = os.path.join(os.path.realpath(scratch), "tree")
                results = _gate_with(base, withs, baseline, copy, no_apache2, notes)
        else:
            results = _gate_in_place(base, baseline, no_apache2)
        document = {"schema": 1, "main": main, "against": baseline if baseline or not withs else main,
                    "with": [{"dest": w.dest, "src": w.src} for w in withs],
                    "notes": notes, "outcome": "fail" if any(r.status == "fail" for r in results) else "pass",
                    "gates": [r.to_json() for r in results]}
        if junit:
            write_output("--junit", junit, terminal_text(_junit(document)))
        if sarif:
            write_output("--sarif", sarif, _sarif(main, results))
        if json_output:
            emit_json(document)
        else:
            for line in _summary(document):
                click.echo(terminal_text(line))
        return int(ExitCode.FINDINGS if document["outcome"] == "fail" else ExitCode.OK)

    run(action)


def _threshold(main: str, fail_on: str | None) -> Severity:
    """--fail-on, else the project's ``fail-on`` (as lint reads it), else error."""
    if fail_on:
        return Severity.parse(fail_on)
    try:
        return load_settings(main).fail_on or Severity.ERROR
    except SettingsError as problem:
        raise UsageProblem(str(problem)) from None


def _existing(path: str, option: str) -> str:
    absolute = os.path.abspath(path)
    if not os.path.isfile(absolute):
        raise UsageProblem(f"{option} {path}: no such file; name the main config file (apache2.conf, httpd.conf)")
    return absolute


def _run_gates(plan: GatePlan, syntax_plan: GatePlan, syntax_dir: str, no_apache2: bool,
               private_mount: bool) -> list[GateResult]:
    try:
        results = static_gates(plan)
    except GateError as problem:
        raise UsageProblem(str(problem)) from None
    failed = next((r.name for r in results if r.status == "fail"), None)
    if failed is not None:
        results.append(GateResult("syntax", "skipped", 0.0, f"not run: the {failed} gate failed"))
    elif no_apache2:
        results.append(GateResult("syntax", "skipped", 0.0, "not asked for (--no-apache2)"))
    else:
        results.append(syntax_gate(syntax_plan, syntax_dir, private_mount=private_mount, missing="skipped"))
    return results


def _gate_in_place(base: GatePlan, baseline: str | None, no_apache2: bool) -> list[GateResult]:
    """MAIN_FILE where it is; the diff gate against ``--against`` when given (else skipped, saying why)."""
    if baseline is not None:
        plan = replace(base, live_main=baseline)
    else:
        plan = replace(base, diff_skipped="no baseline: --against OLD_MAIN_FILE (or --with DEST=SRC) compares routing")
    return _run_gates(plan, base, base.live_dir, no_apache2, private_mount=False)


def _gate_with(base: GatePlan, withs: list[_Replacement], baseline: str | None, copy: str,
               no_apache2: bool, notes: list[str]) -> list[GateResult]:
    """The tree copied to ``copy`` with each DEST replaced by its SRC, gated with the real tree as the
    baseline (unless --against names another); every path in the copy is reported as the real one."""
    real_dir = base.live_dir
    _copy_tree(real_dir, copy)
    for item in withs:
        _put(item, real_dir, copy)
    candidate_main = base.in_tree(base.live_main, copy) or base.live_main
    plan = replace(base, live_main=baseline or base.live_main, candidate_main=candidate_main)
    notes += _unread(plan, withs, copy, real_dir)
    # apache2 -t: the copy in the final place (bound over the real tree in a private mount namespace).
    results = _run_gates(plan, replace(base, candidate_main=candidate_main), copy, no_apache2, private_mount=True)
    return [_relocated(result, copy, real_dir) for result in results]


def _unread(plan: GatePlan, withs: list[_Replacement], copy: str, real_dir: str) -> list[str]:
    """Which DESTs the copy's config does not read (a note: SRC changes nothing there). UsageProblem when
    it reads the real DEST instead (an absolute path into the real tree): the gates would not see SRC."""
    try:
        tree = load(plan.candidate_main, plan.candidate_options())
    except ConfigError:
        return []  # the load gate says why
    read = {os.path.realpath(f.path) for f in tree.files}
    notes = []
    for item in withs:
        if os.path.realpath(item.dest) in read and not os.path.realpath(item.dest).startswith(os.path.realpath(copy) + os.sep):
            raise UsageProblem(f"--with {item.dest}={item.src}: the config reads {item.dest} by its path in the real "
                               f"tree, not the copy's: the gates would check the old file; include it by a path relative "
                               f"to the ServerRoot, or gate a checkout of the whole tree with -f")
        in_copy = os.path.realpath(os.path.join(copy, os.path.relpath(item.dest, real_dir)))
        if in_copy not in read:
            notes.append(f"the config does not read {item.dest}: SRC changes nothing until it is included (a2ensite?)")
    return notes


def _copy_tree(source: str, destination: str) -> None:
    """Copy the config tree (symlinks as symlinks, absolute ones into the tree re-pointed into the copy;
    sockets, FIFOs and devices left out). Reads ``source``, writes only under ``destination``."""

    def special(directory: str, names: list[str]) -> set[str]:
        left_out = set()
        for name in names:
            mode = os.lstat(os.path.join(directory, name)).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
                left_out.add(name)
        return left_out

    try:
        shutil.copytree(source, destination, symlinks=True, ignore=special)
    except (OSError, shutil.Error) as problem:
        first = problem.args[0][0] if isinstance(problem, shutil.Error) and problem.args and problem.args[0] else problem
        raise UsageProblem(f"--with: cannot copy the tree {source}: {first}") from None
    root = source.rstrip(os.sep)
    for directory, dirs, files in os.walk(destination):
        for name in dirs + files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                continue
            target = os.readlink(path)
            if os.path.isabs(target) and (target == root or target.startswith(root + os.sep)):
                os.unlink(path)
                os.symlink(destination + target[len(root):], path)


def _put(item: _Replacement, real_dir: str, copy: str) -> None:
    """SRC's content at DEST's place in the copy (a symlink at DEST is replaced, as Ansible's copy does)."""
    relative = os.path.relpath(item.dest, real_dir)
    if relative == os.curdir or relative.startswith(os.pardir + os.sep) or relative == os.pardir:
        raise UsageProblem(f"--with {item.dest}={item.src}: DEST is not inside the config directory {real_dir} "
                           "(name a file of the tree -f reads)")
    target = os.path.join(copy, relative)
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    if not (os.path.realpath(parent) + os.sep).startswith(os.path.realpath(copy) + os.sep):
        raise UsageProblem(f"--with {item.dest}={item.src}: the directory of DEST is a symlink leading out of "
                           f"{real_dir}; name the file where it really is")
    if os.path.isdir(target) and not os.path.islink(target):
        raise UsageProblem(f"--with {item.dest}={item.src}: DEST is a directory; name a file")
    try:
        with open(item.src, "rb") as source:
            content = source.read()
    except OSError as problem:
        raise UsageProblem(f"--with {item.dest}={item.src}: cannot read SRC: {problem.strerror or problem}") from None
    if os.path.lexists(target):
        os.unlink(target)
    with open(target, "xb") as handle:
        handle.write(content)


def _relocated(result: GateResult, copy: str, real_dir: str) -> GateResult:
    """A gate's words with the copy's paths written as the real tree's (where the files will be)."""

    def moved(text: str) -> str:
        text = text.replace(copy + os.sep, real_dir.rstrip(os.sep) + os.sep).replace(copy, real_dir)
        return _READ_AS.sub(r"\1", text)  # apache2 -t's "(read as PATH)" is the same path once moved back

    findings = tuple(replace(f, file=moved(f.file)) for f in result.findings)
    return replace(result, detail=moved(result.detail), evidence=tuple(moved(e) for e in result.evidence),
                   findings=findings)


# --- output ------------------------------------------------------------------------------------------

def _summary(document: dict[str, Any]) -> Iterator[str]:
    withs = "".join(f" with {w['dest']} from {w['src']}" for w in document["with"])
    yield f"gate {document['main']}{withs}"
    yield from gate_lines(document["gates"])
    for note in document["notes"]:
        yield f"  note: {note}"
    failed = next((g["name"] for g in document["gates"] if g["status"] == "fail"), None)
    yield f"refused by the {failed} gate" if failed else "all gates pass"


def _junit(document: dict[str, Any]) -> str:
    """One testcase per gate: a failed gate's message is its detail, its text the evidence (file:line)."""
    gates = document["gates"]
    suite = ElementTree.Element(
        "testsuite", name=f"vhostguard gate: {document['main']}", tests=str(len(gates)),
        failures=str(sum(g["status"] == "fail" for g in gates)), errors="0",
        skipped=str(sum(g["status"] == "skipped" for g in gates)), time=f"{sum(g['seconds'] for g in gates):.3f}")
    for item in gates:
        case = ElementTree.SubElement(suite, "testcase", classname="vhostguard.gate", name=item["name"],
                                      time=f"{item['seconds']:.3f}")
        location = _location(item.get("evidence", []))
        if location:
            case.set("file", location[0])
            case.set("line", location[1])
        if item["status"] == "fail":
            failure = ElementTree.SubElement(case, "failure", message=item["detail"])
            failure.text = "\n".join([item["detail"], *item.get("evidence", [])])
        elif item["status"] == "skipped":
            ElementTree.SubElement(case, "skipped", message=item["detail"])
        else:
            ElementTree.SubElement(case, "system-out").text = item["detail"]
    suites = ElementTree.Element("testsuites")
    suites.append(suite)
    return ElementTree.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _location(evidence: list[str]) -> tuple[str, str] | None:
    """``file:line`` at the start of the first evidence line, when there is one."""
    for line in evidence:
        head = line.split(": ", 1)[0].split(" ", 1)[0]
        path, sep, number = head.rpartition(":")
        if sep and number.isdigit() and path:
            return path, number
    return None


def _sarif(main: str, results: list[GateResult]) -> str:
    """The lint gate's findings as SARIF (lint's own writer), with the rules the project selects."""
    findings = [f for r in results if r.name == "lint" for f in r.findings]
    try:
        settings = load_settings(main)
        rules = selected_rules(default_registry(), list(settings.select), list(settings.ignore))
    except (SettingsError, SelectionError):
        rules = list(default_registry())
    return "".join(json_lines(sarif_report(findings, rules, __version__, Path.cwd())))

"""``vhostguard drift TREE_MAIN_FILE...``: do these trees (staging, each production host's pulled
/etc/apache2) route the same requests the same way and carry the same lint findings? (issue 14)

Each tree after the first is compared with the first: routing with ``diff``'s replay (the same
relocation rule: a path under one tree's directory equals the same relative path under the other's),
lint findings by rule, file relative to its tree, and message (lines may move between trees).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import click

from vhostguard.checks import DiffResult, ReplayError, plan_jobs, replay_diff
from vhostguard.speed import bulk_build
from vhostguard.cli.common import ConfigArgs, UsageProblem, emit_json, load_model, run
from vhostguard.deploy import live_directory
from vhostguard.exitcodes import ExitCode
from vhostguard.lint import Finding, SettingsError, default_registry, load_settings
from vhostguard.lint import run as run_lint
from vhostguard.logs import printable
from vhostguard.model import ServerModel
from vhostguard.report import diff_json, diff_text

FindingKey = tuple[str, str, str]


@dataclass(frozen=True)
class _Tree:
    main: str
    directory: str
    model: ServerModel
    findings: dict[FindingKey, Finding]


@click.command(name="drift")
@click.argument("mains", nargs=-1, required=True, metavar="TREE_MAIN_FILE...")
@click.option("--requests", "requests", multiple=True, metavar="LOG",
              help="Access log (read with the first tree's LogFormat) or URL list to replay through every tree.")
@click.option("-D", "defines", multiple=True, metavar="NAME[=VALUE]", help="Define a name for every tree.")
@click.option("--json", "as_json", is_flag=True, help="Machine output (docs/contract.md).")
def drift(mains: tuple[str, ...], requests: tuple[str, ...], defines: tuple[str, ...], as_json: bool) -> None:
    """Compare config trees pairwise against the first: routing over --requests and lint findings.
    Exit 1 on drift (never runs apache2)."""

    def body() -> int:
        if len(mains) < 2:
            raise UsageProblem("drift compares trees: give two or more main files (the first is the reference)")
        try:
            settings = load_settings(mains[0])
        except SettingsError as problem:
            raise UsageProblem(str(problem)) from None
        trees = [_read(main, defines, settings.select, settings.ignore) for main in mains]
        reference, others = trees[0], trees[1:]
        workers = max(1, min(os.cpu_count() or 1, 4))
        comparisons = [_compare(reference, other, requests, workers) for other in others]
        texts = [str(c.pop("routing_text") or "") for c in comparisons]
        document = {"schema": 1, "reference": reference.main, "requests": [printable(p) for p in requests],
                    "drift": any(c["drift"] for c in comparisons), "trees": comparisons}
        if as_json:
            emit_json(document)
        else:
            _print(document, requests, texts)
        return int(ExitCode.FINDINGS if document["drift"] else ExitCode.OK)

    run(body)


def _read(main: str, defines: tuple[str, ...], select: tuple[str, ...], ignore: tuple[str, ...]) -> _Tree:
    args = ConfigArgs(main, None, defines, None)
    model = load_model(args)
    directory = live_directory(os.path.abspath(main), None)
    with bulk_build():
        findings = run_lint(model, model.tree, list(select), list(ignore), default_registry())
    return _Tree(os.path.abspath(main), directory, model, {_key(f, directory): f for f in findings})


def _key(finding: Finding, directory: str) -> FindingKey:
    """What a finding is, wherever its tree lies: rule, file relative to the tree, message without the tree's path."""
    prefix = directory.rstrip(os.sep) + os.sep
    file = finding.file[len(prefix):] if finding.file.startswith(prefix) else finding.file
    return finding.code, file, finding.message.replace(prefix, "")


def _compare(reference: _Tree, other: _Tree, requests: tuple[str, ...], workers: int) -> dict[str, Any]:
    routing: dict[str, Any] | None = None
    text: str | None = None
    changed = 0
    if requests:
        result = _replay(reference, other, requests, workers)
        routing, text, changed = diff_json(result, set()), diff_text(result, set()), result.changed
    only_reference = [reference.findings[k] for k in sorted(reference.findings.keys() - other.findings.keys())]
    only_other = [other.findings[k] for k in sorted(other.findings.keys() - reference.findings.keys())]
    return {"main": other.main, "drift": bool(changed or only_reference or only_other), "routing": routing,
            "routing_text": text,
            "lint": {"only_in_reference": [_finding_json(f) for f in only_reference],
                     "only_in_tree": [_finding_json(f) for f in only_other]}}


def _replay(reference: _Tree, other: _Tree, requests: tuple[str, ...], workers: int) -> DiffResult:
    try:
        with bulk_build():
            jobs = plan_jobs(list(requests), reference.model.tree, None, workers)
            result, stats = replay_diff(reference.model, other.model, jobs, None, workers)
    except ReplayError as problem:
        raise UsageProblem(f"--requests {problem}") from None
    except OSError as problem:
        raise UsageProblem(f"--requests {printable(str(problem.filename or ''))}: {problem.strerror or problem}") from None
    if stats.problems:
        raise UsageProblem(f"--requests {stats.problems[0]}")
    if not result.requests:
        raise UsageProblem(f"--requests {', '.join(printable(p) for p in requests)}: no request could be replayed "
                           f"({stats.lines} lines, {stats.malformed} malformed, {stats.unusable} without a Host)")
    return result


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {"code": finding.code, "severity": finding.severity.value, "message": finding.message,
            "file": finding.file, "line": finding.line}


def _print(document: dict[str, Any], requests: tuple[str, ...], texts: list[str]) -> None:
    click.echo(f"reference: {document['reference']}")
    if not requests:
        click.echo("routing not compared: no --requests (an access log or a URL list to replay)")
    for tree, text in zip(document["trees"], texts):
        routing = tree["routing"]
        moved = f"{routing['changed']:,} of {routing['requests']:,} requests routed differently" if routing else "routing not compared"
        lint = tree["lint"]
        click.echo(f"{tree['main']}: {'DRIFT' if tree['drift'] else 'same'}: {moved}; "
                   f"{len(lint['only_in_tree'])} lint findings only here, {len(lint['only_in_reference'])} only in the reference")
        if routing and routing["changed"]:
            for line in text.splitlines():
                click.echo(f"    {line}")
        for label, key in (("only here", "only_in_tree"), ("only in the reference", "only_in_reference")):
            for finding in lint[key]:
                click.echo(f"    lint {label}: {finding['file']}:{finding['line']}: {finding['code']} {finding['message']}")

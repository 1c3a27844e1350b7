"""config: the configuration loads, apache2 -t accepts it, lint finds no error.

Lint's errors (traffic goes where it was not meant to) are warnings of doctor
and count in its exit status; lint's warnings (risky, not broken) are listed
as info findings, which do not: a healthy server must be able to pass doctor
with a config lint would still nag about."""
from __future__ import annotations

import shlex

from vhostguard.config import ConfigError
from vhostguard.diagnose.checks.base import Check, result
from vhostguard.diagnose.context import DoctorContext
from vhostguard.diagnose.findings import CheckResult, Finding, Severity
from vhostguard.diagnose.summary import DirectiveRef
from vhostguard.lint import Finding as LintFinding
from vhostguard.lint import Severity as LintSeverity
from vhostguard.lint import default_registry
from vhostguard.lint import run as run_lint
from vhostguard.live import ConfigTest, config_test

NAME = "config"


def run(ctx: DoctorContext) -> CheckResult:
    findings: list[Finding] = []
    parts = [f"{len(ctx.tree.files)} files read"]
    verdict = _apache2_test(ctx)
    if verdict is None:
        parts.append("apache2 -t skipped (neither apache2 nor httpd is installed)")
    elif verdict.ok:
        parts.append("apache2 -t: Syntax OK")
    else:
        parts.append("apache2 -t: rejected")
        findings.append(_rejected(ctx, verdict))
    errors = (*ctx.tree.errors, *ctx.model.errors)
    for error in errors:
        findings.append(_unreadable(ctx, error, apache2_ok=verdict is not None and verdict.ok))
    if errors:
        parts.append(f"{len(errors)} loader errors")
    # Rules of severity info (style) cannot give a finding here: they are not run.
    rules = [rule.code for rule in default_registry() if rule.severity >= LintSeverity.WARNING]
    found = [f for f in run_lint(ctx.model, ctx.tree, select=rules) if f.severity >= LintSeverity.WARNING]
    errors_found = sum(f.severity >= LintSeverity.ERROR for f in found)
    parts.append(f"lint: {errors_found} errors, {len(found) - errors_found} warnings")
    for lint_finding in found:
        findings.append(_lint(ctx, lint_finding))
    return _result(findings, "; ".join(parts))


def _result(findings: list[Finding], detail: str) -> CheckResult:
    """``problem`` when a finding of severity warning or worse exists: info findings leave the check ``ok``."""
    checked = result(NAME, findings, detail)
    if findings and all(f.severity < Severity.WARNING for f in findings):
        return CheckResult(NAME, "ok", detail, tuple(findings))
    return checked


def _lint(ctx: DoctorContext, found: LintFinding) -> Finding:
    error = found.severity >= LintSeverity.ERROR
    return Finding(
        NAME, "lint-error" if error else "lint-warning", Severity.WARNING if error else Severity.INFO,
        f"lint {found.code} {found.name} at {found.file}:{found.line}",
        f"{found.message}; {found.hint}", evidence=(ctx.source_line(found.file, found.line),),
        directives=(DirectiveRef(found.node.name if found.node else found.code, found.file, found.line),),
        next=ctx.command("lint", "--select", found.code),
    )


def _apache2_test(ctx: DoctorContext) -> ConfigTest | None:
    if ctx.options.apache2 is None:
        return None
    load = ctx.options.load
    return config_test(ctx.options.apache2, ctx.main_file, load.server_root, load.defines, load.env_file)


def _rejected(ctx: DoctorContext, verdict: ConfigTest) -> Finding:
    lines = [line for line in verdict.output.splitlines() if line.strip()]
    evidence = []
    directives: tuple[DirectiveRef, ...] = ()
    if verdict.file is not None and verdict.line is not None:
        evidence.append(ctx.source_line(verdict.file, verdict.line))
        directives = (DirectiveRef(_directive_at(ctx, verdict.file, verdict.line) or "line", verdict.file, verdict.line),)
    evidence.extend(f"apache2 -t: {line}" for line in lines[:6])
    where = f" at {verdict.file}:{verdict.line}" if verdict.file else ""
    return Finding(
        NAME, "config-invalid", Severity.CRITICAL, f"apache2 -t rejects the configuration{where}",
        (lines[-1] if lines else "apache2 -t failed") + ": the next restart or reload will fail and leave httpd down",
        evidence=tuple(evidence), directives=directives, next=shlex.join(verdict.argv),
    )


def _directive_at(ctx: DoctorContext, path: str, line: int) -> str | None:
    """The directive on a config line: from the tree, else (a line the loader
    dropped, e.g. an Include that failed) the line's first word."""
    for node in ctx.tree.walk():
        if node.source.file == path and node.source.line == line:
            return node.name
    words = ctx.line_text(path, line).split()
    if not words or words[0].startswith("#"):
        return None
    return words[0].strip("<>") or None


def _unreadable(ctx: DoctorContext, error: ConfigError, apache2_ok: bool) -> Finding:
    source = error.source
    if apache2_ok:
        cause = "apache2 -t accepts it: vhostguard's loader disagrees with httpd here, and the checks built on its model may miss something"
    else:
        cause = "the line cannot be read as httpd reads it"
    evidence: tuple[str, ...] = ()
    directives: tuple[DirectiveRef, ...] = ()
    if source is not None and source.line:
        evidence = (ctx.source_line(source.file, source.line),)
        directives = (DirectiveRef(_directive_at(ctx, source.file, source.line) or "line", source.file, source.line),)
    return Finding(
        NAME, "config-unreadable", Severity.WARNING if apache2_ok else Severity.CRITICAL, str(error), cause,
        evidence=evidence, directives=directives, next=ctx.command("dump"),
    )


CHECK = Check(NAME, run)

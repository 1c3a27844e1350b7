"""lint/: the configuration audit.

Public surface: ``run(model, tree, select, ignore) -> list[Finding]``, the
``Finding``/``Severity``/``Rule`` types, the rule ``Registry``, project
settings and the reporters.
"""
from __future__ import annotations

from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.registry import Registry, SelectionError, default_registry
from vhostguard.lint.runner import fails, run, selected_rules, summarize
from vhostguard.lint.settings import LintSettings, SettingsError, load_settings

from vhostguard.lint.docs import rule_text, rules_markdown
from vhostguard.lint.reporters import json_report, sarif_report, text_report
from vhostguard.lint.rules.observability._common import RECOMMENDED_LOGFORMAT, RECOMMENDED_NICKNAME

__all__ = [
    "RECOMMENDED_LOGFORMAT",
    "RECOMMENDED_NICKNAME",
    "Finding",
    "LintSettings",
    "Registry",
    "Rule",
    "SelectionError",
    "SettingsError",
    "Severity",
    "default_registry",
    "fails",
    "json_report",
    "load_settings",
    "rule_text",
    "rules_markdown",
    "run",
    "sarif_report",
    "selected_rules",
    "summarize",
    "text_report",
]

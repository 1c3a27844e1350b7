"""report/: turn model and decision data into text and JSON documents (no I/O).

Public surface: one renderer per command's output (``vhosts_text``,
``diff_json``, ``report_html``, ...) and the word helpers (``plural``,
``printable``).

The renderers are imported on first use (PEP 562): each command needs one or
two of them, and importing them all would cost every command the import of
rich, the analytics and the monitor package (~0.1 s), which ``vhosts`` and
``route`` do not otherwise pay.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vhostguard.report.analytics import report_html, tables
    from vhostguard.report.analytics_json import report_json
    from vhostguard.report.diff import diff_json, diff_text
    from vhostguard.report.dump import dump_text, includes_text
    from vhostguard.report.expectations import results_json, results_junit, results_text
    from vhostguard.report.route import decision_json, explain_text, live_json, live_text, route_line
    from vhostguard.report.vhosts import vhosts_json, vhosts_text
    from vhostguard.report.words import plural, printable, printable_json

# public name -> the module of this package that defines it
_WHERE: dict[str, str] = {
    "decision_json": "route",
    "diff_json": "diff",
    "diff_text": "diff",
    "dump_text": "dump",
    "explain_text": "route",
    "includes_text": "dump",
    "live_json": "route",
    "live_text": "route",
    "plural": "words",
    "printable": "words",
    "printable_json": "words",
    "report_html": "analytics",
    "report_json": "analytics_json",
    "results_json": "expectations",
    "results_junit": "expectations",
    "results_text": "expectations",
    "route_line": "route",
    "tables": "analytics",
    "vhosts_json": "vhosts",
    "vhosts_text": "vhosts",
}

__all__ = [
    "decision_json",
    "diff_json",
    "diff_text",
    "dump_text",
    "explain_text",
    "includes_text",
    "live_json",
    "live_text",
    "plural",
    "printable",
    "printable_json",
    "report_html",
    "report_json",
    "results_json",
    "results_junit",
    "results_text",
    "route_line",
    "tables",
    "vhosts_json",
    "vhosts_text",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value

"""VG2xx files and reachability: paths the configuration names that are not there.

One module per rule (``vgNNN_rule_name.py``, documentation in the class
docstring); ``RULES`` lists them explicitly, in code order.
"""
from __future__ import annotations

from vhostguard.lint.core import Rule
from vhostguard.lint.rules.files.vg201_document_root_missing import DocumentRootMissing
from vhostguard.lint.rules.files.vg202_alias_target_missing import AliasTargetMissing
from vhostguard.lint.rules.files.vg203_wsgi_script_missing import WsgiScriptMissing
from vhostguard.lint.rules.files.vg204_tls_file_missing import TlsFileMissing
from vhostguard.lint.rules.files.vg205_log_directory_missing import LogDirectoryMissing

RULES: tuple[type[Rule], ...] = (
    DocumentRootMissing,
    AliasTargetMissing,
    WsgiScriptMissing,
    TlsFileMissing,
    LogDirectoryMissing,
)

"""VG3xx security: doors left open by the configuration.

One module per rule (``vgNNN_rule_name.py``, documentation in the class
docstring); ``RULES`` lists them explicitly, in code order.
"""
from __future__ import annotations

from vhostguard.lint.core import Rule
from vhostguard.lint.rules.security.vg301_open_proxy import OpenProxy
from vhostguard.lint.rules.security.vg302_status_handler_exposed import StatusHandlerExposed
from vhostguard.lint.rules.security.vg303_directory_listing import DirectoryListing
from vhostguard.lint.rules.security.vg304_trace_enabled import TraceEnabled
from vhostguard.lint.rules.security.vg305_server_tokens_full import ServerTokensFull
from vhostguard.lint.rules.security.vg306_server_signature_on import ServerSignatureOn
from vhostguard.lint.rules.security.vg307_allowoverride_all import AllowOverrideAll
from vhostguard.lint.rules.security.vg308_root_directory_not_denied import RootDirectoryNotDenied
from vhostguard.lint.rules.security.vg309_vcs_files_exposed import VcsFilesExposed

RULES: tuple[type[Rule], ...] = (
    OpenProxy,
    StatusHandlerExposed,
    DirectoryListing,
    TraceEnabled,
    ServerTokensFull,
    ServerSignatureOn,
    AllowOverrideAll,
    RootDirectoryNotDenied,
    VcsFilesExposed,
)

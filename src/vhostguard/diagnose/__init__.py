"""diagnose/: what a running httpd actually did with a request, and why.

Public surface: ``parse_strace(lines) -> Capture`` (strace's line format as
data: ``Syscall``, ``Signal``, ``Exit``), ``trace(...) -> TraceSummary``
(attach strace to the running server's workers, send one marked request,
summarise what the worker did against the config), and the pieces doctor
reuses: ``config_targets(model)`` (every DocumentRoot/Alias/ProxyPass target
with its vhost and file:line) and ``summarise(...)``.
"""
from __future__ import annotations

from vhostguard.diagnose.strace import Capture, Exit, Signal, Syscall, parse_strace

__all__ = ["Capture", "Exit", "Signal", "Syscall", "parse_strace"]

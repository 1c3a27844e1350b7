"""diagnose/: what a running httpd actually did with a request, and why.

Public surface: ``parse_strace(lines) -> Capture`` (strace's line format as
data: ``Syscall``, ``Signal``, ``Exit``); ``summarise(capture, model,
request, marker) -> TraceSummary`` (what the worker thread that read the
marked request did: files, backend connects, DNS lookups, execs, status,
phases, mapped back to config lines); ``trace(...) ->
TraceSummary`` (attach strace to a running server's workers, send one marked
request, summarise); and the piece doctor reuses, ``config_targets(model)``
(every DocumentRoot/Alias/ProxyPass target with its vhost and file:line),
``pid_file(model)``, ``server_pid(model)`` and ``worker_pids(pid)`` (the
running server a config describes). The AH-code catalogue:
``explain_code(code)`` / ``explain_line(line) -> CodeEntry | None`` and
``load_catalogue()`` (what httpd 2.4's numbered error-log messages mean).

``doctor(DoctorOptions) -> Diagnosis``: the checks of ``diagnose.checks``
(config, server, listeners, backends) run against the server a config
describes, their ``Finding``s ranked most likely cause first.
"""
from __future__ import annotations

from vhostguard.diagnose.attach import TraceError, pid_file, process_alive, server_pid, trace, worker_pids
from vhostguard.logs import Catalogue, CodeEntry, explain_code, explain_line, load_catalogue, normalise_code
from vhostguard.diagnose.checkup import DoctorError, doctor
from vhostguard.diagnose.context import DoctorOptions, iso
from vhostguard.diagnose.findings import CheckResult, Diagnosis, Finding, RecentChange, ServerState, Severity
from vhostguard.diagnose.server_state import RESUME_CODES
from vhostguard.diagnose.server_state import server_state as observe_server  # (the module has the function's name)
from vhostguard.diagnose.strace import Capture, Exit, Signal, Syscall, parse_strace
from vhostguard.diagnose.summary import (
    MARKER_HEADER, Connect, DirectiveRef, DnsLookup, Exec, FileAccess, NotTraced, Phase, TraceSummary, summarise,
)
from vhostguard.diagnose.targets import ConfigTarget, backend_address, config_targets

__all__ = [
    "MARKER_HEADER", "Capture", "Catalogue", "CheckResult", "CodeEntry", "ConfigTarget", "Connect", "Diagnosis",
    "DirectiveRef", "DnsLookup", "DoctorError", "DoctorOptions", "Exec", "Exit", "FileAccess", "Finding", "NotTraced",
    "Phase", "ServerState", "Severity", "Signal", "Syscall", "TraceError", "TraceSummary", "backend_address",
    "config_targets", "doctor", "explain_code", "explain_line", "iso", "load_catalogue", "normalise_code", "parse_strace",
    "pid_file", "process_alive", "server_pid", "summarise", "trace", "worker_pids",
]
__all__ += ["RecentChange"]  # for the CLI: the deploys it read from the event store
__all__ += ["RESUME_CODES", "observe_server"]  # for deploy: the running server a config describes

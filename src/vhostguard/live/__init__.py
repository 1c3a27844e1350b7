"""live/: a real apache2 on a sandboxed copy of a candidate config, and probes.

Public surface: ``Sandbox`` (context manager) with ``request(url, ...) ->
LiveResult``; ``probe(url, connect_to)`` for any server; the errors
``SandboxError`` and ``SandboxUnsupported``. Only this stage (and doctor,
deploy) runs apache2; the static stages never do.
"""
from __future__ import annotations

from vhostguard.live.errors import SandboxError, SandboxUnsupported
from vhostguard.live.probe import ProbeError, ProbeResult, probe
from vhostguard.live.sandbox import BackendHit, LiveResult, Sandbox, find_apache2
from vhostguard.live.system import ConfigTest, apache_environment, config_test

__all__ = [
    "BackendHit", "ConfigTest", "LiveResult", "ProbeError", "ProbeResult", "Sandbox", "SandboxError", "SandboxUnsupported",
    "apache_environment", "config_test", "find_apache2", "probe",
]

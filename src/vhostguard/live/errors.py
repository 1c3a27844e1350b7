"""Errors raised by the live sandbox."""
from __future__ import annotations


class SandboxError(Exception):
    """The sandboxed apache2 could not be prepared, started, queried or stopped.

    ``message`` is what went wrong (apache2's own words where it said
    something, with sandbox paths mapped back to the original files);
    ``log_tail`` the last lines of the sandbox error_log, if any.
    """

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message if not log_tail else f"{message}\n--- error_log (last lines) ---\n{log_tail}")
        self.message = message
        self.log_tail = log_tail


class SandboxUnsupported(SandboxError):
    """The configuration uses something the sandbox cannot rewrite faithfully.

    Raised before apache2 runs, rather than starting a server whose answers
    would not be those of the real configuration.
    """

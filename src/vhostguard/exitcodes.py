"""Exit statuses of every command (docs/contract.md)."""
from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FINDINGS = 1  # lint findings, failed expectations, routing changes
    BAD_INPUT = 2  # usage error, unreadable or invalid input
    INTERNAL_ERROR = 70  # a bug of ours (sysexits' EX_SOFTWARE), never mistaken for findings
    INTERRUPTED = 130


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where it arrived so that cleanups run (live/ installs it while
    a sandboxed apache2 runs). A KeyboardInterrupt, so whatever handles an interruption handles
    this one too; the exit status is the shell's for that signal, 128 + ``signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum

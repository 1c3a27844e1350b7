"""Exit statuses of every command (CONTRACT.md)."""
from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FINDINGS = 1  # lint findings, failed expectations, routing changes
    BAD_INPUT = 2  # usage error, unreadable or invalid input
    INTERRUPTED = 130

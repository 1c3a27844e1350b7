"""Helpers shared by several files rules."""
from __future__ import annotations

import os


def path_problem(path: str, *, directory: bool) -> str | None:
    """Why httpd could not use ``path`` (None when it can)."""
    if not os.path.exists(path):
        return "does not exist"
    if directory and not os.path.isdir(path):
        return "is not a directory"
    if not directory and os.path.isdir(path):
        return "is a directory"
    if not os.access(path, os.R_OK | (os.X_OK if directory else 0)):
        return "is not readable"
    return None


def is_pattern(text: str) -> bool:
    return "$" in text or any(c in text for c in "*?[")

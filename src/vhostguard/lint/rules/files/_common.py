"""Helpers shared by several files rules."""
from __future__ import annotations

import os
import stat


def path_problem(path: str, *, directory: bool) -> str | None:
    """Why httpd could not use ``path`` (None when it can)."""
    # One stat for what os.path.exists and os.path.isdir would each stat again
    # (issue 17.15: a DocumentRoot and a log directory per vhost).
    try:
        is_directory = stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):
        return "does not exist"
    if directory and not is_directory:
        return "is not a directory"
    if not directory and is_directory:
        return "is a directory"
    if not os.access(path, os.R_OK | (os.X_OK if directory else 0)):
        return "is not readable"
    return None


def is_pattern(text: str) -> bool:
    return "$" in text or any(c in text for c in "*?[")

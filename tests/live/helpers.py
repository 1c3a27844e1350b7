"""Config trees that httpd's unprivileged workers can read."""
from __future__ import annotations

import os
import shutil
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

Site = Callable[..., Path]


def _traversable_by_others(path: Path) -> bool:
    """Can httpd's workers (User www-data, or uid -1 without a User line) reach ``path``?"""
    return all(os.stat(d).st_mode & 0o001 for d in [path, *path.parents])


@contextmanager
def readable_dir(candidate: Path) -> Iterator[Path]:
    """``candidate`` if httpd's unprivileged workers can reach it, else a dedicated /tmp directory.

    pytest's tmp_path sits under /tmp/pytest-of-USER (mode 0700), which
    www-data cannot traverse.
    """
    if _traversable_by_others(candidate):
        yield candidate
        return
    directory = Path(tempfile.mkdtemp(prefix="vhostguard-live-test-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def writer(root: Path) -> Site:
    """Write dedented files under ``root``, world-readable (0644 files, 0755 directories)."""

    def _write(relative: str, text: str = "") -> Path:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        directory = path.parent
        while directory != root.parent:
            directory.chmod(0o755)
            directory = directory.parent
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        path.chmod(0o644)
        return path

    return _write

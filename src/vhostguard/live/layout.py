"""The sandbox directory: a private copy of the config files, and where logs go.

Config files are mirrored under ``fs/`` at their absolute path
(``/etc/apache2/apache2.conf`` -> ``SANDBOX/fs/etc/apache2/apache2.conf``),
so a copy's location says where it came from and relative paths keep their
meaning. Next to the copied files, every other entry of the original
directories (``modules``, ``mime.types``, ``htdocs`` ...) is a symlink to the
original: httpd reads those as before, but only through the copied config.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass


SANDBOX_PREFIX = "vhostguard-sandbox-"  # what lifeline.sweep_stale looks for


@dataclass(frozen=True)
class Layout:
    root: str

    @staticmethod
    def create(parent: str | None = None) -> Layout:
        """A new sandbox directory, readable by httpd's unprivileged workers.

        mkdtemp makes it 0700; httpd's children run as ``User`` (www-data) and
        may need to traverse it (symlinked document roots, runtime files).
        """
        root = tempfile.mkdtemp(prefix=SANDBOX_PREFIX, dir=parent)
        os.chmod(root, 0o755)
        layout = Layout(os.path.realpath(root))
        for sub in (layout.fs, layout.run, layout.logs):
            os.makedirs(sub, exist_ok=True)
            os.chmod(sub, 0o755)
        return layout

    @property
    def fs(self) -> str:
        return os.path.join(self.root, "fs")

    @property
    def run(self) -> str:
        return os.path.join(self.root, "run")

    @property
    def logs(self) -> str:
        return os.path.join(self.root, "logs")

    @property
    def error_log(self) -> str:
        return os.path.join(self.logs, "error.log")

    @property
    def stderr_log(self) -> str:
        return os.path.join(self.logs, "stderr.log")

    @property
    def journal(self) -> str:
        return os.path.join(self.logs, "vhostguard-global.log")

    def mirror(self, path: str) -> str:
        """Where the original absolute ``path`` lives in the sandbox."""
        return os.path.join(self.fs, os.path.normpath(path).lstrip("/"))

    def original(self, copy_path: str) -> str | None:
        """The original path of a sandbox path under ``fs/``, or None."""
        prefix = self.fs + os.sep
        if not copy_path.startswith(prefix):
            return None
        return "/" + copy_path[len(prefix):]

    def unmirror_text(self, text: str) -> str:
        """``text`` (e.g. an apache2 message) with sandbox copies named by their original paths."""
        return text.replace(self.fs + "/", "/")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def copy_config(layout: Layout, files: Iterable[str], anchors: Iterable[str]) -> list[str]:
    """Copy every config file into the mirror, then link the rest of its directories.

    ``anchors`` are directories (the server roots) whose other entries must
    be reachable in the mirror for relative paths; the directories of the
    copied files get the same treatment. Returns the directories populated.
    """
    copied = list(dict.fromkeys(os.path.normpath(f) for f in files))
    for path in copied:
        target = layout.mirror(path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(path, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.chmod(target, 0o644)
    roots = [os.path.normpath(a) for a in anchors] + [os.path.dirname(f) for f in copied]
    populated: list[str] = []
    for directory in dict.fromkeys(roots):
        populated.extend(_populate_down(layout, directory, copied))
    return populated


def _populate_down(layout: Layout, directory: str, copied: list[str]) -> list[str]:
    """Populate ``directory`` and every directory between it and copied files below it."""
    done: list[str] = []
    wanted = {directory}
    for path in copied:
        parent = os.path.dirname(path)
        while parent.startswith(directory.rstrip("/") + "/"):
            wanted.add(parent)
            parent = os.path.dirname(parent)
    for path in sorted(wanted):
        _link_entries(layout, path)
        done.append(path)
    return done


def _link_entries(layout: Layout, directory: str) -> None:
    mirror = layout.mirror(directory)
    os.makedirs(mirror, exist_ok=True)
    os.chmod(mirror, 0o755)
    try:
        names = os.listdir(directory)
    except OSError:
        return  # a ServerRoot that does not exist here: nothing to link
    for name in names:
        link = os.path.join(mirror, name)
        if not os.path.lexists(link):
            os.symlink(os.path.join(directory, name), link)

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

SYSTEM_TREE = "/etc/apache2"


def build_debian_tree(live: Path, *, system: bool = True) -> Path:
    """A tree laid out like Debian's /etc/apache2: the real one when this machine has it (and ``system``),
    else a small one; in both, sites-enabled holds a relative symlink into sites-available (as a2ensite
    makes it)."""
    if system and os.path.isdir(SYSTEM_TREE):
        shutil.copytree(SYSTEM_TREE, live, symlinks=True)
    else:
        (live / "mods-available").mkdir(parents=True)
        (live / "mods-enabled").mkdir()
        (live / "apache2.conf").write_text("IncludeOptional sites-enabled/*.conf\n")
        (live / "mods-available" / "alias.load").write_text("LoadModule alias_module mod_alias.so\n")
        os.symlink("../mods-available/alias.load", live / "mods-enabled" / "alias.load")
    (live / "sites-available").mkdir(exist_ok=True)
    (live / "sites-enabled").mkdir(exist_ok=True)
    (live / "sites-available" / "shop.conf").write_text("<VirtualHost *:80>\n    ServerName shop.example\n</VirtualHost>\n")
    os.symlink("../sites-available/shop.conf", live / "sites-enabled" / "shop.conf")
    secret = live / "secret.key"
    secret.write_text("not a real key\n")
    secret.chmod(0o600)
    os.utime(secret, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    return live


@pytest.fixture
def live_dir(tmp_path: Path) -> Path:
    return build_debian_tree(tmp_path / "etc" / "apache2")


def listing(root: Path) -> list[tuple[str, str, int, int, str]]:
    """Everything under ``root``: relative path, kind, mode, mtime (ns), link target or size."""
    entries = []
    for directory, dirs, files in os.walk(root):
        for name in sorted(dirs + files) + ([] if directory != str(root) else ["."]):
            path = os.path.normpath(os.path.join(directory, name))
            info = os.lstat(path)
            kind = "link" if stat.S_ISLNK(info.st_mode) else "dir" if stat.S_ISDIR(info.st_mode) else "file"
            extra = os.readlink(path) if kind == "link" else str(info.st_size)
            entries.append((os.path.relpath(path, root), kind, info.st_mode, info.st_mtime_ns, extra))
    return sorted(entries)

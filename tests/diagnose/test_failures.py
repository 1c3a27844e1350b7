"""diagnose.failures on real files: which the workers' User may not read, the first
missing part of a path and the name nearby, the RewriteRules that apply."""
from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vhostguard.config import LoadOptions, load
from vhostguard.diagnose.failures import WorkerUser, missing_part, rewrite_rules, unreadable, worker_user
from vhostguard.model import build_model


def www_data(tmp_path: Path) -> WorkerUser:
    conf = tmp_path / "user.conf"
    conf.write_text("User www-data\nGroup www-data\n")
    found = worker_user(build_model(load(str(conf), LoadOptions())))
    assert found is not None
    return found


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory www-data can reach (pytest's tmp dirs are 0700 root), files owned by root."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the files must belong to another user than www-data")
    try:
        pwd.getpwnam("www-data")
    except KeyError:
        pytest.skip("no www-data user here")
    path = Path(tempfile.mkdtemp(prefix="vhostguard-failures-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_worker_user_from_the_config(tmp_path: Path) -> None:
    worker = www_data(tmp_path)
    entry = pwd.getpwnam("www-data") if "www-data" in {p.pw_name for p in pwd.getpwall()} else None
    assert worker.user == "www-data" and worker.group == "www-data" and worker.user_line.source.line == 1
    if entry is not None:
        assert worker.uid == entry.pw_uid and entry.pw_gid in (worker.gids or ())


def test_file_without_read_permission(tmp_path: Path, open_dir: Path) -> None:
    site = open_dir / "site"
    site.mkdir()
    site.chmod(0o755)
    page = site / "page.html"
    page.write_text("x")
    page.chmod(0o600)
    worker = www_data(tmp_path)
    why = unreadable(str(page), worker)
    assert why is not None and f"file {page} is mode 0600 owned by root:root" in why and "no read permission" in why
    page.chmod(0o644)
    assert unreadable(str(page), worker) is None


def test_directory_without_search_permission(tmp_path: Path, open_dir: Path) -> None:
    closed = open_dir / "closed"
    closed.mkdir()
    (closed / "page.html").write_text("x")
    closed.chmod(0o750)  # root's group only
    why = unreadable(str(closed / "page.html"), www_data(tmp_path))
    assert why is not None and f"directory {closed} is mode 0750" in why and "no search (x) permission" in why


def test_missing_part_and_the_name_nearby(tmp_path: Path) -> None:
    (tmp_path / "static").mkdir()
    assert missing_part(str(tmp_path / "statics" / "app.js")) == (str(tmp_path / "statics"), str(tmp_path / "static"))
    assert missing_part(str(tmp_path / "elsewhere" / "app.js")) == (str(tmp_path / "elsewhere"), None)


def test_rewrite_rules_that_apply(write: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "site" / "app").mkdir(parents=True)
    conf = write("httpd.conf", f"""
        Listen 80
        RewriteRule ^/main-only$ /x
        <VirtualHost *:80>
            ServerName www.example.test
            DocumentRoot {tmp_path}/site
            RewriteRule ^/old$ /new
            <Directory {tmp_path}/site>
                RewriteRule ^app/(.*)$ app/v2/$1 [L]
            </Directory>
            <Directory {tmp_path}/other>
                RewriteRule ^x$ y
            </Directory>
        </VirtualHost>
        """)
    model = build_model(load(str(conf), LoadOptions()))
    lines = [node.source.line for node in rewrite_rules(model, model.vhosts[0], "/app/users", f"{tmp_path}/site/app/users")]
    text = conf.read_text().splitlines()
    assert [text[n - 1].strip() for n in lines] == ["RewriteRule ^/old$ /new", "RewriteRule ^app/(.*)$ app/v2/$1 [L]"]

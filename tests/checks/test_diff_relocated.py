"""Issue 15.8: ``diff`` across relocated trees (the live config dir vs a candidate copy, or two slots).

A file under OLD's ServerRoot and the same relative file under NEW's ServerRoot are the same
file; ``--strict-paths`` keeps the literal comparison.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from vhostguard.cli import main

MAIN = """\
ServerName main.example
Listen 80
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so
LoadModule alias_module /usr/lib/apache2/modules/mod_alias.so
DocumentRoot htdocs
Include sites/*.conf
"""

WWW = """\
<VirtualHost *:80>
    ServerName www.example.com
    DocumentRoot htdocs/www
    Alias /manual {root}/manual
</VirtualHost>
"""

URLS = ["http://www.example.com/index.html", "http://www.example.com/", "http://www.example.com/manual/a.html",
        "http://other.example/", "http://www.example.com/old"]


def _tree(root: Path) -> Path:
    """A small tree whose served files live under its own ServerRoot (relative DocumentRoot and an
    Alias naming the tree's directory by absolute path)."""
    (root / "sites").mkdir(parents=True)
    (root / "htdocs" / "www").mkdir(parents=True)
    (root / "manual").mkdir()
    (root / "apache2.conf").write_text(MAIN)
    (root / "sites" / "www.conf").write_text(WWW.format(root=root))
    (root / "htdocs" / "www" / "index.html").write_text("hi\n")
    (root / "manual" / "a.html").write_text("manual\n")
    return root / "apache2.conf"


def _copy(live: Path, where: Path) -> Path:
    """The tree in another place, as a candidate checkout: its absolute paths name the new place."""
    shutil.copytree(live.parent, where)
    www = where / "sites" / "www.conf"
    www.write_text(www.read_text().replace(str(live.parent), str(where)))
    return where / "apache2.conf"


def _diff(tmp_path: Path, old: Path, new: Path, *flags: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    urls = tmp_path / "urls.txt"
    urls.write_text("\n".join(URLS) + "\n")
    result = CliRunner().invoke(main, ["diff", str(old), str(new), "--requests", str(urls), "--json", *flags])
    return result.exit_code, json.loads(result.stdout)


def test_a_relocated_copy_of_a_tree_changes_nothing(tmp_path: Path) -> None:
    live = _tree(tmp_path / "etc" / "apache2")
    candidate = _copy(live, tmp_path / "candidate")
    code, doc = _diff(tmp_path, live, candidate)
    assert (code, doc["requests"], doc["changed"]) == (0, len(URLS), 0)


def test_strict_paths_compares_the_served_files_literally(tmp_path: Path) -> None:
    live = _tree(tmp_path / "etc" / "apache2")
    candidate = _copy(live, tmp_path / "candidate")
    code, doc = _diff(tmp_path, live, candidate, "--strict-paths")
    assert code == 1 and doc["changed"] == len(URLS)  # every answer names a path in its own tree
    targets = {(g["old"]["outcome"]["target"], g["new"]["outcome"]["target"]) for g in doc["groups"]}
    assert (str(live.parent / "htdocs/www/index.html"), str(candidate.parent / "htdocs/www/index.html")) in targets


def test_a_real_change_in_the_relocated_copy_is_reported(tmp_path: Path) -> None:
    live = _tree(tmp_path / "etc" / "apache2")
    candidate = _copy(live, tmp_path / "slots" / "apache2.green")
    www = candidate.parent / "sites" / "www.conf"
    # One new redirect in the vhost: its other requests are routed on both sides (the server's
    # directives differ) and still compare equal, relative to each tree's root.
    www.write_text(www.read_text().replace("DocumentRoot htdocs/www", "DocumentRoot htdocs/www\n    Redirect /old /new"))
    code, doc = _diff(tmp_path, live, candidate)
    assert code == 1 and doc["changed"] == 1
    (group,) = doc["groups"]
    assert group["examples"] == ["http://www.example.com/old"]
    assert group["new"]["outcome"]["kind"] == "redirect"


def test_a_moved_document_root_inside_the_copy_is_reported(tmp_path: Path) -> None:
    live = _tree(tmp_path / "etc" / "apache2")
    candidate = _copy(live, tmp_path / "candidate")
    (candidate.parent / "htdocs" / "new").mkdir()
    (candidate.parent / "htdocs" / "new" / "index.html").write_text("new\n")
    www = candidate.parent / "sites" / "www.conf"
    www.write_text(www.read_text().replace("DocumentRoot htdocs/www", "DocumentRoot htdocs/new"))
    code, doc = _diff(tmp_path, live, candidate)
    assert code == 1
    moved = [g for g in doc["groups"] if g["old"]["outcome"]["target"] == str(live.parent / "htdocs/www/index.html")]
    assert moved and moved[0]["new"]["outcome"]["target"] == str(candidate.parent / "htdocs/new/index.html")

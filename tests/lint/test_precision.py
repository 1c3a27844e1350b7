"""Lint precision on real-world-shaped configurations (issue 15, item 10).

Each test is a false positive (or a noisy finding) seen on a real config:
Debian's stock /etc/apache2 with a site added the way a2ensite does, or a
pattern from public configs. Copies of the stock tree are used when this
machine has it (CI installs apache2); the rules' own fixtures are in
fixtures/<code>/.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from vhostguard.config import LoadOptions, load
from vhostguard.lint import Finding, Severity, run
from vhostguard.model import build_model

SYSTEM_TREE = Path("/etc/apache2")
needs_debian = pytest.mark.skipif(not (SYSTEM_TREE / "apache2.conf").is_file(), reason="Debian's apache2 is not installed")


def debian_tree(tmp_path: Path, sites: dict[str, str], modules: tuple[str, ...] = ()) -> Path:
    """A copy of the stock tree with ``sites`` enabled (relative symlinks, as a2ensite makes
    them) and ``modules`` enabled (a2enmod: their .load and .conf); returns apache2.conf."""
    root = tmp_path / "etc" / "apache2"
    shutil.copytree(SYSTEM_TREE, root, symlinks=True)
    for name, text in sites.items():
        (root / "sites-available" / f"{name}.conf").write_text(text)
        link = root / "sites-enabled" / f"{name}.conf"
        if not link.is_symlink():
            os.symlink(f"../sites-available/{name}.conf", link)
    for module in modules:
        for suffix in (".load", ".conf"):
            if (root / "mods-available" / f"{module}{suffix}").is_file() and not (root / "mods-enabled" / f"{module}{suffix}").exists():
                os.symlink(f"../mods-available/{module}{suffix}", root / "mods-enabled" / f"{module}{suffix}")
    return root / "apache2.conf"


def lint(conf: Path, select: list[str] | None = None) -> list[Finding]:
    tree = load(str(conf), LoadOptions())
    model = build_model(tree)
    assert tree.errors == () and model.errors == ()
    return run(model, tree, select=select)


def lines(findings: list[Finding]) -> list[str]:
    return [f"{Path(f.file).name}:{f.line}: {f.code} {f.message}" for f in findings]


PROXIED_APP = """<VirtualHost *:80>
    ServerName app.example.com
    ProxyPreserveHost On
    ProxyPass / http://127.0.0.1:8080/
    ProxyPassReverse / http://127.0.0.1:8080/
    ErrorLog ${APACHE_LOG_DIR}/app-error.log
    CustomLog ${APACHE_LOG_DIR}/app-access.log combined
</VirtualHost>
"""


# --- VG109: a main-server alias is judged per server ------------------------------------------

@needs_debian
def test_vg109_one_proxying_vhost_does_not_make_the_stock_icons_alias_dead(tmp_path: Path) -> None:
    # Debian's mods-enabled/alias.conf has `Alias /icons/ /usr/share/apache2/icons/`; the
    # stock 000-default still serves it, only app.example.com proxies it away.
    conf = debian_tree(tmp_path, {"app": PROXIED_APP}, ("proxy", "proxy_http"))
    assert lines(lint(conf, ["VG109"])) == []


@needs_debian
def test_vg109_a_main_server_alias_shadowed_in_every_server_is_still_found(tmp_path: Path) -> None:
    conf = debian_tree(tmp_path, {"app": PROXIED_APP}, ("proxy", "proxy_http"))
    (conf.parent / "sites-enabled" / "000-default.conf").unlink()
    (conf.parent / "conf-enabled" / "proxy-all.conf").write_text("ProxyPass / http://127.0.0.1:9000/\n")
    found = lint(conf, ["VG109"])
    assert [(Path(f.file).name, f.code) for f in found] == [("alias.conf", "VG109")], lines(found)


# --- VG102 / VG105: addresses listed twice, addresses partly listened -------------------------

@needs_debian
def test_vg102_a_vhost_listing_one_address_twice_is_not_answered_by_itself(tmp_path: Path) -> None:
    # localhost resolves to 127.0.0.1: the vhost is twice in the 127.0.0.1:80 set.
    site = """<VirtualHost localhost:80 127.0.0.1:80>
    ServerName status.example.com
    DocumentRoot /var/www/html
</VirtualHost>
<VirtualHost 127.0.0.1:80>
    ServerName other.example.com
    DocumentRoot /var/www/html
</VirtualHost>
"""
    found = lint(debian_tree(tmp_path, {"local": site}), ["VG102", "VG105"])
    assert not [line for line in lines(found) if "already answered by status.example.com" in line], lines(found)
    assert lines(found) == []


@needs_debian
def test_vg105_a_vhost_answering_on_a_listened_address_is_not_reported(tmp_path: Path) -> None:
    # A site written for both ports while mod_ssl (and ports.conf's Listen 443) is disabled.
    site = """<VirtualHost *:80 *:443>
    ServerName www.example.com
    DocumentRoot /var/www/html
</VirtualHost>
"""
    assert lines(lint(debian_tree(tmp_path, {"www": site}), ["VG105"])) == []


@needs_debian
def test_vg105_still_reports_a_vhost_on_no_listened_address_once_per_address(tmp_path: Path) -> None:
    site = """<VirtualHost *:8080 *:8080>
    ServerName www.example.com
    DocumentRoot /var/www/html
</VirtualHost>
"""
    found = lint(debian_tree(tmp_path, {"www": site}), ["VG105"])
    assert [f.message for f in found] == ["vhost www.example.com: no Listen opens *:8080, so it never receives a request"]

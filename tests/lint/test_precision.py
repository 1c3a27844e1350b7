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
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.live.helpers import readable_dir
from tests.logs.sandbox import request, running
from tests.support.apache import base_config, free_port, needs_apache
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


# --- VG309: dot-files denied by a per-directory RewriteRule [F] --------------------------------

# Drupal's .htaccess (core/assets/scaffold/files/htaccess): "Block access to all hidden files
# and directories except for the visible content from within the /.well-known/ hidden directory".
DRUPAL_DOTFILES = 'RewriteEngine on\nRewriteRule "/\\.|^\\.(?!well-known/)" - [F]\n'
VCS_SITE = """Listen 127.0.0.1:{port}
ServerName fixture.test
<VirtualHost 127.0.0.1:{port}>
    ServerName www.example.com
    DocumentRoot {root}/www
    <Directory {root}/www>
        Require all granted
{inside}
    </Directory>
{outside}
</VirtualHost>
"""
VCS_PATHS = ("/.git/HEAD", "/.env")


@dataclass(frozen=True)
class VcsCase:
    inside: str  # in the DocumentRoot's <Directory>
    outside: str = ""  # in the vhost
    htaccess: str | None = None
    served: tuple[str, ...] = ()  # what apache2 answers 200 for; 403 for the rest


VCS_CASES = {
    "directory-rewrite-F": VcsCase(DRUPAL_DOTFILES),
    "htaccess-rewrite-F": VcsCase("AllowOverride All", htaccess=DRUPAL_DOTFILES),
    # the fixture's fix: <DirectoryMatch> for the VCS folders, <Files> for .env
    "directorymatch-and-files": VcsCase("", '<DirectoryMatch "/\\.(git|svn|hg)">\n    Require all denied\n</DirectoryMatch>\n'
                                            '<Files ".env">\n    Require all denied\n</Files>'),
    # "deny dot-files" by name only: .git/HEAD is named HEAD and stays served
    "filesmatch-dot-names": VcsCase('<FilesMatch "^\\.">\n    Require all denied\n</FilesMatch>', served=("/.git/HEAD",)),
    "unprotected": VcsCase("", served=VCS_PATHS),
}


def _indent(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in text.splitlines())


def _vcs_site(root: Path, port: int, case: VcsCase) -> Path:
    www = root / "www"
    (www / ".git").mkdir(parents=True)
    (www / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (www / ".env").write_text("DATABASE_PASSWORD=hunter2\n")
    (www / "index.html").write_text("hello\n")
    if case.htaccess is not None:
        (www / ".htaccess").write_text(case.htaccess)
    for path in (root, www, www / ".git"):
        path.chmod(0o755)
    for path in (www / ".git" / "HEAD", www / ".env", www / "index.html", www / ".htaccess"):
        if path.exists():
            path.chmod(0o644)
    conf = root / "apache2.conf"
    body = VCS_SITE.format(port=port, root=root, inside=_indent(case.inside, 8), outside=_indent(case.outside, 4))
    conf.write_text(base_config(root, ("mpm_event", "authz_core", "rewrite")) + body)
    return conf


@pytest.mark.parametrize("name", list(VCS_CASES))
def test_vg309_reports_what_is_served_not_what_a_rule_forbids(tmp_path: Path, name: str) -> None:
    case = VCS_CASES[name]
    with readable_dir(tmp_path) as root:
        found = lint(_vcs_site(root, free_port(), case), ["VG309"])
    reported = {f.message.split(": ")[1].split()[0] for f in found}
    assert reported == set(case.served), lines(found)


@pytest.mark.httpd
@needs_apache
@pytest.mark.parametrize("name", list(VCS_CASES))
def test_vg309_cases_as_apache2_answers_them(tmp_path: Path, name: str) -> None:
    case = VCS_CASES[name]
    with readable_dir(tmp_path) as root:
        port = free_port()
        conf = _vcs_site(root, port, case)
        with running(conf, port, {"PATH": "/usr/sbin:/usr/bin:/bin", "LANG": "C"}):
            statuses = {path: request(port, f"GET {path} HTTP/1.1".encode(), [(b"Host", b"www.example.com")]).status
                        for path in VCS_PATHS}
    assert statuses == {path: 200 if path in case.served else 403 for path in VCS_PATHS}


# --- VG303: only directories some server serves -------------------------------------------------

@needs_debian
def test_vg303_not_for_the_leftover_document_root_of_a_reverse_proxy(tmp_path: Path) -> None:
    # The stock <Directory /var/www/> lists directories; with 000-default disabled the only
    # site proxies every request, so nothing under /var/www is ever served.
    site = PROXIED_APP.replace("    ProxyPreserveHost On\n", "    DocumentRoot /var/www/html\n    ProxyPreserveHost On\n")
    conf = debian_tree(tmp_path, {"app": site}, ("proxy", "proxy_http"))
    (conf.parent / "sites-enabled" / "000-default.conf").unlink()
    assert lines(lint(conf, ["VG303"])) == []


@needs_debian
@pytest.mark.parametrize("exclusion", ["    ProxyPass /static/ !\n", "    <Location /static/>\n        ProxyPass !\n    </Location>\n"])
def test_vg303_still_reports_a_proxy_that_leaves_paths_to_its_document_root(tmp_path: Path, exclusion: str) -> None:
    site = PROXIED_APP.replace("    ProxyPreserveHost On\n", "    DocumentRoot /var/www/html\n" + exclusion)
    conf = debian_tree(tmp_path, {"app": site}, ("proxy", "proxy_http"))
    (conf.parent / "sites-enabled" / "000-default.conf").unlink()
    assert [f.code for f in lint(conf, ["VG303"])] == ["VG303"]


@needs_debian
def test_vg303_stock_tree_keeps_its_finding(tmp_path: Path) -> None:
    # 000-default serves /var/www/html, under the listed /var/www/: a real finding.
    assert [f.code for f in lint(debian_tree(tmp_path, {}), ["VG303"])] == ["VG303"]


# --- what fires on every stock install: said once, or as information ----------------------------

@needs_debian
def test_vg502_the_stock_formats_without_duration_are_one_finding(tmp_path: Path) -> None:
    found = lint(debian_tree(tmp_path, {"app": PROXIED_APP}, ("proxy", "proxy_http")), ["VG502"])
    assert len(found) == 1, lines(found)
    (finding,) = found
    assert "vhost_combined" in finding.message and "LogFormat combined" in finding.message
    assert "other_vhosts_access.log" in finding.message and "app-access.log" in finding.message


@needs_debian
def test_vg502_a_waived_format_leaves_the_group(tmp_path: Path) -> None:
    conf = debian_tree(tmp_path, {})
    text = conf.read_text()
    conf.write_text(text.replace("LogFormat \"%v:%p", "# vhostguard: ignore=VG502\nLogFormat \"%v:%p", 1))
    (finding,) = lint(conf, ["VG502"])
    assert "vhost_combined" not in finding.message and "LogFormat combined" in finding.message


@needs_debian
def test_vg103_the_stock_default_site_is_information(tmp_path: Path) -> None:
    found = lint(debian_tree(tmp_path, {"app": PROXIED_APP}, ("proxy", "proxy_http")), ["VG103"])
    assert [(Path(f.file).name, f.severity) for f in found] == [("000-default.conf", Severity.INFO)], lines(found)
    assert "stock default site" in found[0].message


@needs_debian
def test_vg103_an_edited_default_site_is_still_a_warning(tmp_path: Path) -> None:
    conf = debian_tree(tmp_path, {"app": PROXIED_APP}, ("proxy", "proxy_http"))
    default = conf.parent / "sites-available" / "000-default.conf"
    default.write_text(default.read_text().replace("DocumentRoot /var/www/html", "DocumentRoot /var/www/html\n\tProxyPass /api/ http://127.0.0.1:5000/"))
    found = lint(conf, ["VG103"])
    assert [(Path(f.file).name, f.severity) for f in found] == [("000-default.conf", Severity.WARNING)], lines(found)


@needs_debian
def test_vg109_the_main_server_does_not_count_when_no_connection_reaches_it(tmp_path: Path) -> None:
    # 000-default disabled: app.example.com takes every connection on port 80 and proxies /.
    conf = debian_tree(tmp_path, {"app": PROXIED_APP}, ("proxy", "proxy_http"))
    (conf.parent / "sites-enabled" / "000-default.conf").unlink()
    found = lint(conf, ["VG109"])
    assert [(Path(f.file).name, f.code) for f in found] == [("alias.conf", "VG109")], lines(found)

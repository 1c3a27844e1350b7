"""Sections opened where httpd refuses them: the loader says what ``apache2 -t``
says. Each pair below was run through apache2 2.4.71; the live test asks the
installed apache2 again, so the table cannot drift from the server."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.apache import APACHE2, CLEAN_ENV
from vhostguard.config import LoadOptions, load

OPEN = {
    "Directory": "<Directory /a>", "DirectoryMatch": "<DirectoryMatch ^/a>", "Location": "<Location /a>",
    "LocationMatch": "<LocationMatch ^/a>", "Files": "<Files a>", "FilesMatch": "<FilesMatch a>",
    "Proxy": "<Proxy *>", "If": "<If true>", "VirtualHost": "<VirtualHost 127.0.0.1:18080>",
}
# (outer, inner) -> apache2's message, or None for "Syntax OK"
PAIRS: dict[tuple[str, str], str | None] = {
    ("Directory", "Directory"): "<Directory not allowed in <Directory> context",
    ("Directory", "Location"): "<Location not allowed in <Directory> context",
    ("Location", "Directory"): "<Directory not allowed in <Location> context",
    ("Location", "LocationMatch"): "<LocationMatch not allowed in <Location> context",
    ("Files", "Directory"): "<Directory not allowed in <Files> context",
    ("If", "Location"): "<Location not allowed in <If> context",
    ("Proxy", "Directory"): "<Directory not allowed in <Proxy> context",
    ("Directory", "Proxy"): "<Proxy not allowed in <Directory> context",
    ("Location", "Files"): "<Files> cannot occur within <Location> section",
    ("LocationMatch", "FilesMatch"): "<FilesMatch> cannot occur within <LocationMatch> section",
    ("Directory", "VirtualHost"): "<VirtualHost not allowed in <Directory> context",
    ("Directory", "Files"): None,
    ("Files", "Files"): None,
    ("If", "Files"): None,
    ("VirtualHost", "Directory"): None,
    ("VirtualHost", "Location"): None,
    ("DirectoryMatch", "FilesMatch"): None,
}
HEAD = ("LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so\n"
        "LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so\n"
        "LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so\n"
        "ServerName x\nListen 127.0.0.1:18080\n")


def _config(tmp_path: Path, outer: str, inner: str) -> Path:
    path = tmp_path / "httpd.conf"
    logs = f"ErrorLog {tmp_path}/error.log\nPidFile {tmp_path}/httpd.pid\n"  # apache2 -t checks the log's directory
    path.write_text(f"{HEAD}{logs}{OPEN[outer]}\n{OPEN[inner]}\n</{inner}>\n</{outer}>\n")
    return path


def _errors(path: Path) -> list[str]:
    tree = load(str(path), LoadOptions(env_file=""))
    return [error.message for error in tree.errors]


@pytest.mark.parametrize(("outer", "inner"), list(PAIRS))
def test_loader_refuses_what_apache2_refuses(tmp_path: Path, outer: str, inner: str) -> None:
    expected = PAIRS[(outer, inner)]
    errors = _errors(_config(tmp_path, outer, inner))
    assert errors == ([] if expected is None else [expected])


def test_limit_belongs_in_a_per_directory_section(tmp_path: Path) -> None:
    path = tmp_path / "httpd.conf"
    path.write_text(f"{HEAD}<Limit GET>\n</Limit>\n<VirtualHost 127.0.0.1:18080>\n<LimitExcept GET>\n</LimitExcept>\n"
                    "<Directory /a>\n<Limit POST>\n</Limit>\n</Directory>\n</VirtualHost>\n")
    assert _errors(path) == ["<Limit not allowed here", "<LimitExcept not allowed in <VirtualHost> context"]


def test_conditionals_are_transparent(tmp_path: Path) -> None:
    path = tmp_path / "httpd.conf"
    path.write_text(f"{HEAD}<Directory /a>\n<IfModule mod_proxy.c>\n<Location /b>\n</Location>\n</IfModule>\n</Directory>\n")
    assert _errors(path) == ["<Location not allowed in <Directory> context"]


@pytest.mark.httpd
@pytest.mark.skipif(APACHE2 is None, reason="apache2 is not installed")
@pytest.mark.parametrize(("outer", "inner"), list(PAIRS))
def test_the_table_is_what_the_installed_apache2_says(tmp_path: Path, outer: str, inner: str) -> None:
    import subprocess

    path = _config(tmp_path, outer, inner)
    done = subprocess.run([str(APACHE2), "-t", "-f", str(path)], capture_output=True, text=True, env=CLEAN_ENV,
                          timeout=30, check=False)
    expected = PAIRS[(outer, inner)]
    if expected is None:
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode != 0 and expected in done.stderr, done.stderr

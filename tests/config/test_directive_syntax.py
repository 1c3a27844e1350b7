"""Directives refused as ``apache2 -t`` refuses them, at the same line, in its words.

Each case below was run through apache2 2.4.71; the httpd-marked test asks the
installed apache2 again, so the expectations cannot drift from the server.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.apache import APACHE2, CLEAN_ENV, MODULES_DIR
from vhostguard.cli import main as cli_main
from vhostguard.config import LoadOptions, load

HEAD_LINES = 7  # the body starts on line 8


def _head(root: Path, mpm: bool = True) -> str:
    return "\n".join([
        f"ServerRoot {root}", f"PidFile {root}/httpd.pid", f"ErrorLog {root}/error.log", f"DefaultRuntimeDir {root}",
        f"LoadModule mpm_event_module {MODULES_DIR}/mod_mpm_event.so" if mpm else "# no MPM",
        f"LoadModule authz_core_module {MODULES_DIR}/mod_authz_core.so", "ServerName x", "",
    ])


INVALID = "perhaps misspelled or defined by a module not included in the server configuration"
# (body, line of the error counted from the body's first line, httpd's message) or None: Syntax OK
CASES: dict[str, tuple[str, tuple[int, str] | None]] = {
    "misspelled": ("DocumentRooot /x", (1, f"Invalid command 'DocumentRooot', {INVALID}")),
    "unknown-section": ("<Foo>\n</Foo>", (1, f"Invalid command '<Foo', {INVALID}")),
    "module-not-loaded": ("RewriteEngine on", (1, f"Invalid command 'RewriteEngine', {INVALID}")),
    # httpd looks directives up after reading everything: a later LoadModule counts.
    "module-loaded-later": (f"RewriteEngine on\nLoadModule rewrite_module {MODULES_DIR}/mod_rewrite.so", None),
    "take1-none": ("DocumentRoot", (1, "DocumentRoot takes one argument, Root directory of the document tree")),
    "take1-empty-quoted": ('DocumentRoot ""', (1, "DocumentRoot takes one argument, Root directory of the document tree")),
    "take1-two": ("documentroot /a /b", (1, "DocumentRoot takes one argument, Root directory of the document tree")),
    "take23-one": ("CustomLog /tmp/x", (1, "CustomLog takes two or three arguments, a file name, a custom log format "
                                           "string or format name, and an optional \"env=\" or \"expr=\" clause (see docs)")),
    "iterate-none": ("LogLevel", (1, "LogLevel requires at least one argument, Level of verbosity in error logging")),
    "flag-maybe": ("ContentDigest maybe", (1, "ContentDigest must be On or Off")),
    "flag-none": ("ContentDigest", (1, "ContentDigest must be On or Off")),
    "flag-on": ("ContentDigest on", None),
    "listen-in-vhost": ("<VirtualHost *:80>\nListen 80\n</VirtualHost>", (2, "Listen cannot occur within <VirtualHost> section")),
    "mpm-in-vhost": ("<VirtualHost *:80>\nMaxRequestWorkers 10\n</VirtualHost>",
                     (2, "MaxRequestWorkers cannot occur within <VirtualHost> section")),
    "servername-in-directory": ("<Directory /a>\nServerName y\n</Directory>", (2, "ServerName not allowed in <Directory> context")),
    "as-written-section": ("<directory /a>\nservername y\n</directory>", (2, "ServerName not allowed in <Directory> context")),
    "conditional-transparent": ("<Directory /a>\n<IfModule mod_so.c>\nServerName y\n</IfModule>\n</Directory>",
                                (3, "ServerName not allowed in <Directory> context")),
    "require-at-server": ("Require all granted", (1, "Require not allowed here")),
    "require-in-vhost": ("<VirtualHost *:80>\nRequire all granted\n</VirtualHost>", (2, "Require not allowed in <VirtualHost> context")),
    "require-in-directory": ("<Directory /a>\nRequire all granted\n</Directory>", None),
    "in-limit": ("<Directory /a>\n<Limit GET>\nDocumentRoot /x\n</Limit>\n</Directory>",
                 (3, "DocumentRoot not allowed in <Limit> context")),
    "documentroot-in-location": ("<Location /a>\nDocumentRoot /x\n</Location>", (2, "DocumentRoot not allowed in <Location> context")),
    # core.c checks the context only to log "Useless use of AllowOverride" (AH00114).
    "allowoverride-in-location": ("<Location /a>\nAllowOverride None\n</Location>", None),
    "allowoverride-in-directory": ("<Directory /a>\nAllowOverride None\n</Directory>", None),
    # What follows a closing tag on its line is not read (core.c only looks for the '>').
    "text-after-close": ("<IfModule mod_so.c>\n<VirtualHost *:80>\n</VirtualHost> </IfModule>", None),
    "junk-after-close": ("<VirtualHost *:80>\n</VirtualHost> junk", None),
    # A true conditional ends with its file; a false one must be closed (ap_soak_end_container).
    "true-ifmodule-unclosed": ("<IfModule mod_so.c>\nServerAdmin a@b.example", None),
    "false-ifmodule-unclosed": ("<IfModule !mod_so.c>\nServerAdmin a@b.example", (1, "")),
    "unclosed-vhost": ("<VirtualHost *:80>\nServerAdmin a@b.example", (1, "")),
}


def _write(root: Path, body: str, mpm: bool = True) -> Path:
    path = root / "httpd.conf"
    path.write_text(_head(root, mpm) + body + "\n")
    return path


def _errors(path: Path) -> list[tuple[int, str]]:
    tree = load(str(path), LoadOptions(env_file="", environ={}))
    return [(e.source.line if e.source else 0, e.message) for e in tree.errors]


@pytest.mark.parametrize("case", list(CASES))
def test_loader_refuses_what_apache2_refuses(tmp_path: Path, case: str) -> None:
    body, expected = CASES[case]
    errors = _errors(_write(tmp_path, body))
    if expected is None:
        assert errors == []
    else:
        line, message = expected
        assert len(errors) == 1
        assert errors[0][0] == HEAD_LINES + line and errors[0][1].startswith(message)


@pytest.mark.httpd
@pytest.mark.skipif(APACHE2 is None, reason="apache2 is not installed")
@pytest.mark.parametrize("case", list(CASES))
def test_the_cases_are_what_the_installed_apache2_says(tmp_path: Path, case: str) -> None:
    body, expected = CASES[case]
    path = _write(tmp_path, body)
    done = subprocess.run([str(APACHE2), "-t", "-f", str(path)], capture_output=True, text=True, env=CLEAN_ENV,
                          timeout=30, check=False)
    if expected is None:
        assert done.returncode == 0, done.stderr
    else:
        line, message = expected
        assert done.returncode != 0
        # Errors found while reading (the build phase) are worded differently: only the line is compared.
        where = f"Syntax error on line {HEAD_LINES + line} of {path}:"
        assert (f"{where}\n{message}\n" if message else where) in done.stderr, done.stderr


def test_no_mpm_is_refused(tmp_path: Path) -> None:
    # apache2 -t: "AH00534: apache2: Configuration error: No MPM loaded."
    errors = _errors(_write(tmp_path, "", mpm=False))
    assert [message.split(" (")[0] for _, message in errors] == ["AH00534: apache2: Configuration error: No MPM loaded."]


@pytest.mark.httpd
@pytest.mark.skipif(APACHE2 is None, reason="apache2 is not installed")
def test_no_mpm_is_what_apache2_says(tmp_path: Path) -> None:
    done = subprocess.run([str(APACHE2), "-t", "-f", str(_write(tmp_path, "", mpm=False))], capture_output=True,
                          text=True, env=CLEAN_ENV, timeout=30, check=False)
    assert done.returncode != 0 and "AH00534: apache2: Configuration error: No MPM loaded." in done.stderr


def test_a_module_we_do_not_know_makes_unknown_directives_unmodelled(tmp_path: Path) -> None:
    # A third-party module may define anything: its directives are not ours to refuse.
    body = "LoadModule frobnicate_module /opt/frob/mod_frobnicate.so\nFrobnicateEverything on\n<FrobSection x>\n</FrobSection>"
    assert _errors(_write(tmp_path, body)) == []


def test_a_fragment_without_loadmodule_is_not_judged_on_modules(tmp_path: Path) -> None:
    # No LoadModule at all: not a config httpd starts (no MPM), and its module set is unknown.
    path = tmp_path / "site.conf"
    path.write_text("<VirtualHost *:80>\nServerName a.example\nRewriteEngine on\nProxyPass / http://b/\n"
                    "DocumentRooot /x\n</VirtualHost>\n")
    errors = _errors(path)
    assert [(line, message.split(",")[0]) for line, message in errors] == [(5, "Invalid command 'DocumentRooot'")]


def test_the_body_of_a_section_we_do_not_model_is_not_judged(tmp_path: Path) -> None:
    # mod_perl's <Perl> holds Perl code, not directives (as Debian's ocsinventory-server ships).
    body = "LoadModule perl_module /usr/lib/apache2/modules/mod_perl.so\n<Perl>\n$ENV{X} = 'y';\n</Perl>"
    assert _errors(_write(tmp_path, body)) == []


@pytest.mark.parametrize("command", [["vhosts"], ["lint"], ["route", "http://x/"]])
def test_commands_exit_2_naming_file_and_line(tmp_path: Path, command: list[str]) -> None:
    path = _write(tmp_path, "<VirtualHost *:80>\nServerName a.example\nListen 8080\n</VirtualHost>")
    result = CliRunner().invoke(cli_main, [*command, "-f", str(path), "--env-file", ""])
    assert result.exit_code == 2, result.output
    assert f"{path}:{HEAD_LINES + 3}: Listen cannot occur within <VirtualHost> section" in result.stderr

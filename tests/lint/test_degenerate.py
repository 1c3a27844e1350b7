"""Configurations with nothing (or almost nothing) in them: every rule runs
without a traceback, and rules about something absent still say so, on the
main file (issue 17.6: VG308 raised IndexError on a config with no directives)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from vhostguard.cli.lint import lint
from vhostguard.config import LoadOptions, load
from vhostguard.lint import default_registry, run
from vhostguard.model import build_model

Write = Callable[..., Path]

# name -> (main file text, extra files)
DEGENERATE: dict[str, tuple[str, dict[str, str]]] = {
    "empty": ("", {}),
    "comments-only": ("# nothing here\n\n   # indented comment\n", {}),
    "false-ifdefine": ("<IfDefine NOT_DEFINED>\nServerName x.test\nListen 80\n<Directory />\nRequire all denied\n</Directory>\n</IfDefine>\n", {}),
    "false-ifmodule": ("<IfModule no_such_module>\nListen 80\n<VirtualHost *:80>\nServerName a.test\n</VirtualHost>\n</IfModule>\n", {}),
    "include-of-nothing": ("IncludeOptional conf.d/*.conf\n", {}),
    "include-of-empty-file": ("Include other.conf\n", {"other.conf": "# empty\n"}),
    "empty-vhost": ("<VirtualHost *:80>\n</VirtualHost>\n", {}),
    "empty-sections": ("<Directory />\n</Directory>\n<Location />\n</Location>\n<VirtualHost *:80>\n<Location />\n</Location>\n</VirtualHost>\n", {}),
}


def _tree(write: Write, name: str) -> Path:
    main, extra = DEGENERATE[name]
    for relative, text in extra.items():
        write(f"{name}/{relative}", text)
    return write(f"{name}/apache2.conf", main)


@pytest.mark.parametrize("name", sorted(DEGENERATE))
@pytest.mark.parametrize("code", [rule.code for rule in default_registry()])
def test_every_rule_runs_on_degenerate_configs(write: Write, name: str, code: str) -> None:
    conf = _tree(write, name)
    tree = load(str(conf), LoadOptions(env_file=""))
    findings = run(build_model(tree), tree, select=[code])
    assert all(f.code == code and f.line >= 1 for f in findings)


@pytest.mark.parametrize("name", ["empty", "comments-only", "false-ifdefine", "include-of-nothing"])
def test_absent_root_directory_reported_on_main_file(write: Write, name: str) -> None:
    conf = _tree(write, name)
    tree = load(str(conf), LoadOptions(env_file=""))
    findings = run(build_model(tree), tree, select=["VG308", "VG503"])
    assert {(f.code, f.file) for f in findings} == {("VG308", str(conf)), ("VG503", str(conf))}
    assert all(f.line >= 1 for f in findings)


def test_lint_cli_on_empty_config_reports_without_traceback(write: Write) -> None:
    # Empty input is an error, not a pass (httpd: AH00534, no MPM loaded): the
    # loader refuses it at the main file's line 1, whatever the output format.
    conf = _tree(write, "empty")
    for output in ("text", "json", "sarif"):
        result = CliRunner().invoke(lint, ["-f", str(conf), "--env-file", "", "--format", output])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert "Traceback" not in result.stderr
        assert result.exit_code == 2
        assert result.stderr.startswith(f"{conf}:1: the configuration has no directive at all")

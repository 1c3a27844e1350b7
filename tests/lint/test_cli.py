"""``lint`` and ``rules`` end to end, through click's CliRunner on the command objects."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from vhostguard.cli.lint import lint, rules
from vhostguard.lint import default_registry

from tests.lint.conftest import FIXTURES

Write = Callable[..., Path]
ROOT_DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules.md"

CONF = """\
ServerName fixture.test
ErrorLog {logs}/error.log
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
Listen 80
<Directory />
    Require all denied
</Directory>
TraceEnable On
<VirtualHost *:80>
    ServerName www.example.com
    ServerAlias example.com
    CustomLog {logs}/access.log "%v %h %t \\"%r\\" %>s %D"
</VirtualHost>
<VirtualHost *:80>
    ServerName example.com
</VirtualHost>
"""


def invoke(command: click.Command, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(command, list(args))
    return result.exit_code, result.stdout, result.stderr


def config(write: Write, tmp_path: Path) -> Path:
    (tmp_path / "logs").mkdir(exist_ok=True)
    return write("site/apache2.conf", CONF.format(logs=tmp_path / "logs"))


def test_text_output_and_exit_1_on_error(write: Write, tmp_path: Path) -> None:
    conf = config(write, tmp_path)
    code, out, err = invoke(lint, "-f", str(conf), "--env-file", "")
    assert code == 1
    assert f"{conf}:15: VG101 <VirtualHost> example.com can never be reached" in out
    assert f"{conf}:9: VG304 " in out
    assert "    warning; hint: " in out
    assert err == ""


def test_fail_on_threshold(write: Write, tmp_path: Path) -> None:
    conf = config(write, tmp_path)
    assert invoke(lint, "-f", str(conf), "--env-file", "", "--ignore", "VG101")[0] == 0
    assert invoke(lint, "-f", str(conf), "--env-file", "", "--ignore", "VG101", "--fail-on", "warning")[0] == 1
    assert invoke(lint, "-f", str(conf), "--env-file", "", "--select", "VG304,VG101", "--ignore", "VG304,VG101")[0] == 0


def test_json_output(write: Write, tmp_path: Path) -> None:
    conf = config(write, tmp_path)
    code, out, _ = invoke(lint, "-f", str(conf), "--env-file", "", "--format", "json", "--select", "VG1", "--select", "VG304")
    document = json.loads(out)
    assert code == 1
    assert [(f["code"], f["line"]) for f in document["findings"]] == [("VG304", 9), ("VG101", 15)]
    assert document["summary"] == {"error": 1, "warning": 1, "info": 0}


def test_sarif_output_lists_selected_rules(write: Write, tmp_path: Path) -> None:
    conf = config(write, tmp_path)
    code, out, _ = invoke(lint, "-f", str(conf), "--env-file", "", "--format", "sarif", "--select", "VG3")
    log = json.loads(out)
    assert code == 0
    assert {r["id"][:3] for r in log["runs"][0]["tool"]["driver"]["rules"]} == {"VG3"}
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["VG304"]


def test_settings_file_sets_defaults_and_cli_overrides(write: Write, tmp_path: Path) -> None:
    conf = config(write, tmp_path)
    write("site/vhostguard.toml", 'ignore = ["VG101"]\nfail-on = "warning"\n')
    code, out, _ = invoke(lint, "-f", str(conf), "--env-file", "")
    assert code == 1 and "VG101" not in out and "VG304" in out
    assert invoke(lint, "-f", str(conf), "--env-file", "", "--fail-on", "error")[0] == 0


def test_bad_input_exits_2(write: Write, tmp_path: Path) -> None:
    conf = config(write, tmp_path)
    code, out, err = invoke(lint, "-f", str(conf), "--select", "VG999")
    assert (code, out) == (2, "")
    assert "VG999" in err
    broken = write("broken/apache2.conf", "Listen 80\n<VirtualHost *:80>\n")
    code, out, err = invoke(lint, "-f", str(broken), "--env-file", "")
    assert (code, out) == (2, "")
    assert err.startswith(f"{broken}:2: ")
    write("site/vhostguard.toml", 'fail-on = "sometimes"\n')
    code, _, err = invoke(lint, "-f", str(conf), "--env-file", "")
    assert code == 2 and "fail-on" in err


def test_waiver_in_config_end_to_end(write: Write, tmp_path: Path) -> None:
    conf = config(write, tmp_path)
    conf.write_text(conf.read_text().replace("<VirtualHost *:80>\n    ServerName example.com", "# vhostguard: ignore=VG101\n<VirtualHost *:80>\n    ServerName example.com"))
    assert invoke(lint, "-f", str(conf), "--env-file", "", "--select", "VG101")[0] == 0


def test_tls_fixture_through_the_cli(certdir: Path, workdir: Path) -> None:
    conf = FIXTURES / "VG404" / "bad" / "apache2.conf"
    code, out, _ = invoke(lint, "-f", str(conf), "--env-file", "", "-D", f"CERTDIR={certdir}", "-D", f"WORK={workdir}", "--select", "VG4")
    assert code == 1
    assert f"{conf}:12: VG404 vhost www.example.com: the key {certdir}/other.key does not match" in out


def test_rules_lists_every_rule() -> None:
    code, out, _ = invoke(rules)
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == [rule.code for rule in default_registry()]
    assert lines[0].split()[1:3] == ["unreachable-vhost", "error"]


def test_rules_shows_documentation_of_one_rule() -> None:
    code, out, _ = invoke(rules, "open-proxy")
    assert code == 0
    assert out.startswith("VG301 open-proxy (error)\n")
    assert "## Why is this bad?" in out and "## Use instead:" in out
    assert invoke(rules, "VG000")[0] == 2


def test_rules_markdown_is_the_committed_reference() -> None:
    code, out, _ = invoke(rules, "--markdown")
    assert code == 0
    assert out == ROOT_DOCS.read_text()


def test_rules_json() -> None:
    document = json.loads(invoke(rules, "--json")[1])
    assert document["schema"] == 1
    assert {r["code"] for r in document["rules"]} == {rule.code for rule in default_registry()}


def _debian_tree(tmp_path: Path) -> tuple[Path, Path]:
    """apache2.conf including sites-enabled/*.conf; sites-enabled/x.conf is a
    symlink to ../sites-available/x.conf (a2ensite), holding `TraceEnable On`."""
    root = tmp_path / "etc-apache2"
    (root / "sites-available").mkdir(parents=True)
    (root / "sites-enabled").mkdir()
    (root / "apache2.conf").write_text(f'ServerRoot "{root}"\nErrorLog /dev/null\n<Directory />\n    Require all denied\n</Directory>\nIncludeOptional sites-enabled/*.conf\n')
    (root / "sites-available" / "x.conf").write_text("# site x\nTraceEnable On\n")
    (root / "sites-enabled" / "x.conf").symlink_to(Path("..") / "sites-available" / "x.conf")
    return root, root / "sites-enabled" / "x.conf"


def test_sarif_and_json_name_the_included_symlink_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 16.6: SARIF named conf-available/... (the symlink's target) where the text said sites-enabled/...
    root, included = _debian_tree(tmp_path)
    args = ["-f", str(root / "apache2.conf"), "--env-file", "", "--select", "VG304"]
    monkeypatch.chdir(root)
    _, text, _ = invoke(lint, *args)
    assert f"{included}:2: VG304 " in text
    document = json.loads(invoke(lint, *args, "--format", "json")[1])
    assert [(f["file"], f["line"]) for f in document["findings"]] == [(str(included), 2)]
    log = json.loads(invoke(lint, *args, "--format", "sarif")[1])
    [result] = log["runs"][0]["results"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "sites-enabled/x.conf", "uriBaseId": "SRCROOT"}
    assert location["region"]["startLine"] == 2
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # outside the tree: an absolute file URI, still the symlink's path
    log = json.loads(invoke(lint, *args, "--format", "sarif")[1])
    assert log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": included.as_uri()}

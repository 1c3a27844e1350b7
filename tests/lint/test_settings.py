"""Project defaults from [tool.vhostguard] / vhostguard.toml."""
from __future__ import annotations

from pathlib import Path

import pytest

from vhostguard.lint import Severity
from vhostguard.lint.settings import LintSettings, SettingsError, load_settings


def test_vhostguard_toml_beside_the_config(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "vhostguard.toml").write_text('select = ["VG1", "VG3"]\nignore = ["VG111"]\nfail-on = "warning"\n')
    settings = load_settings(str(tmp_path / "conf" / "apache2.conf"), cwd=tmp_path)
    assert settings.select == ("VG1", "VG3")
    assert settings.ignore == ("VG111",)
    assert settings.fail_on is Severity.WARNING
    assert settings.path == str(tmp_path / "conf" / "vhostguard.toml")


def test_pyproject_table_found_upwards(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.vhostguard]\nignore = ["VG5"]\n')
    (tmp_path / "deploy" / "apache").mkdir(parents=True)
    settings = load_settings(str(tmp_path / "deploy" / "apache" / "apache2.conf"), cwd=Path("/"))
    assert settings.ignore == ("VG5",)
    assert settings.fail_on is None


def test_pyproject_without_table_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pyproject.toml").write_text('[project]\nname = "y"\n')
    assert load_settings(str(tmp_path / "sub" / "apache2.conf"), cwd=tmp_path / "sub") == LintSettings()


def test_vhostguard_toml_wins_in_the_same_directory(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.vhostguard]\nselect = ["VG4"]\n')
    (tmp_path / "vhostguard.toml").write_text('select = ["VG2"]\n')
    assert load_settings(str(tmp_path / "apache2.conf"), cwd=tmp_path).select == ("VG2",)


def test_cwd_is_searched_when_the_config_tree_has_none(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "vhostguard.toml").write_text('fail-on = "info"\n')
    (tmp_path / "etc").mkdir()
    settings = load_settings(str(tmp_path / "etc" / "apache2.conf"), cwd=tmp_path / "project")
    assert settings.fail_on is Severity.INFO


@pytest.mark.parametrize("text, message", [
    ('fail-on = "fatal"\n', "fail-on"),
    ('select = 3\n', "select"),
    ('colour = "red"\n', "unknown vhostguard setting"),
    ('select = [\n', "invalid TOML"),
])
def test_bad_settings_are_reported(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "vhostguard.toml").write_text(text)
    with pytest.raises(SettingsError, match=message):
        load_settings(str(tmp_path / "apache2.conf"), cwd=tmp_path)

"""Few false positives: the Debian default configuration and the bundled
examples give no error-level findings (every warning here was checked by hand)."""
from __future__ import annotations

from pathlib import Path

import pytest

from vhostguard.config import LoadOptions, load
from vhostguard.lint import Severity, run
from vhostguard.model import build_model

DEBIAN = Path("/etc/apache2/apache2.conf")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "api-stack" / "apache2.conf"


def lint_file(path: Path, env_file: str | None = None):
    tree = load(str(path), LoadOptions(env_file=env_file))
    model = build_model(tree)
    assert tree.errors == () and model.errors == ()
    return run(model, tree)


@pytest.mark.skipif(not DEBIAN.is_file(), reason="Debian's apache2 package is not installed")
def test_debian_default_has_no_errors() -> None:
    findings = lint_file(DEBIAN)
    assert [f"{f.file}:{f.line}: {f.code} {f.message}" for f in findings if f.severity is Severity.ERROR] == []
    # The stock config lists directories under /var/www and logs no duration:
    # real, documented warnings that must keep being found.
    codes = {f.code for f in findings}
    assert {"VG303", "VG502"} <= codes


def test_bundled_example_has_no_errors() -> None:
    # The example's envvars (read by default, as apache2ctl does) defines APACHE_LOG_DIR.
    findings = lint_file(EXAMPLE)
    assert [f"{f.file}:{f.line}: {f.code} {f.message}" for f in findings if f.severity is Severity.ERROR] == []
    assert not [f for f in findings if f.code.startswith("VG1")]


def test_undefined_log_variable_is_a_startup_error() -> None:
    # Without envvars, httpd uses ${APACHE_LOG_DIR} literally and refuses to
    # start (AH02291): lint must say so rather than pass the example.
    findings = lint_file(EXAMPLE, env_file="")
    assert {(f.code, f.severity) for f in findings if f.code == "VG205"} == {("VG205", Severity.ERROR)}
    assert all("undefined ${VAR}" in f.message for f in findings if f.code == "VG205")

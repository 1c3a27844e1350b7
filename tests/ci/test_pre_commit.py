"""The pre-commit hooks of .pre-commit-hooks.yaml refuse a bad commit with file:line (issue 14, docs/ci.md).

A real ``pre-commit try-repo`` (pre-commit from PyPI, the ``test`` extra) runs this repository's hooks
(``language: python``: pre-commit installs vhostguard into its own virtualenv from a local clone,
the dependencies from the package index) on a temporary git repository holding examples/config-repo.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPO = ROOT / "examples" / "config-repo"
BIN = Path(sys.executable).parent
PRE_COMMIT = BIN / "pre-commit"
# The API vhost under the default site's name: 000-default.conf answers it first (lint VG101, an
# error, at the <VirtualHost> line), so the API's expectations fail too.
BAD_API = "<VirtualHost *:80>\n\tServerName default.example.com\n</VirtualHost>\n"

pytestmark = pytest.mark.skipif(not PRE_COMMIT.exists() or not (ROOT / ".git").exists() or shutil.which("git") is None,
                                reason="needs pre-commit (pip install -e '.[test]'), git, and this repository's git checkout")


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com", "-c", "commit.gpgsign=false",
                    *args], cwd=cwd, check=True, capture_output=True)


def test_try_repo_lets_a_good_commit_through_and_refuses_a_bad_one_with_file_and_line(tmp_path: Path) -> None:
    hooks = tmp_path / "vhostguard"  # a local clone: what pre-commit installs, at a fixed revision
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{ROOT}", str(hooks)], check=True, capture_output=True)
    config = tmp_path / "etc-apache2"
    shutil.copytree(REPO, config, symlinks=True)
    _git(config, "init", "-q")
    _git(config, "add", "-A")
    _git(config, "commit", "-q", "-m", "the config as it runs")
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "PRE_COMMIT_HOME": str(tmp_path / "cache"),
           "LANG": "C.UTF-8", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}

    def try_repo() -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(PRE_COMMIT), "try-repo", str(hooks)], cwd=config, env=env, capture_output=True,
                              text=True, timeout=240, check=False)

    api = config / "sites-available" / "api.conf"
    api.write_text(api.read_text().replace("ProxyPreserveHost On", "ProxyPreserveHost On\n\tProxyTimeout 30"))
    _git(config, "add", "-A")
    good = try_repo()
    assert good.returncode == 0, good.stdout + good.stderr
    assert "vhostguard lint" in good.stdout and "vhostguard test" in good.stdout

    api.write_text(BAD_API)
    _git(config, "add", "-A")
    bad = try_repo()
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"{config}/sites-enabled/api.conf:1: VG101" in bad.stdout, bad.stdout
    case_line = next(n for n, line in enumerate((config / "vhostguard" / "expect.yaml").read_text().splitlines(), 1)
                     if "the v1 API goes to its backend" in line)
    assert f"FAIL the v1 API goes to its backend  [{config}/vhostguard/expect.yaml:{case_line}]" in bad.stdout, bad.stdout

"""The README's first command works as written on a fresh Debian machine.

Debian's own python3 refuses ``pip install`` outside a virtual environment
(PEP 668). The test clones the repository, puts Debian's /usr/bin first on
PATH (so ``python3`` is the system interpreter, not a developer's pyenv) and
runs the README's first command verbatim: it must set up, run the incident
diff and exit 1 with the changes the example is built around.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = Path("/usr/bin/python3")


def readme_commands() -> list[str]:
    """The commands of the README's first ``sh`` block, one per line."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", text, re.DOTALL)
    assert block, "the README starts with a ```sh block of two commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_has_the_two_commands() -> None:
    install, tests = readme_commands()
    assert "vhostguard diff" in install and "examples/incident" in install
    assert "pytest" in tests
    # Neither may rely on pip installing into the system interpreter.
    for command in (install, tests):
        assert not re.match(r"\s*(python3? -m )?pip install", command), command


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    _, tests = readme_commands()
    for part in tests.split("&&"):
        assert part.strip() in ci, f"{part.strip()!r} is not in .ci/run"


@pytest.mark.network
def test_first_readme_command_on_debian_python(tmp_path: Path) -> None:
    if not SYSTEM_PYTHON.exists() or not Path("/usr/lib/python3").exists():
        pytest.skip("not a Debian system python")
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    install, _ = readme_commands()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYENV", "PYTHON"))}
    env["PATH"] = "/usr/bin:/bin:/usr/sbin:/sbin"
    try:
        done = subprocess.run(["sh", "-c", install], cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        pytest.fail("the README's first command took over 10 minutes")
    if done.returncode not in (0, 1) and re.search(r"(Could not|Failed to) (fetch|establish|resolve)|Network is unreachable", done.stderr):
        pytest.skip("PyPI is not reachable")
    assert done.returncode == 1, done.stderr[-2000:]  # diff exits 1: changes found
    assert "2,588 changed" in done.stdout, done.stdout[-2000:]
    # It ran in a venv made from Debian's interpreter, not in the system one.
    venv_cfg = (clone / ".venv" / "pyvenv.cfg").read_text(encoding="utf-8")
    assert "/usr/bin" in venv_cfg


def test_readme_shows_what_the_incident_diff_prints() -> None:
    """The README's example output is the program's: its first group line and its
    summary line appear verbatim in what the diff prints today."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"\$ vhostguard diff examples/incident/.*?\n```", text, re.DOTALL)
    assert shown, "the README shows the incident diff"
    lines = shown.group(0).splitlines()
    summary, first_group = lines[-2], next(line for line in lines if line.startswith("1. "))
    done = subprocess.run([sys.executable, "-m", "vhostguard", "diff", "examples/incident/before/apache2.conf",
                           "examples/incident/after/apache2.conf", "--requests", "examples/incident/access.log"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    printed = done.stdout.splitlines()
    assert summary in printed and first_group in printed, done.stdout[-1000:]

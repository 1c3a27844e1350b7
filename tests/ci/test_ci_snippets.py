"""docs/ci.md's GitHub Actions and GitLab CI snippets, run as written on examples/config-repo (issue 14).

Each snippet is read from the document; its shell commands run with bash in a git repository holding
the example (the baseline commit, then the commit under test), as the CI runner would run them
(``pip install vhostguard`` left out: the vhostguard under test is on PATH). The report files they
name must be what the upload steps (code scanning's upload-sarif, GitLab's ``reports: junit``) pick up.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ci.md"
REPO = ROOT / "examples" / "config-repo"
BIN = Path(sys.executable).parent
GATES = ["load", "lint", "expectations", "sandbox", "diff", "syntax"]

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def snippet(heading: str) -> dict[str, Any]:
    """The first ```yaml block after the ``## heading`` of docs/ci.md."""
    text = DOC.read_text()
    section = text[text.index(f"## {heading}"):]
    match = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert match is not None, heading
    document = yaml.safe_load(match.group(1))
    assert isinstance(document, dict)
    return document


def config_repo(tmp_path: Path, change: str) -> Path:
    """A git repository: the example committed, then ``change`` committed on top."""
    repo = tmp_path / "config"
    shutil.copytree(REPO, repo, symlinks=True)

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com", "-c", "commit.gpgsign=false",
                        *args], cwd=repo, check=True, capture_output=True)

    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "baseline")
    api = repo / "sites-available" / "api.conf"
    if change == "good":  # no routing change: a timeout for the backends
        api.write_text(api.read_text().replace("ProxyPreserveHost On", "ProxyPreserveHost On\n\tProxyTimeout 30"))
    else:  # the v1 API sent to the wrong port
        api.write_text(api.read_text().replace("5000", "5001"))
    git("commit", "-q", "-am", f"a {change} change")
    return repo


def run_commands(commands: list[str], repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The commands in one bash, stopping at the first failure (as a CI job's script does)."""
    script = "\n".join(c for c in commands if not c.strip().startswith("pip install"))
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def base_env(tmp_path: Path) -> dict[str, str]:
    return {"PATH": f"{BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path),
            "LANG": "C.UTF-8"}


def junit_cases(path: Path) -> dict[str, ElementTree.Element]:
    suite = ElementTree.parse(path).getroot().find("testsuite")
    assert suite is not None
    return {str(case.get("name")): case for case in suite.iter("testcase")}


def expectation_line(name: str) -> int:
    lines = (REPO / "vhostguard" / "expect.yaml").read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if name in line)


@pytest.mark.parametrize("change", ["good", "bad"])
def test_github_actions_snippet(tmp_path: Path, change: str) -> None:
    workflow = snippet("GitHub Actions")
    assert workflow["permissions"]["security-events"] == "write"
    job = workflow["jobs"]["gate"]
    assert "'HEAD~1'" in job["env"]["BASE"]  # a push (no pull request): the previous commit
    steps = job["steps"]
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif"))
    assert upload["if"] == "always()"
    repo = config_repo(tmp_path, change)
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    env = {**base_env(tmp_path), "BASE": "HEAD~1", "RUNNER_TEMP": str(runner_temp)}
    done = None
    for step in steps:
        if "run" in step:
            done = run_commands([step["run"]], repo, env)
            if done.returncode != 0:
                break
    assert done is not None
    output = done.stdout + done.stderr
    sarif = json.loads((repo / upload["with"]["sarif_file"]).read_text())  # written either way: uploaded always
    assert sarif["version"] == "2.1.0"
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["VG201"]  # /var/www/shop: a warning, not fatal
    if change == "good":
        assert done.returncode == 0, output
        assert "all gates pass" in done.stdout
        assert "0 of 400 requests changed" in done.stdout  # replayed through the baseline worktree and HEAD
    else:
        assert done.returncode == 1, output
        line = expectation_line("the v1 API goes to its backend")
        assert f"{repo}/vhostguard/expect.yaml:{line}: the v1 API goes to its backend" in done.stdout, output
        assert "refused by the expectations gate" in done.stdout


@pytest.mark.parametrize("change", ["good", "bad"])
def test_gitlab_ci_snippet(tmp_path: Path, change: str) -> None:
    job = snippet("GitLab CI")["vhostguard-gate"]
    report = job["artifacts"]["reports"]["junit"]
    assert job["artifacts"]["when"] == "always"
    repo = config_repo(tmp_path, change)
    env = {**base_env(tmp_path), "CI_BUILDS_DIR": str(tmp_path), "CI_JOB_ID": "14"}
    done = run_commands([*job["before_script"], *job["script"]], repo, env)
    output = done.stdout + done.stderr
    cases = junit_cases(repo / report)
    assert list(cases) == GATES
    if change == "good":
        assert done.returncode == 0, output
        assert all(case.find("failure") is None for case in cases.values())
        assert cases["sandbox"].find("skipped") is not None  # no --live: said, not silently passed
    else:
        assert done.returncode == 1, output
        failure = cases["expectations"].find("failure")
        assert failure is not None
        line = expectation_line("the v1 API goes to its backend")
        assert f"{repo}/vhostguard/expect.yaml:{line}: the v1 API goes to its backend" in (failure.text or "")
        assert cases["expectations"].get("file") == f"{repo}/vhostguard/expect.yaml"
        assert cases["expectations"].get("line") == str(line)


def test_pre_commit_snippet_names_the_hooks_this_repository_defines() -> None:
    config = snippet("pre-commit")
    defined = {hook["id"]: hook for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    used = [hook["id"] for repo in config["repos"] for hook in repo["hooks"]]
    assert used == ["vhostguard-lint", "vhostguard-test"]
    assert set(used) <= set(defined)
    assert all(not hook["pass_filenames"] for hook in defined.values())  # the whole tree, not the staged files


def test_ansible_snippet_validates_with_gate_with_dest_of_the_task() -> None:
    (task,) = yaml.safe_load(re.findall(r"```yaml\n(.*?)```", DOC.read_text()[DOC.read_text().index("## Ansible"):],
                                        re.DOTALL)[0])
    template = task["ansible.builtin.template"]
    assert f"--with {template['dest']}=%s" in template["validate"]
    assert template["validate"].startswith("vhostguard gate ")

"""Ansible's ``validate:`` runs ``vhostguard gate --with DEST=%s`` (issue 14, docs/ci.md).

A real ansible-playbook (ansible-core from PyPI, the ``test`` extra), ``connection: local``, against
a temp copy of examples/config-repo: a good template reaches its destination; a bad one is refused
with the file:line to fix, and the destination keeps what it had.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2] / "examples" / "config-repo"
BIN = Path(sys.executable).parent
ANSIBLE_PLAYBOOK = BIN / "ansible-playbook"

PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: the API vhost (good)
      ansible.builtin.template:
        src: "{{ templates }}/api-good.conf.j2"
        dest: "{{ tree }}/sites-available/api.conf"
        validate: "{{ vhostguard }} gate -f {{ tree }}/apache2.conf --with {{ tree }}/sites-available/api.conf=%s"
    - name: the API vhost (bad)
      ansible.builtin.template:
        src: "{{ templates }}/api-bad.conf.j2"
        dest: "{{ tree }}/sites-available/api.conf"
        validate: "{{ vhostguard }} gate -f {{ tree }}/apache2.conf --with {{ tree }}/sites-available/api.conf=%s"
"""

GOOD = """\
<VirtualHost *:80>
	ServerName {{ api_name }}
	ProxyPass /v1/ http://127.0.0.1:5000/v1/
	ProxyPass /v2/ http://127.0.0.1:5002/v2/
	ProxyPass /v3/ http://127.0.0.1:5003/v3/
</VirtualHost>
"""
# The v2 API sent to the v1 backend: the expectations gate names the case that breaks.
BAD = GOOD.replace("5002/v2/", "5000/v2/")

needs_ansible = pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(),
                                   reason="ansible-core is not installed (pip install -e '.[test]')")


@needs_ansible
def test_ansible_template_validate_refuses_a_bad_vhost_and_keeps_the_good_one(tmp_path: Path) -> None:
    tree = tmp_path / "etc" / "apache2"
    shutil.copytree(REPO, tree, symlinks=True)
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "api-good.conf.j2").write_text(GOOD)
    (templates / "api-bad.conf.j2").write_text(BAD)
    (tmp_path / "play.yml").write_text(PLAYBOOK.replace(
        "gate -f", f"gate --expect {tree}/vhostguard/expect.yaml -f"))
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")  # no ansible.cfg of the machine or the user
    env = {"PATH": f"{BIN}:/usr/sbin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           "ANSIBLE_LOCAL_TEMP": str(home / "local"), "ANSIBLE_REMOTE_TEMP": str(home / "remote"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0",
           "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg")}
    done = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", str(tmp_path / "play.yml"),
         "-e", f"tree={tree}", "-e", f"templates={templates}", "-e", f"vhostguard={BIN / 'vhostguard'}",
         "-e", "api_name=api.example.com", "-e", f"ansible_python_interpreter={sys.executable}"],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "ok=1" in output and "failed=1" in output, output  # the good task ran, the bad one was refused
    assert "failed to validate" in output, output
    assert "got http://127.0.0.1:5000/v2/orders" in output, output
    # The file:line of the expectation the template breaks, and what it got instead.
    case_line = next(n for n, line in enumerate((tree / "vhostguard" / "expect.yaml").read_text().splitlines(), 1)
                     if "the v2 API goes to its backend" in line)
    assert f"{tree}/vhostguard/expect.yaml:{case_line}: the v2 API goes to its backend" in output, output
    # The destination holds the good version: the bad one never reached it.
    assert (tree / "sites-available" / "api.conf").read_text() == GOOD.replace("{{ api_name }}", "api.example.com")

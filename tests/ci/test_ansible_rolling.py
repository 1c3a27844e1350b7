"""contrib/ansible's role ``vhostguard_deploy``: a rolling deploy with ansible-core (issue 14, item 4).

The example playbook, as shipped, run by the venv's ansible-playbook (the ``test`` extra) against
two or three "hosts" that are separate real apache2 instances on loopback (``ansible_connection=local``,
each its own tree, port, state directory and reload command), proxying to a real backend. A good
change reaches every host (each live config has it and each apache2 serves it; each host's deploy
id, as its own journal has it, is in the play's output); a change that passes every gate but does
not serve is rolled back on the first host, and the others are never touched; a tree one host's
gate refuses reaches none; ``--check`` changes nothing live.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.conftest import listing
from tests.support.apache import APACHE2, free_port
from tests.support.server import Backend, DebianTree, RunningServer, send, start_server, write_debian_tree
from vhostguard.deploy import content_hash

CONTRIB = Path(__file__).resolve().parents[2] / "contrib" / "ansible"
PLAYBOOK = CONTRIB / "rolling-deploy.yml"
BIN = Path(sys.executable).parent
ANSIBLE_PLAYBOOK = BIN / "ansible-playbook"
API = "api.example.test"

pytestmark = [
    pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-core is not installed (pip install -e '.[test]')"),
]
needs_apache2ctl = pytest.mark.skipif(APACHE2 is None or shutil.which("apache2ctl", path="/usr/sbin:/usr/bin") is None,
                                      reason="apache2 is not installed (apt-get install apache2)")


def _site(backend_port: int, extra: str = "") -> str:
    return (f"<VirtualHost *:*>\n    ServerName {API}\n"
            f"    ProxyPass /v1/ http://127.0.0.1:{backend_port}/v1/\n{extra}</VirtualHost>\n")


def _expectations(target_port: int) -> str:
    """The expectation file of the tree, a template: each host's own port."""
    return ("cases:\n"
            f"  - name: the users API reaches its backend\n    url: http://{API}:{{{{ apache_port }}}}/v1/users\n"
            f"    expect:\n      kind: proxy\n      target: http://127.0.0.1:{target_port}/v1/users\n")


@dataclass
class Host:
    name: str
    tree: DebianTree
    server: RunningServer

    @property
    def state(self) -> Path:
        return self.tree.base / "state"

    @property
    def candidate(self) -> Path:
        return self.tree.base / "candidate"

    def get(self, path: str) -> tuple[int | None, str]:
        return send(self.tree.port, API, path)

    def history(self) -> list[dict[str, object]]:
        if not self.state.exists():
            return []
        done = subprocess.run([sys.executable, "-m", "vhostguard", "history", "--state", str(self.state), "--json"],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return list(json.loads(done.stdout)["deploys"])

    def inventory_vars(self) -> dict[str, object]:
        live = str(self.tree.live)
        return {"apache_base": str(self.tree.base), "apache_port": self.tree.port,
                "vhostguard_deploy_live_dir": live, "vhostguard_deploy_state_dir": str(self.state),
                "vhostguard_deploy_candidate_dir": str(self.candidate),
                # each host's reload: Debian's apache2ctl for this tree (it sources the tree's envvars)
                "vhostguard_deploy_reload_command": f"env APACHE_CONFDIR={live} /usr/sbin/apache2ctl graceful"}


@dataclass
class Fleet:
    root: Path
    hosts: list[Host]
    backend: Backend
    source: Path
    templates: Path

    def write_source(self, site: str, target_port: int) -> None:
        """The config tree on the "controller": the hosts' tree with ``site`` as the API vhost; what
        differs per host (envvars' paths, the Listen port, the expectations' URL) is templated."""
        if self.source.exists():
            shutil.rmtree(self.source)
        first = self.hosts[0].tree
        shutil.copytree(first.live, self.source, symlinks=True)
        (self.source / "envvars").unlink()
        (self.source / "ports.conf").unlink()
        (self.source / "sites-enabled" / "api.conf").write_text(site)
        self.templates.mkdir(exist_ok=True)
        (self.templates / "envvars.j2").write_text((first.live / "envvars").read_text().replace(str(first.base),
                                                                                                "{{ apache_base }}"))
        (self.templates / "ports.conf.j2").write_text("Listen 127.0.0.1:{{ apache_port }}\n")
        (self.templates / "expect.yaml.j2").write_text(_expectations(target_port))

    def play(self, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
        """The example playbook, as shipped, over the fleet's inventory, with ``args``: (the run, its seconds)."""
        templates = [{"src": str(self.templates / "envvars.j2"), "dest": "envvars"},
                     {"src": str(self.templates / "ports.conf.j2"), "dest": "ports.conf"},
                     {"src": str(self.templates / "expect.yaml.j2"), "dest": "vhostguard/expect.yaml"}]
        inventory = {"webservers": {
            "hosts": {host.name: host.inventory_vars() for host in self.hosts},
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                     "vhostguard_deploy_executable": str(BIN / "vhostguard"),
                     "vhostguard_deploy_source": str(self.source), "vhostguard_deploy_templates": templates,
                     "vhostguard_deploy_verify": ["vhostguard/expect.yaml"], "vhostguard_deploy_watch": "2s"}}}
        (self.root / "inventory.yml").write_text(json.dumps(inventory))  # JSON is YAML
        started = time.monotonic()
        done = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(self.root / "inventory.yml"), str(PLAYBOOK), *args],
                              env=ansible_environment(self.root), capture_output=True, text=True, timeout=180,
                              check=False)
        return done, time.monotonic() - started

    def traffic(self, count: int = 10) -> None:
        """Requests each host logs: the diff gate replays them through the live config and the candidate."""
        for host in self.hosts:
            for _ in range(count):
                assert host.get("/v1/users") == (200, "api /v1/users\n")


def ansible_environment(root: Path) -> dict[str, str]:
    """Nothing of the machine's or the user's Ansible set-up: an empty ansible.cfg, a private HOME."""
    home = root / "home"
    home.mkdir(exist_ok=True)
    (root / "ansible.cfg").write_text("[defaults]\n")
    return {"PATH": f"{BIN}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
            "ANSIBLE_CONFIG": str(root / "ansible.cfg"), "ANSIBLE_LOCAL_TEMP": str(home / "local"),
            "ANSIBLE_REMOTE_TEMP": str(home / "remote"), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_PIPELINING": "1"}  # one process per task instead of a copied module file: quicker on a busy machine


@pytest.fixture
def fleet_of(tmp_path: Path) -> Iterator[Callable[[int], Fleet]]:
    """``fleet_of(n)``: n hosts (web1, web2, ...), each a Debian-like tree served by its own apache2 on
    a loopback port, proxying /v1/ to one real backend; stopped at teardown."""
    backend = Backend("api").start()
    hosts: list[Host] = []

    def make(count: int) -> Fleet:
        for number in range(1, count + 1):
            tree = write_debian_tree(tmp_path / f"web{number}", {"api": _site(backend.port)}, port=free_port())
            hosts.append(Host(f"web{number}", tree, start_server(tree)))
        return Fleet(tmp_path, hosts, backend, tmp_path / "controller" / "apache2", tmp_path / "controller" / "templates")

    try:
        yield make
    finally:
        for host in hosts:
            host.server.stop()
        backend.stop()


def _recap(output: str, host: str) -> dict[str, int]:
    """``host``'s PLAY RECAP counts (ok, changed, failed, ...)."""
    line = next(line for line in output.splitlines() if line.startswith(f"{host} ") and "ok=" in line)
    return {key: int(value) for key, value in (field.split("=") for field in line.split(":", 1)[1].split())}


def _reported(output: str, host: str) -> list[str]:
    """The lines of the play's report task naming ``host``'s deploy."""
    return [line.strip().strip(",").strip('"') for line in output.splitlines()
            if f" on {host}: " in line and line.strip().startswith('"vhostguard deploy ')]


# --- a good change reaches every host -------------------------------------------------------------

@pytest.mark.httpd
@needs_apache2ctl
def test_a_good_change_rolls_out_to_every_host_and_each_deploy_id_is_reported(fleet_of: Callable[[int], Fleet]) -> None:
    fleet = fleet_of(2)  # two: each deploy takes seconds, one after the other
    fleet.traffic()
    fleet.write_source(_site(fleet.backend.port, "    Redirect 302 /moved http://elsewhere.example.test/\n"),
                       fleet.backend.port)

    done, seconds = fleet.play()
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    for host in fleet.hosts:
        # the live config is the candidate rendered for this host, and this host's apache2 serves it
        assert "Redirect 302 /moved" in (host.tree.live / "sites-enabled" / "api.conf").read_text()
        assert content_hash(str(host.tree.live)) == content_hash(str(host.candidate))
        assert (host.tree.live / "ports.conf").read_text() == f"Listen 127.0.0.1:{host.tree.port}\n"
        status, _ = host.get("/moved")
        assert status == 302, host.name
        assert host.get("/v1/users") == (200, "api /v1/users\n")
        # one deploy in the host's journal, deployed; its id is the one the play reported for the host
        (journal,) = host.history()
        assert journal["outcome"] == "deployed", journal
        assert _reported(output, host.name) == [f"vhostguard deploy {journal['id']} on {host.name}: deployed"], output
    # host by host (serial 1): each deploy finished before the next one started
    journals = [host.history()[0] for host in fleet.hosts]
    for earlier, later in itertools.pairwise(journals):
        assert str(earlier["finished_at"]) <= str(later["started_at"]), journals
    print(f"good rollout over {len(fleet.hosts)} hosts: {seconds:.1f} s")


# --- a change that does not serve stops at the first host -----------------------------------------

@pytest.mark.httpd
@needs_apache2ctl
def test_a_change_rolled_back_on_the_first_host_never_reaches_the_others(fleet_of: Callable[[int], Fleet]) -> None:
    fleet = fleet_of(3)  # three: the rollout stops at the first; neither later batch starts
    fleet.traffic()
    first, others = fleet.hosts[0], fleet.hosts[1:]
    # The API moved to a new backend: intended (the diff gate allows it) and right offline and in the
    # sandbox (the expectations name it), but nothing listens there, so the reloaded server answers 503.
    down = free_port()
    fleet.write_source(_site(down), down)
    (fleet.source / "vhostguard").mkdir()
    (fleet.source / "vhostguard" / "allow.yaml").write_text(f"- new_target: http://127.0.0.1:{down}/*\n")
    before = {host.name: listing(host.tree.base / "etc") for host in fleet.hosts}
    first_hash = content_hash(str(first.tree.live))

    done, seconds = fleet.play("-e", json.dumps({"vhostguard_deploy_allow": ["vhostguard/allow.yaml"]}))
    output = done.stdout + done.stderr
    assert done.returncode == 2, output  # ansible-playbook: a host failed
    # the first host: gates passed, switched, verification failed, rolled back; it serves the old config
    (journal,) = first.history()
    assert journal["outcome"] == "rolled-back", journal
    assert all(g["status"] in ("pass", "skipped") for g in journal["gates"]), journal["gates"]  # type: ignore[union-attr]
    assert journal["rollback"]["verified"] is True, journal  # type: ignore[index]
    assert content_hash(str(first.tree.live)) == first_hash
    assert first.get("/v1/users") == (200, "api /v1/users\n")
    assert _reported(output, first.name) == [f"vhostguard deploy {journal['id']} on {first.name}: rolled-back"]
    assert f"vhostguard deploy {journal['id']} on {first.name} ended rolled-back" in output
    # the others: their candidates were gated (play 1), but deploy never ran there
    for host in others:
        assert (host.candidate / "vhostguard" / "allow.yaml").exists()
        assert listing(host.tree.base / "etc") == before[host.name], host.name
        assert host.history() == []
        assert _reported(output, host.name) == []
        assert host.get("/v1/users") == (200, "api /v1/users\n")
    print(f"stopped rollout: {seconds:.1f} s")


def test_the_example_playbook_passes_ansible_syntax_check(tmp_path: Path) -> None:
    done = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "web1,", "--syntax-check", str(PLAYBOOK)],
                          env=ansible_environment(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# --- a gate refusing the tree on one host ---------------------------------------------------------

@pytest.mark.httpd
@needs_apache2ctl
def test_a_tree_one_host_refuses_at_the_gate_is_deployed_nowhere(fleet_of: Callable[[int], Fleet]) -> None:
    fleet = fleet_of(2)
    fleet.traffic()
    first, second = fleet.hosts
    # Only the second host's clients ask for /moved (404 today): there the diff gate sees the new Redirect
    # change where their requests go and refuses the tree; the first host's gates pass.
    for _ in range(3):
        assert second.get("/moved")[0] == 404
    fleet.write_source(_site(fleet.backend.port, "    Redirect 302 /moved http://elsewhere.example.test/\n"),
                       fleet.backend.port)
    before = {host.name: listing(host.tree.base / "etc") for host in fleet.hosts}
    done, _ = fleet.play()
    assert done.returncode == 2, done.stdout + done.stderr
    assert "refused by the diff gate" in done.stdout, done.stdout
    assert [_recap(done.stdout, host.name)["failed"] for host in (first, second)] == [0, 1], done.stdout
    # any_errors_fatal: the deploy play never started, not even on the host whose gates passed
    assert "PLAY [Deploy it host by host" not in done.stdout, done.stdout
    for host in fleet.hosts:
        assert listing(host.tree.base / "etc") == before[host.name], host.name
        assert host.history() == []
        assert host.get("/moved")[0] == 404


# --- check mode -----------------------------------------------------------------------------------

@pytest.mark.httpd
@needs_apache2ctl
def test_check_mode_dry_runs_a_host_that_would_change_and_leaves_a_host_already_on_the_tree_alone(
        fleet_of: Callable[[int], Fleet]) -> None:
    fleet = fleet_of(2)
    on_it, behind = fleet.hosts
    redirect = "    Redirect 302 /moved http://elsewhere.example.test/\n"
    fleet.write_source(_site(fleet.backend.port, redirect), fleet.backend.port)
    # the first host's live config already is the tree as rendered for it (as after an earlier rollout)
    (on_it.tree.live / "sites-enabled" / "api.conf").write_text(_site(fleet.backend.port, redirect))
    (on_it.tree.live / "vhostguard").mkdir()
    (on_it.tree.live / "vhostguard" / "expect.yaml").write_text(
        _expectations(fleet.backend.port).replace("{{ apache_port }}", str(on_it.tree.port)))
    if os.geteuid() == 0:  # a file checked out by another user on the controller is root's on the host
        os.chown(fleet.source / "sites-enabled" / "api.conf", 65534, 65534)
    before = {host.name: listing(host.tree.base / "etc") for host in fleet.hosts}
    done, _ = fleet.play("--check")
    assert done.returncode == 0, done.stdout + done.stderr
    # the host already on the tree: no deploy at all, nothing reported changed
    assert _reported(done.stdout, on_it.name) == [f"vhostguard deploy - on {on_it.name}: unchanged"], done.stdout
    assert _recap(done.stdout, on_it.name)["changed"] == 0, done.stdout
    # the other: staged, gated, and deploy ran as --dry-run: it would change (the recap counts it)
    (reported,) = _reported(done.stdout, behind.name)
    assert reported.endswith(f" on {behind.name}: dry-run"), done.stdout
    assert _recap(done.stdout, behind.name)["changed"] == 1, done.stdout
    staged = behind.candidate / "sites-enabled" / "api.conf"
    assert staged.read_text().count("Redirect 302 /moved") == 1
    assert staged.stat().st_uid == os.geteuid()
    # and nothing live changed anywhere: no deploy journaled, the second server still answers 404
    for host in fleet.hosts:
        assert listing(host.tree.base / "etc") == before[host.name], host.name
        assert host.history() == []
    assert behind.get("/moved")[0] == 404


@pytest.mark.parametrize("candidate", ["{live}", "{live}/", "{live}/candidate", "{live}.green", "{root}", "relative/dir"])
def test_the_role_refuses_a_candidate_directory_that_is_or_holds_the_live_config(tmp_path: Path, candidate: str) -> None:
    # The stage entry point empties the candidate directory: one that is the live config, holds it, lies
    # inside it or is one of deploy's slots is refused before anything is removed.
    live = tmp_path / "etc" / "apache2"
    live.mkdir(parents=True)
    (live / "apache2.conf").write_text("ServerName localhost\n")
    (tmp_path / "play.yml").write_text(
        f"- hosts: all\n  gather_facts: false\n  roles:\n    - role: {CONTRIB / 'roles' / 'vhostguard_deploy'}\n")
    variables = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "vhostguard_deploy_source": str(tmp_path), "vhostguard_deploy_live_dir": str(live),
                 "vhostguard_deploy_candidate_dir": candidate.format(live=live, root=tmp_path / "etc")}
    done = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "web1,", str(tmp_path / "play.yml"), "-e", json.dumps(variables)],
                          cwd=tmp_path, env=ansible_environment(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "must be an absolute directory of its own" in done.stdout, done.stdout
    assert (live / "apache2.conf").read_text() == "ServerName localhost\n"

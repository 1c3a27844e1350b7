"""`vhostguard deploy / rollback / history` end to end, on a real apache2 started by Debian's apache2ctl
from a temp tree laid out like /etc/apache2 (envvars, sites-available + sites-enabled symlinks),
with real loopback backends. The reload is apache2ctl graceful, chosen by vhostguard itself.

What each test asserts is what the server answers (the real apache2 is the judge), what the live
path resolves to, and what the journal says; never our own output copied back.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.conftest import listing
from tests.support.apache import APACHE2, MODULES_DIR, free_port
from tests.support.server import Backend
from vhostguard.deploy import content_hash
from vhostguard.live import ProbeError, probe

pytestmark = pytest.mark.skipif(APACHE2 is None or shutil.which("apache2ctl") is None,
                                reason="apache2 is not installed (apt-get install apache2)")

ENV = {"PATH": f"/usr/sbin:/usr/bin:/sbin:/bin:{os.path.dirname(sys.executable)}", "LANG": "C"}
API = "api.example.test"


@dataclass
class Stack:
    root: Path
    live: Path
    main: Path
    state: Path
    port: int
    api_port: int
    env: dict[str, str]

    def get(self, path: str, host: str = API) -> tuple[int, str]:
        try:
            answer = probe(f"http://{host}{path}", ("127.0.0.1", self.port), timeout=5)
        except ProbeError as problem:
            return 0, str(problem)
        return answer.status, answer.body.decode("utf-8", "replace")

    def candidate(self, name: str = "candidate") -> Path:
        copy = self.root / name
        shutil.copytree(os.path.realpath(self.live), copy, symlinks=True)
        return copy

    def vhostguard(self, *args: str, crash_at: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if crash_at:
            env["VHOSTGUARD_TEST_CRASH_AT"] = crash_at
        return subprocess.run([sys.executable, "-m", "vhostguard", *args], env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def deploy(self, candidate: Path, *extra: str, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.vhostguard("deploy", str(candidate), "-f", str(self.main), "--state", str(self.state),
                               "--watch", "2s", *extra, crash_at=crash_at)

    def history(self) -> list[dict[str, object]]:
        done = self.vhostguard("history", "--state", str(self.state), "--json")
        assert done.returncode == 0, done.stderr
        return list(json.loads(done.stdout)["deploys"])

    def traffic(self, count: int = 20) -> None:
        for _ in range(count):
            self.get("/v1/users")


def _site(api_port: int, extra: str = "") -> str:
    return (f"<VirtualHost *:*>\n    ServerName {API}\n    ProxyPass /v1/ http://127.0.0.1:{api_port}/v1/\n"
            f"    ProxyPassReverse /v1/ http://127.0.0.1:{api_port}/v1/\n{extra}</VirtualHost>\n")


VHOST_COMBINED = '%v:%p %h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\" %D'


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path) as started:
        yield started


@contextmanager
def running_stack(tmp_path: Path, log_format: str = VHOST_COMBINED) -> Iterator[Stack]:
    """A Debian-like /etc/apache2 under ``tmp_path`` served by apache2 (started by apache2ctl), logging
    ``log_format`` (a LogFormat string, quotes escaped for the config) to its access log."""
    backend = Backend("api").start()
    api_port = backend.port
    port = free_port()
    root = tmp_path
    live = root / "etc" / "apache2"
    for directory in ("sites-available", "sites-enabled", "mods-enabled"):
        (live / directory).mkdir(parents=True)
    run_dir, log_dir = root / "run", root / "log"
    run_dir.mkdir()
    log_dir.mkdir()
    (live / "envvars").write_text(
        f"export APACHE_RUN_DIR={run_dir}\nexport APACHE_PID_FILE={run_dir}/apache2.pid\n"
        f"export APACHE_LOCK_DIR={run_dir}\nexport APACHE_LOG_DIR={log_dir}\nexport LANG=C\n")
    modules = "".join(f"LoadModule {m}_module {MODULES_DIR}/mod_{m}.so\n"
                      for m in ("mpm_event", "authz_core", "alias", "proxy", "proxy_http"))
    (live / "mods-enabled" / "base.load").write_text(modules)
    (live / "apache2.conf").write_text(
        "DefaultRuntimeDir ${APACHE_RUN_DIR}\nPidFile ${APACHE_PID_FILE}\nMutex file:${APACHE_LOCK_DIR} default\n"
        "ErrorLog ${APACHE_LOG_DIR}/error.log\nLogLevel warn\nServerName localhost\n"
        "IncludeOptional mods-enabled/*.load\n"
        f"Listen 127.0.0.1:{port}\n"
        "StartServers 1\nServerLimit 2\nThreadsPerChild 8\nMaxRequestWorkers 16\n"
        f'LogFormat "{log_format}" vhost_combined\n'
        "CustomLog ${APACHE_LOG_DIR}/access.log vhost_combined\n"
        "IncludeOptional sites-enabled/*.conf\n")
    (live / "sites-available" / "api.conf").write_text(_site(api_port))
    os.symlink("../sites-available/api.conf", live / "sites-enabled" / "api.conf")
    env = {**ENV, "APACHE_CONFDIR": str(live), "XDG_STATE_HOME": str(root / "xdg")}
    started = subprocess.run(["apache2ctl", "start"], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert started.returncode == 0, started.stdout + started.stderr
    stack = Stack(root, live, live / "apache2.conf", root / "state", port, api_port, env)
    deadline = time.monotonic() + 10
    while stack.get("/v1/users")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stack.get("/v1/users") == (200, "api /v1/users\n")
    yield stack
    pid_file = run_dir / "apache2.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass
        deadline = time.monotonic() + 10
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    backend.stop()


def _expectations(path: Path, port: int, target_port: int) -> Path:
    path.write_text(
        "cases:\n"
        f"  - name: the users API reaches its backend\n    url: http://{API}:{port}/v1/users\n"
        f"    expect:\n      kind: proxy\n      target: http://127.0.0.1:{target_port}/v1/users\n")
    return path


def _resolved_tree(stack: Stack) -> str:
    """The hash of the complete tree the live path resolves to (raises if it resolves to nothing)."""
    assert os.path.isdir(stack.live), f"{stack.live} does not resolve to a directory"
    return content_hash(str(stack.live))


# --- a good deploy ----------------------------------------------------------------------------------

def test_good_deploy_converts_switches_reloads_and_serves_the_new_config(stack: Stack) -> None:
    stack.traffic()
    before = content_hash(str(stack.live))
    candidate = stack.candidate()
    (candidate / "sites-available" / "api.conf").write_text(
        _site(stack.api_port, "    Redirect 302 /moved http://elsewhere.example.test/\n"))
    expect = _expectations(stack.root / "expect.yaml", stack.port, stack.api_port)
    done = stack.deploy(candidate, "--verify", str(expect), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(done.stdout)
    assert document["outcome"] == "deployed"
    assert [g["name"] for g in document["gates"]] == ["load", "lint", "expectations", "sandbox", "diff", "syntax"]
    assert all(g["status"] == "pass" for g in document["gates"]), document["gates"]
    assert document["switch"]["from"] == "blue" and document["switch"]["to"] == "green"
    assert document["reload"]["serving_after_s"] > 0 and document["verify"]["status"] == "pass"
    # the live path is now the symlink to the green slot, holding the candidate; the original is kept
    assert os.readlink(stack.live) == "apache2.green"
    assert content_hash(str(stack.live)) == content_hash(str(candidate)) != before
    assert any(p.name.startswith("apache2.backup-") for p in stack.live.parent.iterdir())
    # and the running server answers with the new config
    status, _ = stack.get("/moved")
    assert status == 302
    assert stack.get("/v1/users") == (200, "api /v1/users\n")
    (newest,) = stack.history()
    assert newest["id"] == document["id"] and newest["outcome"] == "deployed"
    events = json.loads(stack.vhostguard("events", "--state", str(stack.state), "--json").stdout)["events"]
    kinds = [e["kind"] for e in events if e["id"] == document["id"]]
    assert kinds[0] == "deploy-started" and kinds[-1] == "deploy-deployed"
    assert kinds.index("switch") < kinds.index("reload") < kinds.index("verify-pass")


def test_dry_run_changes_nothing_and_lists_every_step(stack: Stack) -> None:
    before = listing(stack.live.parent)
    candidate = stack.candidate()
    done = stack.deploy(candidate, "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert listing(stack.live.parent) == before
    for step in ("convert-copy", "convert-exchange", "prepare-copy", "switch-replace", "apache2ctl graceful"):
        assert step in done.stdout, step
    assert not (stack.state / "trees").exists()


# --- blocked by a gate: live symlink and server untouched -------------------------------------------

BLOCKERS = {
    # the candidate cannot be loaded: a syntax error, named at file:line
    "load": ("sites-available/api.conf", "<VirtualHost *:*>\n    ServerName api.example.test\n"),
    # loads and passes our checks, but apache2 -t refuses it: a module file that does not exist
    "syntax": ("mods-enabled/base.load", "LoadModule nosuch_module /nonexistent/mod_nosuch.so\n"),
}


@pytest.mark.parametrize("gate", ["load", "diff", "syntax"])
def test_deploy_blocked_by_a_gate_changes_nothing(stack: Stack, gate: str) -> None:
    stack.traffic()
    first = stack.candidate("first")
    (first / "sites-available" / "api.conf").write_text(_site(stack.api_port, "    Redirect 302 /first http://x.test/\n"))
    assert stack.deploy(first).returncode == 0  # slots exist: the blocked deploy must leave them alone
    stack.traffic()
    before, answers = listing(stack.live.parent), [stack.get("/first"), stack.get("/v1/users")]
    live_link, live_tree = os.readlink(stack.live), listing(stack.live.resolve())
    candidate = stack.candidate()
    if gate == "diff":  # every logged API request would go to another backend
        (candidate / "sites-available" / "api.conf").write_text(_site(free_port()))
    else:
        name, text = BLOCKERS[gate]
        with open(candidate / name, "a") as handle:
            handle.write(text)
    done = stack.deploy(candidate, "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    document = json.loads(done.stdout)
    assert document["outcome"] == "blocked"
    failed = [g["name"] for g in document["gates"] if g["status"] == "fail"]
    assert failed == [gate]
    assert document["switch"] is None and document["reload"] is None
    if gate == "syntax":  # checked in the idle slot, its final place: only the live slot must be untouched
        assert os.readlink(stack.live) == live_link and listing(stack.live.resolve()) == live_tree
    else:  # the static gates run before anything is written
        assert listing(stack.live.parent) == before
    assert [stack.get("/first"), stack.get("/v1/users")] == answers
    assert stack.history()[0]["outcome"] == "blocked"


# --- passes every static gate, breaks live traffic: rolled back inside the window --------------------

def test_deploy_to_a_down_backend_is_rolled_back_automatically(stack: Stack) -> None:
    stack.traffic()
    first = stack.candidate("first")
    assert stack.deploy(first).returncode == 0
    old_tree = content_hash(str(stack.live))
    down = free_port()  # nothing listens there
    candidate = stack.candidate()
    (candidate / "sites-available" / "api.conf").write_text(_site(down))
    allow = stack.root / "allow.yaml"
    allow.write_text(f"- new_target: http://127.0.0.1:{down}/*\n")
    expect = _expectations(stack.root / "expect.yaml", stack.port, down)  # offline and in the sandbox this is right
    stop = threading.Event()

    def users() -> None:  # real traffic during the watch window
        while not stop.is_set():
            stack.get("/v1/users")
            time.sleep(0.05)

    client = threading.Thread(target=users, daemon=True)
    client.start()
    try:
        started = time.monotonic()
        done = stack.vhostguard("deploy", str(candidate), "-f", str(stack.main), "--state", str(stack.state),
                                "--watch", "30s", "--verify", str(expect), "--allow", str(allow), "--json")
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        client.join()
    assert done.returncode == 1, done.stdout + done.stderr
    document = json.loads(done.stdout)
    assert all(g["status"] == "pass" for g in document["gates"]), document["gates"]
    assert document["outcome"] == "rolled-back"
    assert document["verify"]["status"] == "fail" and document["verify"]["failures"]
    assert document["rollback"]["verified"] is True
    assert elapsed < 30  # inside the watch window, not after it
    assert content_hash(str(stack.live)) == old_tree
    assert stack.get("/v1/users") == (200, "api /v1/users\n")
    events = json.loads(stack.vhostguard("events", "--state", str(stack.state), "--json").stdout)["events"]
    kinds = [e["kind"] for e in events if e["id"] == document["id"]]
    assert kinds.index("switch") < kinds.index("verify-fail") <= kinds.index("rollback") < kinds.index("deploy-rolled-back")


# --- rollback by hand, and history -------------------------------------------------------------------

def test_rollback_by_hand_restores_the_previous_config(stack: Stack) -> None:
    first = stack.candidate("first")
    (first / "sites-available" / "api.conf").write_text(_site(stack.api_port, "    Redirect 302 /one http://x.test/\n"))
    assert stack.deploy(first).returncode == 0
    second = stack.candidate("second")
    (second / "sites-available" / "api.conf").write_text(_site(stack.api_port, "    Redirect 302 /two http://x.test/\n"))
    assert stack.deploy(second, "--force").returncode == 0
    assert stack.get("/two")[0] == 302 and stack.get("/one")[0] != 302
    done = stack.vhostguard("rollback", "--state", str(stack.state), "--watch", "1s", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["outcome"] == "rolled-back"
    assert stack.get("/one")[0] == 302 and stack.get("/two")[0] != 302
    assert content_hash(str(stack.live)) == content_hash(str(first))
    deploys = stack.history()
    assert [d["kind"] for d in deploys] == ["rollback", "deploy", "deploy"]
    # and to a named deploy: the original (pre-vhostguard) config is the first deploy's previous one
    original_id = deploys[2]["id"]
    again = stack.vhostguard("rollback", str(original_id), "--state", str(stack.state), "--watch", "1s")
    assert again.returncode == 0, again.stdout + again.stderr
    assert stack.get("/one")[0] == 302  # deploy 1's config is what `rollback ID` restores


# --- two deploys at once ------------------------------------------------------------------------------

def test_second_concurrent_deploy_is_refused_with_the_first_ones_id_and_pid(stack: Stack) -> None:
    first = stack.candidate("first")
    env = dict(stack.env)
    slow = subprocess.Popen([sys.executable, "-m", "vhostguard", "deploy", str(first), "-f", str(stack.main),
                             "--state", str(stack.state), "--watch", "8s", "--json"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        lock = stack.state / "deploy.lock"
        while not (lock.exists() and lock.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        holder = json.loads(lock.read_text())
        second = stack.deploy(stack.candidate("second"))
        assert second.returncode == 2
        assert holder["id"] in second.stderr and str(slow.pid) in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
    finally:
        out, err = slow.communicate(timeout=120)
    assert slow.returncode == 0, out + err


# --- kill -9 at each step, then the next command recovers ------------------------------------------

CRASH_POINTS = ["deploy:gates-passed", "convert-exchange:after", "prepare-place:after", "switch-replace:before",
                "switch-replace:after", "deploy:switched", "deploy:reloaded"]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_kill_9_at_a_step_then_history_recovers_to_one_whole_config(stack: Stack, point: str) -> None:
    old_tree = content_hash(str(stack.live))
    candidate = stack.candidate()
    (candidate / "sites-available" / "api.conf").write_text(_site(stack.api_port, "    Redirect 302 /new http://x.test/\n"))
    new_tree = content_hash(str(candidate))
    crashed = stack.deploy(candidate, crash_at=point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    # right after the crash: the live path resolves to one complete tree, old or new
    assert _resolved_tree(stack) in (old_tree, new_tree)
    deploys = stack.history()  # the next command finds the unfinished deploy and reverts it
    assert deploys[0]["outcome"] == "failed"
    assert _resolved_tree(stack) == old_tree
    assert stack.get("/new")[0] != 302 and stack.get("/v1/users") == (200, "api /v1/users\n")
    leftovers = [p.name for p in stack.live.parent.iterdir()
                 if p.name.endswith((".partial", ".old", ".vhostguard-link", ".vhostguard-swap"))]
    assert leftovers == []
    again = stack.deploy(candidate, "--force")  # and the next deploy works (--force: /new was asked above)
    assert again.returncode == 0, again.stdout + again.stderr
    assert stack.get("/new")[0] == 302


# --- the RHEL layout: the slot is the ServerRoot /etc/httpd, not the main file's conf/ -----------------

def test_rhel_layout_deploys_the_server_root(tmp_path: Path) -> None:
    """/etc/httpd/conf/httpd.conf with conf.d/, conf.modules.d/ and the relative symlinks RHEL ships
    (logs -> ../../var/log/httpd, run -> /run/httpd): the whole ServerRoot becomes the slot, and the
    links still resolve from the slot (same depth)."""
    backend = Backend("api").start()
    port = free_port()
    root = tmp_path / "etc" / "httpd"
    for directory in ("conf", "conf.d", "conf.modules.d"):
        (root / directory).mkdir(parents=True)
    (tmp_path / "var" / "log" / "httpd").mkdir(parents=True)
    (tmp_path / "run" / "httpd").mkdir(parents=True)
    os.symlink("../../var/log/httpd", root / "logs")
    os.symlink(str(tmp_path / "run" / "httpd"), root / "run")
    (root / "conf.modules.d" / "00-base.conf").write_text(
        "".join(f"LoadModule {m}_module {MODULES_DIR}/mod_{m}.so\n"
                for m in ("mpm_event", "authz_core", "alias", "proxy", "proxy_http")))
    main = root / "conf" / "httpd.conf"
    main.write_text(
        f'ServerRoot "{root}"\nListen 127.0.0.1:{port}\nInclude conf.modules.d/*.conf\n'
        "PidFile run/httpd.pid\nDefaultRuntimeDir run\nMutex file:run default\nErrorLog logs/error_log\n"
        'LogFormat "%v %h %l %u %t \\"%r\\" %>s %b %D" vhost\nCustomLog logs/access_log vhost\n'
        "ServerName localhost\nIncludeOptional conf.d/*.conf\n")
    (root / "conf.d" / "api.conf").write_text(_site(backend.port))
    assert APACHE2 is not None
    started = subprocess.run([APACHE2, "-f", str(main), "-k", "start"], env=ENV, capture_output=True, text=True,
                             timeout=30, check=False)
    assert started.returncode == 0, started.stderr
    stack = Stack(tmp_path, root, main, tmp_path / "state", port, backend.port, dict(ENV))
    try:
        deadline = time.monotonic() + 10
        while stack.get("/v1/users")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        candidate = stack.candidate()
        (candidate / "conf.d" / "api.conf").write_text(
            _site(stack.api_port, "    Redirect 302 /rhel http://x.test/\n"))
        done = stack.vhostguard("deploy", str(candidate), "-f", str(main), "--state", str(stack.state), "--watch", "1s",
                                "--reload", f"{APACHE2} -k graceful -f {main}", "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        assert json.loads(done.stdout)["live_dir"] == str(root)
        assert os.readlink(root) == "httpd.green" and (tmp_path / "etc" / "httpd.blue" / "conf" / "httpd.conf").is_file()
        assert os.path.isdir(root / "logs") and (root / "logs" / "error_log").exists()  # the relative link resolves
        assert stack.get("/rhel")[0] == 302
    finally:
        pid = root / "run" / "httpd.pid"
        if pid.exists():
            os.kill(int(pid.read_text().strip()), signal.SIGTERM)
        backend.stop()


def test_kill_9_while_rolling_back_is_finished_by_the_next_command(stack: Stack) -> None:
    """Verification failed and the rollback began, then the process died: the next command switches
    back to the slot that served before and reloads, so the broken config does not stay live."""
    stack.traffic()
    assert stack.deploy(stack.candidate("first")).returncode == 0
    old_tree = content_hash(str(stack.live))
    down = free_port()
    candidate = stack.candidate()
    (candidate / "sites-available" / "api.conf").write_text(_site(down))
    allow = stack.root / "allow.yaml"
    allow.write_text(f"- new_target: http://127.0.0.1:{down}/*\n")
    expect = _expectations(stack.root / "expect.yaml", stack.port, down)
    crashed = stack.vhostguard("deploy", str(candidate), "-f", str(stack.main), "--state", str(stack.state),
                               "--watch", "30s", "--verify", str(expect), "--allow", str(allow),
                               crash_at="deploy:rollback")
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    assert content_hash(str(stack.live)) == content_hash(str(candidate))  # died before switching back
    (newest, *_) = stack.history()
    assert newest["outcome"] == "failed" and "switched back" in str(newest.get("recovery"))
    assert content_hash(str(stack.live)) == old_tree
    assert stack.get("/v1/users") == (200, "api /v1/users\n")

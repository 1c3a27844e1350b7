"""deploy.server: which reload command, and a real graceful reload waited for until the new generation serves.

choose_reload's detection runs on fake machines (a ``Host`` whose PID 1, PATH and systemd units
are made up; systemctl is never run). The reloads run a real apache2 on a tree laid out like
/etc/apache2 under a temp dir (tests/support/server.py), on 127.0.0.1 high ports, with real
loopback backends; what "the new generation serves" means is read from apache2's own error log
and answers, not from our output.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.apache import needs_apache
from tests.support import server as support
from tests.support.server import Backend, RunningServer, send, start_server, write_debian_tree
from vhostguard.deploy import ReloadError, ServerControl, choose_reload, reload_and_wait
from vhostguard.deploy.server import Host

debian_server, backends = support.debian_server, support.backends  # fixtures

APACHE2CTL = "/usr/sbin/apache2ctl"


# -- choose_reload on fake machines ---------------------------------------------------------------

@pytest.fixture
def httpd_pid(tmp_path: Path) -> Iterator[int]:
    """A process named apache2 (a copy of sleep), as the PidFile of a running server names one."""
    binary = tmp_path / "bin" / "apache2"
    binary.parent.mkdir()
    shutil.copy(shutil.which("sleep") or "/bin/sleep", binary)
    process = subprocess.Popen([str(binary), "300"])
    comm = Path(f"/proc/{process.pid}/comm")
    deadline = time.monotonic() + 5
    while comm.read_text().strip() != "apache2" and time.monotonic() < deadline:
        time.sleep(0.01)  # until the fork has exec'd
    yield process.pid
    process.kill()
    process.wait()


def layout(tmp_path: Path, pid: int, *, name: str = "apache2", envvars: bool = True,
           main: str = "apache2.conf") -> Path:
    """A config dir like /etc/apache2 (or /etc/apache2-NAME) whose PidFile names ``pid``."""
    live = tmp_path / "etc" / name
    live.mkdir(parents=True)
    (tmp_path / "run").mkdir(exist_ok=True)
    (tmp_path / "run" / "apache2.pid").write_text(f"{pid}\n")
    if envvars:
        (live / "envvars").write_text(f"export APACHE_PID_FILE={tmp_path}/run/apache2.pid\n")
    pidfile = "${APACHE_PID_FILE}" if envvars else f"{tmp_path}/run/apache2.pid"
    (live / main).write_text(f"PidFile {pidfile}\nListen 127.0.0.1:8080\n")
    return live / main


def machine(programs: dict[str, str], systemd: bool = True,
            units: dict[str, int] | None = None, asked: list[str] | None = None) -> Host:
    """A fake host: systemd is PID 1 or not, ``programs`` are on PATH, ``units`` are active with those MainPIDs."""
    def unit_main_pid(systemctl: str, unit: str) -> int | None:
        assert systemctl == programs["systemctl"]
        if asked is not None:
            asked.append(unit)
        return (units or {}).get(unit)
    return Host(systemd=lambda: systemd, which=programs.get, unit_main_pid=unit_main_pid)


DEBIAN = {"systemctl": "/usr/bin/systemctl", "apache2ctl": "/usr/sbin/apache2ctl", "apache2": "/usr/sbin/apache2"}
RHEL = {"systemctl": "/usr/bin/systemctl", "httpd": "/usr/sbin/httpd", "apachectl": "/usr/sbin/apachectl"}


def test_reload_command_is_split_like_a_shell_and_wins(tmp_path: Path, httpd_pid: int) -> None:
    main = layout(tmp_path, httpd_pid)
    control = ServerControl(str(main), reload_command="/opt/bin/reload-web --unit 'web front' -v")
    asked: list[str] = []
    assert choose_reload(control, host=machine(DEBIAN, units={"apache2": httpd_pid}, asked=asked)) == (
        "/opt/bin/reload-web", "--unit", "web front", "-v")
    assert asked == []


def test_empty_reload_command_is_refused(tmp_path: Path, httpd_pid: int) -> None:
    with pytest.raises(ReloadError, match="--reload"):
        choose_reload(ServerControl(str(layout(tmp_path, httpd_pid)), reload_command="  "))


def test_systemctl_when_systemd_runs_this_very_server(tmp_path: Path, httpd_pid: int) -> None:
    main = layout(tmp_path, httpd_pid)
    host = machine(DEBIAN, units={"apache2": httpd_pid})
    assert choose_reload(ServerControl(str(main)), host=host) == ("/usr/bin/systemctl", "reload", "apache2")


def test_systemctl_unit_of_a_debian_multi_instance_dir(tmp_path: Path, httpd_pid: int) -> None:
    # apache2ctl names the unit of /etc/apache2-web apache2@web (APACHE_SYSTEMD_SERVICE).
    main = layout(tmp_path, httpd_pid, name="apache2-web")
    host = machine(DEBIAN, units={"apache2@web": httpd_pid, "apache2": httpd_pid + 1})
    assert choose_reload(ServerControl(str(main)), host=host) == ("/usr/bin/systemctl", "reload", "apache2@web")


def test_rhel_unit_httpd(tmp_path: Path, httpd_pid: int) -> None:
    main = layout(tmp_path, httpd_pid, name="httpd", envvars=False, main="httpd.conf")
    assert choose_reload(ServerControl(str(main)), host=machine(RHEL, units={"httpd": httpd_pid})) == (
        "/usr/bin/systemctl", "reload", "httpd")


def test_no_systemctl_when_the_active_unit_runs_another_server(tmp_path: Path, httpd_pid: int) -> None:
    main = layout(tmp_path, httpd_pid)
    host = machine(DEBIAN, units={"apache2": httpd_pid + 1})  # systemd's apache2 is another process
    assert choose_reload(ServerControl(str(main)), host=host) == (
        "env", f"APACHE_CONFDIR={main.parent}", "/usr/sbin/apache2ctl", "graceful")


def test_no_systemctl_when_systemd_is_not_pid_1(tmp_path: Path, httpd_pid: int) -> None:
    main = layout(tmp_path, httpd_pid)
    asked: list[str] = []
    host = machine(DEBIAN, systemd=False, units={"apache2": httpd_pid}, asked=asked)
    assert choose_reload(ServerControl(str(main)), host=host)[-2:] == ("/usr/sbin/apache2ctl", "graceful")
    assert asked == []  # systemctl is not even asked


def test_no_systemctl_when_the_pidfile_names_no_running_httpd(tmp_path: Path) -> None:
    main = layout(tmp_path, os.getpid())  # a python process, not httpd: a stale PidFile
    host = machine(DEBIAN, units={"apache2": os.getpid()})
    assert choose_reload(ServerControl(str(main)), host=host)[-1] == "graceful"
    assert choose_reload(ServerControl(str(main)), host=host)[0] == "env"


def test_apache2ctl_passes_env_file_and_binary(tmp_path: Path, httpd_pid: int) -> None:
    main = layout(tmp_path, httpd_pid)
    env_file = tmp_path / "other-envvars"
    control = ServerControl(str(main), env_file=str(env_file), apache2="/opt/apache2/bin/apache2")
    assert choose_reload(control, host=machine(DEBIAN, systemd=False)) == (
        "env", f"APACHE_CONFDIR={main.parent}", f"APACHE_ENVVARS={env_file}", "APACHE_HTTPD=/opt/apache2/bin/apache2",
        "/usr/sbin/apache2ctl", "graceful")


def test_no_apache2ctl_for_a_main_file_it_cannot_name(tmp_path: Path, httpd_pid: int) -> None:
    # apache2ctl passes only -d: apache2 then reads apache2.conf there, not site.conf.
    main = layout(tmp_path, httpd_pid, main="site.conf")
    assert choose_reload(ServerControl(str(main)), host=machine(DEBIAN, systemd=False)) == (
        "/usr/sbin/apache2", "-k", "graceful", "-d", str(main.parent), "-f", str(main))


def test_no_apache2ctl_without_envvars(tmp_path: Path, httpd_pid: int) -> None:
    main = layout(tmp_path, httpd_pid, envvars=False)
    root = tmp_path / "root"
    assert choose_reload(ServerControl(str(main), server_root=str(root)), host=machine(DEBIAN, systemd=False)) == (
        "/usr/sbin/apache2", "-k", "graceful", "-d", str(root), "-f", str(main))


def test_rhel_httpd_k_graceful(tmp_path: Path, httpd_pid: int) -> None:
    main = layout(tmp_path, httpd_pid, name="httpd", envvars=False, main="httpd.conf")
    assert choose_reload(ServerControl(str(main)), host=machine(RHEL, systemd=False)) == (
        "/usr/sbin/httpd", "-k", "graceful", "-d", str(main.parent), "-f", str(main))


def test_no_binary_at_all(tmp_path: Path, httpd_pid: int) -> None:
    main = layout(tmp_path, httpd_pid, envvars=False)
    with pytest.raises(ReloadError, match="no apache2 or httpd binary found"):
        choose_reload(ServerControl(str(main)), host=machine({}, systemd=False))


def test_this_machine_is_not_systemd_so_no_systemctl_is_run(tmp_path: Path, httpd_pid: int) -> None:
    # The default Host asks this machine; where systemd is PID 1 it would ask the real systemctl.
    if Host().systemd():
        pytest.skip("systemd is PID 1 here: the default Host would ask the real systemctl")
    main = layout(tmp_path, httpd_pid)
    assert choose_reload(ServerControl(str(main)))[0] != shutil.which("systemctl")


# -- real reloads -----------------------------------------------------------------------------------

def proxy_site(backend: Backend) -> str:
    return ("<VirtualHost 127.0.0.1:{port}>\n"
            "    ServerName api.example.test\n"
            f"    ProxyPass / http://127.0.0.1:{backend.port}/\n"
            "</VirtualHost>\n")


@pytest.fixture
def running(tmp_path: Path, debian_server: list[RunningServer], backends: list[Backend]) -> RunningServer:
    one = Backend("one").start()
    backends.append(one)
    tree = write_debian_tree(tmp_path, {"api": proxy_site(one)})
    server = start_server(tree)
    debian_server.append(server)
    assert send(tree.port, "api.example.test", "/x") == (200, "one /x\n")
    return server


def without_apache2ctl() -> Host:
    return Host(which=lambda name: None if name == "apache2ctl" else shutil.which(name, path="/usr/sbin:/usr/bin"))


def resume_line(error_log: Path, evidence: str, pid: int) -> str:
    """The error-log line the evidence names (by its line number), checked to be in that log."""
    m = re.search(r"\(([^()]+):(\d+)\)$", evidence)
    assert m is not None, evidence
    assert m.group(1) == str(error_log)
    line = error_log.read_text().splitlines()[int(m.group(2)) - 1]
    assert f"[pid {pid}:" in line
    return line


@pytest.mark.httpd
@needs_apache
@pytest.mark.parametrize("how", ["apache2ctl", "apache2 -k graceful"])
def test_reload_serves_the_changed_config(running: RunningServer, backends: list[Backend], how: str) -> None:
    if how == "apache2ctl" and not os.path.exists(APACHE2CTL):
        pytest.skip("apache2ctl is not installed")
    tree = running.tree
    pid = running.pid()
    two = Backend("two").start()
    backends.append(two)
    tree.site("api", proxy_site(two))
    before = len(tree.error_log.read_text().splitlines())
    result = reload_and_wait(ServerControl(str(tree.main)), host=None if how == "apache2ctl" else without_apache2ctl())
    # The new generation answers at once, through the same parent.
    assert send(tree.port, "api.example.test", "/x") == (200, "two /x\n")
    assert running.pid() == pid
    expected = (("env", f"APACHE_CONFDIR={tree.live}", APACHE2CTL, "graceful") if how == "apache2ctl"
                else ("/usr/sbin/apache2", "-k", "graceful", "-d", str(tree.live), "-f", str(tree.main)))
    assert result.command == expected
    line = resume_line(tree.error_log, result.evidence, pid)
    assert "AH00489" in line and "resuming normal operations" in line
    number = int(result.evidence.rsplit(":", 1)[1].rstrip(")"))
    assert number > before  # a notice logged after the reload, not the start's
    assert 0 < result.serving_after_s < 30
    assert result.to_json()["command"] == list(expected)
    assert result.to_json()["at"].endswith("+00:00")


@pytest.mark.httpd
@needs_apache
def test_reload_of_a_config_apache2_refuses_leaves_the_old_generation(running: RunningServer) -> None:
    tree = running.tree
    pid = running.pid()
    site = tree.site("api", "<VirtualHost 127.0.0.1:{port}>\n    ServerName api.example.test\n    ProxyPas / http://x/\n"
                            "</VirtualHost>\n")
    for host in (None, without_apache2ctl()):
        with pytest.raises(ReloadError) as caught:
            reload_and_wait(ServerControl(str(tree.main)), host=host)
        message = str(caught.value)
        assert "\n" not in message
        assert f"line 3 of {site}" in message and "AH00526" in message
        assert f"the old generation (pid {pid}) still serves" in message
        assert running.pid() == pid
        assert send(tree.port, "api.example.test", "/x") == (200, "one /x\n")


@pytest.mark.httpd
@needs_apache
def test_reload_that_changes_nothing_times_out_naming_what_it_saw(running: RunningServer) -> None:
    tree = running.tree
    with pytest.raises(ReloadError) as caught:
        reload_and_wait(ServerControl(str(tree.main), reload_command="true"), timeout_s=1.5)
    message = str(caught.value)
    assert "did not serve within 1.5s of true" in message
    assert f"resume notice: none from pid {running.pid()} in {tree.error_log}" in message
    assert f"probe 127.0.0.1:{tree.port}: not probed yet" in message


@pytest.mark.httpd
@needs_apache
def test_reload_command_that_stops_the_server(running: RunningServer) -> None:
    tree = running.tree
    pid = running.pid()
    with pytest.raises(ReloadError) as caught:
        reload_and_wait(ServerControl(str(tree.main), reload_command=f"kill -TERM {pid}"), timeout_s=10)
    message = str(caught.value)
    assert f"the server (pid {pid}) stopped after kill -TERM {pid}" in message
    assert "AH00491" in message  # apache2's own "caught SIGTERM, shutting down", quoted from its error log


def test_reload_without_a_running_server(tmp_path: Path) -> None:
    tree = write_debian_tree(tmp_path, {})
    with pytest.raises(ReloadError, match=f"no running server to reload: PidFile {tree.pid_file} does not exist"):
        reload_and_wait(ServerControl(str(tree.main)))



@pytest.mark.httpd
@needs_apache
def test_reload_of_a_config_the_parent_cannot_use_reports_the_server_stopped(running: RunningServer) -> None:
    # apache2 -t accepts a Listen on a port another process holds; the parent finds out on re-reading
    # its config after SIGUSR1 (AH00072 could not bind) and exits: the server is down.
    tree = running.tree
    pid = running.pid()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        (tree.live / "ports.conf").write_text(f"Listen 127.0.0.1:{tree.port}\nListen 127.0.0.1:{holder.getsockname()[1]}\n")
        with pytest.raises(ReloadError) as caught:
            reload_and_wait(ServerControl(str(tree.main)), timeout_s=15)
    message = str(caught.value)
    assert f"the server (pid {pid}) stopped after " in message
    assert "AH00072" in message or "AH00015" in message  # apache2's own words, quoted from its error log
    assert f"{tree.error_log}:" in message

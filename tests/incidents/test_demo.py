"""`vhostguard demo` end to end on the real apache2, and its Ctrl-C path.

The demo runs as a subprocess with TMPDIR pointing into the test's directory, so every process it starts
(apache2 via apache2ctl's ``-d DIR``, the API backend, watch, deploy, ...) carries that directory in its
command line: after the demo, no process may.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

needs_apache2 = pytest.mark.skipif(shutil.which("apache2", path="/usr/sbin:/usr/bin") is None
                                   or shutil.which("apache2ctl", path="/usr/sbin:/usr/bin") is None,
                                   reason="apache2 is not installed (apt-get install apache2)")


def _environment(tmp_path: Path) -> dict[str, str]:
    return {"PATH": f"/usr/sbin:/usr/bin:/sbin:/bin:{os.path.dirname(sys.executable)}", "LANG": "C.UTF-8",
            "TMPDIR": str(tmp_path)}


def _processes_under(directory: Path) -> list[str]:
    """Command lines of running processes naming ``directory`` (zombies have none)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(directory) in command:
            found.append(f"{entry.name}: {command}")
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def _settled(directory: Path, seconds: float = 10) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := _processes_under(directory)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@pytest.mark.httpd
@needs_apache2
def test_demo_tells_the_incident_and_leaves_nothing_running(tmp_path: Path) -> None:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "vhostguard", "demo"], env=_environment(tmp_path),
                          capture_output=True, text=True, timeout=180, check=False)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    steps = re.findall(r"^\[\s*\d+\.\ds\] (\w+): ", done.stdout, re.MULTILINE)
    for name in ("setup", "backend", "apache2", "traffic", "watch", "deploy", "doctor", "postmortem"):
        assert name in steps, done.stdout
    assert took < 120, f"the demo took {took:.0f} s"
    deploy_id = re.search(r"^\[[^]]*\] deploy: (\d{8}T\d+Z-\d+): outcome rolled-back", done.stdout, re.MULTILINE)
    assert deploy_id, done.stdout
    assert re.search(r"^\[[^]]*\] watch: alert: .*host-moved: api\.example\.com", done.stdout, re.MULTILINE), done.stdout
    # doctor's first finding: the deploy, the misrouted Host and the vhost that served it instead
    doctor = re.search(r"^\[[^]]*\] doctor: exit \d+: 1\. \[\w+\] (.*)$", done.stdout, re.MULTILINE)
    assert doctor, done.stdout
    assert doctor.group(1).startswith(f"deploy {deploy_id.group(1)} switched the config"), doctor.group(1)
    assert re.search(r"api\.example\.com was served by \S+ .*, now by \S+", doctor.group(1)), doctor.group(1)
    assert "-> 200 after the rollback" in done.stdout
    drafts = re.search(r"^postmortem drafts \(md, html\) in (\S+)$", done.stdout, re.MULTILINE)
    assert drafts, done.stdout
    for name in ("postmortem.md", "postmortem.html"):
        text = (Path(drafts.group(1)) / name).read_text(encoding="utf-8")
        assert deploy_id.group(1) in text, name
    drafted = (Path(drafts.group(1)) / "postmortem.md").read_text(encoding="utf-8")
    assert "rollback" in drafted
    # the README's excerpt is what the draft says (numbers vary: ids, ports), the deploy first
    causes = drafted.split("## Root-cause candidates", 1)[1].strip().splitlines()
    assert causes[0].startswith(f"1. deploy {deploy_id.group(1)} changed the routing of the failing requests"), causes[0]
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    excerpt = re.search(r"```markdown\n(## Root-cause candidates\n.*?)```", readme, re.DOTALL)
    assert excerpt, "README shows the postmortem's root causes"
    shown = [re.sub(r"\d+", "N", line) for line in drafted.splitlines()]
    for line in excerpt.group(1).splitlines():
        assert re.sub(r"\d+", "N", line) in shown, f"{line!r} is not in the draft:\n{drafted}"
    # nothing left: no process names the test's directory, apache2's pid is gone, the work dir removed
    assert _settled(tmp_path) == []
    apache = re.search(r"\(pid (\d+)\)", done.stdout)
    assert apache and not _alive(int(apache.group(1)))
    assert not list(tmp_path.glob("vhostguard-demo-*"))


@pytest.mark.httpd
@needs_apache2
def test_demo_interrupted_stops_everything(tmp_path: Path) -> None:
    demo = subprocess.Popen([sys.executable, "-m", "vhostguard", "demo", "--keep", str(tmp_path / "kept")],
                            env=_environment(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        pid_file = tmp_path / "kept" / "run" / "apache2.pid"
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and (tmp_path / "kept" / "watch.log").exists()):
            assert demo.poll() is None and time.monotonic() < deadline, "the demo did not start apache2 and watch"
            time.sleep(0.1)
        time.sleep(2)  # apache2, the backend, the traffic and watch all running
        apache = int(pid_file.read_text().strip())
        assert _processes_under(tmp_path), "the demo's processes name its directory"
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 130, out + err
    assert _settled(tmp_path) == []
    assert not _alive(apache)


def test_demo_without_apache2_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # apache2 cannot be uninstalled for a test: the check that finds it is replaced (the only stand-in here)
    from click.testing import CliRunner

    import vhostguard.cli.incidents as incidents

    monkeypatch.setattr(incidents, "apache_available", lambda: False)
    done = CliRunner().invoke(incidents.demo, [])
    assert done.exit_code == 2
    lines = done.output.strip().splitlines()
    assert len(lines) == 1 and "apt-get install apache2" in lines[0]

"""``vhostguard demo``: the incident of examples/incident told live in about a minute (issue 13).

In a temp directory on 127.0.0.1 high ports: a real apache2 (started by Debian's apache2ctl from a
copy of examples/incident/before with envvars pointing into the directory) serving the API vhost (a
real Python backend in a subprocess) and the www site; a traffic generator; ``vhostguard watch``;
then a deploy of the incident's ``after`` change (the ServerName typo) pushed past the gates with
``--force`` (the seed's mistake), which the verification sees (host-moved) and rolls back; ``doctor``
on the restored config; the postmortem drafted as Markdown and HTML.

Every process it starts runs in its own process group and is killed in ``DemoRun.close`` (called
from a ``finally``), so an interrupt leaves nothing running. This module returns data through the
``say`` callback; only the CLI prints.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, UTC
from pathlib import Path
from types import FrameType

from vhostguard.exitcodes import Terminated

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "incident"
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
API_HOST, SITE_HOST = "api.example.com", "www.example.com"
# The demo's server has seconds of history, not hours: host-moved learns the usual vhost from what
# came before the last 5 s (the default 1m window would leave no baseline at all).
WATCH_RULES = "host_moved:\n  window: 5s\n  baseline: 10m\n  interval: 1s\n"

# The API backend: a real HTTP server answering every GET with a small JSON body. The demo's
# directory is its last argument so that the process list shows whose it is.
BACKEND = """
import http.server, json, sys
class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path, "served_by": "api-backend"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Answer)
server.daemon_threads = True
server.serve_forever()
"""


class DemoProblem(Exception):
    """A step could not run (apache2 did not start, a port is taken): the message says which."""


@dataclass(frozen=True)
class Step:
    elapsed: float
    name: str
    text: str


@dataclass(frozen=True)
class DemoOutcome:
    deploy_id: str | None
    rolled_back: bool
    alerted: bool
    postmortem_names_deploy: bool
    postmortem_dir: str

    @property
    def as_designed(self) -> bool:
        return self.rolled_back and self.alerted and self.postmortem_names_deploy


def apache_available() -> bool:
    """apache2 and Debian's apache2ctl, where apt-get install apache2 puts them."""
    return all(shutil.which(name, path=SYSTEM_PATH) for name in ("apache2", "apache2ctl"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DemoRun:
    """The demo's directory, its ports and the processes it started (killed by ``close``)."""

    root: Path
    drafts: Path  # where the postmortem is written (kept when root is removed)
    port: int
    api_port: int
    say: Callable[[Step], None]
    started: float = field(default_factory=time.monotonic)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _stop_traffic: threading.Event = field(default_factory=threading.Event)
    _traffic: threading.Thread | None = None

    @property
    def live(self) -> Path:
        return self.root / "etc" / "apache2"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def pid_file(self) -> Path:
        return self.root / "run" / "apache2.pid"

    @property
    def env(self) -> dict[str, str]:
        return {"PATH": f"{SYSTEM_PATH}:{os.path.dirname(sys.executable)}", "LANG": "C.UTF-8",
                "APACHE_CONFDIR": str(self.live), "VHOSTGUARD_STATE_DIR": str(self.state),
                "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}

    def step(self, name: str, text: str) -> None:
        self.say(Step(time.monotonic() - self.started, name, text))

    # -- the set-up ------------------------------------------------------------------

    def prepare(self) -> None:
        for directory in ("run", "log", "www", "state"):
            (self.root / directory).mkdir(parents=True, exist_ok=True)
        self.drafts.mkdir(parents=True, exist_ok=True)
        (self.root / "www" / "index.html").write_text("<h1>www.example.com</h1>\n")
        shutil.copytree(EXAMPLE / "before", self.live)
        (self.live / "envvars").write_text(
            f"export APACHE_PID_FILE={self.pid_file}\nexport APACHE_RUN_DIR={self.root}/run\n"
            f"export APACHE_LOCK_DIR={self.root}/run\nexport APACHE_LOG_DIR={self.root}/log\n")
        self.localise(self.live)
        if os.geteuid() == 0 and _has_account("www-data"):
            # Started as root, httpd's children switch to User; the example's trimmed apache2.conf
            # has none (Debian's sets ${APACHE_RUN_USER}), and uid -1 fills the error log with AH02155.
            with open(self.live / "apache2.conf", "a", encoding="utf-8") as conf:
                conf.write("\nUser www-data\nGroup www-data\n")
            os.chmod(self.root, 0o755)  # mkdtemp's 0700 would keep www-data from the site's files

    def localise(self, tree: Path) -> None:
        """The example's port 80, backend port 5000 and /var/www/www, moved into the demo."""
        for path in [tree / "apache2.conf", *(tree / "sites-enabled").iterdir()]:
            text = path.read_text().replace("Listen 80", f"Listen 127.0.0.1:{self.port}")
            text = text.replace("*:80", f"*:{self.port}").replace("127.0.0.1:5000", f"127.0.0.1:{self.api_port}")
            path.write_text(text.replace("/var/www/www", str(self.root / "www")))

    def candidate(self) -> Path:
        """The live tree with the incident's ``after`` sites (the ServerName typo)."""
        copy = self.root / "candidate"
        shutil.copytree(os.path.realpath(self.live), copy, symlinks=True)
        shutil.rmtree(copy / "sites-enabled")
        shutil.copytree(EXAMPLE / "after" / "sites-enabled", copy / "sites-enabled")
        self.localise(copy)
        return copy

    def spawn(self, args: list[str], output: Path | None = None) -> subprocess.Popen[bytes]:
        """A process in its own process group (killed as a group by ``close``)."""
        sink = open(output, "ab") if output is not None else subprocess.DEVNULL  # noqa: SIM115 - the child owns it
        try:
            process = subprocess.Popen(args, env=self.env, stdin=subprocess.DEVNULL, stdout=sink,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            if output is not None and not isinstance(sink, int):
                sink.close()
        self.processes.append(process)
        return process

    def vhostguard(self, *args: str, timeout: float = 120) -> tuple[int, str]:
        """Run ``vhostguard ARGS`` to the end (in its own process group); its exit code and stdout."""
        log = self.root / "run" / f"vhostguard-{args[0]}.out"
        log.unlink(missing_ok=True)
        with open(log, "wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "vhostguard", *args], env=self.env,
                                       stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.DEVNULL,
                                       start_new_session=True)
            self.processes.append(process)
            try:
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(process.pid)
                code = -1
            self.processes.remove(process)
        return code, log.read_text(encoding="utf-8", errors="replace")

    def start_backend(self) -> None:
        self.spawn([sys.executable, "-c", BACKEND, str(self.api_port), str(self.root)])
        self.wait_for(lambda: _get(self.api_port, API_HOST, "/health") == 200, "the API backend did not start")

    def start_apache(self) -> None:
        done = subprocess.run(["apache2ctl", "start"], env=self.env, capture_output=True, text=True, timeout=30,
                              check=False)
        if done.returncode != 0:
            raise DemoProblem(f"apache2ctl start failed: {(done.stdout + done.stderr).strip()}")
        self.wait_for(lambda: _get(self.port, API_HOST, "/v1/users/1") == 200, "apache2 did not come up")

    def wait_for(self, ready: Callable[[], bool], problem: str, seconds: float = 15) -> None:
        deadline = time.monotonic() + seconds
        while not ready():
            if time.monotonic() > deadline:
                raise DemoProblem(problem)
            time.sleep(0.05)

    def start_traffic(self) -> None:
        def loop() -> None:
            n = 0
            while not self._stop_traffic.is_set():
                _get(self.port, API_HOST, f"/v1/users/{n % 50}")
                if n % 4 == 0:
                    _get(self.port, SITE_HOST, "/")
                n += 1
                self._stop_traffic.wait(0.03)

        self._traffic = threading.Thread(target=loop, name="demo-traffic", daemon=True)
        self._traffic.start()

    # -- the end -----------------------------------------------------------------------

    def close(self) -> None:
        """Stop the traffic and every process the demo started, apache2 through its PidFile."""
        self._stop_traffic.set()
        if self._traffic is not None:
            self._traffic.join(timeout=5)
        apache = _read_pid(self.pid_file)
        for process in self.processes:
            _kill_group(process.pid)
        if apache is not None:
            _kill_group(apache)
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if apache is not None:
            deadline = time.monotonic() + 5
            while _alive(apache) and time.monotonic() < deadline:
                time.sleep(0.05)


def run_demo(root: Path, drafts: Path, port: int, api_port: int, say: Callable[[Step], None]) -> DemoOutcome:
    """Tell the story in ``root``; every process started is stopped before it returns or raises.

    SIGTERM and SIGHUP raise ``Terminated`` (a KeyboardInterrupt, as Ctrl-C does) while it runs, so
    the cleanup below runs for them too; the caller removes ``root`` unless kept.
    """
    if not (EXAMPLE / "before").is_dir():
        raise DemoProblem(f"{EXAMPLE}: the incident example is missing; run the demo from a source checkout")
    previous = {sig: signal.signal(sig, _terminated) for sig in (signal.SIGTERM, signal.SIGHUP)}
    demo = DemoRun(root, drafts, port, api_port, say)
    try:
        return _story(demo)
    finally:
        demo.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


def _story(demo: DemoRun) -> DemoOutcome:
    since = datetime.now(UTC).isoformat(timespec="seconds")
    demo.prepare()
    demo.step("setup", f"{demo.root}: examples/incident/before on 127.0.0.1:{demo.port} (API vhost + www site)")
    demo.start_backend()
    demo.step("backend", f"API backend (Python) on 127.0.0.1:{demo.api_port}")
    demo.start_apache()
    demo.step("apache2", f"apache2ctl start: serving http://{API_HOST}/ and http://{SITE_HOST}/ "
                         f"(pid {_read_pid(demo.pid_file)})")
    demo.start_traffic()
    demo.step("traffic", f"clients requesting {API_HOST}/v1/users/N and {SITE_HOST}/ (~40 requests/s)")
    main = str(demo.live / "apache2.conf")
    rules = demo.root / "watch-rules.yaml"
    rules.write_text(WATCH_RULES)
    demo.spawn([sys.executable, "-m", "vhostguard", "watch", "-f", main, "--from-start", "--metrics-addr", "off",
                "--rules", str(rules), "--state", str(demo.state)], demo.root / "watch.log")
    demo.step("watch", f"vhostguard watch -f {main} (alerts in {demo.root / 'watch.log'})")
    time.sleep(8)  # the baseline: watch learns which vhost serves each Host, deploy's verification too
    candidate = demo.candidate()
    demo.step("deploy", f"vhostguard deploy {candidate} --force --watch 30s: the API vhost's ServerName "
                        "becomes api.exmaple.com (the seed's typo), pushed past the gates")
    code, out = demo.vhostguard("deploy", str(candidate), "-f", main, "--force", "--watch", "30s",
                                "--state", str(demo.state), "--json")
    document = _json(out)
    deploy_id = str(document.get("id")) if document.get("id") else None
    outcome = str(document.get("outcome", f"no document (exit {code})"))
    verify = document.get("verify") or {}
    failures = [str(f.get("summary", "")) for f in verify.get("failures", [])] if isinstance(verify, dict) else []
    demo.step("deploy", f"{deploy_id}: outcome {outcome} (exit {code})")
    for summary in failures[:2]:
        demo.step("deploy", f"verify: {summary}")
    rollback = document.get("rollback")
    if isinstance(rollback, dict):
        demo.step("deploy", f"rolled back at {rollback.get('at')}: the previous config serves again")
    rolled_back = outcome == "rolled-back"
    alert = _wait_for_alert(demo, since, seconds=15)
    demo.step("watch", f"alert: {alert}" if alert else "no host-moved alert recorded")
    status = _get(demo.port, API_HOST, "/v1/users/42")
    demo.step("check", f"GET http://{API_HOST}/v1/users/42 -> {status} after the rollback")
    code, out = demo.vhostguard("doctor", "-f", main, "--url", f"http://{API_HOST}:{demo.port}/v1/users/42", "--since", "5m",
                                "--state", str(demo.state))
    demo.step("doctor", f"exit {code}: " + _doctor_summary(out))
    directory = demo.drafts
    names_deploy = True
    for fmt in ("md", "html"):
        target = directory / f"postmortem.{fmt}"
        code, _ = demo.vhostguard("postmortem", "--since", since, "-f", main, "--state", str(demo.state),
                                  "--format", fmt, "-o", str(target))
        written = target.read_text(encoding="utf-8") if target.exists() else ""
        names_deploy = names_deploy and code == 0 and deploy_id is not None and deploy_id in written
        demo.step("postmortem", f"{target} (exit {code})")
    return DemoOutcome(deploy_id, rolled_back, alert is not None, names_deploy, str(directory))


def _wait_for_alert(demo: DemoRun, since: str, seconds: float) -> str | None:
    """The first host-moved alert watch recorded in the event store since the demo started."""
    deadline = time.monotonic() + seconds
    while True:
        code, out = demo.vhostguard("events", "--since", since, "--source", "watch", "--json",
                                    "--state", str(demo.state), timeout=30)
        events = _json(out).get("events") if code == 0 else None
        for event in events if isinstance(events, list) else []:
            data = event.get("data") if isinstance(event, dict) else None
            if isinstance(data, dict) and event.get("kind") == "alert-firing" and "host-moved" in json.dumps(data):
                return f"{event.get('time')} host-moved: {data.get('summary') or event.get('id')}"
        if time.monotonic() > deadline:
            return None
        time.sleep(1)


def _doctor_summary(out: str) -> str:
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    found = next((line for line in lines if line.startswith("1. ")), None)
    return found or (lines[-1] if lines else "no output")


def _json(text: str) -> dict[str, object]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _get(port: int, host: str, path: str) -> int:
    """One GET through 127.0.0.1:PORT with Host HOST: its status, 0 when nothing answered."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
    try:
        connection.request("GET", urllib.parse.quote(path), headers={"Host": host})
        response = connection.getresponse()
        response.read()
        return int(response.status)
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        connection.close()


def _has_account(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass

"""Real Prometheus, Alertmanager and `vhostguard watch` processes on loopback for the fleet tests.

Each server runs in its own session on a free 127.0.0.1 port with its state in a temp dir, and
is killed (its whole process group) when the `with` block ends, whatever happened in it.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.apache import free_port

ROOT = Path(__file__).resolve().parents[2]
CONTRIB = ROOT / "contrib" / "prometheus"
PROMETHEUS, PROMTOOL = "/usr/bin/prometheus", "/usr/bin/promtool"
ALERTMANAGER, AMTOOL = "/usr/bin/prometheus-alertmanager", "/usr/bin/amtool"


def tool(path: str) -> str:
    """``path`` when installed; otherwise the test is skipped, saying which Debian package brings it."""
    found = path if os.access(path, os.X_OK) else shutil.which(Path(path).name)
    if found is None:
        package = "prometheus-alertmanager" if "alertmanager" in path or "amtool" in path else "prometheus"
        pytest.skip(f"{path} not installed (apt-get install {package}; CI installs it)")
    return found


def get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def post_json(url: str, body: object, timeout: float = 5.0) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.25) -> Any:
    """``predicate()``'s first true value; fails the test naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = predicate()
        except (OSError, urllib.error.URLError, ValueError):
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:g} s")
        time.sleep(step)


@contextmanager
def running(argv: Sequence[str], log: Path, ready_url: str, timeout: float = 20.0) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` started in its own session (stdout and stderr to ``log``), once ``ready_url`` answers 200."""
    with open(log, "wb") as out:
        process = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, cwd=ROOT)
    try:
        def ready() -> bool:
            if process.poll() is not None:
                pytest.fail(f"{argv[0]} exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
            with urllib.request.urlopen(ready_url, timeout=2) as response:
                return bool(response.status == 200)
        wait_until(ready, timeout, f"{Path(argv[0]).name} ready at {ready_url}")
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it after 5 s."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
        except ProcessLookupError:
            pass


def watch_argv(log: Path, log_format: str, port: int, state: Path) -> list[str]:
    return [sys.executable, "-m", "vhostguard.cli.watch", str(log), "--log-format", log_format,
            "--metrics-addr", f"127.0.0.1:{port}", "--state", str(state), "-q"]


def prometheus_config(base: Path, targets: Sequence[str], alertmanager: str | None, interval: str = "1s") -> Path:
    """contrib's prometheus.yml as shipped, with the rules and a targets file under ``base`` and short intervals."""
    config = yaml.safe_load((CONTRIB / "prometheus.yml").read_text())
    config["global"].update(scrape_interval=interval, evaluation_interval=interval)
    config["rule_files"] = [str(CONTRIB / name) for name in config["rule_files"]]
    if alertmanager is None:
        del config["alerting"]
    else:
        config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager]
    [job] = config["scrape_configs"]
    [file_sd] = job["file_sd_configs"]
    targets_file = base / "targets.yml"
    targets_file.write_text(yaml.safe_dump([{"targets": list(targets), "labels": {"env": "test"}}]))
    file_sd.update(files=[str(targets_file)], refresh_interval="1s")
    path = base / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def prometheus_argv(config: Path, storage: Path, port: int) -> list[str]:
    return [tool(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]


def alertmanager_argv(config: Path, storage: Path, port: int) -> list[str]:
    # No cluster: the gossip port (9094) is not opened.
    return [tool(ALERTMANAGER), f"--config.file={config}", f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"]


def reserve_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports

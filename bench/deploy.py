"""Benchmark: `vhostguard deploy` of a 1,000-vhost config with a 1,000,000-line access log.

    python bench/deploy.py [--vhosts 1000] [--lines 1000000] [--runs 3]

Targets (issue 12): the gates (load, lint, expectations, sandbox, diff over the live access log's last
hour, apache2 -t in the final place; without the watch window) finish in <= 30 s on the 2-core
machine; the switch-to-serving time (symlink swap + graceful reload until the new generation answers)
is measured and recorded.

A real apache2 serves the live tree on a loopback port (its 1,000 vhosts proxy to addresses nobody
requests). The access log is the live config's own CustomLog, its lines stamped over the last hour,
so the diff gate replays it by default, as on a real server. Each run deploys a candidate that adds a
Redirect on a path the log never asks for to one vhost (``--site``; no routing change: the deploy
goes through; the diff gate routes that vhost's requests through both configs), with a
five-case expectations file, and --watch 1s; the figures come from the deploy's own JSON document
(each gate's seconds, reload.serving_after_s) and the wall-clock time of the command.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, UTC
from pathlib import Path

APACHE2 = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES_DIR = "/usr/lib/apache2/modules"
MODULES = ("mpm_event", "authz_core", "alias", "rewrite", "proxy", "proxy_http", "dir")
FORMAT = '%v:%{local}p %h %l %u %t \\"%r\\" %>s %O %D \\"%{Referer}i\\" \\"%{User-Agent}i\\" \\"%{Host}i\\"'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_tree(live: Path, runtime: Path, vhosts: int, port: int) -> None:
    """A Debian-like tree: apache2.conf, mods-enabled, sites-available + sites-enabled symlinks."""
    for directory in ("mods-enabled", "sites-available", "sites-enabled"):
        (live / directory).mkdir(parents=True, exist_ok=True)
    (live / "mods-enabled" / "bench.load").write_text(
        "".join(f"LoadModule {m}_module {MODULES_DIR}/mod_{m}.so\n" for m in MODULES))
    (live / "apache2.conf").write_text("\n".join([
        f"PidFile {runtime}/apache2.pid", f"DefaultRuntimeDir {runtime}", f"Mutex file:{runtime} default",
        f"ErrorLog {runtime}/error.log", "LogLevel warn", "ServerName bench.example",
        "IncludeOptional mods-enabled/*.load", f"Listen 127.0.0.1:{port}",
        f'LogFormat "{FORMAT}" vhost_host', f"CustomLog {runtime}/access.log vhost_host",
        "<Directory />", "  Require all denied", "</Directory>",
        "IncludeOptional sites-enabled/*.conf", ""]))
    for i in range(vhosts):
        site = live / "sites-available" / f"site{i:04d}.conf"
        site.write_text("\n".join([
            f"<VirtualHost *:{port}>", f"  ServerName site{i}.example.com", f"  ServerAlias www.site{i}.example.com",
            f"  DocumentRoot /srv/www/site{i}", f"  ProxyPass /api/ http://10.0.{i % 250}.1:8080/api/",
            "  Redirect permanent /old https://new.example.com/", "</VirtualHost>", ""]))
        os.symlink(f"../sites-available/{site.name}", live / "sites-enabled" / site.name)


def write_log(path: Path, lines: int, vhosts: int, port: int, seed: int = 12) -> None:
    """``lines`` requests stamped evenly over the hour before now (0.1% malformed)."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(minutes=59)
    step = (59 * 60) / lines
    with path.open("w") as out:
        for n in range(lines):
            if rng.random() < 0.001:
                out.write(f'site1.example.com:{port} 198.51.100.1 - - [oops] "GET /api/trunc\n')
                continue
            site = min(int(rng.paretovariate(1.2)) - 1, vhosts - 1)
            host = f"site{site}.example.com" if rng.random() < 0.8 else f"www.site{site}.example.com"
            roll = rng.random()
            if roll < 0.6:
                path_ = f"/api/users/{rng.randrange(10**6)}"
            elif roll < 0.7:
                path_ = "/old/page"
            else:
                path_ = rng.choice(("/", "/index.html", "/favicon.ico"))
            stamp = (start + timedelta(seconds=n * step)).strftime("%d/%b/%Y:%H:%M:%S +0000")
            out.write(f'site{site}.example.com:{port} 198.51.100.{n % 250} - - [{stamp}] "GET {path_} HTTP/1.1" 200 '
                      f'{rng.randrange(100, 9000)} {rng.randrange(500, 90000)} "-" "bench/1.0" "{host}"\n')


def write_expectations(path: Path, port: int) -> None:
    cases = []
    for i in (0, 1, 7, 500, 999):
        cases.append(f"  - name: site {i} API\n    url: http://site{i}.example.com:{port}/api/x\n"
                     f"    expect:\n      vhost: site{i}.example.com\n      kind: proxy\n"
                     f"      target: http://10.0.{i % 250}.1:8080/api/x\n")
    path.write_text("cases:\n" + "".join(cases))


def start_server(live: Path, runtime: Path, port: int) -> None:
    done = subprocess.run([APACHE2, "-d", str(live), "-f", str(live / "apache2.conf"), "-k", "start"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"apache2 did not start: {done.stderr}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("apache2 did not listen")


def stop_server(runtime: Path) -> None:
    pid_file = runtime / "apache2.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass


def deploy_once(root: Path, live: Path, expect: Path, run: int, site: int) -> tuple[float, dict[str, object]]:
    candidate = root / f"candidate{run}"
    if candidate.exists():
        shutil.rmtree(candidate)
    shutil.copytree(os.path.realpath(live), candidate, symlinks=True)
    site_file = candidate / "sites-available" / f"site{site:04d}.conf"
    site_file.write_text(site_file.read_text().replace(  # inside the vhost: outside it would change every vhost
        "</VirtualHost>", f"  Redirect /bench-run-{run} https://example.com/\n</VirtualHost>"))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "vhostguard", "deploy", str(candidate), "-f", str(live / "apache2.conf"),
                           "--state", str(root / "state"), "--verify", str(expect), "--watch", "1s", "--json"],
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"deploy run {run} failed ({done.returncode}): {done.stdout[-3000:]}{done.stderr[-2000:]}")
    return elapsed, json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vhosts", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--site", type=int, default=500,
                        help="the vhost the candidate changes: its requests are routed through both configs "
                             "(traffic is Pareto-distributed: site 0 has ~60%% of it, site 500 almost none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vg-bench-deploy-") as tmp:
        root = Path(tmp)
        live, runtime = root / "etc" / "apache2", root / "run"
        runtime.mkdir()
        port = free_port()
        write_tree(live, runtime, args.vhosts, port)
        write_log(runtime / "access.log", args.lines, args.vhosts, port)
        expect = root / "expect.yaml"
        write_expectations(expect, port)
        start_server(live, runtime, port)
        try:
            results = [deploy_once(root, live, expect, run, args.site) for run in range(args.runs)]
        finally:
            stop_server(runtime)
    gate_totals, serving, walls = [], [], []
    print(f"config: {args.vhosts} vhosts; access log: {args.lines:,} lines over the last hour; runs: {args.runs}; "
          f"the candidate changes site {args.site}; load before: {os.getloadavg()[0]:.1f}")
    for elapsed, document in results:
        gates = {str(g["name"]): float(g["seconds"]) for g in document["gates"]}  # type: ignore[union-attr, index]
        gate_totals.append(sum(gates.values()))
        serving.append(float(document["reload"]["serving_after_s"]))  # type: ignore[index]
        walls.append(elapsed)
        print("  gates: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in gates.items())
              + f"; total {sum(gates.values()):.2f} s; switch-to-serving {serving[-1]:.2f} s; whole command {elapsed:.1f} s")
        diff = next(g for g in document["gates"] if g["name"] == "diff")  # type: ignore[union-attr]
        print(f"    diff: {diff['detail'][:160]}")  # type: ignore[index]
    median_gates = statistics.median(gate_totals)
    print(f"gates median {median_gates:.2f} s (target <= 30 s: {'met' if median_gates <= 30 else 'NOT met'}); "
          f"switch-to-serving median {statistics.median(serving):.2f} s; whole deploy median {statistics.median(walls):.1f} s "
          "(with --watch 1s)")
    return 0 if median_gates <= 30 else 1


if __name__ == "__main__":
    sys.exit(main())

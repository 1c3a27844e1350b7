#!/usr/bin/env python3
"""Report benchmark: ``vhostguard report --json`` against ``goaccess`` on one generated log.

Generates a ``vhost_combined`` + ``%D`` access log (default 2,000,000 lines,
12 hours of traffic on 8 vhosts) with realistic variety: id-bearing paths
(numbers, UUIDs, hex, base64 tokens, e-mail addresses, dates; about 40% of
the paths are distinct), query strings, escaped quotes (``\\"`` in the
request line and the User-Agent, as httpd writes them), a 502 outage of one
endpoint, slow requests, and 0.1% malformed lines (truncated before their
last quote as a crash leaves them, garbage, empty lines). The generator
keeps the ground truth: lines, malformed lines, requests and 5xx per vhost,
the sum of ``%D`` and of the bytes.

Each run executes, as subprocesses on the same file, alternating:

* ``vhostguard report FILE --log-format '<vhost_combined %D>' --json``
  (the command object, through ``python -c``: interpreter start-up and
  imports count), stdout to a file that is then checked against the ground
  truth: every total must be identical, or the run is WRONG;
* the same report with ``VHOSTGUARD_ENGINE=python`` (the pure-Python engine
  that runs when the compiled scanner is not built), checked the same way,
  unless ``--no-fallback``;
* ``goaccess FILE --log-format ... -o report.json`` (when /usr/bin/goaccess
  exists), whose request counts are shown next to the truth;
* with ``--parse-only``, the LogFormat parser alone (same fields, one
  process, no aggregation), checked against the truth's line and malformed
  counts: the floor under the report's own work.

Measured per run: wall time (spawn to reap), CPU time (user+sys of the whole
process tree, from ``os.wait4``), and memory: the process tree is sampled
every few milliseconds from /proc; "peak RSS" is the sum over every process
of its own high-water mark (VmHWM), the figure the target is about.

Prints the medians and PASS/MISS for the targets: >= 1,000,000 lines/s
(wall, median), exact results, peak RSS <= 300 MiB summed over processes.
Exit status: 0 when the benchmark ran (targets met or not), 1 when a result
disagrees with the ground truth or a command fails, 2 on bad options.

    python bench/report.py [--lines 2000000] [--runs 3] [--jobs N] [--no-goaccess] [--no-fallback] [--parse-only] [--markdown] [--keep]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

TARGET_LINES_PER_S = 1_000_000
TARGET_RSS_MIB = 300
FALLBACK = "vhostguard (python engine)"  # the same command with VHOSTGUARD_ENGINE=python: no compiled scanner
MALFORMED_RATE = 0.001
SPAN_SECONDS = 12 * 3600
START = 1_705_849_200  # 2024-01-21T15:00:00Z
FORMAT = '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D'
GOACCESS_FORMAT = '%v:%^ %h %^[%d:%t %^] "%r" %s %b "%R" "%u" %D'
REPORT_COMMAND = ("import sys; from vhostguard.cli.report import report; "
                  "report.main(sys.argv[1:], prog_name='vhostguard report')")
# The report's row parser alone, one process: the ceiling the report's own work sits on.
PARSE_ONLY_COMMAND = """
import gc, sys
from vhostguard.logs import parser_for
from vhostguard.logs.rows import BYTES_SENT, request_rows
rows = request_rows(parser_for(sys.argv[2], {}), ("status", "time", BYTES_SENT, "duration_us")).rows
gc.freeze(); gc.disable()
lines = bad = 0
with open(sys.argv[1], encoding="utf-8", errors="backslashreplace", newline="") as handle:
    rest = ""
    while chunk := handle.read(1 << 22):
        block = (rest + chunk).split("\\n")
        rest = block.pop()
        lines += len(block)
        bad += len(rows(block)[1])
    if rest:
        lines += 1
        bad += len(rows([rest])[1])
print(lines, bad)
"""
SAMPLE_SECONDS = 0.005

VHOSTS = ("api.example.com", "api.example.com", "api.example.com", "www.example.com", "www.example.com",
          "shop.example.com", "static.example.com", "admin.example.com", "partner-api.example.com",
          "legacy.example.org")
UAS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "curl/8.5.0", "python-requests/2.31.0", "Go-http-client/1.1", "okhttp/4.12.0",
)
ESCAPED_UAS = ('Mozilla/5.0 (compatible; \\"quoted\\" bot; +http://bot.example/)', "caf\\xc3\\xa9 client/1.0")
REFERERS = ("-", "-", "-", "https://www.example.com/", "https://shop.example.com/cart?step=2")
METHODS = ("GET",) * 16 + ("POST", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH")
WORDS = ("shoes", "books", "garden", "kitchen", "toys", "music", "sports", "travel")
OUTAGE = (START + 5 * 3600, START + 5 * 3600 + 420)  # 7 minutes of 502 on one endpoint


@dataclass
class Truth:
    lines: int = 0
    malformed: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)  # 5xx per vhost
    duration_us_sum: int = 0
    bytes: int = 0

    @property
    def valid(self) -> int:
        return self.lines - self.malformed


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def _uuid(rng: random.Random) -> str:
    h = _hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _token(rng: random.Random) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return "".join(rng.choice(alphabet) for _ in range(22)) + "7"


def _path(rng: random.Random, vhost: str) -> str:
    k = rng.random()
    if vhost.startswith(("api", "partner")):
        if k < 0.22:
            return f"/v1/users/{rng.randrange(1, 300_000)}"
        if k < 0.40:
            return f"/v1/users/{rng.randrange(1, 300_000)}/orders/{_hex(rng, 16)}"
        if k < 0.50:
            return f"/v1/orders/{_uuid(rng)}"
        if k < 0.56:
            return f"/v1/items/{rng.randrange(1, 20_000)}.json"
        if k < 0.60:
            return f"/v1/sessions/{_token(rng)}"
        if k < 0.62:
            return f"/v1/users/{'user' + str(rng.randrange(5000))}@example.com/prefs"
        if k < 0.65:
            return f"/v1/reports/2024-01-{rng.randrange(1, 29):02d}"
        return rng.choice(("/v1/users", "/v1/search", "/v1/health", "/v1/orders", "/v2/catalog", "/v1/login"))
    if vhost == "shop.example.com":
        if k < 0.35:
            return f"/product/{rng.randrange(1, 50_000)}"
        if k < 0.55:
            return f"/category/{rng.choice(WORDS)}"
        return rng.choice(("/", "/cart", "/checkout", "/account", "/search"))
    if vhost == "static.example.com":
        if k < 0.5:
            return f"/img/{_hex(rng, 12)}.jpg"
        return rng.choice(("/js/app.3f9a2c1b.js", "/css/site.css", "/favicon.ico", "/fonts/inter.woff2"))
    return rng.choice(("/", "/about", "/blog/", "/blog/what-we-learned", "/contact", "/pricing", "/robots.txt",
                       "/wp-login.php", "/.env", f"/news/{rng.randrange(1, 3000)}"))


def _query(rng: random.Random) -> str:
    k = rng.random()
    if k < 0.10:
        return f"?page={rng.randrange(1, 50)}&sort=desc"
    if k < 0.17:
        return f"?q={rng.choice(WORDS)}+{rng.randrange(100)}&utm_source=news"
    if k < 0.175:
        return '?q=\\"exact phrase\\"'  # httpd writes a quote of the request line as \"
    return ""


def _status(rng: random.Random, vhost: str, path: str, second: int) -> int:
    if OUTAGE[0] <= second < OUTAGE[1] and vhost == "api.example.com" and path.startswith("/v1/orders/"):
        return 502
    k = rng.random()
    if k < 0.012:
        return rng.choice((500, 502, 503, 504))
    if k < 0.05:
        return rng.choice((404, 404, 404, 400, 401, 403, 429))
    if k < 0.09:
        return rng.choice((301, 302, 304, 304))
    return rng.choice((200, 200, 200, 200, 201, 204))


def _line(rng: random.Random, number: int, lines: int) -> tuple[str, str, int, int, int]:
    vhost = rng.choice(VHOSTS)
    path = _path(rng, vhost) + _query(rng)
    duration = int(rng.lognormvariate(9.9, 1.0)) if rng.random() > 0.002 else rng.randrange(5_000_000, 60_000_000)
    # %t is the request's start; lines are written at its end: a little out of order
    second = START + number * SPAN_SECONDS // lines - min(duration // 1_000_000, 30)
    status = _status(rng, vhost, path, second)
    size = 0 if status == 304 else rng.randrange(200, 80_000)
    ip = (f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" if rng.random() < 0.95
          else f"2001:db8::{rng.randrange(1, 65535):x}")
    agent = rng.choice(ESCAPED_UAS) if rng.random() < 0.02 else rng.choice(UAS)
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(second))
    port = 443 if vhost != "legacy.example.org" else 80
    user = "-" if rng.random() < 0.97 else f"user{rng.randrange(100)}"
    text = (f'{vhost}:{port} {ip} - {user} [{stamp}] "{rng.choice(METHODS)} {path} HTTP/1.1" {status} {size} '
            f'"{rng.choice(REFERERS)}" "{agent}" {duration}')
    return text, vhost, status, duration, size


def _malformed(rng: random.Random, good: str) -> str:
    kind = rng.random()
    if kind < 0.7:
        return good[: rng.randrange(1, good.rindex('"'))]  # cut before the last quote: cannot parse
    if kind < 0.9:
        return "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xfc\\x03\\x03 garbage sent to the port"
    return ""


def generate(path: Path, lines: int, seed: int = 20240121) -> Truth:
    rng = random.Random(seed)
    truth = Truth(lines=lines)
    with open(path, "w", encoding="ascii", newline="\n") as out:
        batch: list[str] = []
        for number in range(lines):
            text, vhost, status, duration, size = _line(rng, number, lines)
            if rng.random() < MALFORMED_RATE:
                batch.append(_malformed(rng, text))
                truth.malformed += 1
            else:
                batch.append(text)
                truth.requests[vhost] = truth.requests.get(vhost, 0) + 1
                if 500 <= status <= 599:
                    truth.errors[vhost] = truth.errors.get(vhost, 0) + 1
                truth.duration_us_sum += duration
                truth.bytes += size
            if len(batch) >= 10_000:
                out.write("\n".join(batch) + "\n")
                batch.clear()
        if batch:
            out.write("\n".join(batch) + "\n")
    return truth


# --- measuring a command --------------------------------------------------------------------

@dataclass
class Measured:
    wall: float
    cpu: float
    rss_sum_mib: float  # sum over the processes of each one's peak RSS
    rss_peak_total_mib: float  # largest simultaneous sum seen
    processes: int
    status: int
    stderr: str


def _tree(root: int) -> list[int]:
    """``root`` and its descendants, from /proc/PID/task/TID/children (cheap: no scan of every process)."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
                    todo.extend(int(child) for child in handle.read().split())
            except OSError:
                continue
    return out


def _memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB, or (0, 0) when the process is gone."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


def measure(command: list[str], stdout_path: Path, env: dict[str, str] | None = None) -> Measured:
    with open(stdout_path, "wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE, env=None if env is None else {**os.environ, **env})
        peaks: dict[int, int] = {}
        total_peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                total = 0
                for pid in _tree(proc.pid):
                    rss, hwm = _memory(pid)
                    total += rss
                    if hwm:
                        peaks[pid] = max(peaks.get(pid, 0), hwm)
                total_peak[0] = max(total_peak[0], total)
                done.wait(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        assert proc.stderr is not None
        err = proc.stderr.read().decode(errors="replace")
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
    if len(peaks) <= 1:  # one process: wait4's high-water mark is its own, exact even if sampling missed it
        peaks[proc.pid] = max(peaks.get(proc.pid, 0), usage.ru_maxrss)
    return Measured(wall, usage.ru_utime + usage.ru_stime, sum(peaks.values()) / 1024, total_peak[0] / 1024,
                    len(peaks), os.waitstatus_to_exitcode(status), err)


def report_command(log: Path, jobs: int | None) -> list[str]:
    command = [sys.executable, "-c", REPORT_COMMAND, str(log), "--log-format", FORMAT, "--json"]
    return command + (["--jobs", str(jobs)] if jobs else [])


def goaccess_command(binary: str, log: Path, out: Path) -> list[str]:
    return [binary, str(log), "--no-global-config", f"--log-format={GOACCESS_FORMAT}", "--date-format=%d/%b/%Y",
            "--time-format=%T", "--no-progress", "-o", str(out)]


def check_report(document: dict, truth: Truth) -> list[str]:
    problems = []
    endpoints = document["endpoints"]
    requests: dict[str, int] = {}
    errors: dict[str, int] = {}
    for e in endpoints:
        requests[e["vhost"]] = requests.get(e["vhost"], 0) + e["requests"]
        errors[e["vhost"]] = errors.get(e["vhost"], 0) + e["status"]["5xx"]
    found = {
        "lines": document["lines"], "malformed": document["malformed"], "requests": sum(requests.values()),
        "requests per vhost": requests, "5xx per vhost": {k: v for k, v in errors.items() if v},
        "duration_us_sum": sum(e["duration_us_sum"] for e in endpoints),
        "bytes": sum(e["bytes"] for e in endpoints),
        "timeline requests": sum(p["requests"] for p in document["timeline"]),
        "timeline 5xx": sum(p["5xx"] for p in document["timeline"]),
    }
    expected = {
        "lines": truth.lines, "malformed": truth.malformed, "requests": truth.valid,
        "requests per vhost": truth.requests, "5xx per vhost": truth.errors,
        "duration_us_sum": truth.duration_us_sum, "bytes": truth.bytes,
        "timeline requests": truth.valid, "timeline 5xx": sum(truth.errors.values()),
    }
    for name, value in expected.items():
        if found[name] != value:
            problems.append(f"report: {name} is {found[name]}, generated {value}")
    return problems


def goaccess_counts(path: Path) -> dict[str, int]:
    try:
        general = json.loads(path.read_text())["general"]
    except (OSError, ValueError, KeyError):
        return {}
    return {key: general.get(key, -1) for key in ("total_requests", "valid_requests", "failed_requests")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=None, help="report --jobs (default: the CPUs available)")
    parser.add_argument("--no-goaccess", action="store_true")
    parser.add_argument("--no-fallback", action="store_true",
                        help="skip the pure-Python engine's run (VHOSTGUARD_ENGINE=python), measured by default")
    parser.add_argument("--parse-only", action="store_true",
                        help="also time the LogFormat parser alone (one process): the ceiling under the report")
    parser.add_argument("--markdown", action="store_true", help="print the docs/benchmarks.md section")
    parser.add_argument("--keep", action="store_true", help="keep the generated directory")
    args = parser.parse_args(argv)
    if args.lines < 100 or args.runs < 1:
        parser.error("--lines >= 100, --runs >= 1")
    goaccess = None if args.no_goaccess else shutil.which("goaccess")
    directory = Path(tempfile.mkdtemp(prefix="vhostguard-bench-report-"))
    try:
        log = directory / "other_vhosts_access.log"
        started = time.perf_counter()
        truth = generate(log, args.lines)
        print(f"generated {truth.lines:,} lines ({truth.malformed:,} malformed), "
              f"{log.stat().st_size / 2**20:.0f} MiB in {time.perf_counter() - started:.1f} s: {log}", file=sys.stderr)
        if goaccess is None and not args.no_goaccess:
            print("note: goaccess not found (apt-get install goaccess); skipping it", file=sys.stderr)
        results: dict[str, list[Measured]] = {"vhostguard": [], FALLBACK: [], "goaccess": [],
                                              "parse only (1 process)": []}
        engines: set[str] = set()
        failures: list[str] = []
        counts: dict[str, int] = {}
        for run in range(args.runs):
            out = directory / "report.json"
            measured = measure(report_command(log, args.jobs), out)
            if measured.status != 0:
                failures.append(f"report exited {measured.status}: {measured.stderr[-500:]}")
            else:
                document = json.loads(out.read_text())
                engines.add(document.get("engine", "?"))
                failures += check_report(document, truth)
            results["vhostguard"].append(measured)
            _progress(run, "vhostguard", measured, truth)
            if not args.no_fallback:
                measured = measure(report_command(log, args.jobs), out, {"VHOSTGUARD_ENGINE": "python"})
                if measured.status != 0:
                    failures.append(f"report (python engine) exited {measured.status}: {measured.stderr[-500:]}")
                else:
                    failures += [f"python engine: {problem}" for problem in check_report(json.loads(out.read_text()), truth)]
                results[FALLBACK].append(measured)
                _progress(run, FALLBACK, measured, truth)
            if args.parse_only:
                out = directory / "parse-only.out"
                measured = measure([sys.executable, "-c", PARSE_ONLY_COMMAND, str(log), FORMAT], out)
                if out.read_text().split() != [str(truth.lines), str(truth.malformed)]:
                    failures.append(f"parse only: read {out.read_text().strip()}, generated {truth.lines} {truth.malformed}")
                results["parse only (1 process)"].append(measured)
                _progress(run, "parse only", measured, truth)
            if goaccess is not None:
                target = directory / "goaccess.json"
                measured = measure(goaccess_command(goaccess, log, target), directory / "goaccess.out")
                if measured.status != 0:
                    failures.append(f"goaccess exited {measured.status}: {measured.stderr[-300:]}")
                counts = goaccess_counts(target)
                results["goaccess"].append(measured)
                _progress(run, "goaccess", measured, truth)
        print(f"engine of the vhostguard runs: {', '.join(sorted(engines)) or '?'}", file=sys.stderr)
        summarize(results, truth, counts, failures, args)
        for failure in failures:
            print(f"WRONG: {failure}", file=sys.stderr)
        return 1 if failures else 0
    finally:
        if args.keep:
            print(f"kept {directory}", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)


def _progress(run: int, name: str, m: Measured, truth: Truth) -> None:
    print(f"run {run + 1} {name}: {m.wall:.2f} s wall, {truth.lines / m.wall:,.0f} lines/s, CPU {m.cpu:.2f} s, "
          f"peak RSS {m.rss_sum_mib:.0f} MiB over {m.processes} processes (largest simultaneous sum "
          f"{m.rss_peak_total_mib:.0f} MiB), load {os.getloadavg()[0]:.1f}", file=sys.stderr)


def summarize(results: dict[str, list[Measured]], truth: Truth, counts: dict[str, int], failures: list[str],
              args: argparse.Namespace) -> None:
    rows = []
    for name, runs in results.items():
        if not runs:
            continue
        wall = statistics.median(m.wall for m in runs)
        cpu = statistics.median(m.cpu for m in runs)
        rss = max(m.rss_sum_mib for m in runs)
        rows.append((name, wall, truth.lines / wall, cpu, truth.lines / cpu, rss, max(m.processes for m in runs)))
    ours = rows[0]
    exact = not failures
    verdicts = [("lines/s (wall, median)", f"{ours[2]:,.0f}", ours[2] >= TARGET_LINES_PER_S),
                ("exact results", "yes" if exact else "NO", exact),
                (f"peak RSS summed <= {TARGET_RSS_MIB} MiB", f"{ours[5]:.0f} MiB", ours[5] <= TARGET_RSS_MIB)]
    if args.markdown:
        print("## Report (bench/report.py)\n")
        print(f"`python bench/report.py --lines {args.lines} --runs {args.runs}` on {platform.machine()}, "
              f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
              f"{truth.lines:,} lines ({truth.malformed:,} malformed), medians of {args.runs} runs, "
              f"load average at the end {os.getloadavg()[0]:.1f}.\n")
        print("| command | wall s | lines/s (wall) | CPU s | lines per CPU-second | peak RSS (sum) | processes |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, wall, rate, cpu, cpu_rate, rss, procs in rows:
            print(f"| {name} | {wall:.2f} | {rate:,.0f} | {cpu:.2f} | {cpu_rate:,.0f} | {rss:.0f} MiB | {procs} |")
        print()
        for what, value, ok in verdicts:
            print(f"- {what}: {value}: **{'PASS' if ok else 'MISS'}**")
        if counts:
            print(f"- goaccess counted {counts}; the truth is {truth.lines:,} lines, {truth.valid:,} valid")
        return
    print(f"{'command':<26} {'wall s':>8} {'lines/s':>11} {'CPU s':>8} {'lines/CPU-s':>12} {'RSS sum':>9} {'procs':>6}")
    for name, wall, rate, cpu, cpu_rate, rss, procs in rows:
        print(f"{name:<26} {wall:>8.2f} {rate:>11,.0f} {cpu:>8.2f} {cpu_rate:>12,.0f} {rss:>5.0f} MiB {procs:>6}")
    for what, value, ok in verdicts:
        print(f"target {what}: {value}: {'PASS' if ok else 'MISS'}")
    if counts:
        print(f"goaccess counted {counts}; truth: {truth.lines:,} lines, {truth.valid:,} valid")


if __name__ == "__main__":
    sys.exit(main())

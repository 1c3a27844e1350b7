#!/usr/bin/env python3
"""``vhostguard watch`` benchmark: sustained live ingest, alert latency, memory over a long run.

Three measurements, each against the real command (``python -m vhostguard.cli.watch``) in a child
process, on a vhost_combined + ``%D`` log (Debian's vhost_combined with the request time):

1. **drain** (headroom): ``watch --once --from-start`` on a pre-written log of ``--drain-lines``
   lines; wall and CPU time from ``os.wait4`` give the most lines/s a watcher reads.
2. **live**: the watcher follows an empty log while a writer process appends ``--lines`` lines
   at ``--rate`` lines/s in blocks every 10 ms, stamped with the wall clock (the lines are
   formatted before the clock starts, so the writer takes little CPU from the watcher). Every
   0.5 s the benchmark samples the bytes the watcher read from the log (``/proc/PID/io``: its
   rchar less the wchar of its parser process, whose answers it reads from a pipe), and the RSS
   and CPU time of the watcher and its parser process. Targets: it keeps up with >= 100,000
   lines/s (it has read every line within 2 s of the writer's end; a higher ``--rate`` shows
   its ceiling), and its RSS stays within +-20% of its value after the first 1,000,000 lines.
3. **alert latency** (during the live run): at 30%, 60% and 85% of the run one endpoint
   (``pay.example.com GET /v1/pay``, 100 requests/s of the total) answers 503 for 8 s. The
   writer notes the wall time it wrote the first 503; a poller reads ``--alerts-jsonl`` every
   20 ms. Latency = alert seen - first 503 written. Target <= 5 s.

Traffic: ``--vhosts`` vhosts, ``--distinct-paths`` distinct paths (60% ``/v1/users/N/orders``,
15% hex item ids, 10% hashed static assets, 10% UUID accounts, 5% unique blog slugs that fold
into ``{other}`` once a vhost reaches the endpoint cap). One line in ten takes the next path
never used before, so a 10M-line run uses every one of 1M paths; the others pick a path
log-uniformly (a heavy head, as real traffic has). 1% 5xx, 2% 404.

At the end the watcher is stopped with SIGINT (exit 130 expected) and its line count must equal
the lines written: a fast wrong answer fails the run. A yardstick (a fixed pure-Python loop) shows
how fast this machine is at the moment; the machine may be shared.

    python bench/watch.py [--lines 10000000] [--rate 100000] [--distinct-paths 1000000]
                          [--drain-lines 1000000] [--gc tuned|default] [--jobs 1|2] [--keep]

Exit status: 0 when the benchmark ran (targets met or not), 1 when a run is wrong or fails, 2 on
bad options.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from dataclasses import dataclass, field
from datetime import datetime, UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORMAT = '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D'
TARGET_RATE = 100_000
TARGET_LATENCY = 5.0
TARGET_RSS_SWING = 0.20
CAUGHT_UP_SECONDS = 2.0
OUTAGES = (0.30, 0.60, 0.85)  # fractions of the run where the probe endpoint breaks
OUTAGE_SECONDS = 8.0
PROBE_RATE = 100  # probe endpoint requests per second
BLOCK_SECONDS = 0.01
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet")
UAS = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
       "curl/8.5.0", "python-requests/2.31.0", "okhttp/4.12.0")


# -- traffic ----------------------------------------------------------------------------------

def path_of(i: int) -> str:
    """The i-th distinct path."""
    kind = i % 20
    if kind < 12:
        return f"/v1/users/{i}/orders"
    if kind < 15:
        return f"/v1/items/{(i * 2654435761) & 0xFFFFFFFFFFFF:012x}"
    if kind < 17:
        return f"/static/app.{(i * 40503) & 0xFFFFFFFF:08x}.js"
    if kind < 19:
        u = f"{(i * 0x9E3779B97F4A7C15F39CC0605CEDC835) & ((1 << 128) - 1):032x}"
        return f"/api/v2/accounts/{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}/settings"
    return f"/blog/{WORDS[i % 10]}-{WORDS[(i // 10) % 10]}-post-{i}x"


class Traffic:
    """Lines at the current wall time; ``probe_status`` is what the probe endpoint answers."""

    def __init__(self, vhosts: int, distinct: int, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.vhosts = [f"api{n}.example.com" for n in range(vhosts)]
        self.distinct = distinct
        # Paths and their vhosts built once: the writer must outrun the watcher on a shared machine.
        self.targets = [f'{self.vhosts[i % vhosts]}:443 ' for i in range(vhosts)]
        self.paths = [path_of(i) for i in range(distinct)]
        self.fresh = 0  # the next path never used yet
        self.ips = [f"10.{a}.{b}.7" for a in range(4) for b in range(64)]
        self._second = -1
        self._stamp = ""

    def stamp(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = datetime.fromtimestamp(second, UTC).strftime("[%d/%b/%Y:%H:%M:%S +0000]")
        return self._stamp

    def lines(self, count: int, now: float, probe: int, probe_status: int) -> str:
        stamp = self.stamp(now)
        return self.probe(probe, stamp, probe_status) + "".join(self.bulk(n, stamp) for n in range(probe, count))

    def probe(self, count: int, stamp: str, status: int) -> str:
        return count * (f'pay.example.com:443 10.9.9.9 - - {stamp} "GET /v1/pay HTTP/1.1" {status} 64 "-" '
                        f'"probe" 2100\n')

    def bulk(self, n: int, stamp: str) -> str:
        """The ``n``-th line of the traffic other than the probe."""
        if n % 10 == 0 and self.fresh < self.distinct:
            index, self.fresh = self.fresh, self.fresh + 1
        else:
            index = int(self.distinct ** self.rnd.random()) - 1
        roll = self.rnd.random()
        status = 503 if roll < 0.01 else 404 if roll < 0.03 else 200
        return (f'{self.targets[index % len(self.targets)]}{self.ips[n & 255]} - - {stamp} '
                f'"GET {self.paths[index]} HTTP/1.1" {status} {512 + (n & 1023)} "-" "{UAS[n & 3]}" '
                f'{1000 + int(roll * 25_000_000) % 250_000}\n')


class Script:
    """Every line of a live run written in advance, its time stamp left as a placeholder.

    Formatting lines in Python costs the writer a third of a core at 100,000 lines/s, taken
    from the watcher on a two-CPU machine (httpd writes its log in C). With the text ready,
    a block costs a slice and one ``str.replace`` of the stamp.
    """

    PLACEHOLDER = "[" + "#" * 26 + "]"  # as long as "[dd/Mon/yyyy:hh:mm:ss +0000]"

    def __init__(self, traffic: Traffic, lines: int) -> None:
        out = []
        self.starts = array("q", [0])
        size = 0
        for n in range(lines):
            text = traffic.bulk(n, self.PLACEHOLDER)
            out.append(text)
            size += len(text)
            self.starts.append(size)
        self.text = "".join(out)

    def block(self, first: int, end: int, stamp: str) -> str:
        """Lines [first, end) stamped ``stamp``."""
        return self.text[self.starts[first]:self.starts[end]].replace(self.PLACEHOLDER, stamp)


def write_log(path: Path, lines: int, traffic: Traffic, start: float) -> int:
    """A pre-written log (for the drain run), 1000 lines per second of log time; returns bytes."""
    size = 0
    with open(path, "w") as out:
        for block in range(0, lines, 1000):
            text = traffic.lines(min(1000, lines - block), start + block // 1000, 10, 200)
            out.write(text)
            size += len(text)
    return size


def writer_main(path: str, total: int, rate: int, vhosts: int, distinct: int, outages: list[int],
                events: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Append ``total`` lines at ``rate`` lines/s; report when it starts, outage starts and the end on ``events``."""
    traffic = Traffic(vhosts, distinct, 1)
    script = Script(traffic, total)
    bulk = 0  # lines of the script written
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    start = time.time()
    events.put(("start", start, os.times()[0] + os.times()[1]))
    written = 0
    outage_until = 0.0
    pending = list(outages)
    while written < total:
        now = time.time()
        if pending and written >= pending[0]:
            pending.pop(0)
            outage_until = now + OUTAGE_SECONDS
            events.put(("outage", now))
        due = min(total, int((now - start) * rate)) - written
        if due <= 0:
            time.sleep(BLOCK_SECONDS / 2)
            continue
        due = min(due, rate // 10)
        probe = max(1, round(due * PROBE_RATE / rate))
        failing = now < outage_until
        stamp = traffic.stamp(now)
        text = traffic.probe(probe, stamp, 503 if failing else 200) + script.block(bulk, bulk + due - probe, stamp)
        os.write(fd, text.encode())
        bulk += due - probe
        written += due
    os.close(fd)
    events.put(("done", time.time(), written, os.times()[0] + os.times()[1]))


# -- the watcher process ------------------------------------------------------------------------

@dataclass
class Sample:
    at: float
    read: int  # bytes the watcher read from the log since the writer started
    rss: int  # bytes, summed over the watcher and its parser process
    cpu: float  # seconds
    parts: tuple[int, ...] = ()  # the watcher's RSS, then its children's


def _io(pid: int | str, field: str) -> int:
    try:
        text = Path(f"/proc/{pid}/io").read_text()
    except OSError:
        return 0  # a child that just ended
    return int(re.search(rf"{field}: (\d+)", text).group(1))  # type: ignore[union-attr]


def proc_sample(pid: int, base_read: int = 0) -> Sample:
    """Bytes the watcher read from files (see the module notes), and RSS and CPU summed over it and its children."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    read = _io(pid, "rchar") - sum(_io(child, "wchar") for child in children)
    cpu = 0.0
    parts = []
    ticks = os.sysconf("SC_CLK_TCK")
    for member in [str(pid), *children]:
        try:
            status = Path(f"/proc/{member}/status").read_text()
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a worker that just ended
        parts.append(int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024)  # type: ignore[union-attr]
        cpu += (int(fields[11]) + int(fields[12])) / ticks
    return Sample(time.time(), read - base_read, sum(parts), cpu, tuple(parts))


def watcher_command(log: Path, work: Path, tuning: list[str], extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "vhostguard.cli.watch", str(log), "--log-format", FORMAT,
            "--state", str(work / "state"), "--metrics-addr", "127.0.0.1:0", "-q", *tuning, *extra]


def summary_lines(stderr: str, log: Path) -> tuple[int, int]:
    # The watcher prints counts with thousands separators (1,000,000 lines).
    m = re.search(re.escape(str(log)) + r": ([\d,]+) lines, ([\d,]+) malformed", stderr)
    if m is None:
        raise RuntimeError(f"no summary from the watcher:\n{stderr[-2000:]}")
    return int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))


@dataclass
class Drain:
    lines: int
    wall: float
    cpu: float
    rss_mb: float


def drain_run(work: Path, log: Path, lines: int, tuning: list[str]) -> Drain:
    """``watch --once --from-start`` over ``log``."""
    started = time.perf_counter()
    process = subprocess.Popen(watcher_command(log, work / "drain", tuning,
                                               ["--once", "--from-start", "--metrics-addr", "off"]),
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    err_text: list[str] = []
    reader = threading.Thread(target=lambda: err_text.append(process.stderr.read()))  # type: ignore[union-attr]
    reader.start()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    reader.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    got, malformed = summary_lines(err_text[0], log)
    if process.returncode != 0 or got != lines or malformed:
        raise RuntimeError(f"drain run: exit {process.returncode}, {got} lines ({malformed} malformed), "
                           f"expected {lines}:\n{err_text[0][-2000:]}")
    return Drain(lines, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


@dataclass
class Live:
    lines: int = 0
    written_bytes: int = 0
    write_seconds: float = 0.0
    caught_up: float = 0.0  # seconds from the writer's start until the watcher had read everything
    writer_cpu: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    outages: list[float] = field(default_factory=list)
    alerts: list[tuple[float, dict]] = field(default_factory=list)  # type: ignore[type-arg]
    counted: int = 0
    exit_code: int | None = None


def poll_alerts(path: Path, stop: threading.Event, found: list[tuple[float, dict]]) -> None:  # type: ignore[type-arg]
    offset = 0
    while not stop.is_set():
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            data = b""
        if data and data.endswith(b"\n"):
            offset += len(data)
            now = time.time()
            for text in data.decode().splitlines():
                found.append((now, json.loads(text)))
        stop.wait(0.02)


def outage_lines(lines: int, rate: int) -> list[int]:
    """Where outages start (line numbers): the OUTAGES fractions at least 30 s of writing apart,
    so each alert can resolve before the next outage (a short run has fewer)."""
    kept: list[int] = []
    for fraction in OUTAGES:
        start = int(lines * fraction)
        if start / rate >= 10 and (not kept or (start - kept[-1]) / rate >= OUTAGE_SECONDS + 22):
            kept.append(start)
    return kept


def live_run(work: Path, lines: int, rate: int, vhosts: int, distinct: int, tuning: list[str]) -> Live:
    log, alerts = work / "access.log", work / "alerts.jsonl"
    log.touch()
    result = Live()
    errors = open(work / "watch.err", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(watcher_command(log, work, tuning, ["--alerts-jsonl", str(alerts)]), cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=errors)
    try:
        deadline = time.time() + 30
        while "state in" not in (work / "watch.err").read_text():
            if time.time() > deadline or process.poll() is not None:
                raise RuntimeError("the watcher did not start:\n" + (work / "watch.err").read_text())
            time.sleep(0.05)
        base = proc_sample(process.pid).read
        stop = threading.Event()
        poller = threading.Thread(target=poll_alerts, args=(alerts, stop, result.alerts), daemon=True)
        poller.start()
        events: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        outages = outage_lines(lines, rate)
        writer = multiprocessing.get_context("fork").Process(
            target=writer_main, args=(str(log), lines, rate, vhosts, distinct, outages, events))
        writer.start()
        first = events.get(timeout=600)  # the writer formats every line before it starts the clock
        if first[0] != "start":
            raise RuntimeError(f"unexpected writer event {first!r}")
        started, writer_cpu_before = first[1], first[2]
        done = None
        while True:
            result.samples.append(proc_sample(process.pid, base))
            while not events.empty():
                event = events.get()
                if event[0] == "outage":
                    result.outages.append(event[1])
                else:
                    done = event
            size = log.stat().st_size
            if done is not None and result.samples[-1].read >= size:
                break
            if done is not None and time.time() - done[1] > 300:
                raise RuntimeError("the watcher did not catch up within 300 s of the writer's end")
            time.sleep(0.5)
        result.caught_up = time.time() - started
        writer.join()
        result.write_seconds, result.lines, result.writer_cpu = done[1] - started, done[2], done[3] - writer_cpu_before
        result.written_bytes = log.stat().st_size
        time.sleep(OUTAGE_SECONDS + 12)  # let the last alert resolve on the wall clock
        stop.set()
        poller.join()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            result.exit_code = process.wait(120)
        except subprocess.TimeoutExpired:
            process.kill()
        errors.close()
    result.counted, malformed = summary_lines((work / "watch.err").read_text(), log)
    if result.counted != result.lines or malformed:
        raise RuntimeError(f"the watcher counted {result.counted} lines ({malformed} malformed) of {result.lines}")
    return result


# -- report -----------------------------------------------------------------------------------------

def yardstick() -> float:
    started = time.process_time()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.process_time() - started


def latencies(live: Live) -> list[tuple[float, float | None, float | None]]:
    """(outage start, seconds to the firing alert, seconds from the outage's end to the resolution)."""
    out = []
    for start in live.outages:
        fired = [(seen, a["id"]) for seen, a in live.alerts if a["endpoint"] == "/v1/pay"
                 and a["state"] == "firing" and a["rule"] == "endpoint-broken" and seen >= start]
        resolved = [seen for seen, a in live.alerts if fired and a["id"] == fired[0][1] and a["state"] == "resolved"]
        out.append((start, fired[0][0] - start if fired else None,
                    resolved[0] - (start + OUTAGE_SECONDS) if resolved else None))
    return out


def rss_by_million(live: Live) -> list[tuple[int, float, tuple[float, ...]]]:
    per_line = live.written_bytes / max(live.lines, 1)
    marks: list[tuple[int, float]] = []
    for sample in live.samples:
        millions = int(sample.read / per_line) // 1_000_000
        if millions >= 1 and (not marks or marks[-1][0] < millions):
            marks.append((millions, sample.rss / 2**20, tuple(part / 2**20 for part in sample.parts)))
    return marks


def report(args: argparse.Namespace, drains: list[Drain], live: Live, ruler: float) -> None:
    print(f"# vhostguard watch benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; Python {platform.python_version()}; "
          f"yardstick (10M-iteration loop) {ruler:.2f} s CPU")
    print(f"options: --lines {args.lines} --rate {args.rate} --distinct-paths {args.distinct_paths} "
          f"--vhosts {args.vhosts} --drain-lines {args.drain_lines} --gc {args.gc}"
          + (f" --jobs {args.jobs}" if args.jobs else ""))
    for drain in drains:
        print(f"drain: {drain.lines:,} lines in {drain.wall:.1f} s wall = {drain.lines / drain.wall:,.0f} lines/s; "
              f"{drain.cpu:.1f} s CPU = {drain.lines / drain.cpu:,.0f} lines per CPU second; "
              f"peak RSS {drain.rss_mb:.0f} MiB")
    achieved = live.lines / live.write_seconds
    cpu = live.samples[-1].cpu - live.samples[0].cpu
    ingest = live.lines / live.caught_up
    print(f"\nlive: {live.lines:,} lines ({live.written_bytes / 2**20:,.0f} MiB) written in {live.write_seconds:.1f} s "
          f"= {achieved:,.0f} lines/s; the watcher had read them all {live.caught_up:.1f} s after the start "
          f"= {ingest:,.0f} lines/s sustained; watcher CPU {cpu:.1f} s ({live.lines / max(cpu, 1e-9):,.0f} lines per "
          f"CPU second), writer CPU {live.writer_cpu:.1f} s; watcher exit {live.exit_code}")
    lag = max_backlog_seconds(live, achieved)
    print(f"largest backlog: {lag:.1f} s of writing")
    marks = rss_by_million(live)
    print("RSS by lines read: " + ", ".join(f"{m}M {rss:.0f} MiB" for m, rss, _ in marks))
    if any(len(parts) > 1 for _, _, parts in marks):
        print("  watcher + parser process: " + ", ".join(
            f"{m}M {' + '.join(f'{part:.0f}' for part in parts)}" for m, _, parts in marks))
    first = marks[0][1] if marks else 0.0
    swing = max((abs(rss - first) / first for _, rss, _ in marks), default=0.0) if first else 0.0
    print("\nalert latency (first 503 written -> endpoint-broken alert read from --alerts-jsonl):")
    worst = 0.0
    for n, (_, fired, resolved) in enumerate(latencies(live), 1):
        worst = max(worst, fired if fired is not None else float("inf"))
        print(f"  outage {n}: alert after {f'{fired:.2f} s' if fired is not None else 'NEVER'}, resolved "
              f"{f'{resolved:.1f} s' if resolved is not None else 'never'} after the backend came back")
    # Kept up: every line read within CAUGHT_UP_SECONDS of the writer's end (samples are 0.5 s apart),
    # so "lines / time to read them all" cannot exceed the rate written; a faster --rate shows the ceiling.
    behind = live.caught_up - live.write_seconds
    keeps_up = achieved >= TARGET_RATE * 0.98 and (ingest >= TARGET_RATE or behind <= CAUGHT_UP_SECONDS)
    print(f"\n{'PASS' if keeps_up else 'MISS'} sustained ingest >= {TARGET_RATE:,} lines/s appended live "
          f"({ingest:,.0f} lines/s; every line read {behind:.1f} s after the writer's end)")
    print(f"{'PASS' if worst <= TARGET_LATENCY else 'MISS'} alert latency <= {TARGET_LATENCY:.0f} s (worst {worst:.2f} s)")
    print(f"{'PASS' if swing <= TARGET_RSS_SWING else 'MISS'} RSS flat within +-{TARGET_RSS_SWING:.0%} after the "
          f"first 1M lines (largest swing {swing:.1%})")


def max_backlog_seconds(live: Live, rate: float) -> float:
    per_line = live.written_bytes / max(live.lines, 1)
    worst = 0.0
    start = live.samples[0].at if live.samples else 0.0
    for sample in live.samples:
        written = min(live.lines, (sample.at - start) * rate)
        worst = max(worst, (written - sample.read / per_line) / rate)
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--rate", type=int, default=TARGET_RATE)
    parser.add_argument("--distinct-paths", type=int, default=1_000_000)
    parser.add_argument("--vhosts", type=int, default=20)
    parser.add_argument("--drain-lines", type=int, default=1_000_000, help="0 skips the drain run")
    parser.add_argument("--gc", choices=("tuned", "default"), default="tuned")
    parser.add_argument("--jobs", type=int, choices=(1, 2), default=None, help="watch --jobs (default: the watcher's)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if args.lines <= 0 or args.rate <= 0 or args.distinct_paths <= 0 or args.vhosts <= 0:
        parser.error("counts must be positive")
    tuning = ["--gc", args.gc, *(["--jobs", str(args.jobs)] if args.jobs else [])]
    work = Path(tempfile.mkdtemp(prefix="vhostguard-bench-watch-"))
    try:
        ruler = yardstick()
        drains = []
        if args.drain_lines:
            log = work / "drain.log"
            write_log(log, args.drain_lines, Traffic(args.vhosts, max(args.drain_lines // 10, 1), 2),
                      time.time() - args.drain_lines / 1000)
            drains = [drain_run(work, log, args.drain_lines, tuning)]
            log.unlink()
        live = live_run(work, args.lines, args.rate, args.vhosts, args.distinct_paths, tuning)
        report(args, drains, live, ruler)
    except RuntimeError as problem:
        print(f"bench/watch.py: {problem}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

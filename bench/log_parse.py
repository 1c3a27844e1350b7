#!/usr/bin/env python3
"""Log-parsing benchmark: lines/s and peak memory of vhostguard's LogFormat parser.

Generates N access-log lines (default 1,000,000) in a temporary directory,
half ``vhost_combined`` and half ``combined`` files (Debian's definitions),
with realistic variety: id-bearing paths (UUIDs, hex and numeric ids; about
40% distinct URLs), query strings, statuses, referers, 2% of User-Agents
with escaped quotes or ``\\xhh`` escapes, and 0.1% malformed lines (truncated
mid-line as a crash leaves them, garbage, empty lines). The generator keeps
the ground truth; every run is checked against it (lines, malformed,
parsed, sum of statuses and bytes): a fast wrong answer fails the run.

Modes, each run in a child process so its peak RSS is its own
(``ru_maxrss`` from ``os.wait4``), measured single-threaded:

* ``records``: ``read_log`` building the full CONTRACT.md record per line
  (what ``logs --jsonl`` builds before JSON encoding);
* ``projected``: ``read_log`` with ``fields=`` the keys report/diff need
  (vhost, method, path, status, time, bytes);
* ``parallel``: ``logs.parallel.fold_log`` with 2 worker processes over byte
  ranges at line boundaries, projected fields, folding to sums (wall clock;
  peak RSS is the parent's plus twice the larger worker's);
* ``regex-ref``: a bare ``re`` match + ``groups()`` of one hand-written
  combined regex per line, no conversion at all: a yardstick for this
  machine's speed at the moment of the run (the machine may be shared);
* ``jsonl``: ``vhostguard logs FILE --jsonl > /dev/null`` end to end, per file
  (interpreter start, JSON encoding included).

Prints, per mode, the median over ``--runs`` of lines/s (wall clock and CPU
time) and the peak RSS, then PASS/MISS for the target: ``records`` parses at
least 300,000 lines/s single-threaded (CPU time). With ``--markdown`` the
results come as the section for docs/benchmarks.md.

Exit status: 0 when the benchmark ran (targets met or not), 1 when a run
disagrees with the ground truth or fails, 2 on bad options.

    python bench/log_parse.py [--lines 1000000] [--runs 3] [--modes records,projected,regex-ref,jsonl]
                              [--gzip] [--markdown] [--keep]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

TARGET_LINES_PER_S = 300_000
MODES = ("records", "projected", "parallel", "regex-ref", "jsonl")
PROJECTED = ("vhost", "method", "path", "status", "time", "bytes_out")
MALFORMED_RATE = 0.001

UAS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
]
ESCAPED_UAS = [  # about 2% of lines: escaped quotes and UTF-8 bytes, as httpd writes them
    'Mozilla/5.0 (compatible; \\"quoted\\" bot; +http://bot.example/)',
    "okhttp/4.12.0 caf\\xc3\\xa9",
]
REFERERS = ["-", "-", "-", "https://www.example.com/", "https://app.example.com/dashboard?tab=2"]
METHODS = ["GET"] * 8 + ["POST", "PUT", "DELETE"]
STATUSES = [200] * 80 + [201, 204, 301, 302, 304] * 2 + [400, 401, 403, 404, 404, 404, 429] + [500, 502, 503]
VHOSTS = [f"api{n}.example.com" for n in range(20)] + ["www.example.com", "static.example.com"]


@dataclass
class Truth:
    lines: int = 0
    malformed: int = 0
    status_sum: int = 0
    bytes_sum: int = 0


def _path(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.25:
        return f"/v1/users/{rng.randrange(1, 200_000)}/orders/{rng.getrandbits(64):016x}"
    if kind < 0.40:
        return f"/v1/items/{rng.getrandbits(128):032x}"[:20] + "-" + f"{rng.getrandbits(48):012x}"
    if kind < 0.55:
        return f"/v2/accounts/{rng.randrange(1, 5000)}/invoices"
    if kind < 0.80:
        return rng.choice(["/", "/health", "/v1/users", "/v1/search", "/login", "/static/app.js", "/static/app.css"])
    return f"/v1/search?q=term{rng.randrange(100)}&page={rng.randrange(1, 20)}"


def _line(rng: random.Random, vhost: bool, second: int, truth: Truth) -> str:
    path = _path(rng)
    if "?" not in path and rng.random() < 0.2:
        path += f"?ref={rng.randrange(1000)}"
    status = rng.choice(STATUSES)
    size = rng.randrange(0, 50_000) if status != 304 else 0
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(1_705_849_200 + second))
    line = (f'10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)} - - [{stamp}] '
            f'"{rng.choice(METHODS)} {path} HTTP/1.1" {status} {size} "{rng.choice(REFERERS)}" "{_agent(rng)}"')
    if vhost:
        line = f"{rng.choice(VHOSTS)}:443 " + line
    truth.status_sum += status
    truth.bytes_sum += size
    return line


def _agent(rng: random.Random) -> str:
    return rng.choice(ESCAPED_UAS) if rng.random() < 0.02 else rng.choice(UAS)


def _malformed(rng: random.Random, good: str) -> str:
    kind = rng.random()
    if kind < 0.7:
        return good[: rng.randrange(1, len(good) - 1)]  # truncated: the closing quote (at least) is gone
    if kind < 0.9:
        return "\\x16\\x03\\x01 garbage sent to the port"
    return ""


def generate(directory: Path, lines: int, compress: bool, seed: int = 20240121) -> tuple[list[Path], Truth]:
    """Two files (vhost_combined, combined) of ``lines`` lines in total; the ground truth."""
    rng = random.Random(seed)
    truth = Truth()
    files = []
    for name, vhost, count in (("other_vhosts_access.log", True, lines // 2), ("access.log", False, lines - lines // 2)):
        path = directory / (name + (".2.gz" if compress else ""))
        opener = gzip.open if compress else open
        with opener(path, "wt", encoding="ascii", newline="\n") as out:  # type: ignore[operator]
            batch = []
            for number in range(count):
                probe = Truth()
                good = _line(rng, vhost, number // 300, probe)
                if rng.random() < MALFORMED_RATE:
                    batch.append(_malformed(rng, good))
                    truth.malformed += 1
                else:
                    batch.append(good)
                    truth.status_sum += probe.status_sum
                    truth.bytes_sum += probe.bytes_sum
                if len(batch) >= 10_000:
                    out.write("\n".join(batch) + "\n")
                    batch.clear()
            if batch:
                out.write("\n".join(batch) + "\n")
        truth.lines += count
        files.append(path)
    return files, truth


# --- the child: one mode, one run ------------------------------------------------

def child(mode: str, files: list[str]) -> dict[str, float | int]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from vhostguard.logs import ReadStats, parser_for, read_log

    stats = ReadStats()
    status_sum = bytes_sum = 0
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    if mode == "regex-ref":
        return _regex_reference(files)
    if mode == "parallel":
        return _parallel(files)
    formats = ["vhost_combined", "combined"]
    fields = PROJECTED if mode == "projected" else None
    for path, name in zip(files, formats, strict=True):
        for record in read_log(path, parser_for(name, fields=fields), stats=stats):
            status_sum += record["status"]
            bytes_sum += record["bytes_out"]
    return {"wall": time.perf_counter() - started_wall, "cpu": time.process_time() - started_cpu,
            "lines": stats.lines, "malformed": stats.malformed, "status_sum": status_sum, "bytes_sum": bytes_sum}


def _sums(records: object) -> tuple[int, int]:
    status = size = 0
    for record in records:  # type: ignore[attr-defined]
        status += record["status"]
        size += record["bytes_out"]
    return status, size


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return a[0] + b[0], a[1] + b[1]


def _parallel(files: list[str]) -> dict[str, float | int]:
    import resource

    from vhostguard.logs import DEFAULT_NICKNAMES
    from vhostguard.logs.parallel import fold_log

    lines = malformed = status_sum = bytes_sum = 0
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    for path, name in zip(files, ["vhost_combined", "combined"], strict=True):
        (status, size), stats = fold_log(path, DEFAULT_NICKNAMES[name], _sums, _add, fields=PROJECTED, workers=2)
        lines, malformed = lines + stats.lines, malformed + stats.malformed
        status_sum, bytes_sum = status_sum + status, bytes_sum + size
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall": time.perf_counter() - started_wall,
            "cpu": time.process_time() - started_cpu + children.ru_utime + children.ru_stime,
            "lines": lines, "malformed": malformed, "status_sum": status_sum, "bytes_sum": bytes_sum,
            "worker_rss_mib": children.ru_maxrss / 1024}


def _regex_reference(files: list[str]) -> dict[str, float | int]:
    """The yardstick: the same reading (iter_lines), then only ``match(line).groups()`` of a hand-written regex."""
    from vhostguard.logs import ReadStats
    from vhostguard.logs.reader import iter_lines

    quoted = r'"([^"\\]*(?:\\.[^"\\]*)*)"'
    tail = r'(\S+) (\S+) (\S+) \[([^\]]*)\] ' + quoted + r' (\d+|-) (\d+|-) ' + quoted + " " + quoted + r"\Z"
    regexes = [re.compile(r"([^: ]*):(\d+) " + tail).match, re.compile(tail).match]
    lines = bad = 0
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    for path, match in zip(files, regexes, strict=True):
        for chunk in iter_lines(path, ReadStats(), path):
            for line in chunk:
                lines += 1
                m = match(line)
                if m is None:
                    bad += 1
                else:
                    m.groups()
    return {"wall": time.perf_counter() - started_wall, "cpu": time.process_time() - started_cpu,
            "lines": lines, "malformed": bad, "status_sum": -1, "bytes_sum": -1}


# --- the parent ------------------------------------------------------------------

def run_child(mode: str, files: list[Path]) -> dict[str, float | int]:
    if mode == "jsonl":
        return _run_jsonl(files)
    proc = subprocess.Popen([sys.executable, __file__, "--child", mode, *map(str, files)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise RuntimeError(f"{mode}: child failed with status {status}")
    result = json.loads(output)
    result["rss_mib"] = usage.ru_maxrss / 1024 + 2 * result.pop("worker_rss_mib", 0)
    return result


def _run_jsonl(files: list[Path]) -> dict[str, float | int]:
    # The command object itself (``vhostguard logs`` once registered in the CLI group: same code).
    command = [sys.executable, "-c", "import sys; from vhostguard.cli.logs import logs; "
               "logs.main(sys.argv[1:], prog_name='vhostguard logs')"]
    lines = malformed = 0
    wall = cpu = 0.0
    rss = 0.0
    for path in files:
        started = time.perf_counter()
        with open(os.devnull, "wb") as sink:
            proc = subprocess.Popen([*command, str(path), "--jsonl"], stdout=sink, stderr=subprocess.PIPE)
            assert proc.stderr is not None
            err = proc.stderr.read().decode()
            _, status, usage = os.wait4(proc.pid, 0)
        wall += time.perf_counter() - started
        cpu += usage.ru_utime + usage.ru_stime
        rss = max(rss, usage.ru_maxrss / 1024)
        summary = re.search(r"^(\d+) lines, (\d+) malformed$", err, re.MULTILINE)
        if status != 0 or summary is None:
            raise RuntimeError(f"jsonl: vhostguard logs failed ({status}): {err[-300:]}")
        lines += int(summary.group(1))
        malformed += int(summary.group(2))
    return {"wall": wall, "cpu": cpu, "lines": lines, "malformed": malformed, "status_sum": -1, "bytes_sum": -1,
            "rss_mib": rss}


def check(mode: str, result: dict[str, float | int], truth: Truth) -> list[str]:
    problems = []
    if result["lines"] != truth.lines:
        problems.append(f"{mode}: {result['lines']} lines read, generated {truth.lines}")
    if mode != "regex-ref" and result["malformed"] != truth.malformed:
        problems.append(f"{mode}: {result['malformed']} malformed, generated {truth.malformed}")
    if result["status_sum"] != -1 and (result["status_sum"], result["bytes_sum"]) != (truth.status_sum, truth.bytes_sum):
        problems.append(f"{mode}: status/bytes sums {result['status_sum']}/{result['bytes_sum']}, "
                        f"truth {truth.status_sum}/{truth.bytes_sum}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--gzip", action="store_true", help="write the logs gzip-compressed (access.log.2.gz)")
    parser.add_argument("--markdown", action="store_true", help="print the docs/benchmarks.md section")
    parser.add_argument("--keep", action="store_true", help="keep the generated directory")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1:])))
        return 0
    modes = [m for m in args.modes.split(",") if m]
    if args.lines < 2 or args.runs < 1 or any(m not in MODES for m in modes):
        parser.error(f"--lines >= 2, --runs >= 1, --modes from {','.join(MODES)}")

    directory = Path(tempfile.mkdtemp(prefix="vhostguard-bench-logs-"))
    try:
        started = time.perf_counter()
        files, truth = generate(directory, args.lines, args.gzip)
        size = sum(p.stat().st_size for p in files)
        print(f"generated {truth.lines:,} lines ({truth.malformed:,} malformed), {size / 2**20:.0f} MiB"
              f"{' gzip' if args.gzip else ''} in {time.perf_counter() - started:.1f} s: {directory}", file=sys.stderr)
        results: dict[str, list[dict[str, float | int]]] = {m: [] for m in modes}
        failures: list[str] = []
        for run in range(args.runs):
            for mode in modes:  # interleaved, so that a noisy neighbour hits every mode alike
                result = run_child(mode, files)
                failures += check(mode, result, truth)
                results[mode].append(result)
                print(f"run {run + 1} {mode}: {truth.lines / result['wall']:,.0f} lines/s wall, "
                      f"{truth.lines / result['cpu']:,.0f} lines/s cpu, {result['rss_mib']:.0f} MiB", file=sys.stderr)
        report(results, truth, args)
        for failure in failures:
            print(f"WRONG: {failure}", file=sys.stderr)
        return 1 if failures else 0
    finally:
        if args.keep:
            print(f"kept {directory}", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)


def report(results: dict[str, list[dict[str, float | int]]], truth: Truth, args: argparse.Namespace) -> None:
    rows = []
    for mode, runs in results.items():
        wall = statistics.median(truth.lines / r["wall"] for r in runs)
        cpu = statistics.median(truth.lines / r["cpu"] for r in runs)
        rss = max(r["rss_mib"] for r in runs)
        rows.append((mode, wall, cpu, rss))
    records = next((r for r in rows if r[0] == "records"), None)
    verdict = ""
    if records is not None:
        verdict = "PASS" if records[2] >= TARGET_LINES_PER_S else "MISS"
    if args.markdown:
        print("## Log parsing (bench/log_parse.py)\n")
        print(f"`python bench/log_parse.py --lines {args.lines} --runs {args.runs}{' --gzip' if args.gzip else ''}` "
              f"on {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
              f"{time.strftime('%Y-%m-%d')}: {truth.lines:,} lines ({truth.malformed:,} malformed), "
              "median of the runs; one core except `parallel` (2 worker processes); the machine may be shared, "
              "so `regex-ref` (a bare `re` match per line, same reading) gives its speed during the run.\n")
        print("| mode | lines/s (wall) | lines/s (CPU) | peak RSS |")
        print("|---|---:|---:|---:|")
        for mode, wall, cpu, rss in rows:
            print(f"| {mode} | {wall:,.0f} | {cpu:,.0f} | {rss:.0f} MiB |")
        if verdict:
            print(f"\nTarget: `records` >= {TARGET_LINES_PER_S:,} lines/s (CPU): **{verdict}**. "
                  "Every run matched the generator's ground truth (lines, malformed, status and byte sums).")
        return
    print(f"{'mode':<10} {'lines/s wall':>14} {'lines/s cpu':>14} {'peak RSS':>10}")
    for mode, wall, cpu, rss in rows:
        print(f"{mode:<10} {wall:>14,.0f} {cpu:>14,.0f} {rss:>7.0f} MiB")
    if verdict:
        print(f"target records >= {TARGET_LINES_PER_S:,} lines/s cpu: {verdict}")


if __name__ == "__main__":
    sys.exit(main())

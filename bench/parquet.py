#!/usr/bin/env python3
"""Parquet export benchmark: ``vhostguard logs LOG --parquet OUT`` on bench/report.py's generated log.

Generates the same ``vhost_combined`` + ``%D`` log as bench/report.py (default
2,000,000 lines, 0.1% malformed, with its ground truth), then runs, as
subprocesses, alternating: the export with the compiled scanner and, unless
``--no-fallback``, with ``VHOSTGUARD_ENGINE=python``. Each file is checked
against the truth (rows = valid lines, rows + malformed = lines, requests per
vhost, the sums of ``%D`` and bytes, read back with pyarrow), or the run is
WRONG. Measured per run as bench/report.py does: wall time, CPU time of the
process tree, peak RSS (VmHWM).

Prints medians and PASS/MISS for the targets: >= 700,000 lines/s (wall,
median, compiled scanner), peak RSS <= 500 MiB, exact. Exit status: 0 when
the benchmark ran, 1 when a file disagrees with the truth, 2 on bad options.

    python bench/parquet.py [--lines 2000000] [--runs 3] [--no-fallback] [--keep]
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from report import FORMAT, Measured, Truth, generate, measure

TARGET_LINES_PER_S = 700_000
TARGET_RSS_MIB = 500
EXPORT_COMMAND = "import sys; from vhostguard.cli.logs import logs; logs.main(sys.argv[1:], prog_name='vhostguard logs')"


def export_command(log: Path, out: Path) -> list[str]:
    return [sys.executable, "-c", EXPORT_COMMAND, str(log), "--log-format", FORMAT, "--parquet", str(out)]


def check(out: Path, truth: Truth, stderr: str) -> list[str]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(out, columns=["vhost", "status", "duration_us", "bytes_out"])
    problems = []
    if table.num_rows != truth.valid:
        problems.append(f"{table.num_rows} rows, {truth.valid} valid lines generated")
    if f"{truth.lines:,} lines: {truth.valid:,} rows written" not in stderr or f"{truth.malformed} malformed" not in stderr:
        problems.append(f"summary line does not say {truth.lines:,} lines = {truth.valid:,} rows + {truth.malformed} malformed")
    counts = {row["values"]: row["counts"] for row in pc.value_counts(table.column("vhost").cast("string")).to_pylist()}
    if counts != truth.requests:
        problems.append(f"requests per vhost {counts} != {truth.requests}")
    if pc.sum(table.column("duration_us")).as_py() != truth.duration_us_sum:
        problems.append("sum of duration_us differs")
    if pc.sum(table.column("bytes_out")).as_py() != truth.bytes:
        problems.append("sum of bytes_out differs")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-fallback", action="store_true", help="skip the VHOSTGUARD_ENGINE=python runs")
    parser.add_argument("--keep", action="store_true", help="keep the generated directory")
    args = parser.parse_args(argv)
    if args.lines < 100 or args.runs < 1:
        parser.error("--lines >= 100, --runs >= 1")
    directory = Path(tempfile.mkdtemp(prefix="vhostguard-bench-parquet-"))
    try:
        log = directory / "other_vhosts_access.log"
        truth = generate(log, args.lines)
        print(f"generated {truth.lines:,} lines ({truth.malformed:,} malformed), {log.stat().st_size / 2**20:.0f} MiB",
              file=sys.stderr)
        engines = {"compiled scanner": {}} if args.no_fallback else {"compiled scanner": {}, "python engine": {"VHOSTGUARD_ENGINE": "python"}}
        results: dict[str, list[Measured]] = {name: [] for name in engines}
        failures: list[str] = []
        for run in range(args.runs):
            for name, env in engines.items():
                out = directory / "access.parquet"
                measured = measure(export_command(log, out), directory / "stdout", env)
                if measured.status != 0:
                    failures.append(f"{name}: exited {measured.status}: {measured.stderr[-400:]}")
                else:
                    failures += [f"{name}: {problem}" for problem in check(out, truth, measured.stderr)]
                results[name].append(measured)
                print(f"run {run + 1} {name}: {measured.wall:.2f} s wall, {truth.lines / measured.wall:,.0f} lines/s, "
                      f"CPU {measured.cpu:.2f} s, peak RSS {measured.rss_sum_mib:.0f} MiB, "
                      f"file {out.stat().st_size / 2**20:.0f} MiB, load {os.getloadavg()[0]:.1f}", file=sys.stderr)
        print(f"`python bench/parquet.py --lines {args.lines} --runs {args.runs}` on {platform.machine()}, "
              f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
              f"load average at the end {os.getloadavg()[0]:.1f}:\n")
        print("| engine | wall s (median) | lines/s | CPU s | lines per CPU s | peak RSS MiB |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, runs in results.items():
            wall = statistics.median(m.wall for m in runs)
            cpu = statistics.median(m.cpu for m in runs)
            rss = max(m.rss_sum_mib for m in runs)
            print(f"| {name} | {wall:.2f} | {truth.lines / wall:,.0f} | {cpu:.2f} | {truth.lines / cpu:,.0f} | {rss:.0f} |")
        ours = results["compiled scanner"]
        speed = truth.lines / statistics.median(m.wall for m in ours)
        rss = max(m.rss_sum_mib for m in ours)
        print(f"\n{'PASS' if speed >= TARGET_LINES_PER_S else 'MISS'} lines/s >= {TARGET_LINES_PER_S:,}: {speed:,.0f}; "
              f"{'PASS' if rss <= TARGET_RSS_MIB else 'MISS'} peak RSS <= {TARGET_RSS_MIB} MiB: {rss:.0f}; "
              f"{'PASS' if not failures else 'WRONG'} exact")
        for failure in failures:
            print(f"WRONG: {failure}", file=sys.stderr)
        return 1 if failures else 0
    finally:
        if args.keep:
            print(f"kept {directory}", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""The benchmarks of issue 19 (bench/diff.py, bench/watch.py) run against the real commands.

At a small scale, through the benchmarks' own generators and checks: the configs
bench/diff.py writes must be configs vhostguard accepts (an MPM loaded, as
``apache2 -t`` requires) and its ground truth must equal ``diff --json``'s
``changed``; bench/watch.py must read the summary ``watch --once`` prints.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"vhostguard_bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_diff_bench_configs_load_and_its_ground_truth_holds(tmp_path: Path) -> None:
    bench = _bench("diff")
    old = bench.write_config(tmp_path / "old", 20, candidate=False)
    new = bench.write_config(tmp_path / "new", 20, candidate=True)
    log = tmp_path / "access.log"
    expected = bench.write_log(log, 3000, 20)
    assert expected > 0
    done = subprocess.run([sys.executable, "-m", "vhostguard", "diff", str(old), str(new), "--requests", str(log), "--json"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stderr  # changes found
    doc = json.loads(done.stdout)
    assert doc["changed"] == expected
    assert doc["requests"] == 3000 - sum(1 for line in log.read_text().splitlines() if line.endswith("/api/trunc"))


def test_watch_bench_reads_the_drain_summary(tmp_path: Path) -> None:
    bench = _bench("watch")
    log = tmp_path / "drain.log"
    bench.write_log(log, 2500, bench.Traffic(3, 250, 2), time.time() - 10)
    drain = bench.drain_run(tmp_path, log, 2500, ["--jobs", "1"])  # raises when the summary is unread or wrong
    assert drain.lines == 2500 and drain.wall > 0

"""Benchmark: `vhostguard diff` over a 500-vhost config pair and a 1,000,000-line access log.

    python bench/diff.py [--lines 1000000] [--vhosts 500] [--runs 3]

Target (issue 5): the whole command (parse + route + group) in <= 10 s on the
2-core machine, peak memory <= 500 MB; issue 19: <= 5 s. The log has realistic id-bearing paths
(at least 30% distinct URLs) and 0.1% malformed lines; the candidate config
changes three vhosts (a ProxyPass target, a ServerName typo, a new Redirect),
so the expected number of changed requests is known from the generator and
checked against the command's JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

FORMAT = '%v:%{local}p %h %l %u %t \\"%r\\" %>s %O %D \\"%{Referer}i\\" \\"%{User-Agent}i\\" \\"%{Host}i\\"'
MODULES = ("mpm_event", "authz_core", "alias", "rewrite", "proxy", "proxy_http", "dir")
CHANGED_PROXY, RENAMED, REDIRECTED = 7, 11, 13  # the three vhosts the candidate changes


def write_config(root: Path, vhosts: int, candidate: bool) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = ["ServerName bench.example", "Listen 80"]
    # An MPM, as every real apache2.conf loads one: without it httpd -t (and vhostguard) refuse the config.
    lines += [f"LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so" for m in MODULES]
    lines += [f'LogFormat "{FORMAT}" vhost_host', "CustomLog /var/log/apache2/access.log vhost_host"]
    lines += ["<Directory />", "  Require all denied", "</Directory>"]
    for i in range(vhosts):
        name = f"site{i}.example.com"
        if candidate and i == RENAMED:
            name = f"site{i}.exmaple.com"
        backend = f"http://10.0.{i % 250}.1:8080/api/"
        if candidate and i == CHANGED_PROXY:
            backend = f"http://10.0.{i % 250}.2:8080/api/"
        lines += [
            "<VirtualHost *:80>",
            f"  ServerName {name}",
            f"  ServerAlias www.site{i}.example.com",
            f"  DocumentRoot /srv/www/site{i}",
            f"  ProxyPass /api/ {backend}",
            "  Redirect permanent /old https://new.example.com/",
        ]
        if candidate and i == REDIRECTED:
            lines.append("  Redirect /shop https://shop.example.com/")
        lines.append("</VirtualHost>")
    main = root / "apache2.conf"
    main.write_text("\n".join(lines) + "\n")
    return main


def write_log(path: Path, lines: int, vhosts: int, seed: int = 11) -> int:
    """Write the log; return how many lines the candidate routes differently (ground truth)."""
    rng = random.Random(seed)
    changed = 0
    with path.open("w") as out:
        for n in range(lines):
            if rng.random() < 0.001:
                out.write('site1.example.com:80 198.51.100.1 - - [21/Jan/2024:14:00:00 +0000] "GET /api/trunc\n')
                continue
            site = min(int(rng.paretovariate(1.2)) - 1, vhosts - 1)
            host = f"site{site}.example.com" if rng.random() < 0.8 else f"www.site{site}.example.com"
            roll = rng.random()
            if roll < 0.5:
                path_ = f"/api/users/{rng.randrange(10**6)}" if rng.random() < 0.6 else f"/api/orders/{uuid.UUID(int=rng.getrandbits(128))}"
            elif roll < 0.7:
                path_ = f"/api/products?page={rng.randrange(50)}"
            elif roll < 0.8:
                path_ = "/old/page"
            elif roll < 0.9:
                path_ = f"/shop/item/{rng.randrange(1000)}"
            else:
                path_ = rng.choice(("/", "/index.html", "/favicon.ico"))
            if site == CHANGED_PROXY and path_.startswith("/api/"):
                changed += 1
            elif site == RENAMED:
                changed += 1  # its name is gone (falls to the default) and its alias now serves a renamed vhost
            elif site == REDIRECTED and path_.startswith("/shop/"):
                changed += 1
            stamp = f"21/Jan/2024:14:{(n // 60000) % 60:02d}:{(n // 1000) % 60:02d} +0000"
            out.write(
                f'site{site}.example.com:80 198.51.100.{n % 250} - - [{stamp}] "GET {path_} HTTP/1.1" 200 '
                f'{rng.randrange(100, 9000)} {rng.randrange(500, 90000)} "-" "bench/1.0" "{host}"\n'
            )
    return changed


def distinct_share(path: Path) -> float:
    urls, total = set(), 0
    with path.open() as handle:
        for line in handle:
            parts = line.split('"')
            if len(parts) >= 9:
                urls.add((parts[-2], parts[1].split(" ")[1] if " " in parts[1] else ""))
                total += 1
    return len(urls) / total


def run_once(old: Path, new: Path, log: Path) -> tuple[float, dict[str, object], int, float]:
    """(wall seconds, the JSON document, peak RSS in KiB, CPU seconds of the command and its workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "vhostguard", "diff", str(old), str(new), "--requests", str(log), "--json"],
        capture_output=True, text=True, check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"vhostguard diff failed ({done.returncode}): {done.stderr}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers' too: the command waits for them
    return elapsed, json.loads(done.stdout), max(usage.ru_maxrss, before), usage.ru_utime + usage.ru_stime - cpu_before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--vhosts", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vg-bench-diff-") as tmp:
        root = Path(tmp)
        old = write_config(root / "old", args.vhosts, candidate=False)
        new = write_config(root / "new", args.vhosts, candidate=True)
        log = root / "access.log"
        expected = write_log(log, args.lines, args.vhosts)
        share = distinct_share(log)
        times, cpus = [], []
        for _ in range(args.runs):
            elapsed, doc, peak_kb, cpu = run_once(old, new, log)
            times.append(elapsed)
            cpus.append(cpu)
        median = statistics.median(times)
        print(f"log: {args.lines:,} lines, {share:.0%} distinct URLs, 0.1% malformed; config pair: {args.vhosts} vhosts")
        print(f"requests replayed: {doc['requests']:,}, changed: {doc['changed']:,} (generator says {expected:,}), "
              f"groups: {len(doc['groups'])}")  # type: ignore[arg-type]
        print(f"wall time: median {median:.2f} s over {args.runs} runs ({', '.join(f'{t:.2f}' for t in times)})")
        # CPU seconds depend less on what else the machine runs than wall time does
        print(f"CPU time (user + sys, workers included): median {statistics.median(cpus):.2f} s "
              f"({', '.join(f'{c:.2f}' for c in cpus)}); load average {os.getloadavg()[0]:.2f} at the end")
        print(f"peak RSS of vhostguard: {peak_kb / 1024:.0f} MiB")
        print(f"target <= 10 s (issue 5): {'PASS' if median <= 10 else 'MISS'}; "
              f"<= 5 s (issue 19): {'PASS' if median <= 5 else 'MISS'}; <= 500 MB: {'PASS' if peak_kb / 1024 <= 500 else 'MISS'}; "
              f"exact: {'PASS' if doc['changed'] == expected else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: route decisions per second over a 1,000-vhost config with mixed rules.

    python bench/route.py [--vhosts 1000] [--requests 100000] [--distinct 0.3]

Target (issue 3): >= 50,000 decisions/s on the 2-core machine. The config is
generated in a temp dir: each vhost has a ServerName and alias, a
DocumentRoot, ProxyPass rules (general and specific), an Alias, a Redirect, a
<Location> with Require, and every fourth vhost has mod_rewrite rules
(an HTTPS redirect condition, a [P] rule and a [PT] rule).
"""
from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from vhostguard.config import LoadOptions, load
from vhostguard.model import build_model
from vhostguard.routing import Request, Router

MODULES = ("authz_core", "alias", "rewrite", "proxy", "proxy_http", "dir")


def generate(root: Path, vhosts: int) -> Path:
    lines = ["ServerName bench.example", "Listen 80", "Listen 443"]
    lines += [f"LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so" for m in MODULES]
    lines += ["<Directory />", "  Require all denied", "</Directory>"]
    for i in range(vhosts):
        docroot = root / "www" / f"site{i}"
        docroot.mkdir(parents=True, exist_ok=True)
        (docroot / "index.html").write_text("x")
        lines += [
            "<VirtualHost *:80>",
            f"  ServerName site{i}.example.com",
            f"  ServerAlias www.site{i}.example.com *.site{i}.example.net",
            f"  DocumentRoot {docroot}",
            f"  <Directory {docroot}>",
            "    Require all granted",
            "  </Directory>",
            f"  ProxyPass /api/ http://10.0.{i % 250}.1:8080/api/",
            f"  ProxyPass /api/v2/ http://10.0.{i % 250}.2:8080/v2/",
            "  ProxyPass /static !",
            f"  Alias /docs {docroot}",
            "  Redirect permanent /old https://new.example.com/",
            "  <Location /admin>",
            "    Require ip 10.0.0.0/8",
            "  </Location>",
        ]
        if i % 4 == 0:
            lines += [
                "  RewriteEngine on",
                "  RewriteCond %{HTTP:X-Forwarded-Proto} =http",
                "  RewriteRule ^/secure/(.*)$ https://%{HTTP_HOST}/secure/$1 [R=301,L]",
                f"  RewriteRule ^/legacy/(.*)$ http://10.1.{i % 250}.9/$1 [P]",
                "  RewriteRule ^/v1/(.*)$ /api/$1 [PT]",
            ]
        lines.append("</VirtualHost>")
    main = root / "apache2.conf"
    main.write_text("\n".join(lines) + "\n")
    return main


PATHS = ("/", "/api/users/{n}", "/api/v2/orders/{n}", "/static/app.{n}.js", "/docs/index.html",
         "/old/page{n}", "/admin/x", "/secure/{n}", "/legacy/item/{n}", "/v1/items/{n}", "/missing/{n}")


def requests(vhosts: int, count: int, distinct_share: float, seed: int = 7) -> list[Request]:
    rng = random.Random(seed)
    distinct = max(1, int(count * distinct_share))
    pool: list[Request] = []
    for _ in range(distinct):
        site = rng.randrange(vhosts)
        host = rng.choice((f"site{site}.example.com", f"www.site{site}.example.com", f"a.site{site}.example.net", "unknown.example"))
        path = rng.choice(PATHS).replace("{n}", str(rng.randrange(100000)))
        headers = (("X-Forwarded-Proto", rng.choice(("http", "https"))),)
        pool.append(Request.from_url(f"http://{host}{path}", headers=headers))
    return [pool[rng.randrange(distinct)] if i >= distinct else pool[i] for i in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vhosts", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--distinct", type=float, default=0.3, help="share of distinct requests (default 0.3)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vg-bench-route-") as tmp:
        main_file = generate(Path(tmp), args.vhosts)
        started = time.perf_counter()
        model = build_model(load(str(main_file), LoadOptions(environ={}, env_file="")))
        load_seconds = time.perf_counter() - started
        workload = requests(args.vhosts, args.requests, args.distinct)
        gc.freeze()  # as the CLI does: the model is long-lived, keep the cyclic GC off it
        rates = []
        for _ in range(args.runs):
            router = Router(model)  # fresh: no memoised decisions carried between runs
            gc.collect()  # the previous run's router, untimed
            # `vhostguard diff`, the bulk user of routing, replays with the cyclic GC off
            # (decisions are freed by reference counting); a full collection landing in one
            # run or not made the runs differ by a third.
            gc.disable()
            began = time.perf_counter()
            kinds: dict[str, int] = {}
            for request in workload:
                kind = router.route(request).outcome.kind
                kinds[kind] = kinds.get(kind, 0) + 1
            rates.append(len(workload) / (time.perf_counter() - began))
            gc.enable()
        tracemalloc.start()  # a separate, untimed run: tracing slows allocation several times
        router = Router(model)
        for request in workload:
            router.route(request)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    rate = statistics.median(rates)
    print(f"config: {args.vhosts} vhosts, loaded and modelled in {load_seconds:.2f} s")
    print(f"requests: {args.requests} ({args.distinct:.0%} distinct), runs: {args.runs}")
    print(f"outcomes (last run): {dict(sorted(kinds.items()))}")
    print(f"decisions/s: median {rate:,.0f}  (runs: {', '.join(f'{r:,.0f}' for r in rates)})")
    print(f"traced peak memory while routing: {peak / 2**20:.1f} MiB")
    print(f"target >= 50,000 decisions/s: {'PASS' if rate >= 50_000 else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

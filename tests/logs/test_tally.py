"""The scanner's tally: sums held in C across blocks, merged, bounded by caps, coarsened.

The tally is what ``report`` runs on (one per thread); these tests hold its own
rules: a log cut into blocks over several tallies, merged, adds up to what one
tally gives; past its caps new vhosts, templates and Hosts count as ``{other}``
and the folds are counted; methods outside the given list are ``{other}``; a
series coarsened after the fact equals one counted at the coarser step.
"""
from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from vhostguard.logs import scanner
from vhostguard.logs.scanner import GroupSums, Tallied, Tally, TallyCaps, scan_spec

FORMAT = '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D'
HOST_FORMAT = '%v %t "%r" %>s %D "%{Host}i"'
SKETCH = 1.0 / math.log(1.02)
LATENCY = 1.0 / math.log(math.sqrt(2.0))
WIDE = TallyCaps(vhosts=10_000, templates=10_000, pairs=10_000, cells=1 << 30, methods=())
START = 1_705_849_200  # 2024-01-21T15:00:00Z

pytestmark = pytest.mark.skipif(not scanner.compiled(), reason="the compiled scanner is not built here")


def clf(epoch: int) -> str:
    days, rest = divmod(epoch - START, 86400)
    hour, rest = divmod(rest + 15 * 3600, 3600)
    return f"{21 + days + hour // 24:02d}/Jan/2024:{hour % 24:02d}:{rest // 60:02d}:{rest % 60:02d} +0000"


def line(vhost: str, method: str, path: str, status: int, epoch: int, duration: int) -> bytes:
    return (f'{vhost}:443 203.0.113.7 - - [{clf(epoch)}] "{method} {path} HTTP/1.1" {status} 512 "-" '
            f'"Mozilla/5.0" {duration}').encode()


def traffic(count: int, seed: int = 7, longest: int = 5_000_000) -> list[bytes]:
    rng = random.Random(seed)
    paths = ["/", "/v1/users/42", "/v1/users/43/orders", "/static/app.js", "/health", "/v1/items/9f86d081884c"]
    return [line(rng.choice(["a.example", "b.example", "c.example"]), rng.choice(["GET", "GET", "POST", "HEAD"]),
                 rng.choice(paths), rng.choice([200, 200, 200, 404, 503]), START + i * 7, rng.randrange(1, longest))
            for i in range(count)]


def tally_of(blocks: list[bytes], caps: TallyCaps = WIDE, step: int = 60, fmt: str = FORMAT) -> Tally:
    spec = scan_spec(fmt, {}, hosts=True)
    assert spec is not None
    tally = Tally(SKETCH, LATENCY, caps, step)
    for job, block in enumerate(blocks):
        lines, deferred = tally.scan(spec, block, job)
        assert lines == block.count(b"\n") and not deferred
    return tally


def by_key(result: Tallied) -> dict[tuple[bytes, bytes | None, bytes], GroupSums]:
    return {(g.vhost, g.method, g.template): g for g in result.groups}


def test_blocks_over_several_tallies_merged_add_up_to_one_tally() -> None:
    lines = traffic(3000)
    whole = tally_of([b"\n".join(lines) + b"\n"]).result()
    blocks = [b"\n".join(lines[i:i + 250]) + b"\n" for i in range(0, len(lines), 250)]
    # jobs dealt to three tallies out of order, as threads take them
    first, second, third = (Tally(SKETCH, LATENCY, WIDE) for _ in range(3))
    spec = scan_spec(FORMAT, {}, hosts=True)
    assert spec is not None
    for job, block in enumerate(blocks):
        (first, second, third)[(job * 7) % 3].scan(spec, block, job)
    second.merge(third)
    first.merge(second)
    merged = first.result()
    assert merged.lines == whole.lines == 3000 and merged.valid == 3000
    assert by_key(merged).keys() == by_key(whole).keys()
    for key, group in by_key(whole).items():
        other = by_key(merged)[key]
        # where first seen: (job, line in the job) of the same line as (0, line in the whole log)
        job, number = other.first_seen
        assert job * 250 + number == group.first_seen[1], key
        assert other == GroupSums(**{**{f: getattr(group, f) for f in GroupSums.__slots__}, "first_seen": other.first_seen})
    assert sorted(merged.vhosts) == sorted(whole.vhosts)
    with pytest.raises(RuntimeError, match="merged"):
        second.result()


def test_groups_count_what_their_lines_hold() -> None:
    lines = traffic(2000)
    result = tally_of([b"\n".join(lines) + b"\n"]).result()
    group = by_key(result)[(b"a.example", b"GET", b"/v1/users/{id}")]
    mine = [raw for raw in lines if raw.startswith(b"a.example:") and b'"GET /v1/users/4' in raw and b"/orders" not in raw]
    assert group.requests == len(mine)
    assert group.status[5] == sum(b'" 503 ' in raw for raw in mine)
    assert group.duration_sum == sum(int(raw.rsplit(b" ", 1)[1]) for raw in mine)
    errors = sum(int(cell[0]) for cell in group.bucket_errors.values())
    assert errors == group.status[5] and sum(group.bucket_requests.values()) == group.requests
    timeline = {name: (requests, failures) for name, requests, failures in result.vhosts}
    assert sum(timeline[b"a.example"][0].values()) == sum(raw.startswith(b"a.example:") for raw in lines)


def test_past_its_caps_a_tally_counts_new_vhosts_templates_and_methods_as_other() -> None:
    lines = [line("one", "GET", "/a", 200, START, 10), line("one", "GET", "/b", 200, START + 1, 10),
             line("one", "GET", "/c", 200, START + 2, 10),   # a third template of "one": folded
             line("two", "GET", "/a", 200, START + 3, 10),
             line("three", "GET", "/a", 200, START + 4, 10),  # a third vhost: folded
             line("one", "BREW", "/a", 200, START + 5, 10),   # not a listed method
             line("one", "GET", "/c", 200, START + 6, 10)]    # folded again (the fold is remembered)
    caps = TallyCaps(vhosts=2, templates=2, pairs=100, cells=1 << 30, methods=("GET", "POST"))
    result = tally_of([b"\n".join(lines) + b"\n"], caps).result()
    keys = {(g.vhost, g.method, g.template): g.requests for g in result.groups}
    assert keys == {(b"one", b"GET", b"/a"): 1, (b"one", b"GET", b"/b"): 1, (b"one", b"GET", b"{other}"): 2,
                    (b"two", b"GET", b"/a"): 1, (b"{other}", b"GET", b"/a"): 1, (b"one", b"{other}", b"/a"): 1}
    assert result.folded == 3


def test_past_its_cap_of_pairs_a_tally_counts_new_hosts_as_other() -> None:
    lines = [f'v [{clf(START + i)}] "GET / HTTP/1.1" 200 5 "h{i % 4}.example"'.encode() for i in range(8)]
    caps = TallyCaps(vhosts=10, templates=10, pairs=2, cells=1 << 30, methods=())
    result = tally_of([b"\n".join(lines) + b"\n"], caps, fmt=HOST_FORMAT).result()
    counts = {host: sum(minutes.values()) for _, host, minutes in result.hosts}
    assert counts == {b"h0.example": 2, b"h1.example": 2, scanner.OTHER_HOST: 4}


def test_coarsening_a_tally_equals_counting_at_the_coarser_step() -> None:
    lines = traffic(3000, seed=11)
    data = b"\n".join(lines) + b"\n"
    fine = tally_of([data])
    assert fine.cells(240) < fine.cells(60)
    fine.coarsen(240)
    assert fine.step == 240
    coarse = tally_of([data], step=240)
    assert by_key(fine.result()) == by_key(coarse.result())


def test_a_tally_over_its_cells_doubles_its_step_and_keeps_its_sums() -> None:
    lines = traffic(3000, seed=5, longest=2)  # one latency bin: the cells can get under the bound
    bounded = tally_of([b"\n".join(lines) + b"\n"], TallyCaps(10_000, 10_000, 10_000, cells=300, methods=()))
    result = bounded.result()
    assert result.step > 60 and result.step % 60 == 0
    assert sum(len(g.bucket_requests) + len(g.latency) for g in result.groups) <= 300
    assert sum(sum(g.bucket_requests.values()) for g in result.groups) == 3000
    assert all(start % result.step == 0 for g in result.groups for start in g.bucket_requests)


def test_a_tally_refuses_a_step_that_is_not_a_multiple_and_itself_as_a_merge() -> None:
    tally = tally_of([b"\n".join(traffic(10)) + b"\n"], step=120)
    with pytest.raises(ValueError):
        tally.coarsen(180)
    with pytest.raises(ValueError):
        tally.merge(tally)


def test_a_report_whose_tally_folded_says_its_caps_are_not_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vhostguard.analytics import aggregate
    log = tmp_path / "access.log"
    lines = [line("one", "GET", f"/{name}", 200, START + i, 10) for i, name in enumerate(["a", "b", "c", "d", "a"])]
    log.write_bytes(b"\n".join(lines) + b"\n")
    sources = [aggregate.LogSource(str(log), (FORMAT,))]
    options = aggregate.AggregateOptions(max_per_vhost=3)
    assert aggregate.analyse(sources, options).caps_exact  # the tally keeps 1024 templates at least
    monkeypatch.setattr(aggregate, "TALLY_MIN_CAP", 1)
    monkeypatch.setattr(aggregate, "TALLY_CAP_FACTOR", 1)  # now it keeps 3: "/d" folds in the tally
    folded = aggregate.analyse(sources, options)
    assert folded.engine == "c" and not folded.caps_exact
    assert sum(e.requests for e in folded.endpoints) == 5
    assert {e.endpoint: e.requests for e in folded.endpoints} == {"/a": 2, "/b": 1, "/c": 1, "{other}": 1}

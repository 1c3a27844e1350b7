"""``analyse``: every figure of the report against what the generator wrote, sequential and parallel."""
from __future__ import annotations

import dataclasses
import gzip
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.monitor.test_report_fixtures import (
    START, VHOST_COMBINED_D, Plan, Written, clf_time, exact_quantile, write_log,
)
from vhostguard.logs import OTHER, parse_patterns
from vhostguard.analytics import AggregateOptions, Analysis, BurstRule, EndpointSummary, LogSource, analyse
from vhostguard.analytics.aggregate import MAX_LINE

# Tiny jobs so that even a small file is cut into many byte ranges read by two processes.
SPLIT: dict[str, Any] = dict(workers=2, chunk_bytes=4096, split_min_bytes=0)


def run(paths: list[Path], fmt: str = VHOST_COMBINED_D, /, **options: Any) -> Analysis:
    return analyse([LogSource(str(p), (fmt,)) for p in paths], AggregateOptions(**options))


def by_key(analysis: Analysis) -> dict[tuple[str, str, str], EndpointSummary]:
    return {(e.vhost, e.method, e.endpoint): e for e in analysis.endpoints}


def check_against(analysis: Analysis, written: Written) -> None:
    assert analysis.lines == written.lines
    assert analysis.malformed == written.malformed
    got = by_key(analysis)
    assert set(got) == set(written.rows)
    for key, row in written.rows.items():
        e = got[key]
        assert e.requests == row.requests, key
        assert list(e.status) == row.status, key
        assert e.bytes == row.bytes, key
        assert e.duration_us_sum == sum(row.durations), key
        assert e.first_seen == row.first and e.last_seen == row.last, key
        assert e.share == row.requests / written.valid
        assert e.error_ratio == row.status[4] / row.requests
        assert e.latency_ms is not None
        for q, value in ((0.5, e.latency_ms.p50), (0.95, e.latency_ms.p95), (0.99, e.latency_ms.p99)):
            exact = exact_quantile(row.durations, q) / 1000.0
            assert abs(value - exact) <= 0.01 * exact + 0.0005, (key, q, value, exact)  # 1% (+ rounding to 1 us)
    timeline = {(p.minute, p.vhost): [p.requests, p.errors] for p in analysis.timeline}
    assert timeline == written.minutes
    assert [(p.minute, p.vhost) for p in analysis.timeline] == sorted(timeline)


@pytest.mark.parametrize("options", [dict(workers=1), SPLIT], ids=["one-process", "byte-ranges-2-processes"])
def test_every_figure_matches_the_generator(tmp_path: Path, options: dict) -> None:
    written = write_log(tmp_path / "access.log", Plan(lines=3000, malformed_every=97))
    check_against(run([written.path], **options), written)


def test_parallel_result_equals_sequential_result(tmp_path: Path) -> None:
    written = write_log(tmp_path / "access.log", Plan(lines=4000, malformed_every=13, outage=(600, 900)))
    one = run([written.path], workers=1)
    two = run([written.path], **SPLIT)
    assert one.endpoints == two.endpoints  # sketches merge exactly: identical percentiles too
    assert one.timeline == two.timeline
    assert one.bursts == two.bursts
    assert one.samples == two.samples


def test_malformed_lines_are_counted_and_sampled_with_absolute_line_numbers(tmp_path: Path) -> None:
    written = write_log(tmp_path / "access.log", Plan(lines=3000, malformed_every=150))
    for options in (dict(workers=1), SPLIT):
        analysis = run([written.path], **options)
        assert analysis.malformed == 20
        assert [(s.file, s.line) for s in analysis.samples] == [(str(written.path), n) for n in written.malformed_lines[:10]]
        assert all("line ends" in s.error or "expected" in s.error for s in analysis.samples)


def test_rotated_set_plain_and_gzip(tmp_path: Path) -> None:
    old = write_log(tmp_path / "access.log.2.gz", Plan(lines=700, seed=1), compress=True)
    middle = write_log(tmp_path / "access.log.1", Plan(lines=800, seed=2, start=START + 3600))
    new = write_log(tmp_path / "access.log", Plan(lines=900, seed=3, start=START + 7200, malformed_every=100))
    assert (tmp_path / "access.log.2.gz").read_bytes()[:2] == b"\x1f\x8b"
    analysis = run([old.path, middle.path, new.path], **SPLIT)
    assert analysis.lines == 2400 and analysis.malformed == 9
    assert [(s.file, s.line) for s in analysis.samples] == [(str(new.path), n) for n in new.malformed_lines]
    expected: dict[tuple[str, str, str], int] = {}
    for written in (old, middle, new):
        for key, row in written.rows.items():
            expected[key] = expected.get(key, 0) + row.requests
    assert {k: e.requests for k, e in by_key(analysis).items()} == expected


def test_truncated_gzip_counts_what_was_read_and_notes_it(tmp_path: Path) -> None:
    written = write_log(tmp_path / "access.log.1.gz", Plan(lines=2000), compress=True)
    data = written.path.read_bytes()
    written.path.write_bytes(data[: len(data) // 2])
    analysis = run([written.path])
    assert 0 < analysis.lines < 2000
    assert analysis.malformed <= 1  # at most the line cut in the middle
    assert any("compressed data ends early" in p for p in analysis.problems)


def test_binary_garbage_crlf_and_overlong_lines(tmp_path: Path) -> None:
    good = (f'api.example.com:443 10.0.0.1 - - [{clf_time(START, 0)}] "GET /v1/users/7 HTTP/1.1" 200 5 "-" "c" 1000')
    log = tmp_path / "access.log"
    log.write_bytes(b"\n".join([
        good.encode() + b"\r",  # CRLF line: still a good line
        b"\x00\x01\xff\xfe\x16\x03\x01 binary",
        b"x" * (MAX_LINE + 10),
        good.encode(),
        b"",
        good.encode(),
    ]) + b"\n")
    for options in (dict(workers=1), dict(workers=2, chunk_bytes=1024, split_min_bytes=0)):
        analysis = run([log], **options)
        assert (analysis.lines, analysis.malformed) == (6, 3)
        assert [s.line for s in analysis.samples] == [2, 3, 5]
        assert "longer than" in analysis.samples[1].error
        assert [(e.endpoint, e.requests) for e in analysis.endpoints] == [("/v1/users/{id}", 3)]


def test_latency_is_null_without_a_duration_and_converted_from_seconds_or_ms(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    log.write_text("".join(f'h [{clf_time(START + i, 0)}] "GET /x HTTP/1.1" 200 {i} {i % 3} {i * 7}\n'
                           for i in range(100)))
    plain = run([log], '%v %t "%r" %>s %b %T %{ms}T'.replace(" %T %{ms}T", " %{X}i %{Y}i"))
    (e,) = plain.endpoints
    assert e.latency_ms is None and e.duration_us_sum is None and e.requests == 100
    seconds = run([log], '%v %t "%r" %>s %b %T %{X}i')
    assert seconds.endpoints[0].duration_us_sum == sum(i % 3 for i in range(100)) * 1_000_000
    millis = run([log], '%v %t "%r" %>s %b %{X}i %{ms}T')
    assert millis.endpoints[0].duration_us_sum == sum(i * 7 for i in range(100)) * 1000
    assert millis.endpoints[0].latency_ms is not None
    assert abs(millis.endpoints[0].latency_ms.p50 - 49 * 7) <= 0.01 * 49 * 7


@pytest.mark.parametrize("fmt, line, vhost", [
    ('%V %h "%r" %>s', 'by-server-name.test 1.2.3.4 "GET /a HTTP/1.1" 200', "by-server-name.test"),
    # The client wrote the Host header: case, port and a trailing dot name the same vhost (as in watch).
    ('%h "%r" %>s "%{Host}i"', '1.2.3.4 "GET /a HTTP/1.1" 200 "By-Host-Header.test.:8080"', "by-host-header.test"),
    ('%h "%r" %>s', '1.2.3.4 "GET /a HTTP/1.1" 200', "-"),
    ('%v %V "%r" %>s', 'vhost.test other.test "GET /a HTTP/1.1" 200', "vhost.test"),
])
def test_vhost_is_v_then_V_then_host_header(tmp_path: Path, fmt: str, line: str, vhost: str) -> None:
    log = tmp_path / "v.log"
    log.write_text(line + "\n" + line + "\n")
    analysis = run([log], fmt)
    assert [(e.vhost, e.endpoint, e.requests) for e in analysis.endpoints] == [(vhost, "/a", 2)]
    assert analysis.endpoints[0].first_seen is None and analysis.timeline == ()


def test_methods_outside_the_registry_and_missing_request_lines(tmp_path: Path) -> None:
    log = tmp_path / "m.log"
    stamp = clf_time(START, 0)
    log.write_text("".join(f'h [{stamp}] "{request}" {status}\n' for request, status in (
        ("GET /a HTTP/1.1", 200), ("BREW /pot HTTP/1.1", 501), ("XYZZY /a HTTP/1.1", 400), ("-", 408),
        ("PROPFIND /dav HTTP/1.1", 207), ("garbage", 400))))
    analysis = run([log], '%v %t "%r" %>s')
    got = sorted((e.method, e.endpoint, e.requests) for e in analysis.endpoints)
    assert got == [("-", "-", 2), ("GET", "/a", 1), ("PROPFIND", "/dav", 1), (OTHER, "/a", 1), (OTHER, "/pot", 1)]


def test_a_time_without_zone_is_local_time_as_httpd_wrote_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        log = tmp_path / "local.log"
        log.write_text('v.test [2024-01-21 20:30:05] "GET /a HTTP/1.1" 500\n')
        analysis = run([log], '%v [%{%Y-%m-%d %H:%M:%S}t] "%r" %>s')
    finally:
        monkeypatch.undo()
        time.tzset()
    assert [p.minute for p in analysis.timeline] == [START]  # 20:30 in Kolkata is 15:00 UTC
    assert analysis.endpoints[0].first_seen == START + 5


def test_time_zones_become_utc_minutes(tmp_path: Path) -> None:
    written = write_log(tmp_path / "ist.log", Plan(lines=600, seconds=600, offset_minutes=330))
    analysis = run([written.path])
    assert {(p.minute, p.vhost) for p in analysis.timeline} == set(written.minutes)
    assert min(p.minute for p in analysis.timeline) == START  # 20:30 IST is 15:00 UTC


def test_endpoint_cap_keeps_the_first_seen_in_file_order_even_in_parallel(tmp_path: Path) -> None:
    stamp = clf_time(START, 0)
    log = tmp_path / "cap.log"
    # api: /p0 .. /p9 first appear in this order; declared /user/{name} is exempt from the cap.
    lines = [f'api.test [{stamp}] "GET /p{i % 10}/x HTTP/1.1" 200' for i in range(400)]
    lines += [f'api.test [{stamp}] "GET /user/u{i} HTTP/1.1" 200' for i in range(50)]
    lines += [f'www.test [{stamp}] "GET /w{i} HTTP/1.1" 500' for i in range(6)]
    log.write_text("\n".join(lines) + "\n")
    patterns = parse_patterns(["/user/{name}"])
    for options in (dict(workers=1), dict(workers=2, chunk_bytes=512, split_min_bytes=0)):
        analysis = run([log], '%v %t "%r" %>s', max_per_vhost=3, patterns=patterns, **options)
        got = {(e.vhost, e.endpoint): e.requests for e in analysis.endpoints}
        assert got == {("api.test", "/p0/x"): 40, ("api.test", "/p1/x"): 40, ("api.test", "/p2/x"): 40,
                       ("api.test", OTHER): 280, ("api.test", "/user/{name}"): 50,
                       ("www.test", "/w0"): 1, ("www.test", "/w1"): 1, ("www.test", "/w2"): 1, ("www.test", OTHER): 3}
        assert analysis.folded() == {"api.test": 280, "www.test": 3}
        assert analysis.caps_exact
        assert sum(e.errors for e in analysis.endpoints if e.vhost == "www.test") == 6


def test_vhost_cap_folds_later_vhosts(tmp_path: Path) -> None:
    stamp = clf_time(START, 0)
    log = tmp_path / "vh.log"
    log.write_text("".join(f'v{i % 5}.test [{stamp}] "GET / HTTP/1.1" 200\n' for i in range(50)))
    analysis = run([log], '%v %t "%r" %>s', max_vhosts=2, workers=2, chunk_bytes=256, split_min_bytes=0)
    assert {e.vhost: e.requests for e in analysis.endpoints} == {"v0.test": 10, "v1.test": 10, OTHER: 30}
    assert {p.vhost: p.requests for p in analysis.timeline} == {"v0.test": 10, "v1.test": 10, OTHER: 30}


def test_an_outage_is_one_burst_with_its_first_and_last_5xx(tmp_path: Path) -> None:
    plan = Plan(lines=20000, seconds=3600, outage=(1200, 1500), statuses=(200, 200, 404), error_rate=0.01)
    written = write_log(tmp_path / "access.log", plan)
    for options in (dict(workers=1), SPLIT):
        analysis = run([written.path], **options)
        key = ("api.example.com", "GET", "/v1/orders/{id}")
        in_outage = [s for s in written.errors_at[key] if START + 1200 <= s < START + 1500]
        (burst,) = analysis.bursts  # a steady 1% of 500s elsewhere is no burst
        assert (burst.vhost, burst.method, burst.endpoint) == key
        assert (burst.first, burst.last) == (min(in_outage), max(in_outage))
        assert burst.errors >= len(in_outage)  # plus the odd 1% error in the same minutes
        assert burst.errors - len(in_outage) <= 3


def test_burst_rule_thresholds(tmp_path: Path) -> None:
    stamp = [clf_time(START + 60 * m + 5, 0) for m in range(10)]
    lines = []
    for minute, (ok, bad) in enumerate([(10, 0), (10, 5), (0, 0), (10, 5), (10, 0), (0, 0), (0, 0), (1, 2)]):
        lines += [f'a [{stamp[minute]}] "GET /x HTTP/1.1" 200'] * ok + [f'a [{stamp[minute]}] "GET /x HTTP/1.1" 503'] * bad
    log = tmp_path / "b.log"
    log.write_text("\n".join(lines) + "\n")
    analysis = run([log], '%v %t "%r" %>s', bursts=BurstRule(min_ratio=0.25, min_errors=5, gap=1))
    # minutes 1 and 3 fail (5 of 15) with one quiet minute between: one burst; minute 7 has too few 5xx
    assert [(b.first, b.last, b.errors, b.requests) for b in analysis.bursts] == [(START + 65, START + 185, 10, 30)]
    stricter = run([log], '%v %t "%r" %>s', bursts=BurstRule(min_ratio=0.25, min_errors=5, gap=0))
    assert [(b.first, b.last, b.errors) for b in stricter.bursts] == [(START + 65, START + 65, 5),
                                                                       (START + 185, START + 185, 5)]


def test_series_coarsen_to_stay_bounded_and_keep_their_sums(tmp_path: Path) -> None:
    written = write_log(tmp_path / "long.log", Plan(lines=6000, seconds=6 * 3600))
    fine = run([written.path])
    coarse = run([written.path], series_cells=200, **SPLIT)
    assert fine.step == 60 and coarse.step > 60 and coarse.step % 60 == 0
    assert sum(len(e.series) for e in coarse.endpoints) <= 200 * 2
    for a, b in zip(fine.endpoints, coarse.endpoints):
        assert (a.vhost, a.method, a.endpoint) == (b.vhost, b.method, b.endpoint)
        assert sum(p.requests for p in a.series) == sum(p.requests for p in b.series) == a.requests
        assert sum(p.errors for p in b.series) == a.errors
        assert all(p.start % coarse.step == 0 for p in b.series)
    assert fine.timeline == coarse.timeline  # the vhost timeline stays per minute


def test_series_buckets_hold_the_requests_of_their_minute(tmp_path: Path) -> None:
    written = write_log(tmp_path / "access.log", Plan(lines=1500, seconds=900))
    analysis = run([written.path], **SPLIT)
    per_vhost: dict[tuple[int, str], list[int]] = {}
    for e in analysis.endpoints:
        for p in e.series:
            cell = per_vhost.setdefault((p.start, e.vhost), [0, 0])
            cell[0] += p.requests
            cell[1] += p.errors
    assert per_vhost == written.minutes


def test_no_valid_line_gives_an_empty_analysis(tmp_path: Path) -> None:
    log = tmp_path / "bad.log"
    log.write_text("nothing\nto see\n")
    analysis = run([log])
    assert (analysis.lines, analysis.malformed, analysis.valid, analysis.endpoints) == (2, 2, 0, ())


def test_gzip_magic_not_name_decides(tmp_path: Path) -> None:
    written = write_log(tmp_path / "plain.log", Plan(lines=300))
    hidden = tmp_path / "access.log.1"  # gzip content, no .gz suffix
    hidden.write_bytes(gzip.compress(written.path.read_bytes()))
    assert run([hidden], **SPLIT).endpoints == run([written.path]).endpoints
    assert not math.isnan(run([hidden]).endpoints[0].share)


def test_a_pipe_is_read_as_a_stream(tmp_path: Path) -> None:
    written = write_log(tmp_path / "access.log", Plan(lines=500, malformed_every=50))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(written.path.read_bytes()))
    writer.start()
    try:
        analysis = run([fifo], **SPLIT)
    finally:
        writer.join(timeout=10)
    assert (analysis.lines, analysis.malformed) == (500, 10)
    assert sum(e.requests for e in analysis.endpoints) == written.valid


def test_a_file_written_in_two_formats(tmp_path: Path) -> None:
    stamp = clf_time(START, 0)
    log = tmp_path / "shared.log"
    log.write_text(
        f'a.test:443 1.1.1.1 - - [{stamp}] "GET /v1/users/5 HTTP/1.1" 503 10 "-" "c" 2500\n'
        f'1.1.1.1 - - [{stamp}] "GET /v1/users/6 HTTP/1.1" 200 20 "-" "c"\n'
        f'b.test:443 1.1.1.1 - - [{stamp}] "POST /v1/users/7 HTTP/1.1" 201 30 "-" "c" 1500\n'
        "neither\n")
    combined = '%h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"'
    analysis = analyse([LogSource(str(log), (VHOST_COMBINED_D, combined))], AggregateOptions(workers=1))
    got = {(e.vhost, e.method, e.endpoint): (e.requests, e.status, e.bytes, e.duration_us_sum)
           for e in analysis.endpoints}
    assert got == {("a.test", "GET", "/v1/users/{id}"): (1, (0, 0, 0, 0, 1), 10, 2500),
                   ("-", "GET", "/v1/users/{id}"): (1, (0, 1, 0, 0, 0), 20, None),
                   ("b.test", "POST", "/v1/users/{id}"): (1, (0, 1, 0, 0, 0), 30, 1500)}
    assert (analysis.lines, analysis.malformed) == (4, 1)


def test_without_series_the_result_is_the_same_but_for_the_series(tmp_path: Path) -> None:
    written = write_log(tmp_path / "access.log", Plan(lines=1500, seconds=900))
    charted = run([written.path])
    bare = run([written.path], series=False)
    assert all(e.series for e in charted.endpoints) and not any(e.series for e in bare.endpoints)
    assert [dataclasses.replace(e, series=()) for e in charted.endpoints] == list(bare.endpoints)
    assert (charted.timeline, charted.bursts, charted.step) == (bare.timeline, bare.bursts, bare.step)

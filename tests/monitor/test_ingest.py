"""The per-line path: templates equal to logs/' own, bounded labels, counting, malformed lines."""
from __future__ import annotations

import random
import uuid

from tests.monitor.watchkit import FORMAT, T0, line
from vhostguard.logs import EndpointTemplater, parse_patterns, parser_for
from vhostguard.logs.endpoints import OTHER, auto_template
from vhostguard.monitor.exporter import WatchMetrics
from vhostguard.logs.endpoints import SegmentTemplates
from vhostguard.monitor.ingest import Batch, Labeler, LineFeeder, Times, status_class
from vhostguard.monitor.windows import ALL, WindowSpec, Windows


def _paths() -> list[str]:
    rnd = random.Random(11)
    segments = ["v1", "users", "orders", "2024-01-21", "a@b.example", "x%40y.example", "9f1c2e3d4b5a", "ab12",
                "index.html", "123.json", "deadbeefcafe.png", "", "Zm9vYmFyYmF6cXV4MTIzNDU2", "caf\u00e9", "\u0661\u0662",
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlLXZhbHVl", "42", "post-123x", "-", "{id}"]
    paths = ["", "/", "/?q=1", "http://h.example/v1/users/7?x", "/v1/users/1/http://evil/2"]
    for _ in range(3000):
        parts = [rnd.choice(segments) if rnd.random() < 0.8 else str(uuid.UUID(int=rnd.getrandbits(128)))
                 for _ in range(rnd.randint(1, 5))]
        paths.append("/" + "/".join(parts) + ("?a=1" if rnd.random() < 0.2 else ""))
    return paths


def test_segment_templates_equal_auto_template() -> None:
    fast = SegmentTemplates(limit=50)  # a small memo: clearing it must not change answers
    for path in _paths():
        assert fast(path) == auto_template(path), path
        assert auto_template(fast(path)) == fast(path), path  # idempotent: the templater may see our output


def test_labels_match_the_templater_s_own_and_keep_its_cap() -> None:
    ours = Labeler(EndpointTemplater(max_per_vhost=5))
    reference = EndpointTemplater(max_per_vhost=5)
    for path in _paths()[:400]:
        assert ours.label(("v.example", "GET", path))[2] == reference.template(path, "v.example"), path
    assert ours.label(("v.example", "GET", "/brand/new/endpoint"))[2] == OTHER


def test_user_patterns_see_the_raw_path() -> None:
    labeler = Labeler(EndpointTemplater(parse_patterns(["^/v1/files/[0-9]+$ /v1/files/{file}"])))
    assert labeler.label(("v", "GET", "/v1/files/123"))[2] == "/v1/files/{file}"
    assert labeler.label(("v", "GET", "/v1/other/123"))[2] == "/v1/other/{id}"


def test_methods_and_vhosts_stay_bounded() -> None:
    labeler = Labeler(EndpointTemplater(max_vhosts=2))
    assert labeler.label(("a", "GET", "/"))[1] == "GET"
    assert labeler.label(("a", "G\\x00T", "/"))[1] == OTHER
    assert labeler.label(("a", None, None)) == ("a", "-", "-")
    labeler.label(("b", "GET", "/"))
    assert labeler.label(("c", "GET", "/"))[0] == OTHER  # a Host header can be anything: vhosts are capped too


def test_times_without_zone_are_local_and_missing_ones_are_now() -> None:
    times = Times()
    times.now = 123
    assert times.convert(None) == 123
    assert times.convert("2023-11-14T22:13:20+00:00") == T0
    assert times.cache["2023-11-14T22:13:20+00:00"] == T0


def test_status_classes() -> None:
    assert [status_class(s) for s in (101, 200, 304, 404, 503, 99, 600, None)] == [
        "1xx", "2xx", "3xx", "4xx", "5xx", "other", "other", "other"]


def test_feeding_counts_stops_at_the_evaluation_second_and_reports_malformed_lines() -> None:
    feeder = LineFeeder("access.log", parser_for(FORMAT), Labeler(EndpointTemplater()), Times())
    lines = [text.rstrip("\n") for text in (
        line(T0, "/v1/users/1"), "garbage", line(T0, "/v1/users/2", 503), line(T0 + 1, "/x", 404),
        line(T0 + 5, "/y"), line(T0 + 6, "/z"))]
    batch = Batch()
    index, stopped = feeder.feed(lines, 0, 10, T0 + 5, batch)
    assert (index, stopped) == (4, True)  # counting pauses before the first line of T0+5: rules run first
    assert feeder.stats.lines == 4 and feeder.stats.malformed == 1 and feeder.stats.newest == T0 + 5
    assert feeder.stats.samples[0].line == 11 and feeder.stats.samples[0].file == "access.log"
    assert feeder.feed(lines, index, 10, T0 + 100, batch) == (6, False)
    windows = Windows([WindowSpec(300)])
    metrics = WatchMetrics()
    batch.fold(windows, metrics.add_series, T0 + 6)
    users = ("api.example.com", "GET", "/v1/users/{id}")
    totals = windows.totals(users, 0, T0 + 6)
    assert totals is not None and (totals.requests, totals.errors) == (2, 1)
    every = windows.site_totals(ALL, 0, T0 + 6)
    assert every is not None and (every.requests, every.not_found) == (5, 1)
    assert metrics.series[(*users, "5xx")][0] == 1
    assert not batch

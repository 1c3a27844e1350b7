"""report's host-moved view (analytics.hosts): crafted logs whose moves are known, read by both engines.

Each log is written here minute by minute from a plan (vhost and Host per
request), so the expected moves, mappings and counts come from the plan,
not from the program.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime, UTC
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from vhostguard.analytics import AggregateOptions, Analysis, LogSource, analyse
from vhostguard.cli.report import report
from vhostguard.logs import scanner
from vhostguard.report import report_html

HOST_FORMAT = '%v %h %l %u %t "%r" %>s %O "%{Host}i" %D'
UNQUOTED_FORMAT = '%v %{Host}i %h %l %u %t "%r" %>s %O %D'
START = int(datetime(2026, 3, 1, 10, 0, tzinfo=UTC).timestamp())
ENGINES = ["python", pytest.param("c", marks=pytest.mark.skipif(not scanner.compiled(), reason="scanner not built"))]


def clf(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


def line(fmt: str, vhost: str, host: str, second: int, status: int = 200) -> str:
    if fmt == HOST_FORMAT:
        return f'{vhost} 10.0.0.1 - - [{clf(second)}] "GET /v1/items/{second % 7} HTTP/1.1" {status} 12 "{host}" 150\n'
    return f'{vhost} {host} 10.0.0.1 - - [{clf(second)}] "GET /v1/items/{second % 7} HTTP/1.1" {status} 12 150\n'


# minute -> [(vhost, Host as the client wrote it, requests)]
PLAN: dict[int, list[tuple[str, str, int]]] = {
    0: [("api.example.com", "api.example.com", 20), ("www.example.com", "www.example.com", 8)],
    1: [("api.example.com", "API.example.com:443", 20), ("catchall", "api.example.com", 3)],  # 3 strays: no move
    2: [("api.example.com", "api.example.com.", 18)],
    3: [("catchall", "api.example.com", 4)],  # too few to count: the Host's next counted minute decides
    4: [("catchall", "api.example.com", 15), ("api.example.com", "api.example.com", 5)],  # moved here
    5: [("catchall", "api.example.com", 22), ("new.example.com", "new.example.com", 9)],  # a new Host
    6: [("api.example.com", "api.example.com", 12), ("catchall", "api.example.com", 12)],  # a tie keeps catchall
    7: [("api.example.com", "api.example.com", 25), ("new.example.com", "new.example.com", 9)],  # back
    8: [("www.example.com", "-", 6), ("www.example.com", "bad host!", 2)],  # no usable Host
}


def write_plan(path: Path, fmt: str = HOST_FORMAT) -> Counter[tuple[str, str]]:
    """The log of PLAN (requests spread over each minute, in time order); returns requests per
    (normalised Host, vhost) as the plan says."""
    served: Counter[tuple[str, str]] = Counter()
    lines = []
    for minute, requests in PLAN.items():
        rows = [(vhost, host) for vhost, host, count in requests for _ in range(count)]
        for index, (vhost, host) in enumerate(rows):
            lines.append(line(fmt, vhost, host, START + minute * 60 + index * 59 // len(rows)))
            name = host.lower().partition(":")[0].rstrip(".")
            if name not in ("-", "bad host!"):
                served[(name, vhost)] += 1
    path.write_text("".join(lines))
    return served


def read(path: Path, engine: str, monkeypatch: pytest.MonkeyPatch, fmt: str = HOST_FORMAT, **options: object) -> Analysis:
    monkeypatch.setenv("VHOSTGUARD_ENGINE", engine)
    return analyse([LogSource(str(path), (fmt,))], AggregateOptions(workers=1, **options))  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_host_moves_to_the_catch_all_and_back_at_the_planned_minutes(tmp_path: Path, engine: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    served = write_plan(tmp_path / "access.log")
    analysis = read(tmp_path / "access.log", engine, monkeypatch)
    assert analysis.engine == engine  # a format logging the Host does not send C's lines to Python
    view = analysis.hosts
    assert view.available and view.min_requests == 5
    moves = [(c.host, c.minute - START, c.old, c.new, c.requests, c.served) for c in view.moves]
    assert moves == [("api.example.com", 240, "api.example.com", "catchall", 20, 15),
                     ("api.example.com", 420, "catchall", "api.example.com", 25, 25)]
    # exact counts: every request with a usable Host is in one mapping, the others are counted apart
    assert Counter({(m.host, m.vhost): m.requests for m in view.mappings}) == served
    assert view.unnamed == 8
    first_last = {(m.host, m.vhost): (m.first_minute - START, m.last_minute - START) for m in view.mappings}  # type: ignore[operator]
    assert first_last[("api.example.com", "catchall")] == (60, 360)
    assert first_last[("new.example.com", "new.example.com")] == (300, 420)


def test_both_engines_give_the_same_view_with_escapes_and_unquoted_hosts(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    if not scanner.compiled():
        pytest.skip("scanner not built")
    for fmt in (HOST_FORMAT, UNQUOTED_FORMAT):
        path = tmp_path / "access.log"
        write_plan(path, fmt)
        if fmt == HOST_FORMAT:  # a Host httpd escaped: the scanner leaves the line to Python
            with open(path, "a") as handle:
                handle.write(line(fmt, "catchall", 'api.example.com\\"x', START + 9 * 60))
        views = {engine: read(path, engine, monkeypatch, fmt=fmt).hosts for engine in ("c", "python")}
        assert views["c"] == views["python"]
        assert views["c"].moves


def test_a_lower_minimum_counts_the_strays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_plan(tmp_path / "access.log")
    view = read(tmp_path / "access.log", "python", monkeypatch, moved_min_requests=3).hosts
    # minute 1's 3 strays still lose to 20; minute 3's 4 requests now count: the move is seen there
    assert [(c.minute - START, c.new) for c in view.moves][:1] == [(180, "catchall")]


@pytest.mark.parametrize(("fmt", "reason"), [
    ('%v %h %l %u %t "%r" %>s %O %D', r"does not log the requested Host \(%\{Host\}i"),
    ('%h %l %u %t "%r" %>s %O "%{Host}i"', r"does not log the serving vhost \(%v\)"),
])
def test_the_view_is_unavailable_without_both_the_host_and_the_vhost(tmp_path: Path, fmt: str, reason: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "access.log"
    path.write_text(f'www 10.0.0.1 - - [{clf(START)}] "GET / HTTP/1.1" 200 5 7\n' if "%v" in fmt
                    else f'10.0.0.1 - - [{clf(START)}] "GET / HTTP/1.1" 200 5 "www.example.com"\n')
    view = read(path, "python", monkeypatch, fmt=fmt).hosts
    assert not view.available and re.search(reason, view.reason)
    code, out, err = _run(str(path), "--log-format", fmt, "--json")
    assert code == 0, err
    assert json.loads(out)["hosts"] == {"available": False, "reason": view.reason, "min_requests": 5,
                                        "unnamed": 0, "mappings": [], "moved": []}
    code, out, err = _run(str(path), "--log-format", fmt)
    assert [text for text in out.splitlines() if text.startswith("Host moves")] == [
        f"Host moves: unavailable: {view.reason}"]


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(report, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_json_has_the_hosts_schema(tmp_path: Path) -> None:
    served = write_plan(tmp_path / "access.log")
    code, out, err = _run(str(tmp_path / "access.log"), "--log-format", HOST_FORMAT, "--json")
    assert code == 0, err
    hosts = json.loads(out)["hosts"]
    assert set(hosts) == {"available", "reason", "min_requests", "unnamed", "mappings", "moved"}
    assert (hosts["available"], hosts["reason"], hosts["unnamed"]) == (True, None, 8)
    for m in hosts["mappings"]:
        assert set(m) == {"host", "vhost", "requests", "first_minute", "last_minute"}
        assert m["requests"] == served[(m["host"], m["vhost"])]
    assert hosts["moved"] == [
        {"host": "api.example.com", "minute": datetime.fromtimestamp(START + 240, UTC).isoformat(),
         "from": "api.example.com", "to": "catchall", "requests": 20, "served": 15},
        {"host": "api.example.com", "minute": datetime.fromtimestamp(START + 420, UTC).isoformat(),
         "from": "catchall", "to": "api.example.com", "requests": 25, "served": 25},
    ]
    code, out, err = _run(str(tmp_path / "access.log"), "--log-format", HOST_FORMAT)
    assert code == 0, err
    table = out[out.index("Host moves (2)"):]
    assert re.search(r"2026-03-01 10:04 .*api\.example\.com .*api\.example\.com .*catchall .*15 .*20", table)
    assert re.search(r"2026-03-01 10:07 .*api\.example\.com .*catchall .*api\.example\.com .*25 .*25", table)


class Marks(HTMLParser):
    """The move marks of each vhost chart: figure data-key -> [line attributes]."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, list[dict[str, str | None]]] = {}
        self.current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "figure":
            self.current = a.get("data-key")
        elif tag == "line" and "move" in (a.get("class") or "") and self.current is not None:
            self.figures.setdefault(self.current, []).append(a)


def test_html_marks_each_move_on_both_vhost_charts_escaped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "access.log"
    write_plan(path)
    path.write_text(path.read_text().replace("catchall", "<i>x"))  # a hostile vhost name (%v logs it as written)
    analysis = read(path, "python", monkeypatch)
    page = report_html(analysis, 20)
    assert "<i>x" not in page  # escaped in the markup and the data block alike
    marks = Marks()
    marks.feed(page)
    expected = [(datetime.fromtimestamp(START + 240, UTC).isoformat(), "api.example.com", "<i>x", "4"),
                (datetime.fromtimestamp(START + 420, UTC).isoformat(), "<i>x", "api.example.com", "7")]
    for key in ("vhost:api.example.com", "vhost:<i>x"):
        got = [(a["data-minute"], a["data-from"], a["data-to"], a["data-index"]) for a in marks.figures[key]]
        assert got == expected, key
        assert all(a["data-host"] == "api.example.com" for a in marks.figures[key])
    assert "vhost:www.example.com" not in marks.figures and "vhost:new.example.com" not in marks.figures
    assert 'id=moved' in page and "script-src 'unsafe-inline'" in page  # the page's CSP is unchanged

"""``report``'s terminal tables fit the terminal: never a wrapped cell, long names shortened in the middle.

The log is written here with names longer than any terminal column gives
them, and a known number of requests per endpoint; each table is read back
from rich's rendering at a given width, as a user would see it.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from vhostguard.analytics.aggregate import AggregateOptions, Analysis, LogSource, analyse
from vhostguard.report.analytics import tables

FMT = '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D'
LONG_VHOST = "checkout-payments-gateway.eu-west-1.internal.example.com"
LONG_PATH = "/v1/customers/accounts/settings/notifications/preferences/email-digest"
# (vhost, path, requests, 5xx among them): distinct counts, so a row read back names its endpoint.
ROWS = (
    (LONG_VHOST, LONG_PATH, 90, 9),
    (LONG_VHOST, "/index.html", 70, 0),
    ("www.example.com", LONG_PATH, 50, 5),
    ("www.example.com", "/index.html", 40, 1),
    ("api.example.com", "/v2/orders/status", 30, 3),
)
KEY_COLUMNS = ("vhost", "endpoint", "requests", "5xx %")


def write_long_names_log(log: Path) -> Path:
    """The log of ``ROWS``, one request every 7 seconds, the first ``5xx`` requests of each row failing."""
    lines = []
    second = 0
    for vhost, path, requests, errors in ROWS:
        for number in range(requests):
            status = 503 if number < errors else 200
            minute, sec = divmod(second, 60)
            lines.append(f'{vhost}:443 10.0.0.1 - - [04/Dec/2026:01:{minute % 60:02d}:{sec:02d} +0000] '
                         f'"GET {path} HTTP/1.1" {status} 512 "-" "curl/8" {1000 + number * 10}')
            second += 7
    log.write_text("\n".join(lines) + "\n")
    return log


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    log = write_long_names_log(tmp_path_factory.mktemp("layout") / "access.log")
    return analyse([LogSource(str(log), (FMT,))], AggregateOptions())


def rendered(analysis: Analysis, width: int) -> list[str]:
    console = Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)
    with console.capture() as capture:
        console.print(tables(analysis, 10))
    return capture.get().splitlines()


def table(lines: list[str], title: str) -> tuple[list[str], list[list[str]]]:
    """The header and body rows (cells stripped) of the table under ``title``."""
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    header: list[str] = []
    rows: list[list[str]] = []
    for line in lines[start + 1:]:
        if line.startswith("┃"):
            header = [cell.strip() for cell in line.strip("┃ ").split("┃")]
        elif line.startswith("│"):
            rows.append([cell.strip() for cell in line.strip().strip("│").split("│")])
        elif line.startswith("└"):
            break
    return header, rows


def shortened_from(cell: str, full: str) -> bool:
    """Is ``cell`` ``full``, or ``full`` with its middle replaced by one … (both ends kept)?"""
    if cell == full:
        return True
    if cell.count("…") != 1:
        return False
    head, tail = cell.split("…")
    return bool(head) and bool(tail) and full.startswith(head) and full.endswith(tail) and len(cell) < len(full)


@pytest.mark.parametrize("width", [60, 80, 120, 200])
def test_endpoint_tables_fit_with_one_line_per_endpoint(analysis: Analysis, width: int) -> None:
    lines = rendered(analysis, width)
    assert all(cell_len(line) <= width for line in lines)
    for title, expected in (("Top 10 endpoints by requests", ROWS),
                            ("Top failing endpoints (5xx)", [r for r in ROWS if r[3]])):
        header, rows = table(lines, title)
        assert all(name in header for name in KEY_COLUMNS), header
        # One line per endpoint: a wrapped cell would add a line of mostly empty cells.
        assert len(rows) == len(expected)
        got = {}
        for row in rows:
            cells = dict(zip(header, row))
            requests = int(cells["requests"].replace(",", ""))
            vhost, path, _, errors = next(r for r in ROWS if r[2] == requests)
            assert shortened_from(cells["vhost"], vhost), (cells["vhost"], vhost)
            assert shortened_from(cells["endpoint"], f"GET {path}"), (cells["endpoint"], path)
            assert cells["5xx %"] == f"{errors / requests:.1%}"
            got[requests] = cells
        assert sorted(got) == sorted(r[2] for r in expected)


@pytest.mark.parametrize("width", [60, 80])
def test_narrow_terminals_shorten_long_names_in_the_middle(analysis: Analysis, width: int) -> None:
    header, rows = table(rendered(analysis, width), "Top 10 endpoints by requests")
    cells = [dict(zip(header, row)) for row in rows]
    long_vhosts = [c["vhost"] for c in cells if c["requests"] in ("90", "70")]
    long_paths = [c["endpoint"] for c in cells if c["requests"] in ("90", "50")]
    assert all("…" in v and v.startswith("che") and v.endswith("com") for v in long_vhosts), long_vhosts
    assert all("…" in p and p.startswith("GET /v1") and p.endswith("digest") for p in long_paths), long_paths


def test_wide_terminal_shows_every_column(analysis: Analysis) -> None:
    header, _ = table(rendered(analysis, 200), "Top 10 endpoints by requests")
    assert header == ["vhost", "endpoint", "requests", "share", "2xx", "3xx", "4xx", "5xx", "5xx %",
                      "p50 ms", "p95 ms", "p99 ms", "bytes"]


@pytest.mark.parametrize("width", [60, 80, 120, 200])
def test_timeline_and_bursts_fit(analysis: Analysis, width: int) -> None:
    lines = rendered(analysis, width)
    assert all(cell_len(line) <= width for line in lines)
    header, rows = table(lines, "Per vhost over time")
    assert header[0] == "vhost" and len(rows) == len({r[0] for r in ROWS})
    assert any(shortened_from(row[0], LONG_VHOST) and (width > 120 or "…" in row[0]) for row in rows)
    header, rows = table(lines, "Error bursts")  # the 9 first requests of the long endpoint: 503 in a row
    assert {"first 5xx (UTC)", "vhost", "endpoint", "5xx"} <= set(header) and rows
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[0]) for row in rows)


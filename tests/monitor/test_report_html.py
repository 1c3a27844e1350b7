"""The HTML report rendered by headless Chromium: every chart draws one bar per data point, values from the log.

Chromium runs the page's own script (no network: the page forbids it and
the browser is started without it); ``--dump-dom`` gives the DOM after the
script ran. The expected values come from the generator, bucketed here.
"""
from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.monitor.test_report_fixtures import VHOST_COMBINED_D, Plan, Written, write_log
from tests.monitor.test_report_layout import LONG_PATH, LONG_VHOST, ROWS, write_long_names_log
from vhostguard.cli.report import report

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run")
REQUESTS_RGB = (0x4F, 0x7C, 0xAC)
ERRORS_RGB = (0xD1, 0x34, 0x3A)


class Bars(HTMLParser):
    """Per figure[data-chart]: the bars of each series in drawing order, as (index, value, height)."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[int, dict[str, list[tuple[int, int, float]]]] = {}
        self.current: int | None = None
        self.drawn: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "figure" and "data-chart" in a:
            self.current = int(a["data-chart"] or -1)
            self.figures[self.current] = {}
        elif tag == "body":
            self.drawn = a.get("data-charts-drawn")
        elif tag == "rect" and self.current is not None and "data-series" in a:
            bars = self.figures[self.current].setdefault(a["data-series"] or "", [])
            bars.append((int(a["data-index"] or -1), int(a["data-value"] or -1), float(a["height"] or 0)))


def chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],  # type: ignore[list-item]
                          capture_output=True, text=True, timeout=120, check=False)


def expected_series(written: Written, key: str, start: int, width: int, count: int) -> tuple[list[int], list[int]]:
    requests, errors = [0] * count, [0] * count
    if key.startswith("vhost:"):
        cells = [(minute, cell) for (minute, vhost), cell in written.minutes.items() if vhost == key[6:]]
    else:
        vhost, method, endpoint = key[len("endpoint:"):].split(" ", 2)
        cells = list(written.row_minutes[(vhost, method, endpoint)].items())
    for minute, (req, err) in cells:
        requests[(minute - start) // width] += req
        errors[(minute - start) // width] += err
    return requests, errors


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Written, dict, Bars, Path]:
    tmp = tmp_path_factory.mktemp("html")
    # 8 hours: more minutes than bars fit, so buckets are wider than a minute
    written = write_log(tmp / "access.log", Plan(lines=9000, seconds=8 * 3600, outage=(3600, 7200),
                                                 statuses=(200, 200, 404), error_rate=0.005, malformed_every=500))
    page = tmp / "report.html"
    result = CliRunner().invoke(report, [str(written.path), "--log-format", VHOST_COMBINED_D, "--html", str(page),
                                         "--top", "4", "--json"])
    assert result.exit_code == 0, result.stderr
    text = page.read_text()
    data = json.loads(re.search(r'id="vg-data">(.*?)</script>', text, re.S).group(1))  # type: ignore[union-attr]
    dom = chromium(page, tmp / "profile", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    bars = Bars()
    bars.feed(dom.stdout)
    return written, data, bars, tmp


def test_each_chart_draws_one_bar_per_data_point_with_the_logged_values(rendered: tuple) -> None:
    written, data, bars, _ = rendered
    charts = data["charts"]
    vhosts = {v for _, v in written.minutes}
    assert [c["key"] for c in charts[:len(vhosts)]] == [f"vhost:{v}" for v in sorted(
        vhosts, key=lambda v: -sum(cell[0] for (m, vv), cell in written.minutes.items() if vv == v))]
    outage_row = "endpoint:api.example.com GET /v1/orders/{id}"
    assert outage_row in [c["key"] for c in charts]  # charted for its 5xx even if not among the busiest
    assert bars.drawn == str(len(charts)) and sorted(bars.figures) == list(range(len(charts)))
    for number, chart in enumerate(charts):
        count = len(chart["requests"])
        assert chart["width"] > 60 and 1 < count <= 360
        requests, errors = expected_series(written, chart["key"], chart["start"], chart["width"], count)
        drawn = bars.figures[number]
        # No 5xx at all: no 5xx panel (an empty strip says nothing).
        assert set(drawn) == ({"requests", "5xx"} if any(errors) else {"requests"}), chart["key"]
        for name, expected in (("requests", requests), ("5xx", errors)):
            if name not in drawn:
                continue
            assert [index for index, _, _ in drawn[name]] == list(range(count)), (chart["key"], name)
            assert [value for _, value, _ in drawn[name]] == expected, (chart["key"], name)
            heights = [height for _, _, height in drawn[name]]
            assert all((h > 0) == (v > 0) for h, v in zip(heights, expected))
            assert max(heights) == pytest.approx(max(heights[i] for i, v in enumerate(expected) if v == max(expected)))
    for chart in charts:
        if chart["key"].startswith("endpoint:"):  # 8 hours of sparse buckets: latency points span several bars
            per_point = chart["latency_width"] // chart["width"]
            assert per_point > 1 and chart["latency_width"] % chart["width"] == 0
            assert len(chart["p50_ms"]) == len(chart["p95_ms"]) == -(-len(chart["requests"]) // per_point) <= 60
    total = sum(sum(c["requests"]) for c in charts if c["key"].startswith("vhost:"))
    assert total == written.valid


def png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and RGB(A) rows of an 8-bit PNG (no dependency: zlib and the five filters)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, header = 8, b"", b""
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and color in (2, 6)
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    out = bytearray()
    previous = bytearray(stride)
    for row in range(height):
        kind, line = raw[row * (stride + 1)], bytearray(raw[row * (stride + 1) + 1:(row + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        out += line
        previous = line
    return width, channels, bytes(out)


def test_screenshot_shows_the_charts(rendered: tuple) -> None:
    _, _, _, tmp = rendered
    shot = tmp / "report.png"
    result = chromium(tmp / "report.html", tmp / "profile-shot", f"--screenshot={shot}", "--window-size=1280,2000")
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.stat().st_size > 20_000
    width, channels, pixels = png_pixels(shot)
    assert width == 1280
    colours = {pixels[i:i + 3] for i in range(0, len(pixels), channels)}
    assert bytes(REQUESTS_RGB) in colours and bytes(ERRORS_RGB) in colours  # both series were painted
    assert len(colours) > 50  # text, axes, bars: not a blank page


# --- layout at 1400 px, with names longer than any column ----------------------------------------

# Written into a copy of the page: the layout as the browser computed it, into the DOM --dump-dom gives.
MEASURE = """<script>(function () {
  var root = document.documentElement, overflow = 0, cells = [];
  document.querySelectorAll("section").forEach(function (s) { overflow = Math.max(overflow, s.scrollWidth - s.clientWidth); });
  document.querySelectorAll("td.name").forEach(function (c) {
    var head = c.querySelector(".head"), tail = c.querySelector(".tail");
    cells.push({title: c.title, table: c.closest("table").className, height: c.getBoundingClientRect().height,
                clipped: head.scrollWidth > head.clientWidth, tail: tail.scrollWidth <= tail.clientWidth,
                right: c.getBoundingClientRect().right, tailRight: tail.getBoundingClientRect().right});
  });
  var numbers = Array.prototype.map.call(document.querySelectorAll("td:not(.name)"), function (c) {
    return c.scrollWidth <= c.clientWidth; });
  document.body.setAttribute("data-measure", JSON.stringify({scroll: root.scrollWidth, client: root.clientWidth,
    overflow: overflow, cells: cells, numbersWhole: numbers.every(Boolean),
    svgs: Array.prototype.map.call(document.querySelectorAll("figure[data-chart]"), function (f) {
      return {key: f.getAttribute("data-key"), rects5xx: f.querySelectorAll("rect[data-series='5xx']").length,
              latency: f.querySelectorAll("svg.latency path").length}; })}));
})();</script>"""


class Measure(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.value: dict = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body" and dict(attrs).get("data-measure"):
            self.value = json.loads(dict(attrs)["data-measure"] or "{}")


@pytest.fixture(scope="module")
def long_names(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("wide")
    log = write_long_names_log(tmp / "access.log")
    page = tmp / "report.html"
    result = CliRunner().invoke(report, [str(log), "--log-format", VHOST_COMBINED_D, "--html", str(page), "--top", "10"])
    assert result.exit_code == 0, result.stderr
    measured = tmp / "measured.html"
    measured.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    dom = chromium(measured, tmp / "profile", "--window-size=1400,1000", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = Measure()
    parser.feed(dom.stdout)
    assert parser.value, "the measuring script did not run"
    shot = tmp / "report.png"
    chromium(page, tmp / "profile-shot", f"--screenshot={shot}", "--window-size=1400,2400")
    return parser.value


def test_1400px_window_needs_no_sideways_scrolling(long_names: dict) -> None:
    assert long_names["scroll"] <= 1400 and long_names["scroll"] <= long_names["client"]
    assert long_names["overflow"] == 0  # no table scrolls inside its section either
    assert long_names["numbersWhole"]  # numbers are never cut


def test_long_names_lose_their_middle_and_never_wrap(long_names: dict) -> None:
    cells = long_names["cells"]
    heights = [c["height"] for c in cells]
    assert cells and max(heights) - min(heights) < 0.5  # every name on one line
    # In the 15-column tables they cannot fit at 1400 px (in the bursts table they may).
    long_cells = [c for c in cells if c["title"] in (LONG_VHOST, f"GET {LONG_PATH}") and c["table"] == "endpoints"]
    assert long_cells and all(c["clipped"] and c["tail"] for c in long_cells)  # "check…example.com"
    assert all(c["tailRight"] <= c["right"] + 0.5 for c in cells)  # the end of each name is inside its cell
    assert not any(c["clipped"] for c in cells if c["title"] in ("www.example.com", "GET /index.html"))


def test_no_5xx_panel_without_5xx_and_a_latency_panel_per_endpoint(long_names: dict) -> None:
    figures = {f["key"]: f for f in long_names["svgs"]}
    for vhost, path, _, errors in ROWS:
        figure = figures[f"endpoint:{vhost} GET {path}"]
        assert (figure["rects5xx"] > 0) == (errors > 0), figure
        assert figure["latency"] == 2  # p95 and p50, drawn without the page's script

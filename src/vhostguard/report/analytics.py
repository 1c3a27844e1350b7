"""``vhostguard report`` output: the CONTRACT.md JSON, rich tables, and one self-contained HTML page.

Nothing here reads logs or prints: an :class:`Analysis` goes in, a JSON
document, rich renderables or HTML text come out.

The HTML page needs no network when viewed (a Content-Security-Policy of
``default-src 'none'`` makes sure of it): tables are written here, the
charts are drawn as inline SVG by the page's own script from a JSON data
block. Every drawn bar carries ``data-series``, ``data-index`` and
``data-value``, so a test (or a curious reader) can check the drawing
against the data.
"""
from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from vhostguard.logs import printable
from vhostguard.monitor.aggregate import Analysis, EndpointSummary, utc_iso

SCHEMA = 1
MAX_BARS = 360  # buckets per chart: wider than that, bars get thinner than a pixel
NICE_WIDTHS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 48


# --- JSON (CONTRACT.md, report) --------------------------------------------------------

def report_json(analysis: Analysis) -> dict[str, Any]:
    """The ``report --json`` document, keys exactly as CONTRACT.md lists them."""
    return {
        "schema": SCHEMA,
        "lines": analysis.lines,
        "malformed": analysis.malformed,
        "endpoints": [_endpoint_json(e) for e in analysis.endpoints],
        "timeline": [{"minute": utc_iso(p.minute), "vhost": p.vhost, "requests": p.requests, "5xx": p.errors}
                     for p in analysis.timeline],
    }


def _endpoint_json(e: EndpointSummary) -> dict[str, Any]:
    return {
        "vhost": e.vhost, "method": e.method, "endpoint": e.endpoint,
        "requests": e.requests, "share": e.share,
        "status": dict(zip(("1xx", "2xx", "3xx", "4xx", "5xx"), e.status)),
        "error_ratio": e.error_ratio,
        "duration_us_sum": e.duration_us_sum,
        "latency_ms": None if e.latency_ms is None else
        {"p50": e.latency_ms.p50, "p95": e.latency_ms.p95, "p99": e.latency_ms.p99},
        "bytes": e.bytes,
        "first_seen": None if e.first_seen is None else utc_iso(e.first_seen),
        "last_seen": None if e.last_seen is None else utc_iso(e.last_seen),
    }


# --- charts' data ------------------------------------------------------------------------

@dataclass(frozen=True)
class Chart:
    """One chart: dense buckets of ``width`` seconds from ``start``; requests and 5xx per bucket."""

    key: str
    title: str
    start: int
    width: int
    requests: tuple[int, ...]
    errors: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "start": self.start, "width": self.width,
                "requests": list(self.requests), "errors": list(self.errors)}


def time_range(analysis: Analysis) -> tuple[int, int] | None:
    """(first, last) second of the requests with a time, or None."""
    firsts = [e.first_seen for e in analysis.endpoints if e.first_seen is not None]
    lasts = [e.last_seen for e in analysis.endpoints if e.last_seen is not None]
    if not firsts:
        return None
    return int(min(firsts)), int(max(lasts))


def bucket_width(analysis: Analysis, span: tuple[int, int], max_bars: int = MAX_BARS) -> int:
    """The narrowest bucket (a multiple of the series step) that fits the span in ``max_bars``."""
    step = analysis.step
    first, last = span
    candidates = [w for w in NICE_WIDTHS if w % step == 0]
    width = step
    while True:
        for candidate in candidates + [width]:
            if candidate >= step and _buckets(first, last, candidate) <= max_bars:
                return candidate
        width *= 2
        candidates = []


def _buckets(first: int, last: int, width: int) -> int:
    return (last - last % width - (first - first % width)) // width + 1


def charts(analysis: Analysis, top: int) -> list[Chart]:
    """A chart per vhost (busiest first, at most ``top``), then per endpoint: the ``top`` busiest and failing."""
    span = time_range(analysis)
    if span is None:
        return []
    width = bucket_width(analysis, span)
    start = span[0] - span[0] % width
    count = _buckets(span[0], span[1], width)
    out: list[Chart] = []
    per_vhost: dict[str, tuple[list[int], list[int]]] = {}
    for point in analysis.timeline:
        requests, errors = per_vhost.setdefault(point.vhost, ([0] * count, [0] * count))
        index = (point.minute - start) // width
        requests[index] += point.requests
        errors[index] += point.errors
    busiest = sorted(per_vhost, key=lambda name: (-sum(per_vhost[name][0]), name))[:top]
    for name in busiest:
        requests, errors = per_vhost[name]
        out.append(Chart(f"vhost:{name}", f"{name} (all endpoints)", start, width, tuple(requests), tuple(errors)))
    for e in chart_endpoints(analysis, top):
        requests, errors = [0] * count, [0] * count
        for bucket in e.series:
            index = (bucket.start - start) // width
            requests[index] += bucket.requests
            errors[index] += bucket.errors
        out.append(Chart(f"endpoint:{e.vhost} {e.method} {e.endpoint}", f"{e.vhost} {e.method} {e.endpoint}",
                         start, width, tuple(requests), tuple(errors)))
    return out


def chart_endpoints(analysis: Analysis, top: int) -> list[EndpointSummary]:
    """The endpoints charted: the ``top`` busiest, then the ``top`` most failing not already in."""
    chosen = list(analysis.endpoints[:top])
    for e in analysis.top_failing(top):
        if e not in chosen:
            chosen.append(e)
    return chosen


# --- terminal -------------------------------------------------------------------------------

def tables(analysis: Analysis, top: int) -> RenderableType:
    """Everything for the terminal: summary, endpoints, failing endpoints, bursts, timeline, malformed."""
    parts: list[RenderableType] = [_summary(analysis)]
    parts.append(_endpoint_table(f"Top {top} endpoints by requests", analysis.endpoints[:top]))
    failing = analysis.top_failing(top)
    if failing:
        parts.append(_endpoint_table("Top failing endpoints (5xx)", failing))
    if analysis.bursts:
        parts.append(_burst_table(analysis, top))
    timeline = _timeline_table(analysis, top)
    if timeline is not None:
        parts.append(timeline)
    if analysis.samples:
        # Text, not markup: a logged "[/]" must print as itself.
        text = Text.assemble((f"First malformed lines ({analysis.malformed} in all):", "bold"), "\n")
        for bad in analysis.samples:
            text.append(f"  {printable(bad.file)}:{bad.line}: {bad.error}\n")
        parts.append(text)
    return Group(*parts)


def _summary(analysis: Analysis) -> Text:
    share = analysis.malformed / analysis.lines if analysis.lines else 0.0
    text = Text(f"{analysis.lines:,} lines, {analysis.malformed:,} malformed ({share:.2%}), "
                f"{len(analysis.endpoints):,} endpoints")
    span = time_range(analysis)
    if span is not None:
        text.append(f", {utc_iso(span[0])} to {utc_iso(span[1])}")
    return text


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _endpoint_table(title: str, rows: Sequence[EndpointSummary]) -> Table:
    # Logged names go in as Text: rich would read "[bold]" or "[/]" in a path as markup.
    table = Table(title=title, title_justify="left", expand=False)
    for name, justify in (("vhost", "left"), ("method", "left"), ("endpoint", "left"), ("requests", "right"),
                          ("share", "right"), ("2xx", "right"), ("3xx", "right"), ("4xx", "right"),
                          ("5xx", "right"), ("5xx %", "right"), ("p50 ms", "right"), ("p95 ms", "right"),
                          ("p99 ms", "right"), ("bytes", "right")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for e in rows:
        latency = e.latency_ms
        table.add_row(Text(e.vhost), Text(e.method), Text(e.endpoint), f"{e.requests:,}", f"{e.share:.1%}",
                      f"{e.status[1]:,}", f"{e.status[2]:,}", f"{e.status[3]:,}",
                      Text(f"{e.errors:,}", style="bold red" if e.errors else ""), f"{e.error_ratio:.1%}",
                      _ms(latency.p50 if latency else None), _ms(latency.p95 if latency else None),
                      _ms(latency.p99 if latency else None), _size(e.bytes))
    return table


def _burst_table(analysis: Analysis, top: int) -> Table:
    table = Table(title=f"Error bursts ({len(analysis.bursts)})", title_justify="left")
    for name in ("first 5xx (UTC)", "last 5xx (UTC)", "vhost", "method", "endpoint", "5xx", "requests"):
        table.add_column(name, overflow="fold")
    biggest = sorted(analysis.bursts, key=lambda b: -b.errors)[:top]
    for b in sorted(biggest, key=lambda b: b.first):
        table.add_row(utc_iso(b.first), utc_iso(b.last), Text(b.vhost), Text(b.method), Text(b.endpoint),
                      f"{b.errors:,}", f"{b.requests:,}")
    return table


def _timeline_table(analysis: Analysis, top: int) -> Table | None:
    span = time_range(analysis)
    if span is None:
        return None
    width = bucket_width(analysis, span, SPARK_WIDTH)
    table = Table(title=f"Per vhost over time ({_duration(width)} per character)", title_justify="left")
    for name in ("vhost", "requests", "5xx", "peak req/min"):
        table.add_column(name)
    for chart in [c for c in _vhost_charts(analysis, width, span) if c][:top]:
        name, requests, errors, peak = chart
        table.add_row(Text(name), _spark(requests), Text(_spark(errors), style="red"), f"{peak:,}")
    return table


def _vhost_charts(analysis: Analysis, width: int, span: tuple[int, int]) -> list[tuple[str, list[int], list[int], int]]:
    start = span[0] - span[0] % width
    count = _buckets(span[0], span[1], width)
    rows: dict[str, tuple[list[int], list[int]]] = {}
    peaks: dict[str, int] = {}
    for point in analysis.timeline:
        requests, errors = rows.setdefault(point.vhost, ([0] * count, [0] * count))
        index = (point.minute - start) // width
        requests[index] += point.requests
        errors[index] += point.errors
        peaks[point.vhost] = max(peaks.get(point.vhost, 0), point.requests)
    ordered = sorted(rows, key=lambda name: (-sum(rows[name][0]), name))
    return [(name, rows[name][0], rows[name][1], peaks[name]) for name in ordered]


def _spark(values: Iterable[int]) -> str:
    items = list(values)
    high = max(items) if items else 0
    if high == 0:
        return " " * len(items)
    # Zero stays blank, so that "no 5xx" and "a few 5xx" look different.
    return "".join(" " if v == 0 else SPARK[min(len(SPARK) - 1, (v * len(SPARK) - 1) // high)] for v in items)


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{count} B"  # unreachable


def _duration(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


# --- HTML ------------------------------------------------------------------------------------

def report_html(analysis: Analysis, top: int, title: str = "vhostguard report") -> str:
    """One self-contained HTML page: summary, charts of requests and 5xx over time, tables."""
    drawn = charts(analysis, top)
    data = {"charts": [c.to_json() for c in drawn]}
    vhost_charts = [c for c in drawn if c.key.startswith("vhost:")]
    endpoint_charts = [c for c in drawn if c.key.startswith("endpoint:")]
    body = [
        f"<header><h1>{_e(title)}</h1><p class=summary>{_e(str(_summary(analysis)))}</p>{_notes(analysis)}</header>",
        _figures("Requests and 5xx per vhost", "vhosts", vhost_charts, 0),
        _figures("Requests and 5xx per endpoint", "endpoints", endpoint_charts, len(vhost_charts)),
        _endpoints_html(f"Top {top} endpoints by requests", "top", analysis.endpoints[:top]),
        _endpoints_html("Top failing endpoints (5xx)", "failing", analysis.top_failing(top)),
        _bursts_html(analysis),
        _malformed_html(analysis),
    ]
    return _PAGE.format(title=_e(title), style=_STYLE, body="\n".join(body), data=_script_json(data),
                        script=_SCRIPT)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _script_json(data: Any) -> str:
    # Inside <script>, "</script>" or "<!--" in a logged path must not end the block.
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _notes(analysis: Analysis) -> str:
    notes = []
    for vhost, count in sorted(analysis.folded().items()):
        notes.append(f"{count:,} requests of {vhost} are under {{other}}: the endpoint cap was reached")
    if not analysis.caps_exact:
        notes.append("a reader reached its own endpoint cap: which rare endpoints fold into {other} may differ "
                     "from a sequential read (totals are exact)")
    notes.extend(analysis.problems)
    if not notes:
        return ""
    return "<ul class=notes>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>"


def _figures(heading: str, section: str, drawn: Sequence[Chart], first_index: int) -> str:
    if not drawn:
        return ""
    figures = "".join(
        f'<figure class=chart data-chart="{first_index + i}" data-key="{_e(c.key)}">'
        f"<figcaption>{_e(c.title)} <span class=muted>({sum(c.requests):,} requests, "
        f"{sum(c.errors):,} 5xx; {_duration(c.width)} per bar)</span></figcaption></figure>"
        for i, c in enumerate(drawn))
    return f"<section id={section}><h2>{_e(heading)}</h2><div class=charts>{figures}</div></section>"


def _endpoints_html(heading: str, section: str, rows: Sequence[EndpointSummary]) -> str:
    if not rows:
        return ""
    head = ("vhost", "method", "endpoint", "requests", "share", "2xx", "3xx", "4xx", "5xx", "5xx %",
            "p50 ms", "p95 ms", "p99 ms", "bytes", "first seen (UTC)", "last seen (UTC)")
    body = []
    for e in rows:
        latency = e.latency_ms
        cells = (e.vhost, e.method, e.endpoint, f"{e.requests:,}", f"{e.share:.2%}", f"{e.status[1]:,}",
                 f"{e.status[2]:,}", f"{e.status[3]:,}", f"{e.errors:,}", f"{e.error_ratio:.2%}",
                 _ms(latency.p50 if latency else None), _ms(latency.p95 if latency else None),
                 _ms(latency.p99 if latency else None), _size(e.bytes),
                 utc_iso(e.first_seen) if e.first_seen is not None else "-",
                 utc_iso(e.last_seen) if e.last_seen is not None else "-")
        body.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    return (f"<section id={section}><h2>{_e(heading)}</h2><table><thead><tr>"
            + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>" + "".join(body)
            + "</tbody></table></section>")


def _bursts_html(analysis: Analysis) -> str:
    if not analysis.bursts:
        return ""
    rows = "".join(
        "<tr>" + "".join(f"<td>{_e(c)}</td>" for c in (utc_iso(b.first), utc_iso(b.last), b.vhost, b.method,
                                                        b.endpoint, f"{b.errors:,}", f"{b.requests:,}")) + "</tr>"
        for b in analysis.bursts)
    head = "".join(f"<th>{h}</th>" for h in ("first 5xx (UTC)", "last 5xx (UTC)", "vhost", "method", "endpoint",
                                              "5xx", "requests"))
    return f"<section id=bursts><h2>Error bursts</h2><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></section>"


def _malformed_html(analysis: Analysis) -> str:
    if not analysis.samples:
        return ""
    items = "".join(f"<li><code>{_e(f'{printable(b.file)}:{b.line}')}</code>: {_e(b.error)}</li>"
                    for b in analysis.samples)
    return (f"<section id=malformed><h2>Malformed lines ({analysis.malformed:,})</h2>"
            f"<p>The first ones:</p><ul>{items}</ul></section>")


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
{body}
<script type="application/json" id="vg-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""

_STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#1d232a;background:#fff}
h1{font-size:1.5em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.6em 0 .6em;border-bottom:1px solid #dde}
.summary{color:#444}.muted{color:#777;font-weight:normal}.notes{color:#8a5a00}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:12px}
figure.chart{margin:0;padding:.4em .6em;border:1px solid #e3e6ea;border-radius:6px}
figcaption{font-weight:600;margin-bottom:.3em;word-break:break-all}
svg{display:block;width:100%;height:auto}
svg .req{fill:#4f7cac}svg .err{fill:#d1343a}svg .axis{stroke:#99a;stroke-width:1}
svg text{font-size:11px;fill:#555}
table{border-collapse:collapse;font-size:12.5px;width:100%}
th,td{padding:3px 7px;border-bottom:1px solid #eef;text-align:right;white-space:nowrap}
th:nth-child(-n+3),td:nth-child(-n+3){text-align:left}td:nth-child(3){white-space:normal;word-break:break-all;min-width:18em}
thead th{background:#f4f6f8;position:sticky;top:0}
section{overflow-x:auto}
"""

# Draws every chart from the JSON block: one <rect> per bucket and series,
# zero-height when the value is 0, so drawn bars == data points.
_SCRIPT = r"""
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("vg-data").textContent);
  // Two panels sharing the time axis, each with its own scale: 5xx are
  // usually a small fraction of the requests and would vanish on one scale.
  var W = 640, L = 58, R = 8, PANELS = [["requests", "req", 8, 92], ["5xx", "err", 108, 44]], H = 176;
  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    for (var k in attrs) { node.setAttribute(k, attrs[k]); }
    if (parent) { parent.appendChild(node); }
    return node;
  }
  function label(svg, x, y, anchor, text) {
    var node = el("text", {x: x, y: y, "text-anchor": anchor}, svg);
    node.textContent = text;
  }
  function stamp(seconds) {
    return new Date(seconds * 1000).toISOString().replace(":00.000Z", "").replace("T", " ");
  }
  function draw(chart, figure) {
    var n = chart.requests.length, plotW = W - L - R, step = plotW / n, barW = Math.max(step * 0.85, 0.4);
    var svg = el("svg", {viewBox: "0 0 " + W + " " + H, role: "img", "data-points": n}, null);
    var values = {"requests": chart.requests, "5xx": chart.errors};
    PANELS.forEach(function (panel) {
      var name = panel[0], css = panel[1], top = panel[2], height = panel[3], series = values[name];
      var high = Math.max.apply(null, series.concat([1]));
      el("line", {"class": "axis", x1: L, y1: top + height, x2: W - R, y2: top + height}, svg);
      label(svg, L - 4, top + 9, "end", String(high));
      label(svg, L - 4, top + height, "end", "0");
      label(svg, 2, top + height / 2 + 4, "start", name);
      for (var i = 0; i < n; i++) {
        var h = series[i] / high * height;
        var bar = el("rect", {"class": css, x: (L + i * step).toFixed(2), y: (top + height - h).toFixed(2),
                              width: barW.toFixed(2), height: h.toFixed(2), "data-series": name,
                              "data-index": i, "data-value": series[i]}, svg);
        el("title", {}, bar).textContent = stamp(chart.start + i * chart.width) + " UTC: " + series[i] + " " + name;
      }
    });
    label(svg, L, H - 4, "start", stamp(chart.start));
    label(svg, W - R, H - 4, "end", stamp(chart.start + chart.width * n) + " UTC");
    figure.appendChild(svg);
  }
  var figures = document.querySelectorAll("figure[data-chart]");
  for (var f = 0; f < figures.length; f++) {
    var chart = data.charts[Number(figures[f].getAttribute("data-chart"))];
    if (chart) { draw(chart, figures[f]); figures[f].setAttribute("data-drawn", "true"); }
  }
  document.body.setAttribute("data-charts-drawn", String(figures.length));
})();
"""

"""``vhostguard report`` output: the docs/contract.md JSON, rich tables, and one self-contained HTML page.

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
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType
from rich.table import Table
from rich.text import Text

from vhostguard.logs import printable
from vhostguard.report.words import plural
from vhostguard.analytics import Analysis, EndpointSummary, HostChange, HostView, histogram_quantile, utc_iso

MAX_BARS = 360  # buckets per chart: wider than that, bars get thinner than a pixel
NICE_WIDTHS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 48
LATENCY_POINTS = 60  # points per latency line at most


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
    # Endpoint charts: latency per point of ``latency_width`` seconds (a whole number of buckets, fewer
    # points than bars: a percentile of a bar's one or two requests would only draw noise).
    latency_width: int = 0
    p50_ms: tuple[float | None, ...] = ()  # None: no duration logged in that point's time
    p95_ms: tuple[float | None, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "start": self.start, "width": self.width,
                "requests": list(self.requests), "errors": list(self.errors),
                "latency_width": self.latency_width, "p50_ms": list(self.p50_ms), "p95_ms": list(self.p95_ms)}


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
    per_point = -(-count // LATENCY_POINTS)  # buckets per latency point
    for e in chart_endpoints(analysis, top):
        requests, errors = [0] * count, [0] * count
        durations: list[Counter[int]] = [Counter() for _ in range(-(-count // per_point))]
        for bucket in e.series:
            index = (bucket.start - start) // width
            requests[index] += bucket.requests
            errors[index] += bucket.errors
            durations[index // per_point].update(dict(bucket.durations))
        p50, p95 = ([_ms_of(histogram_quantile(h, q)) for h in durations] for q in (0.5, 0.95))
        out.append(Chart(f"endpoint:{e.vhost} {e.method} {e.endpoint}", f"{e.vhost} {e.method} {e.endpoint}",
                         start, width, tuple(requests), tuple(errors), width * per_point, tuple(p50), tuple(p95)))
    return out


def _ms_of(microseconds: float | None) -> float | None:
    return None if microseconds is None else round(microseconds / 1000.0, 3)


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
    parts.append(_moved_table(analysis.hosts, top))
    if analysis.samples:
        # Text, not markup: a logged "[/]" must print as itself.
        text = Text.assemble((f"First malformed lines ({analysis.malformed} in all):", "bold"), "\n")
        for bad in analysis.samples:
            text.append(f"  {printable(bad.file)}:{bad.line}: {bad.error}\n")
        parts.append(text)
    return Group(*parts)


def _summary(analysis: Analysis) -> Text:
    share = analysis.malformed / analysis.lines if analysis.lines else 0.0
    text = Text(f"{plural(analysis.lines, 'line')}, {analysis.malformed:,} malformed ({share:.2%}), "
                f"{plural(len(analysis.endpoints), 'endpoint')}")
    span = time_range(analysis)
    if span is not None:
        text.append(f", {utc_iso(span[0])} to {utc_iso(span[1])}")
    return text


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


@dataclass(frozen=True)
class _Column:
    """A column of a terminal table: what it is called and how readily it gives way to a narrow terminal."""

    name: str
    priority: int  # 0: always shown; when space runs out, the highest numbers go first
    left: bool = False  # names left-aligned, numbers right-aligned
    shrink_to: int = 0  # a name: may be shortened (in the middle, with …) down to this many cells
    comfortable: int = 0  # a name: columns of lower priority give way before it is shortened below this


def _table_overhead(columns: int) -> int:
    """Cells a rich Table with the default box spends besides its cells: padding 1+1 and a rule per column, one more."""
    return 3 * columns + 1


class _FittedTable:
    """A table laid out when printed, for the console's width: columns dropped by priority, long names
    shortened in the middle, so that no cell ever wraps (a vhost or endpoint cut over two lines reads
    as two rows)."""

    def __init__(self, title: str, columns: Sequence[_Column], rows: Sequence[Sequence[Text]]) -> None:
        self.title = title
        self.columns = list(columns)
        self.rows = [list(row) for row in rows]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Table]:
        yield self.fit(options.max_width)

    def fit(self, width: int) -> Table:
        shown, widths = _layout(self.columns, self.rows, width)
        table = Table(title=self.title, title_justify="left", expand=False)
        for index in shown:
            column = self.columns[index]
            table.add_column(column.name, justify="left" if column.left else "right", no_wrap=True,
                             min_width=widths[index], max_width=widths[index], overflow="ellipsis")
        for row in self.rows:
            table.add_row(*(_elide_middle(row[i], widths[i]) if self.columns[i].shrink_to else row[i] for i in shown))
        return table


def _layout(columns: Sequence[_Column], rows: Sequence[Sequence[Text]], width: int) -> tuple[list[int], list[int]]:
    """Which columns are shown (indexes, in order) and each column's width in cells."""
    natural = [max([len(c.name), *(row[i].cell_len for row in rows)]) for i, c in enumerate(columns)]
    least = [min(natural[i], max(c.shrink_to, len(c.name))) if c.shrink_to else natural[i]
             for i, c in enumerate(columns)]
    comfortable = [min(natural[i], max(c.comfortable, least[i])) for i, c in enumerate(columns)]
    shown = list(range(len(columns)))

    def needed(indexes: list[int], sizes: list[int]) -> int:
        return _table_overhead(len(indexes)) + sum(sizes[i] for i in indexes)

    # Optional columns go (least wanted first) until the names have room to be read; only then are
    # the names themselves shortened further.
    optional = sorted((i for i, c in enumerate(columns) if c.priority), key=lambda i: (-columns[i].priority, -i))
    for index in optional:
        if needed(shown, comfortable) <= width:
            break
        shown.remove(index)
    widths = list(least)
    names = [i for i in shown if columns[i].shrink_to]
    spare = width - needed(shown, widths)
    if spare < 0:  # narrower than even the key columns at their least: names give up more, to 5 cells
        for i in names:
            give = min(widths[i] - min(5, widths[i]), -spare)
            widths[i] -= give
            spare += give
    # What is left goes to the names, a cell at a time to the one missing most (water filling).
    while spare > 0:
        wanting = [i for i in names if widths[i] < natural[i]]
        if not wanting:
            break
        neediest = max(wanting, key=lambda i: (natural[i] - widths[i], -i))
        widths[neediest] += 1
        spare -= 1
    return shown, widths


def _elide_middle(text: Text, width: int) -> Text:
    """``text`` in ``width`` cells at most, its middle replaced by … (both ends of a name say the most)."""
    if text.cell_len <= width:
        return text
    if width <= 1:
        return Text("…", style=text.style)
    plain = text.plain
    head_cells = (width - 1 + 1) // 2
    tail_cells = width - 1 - head_cells
    head = _take_cells(plain, head_cells)
    tail = _take_cells(plain[::-1], tail_cells)[::-1]
    return Text(head + "…" + tail, style=text.style)


def _take_cells(text: str, cells: int) -> str:
    """The longest prefix of ``text`` that fits ``cells`` terminal cells (wide characters count two)."""
    used = 0
    for index, char in enumerate(text):
        used += cell_len(char)
        if used > cells:
            return text[:index]
    return text


_ENDPOINT_COLUMNS = (
    _Column("vhost", 0, left=True, shrink_to=12, comfortable=18),
    _Column("endpoint", 0, left=True, shrink_to=16, comfortable=24),
    _Column("requests", 0), _Column("share", 4), _Column("2xx", 7), _Column("3xx", 8), _Column("4xx", 6),
    _Column("5xx", 2), _Column("5xx %", 0), _Column("p50 ms", 3), _Column("p95 ms", 1), _Column("p99 ms", 5),
    _Column("bytes", 9),
)


def _endpoint_table(title: str, rows: Sequence[EndpointSummary]) -> _FittedTable:
    # Logged names go in as Text: rich would read "[bold]" or "[/]" in a path as markup.
    # Method and endpoint share a column ("GET /v1/x", as a request line reads): one rule less, and
    # shortened in the middle it keeps both the method and the end of the path.
    body = []
    for e in rows:
        latency = e.latency_ms
        body.append([
            Text(e.vhost), Text(f"{e.method} {e.endpoint}"), Text(f"{e.requests:,}"), Text(f"{e.share:.1%}"),
            Text(f"{e.status[1]:,}"), Text(f"{e.status[2]:,}"), Text(f"{e.status[3]:,}"),
            Text(f"{e.errors:,}", style="bold red" if e.errors else ""), Text(f"{e.error_ratio:.1%}"),
            Text(_ms(latency.p50 if latency else None)), Text(_ms(latency.p95 if latency else None)),
            Text(_ms(latency.p99 if latency else None)), Text(_size(e.bytes)),
        ])
    return _FittedTable(title, _ENDPOINT_COLUMNS, body)


_BURST_COLUMNS = (
    _Column("first 5xx (UTC)", 0, left=True), _Column("last 5xx (UTC)", 2, left=True),
    _Column("vhost", 0, left=True, shrink_to=12, comfortable=18),
    _Column("endpoint", 0, left=True, shrink_to=16, comfortable=24),
    _Column("5xx", 0), _Column("requests", 1),
)


def _burst_table(analysis: Analysis, top: int) -> _FittedTable:
    biggest = sorted(analysis.bursts, key=lambda b: -b.errors)[:top]
    body = [[Text(_utc_short(b.first)), Text(_utc_short(b.last)), Text(b.vhost), Text(f"{b.method} {b.endpoint}"),
             Text(f"{b.errors:,}"), Text(f"{b.requests:,}")] for b in sorted(biggest, key=lambda b: b.first)]
    return _FittedTable(f"Error bursts ({len(analysis.bursts)})", _BURST_COLUMNS, body)


def _utc_short(seconds: float) -> str:
    """``2026-12-04 01:00:00``: the column header says UTC, the ISO offset would only take room."""
    return utc_iso(seconds).replace("T", " ").removesuffix("+00:00").removesuffix("Z")


_MOVED_COLUMNS = (
    _Column("minute (UTC)", 0, left=True), _Column("host", 0, left=True, shrink_to=12, comfortable=18),
    _Column("from vhost", 0, left=True, shrink_to=12, comfortable=18),
    _Column("to vhost", 0, left=True, shrink_to=12, comfortable=18),
    _Column("served", 1), _Column("requests", 2), _Column("host's vhosts", 3, left=True, shrink_to=12),
)


def _moved_table(view: HostView, top: int) -> RenderableType:
    """The moved table: each change of a Host's majority vhost (the ``top`` first); one line when the
    view is unavailable or nothing moved."""
    if not view.available:
        return Text(f"Host moves: unavailable: {view.reason}")
    if not view.moves:
        hosts = len({m.host for m in view.mappings})
        return Text(f"Host moves: none ({plural(hosts, 'Host')} each kept its vhost)")
    served: dict[str, list[str]] = {}
    for m in view.mappings:
        served.setdefault(m.host, []).append(f"{m.vhost} {m.requests:,}")
    body = [[Text(_utc_short(c.minute)[:16]), Text(c.host), Text(c.old), Text(c.new), Text(f"{c.served:,}"),
             Text(f"{c.requests:,}"), Text(", ".join(served.get(c.host, [])))] for c in view.moves[:top]]
    more = f", the first {top} shown" if len(view.moves) > top else ""
    title = (f"Host moves ({len(view.moves)}{more}): the vhost serving most of a Host's requests in a minute changed "
             f"(minutes with fewer than {view.min_requests} of its requests ignored)")
    return _FittedTable(title, _MOVED_COLUMNS, body)


_PEAK = "peak req/min"
_TIMELINE_NAME = 16  # cells the vhost names keep at least before the sparklines shrink


class _TimelineTable:
    """Sparklines per vhost, as many characters as the console has room for (up to ``SPARK_WIDTH``)."""

    def __init__(self, analysis: Analysis, top: int, span: tuple[int, int]) -> None:
        self.analysis = analysis
        self.top = top
        self.span = span

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Table]:
        yield self.fit(options.max_width)

    def fit(self, width: int) -> Table:
        names = [name for name, *_ in _vhost_charts(self.analysis, bucket_width(self.analysis, self.span, SPARK_WIDTH),
                                                     self.span)][: self.top]
        longest = max((cell_len(n) for n in names), default=5)
        room = width - _table_overhead(4) - min(longest, _TIMELINE_NAME) - len(_PEAK)
        chars = max(4, min(SPARK_WIDTH, room // 2))
        bucket = bucket_width(self.analysis, self.span, chars)
        columns = (_Column("vhost", 0, left=True, shrink_to=_TIMELINE_NAME), _Column("requests", 0, left=True),
                   _Column("5xx", 0, left=True), _Column(_PEAK, 0))
        rows = [[Text(name), Text(_spark(requests)), Text(_spark(errors), style="red"), Text(f"{peak:,}")]
                for name, requests, errors, peak in _vhost_charts(self.analysis, bucket, self.span)[: self.top]]
        title = f"Per vhost over time ({_duration(bucket)} per character)"
        return _FittedTable(title, columns, rows).fit(width)


def _timeline_table(analysis: Analysis, top: int) -> _TimelineTable | None:
    span = time_range(analysis)
    if span is None:
        return None
    return _TimelineTable(analysis, top, span)


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
    span = time_range(analysis)
    # Within one UTC day (the summary says which), first and last seen need only the time of day.
    clock = span is not None and span[0] // 86400 == span[1] // 86400
    data = {"charts": [c.to_json() for c in drawn]}
    vhost_charts = [c for c in drawn if c.key.startswith("vhost:")]
    endpoint_charts = [c for c in drawn if c.key.startswith("endpoint:")]
    body = [
        f"<header><h1>{_e(title)}</h1><p class=summary>{_e(str(_summary(analysis)))}</p>{_notes(analysis)}</header>",
        _figures("Requests and 5xx per vhost", "vhosts", vhost_charts, 0, _marks(analysis.hosts)),
        _moved_html(analysis.hosts, clock),
        _figures("Requests and 5xx per endpoint", "endpoints", endpoint_charts, len(vhost_charts)),
        _endpoints_html(f"Top {top} endpoints by requests", "top", analysis.endpoints[:top], clock),
        _endpoints_html("Top failing endpoints (5xx)", "failing", analysis.top_failing(top), clock),
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


# Longest captions shown whole; a longer one loses its middle (the full title shows on hover).
_HTML_CAPTION = 84
_NAME_TAIL = 18  # characters of a name's end that stay visible however narrow its column


def _elided(text: str, limit: int) -> str:
    """``text`` with its middle replaced by … when longer than ``limit`` characters."""
    if len(text) <= limit:
        return text
    head = (limit - 1 + 1) // 2
    tail = limit - 1 - head
    return text[:head] + "…" + (text[-tail:] if tail else "")


def _name_cell(text: str) -> str:
    """A vhost or endpoint that never wraps and, when its column is too narrow, loses its middle.

    CSS cannot put an ellipsis in the middle of one text, so the name is two spans in a flex row: the
    head shrinks (ending in …) while the tail keeps its last characters (a path's end, a domain).
    Selecting the cell still copies the whole name; the title shows it on hover.
    """
    tail = min(_NAME_TAIL, len(text) // 2)
    head, end = text[: len(text) - tail], text[len(text) - tail:]
    return (f'<td class=name title="{_e(text)}"><div class=clip><span class=head>{_e(head)}</span>'
            f"<span class=tail>{_e(end)}</span></div></td>")


def _numeric_cols(head: Sequence[str], rows: Sequence[Sequence[str]], names: int) -> str:
    """A colgroup: names share what is left; every other column as wide as its longest text (in ch)."""
    cols = ["<col class=vhost>", "<col class=endpoint>"][:names]
    for index, title in enumerate(head[names:], start=names):
        longest = max([len(title), *(len(row[index]) for row in rows)])
        cols.append(f'<col style="width:{longest + 2}ch">')
    return "<colgroup>" + "".join(cols) + "</colgroup>"


def _marks(view: HostView) -> dict[str, list[HostChange]]:
    """vhost -> the Host moves to or from it (marked on its chart)."""
    out: dict[str, list[HostChange]] = {}
    for change in view.moves:
        out.setdefault(change.old, []).append(change)
        if change.new != change.old:
            out.setdefault(change.new, []).append(change)
    return out


def _figures(heading: str, section: str, drawn: Sequence[Chart], first_index: int,
             marks: dict[str, list[HostChange]] | None = None) -> str:
    if not drawn:
        return ""
    figures = []
    for i, c in enumerate(drawn):
        caption = _elided(c.title, _HTML_CAPTION)
        title = f' title="{_e(c.title)}"' if caption != c.title else ""
        errors = sum(c.errors)
        figures.append(
            f'<figure class=chart data-chart="{first_index + i}" data-key="{_e(c.key)}">'
            f"<figcaption{title}>{_e(caption)} <span class=muted>({sum(c.requests):,} requests, "
            f"{f'{errors:,} 5xx' if errors else 'no 5xx'}; {_duration(c.width)} per bar)</span></figcaption>"
            f"{_latency_svg(c)}{_moves_svg(c, (marks or {}).get(c.key.removeprefix('vhost:'), []))}</figure>")
    return f"<section id={section}><h2>{_e(heading)}</h2><div class=charts>{''.join(figures)}</div></section>"


# The latency panel is drawn here, not by the page's script: it needs no script to show. Same
# horizontal geometry as the script's panels (viewBox width, left and right margins), so that a
# bucket sits at the same x in both and the panels read as one chart.
_SVG_W, _SVG_L, _SVG_R = 640, 58, 8
_LAT_TOP, _LAT_H = 14, 60
_LAT_SERIES = (("p95", "p95_ms", "lat95"), ("p50", "p50_ms", "lat50"))


def _latency_svg(chart: Chart) -> str:
    """p50 and p95 per bucket as two lines (broken where a bucket logged no duration); "" without durations."""
    values = [v for v in (*chart.p50_ms, *chart.p95_ms) if v is not None]
    if not values:
        return ""
    count = len(chart.requests)
    per_point = chart.latency_width // chart.width
    high = _nice_ceiling(max(values))
    step = (_SVG_W - _SVG_L - _SVG_R) / count  # one bar
    base = _LAT_TOP + _LAT_H
    parts = [f'<svg class=latency viewBox="0 0 {_SVG_W} {base + 6}" role=img '
             f'aria-label="p50 and p95 latency over time, in ms">',
             f'<line class=axis x1={_SVG_L} y1={base} x2={_SVG_W - _SVG_R} y2={base} />',
             f'<text x={_SVG_L - 4} y={_LAT_TOP + 4} text-anchor=end>{_e(_ms_label(high))} ms</text>',
             f'<text x={_SVG_L - 4} y={base} text-anchor=end>0</text>']
    for row, (name, field_name, css) in enumerate(_LAT_SERIES):
        series: tuple[float | None, ...] = getattr(chart, field_name)
        path = []
        previous = False
        for index, value in enumerate(series):
            if value is None:
                previous = False
                continue
            first = index * per_point  # the point stands in the middle of its bars (the last may have fewer)
            x = _SVG_L + (first + min(per_point, count - first) / 2) * step
            y = base - value / high * _LAT_H
            # "M x y h0" alone is a dot (round caps): a bucket between two empty ones still shows.
            path.append(f"{'L' if previous else 'M'}{x:.2f} {y:.2f}" + ("" if previous else " h0"))
            previous = True
        data = ",".join("" if v is None else f"{v:g}" for v in series)
        parts.append(f'<path class={css} d="{" ".join(path)}" data-series="{name}" data-values="{data}" />')
        parts.append(f'<text class={css}-label x=2 y={_LAT_TOP + 14 + row * 16}>{name}</text>')
    parts.append("</svg>")
    return "".join(parts)


_MOVES_H = 22


def _moves_svg(chart: Chart, changes: Sequence[HostChange]) -> str:
    """A strip under a vhost's bars (same horizontal geometry) with a mark at each minute where a Host
    moved to or from it; "" when none did. Drawn here: no script needed, every value escaped."""
    if not changes:
        return ""
    count = len(chart.requests)
    step = (_SVG_W - _SVG_L - _SVG_R) / count
    parts = [f'<svg class=moves viewBox="0 0 {_SVG_W} {_MOVES_H}" role=img aria-label="Hosts moved to or from this vhost">',
             f'<text x={_SVG_L - 4} y=15 text-anchor=end>moves</text>']
    for change in changes:
        index = (change.minute - chart.start) // chart.width
        x = _SVG_L + (index + 0.5) * step
        arrived = chart.key == f"vhost:{change.new}"
        what = f"{_utc_short(change.minute)[:16]} UTC: {change.host} moved from {change.old} to {change.new}"
        parts.append(f'<line class="move {"in" if arrived else "out"}" x1={x:.2f} y1=2 x2={x:.2f} y2={_MOVES_H - 2} '
                     f'data-host="{_e(change.host)}" data-from="{_e(change.old)}" data-to="{_e(change.new)}" '
                     f'data-minute="{_e(utc_iso(change.minute))}" data-index={index}><title>{_e(what)}</title></line>')
    parts.append("</svg>")
    return "".join(parts)


def _moved_html(view: HostView, clock: bool) -> str:
    """The moved table (each change of a Host's majority vhost) and the vhosts that served each Host."""
    if not view.available:
        return f"<section id=moved><h2>Host moves</h2><p class=muted>Unavailable: {_e(view.reason)}</p></section>"
    seen = _utc_clock if clock else _utc_minute
    if view.moves:
        rows = "".join(f"<tr><td>{_e(seen(c.minute))}</td>{_name_cell(c.host)}{_name_cell(c.old)}{_name_cell(c.new)}"
                       f"<td>{c.served:,}</td><td>{c.requests:,}</td></tr>" for c in view.moves)
        moves = ("<table class=moved><thead><tr><th>minute</th><th>host</th><th>from vhost</th><th>to vhost</th>"
                 f"<th>served</th><th>requests</th></tr></thead><tbody>{rows}</tbody></table>")
    else:
        moves = "<p>No Host moved.</p>"
    moved = set(view.hosts())
    mappings = "".join(f"<tr>{_name_cell(m.host)}{_name_cell(m.vhost)}<td>{m.requests:,}</td>"
                       f"<td>{'-' if m.first_minute is None else _e(seen(m.first_minute))}</td>"
                       f"<td>{'-' if m.last_minute is None else _e(seen(m.last_minute))}</td></tr>"
                       for m in view.mappings if m.host in moved)
    served = ("<table class=served><thead><tr><th>host</th><th>vhost</th><th>requests</th><th>first seen</th>"
              f"<th>last seen</th></tr></thead><tbody>{mappings}</tbody></table>") if mappings else ""
    return (f"<section id=moved><h2>Host moves</h2>{moves}{served}<p class=muted>A Host moved when the vhost serving "
            f"most of its requests in a minute changed (minutes with fewer than {view.min_requests} of its requests "
            "ignored); times UTC.</p></section>")


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (an axis maximum that reads well)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if factor * power >= value:
            return float(factor * power)
    return float(10 * power)  # unreachable


def _ms_label(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:g}"


_ENDPOINT_HEAD = ("vhost", "endpoint", "requests", "share", "2xx", "3xx", "4xx", "5xx", "5xx %", "p50 ms",
                  "p95 ms", "p99 ms", "bytes", "first seen", "last seen")


def _utc_minute(seconds: float) -> str:
    """``12-04 01:00``: a table's first/last seen, to the minute (the summary above gives the year)."""
    return _utc_short(seconds)[5:16]


def _utc_clock(seconds: float) -> str:
    return _utc_short(seconds)[11:16]


def _endpoints_html(heading: str, section: str, rows: Sequence[EndpointSummary], clock: bool) -> str:
    if not rows:
        return ""
    seen = _utc_clock if clock else _utc_minute
    table: list[tuple[str, ...]] = []
    for e in rows:
        latency = e.latency_ms
        table.append((e.vhost, f"{e.method} {e.endpoint}", f"{e.requests:,}", f"{e.share:.2%}", f"{e.status[1]:,}",
                      f"{e.status[2]:,}", f"{e.status[3]:,}", f"{e.errors:,}", f"{e.error_ratio:.2%}",
                      _ms(latency.p50 if latency else None), _ms(latency.p95 if latency else None),
                      _ms(latency.p99 if latency else None), _size(e.bytes),
                      seen(e.first_seen) if e.first_seen is not None else "-",
                      seen(e.last_seen) if e.last_seen is not None else "-"))
    body = "".join("<tr>" + _name_cell(row[0]) + _name_cell(row[1]) + "".join(f"<td>{_e(c)}</td>" for c in row[2:])
                   + "</tr>" for row in table)
    head = "".join(f"<th>{_e(h)}</th>" for h in _ENDPOINT_HEAD)
    return (f"<section id={section}><h2>{_e(heading)}</h2><table class=endpoints>"
            f"{_numeric_cols(_ENDPOINT_HEAD, table, 2)}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            "<p class=muted>first and last seen: UTC</p></section>")


_BURST_HEAD = ("vhost", "endpoint", "first 5xx (UTC)", "last 5xx (UTC)", "5xx", "requests")


def _bursts_html(analysis: Analysis) -> str:
    if not analysis.bursts:
        return ""
    table = [(b.vhost, f"{b.method} {b.endpoint}", _utc_short(b.first), _utc_short(b.last), f"{b.errors:,}",
              f"{b.requests:,}") for b in analysis.bursts]
    body = "".join("<tr>" + _name_cell(row[0]) + _name_cell(row[1]) + "".join(f"<td>{_e(c)}</td>" for c in row[2:])
                   + "</tr>" for row in table)
    head = "".join(f"<th>{_e(h)}</th>" for h in _BURST_HEAD)
    return (f"<section id=bursts><h2>Error bursts</h2><table class=bursts>{_numeric_cols(_BURST_HEAD, table, 2)}"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>")


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
figure.chart{margin:0;padding:.4em .6em;border:1px solid #e3e6ea;border-radius:6px;min-width:0}
figcaption{font-weight:600;margin-bottom:.3em;overflow-wrap:anywhere}
svg{display:block;width:100%;height:auto}
svg .req{fill:#4f7cac}svg .err{fill:#d1343a}svg .axis{stroke:#99a;stroke-width:1}
svg text{font-size:11px;fill:#555}
svg.latency{margin-top:4px}
svg .move{stroke-width:3}svg .move.in{stroke:#7a3fb0}svg .move.out{stroke:#b0803f}
svg .lat50,svg .lat95{fill:none;stroke-linecap:round;stroke-linejoin:round}
svg .lat95{stroke-width:3.2}svg .lat50{stroke-width:1.8}
svg .lat50{stroke:#2b5d8a}svg .lat95{stroke:#e08a00}
svg .lat50-label{fill:#2b5d8a;font-weight:600}svg .lat95-label{fill:#b86e00;font-weight:600}
table{border-collapse:collapse;font-size:12.5px;width:100%;table-layout:fixed}
th,td{padding:3px 6px;border-bottom:1px solid #eef;text-align:right;white-space:nowrap;overflow:hidden;
text-overflow:ellipsis}
th:nth-child(-n+2),td.name{text-align:left}td{font-variant-numeric:tabular-nums}
col.vhost{width:40%}col.endpoint{width:60%}
.clip{display:flex;min-width:0}.clip span{white-space:pre;overflow:hidden}
.clip .head{flex:0 1 auto;text-overflow:ellipsis;min-width:1ch}.clip .tail{flex:0 0 auto}
p.muted{margin:.3em 0 0;font-size:12px}
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
  // An endpoint without any 5xx gets no 5xx panel: an empty strip says nothing and takes room.
  var W = 640, L = 58, R = 8, PANELS = [["requests", "req", 8, 92], ["5xx", "err", 108, 44]], H = 176, H_ONE = 120;
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
    var failing = chart.errors.some(function (v) { return v > 0; });
    var height = failing ? H : H_ONE;
    var svg = el("svg", {viewBox: "0 0 " + W + " " + height, role: "img", "data-points": n}, null);
    var values = {"requests": chart.requests, "5xx": chart.errors};
    (failing ? PANELS : PANELS.slice(0, 1)).forEach(function (panel) {
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
    label(svg, L, height - 4, "start", stamp(chart.start));
    label(svg, W - R, height - 4, "end", stamp(chart.start + chart.width * n) + " UTC");
    // Before the latency panel drawn into the page, if any: requests, 5xx, latency, top to bottom.
    figure.insertBefore(svg, figure.querySelector("svg.latency"));
  }
  var figures = document.querySelectorAll("figure[data-chart]");
  for (var f = 0; f < figures.length; f++) {
    var chart = data.charts[Number(figures[f].getAttribute("data-chart"))];
    if (chart) { draw(chart, figures[f]); figures[f].setAttribute("data-drawn", "true"); }
  }
  document.body.setAttribute("data-charts-drawn", String(figures.length));
})();
"""

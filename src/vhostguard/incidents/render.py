"""The postmortem document as Markdown (a draft to edit) and as one self-contained HTML page.

The HTML loads nothing (no script, no stylesheet or font from the network): the charts are inline SVG.
Every text that came from a log, a config or an event is escaped (``html.escape``), and in Markdown
the characters that would start markup or break a table are backslash-escaped.
"""
from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from vhostguard.incidents.store import epoch

MAX_CHARTS = 6
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")  # what starts inline markup or ends a table cell


def _md(value: object) -> str:
    text = " ".join(str(value).splitlines())
    return _MD_SPECIAL.sub(r"\\\1", text)


def to_markdown(document: Mapping[str, Any]) -> str:
    impact = document["impact"]
    detection = document["detection"]
    lines = ["# Postmortem (draft)", "",
             f"Window: {document['window']['start']} to {document['window']['end']} (all times UTC).", "",
             "## Summary", "", _md(document["summary"]), "",
             "## Impact", "",
             f"- Requests in the window: {impact['requests']}",
             f"- Failed requests (5xx, or misrouted: another vhost than their Host's usual one answered): {impact['failed']} ({impact['failed_share']:.2%} of all requests)",
             f"- Distinct clients with a failed request: {impact['clients']}",
             f"- Log lines read: {impact['lines']} ({impact['malformed']} malformed, {impact['untimed']} without a time)",
             "",
             "| vhost | method | endpoint | failed | requests |", "|---|---|---|---:|---:|"]
    lines += [f"| {_md(e['vhost'])} | {_md(e['method'])} | {_md(e['endpoint'])} | {e['failed']} | {e['requests']} |"
              for e in impact["by_endpoint"] if e["failed"]]
    lines += _curve_table(document["curve"])
    lines += ["", "## Duration", ""]
    if document["duration_s"] is None:
        lines.append("No failing request in the window.")
    else:
        lines.append(f"{_seconds(document['duration_s'])}: first failing request {document['first_failure']}, "
                     f"last {document['last_failure']}.")
    lines += ["", "## Detection", ""]
    if detection["first_alert"]:
        lines.append(f"Detected by {_md(detection['detected_by'])} at {detection['first_alert']}, "
                     f"{_seconds(detection['time_to_detect_s'])} after the first failure.")
    elif detection["first_investigation"]:
        lines.append(f"No alert was recorded; the first investigation: {_md(detection['detected_by'])} at "
                     f"{detection['first_investigation']}. Who noticed, and how? (to be written)")
    else:
        lines.append("No alert or failed verification was recorded in the window: who noticed? (to be written)")
    lines += ["", "## Timeline (UTC)", "", "| time | source | event |", "|---|---|---|"]
    lines += [f"| {t['time']} | {_md(t['source'])} | {_md(t['text'])} |" for t in document["timeline"]]
    lines += ["", "## Root-cause candidates", ""]
    for cause in document["causes"]:
        lines.append(f"{cause['rank']}. {_md(cause['summary'])}")
        lines += [f"    - directive: `{_code(d)}`" for d in cause["directives"]]
        lines += [f"    - {_md(e)}" for e in cause["evidence"]]
    if not document["causes"]:
        lines.append("None found in the events and logs of the window.")
    lines += ["", "## Resolution", ""]
    resolution = document["resolution"]
    if resolution:
        lines.append(f"{_md(resolution['text'])} ({_md(resolution['kind'])} {_md(resolution['id'])}) at "
                     f"{resolution['time']}." + (f" The last failing request was logged {resolution['last_failure_after_s']} s "
                                            "after it." if resolution["failures_after"] else ""))
    else:
        lines.append("No rollback or deploy after the first failure was recorded. (to be written)")
    lines += ["", "## Action items", ""]
    lines += [f"- [ ] {_md(a)}" for a in document["actions"]] or ["- [ ] (to be written)"]
    lines += ["", "## Lessons learned", ""] + [f"- {_md(item)}" for item in document["lessons"]]
    return "\n".join(lines) + "\n"


MAX_CURVE_ROWS = 30


def _curve_table(curve: Mapping[str, Any]) -> list[str]:
    """The 5xx/latency curve where it matters: the buckets with a 5xx, and one either side."""
    points = curve["points"]
    wanted = sorted({j for i, p in enumerate(points) if p["failed"] for j in (i - 1, i, i + 1) if 0 <= j < len(points)})
    if not wanted:
        return []
    rows = ["", f"Failed requests and latency per {curve['step_s']} s (the buckets around the failures):", "",
            "| from (UTC) | requests | failed | mean latency ms |", "|---|---:|---:|---:|"]
    for index in wanted[:MAX_CURVE_ROWS]:
        p = points[index]
        rows.append(f"| {p['time']} | {p['requests']} | {p['failed']} | "
                    f"{'' if p['latency_ms'] is None else p['latency_ms']} |")
    if len(wanted) > MAX_CURVE_ROWS:
        rows.append(f"| ... {len(wanted) - MAX_CURVE_ROWS} more (see the JSON's curve) | | | |")
    return rows


def _code(text: str) -> str:
    return " ".join(text.splitlines()).replace("`", "'")


def _seconds(value: float | None) -> str:
    if value is None:
        return "unknown"
    if value < 60:
        return f"{value} s"
    whole = round(value)
    hours, rest = divmod(whole, 3600)
    minutes, seconds = divmod(rest, 60)
    shown = (f"{hours} h " if hours else "") + (f"{minutes} min " if hours or minutes else "") + f"{seconds} s"
    return f"{shown} ({value} s)"


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:72em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}
td.n{text-align:right}figure{margin:1em 0}figcaption{font-size:.9em;color:#555}
.fail{fill:#c0392b}.req{fill:#9ab}.mark{stroke:#333;stroke-dasharray:3,2}.alert{stroke:#d35400}
.deploy{stroke:#2c3e50}.rollback{stroke:#27ae60}svg text{font-size:10px}"""


def to_html(document: Mapping[str, Any]) -> str:
    e = html.escape
    impact = document["impact"]
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
             "<title>Postmortem (draft)</title>", f"<style>{_STYLE}</style></head><body>",
             "<h1>Postmortem (draft)</h1>",
             f"<p>Window: {e(document['window']['start'])} to {e(document['window']['end'])} (all times UTC)</p>",
             "<h2>Summary</h2>", f"<p id=\"summary\">{e(document['summary'])}</p>",
             "<h2>Impact</h2>",
             f"<p>{impact['failed']} of {impact['requests']} requests failed ({impact['failed_share']:.2%}); "
             f"{impact['clients']} distinct clients affected.</p>",
             '<table id="impact"><tr><th>vhost</th><th>method</th><th>endpoint</th><th>failed</th><th>requests</th></tr>']
    parts += [f"<tr><td>{e(x['vhost'])}</td><td>{e(x['method'])}</td><td>{e(x['endpoint'])}</td>"
              f"<td class=\"n\">{x['failed']}</td><td class=\"n\">{x['requests']}</td></tr>" for x in impact["by_endpoint"]]
    parts.append("</table>")
    parts += _charts(document)
    parts += ["<h2>Duration</h2>", f"<p>{e(_seconds(document['duration_s']))}</p>", "<h2>Detection</h2>"]
    detection = document["detection"]
    parts.append(f"<p>{e(str(detection['detected_by']))} at {e(str(detection['first_alert']))}; time to detect "
                 f"{e(_seconds(detection['time_to_detect_s']))}</p>" if detection["first_alert"]
                 else "<p>No alert recorded in the window.</p>")
    parts += ["<h2>Timeline (UTC)</h2>", '<table id="timeline"><tr><th>time</th><th>source</th><th>event</th></tr>']
    parts += [f"<tr><td>{e(t['time'])}</td><td>{e(t['source'])}</td><td>{e(t['text'])}</td></tr>"
              for t in document["timeline"]]
    parts += ["</table>", "<h2>Root-cause candidates</h2>", '<ol id="causes">']
    for cause in document["causes"]:
        items = [f"<li><code>{e(d)}</code></li>" for d in cause["directives"]] + \
                [f"<li>{e(x)}</li>" for x in cause["evidence"]]
        parts.append(f"<li>{e(cause['summary'])}<ul>{''.join(items)}</ul></li>")
    parts.append("</ol><h2>Resolution</h2>")
    resolution = document["resolution"]
    parts.append(f"<p>{e(resolution['text'])} ({e(resolution['kind'])} {e(resolution['id'])}) at "
                 f"{e(resolution['time'])}</p>" if resolution else "<p>(to be written)</p>")
    parts += ["<h2>Action items</h2>", "<ul>"] + [f"<li>{e(a)}</li>" for a in document["actions"]]
    parts += ["</ul>", "<h2>Lessons learned</h2>", "<ul>"] + [f"<li>{e(x)}</li>" for x in document["lessons"]]
    parts += ["</ul>", "</body></html>"]
    return "\n".join(parts) + "\n"


def _charts(document: Mapping[str, Any]) -> list[str]:
    curve = document["curve"]
    endpoints: Sequence[Mapping[str, Any]] = curve["endpoints"][:MAX_CHARTS]
    if not endpoints:
        return []
    start, step = epoch(curve["start"]), float(curve["step_s"])
    parts = [f"<h2>Requests and 5xx per endpoint (bars per {curve['step_s']} s; dashed lines: "
             "deploy switches, alerts, rollbacks)</h2>"]
    overall = {"requests": [p["requests"] for p in curve["points"]], "failed": [p["failed"] for p in curve["points"]],
               "latency": [p["latency_ms"] for p in curve["points"]]}
    parts.append(f'<figure class="chart" id="overall">{_svg(overall, document["markers"], start, step)}'
                 "<figcaption>All requests; the line is the mean latency</figcaption></figure>")
    for number, series in enumerate(endpoints):
        title = f"{series['vhost']} {series['method']} {series['endpoint']}"
        parts.append(f'<figure class="chart" data-chart="{number}">{_svg(series, document["markers"], start, step)}'
                     f"<figcaption>{html.escape(title)}</figcaption></figure>")
    return parts


def _svg(series: Mapping[str, Any], markers: Sequence[Mapping[str, Any]], start: float, step: float) -> str:
    width, height, pad = 720, 140, 20
    requests, failed = series["requests"], series["failed"]
    count = max(len(requests), 1)
    top = max(max(requests, default=0), 1)
    bar = (width - 2 * pad) / count
    shapes = []
    for index, (total, bad) in enumerate(zip(requests, failed)):
        x = pad + index * bar
        h_total = (height - 2 * pad) * total / top
        h_bad = (height - 2 * pad) * bad / top
        shapes.append(f'<rect class="req" data-series="requests" data-index="{index}" data-value="{total}" x="{x:.1f}" y="{height - pad - h_total:.1f}" width="{max(bar - 1, 1):.1f}" '
                      f'height="{h_total:.1f}"><title>{total} requests</title></rect>')
        if bad:
            shapes.append(f'<rect class="fail" data-series="5xx" data-index="{index}" data-value="{bad}" x="{x:.1f}" y="{height - pad - h_bad:.1f}" '
                          f'width="{max(bar - 1, 1):.1f}" height="{h_bad:.1f}"><title>{bad} 5xx</title></rect>')
    for marker in markers:
        offset = (epoch(marker["time"]) - start) / step
        if not 0 <= offset <= count:
            continue
        x = pad + offset * bar
        kind = str(marker["kind"])
        css = "alert" if "alert" in kind or kind.startswith("verify") else ("rollback" if "rollback" in kind else "deploy")
        shapes.append(f'<line class="mark {css}" data-marker="{html.escape(kind)}" x1="{x:.1f}" x2="{x:.1f}" y1="{pad / 2}" y2="{height - pad}">'
                      f"<title>{html.escape(kind)} {html.escape(str(marker['id']))} {html.escape(marker['time'])}"
                      "</title></line>")
    latency = series.get("latency")
    if latency and any(v is not None for v in latency):
        highest = max(v for v in latency if v is not None) or 1.0
        points = " ".join(f"{pad + (i + 0.5) * bar:.1f},{height - pad - (height - 2 * pad) * v / highest:.1f}"
                          for i, v in enumerate(latency) if v is not None)
        shapes.append(f'<polyline class="latency" fill="none" stroke="#8e44ad" points="{points}">'
                      f"<title>mean latency, max {highest} ms</title></polyline>")
    shapes.append(f'<text x="{pad}" y="{pad / 2 + 4}">max {top} requests per bar</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img">{"".join(shapes)}</svg>')

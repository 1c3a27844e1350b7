"""``vhostguard report --json``: the docs/contract.md document of an :class:`Analysis`.

Apart from the tables and the HTML page (``report.analytics``) because those need rich, whose
import costs ``report --json`` about 0.1 s it would spend on nothing.
"""
from __future__ import annotations

from typing import Any

from vhostguard.analytics import Analysis, EndpointSummary, HostView, utc_iso

SCHEMA = 1


# --- JSON (docs/contract.md, report) --------------------------------------------------------

def report_json(analysis: Analysis) -> dict[str, Any]:
    """The ``report --json`` document, keys exactly as docs/contract.md lists them."""
    return {
        "schema": SCHEMA,
        "lines": analysis.lines,
        "malformed": analysis.malformed,
        "engine": analysis.engine,
        "endpoints": [_endpoint_json(e) for e in analysis.endpoints],
        "timeline": [{"minute": utc_iso(p.minute), "vhost": p.vhost, "requests": p.requests, "5xx": p.errors}
                     for p in analysis.timeline],
        "hosts": _hosts_json(analysis.hosts),
    }


def _hosts_json(view: HostView) -> dict[str, Any]:
    """The host-moved view (docs/contract.md): which vhosts served each Host, and when that changed."""
    if not view.available:
        return {"available": False, "reason": view.reason, "min_requests": view.min_requests,
                "unnamed": 0, "mappings": [], "moved": []}
    return {
        "available": True, "reason": None, "min_requests": view.min_requests, "unnamed": view.unnamed,
        "mappings": [{"host": m.host, "vhost": m.vhost, "requests": m.requests,
                      "first_minute": None if m.first_minute is None else utc_iso(m.first_minute),
                      "last_minute": None if m.last_minute is None else utc_iso(m.last_minute)}
                     for m in view.mappings],
        "moved": [{"host": c.host, "minute": utc_iso(c.minute), "from": c.old, "to": c.new,
                   "requests": c.requests, "served": c.served} for c in view.moves],
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

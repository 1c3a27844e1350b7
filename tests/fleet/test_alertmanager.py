"""contrib/prometheus/alertmanager.yml in a real Alertmanager: alerts posted as Prometheus posts
them come out routed by severity and inhibited as the file says (a fleet alert holds the
instance alerts of the same signal, severity and endpoint; a page holds the tickets of the
same endpoint), and nothing else is held: a fleet ticket never holds a server's page."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.fleet.fleetkit import ALERTMANAGER, CONTRIB, alertmanager_argv, get_json, post_json, reserve_ports, running, tool, wait_until

API = {"vhost": "api.example.com", "method": "GET", "endpoint": "/v1/users/{id}"}
ORDERS = {"vhost": "api.example.com", "method": "POST", "endpoint": "/v1/orders"}
CHECKOUT = {"vhost": "shop.example.com", "method": "POST", "endpoint": "/checkout"}
WEB1 = {"instance": "web1:9833"}


def alert(name: str, severity: str, scope: str, signal: str, **labels: str) -> dict[str, Any]:
    return {"labels": {"alertname": name, "severity": severity, "scope": scope, "signal": signal, "job": "vhostguard",
                       **labels},
            "annotations": {"summary": name}}


def firing_now(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alerts as firing from now for ten minutes (timed when posted, not when the module was imported:
    a suite can run for longer than an alert's life)."""
    now = datetime.now(UTC)
    times = {"startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=10)).isoformat()}
    return [{**item, **times} for item in alerts]


# As rules/vhostguard-alerts.yml labels them.
POSTED = {
    # The fleet page on the API endpoint holds web1's page of the same signal on it (rule 1)...
    "fleet": alert("VhostguardErrorBudgetBurnFast", "page", "fleet", "errors", **API),
    "instance": alert("VhostguardInstanceEndpointBroken", "page", "instance", "errors", **WEB1, **API),
    # ...and any page on it holds the tickets on it, the fleet's and web1's (rule 2).
    "ticket": alert("VhostguardErrorBudgetBurnSlow", "ticket", "fleet", "errors", **API),
    "regression": alert("VhostguardInstanceLatencyRegression", "ticket", "instance", "latency", **WEB1, **API),
    # No fleet alert on /v1/orders: web1's page stays; its ticket there is held by that page.
    "orders": alert("VhostguardInstanceEndpointBroken", "page", "instance", "errors", **WEB1, **ORDERS),
    "orders_regression": alert("VhostguardInstanceLatencyRegression", "ticket", "instance", "latency", **WEB1, **ORDERS),
    # A fleet ticket never holds a server's page.
    "checkout_ticket": alert("VhostguardErrorBudgetBurnSlow", "ticket", "fleet", "errors", **CHECKOUT),
    "checkout": alert("VhostguardInstanceEndpointBroken", "page", "instance", "errors", **WEB1, **CHECKOUT),
    # A watcher's page holds no watcher ticket (they have no vhost).
    "unreadable": alert("VhostguardLogUnreadable", "page", "instance", "watcher", instance="web2:9833", log="/a.log"),
    "lost": alert("VhostguardLogBytesLost", "ticket", "instance", "watcher", instance="web2:9833", log="/a.log"),
    # A Host moved fleet-wide holds the same move seen on one server.
    "moved": alert("VhostguardHostMoved", "page", "fleet", "routing", host="shop.example.com", vhost="default.example.com"),
    "moved1": alert("VhostguardInstanceHostMoved", "page", "instance", "routing", **WEB1, host="shop.example.com",
                    vhost="default.example.com"),
}
# Alertmanager names one holding alert, the first it finds: any of these.
HELD_BY = {"instance": {"fleet"}, "ticket": {"fleet", "instance"}, "regression": {"fleet", "instance"},
           "orders_regression": {"orders"}, "checkout_ticket": {"checkout"}, "moved1": {"moved"}}
RECEIVERS = {"page": "pager", "ticket": "tickets"}


def test_routes_and_inhibitions(tmp_path: Path) -> None:
    tool(ALERTMANAGER)
    [port] = reserve_ports(1)
    url = f"http://127.0.0.1:{port}"
    with running(alertmanager_argv(CONTRIB / "alertmanager.yml", tmp_path / "data", port), tmp_path / "am.log",
                 f"{url}/-/ready"):
        post_json(f"{url}/api/v2/alerts", firing_now(list(POSTED.values())))

        seen: list[object] = []

        def settled() -> dict[str, dict[str, Any]]:
            # The inhibitor takes in posted alerts asynchronously: wait until it holds the ones it
            # should, then read once more so that one that should stay active had the same chance.
            found = get_json(f"{url}/api/v2/alerts")
            seen[:] = [(a["labels"]["alertname"], a["status"]) for a in found]
            if len(found) < len(POSTED):
                return {}
            got = {key: next(a for a in found if a["labels"] == POSTED[key]["labels"]) for key in POSTED}
            return got if all(got[key]["status"]["inhibitedBy"] for key in HELD_BY) else {}
        try:
            wait_until(settled, 30, "Alertmanager holding the posted alerts")
        except BaseException:
            print("last seen:", seen)
            raise
        time.sleep(0.5)
        got = settled()
        assert got
        for key, held in got.items():
            status = held["status"]
            if key in HELD_BY:
                assert status["state"] == "suppressed", key
                [holder] = status["inhibitedBy"]
                assert holder in {got[source]["fingerprint"] for source in HELD_BY[key]}, key
            else:
                assert (status["state"], status["inhibitedBy"]) == ("active", []), key
            assert [r["name"] for r in held["receivers"]] == [RECEIVERS[POSTED[key]["labels"]["severity"]]], key

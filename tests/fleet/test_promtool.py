"""contrib/prometheus/ checked by the tools that will load it: `promtool check config` and `check
rules` (Prometheus 2.42, Debian's), `amtool check-config` and `config routes test` (Alertmanager
0.25), and the rules' unit tests with `promtool test rules`; plus what those tools cannot see:
every alert has a case where it fires and one where it stays quiet, the rules and the dashboard
read only metrics watch exports (or rules record), names follow Prometheus's conventions."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.fleet.fleetkit import AMTOOL, CONTRIB, PROMTOOL, ROOT, tool
from vhostguard.monitor.exporter import METRICS

RULE_FILES = ("rules/vhostguard-recording.yml", "rules/vhostguard-alerts.yml")
UNIT_TESTS = CONTRIB / "tests" / "vhostguard-alerts.test.yml"
DASHBOARD = CONTRIB / "grafana-dashboard.json"


def run(argv: list[str], cwd: Path = CONTRIB) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=180)


def rules() -> list[dict[str, object]]:
    return [rule for name in RULE_FILES for group in yaml.safe_load((CONTRIB / name).read_text())["groups"]
            for rule in group["rules"]]


def alerts() -> list[dict[str, object]]:
    return [rule for rule in rules() if "alert" in rule]


# -- the tools ------------------------------------------------------------------------------

def test_promtool_checks_the_config_and_its_rule_files() -> None:
    done = run([tool(PROMTOOL), "check", "config", "prometheus.yml"])
    assert done.returncode == 0, done.stdout + done.stderr
    for name in RULE_FILES:  # the config names them: promtool read each one
        assert f"Checking {name}" in done.stdout and "SUCCESS" in done.stdout


def test_promtool_checks_the_rules() -> None:
    done = run([tool(PROMTOOL), "check", "rules", *RULE_FILES])
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_refuses_a_broken_rule(tmp_path: Path) -> None:
    # The checks above are worth something: the same tool on a rule with a typo fails.
    broken = tmp_path / "broken.yml"
    text = (CONTRIB / "rules" / "vhostguard-alerts.yml").read_text()
    broken.write_text(text.replace("> 14.4 * 0.01", "> 14.4 * * 0.01", 1))
    done = run([tool(PROMTOOL), "check", "rules", str(broken)])
    assert done.returncode != 0 and "VhostguardErrorBudgetBurnFast" in done.stdout + done.stderr


def test_amtool_checks_the_alertmanager_config() -> None:
    done = run([tool(AMTOOL), "check-config", "alertmanager.yml"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 inhibit rules" in done.stdout


@pytest.mark.parametrize(("labels", "receiver"), [
    (["severity=page", "scope=fleet", "vhost=api.example.com"], "pager"),
    (["severity=ticket", "scope=instance", "vhost=api.example.com"], "tickets"),
    (["alertname=Other"], "tickets"),
])
def test_alertmanager_routes_by_severity(labels: list[str], receiver: str) -> None:
    done = run([tool(AMTOOL), "config", "routes", "test", "--config.file=alertmanager.yml", *labels])
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split() == [receiver]


@pytest.mark.slow
def test_rule_unit_tests_pass() -> None:
    done = run([tool(PROMTOOL), "test", "rules", str(UNIT_TESTS.relative_to(CONTRIB))])
    assert done.returncode == 0, done.stdout + done.stderr


def test_rule_unit_tests_catch_a_wrong_threshold(tmp_path: Path) -> None:
    # A fast burn that needed 20x the budget instead of 14.4x would miss the outage the unit
    # tests describe at 85m (17.86% over 1h): promtool says so.
    copy = tmp_path / "prometheus"
    shutil.copytree(CONTRIB, copy)
    alerts_file = copy / "rules" / "vhostguard-alerts.yml"
    text = alerts_file.read_text()
    fleet = "\n          endpoint:vhostguard_http_requests_5xx:ratio_rate1h > 14.4 * 0.01"  # not instance_endpoint:...
    assert text.count(fleet) == 1
    alerts_file.write_text(text.replace(fleet, fleet.replace("14.4", "20")))
    unit = yaml.safe_load(UNIT_TESTS.read_text())
    unit["tests"] = [test for test in unit["tests"] if test["name"] == "one server fails"]  # the case at stake
    (copy / "tests" / "one.test.yml").write_text(yaml.safe_dump(unit))
    done = run([tool(PROMTOOL), "test", "rules", "tests/one.test.yml"], cwd=copy)
    assert done.returncode != 0
    assert "alertname: VhostguardErrorBudgetBurnFast, time: 1h25m" in done.stdout + done.stderr


# -- what the tools do not check ------------------------------------------------------------

def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    cases = [case for test in yaml.safe_load(UNIT_TESTS.read_text())["tests"] for case in test["alert_rule_test"]]
    fires = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    names = {str(rule["alert"]) for rule in alerts()}
    assert names - fires == set() and names - quiet == set()
    assert fires | quiet <= names  # no test of a rule that does not exist


def test_alert_labels_route_and_inhibit() -> None:
    inhibit = yaml.safe_load((CONTRIB / "alertmanager.yml").read_text())["inhibit_rules"]
    equal = {label for rule in inhibit for label in rule["equal"]}
    for rule in alerts():
        labels = rule["labels"]
        assert isinstance(labels, dict)
        assert str(rule["alert"]).startswith("Vhostguard"), rule
        assert labels["severity"] in ("page", "ticket") and labels["scope"] in ("fleet", "instance"), rule
        assert labels["signal"] in ("errors", "latency", "routing", "traffic", "watcher"), rule
        assert str(rule["alert"]).startswith("VhostguardInstance") <= (labels["scope"] == "instance")
    assert {"signal", "severity", "vhost", "method", "endpoint", "host"} <= equal


_NOT_METRICS = {"histogram_quantile", "label_values", "absent_over_time", "humanize1024", "group_left"}


def metric_names(expr: str) -> set[str]:
    """Metric names an expression uses: label matchers, grouping clauses and $variables removed."""
    text = re.sub(r"\{[^{}]*\}", "", expr)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\$\{?\w+\}?", "", text)
    names = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", text))
    return {n for n in names if ("_" in n or n == "up") and n not in _NOT_METRICS}


def exposed() -> set[str]:
    names = {"up"}  # Prometheus's own, per target
    for name, kind in METRICS.items():
        names.add(name)
        if kind == "histogram":
            names |= {name + "_bucket", name + "_sum", name + "_count"}
    return names


def test_rules_use_only_exported_metrics_and_conventional_names() -> None:
    recorded = {str(rule["record"]) for rule in rules() if "record" in rule}
    for name in recorded:  # level:metric:operations, the metric one watch exports
        level, metric, operations = name.split(":")
        assert level in ("instance_endpoint", "endpoint"), name
        assert metric.startswith("vhostguard_") and re.fullmatch(r"(ratio_)?(rate|p95_rate)\d+[mh]", operations), name
    used: set[str] = set()
    for rule in rules():
        names = metric_names(str(rule["expr"]))
        assert names, rule
        used |= names
    assert used <= exposed() | recorded, used - exposed() - recorded
    unused = {name for name in exposed() if name.startswith("vhostguard_")} - used - {
        "vhostguard_http_request_duration_seconds_sum", "vhostguard_log_lag_seconds", "vhostguard_log_rotations_total",
        "vhostguard_http_request_duration_seconds"}
    assert unused == set()  # every signal watch exports is alerted on


def test_grafana_dashboard_uses_only_exported_or_recorded_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    exprs += [var["query"]["query"] for var in dashboard["templating"]["list"] if isinstance(var.get("query"), dict)]
    used = set().union(*(metric_names(e) for e in exprs))
    recorded = {str(rule["record"]) for rule in rules() if "record" in rule}
    assert used <= exposed() | recorded, used - exposed() - recorded
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    assert used >= {"vhostguard_http_requests_total", "vhostguard_alerts_firing", "vhostguard_log_lag_seconds",
                    "endpoint:vhostguard_http_requests_5xx:ratio_rate5m",
                    "endpoint:vhostguard_http_request_duration_seconds:p95_rate5m",
                    "endpoint:vhostguard_http_requests_slow:ratio_rate5m"}
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    assert "fleet" in titles and "instance" in titles and "latency" in titles


def test_the_name_check_itself_sees_a_foreign_metric() -> None:
    assert metric_names('sum by (vhost) (rate(apache_accesses_total{vhost="x"}[5m])) / $__rate_interval') == {
        "apache_accesses_total"}


def test_one_set_of_rules() -> None:
    # The single-host files moved here; README and docs name the new place.
    assert not (ROOT / "contrib" / "prometheus-alerts.yml").exists()
    assert not (ROOT / "contrib" / "grafana-dashboard.json").exists()
    for doc in (ROOT / "README.md", ROOT / "docs" / "fleet-monitoring.md"):
        text = doc.read_text()
        assert "contrib/prometheus" in text and "prometheus-alerts.yml" not in text, doc


def test_grafana_dashboard_queries_parse(tmp_path: Path) -> None:
    # Every panel's PromQL, Grafana's variables filled in, as rules promtool parses.
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    filled = [re.sub(r"\$\w+", ".*", e.replace("$__rate_interval", "1m")) for e in exprs]
    group = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:panel:q{i}", "expr": e}
                                                         for i, e in enumerate(filled)]}]}
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(group))
    done = run([tool(PROMTOOL), "check", "rules", str(path)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_targets_file_is_file_sd_and_keeps_host_free() -> None:
    # promtool does not read file_sd files: the shape Prometheus expects, and no `host` target
    # label (watch's vhostguard_host_vhost_requests_total uses it for the Host header).
    config = yaml.safe_load((CONTRIB / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    [file_sd] = job["file_sd_configs"]
    for name in file_sd["files"]:
        groups = yaml.safe_load((CONTRIB / name).read_text())
        assert groups and all(set(group) <= {"targets", "labels"} for group in groups)
        for group in groups:
            assert all(re.fullmatch(r"[\w.-]+:\d+", target) for target in group["targets"])
            assert "host" not in group.get("labels", {})

"""host-moved: a Host served by another vhost than usual, whatever the status codes (issue 18).

The pure rule on counts, which formats turn it on, and the watch loop on
real files: fires naming both vhosts with example lines, stays quiet on
steady traffic, a new Host and a planned move, and fires at once on a
config reload seen in the error log (offline routing of the new config).
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.monitor.watchkit import T0, Recorder, append, clf, watcher
from vhostguard.config import LoadOptions, load
from vhostguard.logs import parser_for
from vhostguard.model import build_model
from vhostguard.monitor import ConfigSource, PlannedMove, host_moves, moved_hosts
from vhostguard.monitor.exporter import registry_for
from vhostguard.monitor.hosts import HostNames, config_moves, host_column
from vhostguard.monitor.clock import ManualClock
from vhostguard.monitor.rules import parse_rules

HOST_FORMAT = '%v %{Host}i %h %l %u %t "%r" %>s %O %D'
# Small windows, so a test needs minutes of log, not hours.
RULES = parse_rules("host_moved: {window: 30s, baseline: 5m, min_baseline: 20, min_requests: 5, interval: 1s}\n")


def hline(t: float, host: str, vhost: str, path: str = "/v1/users/1", status: int = 200) -> str:
    return f'{vhost} {host} 192.0.2.7 - - {clf(t)} "GET {path} HTTP/1.1" {status} 120 1500\n'


def steady(start: float, seconds: int, host: str = "api.example.com", vhost: str = "api.example.com",
           per_second: int = 2) -> list[str]:
    return [hline(start + s, host, vhost) for s in range(seconds) for _ in range(per_second)]


# -- the rule on counts ----------------------------------------------------------------------

def test_a_host_mostly_served_by_another_vhost_moves() -> None:
    baseline = {"api.example.com": {"api.example.com": 600.0}}
    window = {"api.example.com": {"internal.example.com": 48.0, "api.example.com": 2.0}}
    [move] = moved_hosts(baseline, window)
    assert (move.host, move.usual, move.new, move.moved, move.requests, move.baseline) == \
        ("api.example.com", "api.example.com", "internal.example.com", 48.0, 50.0, 600.0)
    assert move.share == pytest.approx(0.96)


@pytest.mark.parametrize("baseline, window", [
    ({"a.example": {"a.example": 600.0}}, {"a.example": {"a.example": 50.0}}),  # steady
    ({"a.example": {"a.example": 600.0}}, {"new.example": {"b.example": 50.0}}),  # a Host never seen before
    ({"a.example": {"a.example": 10.0}}, {"a.example": {"b.example": 50.0}}),  # too little baseline to learn from
    ({"a.example": {"a.example": 300.0, "b.example": 300.0}}, {"a.example": {"b.example": 50.0}}),  # no usual vhost
    ({"a.example": {"a.example": 600.0}}, {"a.example": {"b.example": 3.0}}),  # too few recent requests
    ({"a.example": {"a.example": 600.0}}, {"a.example": {"a.example": 30.0, "b.example": 20.0}}),  # under min_share
    ({"a.example": {"A.Example": 600.0}}, {"a.example": {"a.example": 50.0}}),  # vhost names differ in case only
    # a vhost that serves some of the Host anyway (http redirecting to https): no news when it serves more
    ({"a.example": {"https.example": 950.0, "redirect.example": 50.0}}, {"a.example": {"redirect.example": 10.0}}),
])
def test_no_move_without_a_learned_vhost_and_a_clear_majority_elsewhere(baseline: dict, window: dict) -> None:
    assert moved_hosts(baseline, window) == []


def test_a_planned_move_is_no_move() -> None:
    baseline = {"api.example.com": {"api.example.com": 600.0}}
    window = {"api.example.com": {"api-v2.example.com": 50.0}}
    assert moved_hosts(baseline, window, planned=[PlannedMove("api.example.com", "*", "api-v2.example.com")]) == []
    assert moved_hosts(baseline, window, planned=[PlannedMove("api.example.com", "*", "other.example.com")])
    rules = parse_rules("host_moved: {planned_moves: [{host: '*.example.com', new_vhost: api-v2.example.com}]}")
    assert host_moves(baseline, window, rules) == []


def test_host_column_needs_the_host_and_the_serving_vhost() -> None:
    assert host_column(parser_for(HOST_FORMAT)) == "headers_in"
    assert host_column(parser_for("%v %V %h %t \"%r\" %>s")) == "server_name"
    assert host_column(parser_for("%v %V %h %t \"%r\" %>s"), canonical_names=True) is None  # %V is then ServerName
    assert host_column(parser_for("%{Host}i %h %t \"%r\" %>s")) is None  # which vhost served it is not logged
    assert host_column(parser_for("vhost_combined")) is None
    assert host_column(parser_for("%v %{User-Agent}i %t \"%r\" %>s")) is None


def test_host_names_are_normalised_as_httpd_does_and_capped() -> None:
    names = HostNames(max_hosts=2)
    assert names({"Host": "API.Example.com.:8443"}) == "api.example.com"
    assert names("b.example") == "b.example"
    assert names("c.example") is None  # beyond the cap: a client can make up any Host
    assert names("a..b") is None and names("-") is None and names(None) is None
    assert names("API.EXAMPLE.COM") == "api.example.com"  # known names still count
    named = HostNames(max_hosts=1, named=["www.example.com"])
    assert named("scanner.invalid") == "scanner.invalid" and named("other.invalid") is None
    assert named("WWW.example.com") == "www.example.com"  # the config's names are followed whatever the cap


# -- the watch loop on files -------------------------------------------------------------------

def run_watch(tmp_path: Path, lines: list[str], rules: object = RULES, **options: object) -> Recorder:
    log = tmp_path / "access.log"
    append(log, lines)
    sink = Recorder()
    end = T0 + 1000
    watch = watcher([log], ManualClock(end), sink, rules=rules, fmt=HOST_FORMAT, follow_wall=False, **options)
    watch.run(once=True)
    watch.close()
    return sink


@pytest.mark.parametrize("jobs", [1, 2])  # 2: a backlog's lines parsed in the parser process
def test_a_wildcard_capturing_the_api_host_fires_while_answering_200(tmp_path: Path, jobs: int) -> None:
    lines = steady(T0, 300, per_second=20) + steady(T0 + 300, 60, vhost="internal.example.com", per_second=20)
    sink = run_watch(tmp_path, lines, jobs=jobs)
    [alert] = sink.firing("host-moved")
    assert (alert.severity, alert.vhost, alert.endpoint) == ("page", "api.example.com", "api.example.com")
    assert alert.summary.startswith("api.example.com is now served by internal.example.com: ")
    assert "usually api.example.com" in alert.summary
    assert alert.observed["new_vhost"] == "internal.example.com" and alert.observed["share"] >= 0.5
    assert alert.observed["moved"] >= 0.5 * alert.observed["requests"] >= 5
    # Examples are lines of the log that hold such requests.
    text = (tmp_path / "access.log").read_text().splitlines()
    assert alert.observed["examples"]
    for example in alert.observed["examples"]:
        path, _, number = example.rpartition(":")
        assert path == str(tmp_path / "access.log")
        assert text[int(number) - 1].startswith("internal.example.com api.example.com ")
    # Fired within seconds of the first moved request (log clock).
    assert alert.started - (T0 + 300) <= 5


def test_the_alert_resolves_once_the_host_is_served_as_usual_again(tmp_path: Path) -> None:
    lines = steady(T0, 300) + steady(T0 + 300, 30, vhost="internal.example.com") + steady(T0 + 330, 120)
    sink = run_watch(tmp_path, lines)
    [fired] = sink.firing("host-moved")
    [resolved] = sink.resolved("host-moved")
    assert resolved.id == fired.id and resolved.resolved is not None
    assert T0 + 330 < resolved.resolved <= T0 + 330 + 60


def test_quiet_on_steady_traffic_a_new_host_and_a_planned_move(tmp_path: Path) -> None:
    lines = steady(T0, 400)
    lines += steady(T0 + 300, 100, host="new.example.com", vhost="internal.example.com")  # never seen before
    lines += steady(T0, 300, host="www.example.com", vhost="www.example.com")
    lines += steady(T0 + 300, 100, host="www.example.com", vhost="www2.example.com")  # declared below
    lines.sort(key=lambda text: text.split("[", 1)[1])  # one log, in time order
    rules = parse_rules("host_moved: {window: 30s, baseline: 5m, interval: 1s, planned_moves: "
                        "[{host: www.example.com, old_vhost: www.example.com, new_vhost: www2.example.com}]}\n")
    sink = run_watch(tmp_path, lines, rules)
    assert sink.alerts == []


def test_the_same_move_fires_without_the_planned_entry(tmp_path: Path) -> None:
    """The quiet test above is quiet because of the planned move, not because nothing could fire."""
    lines = steady(T0, 300, host="www.example.com", vhost="www.example.com")
    lines += steady(T0 + 300, 100, host="www.example.com", vhost="www2.example.com")
    sink = run_watch(tmp_path, lines)
    assert [a.endpoint for a in sink.firing("host-moved")] == ["www.example.com"]


def test_off_when_the_format_does_not_log_the_host(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, [f'api.example.com:80 192.0.2.7 - - {clf(T0)} "GET / HTTP/1.1" 200 1 "-" "t" 1\n'])
    watch = watcher([log], ManualClock(T0), Recorder(), rules=RULES, follow_wall=False)
    assert watch.host_windows is None
    assert "host-moved" not in dict(watch.evaluator.due())
    watch.close()


def test_the_metric_counts_requests_per_host_and_serving_vhost(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, steady(T0, 10) + steady(T0 + 10, 5, vhost="internal.example.com"))
    watch = watcher([log], ManualClock(T0 + 100), Recorder(), rules=RULES, fmt=HOST_FORMAT, follow_wall=False)
    watch.run(once=True)
    registry = registry_for(watch.metrics)
    get = registry.get_sample_value
    assert get("vhostguard_host_vhost_requests_total", {"host": "api.example.com", "vhost": "api.example.com"}) == 20
    assert get("vhostguard_host_vhost_requests_total",
               {"host": "api.example.com", "vhost": "internal.example.com"}) == 10
    watch.close()


# -- a config reload seen in the error log -----------------------------------------------------

SITES_OK = """\
<VirtualHost *:8080>
    ServerName internal.example.com
</VirtualHost>
"""
SITES_BAD = """\
<VirtualHost *:8080>
    ServerName internal.example.com
    ServerAlias *.example.com
</VirtualHost>
"""


def write_config(root: Path, internal: str) -> Path:
    (root / "sites").mkdir(exist_ok=True)
    (root / "sites" / "001-internal.conf").write_text(internal)
    main = root / "httpd.conf"
    main.write_text(f"ServerRoot {root}\nServerName main.example\nListen 8080\nInclude sites/*.conf\n"
                    "<VirtualHost *:8080>\n    ServerName api.example.com\n</VirtualHost>\n")
    return main


def model_of(main: Path):  # type: ignore[no-untyped-def]
    return build_model(load(str(main), LoadOptions()))


def error_notice(t: float, code: str = "AH00493", text: str = "SIGUSR1 received.  Doing graceful restart") -> str:
    stamp = datetime.fromtimestamp(t).strftime("%a %b %d %H:%M:%S.000000 %Y")
    return f"[{stamp}] [mpm_event:notice] [pid 100:tid 100] {code}: {text}\n"


def test_config_moves_names_the_capturing_alias_line(tmp_path: Path) -> None:
    main = write_config(tmp_path, SITES_OK)
    old = model_of(main)
    write_config(tmp_path, SITES_BAD)
    [moved] = config_moves(old, model_of(main), {"api.example.com": "api.example.com", "x.other": "x.other"})
    assert (moved.host, moved.vhost, moved.port) == ("api.example.com", "internal.example.com", 8080)
    assert moved.line == f"ServerAlias *.example.com, {tmp_path / 'sites' / '001-internal.conf'}:3"


def test_a_reload_that_moves_a_known_host_fires_before_traffic_shows_it(tmp_path: Path) -> None:
    main = write_config(tmp_path, SITES_OK)
    log, errors = tmp_path / "access.log", tmp_path / "error.log"
    append(log, steady(T0, 300))
    errors.write_text("")
    sink = Recorder()
    clock = ManualClock(T0 + 300)
    source = ConfigSource(model_of(main), lambda: model_of(main))
    watch = watcher([log], clock, sink, rules=RULES, fmt=HOST_FORMAT, error_logs=[errors], config=source)
    watch.run(once=True)
    assert sink.alerts == []
    write_config(tmp_path, SITES_BAD)
    append(errors, [error_notice(T0 + 300)])
    clock.advance(1)
    watch.step()
    [alert] = sink.firing("host-moved")
    assert alert.summary.startswith(
        f"api.example.com is now served by internal.example.com (ServerAlias *.example.com, "
        f"{tmp_path / 'sites' / '001-internal.conf'}:3): the config httpd just reloaded")
    assert alert.observed["source"] == "config-reload"
    # The fix and another reload: the alert resolves.
    write_config(tmp_path, SITES_OK)
    append(errors, [error_notice(T0 + 302)])
    clock.advance(1)
    watch.step()
    assert [a.id for a in sink.resolved("host-moved")] == [alert.id]
    watch.close()


def test_a_reload_that_moves_nothing_is_quiet_and_a_planned_move_too(tmp_path: Path) -> None:
    main = write_config(tmp_path, SITES_OK)
    log, errors = tmp_path / "access.log", tmp_path / "error.log"
    append(log, steady(T0, 300))
    errors.write_text("")
    rules = parse_rules("host_moved: {window: 30s, baseline: 5m, interval: 1s, planned_moves: "
                        "[{host: api.example.com, new_vhost: internal.example.com}]}\n")
    sink = Recorder()
    clock = ManualClock(T0 + 300)
    watch = watcher([log], clock, sink, rules=rules, fmt=HOST_FORMAT, error_logs=[errors],
                    config=ConfigSource(model_of(main), lambda: model_of(main)))
    watch.run(once=True)
    append(errors, [error_notice(T0 + 300)])  # a reload of the same config
    clock.advance(1)
    watch.step()
    write_config(tmp_path, SITES_BAD)  # a move, but a planned one
    append(errors, [error_notice(T0 + 301, "AH00489", "Apache/2.4 configured -- resuming normal operations")])
    clock.advance(1)
    watch.step()
    assert sink.alerts == []
    watch.close()


# -- restarts ------------------------------------------------------------------------------------

def test_a_restart_keeps_what_was_learned(tmp_path: Path) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state"
    append(log, steady(T0, 300))
    first = watcher([log], ManualClock(T0 + 300), Recorder(), rules=RULES, fmt=HOST_FORMAT, state=state,
                    follow_wall=False)
    first.run(once=True)
    first.close()
    append(log, steady(T0 + 300, 30, vhost="internal.example.com"))
    sink = Recorder()
    second = watcher([log], ManualClock(T0 + 330), sink, rules=RULES, fmt=HOST_FORMAT, state=state,
                     follow_wall=False)
    second.run(once=True)
    second.close()
    assert [a.endpoint for a in sink.firing("host-moved")] == ["api.example.com"]


def test_a_checkpoint_from_before_host_moved_still_resumes(tmp_path: Path) -> None:
    """Checkpoints written before issue 18 lack host_windows and latency: read positions are kept."""
    import json

    from vhostguard.monitor.state import StateStore, state_name

    log, state = tmp_path / "access.log", tmp_path / "state"
    append(log, steady(T0, 10))
    first = watcher([log], ManualClock(T0 + 10), Recorder(), rules=RULES, fmt=HOST_FORMAT, state=state,
                    follow_wall=False)
    first.run(once=True)
    first.close()
    store = StateStore(str(state), state_name([str(log)]))
    document = json.loads(Path(store.path).read_text())
    del document["host_windows"], document["latency"]
    Path(store.path).write_text(json.dumps(document))
    notes: list[str] = []
    second = watcher([log], ManualClock(T0 + 20), Recorder(), rules=RULES, fmt=HOST_FORMAT, state=state,
                     follow_wall=False, report=notes.append)
    second.run(once=True)
    assert second.inputs[0].feeder.stats.lines == 20  # resumed: nothing read again
    second.close()
    assert not [n for n in notes if "starting afresh" in n]

"""Every rule through the real watch loop, on generated logs and an injected clock:
it fires, it stays quiet below its thresholds, and it resolves when the condition clears."""
from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.monitor.watchkit import T0, Recorder, append, line, watcher
from vhostguard.monitor.clock import ManualClock
from vhostguard.monitor.rules import DEFAULT_RULES_YAML, Rules, RulesError, describe, parse_rules

RULE_KEYS = ("slo_burn_rate", "endpoint_broken", "traffic_moved", "not_found_surge")


def only(rule: str, extra: str = "") -> Rules:
    """The defaults with every other rule disabled (so each test sees one rule)."""
    text = "".join(f"{key}: {{enabled: {'true' if key == rule else 'false'}}}\n" for key in RULE_KEYS)
    rules = parse_rules(text)
    if extra:
        rules = parse_rules(text + extra)
    return rules


def replay(tmp_path: Path, lines: list[str], rules: Rules, end: float | None = None,
           recorder: Recorder | None = None) -> Recorder:
    """Write ``lines`` and read them as a replay (the log's own times drive the windows)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "access.log"
    append(log, lines)
    sink = recorder or Recorder()
    last = end if end is not None else T0 + 10 * 86400
    watch = watcher([log], ManualClock(last), sink, rules=rules, follow_wall=False)
    watch.run(once=True)
    watch.close()
    return sink


def timeline(seconds: int, per_second: int, status: Callable[[int, int], int], path: Callable[[int, int], str],
             vhost: Callable[[int, int], str] = lambda s, i: "api.example.com", start: int = T0) -> list[str]:
    return [line(start + s, path(s, i), status(s, i), vhost(s, i)) for s in range(seconds) for i in range(per_second)]


USERS = "/v1/users/{id}"


# -- endpoint-broken --------------------------------------------------------------------

def test_broken_fires_within_seconds_and_resolves_after_the_outage(tmp_path: Path) -> None:
    # 10 req/s; 503 for 20 s from second 120.
    lines = timeline(300, 10, lambda s, i: 503 if 120 <= s < 140 else 200, lambda s, i: f"/v1/users/{s * 10 + i}")
    sink = replay(tmp_path, lines, only("endpoint_broken"))
    [fired] = sink.firing("endpoint-broken")
    [resolved] = sink.resolved("endpoint-broken")
    assert (fired.vhost, fired.method, fired.endpoint, fired.severity) == ("api.example.com", "GET", USERS, "page")
    assert T0 + 120 <= fired.started <= T0 + 124  # 20 requests, all 5xx, take two seconds at 10/s
    assert fired.summary.startswith("5xx on api.example.com GET /v1/users/{id}: ")
    assert fired.observed["requests"] >= 20 and fired.observed["error_ratio"] >= 0.5
    # It resolves once no recent stretch is mostly errors: about as long after the outage as it lasted.
    assert T0 + 140 < resolved.resolved <= T0 + 165
    assert resolved.id == fired.id


def test_broken_stays_quiet_below_its_thresholds(tmp_path: Path) -> None:
    few = timeline(30, 1, lambda s, i: 503 if s >= 11 else 200, lambda s, i: "/v1/few")  # 19 failures: < 20
    mixed = timeline(300, 10, lambda s, i: 503 if i < 4 else 200, lambda s, i: "/v1/mixed")  # 40% 5xx
    sink = replay(tmp_path, sorted(few + mixed, key=lambda text: text.split("[", 1)[1]), only("endpoint_broken"))
    assert sink.alerts == []


def test_broken_resolves_on_the_wall_clock_when_the_log_goes_quiet(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    clock = ManualClock(T0 + 30)
    sink = Recorder()
    watch = watcher([log], clock, sink, rules=only("endpoint_broken"))
    append(log, timeline(30, 10, lambda s, i: 200 if s < 25 else 503, lambda s, i: "/v1/orders"))
    watch.step()
    assert len(sink.firing()) == 1
    for _ in range(70):  # no more lines: the windows age on the wall clock
        clock.advance(1.0)
        watch.step()
    assert len(sink.resolved()) == 1
    assert sink.resolved()[0].resolved <= T0 + 30 + 61
    watch.close()


# -- slo-burn-rate --------------------------------------------------------------------------

def _incident(rate: float, minutes: int, before: int = 60, after: int = 0, per_second: int = 2,
              endpoint: str = "/v1/pay") -> list[str]:
    """``before`` healthy minutes (0.5% errors), ``minutes`` at ``rate`` errors, ``after`` healthy."""
    rnd = random.Random(7)
    total = (before + minutes + after) * 60

    def status(s: int, i: int) -> int:
        bad = before * 60 <= s < (before + minutes) * 60
        return 500 if rnd.random() < (rate if bad else 0.005) else 200

    return timeline(total, per_second, status, lambda s, i: endpoint)


def test_burn_rate_tickets_then_pages_and_resolves(tmp_path: Path) -> None:
    sink = replay(tmp_path, _incident(0.3, 40, after=40), only("slo_burn_rate"))
    ticket = [a for a in sink.firing() if a.severity == "ticket"]
    page = [a for a in sink.firing() if a.severity == "page"]
    assert len(ticket) == 1 and len(page) == 1
    start = T0 + 3600
    # 6x of a 1% budget over 30m and 6h needs 6% errors: about 13 minutes of 30% after an hour of 0.5%.
    assert start + 10 * 60 <= ticket[0].started <= start + 16 * 60
    # 14.4x over 1h and 5m needs 14.4% over the last hour: about 28 minutes in.
    assert start + 25 * 60 <= page[0].started <= start + 31 * 60
    assert page[0].observed["burn_rate_long"] >= 14.4 and page[0].observed["short_window"] == "5m"
    assert "error budget burning" in page[0].summary
    resolved = {a.severity: a.resolved for a in sink.resolved()}
    end = start + 40 * 60
    assert end < resolved["page"] <= end + 6 * 60  # the 5 m window clears
    assert end < resolved["ticket"] <= end + 31 * 60  # the 30 m window clears


def test_burn_rate_is_quiet_at_a_normal_error_rate(tmp_path: Path) -> None:
    sink = replay(tmp_path, _incident(0.01, 120, before=0), only("slo_burn_rate"))
    assert sink.alerts == []


def test_burn_rate_needs_enough_requests(tmp_path: Path) -> None:
    # Half of a trickle fails: 60 requests in an hour are fewer than min_requests (200).
    lines = timeline(3600, 1, lambda s, i: 500 if s % 120 == 0 else 200, lambda s, i: "/v1/rare")
    lines = [text for n, text in enumerate(lines) if n % 60 == 0]
    assert len(lines) == 60
    sink = replay(tmp_path, lines, only("slo_burn_rate"))
    assert sink.alerts == []


def test_burn_rate_objective_per_endpoint(tmp_path: Path) -> None:
    rules = only("slo_burn_rate", 'slo_burn_rate: {endpoints: [{endpoint: "/v1/strict", objective: 0.999}]}\n')
    strict = _incident(0.03, 30, before=30, endpoint="/v1/strict")
    lax = _incident(0.03, 30, before=30, endpoint="/v1/lax")
    sink = replay(tmp_path, sorted(strict + lax, key=lambda text: text.split("[", 1)[1]), rules)
    assert {a.endpoint for a in sink.firing()} == {"/v1/strict"}  # 3% burns 30x a 0.1% budget, 3x a 1% one
    assert sink.firing()[0].observed["objective"] == pytest.approx(0.999)


# -- traffic-moved --------------------------------------------------------------------------

def _two_endpoints(minutes: int, b_until: float | None, a_until: float | None = None, b_from: float | None = None,
                   per_second: int = 2) -> list[str]:
    def path(s: int, i: int) -> str:
        return "/v1/a" if i % 2 == 0 else "/v1/b"

    def keep(s: int, i: int) -> bool:
        if i % 2 == 0:
            return a_until is None or s < a_until
        if b_until is None or s < b_until:
            return True
        return b_from is not None and s >= b_from

    return [line(T0 + s, path(s, i), 200) for s in range(minutes * 60) for i in range(per_second * 2) if keep(s, i)]


def test_traffic_moved_fires_when_one_endpoint_loses_its_traffic_and_resolves_when_it_returns(tmp_path: Path) -> None:
    drop, back = 70 * 60, 85 * 60
    sink = replay(tmp_path, _two_endpoints(100, b_until=drop, b_from=back), only("traffic_moved"))
    [fired] = sink.firing("traffic-moved")
    assert (fired.endpoint, fired.severity) == ("/v1/b", "ticket")
    assert T0 + drop + 4 * 60 <= fired.started <= T0 + drop + 6 * 60  # the 5 m rate must fall by 90%
    assert fired.observed["baseline_per_min"] == pytest.approx(120, rel=0.1)
    assert "traffic moved away from api.example.com GET /v1/b" in fired.summary
    [resolved] = sink.resolved("traffic-moved")
    assert T0 + back < resolved.resolved <= T0 + back + 60


def test_traffic_moved_is_quiet_when_the_whole_server_goes_quiet(tmp_path: Path) -> None:
    sink = replay(tmp_path, _two_endpoints(80, b_until=70 * 60, a_until=70 * 60), only("traffic_moved"),
                  end=T0 + 90 * 60)
    assert sink.alerts == []


def test_traffic_moved_is_quiet_without_history_or_volume(tmp_path: Path) -> None:
    young = replay(tmp_path / "young", _two_endpoints(20, b_until=10 * 60), only("traffic_moved"))
    thin = replay(tmp_path / "thin", [text for n, text in enumerate(_two_endpoints(90, b_until=70 * 60)) if n % 40 == 0],
                  only("traffic_moved"))
    assert young.alerts == [] and thin.alerts == []


# -- 404-surge -----------------------------------------------------------------------------

def _www(minutes: int, surge_from: int, surge_to: int, usual: float = 0.01, surge: float = 0.6,
         vhost: str = "www.example.com") -> list[str]:
    rnd = random.Random(3)

    def status(s: int, i: int) -> int:
        rate = surge if surge_from * 60 <= s < surge_to * 60 else usual
        return 404 if rnd.random() < rate else 200

    return timeline(minutes * 60, 2, status, lambda s, i: f"/page/{i}", lambda s, i: vhost)


def test_404_surge_fires_and_resolves(tmp_path: Path) -> None:
    sink = replay(tmp_path, _www(60, 30, 40), only("not_found_surge"))
    [fired] = sink.firing("404-surge")
    assert (fired.vhost, fired.method, fired.endpoint, fired.severity) == ("www.example.com", None, None, "ticket")
    # 1.2 404s/s: 50 of them take 42 s, 20% of the vhost's 5-minute requests about 100 s.
    assert T0 + 30 * 60 + 40 <= fired.started <= T0 + 33 * 60
    assert fired.observed["default_vhost"] is False
    [resolved] = sink.resolved("404-surge")
    assert T0 + 40 * 60 < resolved.resolved <= T0 + 45 * 60


def test_404_surge_on_the_default_vhost_pages_sooner(tmp_path: Path) -> None:
    rules = only("not_found_surge").with_default_vhosts(["default.example"])
    lines = _www(30, 20, 30, surge=0.3, vhost="default.example")
    sink = replay(tmp_path, lines, rules)
    [fired] = sink.firing("404-surge")
    assert fired.severity == "page" and fired.observed["default_vhost"] is True
    assert "(default vhost)" in fired.summary


def test_404_surge_is_quiet_for_a_vhost_that_always_has_many_404s(tmp_path: Path) -> None:
    sink = replay(tmp_path, _www(90, 0, 0, usual=0.35), only("not_found_surge"))
    assert sink.alerts == []


# -- the rules file ------------------------------------------------------------------------------

def test_the_documented_defaults_are_the_defaults() -> None:
    rules = parse_rules()
    burn = rules.slo_burn_rate
    assert [(w.severity, w.long, w.short, w.factor) for w in burn.windows] == [
        ("page", 3600, 300, 14.4), ("ticket", 21600, 1800, 6.0)]
    broken = rules.endpoint_broken
    assert (broken.window, broken.min_requests, broken.min_error_ratio) == (60, 20, 0.5)
    assert rules.traffic_moved.min_drop == 0.9
    assert "min_expected: 50" in DEFAULT_RULES_YAML
    for key in RULE_KEYS:  # every rule documents every one of its settings
        section = DEFAULT_RULES_YAML.split(f"\n{key}:", 1)[1].split("\n\n", 1)[0]
        for name in type(getattr(rules, key)).__dataclass_fields__:
            assert f"  {name}:" in section, (key, name)


def test_a_rules_file_overrides_a_subset() -> None:
    rules = parse_rules("endpoint_broken:\n  min_requests: 5\n  window: 2m\n")
    assert rules.endpoint_broken.min_requests == 5 and rules.endpoint_broken.window == 120
    assert rules.endpoint_broken.min_error_ratio == 0.5
    assert [spec.length for spec in rules.window_specs()] == [300, 1800, 3600, 21600]


@pytest.mark.parametrize("text, message", [
    ("endpoint_broken: {min_requets: 5}", "unknown setting 'min_requets'"),
    ("endpoint_broken: {window: soon}", "expected a duration"),
    ("slo_burn_rate: {objective: 99}", "between 0 and 1"),
    ("slo_burn_rate: {windows: [{severity: page, long: 5m, short: 1h, factor: 2}]}", "short must be shorter"),
    ("traffic_moved: {severity: urgent}", "page or ticket"),
    ("- a list", "expected a mapping"),
    ("endpoint_broken: [", "not valid YAML"),
])
def test_bad_rules_files_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(RulesError, match=message) as caught:
        parse_rules(text, "rules.yaml")
    assert str(caught.value).startswith("rules.yaml")


def test_durations_read_and_print_alike() -> None:
    assert [describe(s) for s in (60, 300, 3600, 21600, 90, 86400)] == ["1m", "5m", "1h", "6h", "90s", "1d"]

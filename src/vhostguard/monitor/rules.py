"""Alerting rules for ``vhostguard watch``: their settings (a YAML file) and their evaluation.

Four rules, each a pure function of the windows at a log-clock time:

* ``slo-burn-rate``: multiwindow, multi-burn-rate SLO alerts as in the SRE
  workbook (chapter 5): page when the error budget burns 14.4x over both
  1 h and 5 m, ticket at 6x over both 6 h and 30 m;
* ``endpoint-broken``: a fast rule for total outages: at least 20 requests
  and at least 50% 5xx within the last 60 s;
* ``traffic-moved``: an endpoint's request rate fell by 90% or more against
  its own baseline while the server still gets traffic (a misroute often
  shows up as requests moving, not as errors);
* ``404-surge``: a vhost's 404s jump, the default vhost especially (requests
  misrouted to a catch-all vhost come out as 404s there).

Every setting and its default is in :data:`DEFAULT_RULES_YAML` (printed by
``vhostguard watch --print-rules``); a ``--rules FILE`` overrides any subset.
"""
from __future__ import annotations

import fnmatch
import math
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any

from vhostguard.monitor.hosts import HostMove, PlannedMove, moved_hosts
from vhostguard.monitor.latency import LatencyCounts, quantile
from vhostguard.monitor.windows import ALL, Key, Totals, WindowSpec, Windows
from vhostguard.yamlload import YamlError, load_yaml

DEFAULT_RULES_YAML = """\
# vhostguard watch rules. Every key is optional: this file lists the defaults.
# Durations: seconds, or a number with s, m, h or d ("90s", "5m", "6h").
# Windows run on the access log's own %t time, advanced by the wall clock
# while the log is quiet. An alert resolves when its condition stops holding.

slo_burn_rate:            # multiwindow, multi-burn-rate SLO alerts (SRE workbook, ch. 5)
  enabled: true
  objective: 0.99         # share of requests that must not be 5xx, per endpoint
  endpoints: []           # per-endpoint objectives, first match wins; glob patterns, e.g.
  #  - {vhost: api.example.com, method: "*", endpoint: "/v1/users/*", objective: 0.999}
  windows:                # fire when the burn rate (error ratio / (1 - objective)) exceeds
                          # factor over BOTH the long and the short window
    - {severity: page, long: 1h, short: 5m, factor: 14.4}
    - {severity: ticket, long: 6h, short: 30m, factor: 6}
  min_requests: 200       # requests the long window needs: on a quiet endpoint a handful
                          # of errors is noise (at 1% errors, 12 failures among 200 requests
                          # come about once in a million windows)
  min_short_requests: 10  # and the short window
  interval: 10s           # how often it is evaluated (log-clock time)

endpoint_broken:          # a total outage, seen within seconds
  enabled: true
  window: 60s             # looks at the most recent stretch of at most this long:
  min_requests: 20        # fires when the last N seconds (N <= window) hold at least
  min_error_ratio: 0.5    # min_requests requests, at least this share of them 5xx
  severity: page
  interval: 1s

traffic_moved:            # an endpoint lost its traffic while the server did not
  enabled: true
  window: 5m              # recent rate, over this window
  baseline: 1h            # compared with the endpoint's own rate over this window
  min_drop: 0.9           # fires when the recent rate is at most (1 - min_drop) x baseline,
  min_expected: 50        # the baseline predicts at least this many requests in the window,
  min_history: 15m        # the endpoint has been seen for at least this long,
  site_min_ratio: 0.5     # and the whole server still gets this share of its own baseline
  severity: ticket
  interval: 30s

not_found_surge:          # 404s jump on a vhost
  enabled: true
  window: 5m
  baseline: 1h            # the vhost's usual 404 rate
  min_count: 50           # fires with at least this many 404s in the window,
  min_ratio: 0.2          # at least this share of the vhost's requests,
  factor: 3               # at least factor x the usual 404 rate,
  min_history: 10m        # once the vhost has been seen this long
  severity: ticket
  default_vhosts: []      # server names treated as default vhosts (with -f CONFIG, the
                          # first vhost of each address set is added)
  default_vhost:          # for default vhosts, where misrouted requests land:
    min_count: 20
    severity: page
  interval: 5s

latency_slo:              # a latency objective per endpoint, e.g. "99% under 300 ms": multiwindow,
  enabled: true           # multi-burn-rate alerts as slo_burn_rate, on the requests slower than
                          # threshold_ms (from %D or %T; off when the LogFormat logs neither)
  objective: 0.99         # share of requests that must take at most threshold_ms
  threshold_ms: 1000
  endpoints: []           # per-endpoint objectives, first match wins; glob patterns, e.g.
  #  - {vhost: api.example.com, method: GET, endpoint: "/v1/users/*", objective: 0.99, threshold_ms: 300}
  windows:
    - {severity: page, long: 1h, short: 5m, factor: 14.4}
    - {severity: ticket, long: 6h, short: 30m, factor: 6}
  min_requests: 200       # requests with a duration the long window needs
  min_short_requests: 10  # and the short window
  interval: 10s

latency_regression:       # an endpoint got slower than it usually is (from %D or %T)
  enabled: true
  window: 5m              # recent durations, over this window
  baseline: 1h            # against the endpoint's own, over this window (before the recent one)
  quantile: 0.95          # compares this quantile (p95)
  factor: 2               # fires when the recent p95 is at least factor x the baseline's,
  min_increase_ms: 100    # and at least this much more,
  min_requests: 50        # with at least this many recent requests,
  min_baseline: 200       # and this many in the baseline
  severity: ticket
  interval: 30s

host_moved:               # a Host now served by another vhost than usual, whatever the status codes
  enabled: true           # on when the LogFormat logs the Host (%{Host}i, or %V with UseCanonicalName
                          # Off) and the serving vhost (%v); off (silently) otherwise
  window: 1m              # recent requests of each Host, over this window
  baseline: 1h            # the vhost that usually serves it, learned over this window (before the recent one)
  min_baseline: 20        # the Host needs this many baseline requests,
  min_usual_share: 0.9    # this share of them served by one vhost (else it has no usual vhost),
  min_requests: 5         # and this many requests in the recent window;
  min_share: 0.5          # fires when at least this share of those went to another vhost,
  known_share: 0.01       # one that served less than this share of its baseline requests (a vhost
                          # that serves some of them anyway, a redirect on :80, is no news).
                          # Recent: the shortest of a sixth, half or all of window holding
                          # min_requests of the Host's requests (a busy Host moves within seconds).
                          # With -f CONFIG the alert names the config line that now decides the
                          # Host, and a reload seen in the error log (AH00493, AH00489, AH00163,
                          # AH00094) re-reads the config and fires at once for each Host it moves.
  max_hosts: 500          # Hosts followed (a Host header is client input: the first ones seen;
                          # with -f CONFIG, the config's ServerNames and ServerAliases always are)
  planned_moves: []       # moves that are no alert; glob patterns, e.g.
  #  - {host: api.example.com, old_vhost: "*", new_vhost: api-v2.example.com}
  severity: page
  interval: 2s

evidence:                 # error-log lines joined to 5xx alerts
  max_lines: 3            # distinct messages shown per alert
  lookback: 30s           # also look this far before the alert's window
"""

SEVERITIES = ("page", "ticket")
_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)\s*\Z")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class RulesError(ValueError):
    """A rules file that cannot be used (``file: message``)."""


# -- settings ------------------------------------------------------------------------

def _duration(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise RulesError(f"{where}: expected a duration, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if m is None:
            raise RulesError(f"{where}: expected a duration like 90s, 5m or 6h, got {value!r}")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds <= 0:
        raise RulesError(f"{where}: must be more than 0")
    return seconds


def _in_scope(vhost: str, method: str, endpoint: str, key: Key) -> bool:
    """Does an endpoint (vhost, method, endpoint) fall under a rule entry's shell-style patterns?"""
    return (fnmatch.fnmatchcase(key[0], vhost) and fnmatch.fnmatchcase(key[1], method)
            and fnmatch.fnmatchcase(key[2], endpoint))


@dataclass(frozen=True)
class BurnWindow:
    severity: str
    long: float
    short: float
    factor: float


@dataclass(frozen=True)
class Objective:
    objective: float
    vhost: str = "*"
    method: str = "*"
    endpoint: str = "*"

    def matches(self, key: Key) -> bool:
        return _in_scope(self.vhost, self.method, self.endpoint, key)


@dataclass(frozen=True)
class SloBurnRate:
    enabled: bool
    objective: float
    endpoints: tuple[Objective, ...]
    windows: tuple[BurnWindow, ...]
    min_requests: int
    min_short_requests: int
    interval: float


@dataclass(frozen=True)
class EndpointBroken:
    enabled: bool
    window: float
    min_requests: int
    min_error_ratio: float
    severity: str
    interval: float


@dataclass(frozen=True)
class TrafficMoved:
    enabled: bool
    window: float
    baseline: float
    min_drop: float
    min_expected: float
    min_history: float
    site_min_ratio: float
    severity: str
    interval: float


@dataclass(frozen=True)
class DefaultVhost:
    min_count: float
    severity: str


@dataclass(frozen=True)
class NotFoundSurge:
    enabled: bool
    window: float
    baseline: float
    min_count: float
    min_ratio: float
    factor: float
    min_history: float
    severity: str
    default_vhosts: tuple[str, ...]
    default_vhost: DefaultVhost
    interval: float


@dataclass(frozen=True)
class LatencyObjective:
    objective: float
    threshold_ms: float
    vhost: str = "*"
    method: str = "*"
    endpoint: str = "*"

    def matches(self, key: Key) -> bool:
        return _in_scope(self.vhost, self.method, self.endpoint, key)


@dataclass(frozen=True)
class LatencySlo:
    enabled: bool
    objective: float
    threshold_ms: float
    endpoints: tuple[LatencyObjective, ...]
    windows: tuple[BurnWindow, ...]
    min_requests: int
    min_short_requests: int
    interval: float

    def for_key(self, key: Key) -> tuple[float, float]:
        """(objective, threshold in ms) of an endpoint: the first matching entry, else the defaults."""
        found = next((o for o in self.endpoints if o.matches(key)), None)
        return (found.objective, found.threshold_ms) if found else (self.objective, self.threshold_ms)


@dataclass(frozen=True)
class LatencyRegression:
    enabled: bool
    window: float
    baseline: float
    quantile: float
    factor: float
    min_increase_ms: float
    min_requests: float
    min_baseline: float
    severity: str
    interval: float


@dataclass(frozen=True)
class HostMovedRule:
    enabled: bool
    window: float
    baseline: float
    min_baseline: float
    min_usual_share: float
    min_requests: float
    min_share: float
    known_share: float
    max_hosts: int
    planned_moves: tuple[PlannedMove, ...]
    severity: str
    interval: float


@dataclass(frozen=True)
class Evidence:
    max_lines: int
    lookback: float


@dataclass(frozen=True)
class Rules:
    slo_burn_rate: SloBurnRate
    endpoint_broken: EndpointBroken
    traffic_moved: TrafficMoved
    not_found_surge: NotFoundSurge
    latency_slo: LatencySlo
    latency_regression: LatencyRegression
    host_moved: HostMovedRule
    evidence: Evidence

    def window_specs(self) -> list[WindowSpec]:
        """The window lengths the rules read, each kept once."""
        lengths = {spec for w in self.slo_burn_rate.windows for spec in (w.long, w.short)}
        lengths |= {self.traffic_moved.window, self.traffic_moved.baseline,
                    self.not_found_surge.window, self.not_found_surge.baseline}
        return [WindowSpec(math.ceil(length)) for length in sorted(lengths)]

    def host_window_specs(self) -> list[WindowSpec]:
        """The windows of the per-Host counts (``host-moved``): the recent stretches (a sixth, half and
        all of ``window``), then the baseline."""
        window = self.host_moved.window
        stretches = sorted({math.ceil(window / 6), math.ceil(window / 2), math.ceil(window)})
        return [WindowSpec(length) for length in (*stretches, math.ceil(self.host_moved.baseline))]

    def latency_window_specs(self) -> list[WindowSpec]:
        """The windows of the slow-request counts (``latency-slo``)."""
        lengths = {length for w in self.latency_slo.windows for length in (w.long, w.short)}
        return [WindowSpec(math.ceil(length)) for length in sorted(lengths)]

    def histogram_specs(self) -> list[WindowSpec]:
        """The windows of the duration histograms (``latency-regression``): recent, then baseline."""
        regression = self.latency_regression
        return [WindowSpec(math.ceil(regression.window)), WindowSpec(math.ceil(regression.baseline))]

    def with_default_vhosts(self, names: Iterable[str]) -> Rules:
        surge = self.not_found_surge
        merged = tuple(dict.fromkeys((*surge.default_vhosts, *names)))
        return replace(self, not_found_surge=replace(surge, default_vhosts=merged))


# Which settings are durations (the rest take their type from the annotations).
_DURATIONS = {"long", "short", "interval", "window", "baseline", "min_history", "lookback"}


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise RulesError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(map(str, data)) - known)
    if unknown:
        raise RulesError(f"{where}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        values[f.name] = _convert(hints[f.name], f.name, data[f.name], f"{where}.{f.name}")
    try:
        return cls(**values)
    except TypeError as problem:
        raise RulesError(f"{where}: {problem}") from None


def _convert(kind: Any, name: str, value: Any, where: str) -> Any:
    if name in _DURATIONS:
        return _duration(value, where)
    origin = typing.get_origin(kind)
    if origin is tuple:
        item = typing.get_args(kind)[0]
        if not isinstance(value, list):
            raise RulesError(f"{where}: expected a list")
        return tuple(_convert(item, "", v, f"{where}[{i}]") for i, v in enumerate(value))
    if is_dataclass(kind):
        return _build(kind, value, where)  # type: ignore[arg-type]
    if kind is bool:
        if not isinstance(value, bool):
            raise RulesError(f"{where}: expected true or false, got {value!r}")
        return value
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RulesError(f"{where}: expected a number, got {value!r}")
        return kind(value)
    if kind is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise RulesError(f"{where}: expected text, got {value!r}")
        return str(value)
    raise RulesError(f"{where}: unsupported setting")  # pragma: no cover - the dataclasses above


def _merge(base: Any, over: Any) -> Any:
    """``over`` on top of ``base``: mappings merge key by key, anything else replaces."""
    if isinstance(base, Mapping) and isinstance(over, Mapping):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    return over


def parse_rules(text: str = "", origin: str = "<rules>") -> Rules:
    """The defaults with the YAML ``text`` on top; raises RulesError naming ``origin``."""
    defaults = load_yaml(DEFAULT_RULES_YAML, "<default rules>")
    try:
        user = load_yaml(text, origin) if text.strip() else {}
    except YamlError as problem:
        raise RulesError(str(problem)) from None
    if user is None:
        user = {}
    if not isinstance(user, Mapping):
        raise RulesError(f"{origin}: expected a mapping of rule names to settings")
    rules: Rules = _build(Rules, _merge(defaults, user), origin)
    _check(rules, origin)
    return rules


def load_rules(path: str | None) -> Rules:
    """``parse_rules`` of a file (None: the defaults); raises OSError or RulesError."""
    if path is None:
        return parse_rules()
    with open(path, encoding="utf-8") as handle:
        return parse_rules(handle.read(), path)


def _latency_problems(rules: Rules) -> list[str]:
    problems: list[str] = []
    latency = rules.latency_slo
    for objective, threshold in ((latency.objective, latency.threshold_ms),
                                 *((o.objective, o.threshold_ms) for o in latency.endpoints)):
        if not 0 < objective < 1:
            problems.append("latency_slo: an objective must be between 0 and 1 (e.g. 0.99)")
        if threshold <= 0:
            problems.append("latency_slo: threshold_ms must be more than 0")
    if not 0 < rules.latency_regression.quantile < 1:
        problems.append("latency_regression.quantile: must be between 0 and 1 (e.g. 0.95)")
    return problems


def _burn_window_problems(rules: Rules) -> list[str]:
    problems: list[str] = []
    for name, burn_windows in (("slo_burn_rate", rules.slo_burn_rate.windows), ("latency_slo", rules.latency_slo.windows)):
        for i, w in enumerate(burn_windows):
            if w.severity not in SEVERITIES:
                problems.append(f"{name}.windows[{i}].severity: must be page or ticket")
            if w.short >= w.long:
                problems.append(f"{name}.windows[{i}]: short must be shorter than long")
            if w.factor <= 0:
                problems.append(f"{name}.windows[{i}].factor: must be more than 0")
    return problems


def _check(rules: Rules, origin: str) -> None:
    burn = rules.slo_burn_rate
    problems: list[str] = []
    for objective in (burn.objective, *(o.objective for o in burn.endpoints)):
        if not 0 < objective < 1:
            problems.append("slo_burn_rate: an objective must be between 0 and 1 (e.g. 0.99)")
    problems += _latency_problems(rules)
    problems += _burn_window_problems(rules)
    for name, severity in (("endpoint_broken", rules.endpoint_broken.severity),
                           ("traffic_moved", rules.traffic_moved.severity),
                           ("not_found_surge", rules.not_found_surge.severity),
                           ("not_found_surge.default_vhost", rules.not_found_surge.default_vhost.severity),
                           ("host_moved", rules.host_moved.severity),
                           ("latency_regression", rules.latency_regression.severity)):
        if severity not in SEVERITIES:
            problems.append(f"{name}.severity: must be page or ticket")
    for name, ratio in (("endpoint_broken.min_error_ratio", rules.endpoint_broken.min_error_ratio),
                        ("traffic_moved.min_drop", rules.traffic_moved.min_drop),
                        ("traffic_moved.site_min_ratio", rules.traffic_moved.site_min_ratio),
                        ("not_found_surge.min_ratio", rules.not_found_surge.min_ratio),
                        ("host_moved.min_usual_share", rules.host_moved.min_usual_share),
                        ("host_moved.min_share", rules.host_moved.min_share),
                        ("host_moved.known_share", rules.host_moved.known_share)):
        if not 0 <= ratio <= 1:
            problems.append(f"{name}: must be between 0 and 1")
    if rules.host_moved.max_hosts < 1:
        problems.append("host_moved.max_hosts: must be at least 1")
    for name, pair in (("traffic_moved", rules.traffic_moved), ("not_found_surge", rules.not_found_surge),
                       ("host_moved", rules.host_moved), ("latency_regression", rules.latency_regression)):
        if pair.window >= pair.baseline:
            problems.append(f"{name}: window must be shorter than baseline")
    if problems:
        raise RulesError(f"{origin}: {problems[0]}")


# -- findings ---------------------------------------------------------------------------

AlertKey = tuple[str, str, str, str | None, str | None]  # rule, severity, vhost, method, endpoint


@dataclass(frozen=True)
class Finding:
    """A rule's condition holding for one vhost/endpoint at a log-clock time.

    ``since`` is where the evidence for it starts (log-clock seconds);
    ``causes`` the error-log codes that explain it (empty: no error-log join).
    """

    rule: str
    severity: str
    vhost: str
    method: str | None
    endpoint: str | None
    observed: dict[str, Any]
    summary: str
    since: float
    causes: tuple[str, ...] = ()

    @property
    def key(self) -> AlertKey:
        return (self.rule, self.severity, self.vhost, self.method, self.endpoint)


def describe(seconds: float) -> str:
    """``3600`` -> ``1h``, ``300`` -> ``5m``, ``90`` -> ``90s``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _where(key: Key) -> str:
    return f"{key[0]} {key[1]} {key[2]}"


def host_moves(baseline: Mapping[str, Mapping[str, float]], window: Mapping[str, Mapping[str, float]],
               rules: Rules) -> list[HostMove]:
    """``hosts.moved_hosts`` with the settings of ``rules.host_moved``: the Hosts that ``window``'s
    requests (Host -> serving vhost -> count) show served by another vhost than ``baseline``'s."""
    cfg = rules.host_moved
    return moved_hosts(baseline, window, min_baseline=cfg.min_baseline, min_usual_share=cfg.min_usual_share,
                       min_requests=cfg.min_requests, min_share=cfg.min_share, known_share=cfg.known_share,
                       planned=cfg.planned_moves)


# -- evaluation --------------------------------------------------------------------------

class Evaluator:
    """Evaluates the rules on ``windows``; one method per rule, each returning what holds now."""

    def __init__(self, rules: Rules, windows: Windows, server_errors: tuple[str, ...],
                 not_found: tuple[str, ...], hosts: Windows | None = None,
                 latency: LatencyCounts | None = None) -> None:
        """``hosts``: requests per (Host, vhost, "") over ``rules.host_window_specs()`` (None: the
        log does not say which Host was asked for, and ``host-moved`` is off); ``latency``: slow
        requests and durations per endpoint (None: the log has no durations, the latency rules are off)."""
        self.rules = rules
        self.windows = windows
        self.server_errors = server_errors
        self.not_found = not_found
        layout = windows.layout
        self._burn = [(w, layout.index(math.ceil(w.long)), layout.index(math.ceil(w.short)))
                      for w in rules.slo_burn_rate.windows]
        moved, surge = rules.traffic_moved, rules.not_found_surge
        self._moved = (layout.index(math.ceil(moved.window)), layout.index(math.ceil(moved.baseline)))
        self._surge = (layout.index(math.ceil(surge.window)), layout.index(math.ceil(surge.baseline)))
        self._objectives: dict[Key, float] = {}
        self.hosts = hosts
        self.latency = latency
        if latency is not None and latency.slow is not None:
            slow_layout = latency.slow.layout
            self._latency_burn = [(w, slow_layout.index(math.ceil(w.long)), slow_layout.index(math.ceil(w.short)))
                                  for w in rules.latency_slo.windows]
        # host-moved's inputs from outside the windows (set by the watch loop): moves a reloaded
        # config makes (Host -> finding), the config line that sends a Host to a vhost, and
        # example requests (log file:line) of a Host served by a vhost.
        self.reloaded: dict[str, Finding] = {}
        self.where: Callable[[str, str], str | None] = lambda host, vhost: None
        self.examples: Callable[[str, str], list[str]] = lambda host, vhost: []

    def due(self) -> list[tuple[str, float]]:
        """(rule name, interval) of the enabled rules."""
        r = self.rules
        table = [("endpoint-broken", r.endpoint_broken.enabled, r.endpoint_broken.interval),
                 ("slo-burn-rate", r.slo_burn_rate.enabled, r.slo_burn_rate.interval),
                 ("traffic-moved", r.traffic_moved.enabled, r.traffic_moved.interval),
                 ("404-surge", r.not_found_surge.enabled, r.not_found_surge.interval),
                 ("host-moved", r.host_moved.enabled and self.hosts is not None, r.host_moved.interval),
                 ("latency-slo", self.latency is not None and self.latency.slow is not None, r.latency_slo.interval),
                 ("latency-regression", self.latency is not None and self.latency.histograms is not None,
                  r.latency_regression.interval)]
        return [(name, interval) for name, enabled, interval in table if enabled]

    def evaluate(self, rule: str, now: float) -> dict[AlertKey, Finding]:
        method = {"endpoint-broken": self.endpoint_broken, "slo-burn-rate": self.slo_burn_rate,
                  "traffic-moved": self.traffic_moved, "404-surge": self.not_found_surge,
                  "host-moved": self.host_moved, "latency-slo": self.latency_slo,
                  "latency-regression": self.latency_regression}[rule]
        return {finding.key: finding for finding in method(now)}

    # endpoint-broken

    def endpoint_broken(self, now: float) -> Iterable[Finding]:
        cfg = self.rules.endpoint_broken
        windows = self.windows
        min_errors = max(1, math.ceil(cfg.min_requests * cfg.min_error_ratio))
        for key in list(windows.recent_errors(now - cfg.window)):
            if windows.fine_error_bound(key) < min_errors:
                continue  # cannot hold: not enough errors in the per-second ring at all
            suffix = windows.broken_suffix(key, now, cfg.min_requests, cfg.min_error_ratio, cfg.window)
            if suffix is None:
                continue
            observed = {"requests": suffix.requests, "errors_5xx": suffix.errors,
                        "error_ratio": round(suffix.errors / suffix.requests, 4), "seconds": suffix.seconds}
            yield Finding("endpoint-broken", cfg.severity, *key, observed,
                          f"5xx on {_where(key)}: {suffix.errors} of {suffix.requests} requests failed "
                          f"in the last {suffix.seconds}s", now - suffix.seconds, self.server_errors)

    # slo-burn-rate

    def objective(self, key: Key) -> float:
        cfg = self.rules.slo_burn_rate
        if not cfg.endpoints:
            return cfg.objective
        found = self._objectives.get(key)  # bounded: keys are (endpoint cap)
        if found is None:
            found = self._objectives[key] = next((o.objective for o in cfg.endpoints if o.matches(key)),
                                                 cfg.objective)
        return found

    def slo_burn_rate(self, now: float) -> Iterable[Finding]:
        cfg = self.rules.slo_burn_rate
        longest_short = max((w.short for w in cfg.windows), default=0.0)
        for key in list(self.windows.recent_errors(now - longest_short)):
            budget = 1.0 - self.objective(key)
            for window, long_i, short_i in self._burn:
                burns = self._burns(key, now, short_i, long_i, window.factor * budget)
                if burns is None:
                    continue
                short_burn, long_burn, requests = burns[0] / budget, burns[1] / budget, burns[2]
                observed = {"objective": 1.0 - budget, "burn_rate_short": round(short_burn, 2),
                            "burn_rate_long": round(long_burn, 2), "short_window": describe(window.short),
                            "long_window": describe(window.long), "factor": window.factor,
                            "requests_long": round(requests, 1)}
                yield Finding("slo-burn-rate", window.severity, *key, observed,
                              f"5xx on {_where(key)}: error budget burning {short_burn:.1f}x over "
                              f"{describe(window.short)} and {long_burn:.1f}x over {describe(window.long)} "
                              f"(objective {(1.0 - budget) * 100:g}%)", now - window.short, self.server_errors)

    def _burns(self, key: Key, now: float, short_i: int, long_i: int, threshold: float,
               windows: Windows | None = None, mins: tuple[int, int] | None = None) -> tuple[float, float, float] | None:
        """(short ratio, long ratio, long requests) when the 5xx column's ratio reaches ``threshold``
        over both windows (``windows``: the error windows unless given; ``mins``: the long and short
        windows' minimum requests, slo_burn_rate's unless given)."""
        cfg = self.rules.slo_burn_rate
        windows = windows or self.windows
        min_long, min_short = mins or (cfg.min_requests, cfg.min_short_requests)
        short = windows.totals(key, short_i, now)
        if short is None or short.requests < min_short or short.errors < threshold * short.requests:
            return None
        long = windows.totals(key, long_i, now)
        if long is None or long.requests < min_long or long.errors < threshold * long.requests:
            return None
        return short.errors / short.requests, long.errors / long.requests, long.requests

    # traffic-moved

    def traffic_moved(self, now: float) -> Iterable[Finding]:
        cfg = self.rules.traffic_moved
        recent_i, base_i = self._moved
        site = self._rates(self.windows.site_totals(ALL, recent_i, now), self.windows.site_totals(ALL, base_i, now),
                           self.windows.site_born(ALL), now, cfg.window)
        if site is None or site[0] < cfg.site_min_ratio * site[1]:
            return  # the whole server is quiet: nothing has moved, there is just less traffic
        youngest = now - cfg.window - cfg.min_history
        for key, slots in list(self.windows.keys.items()):
            if slots[0] > youngest:
                continue
            rates = self._rates(self.windows.totals(key, recent_i, now), self.windows.totals(key, base_i, now),
                                slots[0], now, cfg.window)
            if rates is None:
                continue
            recent, baseline = rates
            if baseline * cfg.window < cfg.min_expected or recent > (1.0 - cfg.min_drop) * baseline:
                continue
            observed = {"rate_per_min": round(recent * 60, 2), "baseline_per_min": round(baseline * 60, 2),
                        "drop": round(1 - recent / baseline, 3), "server_rate_per_min": round(site[0] * 60, 2),
                        "window": describe(cfg.window), "baseline_window": describe(cfg.baseline)}
            yield Finding("traffic-moved", cfg.severity, *key, observed,
                          f"traffic moved away from {_where(key)}: {recent * 60:.1f}/min over the last "
                          f"{describe(cfg.window)} against {baseline * 60:.1f}/min before "
                          f"(-{1 - recent / baseline:.0%}), while the server still gets {site[0] * 60:.0f}/min",
                          now - cfg.window)

    @staticmethod
    def _rates(recent: Totals | None, base: Totals | None, born: int | None, now: float,
               window: float) -> tuple[float, float] | None:
        """(recent rate, baseline rate before the recent window), per second, or None without history.

        The baseline counts only the time the key has existed, so a key seen
        for 20 minutes has a 15-minute baseline, not an hour diluted by zeros.
        """
        if recent is None or base is None or born is None:
            return None
        history = min(base.span, now - born) - recent.span
        if history <= 0:
            return None
        return recent.requests / recent.span, max(0.0, base.requests - recent.requests) / history

    # 404-surge

    def not_found_surge(self, now: float) -> Iterable[Finding]:
        cfg = self.rules.not_found_surge
        recent_i, base_i = self._surge
        defaults = set(cfg.default_vhosts)
        for vhost in list(self.windows.sites):
            if vhost == ALL:
                continue
            born = self.windows.site_born(vhost)
            recent = self.windows.site_totals(vhost, recent_i, now)
            base = self.windows.site_totals(vhost, base_i, now)
            if born is None or recent is None or base is None or now - born < cfg.min_history:
                continue
            is_default = vhost in defaults
            min_count = cfg.default_vhost.min_count if is_default else cfg.min_count
            history = min(base.span, now - born) - recent.span
            usual = max(0.0, base.not_found - recent.not_found) / history if history > 0 else 0.0
            count = recent.not_found
            if count < min_count or count < cfg.min_ratio * recent.requests:
                continue
            if count < cfg.factor * usual * recent.span:
                continue
            times = count / (usual * recent.span) if usual > 0 else None
            observed = {"not_found": round(count, 1), "requests": round(recent.requests, 1),
                        "ratio": round(count / recent.requests, 3) if recent.requests else None,
                        "usual_per_min": round(usual * 60, 2), "window": describe(cfg.window),
                        "default_vhost": is_default}
            label = " (default vhost)" if is_default else ""
            against = f"{times:.1f}x its usual rate" if times is not None else "it usually has none"
            yield Finding("404-surge", cfg.default_vhost.severity if is_default else cfg.severity,
                          vhost, None, None, observed,
                          f"404 surge on {vhost}{label}: {count:.0f} 404s over the last {describe(cfg.window)}, "
                          f"{count / max(recent.requests, 1):.0%} of its requests, {against}",
                          now - cfg.window, self.not_found)

    # host-moved

    def host_counts(self, now: float) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
        """(baseline, recent): requests per Host and serving vhost.

        Recent is the most recent stretch (a sixth, half, or all of the
        rule's window) that holds ``min_requests`` of the Host's requests,
        the shortest that does: a busy Host's move shows within seconds, a
        quiet one's over the whole window. The baseline is the part of its
        window before the recent window, so a move does not teach itself.
        """
        baseline: dict[str, dict[str, float]] = {}
        recent: dict[str, dict[str, float]] = {}
        if self.hosts is None:
            return baseline, recent
        specs = len(self.hosts.layout.specs)
        stretches: dict[str, list[dict[str, float]]] = {}
        for key in list(self.hosts.keys):
            host, vhost = key[0], key[1]
            totals = [self.hosts.totals(key, i, now) for i in range(specs)]
            per_stretch = stretches.setdefault(host, [{} for _ in range(specs - 1)])
            for i, total in enumerate(totals[:-1]):
                if total is not None and total.requests > 0:
                    per_stretch[i][vhost] = total.requests
            window, longer = totals[-2], totals[-1]
            if window is not None and longer is not None and longer.requests - window.requests > 0:
                baseline.setdefault(host, {})[vhost] = longer.requests - window.requests
        wanted = self.rules.host_moved.min_requests
        for host, per_stretch in stretches.items():
            chosen = next((counts for counts in per_stretch if sum(counts.values()) >= wanted), per_stretch[-1])
            if chosen:
                recent[host] = chosen
        return baseline, recent

    def moved(self, now: float) -> list[HostMove]:
        """The Hosts moved at ``now`` (``host_moves`` of the per-Host windows)."""
        return host_moves(*self.host_counts(now), self.rules)

    def host_moved(self, now: float) -> Iterable[Finding]:
        cfg = self.rules.host_moved
        baseline, recent = self.host_counts(now)
        moves = host_moves(baseline, recent, self.rules)
        seen: set[str] = set()
        for move in moves:
            seen.add(move.host)
            line = self.where(move.host, move.new)
            decided = f" ({line})" if line else ""
            observed: dict[str, Any] = {
                "host": move.host, "usual_vhost": move.usual, "new_vhost": move.new, "requests": round(move.requests, 1),
                "moved": round(move.moved, 1), "share": round(move.share, 3), "baseline_requests": round(move.baseline, 1),
                "window": describe(cfg.window), "baseline_window": describe(cfg.baseline), "config": line,
                "examples": self.examples(move.host, move.new), "source": "traffic"}
            yield Finding("host-moved", cfg.severity, move.usual, None, move.host, observed,
                          f"{move.host} is now served by {move.new}{decided}: {move.moved:.0f} of its "
                          f"{move.requests:.0f} recent requests, whatever their "
                          f"status (usually {move.usual}: {move.baseline:.0f} requests over the "
                          f"{describe(cfg.baseline)} before)", now - cfg.window)
        for host, finding in list(self.reloaded.items()):
            if host in seen:
                continue
            window = recent.get(host, {})
            total = sum(window.values())
            elsewhere = sum(n for vhost, n in window.items() if vhost.lower() != finding.vhost.lower())
            if now - finding.since >= cfg.window and total >= cfg.min_requests and elsewhere < cfg.min_share * total:
                # A whole window of traffic since the reload and the Host is still served as usual:
                # the requests say more than the offline routing (another port, a later fix).
                del self.reloaded[host]
                continue
            yield finding

    # latency-slo

    def latency_slo(self, now: float) -> Iterable[Finding]:
        cfg = self.rules.latency_slo
        slow = self.latency.slow if self.latency is not None else None
        if slow is None:
            return
        longest_short = max((w.short for w in cfg.windows), default=0.0)
        for key in list(slow.recent_errors(now - longest_short)):
            objective, threshold_ms = cfg.for_key(key)
            budget = 1.0 - objective
            for window, long_i, short_i in self._latency_burn:
                burns = self._burns(key, now, short_i, long_i, window.factor * budget, slow,
                                    (cfg.min_requests, cfg.min_short_requests))
                if burns is None:
                    continue
                short_burn, long_burn = burns[0] / budget, burns[1] / budget
                observed = {"objective": objective, "threshold_ms": threshold_ms,
                            "slow_ratio_short": round(burns[0], 4), "burn_rate_short": round(short_burn, 2),
                            "burn_rate_long": round(long_burn, 2), "short_window": describe(window.short),
                            "long_window": describe(window.long), "factor": window.factor,
                            "requests_long": round(burns[2], 1)}
                yield Finding("latency-slo", window.severity, *key, observed,
                              f"slow {_where(key)}: {burns[0]:.1%} of requests over {threshold_ms:g} ms in the "
                              f"last {describe(window.short)}; latency budget burning {short_burn:.1f}x over "
                              f"{describe(window.short)} and {long_burn:.1f}x over {describe(window.long)} "
                              f"(objective {objective * 100:g}% under {threshold_ms:g} ms)", now - window.short)

    # latency-regression

    def latency_regression(self, now: float) -> Iterable[Finding]:
        cfg = self.rules.latency_regression
        histograms = self.latency.histograms if self.latency is not None else None
        if histograms is None:
            return
        for key in list(histograms.keys):
            recent = histograms.counts(key, 0, now)
            longer = histograms.counts(key, 1, now)
            if recent is None or longer is None or sum(recent) < cfg.min_requests:
                continue
            before = [max(0.0, b - r) for b, r in zip(longer, recent, strict=True)]
            if sum(before) < cfg.min_baseline:
                continue
            now_q, usual_q = quantile(recent, cfg.quantile), quantile(before, cfg.quantile)
            if now_q is None or usual_q is None:
                continue
            if now_q < cfg.factor * usual_q or (now_q - usual_q) * 1000 < cfg.min_increase_ms:
                continue
            name = f"p{cfg.quantile * 100:g}"
            observed = {"quantile": cfg.quantile, "recent_seconds": round(now_q, 4), "baseline_seconds": round(usual_q, 4),
                        "requests": round(sum(recent), 1), "baseline_requests": round(sum(before), 1),
                        "window": describe(cfg.window), "baseline_window": describe(cfg.baseline)}
            yield Finding("latency-regression", cfg.severity, *key, observed,
                          f"slower {_where(key)}: {name} {now_q * 1000:.0f} ms over the last {describe(cfg.window)} "
                          f"against {usual_q * 1000:.0f} ms over the {describe(cfg.baseline)} before "
                          f"({now_q / usual_q:.1f}x, {sum(recent):.0f} requests)", now - cfg.window)

"""Shared pieces of the watch tests: log lines at chosen times, a recording sink, a watcher on files."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, UTC
from pathlib import Path

from vhostguard.logs import parser_for
from vhostguard.monitor.alerts import FIRING, Alert
from vhostguard.monitor.clock import ManualClock
from vhostguard.monitor.errorlog import ErrorLogTarget
from vhostguard.monitor.rules import Rules, parse_rules
from vhostguard.monitor.watch import AccessLog, Watch, WatchOptions

# vhost_combined with %D, as the benchmark and most API stacks log it.
FORMAT = '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D'
T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


def clf(t: float) -> str:
    return datetime.fromtimestamp(int(t), UTC).strftime("[%d/%b/%Y:%H:%M:%S +0000]")


def line(t: float, path: str = "/v1/users/1", status: int = 200, vhost: str = "api.example.com",
         method: str = "GET", duration_us: int = 1500) -> str:
    return f'{vhost}:80 192.0.2.7 - - {clf(t)} "{method} {path} HTTP/1.1" {status} 120 "-" "test/1.0" {duration_us}\n'


def traffic(start: float, seconds: int, per_second: int, path: Callable[[int], str] | str = "/v1/users/1",
            status: Callable[[float, int], int] | int = 200, vhost: str = "api.example.com") -> list[str]:
    """``per_second`` lines per second for ``seconds`` seconds from ``start``."""
    out = []
    for s in range(seconds):
        t = start + s
        for i in range(per_second):
            p = path(i) if callable(path) else path
            code = status(t, i) if callable(status) else status
            out.append(line(t, p, code, vhost))
    return out


def append(path: Path, lines: Iterable[str]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("".join(lines))


@dataclass
class Recorder:
    """A sink that keeps every transition."""

    name: str = "recorder"
    alerts: list[Alert] = field(default_factory=list)
    ticks: int = 0

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)

    def tick(self, wall: float, firing: Sequence[Alert]) -> None:
        self.ticks += 1

    def outcomes(self) -> dict[str, int]:
        return {"sent": len(self.alerts)}

    def close(self, timeout: float = 5.0) -> None:
        pass

    def firing(self, rule: str | None = None) -> list[Alert]:
        return [a for a in self.alerts if a.state == FIRING and (rule is None or a.rule == rule)]

    def resolved(self, rule: str | None = None) -> list[Alert]:
        return [a for a in self.alerts if a.state != FIRING and (rule is None or a.rule == rule)]


def watcher(logs: Sequence[Path], clock: ManualClock, sink: Recorder, *, state: Path | None = None,
            rules: Rules | None = None, error_logs: Sequence[Path] = (), from_start: bool = True,
            follow_wall: bool = True, fmt: str = FORMAT, report: Callable[[str], None] | None = None,
            sinks: Sequence[object] = (), **options: object) -> Watch:
    parser = parser_for(fmt)
    watch = Watch([AccessLog(os.fspath(p), parser) for p in logs], [ErrorLogTarget(os.fspath(p)) for p in error_logs],
                  [sink, *sinks], WatchOptions(rules=rules or parse_rules(), state_dir=os.fspath(state) if state else None,
                                       from_start=from_start, follow_wall=follow_wall, **options),  # type: ignore[arg-type]
                  clock, **({"report": report} if report else {}))  # type: ignore[arg-type]
    watch.start()
    return watch

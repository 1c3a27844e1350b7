"""A small access-log generator that keeps its own ground truth, for the report tests.

The truth is what the generator *wrote* (vhost, method, the template it
filled in, status, bytes, duration, time), never what vhostguard reads back.
The tests at the bottom check the generator itself with a plain regex.
"""
from __future__ import annotations

import gzip
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

VHOST_COMBINED_D = '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D'
START = 1_705_849_200  # 2024-01-21T15:00:00Z

# (template the report must show, how to fill it in)
TEMPLATES = (
    ("/v1/users/{id}", lambda r: f"/v1/users/{r.randrange(1, 10**6)}"),
    ("/v1/users/{id}/orders/{id}", lambda r: f"/v1/users/{r.randrange(1, 999)}/orders/{r.getrandbits(64):016x}"),
    ("/v1/orders/{id}", lambda r: "/v1/orders/" + _uuid(r)),
    ("/v1/items/{id}.json", lambda r: f"/v1/items/{r.randrange(1, 10**5)}.json"),
    ("/v1/users/{email}/prefs", lambda r: f"/v1/users/u{r.randrange(99)}@example.com/prefs"),
    ("/v1/reports/{date}", lambda r: f"/v1/reports/2024-01-{r.randrange(1, 29):02d}"),
    ("/v1/search", lambda r: "/v1/search"),
    ("/", lambda r: "/"),
)
VHOSTS = ("api.example.com", "www.example.com", "shop.example.com")
METHODS = ("GET", "GET", "GET", "POST", "DELETE")
STATUSES = (200, 200, 200, 200, 201, 204, 301, 304, 404, 403, 500, 503)


def _uuid(r: random.Random) -> str:
    h = f"{r.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass
class Row:
    requests: int = 0
    status: list[int] = field(default_factory=lambda: [0] * 5)
    bytes: int = 0
    durations: list[int] = field(default_factory=list)
    first: int | None = None
    last: int | None = None

    def add(self, status: int, size: int, duration: int, second: int) -> None:
        self.requests += 1
        if 100 <= status <= 599:
            self.status[status // 100 - 1] += 1
        self.bytes += size
        self.durations.append(duration)
        self.first = second if self.first is None else min(self.first, second)
        self.last = second if self.last is None else max(self.last, second)


@dataclass
class Written:
    """What a generated log holds."""

    path: Path
    lines: int = 0
    malformed_lines: list[int] = field(default_factory=list)  # 1-based
    rows: dict[tuple[str, str, str], Row] = field(default_factory=dict)
    minutes: dict[tuple[int, str], list[int]] = field(default_factory=dict)  # (minute, vhost) -> [requests, 5xx]
    errors_at: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)  # 5xx seconds per row
    row_minutes: dict[tuple[str, str, str], dict[int, list[int]]] = field(default_factory=dict)  # [requests, 5xx]

    @property
    def malformed(self) -> int:
        return len(self.malformed_lines)

    @property
    def valid(self) -> int:
        return self.lines - self.malformed


@dataclass
class Plan:
    """What to write: ``lines`` over ``seconds`` from ``start``; ``outage`` makes one row fail."""

    lines: int = 2000
    seconds: int = 3600
    start: int = START
    seed: int = 7
    malformed_every: int = 0  # every N-th line is made malformed (0: none)
    offset_minutes: int = 0  # the zone httpd wrote %t in
    outage: tuple[int, int] | None = None  # seconds [from, to) where api GET /v1/orders/{id} answers 502
    error_rate: float = 0.0  # besides the statuses table, extra 5xx everywhere
    templates: tuple[tuple[str, object], ...] = TEMPLATES
    statuses: tuple[int, ...] = STATUSES


def clf_time(second: int, offset_minutes: int) -> str:
    zone = timezone(timedelta(minutes=offset_minutes))
    moment = datetime.fromtimestamp(second, zone)
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return moment.strftime("%d/%b/%Y:%H:%M:%S ") + f"{sign}{hours:02d}{minutes:02d}"


def make_line(rng: random.Random, plan: Plan, number: int) -> tuple[str, tuple[str, str, str], int, int, int, int]:
    vhost = rng.choice(VHOSTS)
    method = rng.choice(METHODS)
    template, fill = rng.choice(plan.templates)
    path = fill(rng)  # type: ignore[operator]
    query = rng.choice(("", "", f"?page={rng.randrange(9)}", '?q=\\"x\\"'))
    second = plan.start + number * plan.seconds // plan.lines
    status = rng.choice(plan.statuses)
    if plan.error_rate and rng.random() < plan.error_rate:
        status = 500
    key = (vhost, method, template)
    if plan.outage and plan.outage[0] <= second - plan.start < plan.outage[1] and key == (
            "api.example.com", "GET", "/v1/orders/{id}"):
        status = 502
    size = rng.randrange(0, 5000)
    duration = int(rng.lognormvariate(9, 1.2))
    ua = rng.choice(("curl/8.5.0", 'bot \\"q\\"'))
    line = (f'{vhost}:443 10.0.0.{rng.randrange(1, 255)} - - [{clf_time(second, plan.offset_minutes)}] '
            f'"{method} {path}{query} HTTP/1.1" {status} {size} "-" "{ua}" {duration}')
    return line, key, status, size, duration, second


def write_log(path: Path, plan: Plan, compress: bool = False) -> Written:
    rng = random.Random(plan.seed)
    written = Written(path)
    out: list[str] = []
    for number in range(plan.lines):
        line, key, status, size, duration, second = make_line(rng, plan, number)
        written.lines += 1
        if plan.malformed_every and (number + 1) % plan.malformed_every == 0:
            out.append(line[: line.rindex('"') - 3])  # truncated before its last quote
            written.malformed_lines.append(number + 1)
            continue
        out.append(line)
        written.rows.setdefault(key, Row()).add(status, size, duration, second)
        cell = written.minutes.setdefault((second - second % 60, key[0]), [0, 0])
        row_cell = written.row_minutes.setdefault(key, {}).setdefault(second - second % 60, [0, 0])
        cell[0] += 1
        row_cell[0] += 1
        if 500 <= status <= 599:
            cell[1] += 1
            row_cell[1] += 1
            written.errors_at.setdefault(key, []).append(second)
    data = "\n".join(out) + "\n"
    if compress:
        path.write_bytes(gzip.compress(data.encode()))
    else:
        path.write_text(data)
    return written


def exact_quantile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


# --- the generator itself ---------------------------------------------------------------------

_LINE = re.compile(r'(\S+):443 \S+ - - \[([^\]]+)\] "(\S+) (\S+) HTTP/1.1" (\d{3}) (\d+) "-" "(?:[^"\\]|\\.)*" (\d+)\Z')


def test_generator_truth_matches_a_plain_regex_reading(tmp_path: Path) -> None:
    written = write_log(tmp_path / "a.log", Plan(lines=500, malformed_every=50, offset_minutes=330))
    lines = (tmp_path / "a.log").read_text().splitlines()
    assert len(lines) == written.lines == 500
    unmatched = [i for i, line in enumerate(lines, 1) if not _LINE.match(line)]
    assert unmatched == written.malformed_lines == list(range(50, 501, 50))
    matched = [_LINE.match(line) for line in lines]
    statuses = [int(m.group(5)) for m in matched if m]
    assert sum(r.requests for r in written.rows.values()) == len(statuses) == 490
    assert sum(r.status[4] for r in written.rows.values()) == sum(1 for s in statuses if s >= 500)
    assert sum(sum(r.durations) for r in written.rows.values()) == sum(int(m.group(7)) for m in matched if m)
    first = datetime.strptime(matched[0].group(2), "%d/%b/%Y:%H:%M:%S %z")  # type: ignore[union-attr]
    assert first.timestamp() == START and first.utcoffset() == timedelta(minutes=330)

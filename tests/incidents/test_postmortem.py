"""`vhostguard postmortem` on a written incident: an access log whose lines the test writes (so it knows
every count), and an event store with a deploy, a watch alert (the JSON monitor's sinks emit) and a
rollback. The counts asserted are computed from the lines the test wrote, never from our own output.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import datetime, timedelta, UTC
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from vhostguard.cli.incidents import postmortem
from vhostguard.incidents import Event, EventStore, check_times

T0 = datetime(2026, 12, 4, 10, 0, 0, tzinfo=UTC)
FORMAT = '%v:%p %a %l %u [%{%d/%b/%Y:%H:%M:%S}t.%{msec_frac}t %{%z}t] "%r" %>s %O %D'
HOSTILE_PATH = "/v1/<script>alert(1)</script>"
CHROMIUM = shutil.which("chromium")


def _line(moment: datetime, path: str, status: int, client: str = "10.0.0.1", vhost: str = "api.example.test") -> str:
    # the log's own offset is +0100: the postmortem shows everything in UTC
    local = moment + timedelta(hours=1)
    stamp = local.strftime("%d/%b/%Y:%H:%M:%S") + f".{local.microsecond // 1000:03d} +0100"
    return f'{vhost}:80 {client} - - [{stamp}] "GET {path} HTTP/1.1" {status} 120 {1500 if status < 500 else 30000}\n'


def _error_stamp(seconds: float) -> str:
    """httpd's error-log time: local time, no zone."""
    local = (T0 + timedelta(seconds=seconds)).astimezone()
    return local.strftime("%a %b %d %H:%M:%S") + f".{local.microsecond:06d} {local.year}"


@pytest.fixture
def incident(tmp_path: Path) -> dict[str, object]:
    """60 s of traffic; 5xx on /v1/users from t=20.5 s to t=40.2 s for three clients; a deploy at t=20.0,
    an alert at t=25.0, a rollback at t=40.0."""
    lines: list[str] = []
    failing = 0
    clients: set[str] = set()
    for tenth in range(0, 600, 5):
        moment = T0 + timedelta(seconds=tenth / 10)
        bad = 205 <= tenth <= 402
        client = f"10.0.0.{tenth % 3 + 1}"
        lines.append(_line(moment, "/v1/users", 502 if bad else 200, client))
        lines.append(_line(moment, "/v1/orders/17", 200))
        if bad:
            failing += 1
            clients.add(client)
    lines.append(_line(T0 + timedelta(seconds=30), HOSTILE_PATH, 503, "10.0.0.9", vhost="<b>evil</b>.test"))
    failing += 1
    clients.add("10.0.0.9")
    lines.append(_line(T0 - timedelta(seconds=30), "/v1/users", 500))  # before the window: not counted
    lines.append("this line is not a log line\n")
    log = tmp_path / "access.log"
    log.write_text("".join(lines))
    errors = tmp_path / "error.log"
    errors.write_text(
        f"[{_error_stamp(-60)}] [mpm_event:notice] [pid 1:tid 1] AH00489: Apache/2.4.62 (Debian) "
        "configured -- resuming normal operations\n"
        f"[{_error_stamp(20.6)}] [proxy:error] [pid 2:tid 3] (111)Connection refused: AH00957: http: "
        "attempt to connect to 127.0.0.1:9 (<script>x</script>) failed\n"
        f"[{_error_stamp(21.6)}] [proxy:error] [pid 2:tid 3] (111)Connection refused: AH00957: http: "
        "attempt to connect to 127.0.0.1:9 (127.0.0.1:9) failed\n")
    state = tmp_path / "state"

    def at(seconds: float) -> str:
        return (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")

    alert = {"schema": 1, "id": "a1", "state": "firing", "severity": "page", "rule": "error-ratio",
             "vhost": "api.example.test", "method": "GET", "endpoint": "/v1/users", "started": at(25),
             "resolved": None, "observed": {"ratio": 1.0}, "evidence": ["502 x40"], "summary": "5xx ratio 100%"}
    with EventStore(str(state)) as store:
        store.append([
            Event(at(19.0), "deploy", "deploy-started", "D1", {}),
            Event(at(20.0), "deploy", "switch", "D1", {"from": "blue", "to": "green"}),
            Event(at(25.0), "watch", "alert-firing", "a1", alert),
            Event(at(30.0), "doctor", "finding", "doc-1", {"summary": "vhost <i>api</i> proxies to a closed port",
                                                           "evidence": ["api.conf:3"]}),
            Event(at(40.0), "deploy", "rollback", "D1", {"reason": "5xx ratio"}),
        ])
    return {"log": log, "errors": errors, "state": state, "failing": failing, "clients": len(clients),
            "requests": len(lines) - 2, "tmp": tmp_path}


def _run(incident: dict[str, object], *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(postmortem, [str(incident["log"]), "--log-format", FORMAT, "--state",
                                             str(incident["state"]), "--error-log", str(incident["errors"]),
                                             "--since", T0.isoformat(), *extra])
    return result.exit_code, result.stdout


def test_impact_duration_detection_and_timeline_come_from_the_log_and_the_events(incident: dict[str, object]) -> None:
    code, out = _run(incident, "--format", "json")
    assert code == 0, out
    document = json.loads(out)
    impact = document["impact"]
    assert impact["failed"] == incident["failing"]
    assert impact["requests"] == incident["requests"]  # the line before the window and the malformed one left out
    assert impact["failed_share"] == pytest.approx(impact["failed"] / impact["requests"], abs=1e-6)
    assert impact["clients"] == incident["clients"]
    users = next(e for e in impact["by_endpoint"] if e["endpoint"] == "/v1/users")
    assert users["failed"] == incident["failing"] - 1 and users["requests"] == 120
    assert document["first_failure"] == "2026-12-04T10:00:20.500+00:00"  # the +0100 log time, on the UTC clock
    assert document["last_failure"] == "2026-12-04T10:00:40.000+00:00"
    assert document["duration_s"] == pytest.approx(19.5)
    detection = document["detection"]
    assert detection["time_to_detect_s"] == pytest.approx(4.5)
    assert "watch" in detection["detected_by"]
    kinds = [(t["source"], t.get("kind")) for t in document["timeline"]]
    order = [kinds.index(k) for k in (("deploy", "switch"), ("access-log", "first-failure"),
                                      ("watch", "alert-firing"), ("deploy", "rollback"))]
    assert order == sorted(order)
    assert all(t["time"].endswith("+00:00") for t in document["timeline"])
    assert document["resolution"]["id"] == "D1" and document["resolution"]["kind"] == "rollback"
    assert document["causes"][0]["deploy_id"] == "D1"
    codes = [c["summary"] for c in document["causes"] if c["summary"].startswith("error log")]
    assert len(codes) == 1 and "AH00957 x2" in codes[0] and "connect" in codes[0]  # the notice is no cause
    curve_failed = sum(p["failed"] for p in document["curve"]["points"])
    assert curve_failed == impact["failed"]


def test_markdown_has_the_sections_and_escapes_log_text(incident: dict[str, object]) -> None:
    code, out = _run(incident)
    assert code == 0
    for section in ("## Summary", "## Impact", "## Duration", "## Detection", "## Timeline (UTC)",
                    "## Root-cause candidates", "## Resolution", "## Action items", "## Lessons learned"):
        assert section in out
    assert "<script>" not in out and "<b>" not in out and "<i>" not in out


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.bars: dict[int, dict[str, int]] = {}
        self.figure: int | None = None
        self.markers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "figure" and (a.get("data-chart") is not None or a.get("id") == "overall"):
            self.figure = int(a.get("data-chart") or -1)  # -1: all requests
            self.bars[self.figure] = {}
        if tag == "rect" and self.figure is not None and a.get("data-series"):
            series = a["data-series"] or ""
            self.bars[self.figure][series] = self.bars[self.figure].get(series, 0) + int(a["data-value"] or 0)
        if tag == "line" and a.get("data-marker"):
            self.markers.append(a["data-marker"] or "")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_html_is_self_contained_escaped_and_its_charts_carry_the_counts_in_chromium(
        incident: dict[str, object]) -> None:
    page = Path(str(incident["tmp"])) / "pm.html"
    code, _ = _run(incident, "--format", "html", "-o", str(page))
    assert code == 0
    text = page.read_text()
    assert not re.search(r"\b(src|href|url)\s*[=(]", text) and "<link" not in text  # nothing to fetch
    dom = subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--no-first-run", f"--user-data-dir={incident['tmp']}/profile", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120, check=False)
    assert dom.returncode == 0, dom.stderr[-2000:]
    parsed = _Page()
    parsed.feed(dom.stdout)
    assert "script" not in parsed.tags and "b" not in parsed.tags and "i" not in parsed.tags
    assert "&lt;script&gt;x&lt;/script&gt;" in dom.stdout and "&lt;script&gt;alert" in dom.stdout and "&lt;b&gt;evil&lt;/b&gt;" in dom.stdout
    assert sum(bars.get("5xx", 0) for chart, bars in parsed.bars.items() if chart >= 0) == incident["failing"]
    assert parsed.bars[-1] == {"requests": incident["requests"], "5xx": incident["failing"]}
    assert "polyline" in parsed.tags  # the latency line
    assert {"switch", "alert-firing", "rollback"} <= set(parsed.markers)


SEED = """# Postmortem: API outage

## Summary
The API was down for approximately 2.5 hours, from 11:00 to 17:30.

## Timeline
- 11:00 - deploy of the new vhost; the outage started
- 10:40 - the on-call engineer was alerted and detected the misrouting
- 17:30 - the vhost was fixed and service restored
"""


def test_check_finds_the_duration_and_detection_contradictions_with_their_lines(tmp_path: Path) -> None:
    problems = check_times(SEED)
    by_line = {p.line: p.problem for p in problems}
    assert 4 in by_line and "2 h 30 min" in by_line[4] and "6 h 30 min" in by_line[4]
    assert 8 in by_line and "before the start" in by_line[8]
    agreeing = "The outage lasted about 30 minutes, from 11:00 to 11:30; detected at 11:05.\n"
    assert check_times(agreeing) == []
    written = tmp_path / "pm.md"
    written.write_text(SEED)
    result = CliRunner().invoke(postmortem, ["--check", str(written)])
    assert result.exit_code == 1
    assert f"{written}:4: the stated duration" in result.stdout


def test_check_against_the_logs_flags_a_start_the_logs_contradict(incident: dict[str, object]) -> None:
    written = Path(str(incident["tmp"])) / "human.md"
    written.write_text("Outage from 10:00:20 to 10:00:40 UTC, 20 seconds.\nDetected at 09:30 UTC by an alert.\n")
    code, out = _run(incident, "--check", str(written))
    assert code == 1
    assert ":2:" in out and "before the start" in out and "first alert" in out
    assert ":1:" not in out  # start, end and duration agree with the log


def test_since_is_required_and_a_bad_time_is_a_usage_error(incident: dict[str, object]) -> None:
    result = CliRunner().invoke(postmortem, [str(incident["log"]), "--state", str(incident["state"])])
    assert result.exit_code == 2 and "--since" in result.stderr
    result = CliRunner().invoke(postmortem, [str(incident["log"]), "--since", "yesterday-ish"])
    assert result.exit_code == 2


def _document(incident: dict[str, object], events: list[Event] | None = None) -> dict[str, object]:
    from vhostguard.incidents import AccessLogInput, PostmortemInputs, draft
    from vhostguard.logs import compile_format
    with EventStore(str(incident["state"])) as store:
        recorded = store.events()
    inputs = PostmortemInputs(T0.timestamp(), None, [AccessLogInput(str(incident["log"]), compile_format(FORMAT))],
                              [*recorded, *(events or [])], [str(incident["errors"])], str(incident["state"]))
    return draft(inputs)


def test_the_curve_stays_exact_when_its_cells_are_coarsened(incident: dict[str, object],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import vhostguard.incidents.postmortem as module
    monkeypatch.setattr(module, "MAX_CELLS", 8)  # forces the buckets to double several times while reading
    document = _document(incident)
    curve = document["curve"]
    assert isinstance(curve, dict) and curve["step_s"] >= 8
    assert sum(p["failed"] for p in curve["points"]) == incident["failing"]
    assert sum(sum(e["requests"]) for e in curve["endpoints"]) == incident["requests"]


def test_a_rollback_after_the_traffic_stopped_is_still_the_resolution(incident: dict[str, object]) -> None:
    late = Event((T0 + timedelta(minutes=5)).isoformat(), "deploy", "rollback-rolled-back", "R9", {})
    document = _document(incident, [late])
    resolution = document["resolution"]
    assert isinstance(resolution, dict) and resolution["id"] == "D1"  # the first one after the failure
    timeline = document["timeline"]
    assert isinstance(timeline, list) and timeline[-1]["id"] == "R9"


def test_config_text_in_a_cause_is_escaped_in_html_and_markdown(incident: dict[str, object]) -> None:
    from vhostguard.incidents import to_html, to_markdown
    document = _document(incident)
    hostile = 'a.conf:1: Alias "/<svg onload=alert(1)>" /srv/|x|'
    document["causes"] = [{"rank": 1, "summary": hostile, "deploy_id": "D1", "directives": [hostile],
                           "evidence": [hostile]}]
    page = to_html(document)
    assert "<svg onload" not in page and "&lt;svg onload=alert(1)&gt;" in page
    text = to_markdown(document)
    outside_code = re.sub(r"`[^`\n]*`", "", text)  # a code span shows its text as is: safe
    assert "<svg" not in outside_code.replace("\\<svg", "") and "\\<svg" in text


def test_a_log_to_the_second_orders_its_first_failure_after_a_switch_in_that_second(tmp_path: Path) -> None:
    """%t keeps whole seconds: a request logged at :20 came in during :20, after a switch at :20.5 or not;
    the switch caused it, so the timeline must not put the failure first."""
    log = tmp_path / "access.log"
    stamp = (T0 + timedelta(seconds=20)).strftime("%d/%b/%Y:%H:%M:%S +0000")
    log.write_text(f'127.0.0.1 - - [{stamp}] "GET /v1/users HTTP/1.1" 502 10\n')
    with EventStore(str(tmp_path / "state")) as store:
        store.append([Event((T0 + timedelta(seconds=20.5)).isoformat(), "deploy", "switch", "D1", {})])
    result = CliRunner().invoke(postmortem, [str(log), "--log-format", "common", "--state", str(tmp_path / "state"),
                                             "--since", T0.isoformat(), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    kinds = [t["kind"] for t in json.loads(result.stdout)["timeline"]]
    assert kinds.index("switch") < kinds.index("first-failure")
    assert json.loads(result.stdout)["first_failure"] == "2026-12-04T10:00:20.000+00:00"  # as logged


@pytest.mark.parametrize(("text", "contradicts"), [
    ("The outage took two and a half hours, from 11:00 to 17:30.\n", True),  # the playbook's words
    ("Outage lasted 2 hours and 30 minutes, from 11:00 to 13:30.\n", False),
    ("Detected within an hour; the outage lasted one hour, from 11:00 to 12:00.\n", False),
    ("Start: 2026-11-03T23:30:00Z\nEnd: 2026-11-04T00:15:00Z\nDuration: 45 minutes\n", False),
    ("Start: 11:00 UTC\nEnd: 12:00 +01:00\nDuration: about 1 hour\n", True),  # 12:00+01:00 is 11:00 UTC
])
def test_check_reads_durations_in_words_groups_and_zones(text: str, contradicts: bool) -> None:
    found = check_times(text)
    assert bool(found) is contradicts, found


def test_a_draft_without_a_store_creates_none(incident: dict[str, object], tmp_path: Path) -> None:
    empty = tmp_path / "no-state-here"
    result = CliRunner().invoke(postmortem, [str(incident["log"]), "--log-format", FORMAT, "--state", str(empty),
                                             "--since", T0.isoformat(), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert not empty.exists() and "no events recorded" in result.stderr
    assert json.loads(result.stdout)["impact"]["failed"] == incident["failing"]


def test_json_written_to_a_file_is_the_document_stdout_gets(incident: dict[str, object]) -> None:
    target = Path(str(incident["tmp"])) / "pm.json"
    code, _ = _run(incident, "--format", "json", "-o", str(target))
    assert code == 0
    _, printed = _run(incident, "--format", "json")
    assert json.loads(target.read_text()) == json.loads(printed)


def test_misrouted_requests_count_as_failed_when_their_host_was_seen_moved(tmp_path: Path) -> None:
    """The incident's misroute answers 403, not 5xx: once watch (or a deploy's verification) saw the
    API's Host moved, each API request another vhost answered is a failed one; a 403 of another Host
    stays a success, as does a request whose Host was not seen moved."""
    lines = []
    for second in range(40):
        moment = T0 + timedelta(seconds=second)
        stamp = moment.strftime("%d/%b/%Y:%H:%M:%S") + ".000 +0000"
        vhost, status = ("default.invalid", 403) if 20 <= second < 30 else ("api.example.com", 200)
        lines.append(f'{vhost}:80 10.0.0.1 - - [{stamp}] "GET /v1/users/{second} HTTP/1.1" {status} 10 900 "API.example.com:80"\n')
        lines.append(f'default.invalid:80 10.0.0.2 - - [{stamp}] "GET / HTTP/1.1" 403 10 900 "other.example.com"\n')
    log = tmp_path / "access.log"
    log.write_text("".join(lines))
    state = tmp_path / "state"
    alert = {"schema": 1, "id": "m1", "state": "firing", "severity": "page", "rule": "host-moved",
             "vhost": "api.example.com", "method": None, "endpoint": "api.example.com",
             "started": (T0 + timedelta(seconds=21)).isoformat(), "resolved": None,
             "observed": {"host": "api.example.com", "usual_vhost": "api.example.com", "new_vhost": "default.invalid"},
             "evidence": [], "summary": "moved"}
    with EventStore(str(state)) as store:
        store.append([Event(alert["started"], "watch", "alert-firing", "m1", alert)])  # type: ignore[arg-type]
    fmt = '%v:%p %a %l %u [%{%d/%b/%Y:%H:%M:%S}t.%{msec_frac}t %{%z}t] "%r" %>s %O %D "%{Host}i"'
    result = CliRunner().invoke(postmortem, ["--since", T0.isoformat(), "--until", (T0 + timedelta(seconds=60)).isoformat(),
                                             str(log), "--log-format", fmt, "--state", str(state), "--format", "json"])
    assert result.exit_code == 0, result.output
    impact = json.loads(result.stdout)["impact"]
    assert (impact["requests"], impact["failed"]) == (80, 10)  # the ten API requests default.invalid answered
    (worst, *_) = impact["by_endpoint"]
    assert (worst["vhost"], worst["failed"]) == ("default.invalid", 10)


def test_a_big_log_is_read_only_around_the_window_with_the_counts_of_reading_it_whole(tmp_path: Path) -> None:
    """200,000 requests of the day before, the incident's window, then an hour after it: the draft reads the
    window's lines (and a slack around them), never the day before, and counts what reading the whole log
    counts (a gzip copy, which cannot be entered in the middle, is read whole); the first failure's
    ``file:line`` is the line of the whole file that holds it."""
    fmt = '%v:%p %a %l %u %t "%r" %>s %O %D'

    def line(moment: datetime, path: str, status: int, client: str = "10.0.0.1") -> str:
        stamp = moment.strftime("%d/%b/%Y:%H:%M:%S +0000")
        return f'api.example.test:80 {client} - - [{stamp}] "GET {path} HTTP/1.1" {status} 10 1500\n'

    day_before = [line(T0 - timedelta(days=1) + timedelta(seconds=n * 0.3), "/v1/old", 500) for n in range(200_000)]
    window: list[str] = []
    failing, clients, first_bad = 0, set(), None
    for second in range(600):  # 10:00:00 to 10:09:59, failures from 10:05:00 to 10:06:39 for 4 clients
        bad = 300 <= second < 400
        client = f"10.0.1.{second % 4}"
        window.append(line(T0 + timedelta(seconds=second), f"/v1/users/{second}", 503 if bad else 200, client))
        if bad:
            failing += 1
            clients.add(client)
            first_bad = len(day_before) + len(window) if first_bad is None else first_bad
    after = [line(T0 + timedelta(minutes=10, seconds=n * 0.2), "/v1/later", 502) for n in range(18_000)]
    log = tmp_path / "access.log"
    log.write_text("".join(day_before + window + after))
    whole = tmp_path / "access.log.gz"
    subprocess.run(["gzip", "-k", "-c", str(log)], stdout=whole.open("wb"), check=True)
    from vhostguard.incidents import AccessLogInput, PostmortemInputs, draft
    from vhostguard.logs import compile_format

    def impact_of(path: Path) -> dict[str, object]:
        until = (T0 + timedelta(seconds=599)).timestamp()
        return draft(PostmortemInputs(T0.timestamp(), until, [AccessLogInput(str(path), compile_format(fmt))]))

    sought, read_whole = impact_of(log), impact_of(whole)
    impact = sought["impact"]
    assert isinstance(impact, dict)
    assert (impact["requests"], impact["failed"], impact["clients"]) == (600, failing, len(clients))
    assert sought["first_failure"] == "2026-12-04T10:05:00.000+00:00"
    assert sought["last_failure"] == "2026-12-04T10:06:39.000+00:00"
    for key in ("impact", "first_failure", "last_failure", "duration_s", "curve"):
        if key == "impact":
            assert {k: v for k, v in impact.items() if k not in ("lines", "malformed")} == {
                k: v for k, v in read_whole["impact"].items() if k not in ("lines", "malformed")}
        else:
            assert sought[key] == read_whole[key], key
    assert read_whole["impact"]["lines"] == len(day_before) + len(window) + len(after)
    assert len(window) <= impact["lines"] < len(window) + 10_000  # not the day before, not the hour after
    first = next(t for t in sought["timeline"] if t["kind"] == "first-failure")
    name, number = re.search(r"\((\S+):(\d+)", first["text"]).groups()
    assert name == str(log) and int(number) == first_bad
    assert log.read_text().splitlines()[int(number) - 1] == window[300].rstrip("\n")

"""doctor's logs check: 5xx and 404 bursts of the access logs compared with the window before,
error-log entries grouped by AH code, --since, and bad logs (malformed lines, unreadable files).

The logs are real files written here in the config's LogFormat (times relative to the wall
clock, since --since counts back from now); the last test has a real apache2 write them."""
from __future__ import annotations

import json
import os
import random
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.diagnose.conftest import Httpd
from tests.support.apache import base_config, free_port, needs_apache
from vhostguard.cli import main
from vhostguard.diagnose import load_catalogue
from vhostguard.logs import offset_since, record_time

FORMAT = '%v:%p %h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\" \\"%{Host}i\\"'
MINUTE = 60


def write_config(root: Path, vhosts: str | None = None) -> Path:
    """A config apache2 -t accepts (no server runs it: these tests read only the logs)."""
    conf = root / "httpd.conf"
    conf.write_text(
        base_config(root, ("mpm_event", "authz_core", "proxy", "proxy_http"))
        + "ServerName localhost\n"
        "Listen 127.0.0.1:8080\n"
        f'LogFormat "{FORMAT}" vhost_host\n'
        f'CustomLog "{root}/logs/access.log" vhost_host\n'
        + (vhosts if vhosts is not None else
           "<VirtualHost 127.0.0.1:8080>\n"
           "    ServerName api.example.test\n"
           "    ProxyPass /v1/ http://127.0.0.1:9/v1/\n"
           "</VirtualHost>\n"
           "<VirtualHost 127.0.0.1:8080>\n"
           "    ServerName www.example.test\n"
           f"    DocumentRoot {root}\n"
           "</VirtualHost>\n"))
    return conf


def access_line(when: float, vhost: str, path: str, status: int, host: str | None = None) -> str:
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(when))
    return (f'{vhost}:8080 192.0.2.7 - - [{stamp}] "GET {path} HTTP/1.1" {status} 512 "-" "curl/8.5.0" '
            f'"{host or vhost}"')


def error_line(when: float, module: str, level: str, rest: str) -> str:
    # httpd's default ErrorLogFormat: local time with microseconds
    stamp = time.strftime("%a %b %d %H:%M:%S", time.localtime(when)) + f".{int(when * 1e6) % 1000000:06d} " + \
        time.strftime("%Y", time.localtime(when))
    return f"[{stamp}] [{module}:{level}] [pid 4242:tid 140] {rest}"


def traffic(now: float, minutes: int, per_minute: int,
            status: Callable[[float, str], int] = lambda when, path: 200) -> list[tuple[float, str, int]]:
    """``per_minute`` requests a minute on api.example.test for the ``minutes`` before ``now``, in time order."""
    rng = random.Random(7)
    out = []
    for index in range(minutes * per_minute):
        when = now - minutes * MINUTE + index * MINUTE / per_minute
        path = f"/v1/orders/{rng.randrange(1, 10_000)}" if index % 2 else "/v1/users"
        out.append((when, path, status(when, path)))
    return out


def write_access(conf: Path, rows: list[tuple[float, str, int]], vhost: str = "api.example.test") -> Path:
    log = conf.parent / "logs" / "access.log"
    log.write_text("".join(access_line(when, vhost, path, code) + "\n" for when, path, code in rows))
    return log


def doctor(conf: Path, *extra: str) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["doctor", "-f", str(conf), "--offline", "--json", *extra])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def logs_findings(doc: dict, kind: str | None = None) -> list[dict]:
    return [f for f in doc["findings"] if f["check"] == "logs" and (kind is None or f["kind"] == kind)]


def logs_check(doc: dict) -> dict:
    return next(c for c in doc["checks"] if c["name"] == "logs")


def line_text(path: Path, number: int) -> str:
    return path.read_text().splitlines()[number - 1]


def check_evidence(finding: dict, log: Path, wanted: str) -> None:
    """Every evidence line is ``file:line: text`` and the file holds that text at that line."""
    assert finding["evidence"]
    for evidence in finding["evidence"]:
        where, _, text = evidence.partition(": ")
        path, _, number = where.rpartition(":")
        assert path == str(log)
        assert line_text(log, int(number)) == text
        assert wanted in text


def test_5xx_burst_is_found_with_counts_and_log_lines(tmp_path: Path) -> None:
    conf = write_config(tmp_path)
    now = time.time()
    down = now - 10 * MINUTE  # the backend of /v1/orders/ went down 10 minutes ago
    rows = traffic(now, 90, 20, lambda when, path: 502 if when >= down and path.startswith("/v1/orders/") else 200)
    log = write_access(conf, rows)
    failed = [r for r in rows if r[2] == 502]
    in_window = [r for r in rows if r[0] >= now - 30 * MINUTE and r[1].startswith("/v1/orders/")]
    before = [r for r in rows if now - 60 * MINUTE <= r[0] < now - 30 * MINUTE and r[1].startswith("/v1/orders/")]

    _, doc = doctor(conf)

    [burst] = logs_findings(doc, "errors-burst")
    assert burst["severity"] == "critical"  # healthy in the window before
    assert f"{len(failed)} server errors" in burst["summary"]
    assert "GET /v1/orders/{id} of api.example.test" in burst["summary"]
    assert "(0 in the 30m before)" in burst["summary"]
    assert f"{len(failed)} of {len(in_window)} requests answered 5xx in the last 30m, 0 of {len(before)}" in burst["cause"]
    check_evidence(burst, log, '" 502 ')
    assert "rotated" not in burst["cause"]  # the log covers both windows
    assert burst["vhost"] == f"{conf}:{line_of(conf, '<VirtualHost')}"
    assert burst["next"].startswith("vhostguard explain http://api.example.test:8080/v1/orders/")
    # only the broken endpoint: /v1/users kept answering 200
    assert len(logs_findings(doc)) == 1
    assert logs_check(doc)["status"] == "problem"


def line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_steady_error_rate_is_not_a_burst(tmp_path: Path) -> None:
    conf = write_config(tmp_path)
    now = time.time()
    rng = random.Random(3)
    rows = traffic(now, 90, 30, lambda when, path: 503 if rng.random() < 0.04 else 200)
    write_access(conf, rows)
    assert sum(1 for r in rows if r[2] == 503 and r[0] >= now - 30 * MINUTE) >= 20  # errors there are, but steady

    _, doc = doctor(conf)

    assert logs_findings(doc) == [], logs_findings(doc)
    assert logs_check(doc)["status"] == "ok"


def test_still_failing_endpoint_is_a_warning_not_a_new_burst(tmp_path: Path) -> None:
    conf = write_config(tmp_path)
    now = time.time()
    rows = traffic(now, 90, 20, lambda when, path: 502 if path.startswith("/v1/orders/") else 200)
    write_access(conf, rows)

    _, doc = doctor(conf)

    [burst] = logs_findings(doc, "errors-burst")
    assert burst["severity"] == "warning"
    assert "already failing in the window before" in burst["cause"]


def test_404_burst(tmp_path: Path) -> None:
    conf = write_config(tmp_path)
    now = time.time()
    renamed = now - 12 * MINUTE
    rows = traffic(now, 90, 10)
    rows += [(when, "/static/app.3f9a.js", 404 if when >= renamed else 200) for when, _, _ in rows[::2]]
    rows.sort()
    log = write_access(conf, rows, vhost="www.example.test")
    missing = [r for r in rows if r[2] == 404]

    _, doc = doctor(conf)

    [burst] = logs_findings(doc, "not-found-burst")
    assert burst["severity"] == "warning"
    assert f"{len(missing)} not found" in burst["summary"] and "(0 in the 30m before)" in burst["summary"]
    assert "/static/app.3f9a.js of www.example.test" in burst["summary"]
    check_evidence(burst, log, '" 404 ')
    assert burst["next"] == f"vhostguard explain http://www.example.test:8080/static/app.3f9a.js -f {conf}"
    assert logs_findings(doc, "errors-burst") == []


def test_error_log_entries_grouped_by_code_with_the_catalogues_meaning(tmp_path: Path) -> None:
    conf = write_config(tmp_path)
    now = time.time()
    error_log = tmp_path / "logs" / "error.log"
    lines = [error_line(now - 3 * 3600, "proxy_http", "error", "AH01114: HTTP: failed to make connection to backend: old")]
    for minute in range(5, 0, -1):
        when = now - minute * MINUTE
        lines.append(error_line(when, "proxy", "error", "(111)Connection refused: AH00957: http: attempt to connect to "
                                "127.0.0.1:9 (127.0.0.1:9) failed"))
        lines.append(error_line(when + 0.001, "proxy_http", "error", "[client 192.0.2.7:5678] AH01114: HTTP: failed to "
                                "make connection to backend: 127.0.0.1"))
    lines.append(error_line(now - 30, "mpm_event", "notice", "AH00489: Apache/2.4.62 (Debian) configured -- resuming "
                            "normal operations"))
    error_log.write_text("\n".join(lines) + "\n")
    write_access(conf, [])

    _, doc = doctor(conf)

    groups = {f["summary"].split(" ")[2]: f for f in logs_findings(doc, "error-logged")}
    assert set(groups) == {"AH01114", "AH00957"}  # the notice is counted, not a finding; the old entry is outside
    found = groups["AH01114"]
    assert found["summary"].startswith("5 x AH01114 [proxy_http:error]")
    assert found["severity"] == "warning"
    entry = load_catalogue().get("AH01114")
    assert entry is not None and found["cause"].startswith(entry.meaning)
    assert found["next"] == "vhostguard explain-code AH01114"
    check_evidence(found, error_log, "AH01114")
    assert [int(e.split(":")[1]) for e in found["evidence"]] == [3, 5, 7]
    assert "11 error-log entries in 1 error logs (1 notices and below)" in logs_check(doc)["detail"]


def test_since_is_respected(tmp_path: Path) -> None:
    conf = write_config(tmp_path)
    now = time.time()
    outage = (now - 150 * MINUTE, now - 140 * MINUTE)  # two and a half hours ago
    rows = traffic(now, 240, 10, lambda when, path: 500 if outage[0] <= when < outage[1] else 200)
    write_access(conf, rows)

    _, doc = doctor(conf)  # --since 30m by default
    assert logs_findings(doc) == []
    assert "last 30m" in logs_check(doc)["detail"]

    _, doc = doctor(conf, "--since", "3h")
    bursts = {f["summary"].split(" of ")[0]: f for f in logs_findings(doc, "errors-burst")}
    assert set(bursts) == {"5xx burst on GET /v1/users", "5xx burst on GET /v1/orders/{id}"}
    users = sum(1 for r in rows if r[2] == 500 and r[1] == "/v1/users")
    assert f"{users} server errors" in bursts["5xx burst on GET /v1/users"]["summary"]
    assert "in the 3h before" in bursts["5xx burst on GET /v1/users"]["summary"]


def test_since_must_be_a_duration(tmp_path: Path) -> None:
    conf = write_config(tmp_path)
    result = CliRunner().invoke(main, ["doctor", "-f", str(conf), "--offline", "--since", "soon"])
    assert result.exit_code == 2
    assert "--since 'soon'" in result.stderr and "Traceback" not in result.output


def test_malformed_line_is_counted_not_fatal(tmp_path: Path) -> None:
    conf = write_config(tmp_path)
    now = time.time()
    rows = traffic(now, 20, 10)
    log = write_access(conf, rows)
    text = log.read_text().splitlines()
    text.insert(150, '\\x16\\x03\\x01 garbage sent to the port')
    log.write_text("\n".join(text) + "\n")

    _, doc = doctor(conf)

    detail = logs_check(doc)["detail"]
    assert f"{len(rows) + 1} access-log lines" in detail
    assert f"1 malformed (first: {log}:151:" in detail
    assert logs_findings(doc) == []


def test_unreadable_log_is_a_finding_not_a_traceback(tmp_path: Path) -> None:
    conf = write_config(tmp_path)
    (tmp_path / "logs" / "access.log").mkdir()  # open() fails as it does on a log the user may not read

    result = CliRunner().invoke(main, ["doctor", "-f", str(conf), "--offline", "--json"])

    assert result.exit_code in (0, 1) and "Traceback" not in result.output, result.output  # not 2: doctor ran
    doc = json.loads(result.stdout)
    [problem] = logs_findings(doc, "log-unreadable")
    assert problem["severity"] == "warning"
    assert str(tmp_path / "logs" / "access.log") in problem["summary"] and "cannot be read" in problem["summary"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_log_without_read_permission(tmp_path: Path) -> None:
    conf = write_config(tmp_path)
    log = write_access(conf, traffic(time.time(), 5, 5))
    log.chmod(0)
    _, doc = doctor(conf)
    [problem] = logs_findings(doc, "log-unreadable")
    assert "Permission denied" in problem["summary"]


def test_window_is_found_by_seeking_not_by_reading_everything(tmp_path: Path) -> None:
    """A day of lines, slightly out of order as httpd writes them: the window starts where a linear scan says."""
    rng = random.Random(5)
    start = 1_765_000_000.0
    lines = []
    for index in range(60_000):
        when = start + index * 86400 / 60_000 - rng.randrange(0, 3)  # %t is the request's start
        lines.append(access_line(when, "api.example.test", "/v1/users", 200))
        if index % 997 == 0:
            lines.append("garbage")
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines) + "\n")
    from vhostguard.logs import parser_for
    time_of = record_time(parser_for(FORMAT.replace('\\"', '"')))
    for at in (start - 10, start + 3600.5, start + 43210, start + 86390, start + 90000):
        with open(log, "rb") as handle:
            reads = CountingReads(handle)
            found = offset_since(reads, log.stat().st_size, at, time_of)  # type: ignore[arg-type]
        offset, expected = 0, log.stat().st_size
        for text in lines:
            when = time_of(text)
            if when is not None and when >= at:
                expected = offset
                break
            offset += len(text) + 1
        assert found == expected, at
        assert reads.lines < 2000  # of 60,000


class CountingReads:
    def __init__(self, handle) -> None:  # type: ignore[no-untyped-def]
        self.handle, self.lines = handle, 0

    def seek(self, offset: int) -> int:
        return self.handle.seek(offset)

    def tell(self) -> int:
        return self.handle.tell()

    def readline(self, limit: int = -1) -> bytes:
        self.lines += 1
        return self.handle.readline(limit)


def test_failing_endpoint_is_routed_through_the_config(tmp_path: Path) -> None:
    """The seed: www's ServerAlias *.example.test, earlier in the file, captures api.example.test;
    the log shows the API's requests failing; routing names the misroute with the log line as origin."""
    conf = write_config(tmp_path, vhosts=(
        "<VirtualHost 127.0.0.1:8080>\n"
        "    ServerName www.example.test\n"
        "    ServerAlias *.example.test\n"
        "    ProxyPass / http://127.0.0.1:9001/\n"
        "</VirtualHost>\n"
        "<VirtualHost 127.0.0.1:8080>\n"
        "    ServerName api.example.test\n"
        "    ProxyPass /v1/ http://127.0.0.1:9002/v1/\n"
        "</VirtualHost>\n"))
    now = time.time()
    deployed = now - 8 * MINUTE
    rows = traffic(now, 60, 10, lambda when, path: 500 if when >= deployed else 200)
    log = conf.parent / "logs" / "access.log"
    # %v names the vhost that answered (www), the Host header the one the client asked for
    log.write_text("".join(access_line(when, "www.example.test", path, code, host="api.example.test") + "\n"
                           for when, path, code in rows))

    _, doc = doctor(conf)

    misrouted = [f for f in doc["findings"] if f["kind"] == "host-misrouted"]
    bursts = logs_findings(doc, "errors-burst")
    assert len(misrouted) == len(bursts) == 2  # /v1/users and /v1/orders/{id}: each burst's request is routed
    for finding in misrouted:
        assert finding["check"] == "routing"
        assert f"({log}:" in finding["summary"] and "Host api.example.test" in finding["summary"]
        assert finding["vhost"] == f"{conf}:{line_of(conf, '<VirtualHost')}"  # www, the first
        assert finding["rank"] < min(burst["rank"] for burst in bursts)  # the cause before the symptom
    assert "apache2 -t: Syntax OK" in next(c["detail"] for c in doc["checks"] if c["name"] == "config")


@needs_apache
@pytest.mark.httpd
def test_real_apache2_backend_down(httpd: Callable[..., Httpd]) -> None:
    """A real apache2 proxying to a closed port writes the 503 lines and AH01114/AH00957 itself."""
    closed = free_port()
    server = httpd({"httpd.conf": (
        "Listen 127.0.0.1:{port}\n"
        f'LogFormat "{FORMAT}" vhost_host\n'
        'CustomLog "{root}/logs/access.log" vhost_host\n'
        "<VirtualHost 127.0.0.1:{port}>\n"
        "    ServerName shop.example.test\n"
        f"    ProxyPass /api http://127.0.0.1:{closed}/api retry=0\n"
        "</VirtualHost>\n")})
    for number in range(8):
        request = urllib.request.Request(f"http://127.0.0.1:{server.port}/api/items/{number}",
                                         headers={"Host": "shop.example.test"})
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=10)
        assert answer.value.code == 503
    access_log = server.root / "logs" / "access.log"
    deadline = time.monotonic() + 5
    while access_log.read_text().count('" 503 ') < 8 and time.monotonic() < deadline:
        time.sleep(0.05)

    _, doc = doctor(server.conf, "--since", "5m")

    [burst] = logs_findings(doc, "errors-burst")
    assert burst["severity"] == "critical" and "8 server errors" in burst["summary"]
    assert "GET /api/items/{id} of shop.example.test" in burst["summary"]
    check_evidence(burst, access_log, '" 503 ')
    codes = {f["summary"].split(" ")[2]: f for f in logs_findings(doc, "error-logged")}
    assert "AH01114" in codes, doc["findings"]
    entry = load_catalogue().get("AH01114")
    assert entry is not None and codes["AH01114"]["cause"].startswith(entry.meaning)
    check_evidence(codes["AH01114"], server.root / "logs" / "error.log", "AH01114")

    # A graceful restart later (the fix, say): what failed before it is history, listed as info.
    error_log = server.root / "logs" / "error.log"
    resumed = error_log.read_text().count("AH00489")
    time.sleep(1.0)  # %t has whole seconds
    os.kill(server.pid(), signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while error_log.read_text().count("AH00489") <= resumed:
        assert time.monotonic() < deadline, "apache2 did not reload"
        time.sleep(0.05)

    _, doc = doctor(server.conf, "--since", "5m")

    [burst] = logs_findings(doc, "errors-burst")
    assert burst["severity"] == "info" and "before the server last (re)loaded its config at" in burst["cause"]
    assert {f["severity"] for f in logs_findings(doc, "error-logged") if "AH01114" in f["summary"]} == {"info"}


def test_analyse_of_a_span_is_the_analysis_of_those_lines_alone(tmp_path: Path) -> None:
    """The window doctor hands to the report's aggregation (LogSource.span), read in one job or cut over two
    readers, counts what the same lines in a file of their own count."""
    from vhostguard.analytics import AggregateOptions, LogSource, analyse

    now = time.time()
    rows = traffic(now, 60, 40, lambda when, path: 502 if when > now - 900 and path != "/v1/users" else 200)
    log = write_access(write_config(tmp_path), rows)
    text = log.read_bytes()
    lines = text.split(b"\n")
    start = sum(len(line) + 1 for line in lines[:700])
    end = sum(len(line) + 1 for line in lines[:2100])
    alone = tmp_path / "alone.log"
    alone.write_bytes(text[start:end])
    fmt = FORMAT.replace('\\"', '"')

    def summary(source: LogSource, options: AggregateOptions) -> tuple[object, ...]:
        analysis = analyse([source], options)
        return analysis.lines, analysis.malformed, analysis.endpoints, analysis.bursts

    expected = summary(LogSource(str(alone), (fmt,)), AggregateOptions(workers=1))
    assert expected[0] == 1400 and expected[3]
    assert summary(LogSource(str(log), (fmt,), (start, end)), AggregateOptions(workers=1)) == expected
    split = AggregateOptions(workers=2, split_min_bytes=1, chunk_bytes=(end - start) // 5)
    assert summary(LogSource(str(log), (fmt,), (start, end)), split) == expected


def test_log_in_another_format_is_noted_not_read_line_by_line(tmp_path: Path) -> None:
    """A log whose lines the config's LogFormat cannot read (another format, garbage): no time can be
    found to seek by, so it is noted and passed over, not parsed through to its end."""
    conf = write_config(tmp_path)
    log = tmp_path / "logs" / "access.log"
    log.write_text("".join(f"{n} something else entirely\n" for n in range(20_000)))

    _, doc = doctor(conf)

    detail = logs_check(doc)["detail"]
    assert f"{log}: no time could be read from 2000 lines in a row" in detail and "not read" in detail
    assert logs_findings(doc) == []


def test_format_without_time_is_noted(tmp_path: Path) -> None:
    conf = write_config(tmp_path)
    conf.write_text(conf.read_text().replace(f'"{FORMAT}" vhost_host', '"%v %h \\"%r\\" %>s" vhost_host'))
    (tmp_path / "logs" / "access.log").write_text('api.example.test 192.0.2.7 "GET / HTTP/1.1" 500\n' * 50)

    _, doc = doctor(conf)

    assert "its LogFormat logs no time (%t)" in logs_check(doc)["detail"]
    assert logs_findings(doc) == []


def test_log_rotated_within_the_window_before_says_the_comparison_is_uncertain(tmp_path: Path) -> None:
    conf = write_config(tmp_path)
    now = time.time()
    rows = traffic(now, 40, 20, lambda when, path: 502 if when >= now - 300 and path != "/v1/users" else 200)
    write_access(conf, rows)  # starts 40 minutes ago: the window before (60 to 30 minutes ago) is partly missing

    _, doc = doctor(conf)

    [burst] = logs_findings(doc, "errors-burst")
    first = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(rows[0][0]))
    assert f"the log starts at {first}" in burst["cause"] and "rotated since" in burst["cause"]


def test_error_line_without_httpds_prefix_is_grouped_by_its_code(tmp_path: Path) -> None:
    """At start-up httpd writes some messages to stderr, which is the error log by then: no time, no
    level, only the code (AH00558 at alert level in server/util.c)."""
    conf = write_config(tmp_path)
    now = time.time()
    error_log = tmp_path / "logs" / "error.log"
    error_log.write_text(
        error_line(now - 120, "mpm_event", "notice", "AH00489: Apache/2.4.62 (Debian) configured -- resuming normal "
                   "operations") + "\n"
        "AH00558: apache2: Could not reliably determine the server's fully qualified domain name, using 127.0.1.1. "
        "Set the 'ServerName' directive globally to suppress this message\n")
    write_access(conf, [])

    _, doc = doctor(conf)

    [group] = logs_findings(doc, "error-logged")
    assert group["summary"].startswith(f"1 x AH00558 [core:alert] in {error_log}")
    assert group["severity"] == "critical"
    check_evidence(group, error_log, "AH00558")
    assert group["evidence"][0].startswith(f"{error_log}:2: ")

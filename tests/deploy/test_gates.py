"""deploy/gates.py: the static gates and ``apache2 -t`` in the final place (issue 12).

The trees are laid out like Debian's /etc/apache2 (main file, sites-enabled, envvars-free),
with their logs and run files in a ``var`` directory beside them, as /var/log/apache2 is.
"""
from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta, UTC
from pathlib import Path

import pytest

from tests.deploy.conftest import listing
from tests.support.apache import APACHE2, MODULES_DIR, free_port, needs_apache
from vhostguard.deploy import GateError, GatePlan, GateResult, static_gates, syntax_gate

NEWEST = datetime(2026, 12, 4, 5, 0, 0, tzinfo=UTC)
FORMAT = '%v:%{local}p %h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\" \\"%{Host}i\\"'
MODULES = ("mpm_event", "authz_core", "alias", "dir", "proxy", "proxy_http")

SITES = """\
<VirtualHost *:{port}>
    ServerName shop.example.com
    DocumentRoot {var}/www/shop
    <Directory {var}/www/shop>
        Require all granted
    </Directory>
    Redirect /old /new
</VirtualHost>
<VirtualHost *:{port}>
    ServerName api.example.com
    ProxyPass /v1/ http://127.0.0.1:{backend}/v1/
</VirtualHost>
"""

EXPECTATIONS = """\
cases:
  - name: the shop serves its home page
    url: http://shop.example.com:{port}/index.html
    expect: {{vhost: shop.example.com, kind: file, status: 200}}
  - name: the API goes to its backend
    url: http://api.example.com:{port}/v1/users
    expect: {{vhost: api.example.com, kind: proxy}}
"""


def _log_line(host: str, path: str, when: datetime, port: int) -> str:
    stamp = when.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return (f'{host}:{port} 192.0.2.7 - - [{stamp}] "GET {path} HTTP/1.1" 200 120 "-" "curl/8" "{host}"')


class Site:
    """A live tree at ``root/etc/apache2`` with its logs in ``root/var`` and a candidate copy beside it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.var = root / "var"
        self.live = root / "etc" / "apache2"
        self.candidate = root / "candidate"
        self.port = free_port()
        self.backend = free_port()
        for directory in ("run", "logs", "www/shop"):
            (self.var / directory).mkdir(parents=True, exist_ok=True)
        (self.var / "www" / "shop" / "index.html").write_text("shop\n")
        (self.live / "sites-enabled").mkdir(parents=True)
        lines = [
            "ServerName main.example",
            f"PidFile {self.var}/run/httpd.pid",
            f"DefaultRuntimeDir {self.var}/run",
            f"ErrorLog {self.var}/logs/error.log",
            f"Mutex file:{self.var}/run default",
            "LogLevel warn",
            *(f"LoadModule {m}_module {MODULES_DIR}/mod_{m}.so" for m in MODULES),
            f"Listen 127.0.0.1:{self.port}",
            f'LogFormat "{FORMAT}" vhost_host',
            f"CustomLog {self.var}/logs/access.log vhost_host",
            "<Directory />",
            "    Require all denied",
            "</Directory>",
            "IncludeOptional sites-enabled/*.conf",
        ]
        (self.live / "apache2.conf").write_text("\n".join(lines) + "\n")
        (self.live / "sites-enabled" / "sites.conf").write_text(
            SITES.format(port=self.port, var=self.var, backend=self.backend))
        self.expectations = root / "expect.yaml"
        self.expectations.write_text(EXPECTATIONS.format(port=self.port))
        self.access_log = self.var / "logs" / "access.log"
        # Two hours of traffic, one minute apart: /old on the shop only before the last hour,
        # the API and the shop's home page throughout. The newest line is at minute 1.
        self.entries: list[tuple[datetime, str, str]] = []
        for minute in range(120, 0, -1):
            when = NEWEST - timedelta(minutes=minute)
            if minute > 61:
                self.entries.append((when, "shop.example.com", "/old"))
            self.entries.append((when, "api.example.com", f"/v1/users/{minute}"))
            self.entries.append((when, "shop.example.com", "/index.html"))
        self.access_log.write_text("".join(_log_line(h, p, w, self.port) + "\n" for w, h, p in self.entries))
        shutil.copytree(self.live, self.candidate)

    @property
    def sites(self) -> Path:
        return self.candidate / "sites-enabled" / "sites.conf"

    def edit(self, old: str, new: str) -> None:
        text = self.sites.read_text()
        assert old in text
        self.sites.write_text(text.replace(old, new, 1))

    def plan(self, **options: object) -> GatePlan:
        return GatePlan(str(self.live / "apache2.conf"), str(self.candidate / "apache2.conf"),
                        apache2=APACHE2, **options)  # type: ignore[arg-type]

    def count(self, window_s: float, path: str = "") -> int:
        """Log entries in the last ``window_s`` seconds of the log's times (both ends included), by path prefix."""
        since = self.entries[-1][0] - timedelta(seconds=window_s)
        return sum(1 for when, _host, logged in self.entries if when >= since and logged.startswith(path))

    def line_of(self, text: str) -> int:
        return next(n for n, line in enumerate(self.sites.read_text().splitlines(), 1) if text in line)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


def _by_name(results: list[GateResult]) -> dict[str, GateResult]:
    assert [r.name for r in results] == ["load", "lint", "expectations", "sandbox", "diff"]
    return {r.name: r for r in results}


def _skipped_after(results: list[GateResult], failed: str) -> None:
    names = [r.name for r in results]
    for result in results[names.index(failed) + 1:]:
        assert result.status == "skipped" and result.detail == f"not run: the {failed} gate failed"


# --- a good candidate ----------------------------------------------------------------------------


@pytest.mark.httpd
@needs_apache
def test_a_good_candidate_passes_every_gate_and_the_live_tree_is_untouched(site: Site) -> None:
    site.edit("    Redirect /old /new", "    # the old redirect stays\n    Redirect /old /new")
    before = listing(site.live)
    results = static_gates(site.plan(expectations=(str(site.expectations),)))
    gates = _by_name(results)
    assert {r.status for r in results} == {"pass"}, [r.to_json() for r in results]
    for result in results:
        doc = result.to_json()
        assert set(doc) == {"name", "status", "seconds", "detail", "evidence"}
        assert isinstance(doc["seconds"], float) and doc["seconds"] >= 0 and "\n" not in doc["detail"]
    assert gates["sandbox"].seconds > 0 and gates["sandbox"].detail == "2 cases pass in the sandbox"
    # The default requests: the live config's own access log, cut to the last hour of its times.
    diff = gates["diff"].detail
    in_window = site.count(3600)
    assert in_window == 122  # minutes 61..1, API and home page
    assert f"0 of {in_window} requests changed" in diff and "last 1h of" in diff and str(site.access_log) in diff
    assert f"{len(site.entries) - in_window} lines older than the window" in diff
    assert listing(site.live) == before


@pytest.mark.httpd
@needs_apache
def test_the_syntax_gate_passes_a_good_slot_in_its_final_place(site: Site) -> None:
    slot = site.live.parent / "apache2.green"
    shutil.copytree(site.candidate, slot)
    before = listing(site.live)
    result = syntax_gate(site.plan(), str(slot))
    assert result.status == "pass", result.to_json()
    assert "final place" in result.detail and result.seconds > 0
    assert listing(site.live) == before


# --- a candidate blocked by each gate in turn ----------------------------------------------------


def test_a_load_error_names_the_candidate_line_and_stops_the_gates(site: Site) -> None:
    site.edit("    Redirect /old /new", "    Include conf-missing/shop.conf")
    line = site.line_of("Include conf-missing")
    results = static_gates(site.plan(expectations=(str(site.expectations),)))
    load = results[0]
    assert load.name == "load" and load.status == "fail"
    assert f"{site.sites}:{line}" in load.detail and load.evidence[0].startswith(f"{site.sites}:{line}")
    _skipped_after(results, "load")


def test_a_lint_error_blocks(site: Site) -> None:
    site.sites.write_text(site.sites.read_text() + f"<VirtualHost *:{site.port}>\n    ServerName shop.example.com\n"
                          "</VirtualHost>\n")
    results = static_gates(site.plan())
    gates = _by_name(results)
    assert gates["load"].status == "pass" and gates["lint"].status == "fail"
    assert "VG10" in gates["lint"].detail and f"{site.sites}:" in gates["lint"].evidence[0]
    _skipped_after(results, "lint")


def test_an_expectation_failing_offline_blocks(site: Site) -> None:
    site.edit(f"http://127.0.0.1:{site.backend}/v1/", "http://127.0.0.1:5999/v1/")
    site.expectations.write_text(site.expectations.read_text().replace(
        "expect: {vhost: api.example.com, kind: proxy}",
        f"expect: {{vhost: api.example.com, kind: proxy, target: 'http://127.0.0.1:{site.backend}/v1/users'}}"))
    results = static_gates(site.plan(expectations=(str(site.expectations),)))
    gates = _by_name(results)
    assert gates["expectations"].status == "fail"
    assert "1 of 2 cases failed offline" in gates["expectations"].detail
    assert gates["expectations"].evidence[0].startswith(f"{site.expectations}:5: the API goes to its backend: target")
    _skipped_after(results, "expectations")


@pytest.mark.httpd
@needs_apache
def test_an_expectation_failing_only_in_the_sandbox_blocks(site: Site) -> None:
    # Offline routing answers which vhost and handler serve a request, not httpd's protocol limits:
    # a request line longer than LimitRequestLine is the home page offline and 414 from the real
    # apache2. (Were offline routing to model the limit, the expectations gate would catch it first.)
    main = site.candidate / "apache2.conf"
    main.write_text(main.read_text().replace("LogLevel warn", "LogLevel warn\nLimitRequestLine 64"))
    site.expectations.write_text(site.expectations.read_text() + (
        "  - name: a long query still reaches the home page\n"
        f"    url: http://shop.example.com:{site.port}/index.html?q={'x' * 80}\n"
        "    expect: {vhost: shop.example.com, status: 200}\n"))
    results = static_gates(site.plan(expectations=(str(site.expectations),)))
    gates = _by_name(results)
    assert gates["expectations"].status == "pass", gates["expectations"].to_json()
    assert gates["sandbox"].status == "fail", gates["sandbox"].to_json()
    assert "1 of 3 cases failed in the sandbox" in gates["sandbox"].detail
    assert gates["sandbox"].evidence[0].startswith(
        f"{site.expectations}:8: a long query still reaches the home page: ")
    assert "status: expected 200, got 414" in gates["sandbox"].evidence[0]
    _skipped_after(results, "sandbox")


def test_a_routing_change_found_by_replay_blocks_unless_allowed(site: Site) -> None:
    site.edit(f"http://127.0.0.1:{site.backend}/v1/", "http://127.0.0.1:5999/v1/")
    line = site.line_of("ProxyPass /v1/")
    results = static_gates(site.plan())
    diff = _by_name(results)["diff"]
    assert diff.status == "fail"
    api = site.count(3600, "/v1/")
    assert diff.detail.startswith(f"{api} of {site.count(3600)} requests would be routed differently")
    assert diff.evidence[0].startswith(f"ProxyPass {site.sites}:{line}: {api} requests api.example.com proxy")
    assert "-> api.example.com proxy http://127.0.0.1:5999/v1/users/" in diff.evidence[0]
    for allow in ("new_target=http://127.0.0.1:5999/*", "{new_vhost: api.example.com, new_kind: proxy}"):
        diff = _by_name(static_gates(site.plan(allow=(allow,))))["diff"]
        assert diff.status == "pass" and f"{api} of {site.count(3600)} requests changed ({api} allowed by --allow)" in diff.detail
    allow_file = site.root / "allow.yaml"
    allow_file.write_text("- {old_vhost: api.example.com, new_target: 'http://127.0.0.1:5999/*'}\n")
    assert _by_name(static_gates(site.plan(allow=(str(allow_file),))))["diff"].status == "pass"
    assert _by_name(static_gates(site.plan(allow=("new_vhost=shop.example.com",))))["diff"].status == "fail"


def test_the_diff_gate_compares_the_candidates_files_relative_to_its_root(site: Site) -> None:
    # Issue 15.8: a DocumentRoot relative to the ServerRoot names a file in each tree; once switched,
    # the candidate serves from the live path, so the same relative file is no change.
    for tree in (site.live, site.candidate):
        (tree / "htdocs" / "shop").mkdir(parents=True)
        (tree / "htdocs" / "shop" / "index.html").write_text("shop\n")
        sites = tree / "sites-enabled" / "sites.conf"
        sites.write_text(sites.read_text()
                         .replace(f"DocumentRoot {site.var}/www/shop", "DocumentRoot htdocs/shop")
                         .replace(f"<Directory {site.var}/www/shop>", "<Location />")
                         .replace("</Directory>", "</Location>"))
    diff = _by_name(static_gates(site.plan()))["diff"]
    assert diff.status == "pass" and f"0 of {site.count(3600)} requests changed" in diff.detail, diff.to_json()
    site.edit("DocumentRoot htdocs/shop", "DocumentRoot htdocs")
    diff = _by_name(static_gates(site.plan()))["diff"]
    assert diff.status == "fail" and f"{site.candidate}/htdocs/index.html" in diff.evidence[0]


def test_the_replay_window_keeps_old_traffic_out(site: Site) -> None:
    # /old was requested only in the first of the log's two hours: the last hour does not see the change.
    site.edit("    Redirect /old /new", "    Redirect /old /newer")
    diff = _by_name(static_gates(site.plan()))["diff"]
    assert site.count(3600, "/old") == 0
    assert diff.status == "pass" and f"0 of {site.count(3600)} requests changed" in diff.detail
    diff = _by_name(static_gates(site.plan(replay_window_s=2 * 3600)))["diff"]
    old, everything = site.count(7200, "/old"), site.count(7200)
    assert old > 0 and everything == len(site.entries)
    assert diff.status == "fail" and diff.detail.startswith(f"{old} of {everything} requests would be routed differently")
    assert f"Redirect {site.sites}:{site.line_of('Redirect /old')}" in diff.evidence[0]


def test_max_requests_keeps_the_newest_lines(site: Site) -> None:
    site.edit(f"http://127.0.0.1:{site.backend}/v1/", "http://127.0.0.1:5999/v1/")
    diff = _by_name(static_gates(site.plan(max_requests=10)))["diff"]
    assert diff.status == "fail" and "of 10 requests" in diff.detail
    assert f"{site.count(3600) - 10} lines beyond --max-requests (the oldest)" in diff.detail
    # The kept lines are the newest: the API requests of minutes 5..1, the first example is minute 5's.
    assert diff.detail.startswith("5 of 10 requests") and "(e.g. http://api.example.com" in diff.evidence[0]
    assert diff.evidence[0].endswith("/v1/users/5)")


def test_a_log_without_times_is_replayed_whole_and_says_so(site: Site) -> None:
    for tree in (site.live, site.candidate):
        main = tree / "apache2.conf"
        main.write_text(main.read_text().replace(FORMAT, '%v:%{local}p %h \\"%r\\" %>s \\"%{Host}i\\"'))
    site.access_log.write_text("".join(f'{h}:{site.port} 192.0.2.7 "GET {p} HTTP/1.1" 200 "{h}"\n'
                                       for _w, h, p in site.entries))
    site.edit("    Redirect /old /new", "    Redirect /old /newer")
    diff = _by_name(static_gates(site.plan()))["diff"]
    old = sum(1 for _w, _h, p in site.entries if p == "/old")
    assert diff.status == "fail" and diff.detail.startswith(f"{old} of {len(site.entries)} requests")
    assert f"{site.access_log} logs no readable time (%t): read whole" in diff.detail
    assert "last 1h" not in diff.detail


def test_malformed_lines_are_counted_and_named_by_their_line_in_the_log(site: Site) -> None:
    lines = site.access_log.read_text().splitlines()
    lines[-5] = "garbage"
    site.access_log.write_text("\n".join(lines) + "\n")
    site.edit(f"http://127.0.0.1:{site.backend}/v1/", "http://127.0.0.1:5999/v1/")
    diff = _by_name(static_gates(site.plan()))["diff"]
    assert "1 malformed line" in diff.detail
    assert f"{site.access_log}:{len(lines) - 4}: malformed" in " ".join(diff.evidence)


def test_a_diff_with_nothing_to_replay_is_skipped_with_the_reason(site: Site) -> None:
    site.access_log.write_text("")
    diff = _by_name(static_gates(site.plan()))["diff"]
    assert diff.status == "skipped" and f"{site.access_log}: missing or empty" in diff.detail
    site.access_log.unlink()
    diff = _by_name(static_gates(site.plan()))["diff"]
    assert diff.status == "skipped" and "missing or empty" in diff.detail
    no_host = site.root / "nohost.log"
    no_host.write_text('192.0.2.7 - - [04/Dec/2026:05:00:00 +0000] "GET / HTTP/1.1" 200 1\n')
    diff = _by_name(static_gates(site.plan(requests=(str(no_host),))))["diff"]
    assert diff.status == "skipped" and diff.detail.startswith("0 requests to replay from")
    assert "1 line with no Host" in diff.detail


def test_explicit_requests_are_replayed_whole(site: Site) -> None:
    urls = site.root / "urls.txt"
    urls.write_text(f"http://shop.example.com:{site.port}/old\nhttp://api.example.com:{site.port}/v1/x\n")
    site.edit("    Redirect /old /new", "    Redirect /old /newer")
    diff = _by_name(static_gates(site.plan(requests=(str(urls),))))["diff"]
    assert diff.status == "fail" and diff.detail.startswith("1 of 2 requests would be routed differently")


@pytest.mark.parametrize(("option", "value", "words"), [
    ("expectations", "missing.yaml", "--verify"),
    ("requests", "missing.log", "--requests"),
    ("allow", "nonsense", "--allow 'nonsense'"),
    ("allow", "colour=blue", "unknown key 'colour'"),
])
def test_bad_input_is_a_gate_error_naming_it(site: Site, option: str, value: str, words: str) -> None:
    path = str(site.root / value) if value.endswith((".yaml", ".log")) else value
    with pytest.raises(GateError) as raised:
        static_gates(site.plan(**{option: (path,)}))
    message = str(raised.value)
    assert words in message and "\n" not in message
    if value.endswith((".yaml", ".log")):
        assert value in message


# --- apache2 -t in the final place ---------------------------------------------------------------


@pytest.mark.httpd
@needs_apache
def test_the_syntax_gate_reads_live_paths_from_the_slot(site: Site) -> None:
    # The live tree has extra.conf; the candidate includes it by the live path but does not ship it.
    # Checked where the candidate lies now, the include would read the live file and pass; in its
    # final place (the live path now resolving to the slot) apache2 refuses to start.
    (site.live / "extra.conf").write_text("# only in the live tree\n")
    main = site.candidate / "apache2.conf"
    main.write_text(main.read_text() + f"Include {site.live}/extra.conf\n")
    slot = site.live.parent / "apache2.green"
    shutil.copytree(site.candidate, slot)
    before = listing(site.live)
    result = syntax_gate(site.plan(), str(slot))
    assert result.status == "fail", result.to_json()
    assert "final place" in result.detail and "extra.conf" in result.detail
    included_at = len(main.read_text().splitlines())
    assert result.evidence[0].startswith(f"{slot}/apache2.conf:{included_at} (read as {site.live}/apache2.conf)")
    assert listing(site.live) == before
    # Without the namespace the slot is checked where it lies, and the detail says what that misses.
    fallback = syntax_gate(site.plan(), str(slot), private_mount=False)
    assert fallback.status == "pass" and "in the slot" in fallback.detail and "read the live tree" in fallback.detail


@pytest.mark.httpd
@needs_apache
def test_the_syntax_gate_refuses_a_directive_of_a_module_not_loaded(site: Site) -> None:
    slot = site.live.parent / "apache2.green"
    shutil.copytree(site.candidate, slot)
    sites = slot / "sites-enabled" / "sites.conf"
    sites.write_text(sites.read_text().replace("    Redirect /old /new", "    RewriteEngine on"))
    result = syntax_gate(site.plan(), str(slot))
    assert result.status == "fail" and "RewriteEngine" in result.detail
    assert result.evidence[0].startswith(f"{sites}:7 (read as {site.live}/sites-enabled/sites.conf)")


def test_the_syntax_gate_without_apache2_fails_closed(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    plan = GatePlan(str(site.live / "apache2.conf"), str(site.candidate / "apache2.conf"),
                    apache2=str(site.root / "no-apache2"))
    result = syntax_gate(plan, str(site.candidate))
    assert result.status == "fail" and "could not run" in result.detail


def test_live_paths_map_into_the_candidate() -> None:
    plan = GatePlan("/etc/apache2/apache2.conf", "/srv/candidate/apache2.conf", server_root="/etc/apache2",
                    env_file="/etc/apache2/envvars")
    assert plan.in_tree(plan.server_root, plan.candidate_dir) == "/srv/candidate"
    assert plan.in_tree(plan.env_file, "/etc/apache2.green") == "/etc/apache2.green/envvars"
    assert plan.in_tree("/usr/lib/apache2", "/srv/candidate") == "/usr/lib/apache2"
    assert plan.in_tree("/etc/apache2x/y", "/srv/candidate") == "/etc/apache2x/y"
    assert os.path.basename(plan.live_main) == "apache2.conf"


# Debian's envvars derives an instance suffix from APACHE_CONFDIR (/etc/apache2-NAME -> -NAME), and
# the log and run directories from it; here with this test's directory in place of /etc.
ENVVARS = """\
if test "${{APACHE_CONFDIR##{etc}/apache2-}}" != "${{APACHE_CONFDIR}}" ; then
\tSUFFIX="-${{APACHE_CONFDIR##{etc}/apache2-}}"
else
\tSUFFIX=
fi
export APACHE_LOG_DIR={var}/log/apache2$SUFFIX
"""


def test_the_candidate_reads_its_envvars_as_in_its_final_place(tmp_path: Path) -> None:
    etc, var = tmp_path / "etc", tmp_path / "var"
    live = etc / "apache2-shop"
    live.mkdir(parents=True)
    (var / "log" / "apache2-shop").mkdir(parents=True)
    (live / "envvars").write_text(ENVVARS.format(etc=etc, var=var))
    (live / "apache2.conf").write_text(
        f"LoadModule mpm_event_module {MODULES_DIR}/mod_mpm_event.so\nListen 127.0.0.1:8080\n"
        "ServerName shop.example.com\nErrorLog ${APACHE_LOG_DIR}/error.log\n"
        "CustomLog ${APACHE_LOG_DIR}/access.log combined\n")
    slot = etc / "apache2-shop.green"
    shutil.copytree(live, slot)
    results = static_gates(GatePlan(str(live / "apache2.conf"), str(slot / "apache2.conf")))
    gates = {r.name: r for r in results}
    # Read from the slot's own place, the suffix would be "-shop.green", a log directory that does not exist.
    assert gates["lint"].status == "pass", gates["lint"].to_json()
    assert gates["diff"].status == "skipped" and f"{var}/log/apache2-shop/access.log: missing or empty" in gates["diff"].detail

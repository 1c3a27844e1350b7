"""``vhostguard doctor`` end to end: a real apache2 (event MPM) on loopback high
ports in a temp dir, real loopback backends.

Expected file:line values are found by reading the config files written here,
and times from the files' own mtimes and the error log apache2 wrote, not from
our own run."""
from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.diagnose.conftest import Httpd
from tests.support.apache import APACHE2, base_config, free_port, needs_apache
from vhostguard.cli import main

pytestmark = [pytest.mark.httpd, needs_apache]


# The sandbox runs apache2 as root without User: each child logs AH02155 (unixd:alert, with no server
# so no LogLevel hides it), which doctor's logs check rightly reports. Not the scenarios' business.
SANDBOX_NOISE = "AH02155"


def doctor(conf: Path, *extra: str) -> tuple[int, dict, str]:
    result = CliRunner().invoke(main, ["doctor", "-f", str(conf), "--json", *extra])
    assert result.exit_code in (0, 1), result.stderr + result.stdout
    doc = json.loads(result.stdout)
    doc["findings"] = [f for f in doc["findings"] if f["check"] != "logs" or SANDBOX_NOISE not in f["summary"]]
    serious = any(f["severity"] != "info" for f in doc["findings"])
    return (result.exit_code if serious else 0), doc, result.stderr


def problems(doc: dict) -> list[dict]:
    """The findings that count in the exit status: lint's warnings come as info findings, listed after them."""
    return [f for f in doc["findings"] if f["severity"] != "info"]


def line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def resume_notices(error_log: Path, pid: int) -> list[float]:
    """Times of the parent's "resuming normal operations"/"Command line" notices, read from apache2's own log."""
    times = []
    for line in error_log.read_text().splitlines():
        m = re.match(r"\[(\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d\.\d+ \d{4})\] \[[^\]]+\] \[pid (\d+)[^\]]*\] (AH\d{5})", line)
        if m and int(m.group(2)) == pid and m.group(3) in ("AH00489", "AH00094"):
            times.append(datetime.strptime(m.group(1), "%a %b %d %H:%M:%S.%f %Y").timestamp())
    return times


def healthy_site(port_of_backend: int) -> dict[str, str]:
    return {"httpd.conf": (
        "Listen 127.0.0.1:{port}\n"
        "<VirtualHost 127.0.0.1:{port}>\n"
        "    ServerName shop.example.test\n"
        f"    ProxyPass /api http://127.0.0.1:{port_of_backend}/api\n"
        "</VirtualHost>\n")}


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_healthy_setup(httpd: Callable[..., Httpd], backend: Callable[[int, str], int]) -> None:
    server = httpd(healthy_site(backend(200, "api")))
    code, doc, _ = doctor(server.conf)
    assert code == 0, doc
    assert problems(doc) == []
    # lint's warnings are listed as info findings, which do not count in the exit status
    # (VG111: this ProxyPass has no ProxyPassReverse)
    vg111 = next(f for f in doc["findings"] if f["summary"].startswith("lint VG111 "))
    assert vg111["kind"] == "lint-warning" and vg111["severity"] == "info"
    assert vg111["directives"] == [{"name": "ProxyPass", "file": str(server.conf), "line": line_of(server.conf, "ProxyPass")}]
    assert [(c["name"], c["status"]) for c in doc["checks"]] == [
        ("config", "ok"), ("server", "ok"), ("listeners", "ok"), ("backends", "ok"),
        ("logs", "problem"), ("routing", "skipped")]  # logs: the sandbox's AH02155 only (SANDBOX_NOISE)
    assert doc["server"]["pid"] == server.pid()
    assert doc["config"] == str(server.conf)
    # CONTRACT.md's keys
    assert set(doc) == {"schema", "config", "server", "checks", "findings"} and doc["schema"] == 1
    assert set(doc["server"]) == {"pid", "started", "reloaded", "config_changed"}


def test_backend_down_names_the_proxypass_line(httpd: Callable[..., Httpd]) -> None:
    closed = free_port()  # nothing listens there
    server = httpd(healthy_site(closed))
    code, doc, _ = doctor(server.conf)
    assert code == 1
    top = doc["findings"][0]
    assert top["rank"] == 1 and top["check"] == "backends" and top["severity"] == "critical"
    where = line_of(server.conf, "ProxyPass")
    assert top["directives"] == [{"name": "ProxyPass", "file": str(server.conf), "line": where}]
    assert f"{server.conf}:{where}" in top["summary"] and f"127.0.0.1:{closed}" in top["summary"]
    assert any("ECONNREFUSED" in line for line in top["evidence"])
    assert top["vhost"] == f"{server.conf}:{line_of(server.conf, '<VirtualHost')}"
    assert top["next"].startswith("vhostguard trace http://shop.example.test:")
    assert set(top) == {"rank", "severity", "check", "summary", "cause", "vhost", "expected_vhost", "directives",
                        "evidence", "next"} | {"kind"}


def test_server_not_running_explains_the_missing_listener(tmp_path: Path) -> None:
    port = free_port()
    conf = tmp_path / "httpd.conf"
    conf.write_text(base_config(tmp_path, ("mpm_event", "authz_core")) + f"ServerName localhost\nListen 127.0.0.1:{port}\n")
    code, doc, _ = doctor(conf, "--offline")
    assert code == 1
    kinds = [f["kind"] for f in problems(doc)]
    assert kinds[:2] == ["server-down", "listener-missing"]
    assert doc["server"]["pid"] is None
    missing = doc["findings"][1]
    assert missing["directives"] == [{"name": "Listen", "file": str(conf), "line": line_of(conf, "Listen")}]
    assert f"127.0.0.1:{port}" in missing["summary"]
    assert f"{tmp_path}/run/httpd.pid" in doc["findings"][0]["cause"]
    assert {c["name"]: c["status"] for c in doc["checks"]}["backends"] == "skipped"


def test_second_listen_not_bound_until_reload(httpd: Callable[..., Httpd], backend: Callable[[int, str], int]) -> None:
    server = httpd(healthy_site(backend(200, "api")))
    extra = free_port()
    time.sleep(0.05)
    with open(server.conf, "a") as handle:
        handle.write(f"Listen 127.0.0.1:{extra}\n")
    code, doc, _ = doctor(server.conf)
    assert code == 1
    assert [f["kind"] for f in problems(doc)] == ["config-stale", "listener-missing"]
    missing = doc["findings"][1]
    assert missing["directives"] == [{"name": "Listen", "file": str(server.conf), "line": line_of(server.conf, f":{extra}")}]
    assert "never read this Listen" in missing["cause"]
    # the first Listen is served by httpd's own socket
    assert f"1 of 2 Listen addresses have a listening socket held by pid {server.pid()}" in doc["checks"][2]["detail"]


def test_config_changed_on_disk_but_not_reloaded(httpd: Callable[..., Httpd], backend: Callable[[int, str], int]) -> None:
    server = httpd(healthy_site(backend(200, "api")))
    error_log = server.root / "logs" / "error.log"
    wait_for(lambda: bool(resume_notices(error_log, server.pid())))
    time.sleep(0.05)
    with open(server.conf, "a") as handle:
        handle.write("# changed after the server started\n")
    changed = os.stat(server.conf).st_mtime
    loaded = max(resume_notices(error_log, server.pid()))
    code, doc, _ = doctor(server.conf)
    assert code == 1
    top = doc["findings"][0]
    assert top["kind"] == "config-stale" and top["severity"] == "warning"
    assert iso(changed) in top["summary"] and iso(loaded) in top["summary"]
    assert "the running server is not running this config" in top["summary"]
    assert doc["server"]["config_changed"] == iso(changed) and doc["server"]["reloaded"] == iso(loaded)
    assert any(line.startswith(f"{error_log}:") and "AH00" in line for line in top["evidence"])

    # a graceful restart loads it: the finding goes away
    os.kill(server.pid(), signal.SIGUSR1)
    wait_for(lambda: max(resume_notices(error_log, server.pid())) > changed)
    code, doc, _ = doctor(server.conf)
    assert code == 0, problems(doc)
    assert doc["server"]["reloaded"] == iso(max(resume_notices(error_log, server.pid())))


def test_config_that_apache2_rejects_ranks_first(httpd: Callable[..., Httpd], backend: Callable[[int, str], int]) -> None:
    assert APACHE2 is not None
    server = httpd(healthy_site(backend(200, "api")))
    time.sleep(0.05)
    with open(server.conf, "a") as handle:
        handle.write("ProxyPassTypo /x http://127.0.0.1:1/\n")
    code, doc, _ = doctor(server.conf)
    assert code == 1
    top = doc["findings"][0]
    assert top["kind"] == "config-invalid" and top["severity"] == "critical"
    where = line_of(server.conf, "ProxyPassTypo")
    assert top["directives"] == [{"name": "ProxyPassTypo", "file": str(server.conf), "line": where}]
    assert any("Invalid command 'ProxyPassTypo'" in line for line in top["evidence"])
    assert top["next"].startswith(APACHE2) and " -t " in f" {top['next']} "
    assert "config-stale" in [f["kind"] for f in problems(doc)]
    assert {c["name"]: c["status"] for c in doc["checks"]}["config"] == "problem"


def test_text_output(httpd: Callable[..., Httpd]) -> None:
    closed = free_port()
    server = httpd(healthy_site(closed))
    result = CliRunner().invoke(main, ["doctor", "-f", str(server.conf)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(" 1. "))
    assert "[critical]" in lines[first] and f"127.0.0.1:{closed}" in lines[first]
    assert f"evidence: {server.conf}:{line_of(server.conf, 'ProxyPass')}: ProxyPass /api" in result.stdout


def test_unusable_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["doctor", "-f", str(tmp_path / "missing.conf")])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "missing.conf" in result.stderr
    result = CliRunner().invoke(main, ["doctor", "-f", str(tmp_path / "missing.conf"), "--offline", "--connect", "127.0.0.1:80"])
    assert result.exit_code == 2 and "--offline" in result.stderr
    # the loader's own refusal (httpd's words), not "no such config file"
    result = CliRunner().invoke(main, ["doctor", "-f", "/dev/zero"])
    assert result.exit_code == 2 and "/dev/zero" in result.stderr and "not a regular file" in result.stderr


def test_listen_port_held_by_another_program(httpd: Callable[..., Httpd], backend: Callable[[int, str], int]) -> None:
    import socket

    server = httpd(healthy_site(backend(200, "api")))
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        time.sleep(0.05)
        with open(server.conf, "a") as handle:
            handle.write(f"Listen 127.0.0.1:{taken}\n")
        code, doc, _ = doctor(server.conf)
    assert code == 1
    foreign = next(f for f in doc["findings"] if f["kind"] == "listener-foreign")
    assert f"pid {os.getpid()}" in foreign["summary"]  # this test process holds it
    assert foreign["directives"] == [{"name": "Listen", "file": str(server.conf), "line": line_of(server.conf, f":{taken}")}]


def test_pid_file_naming_another_program(tmp_path: Path) -> None:
    conf = tmp_path / "httpd.conf"
    conf.write_text(base_config(tmp_path, ("mpm_event", "authz_core")) + f"ServerName localhost\nListen 127.0.0.1:{free_port()}\n")
    (tmp_path / "run" / "httpd.pid").write_text(f"{os.getpid()}\n")  # alive, but python, not httpd
    code, doc, _ = doctor(conf, "--offline")
    assert code == 1
    top = doc["findings"][0]
    assert top["kind"] == "server-down" and "not httpd" in top["cause"] and str(os.getpid()) in top["cause"]


def test_every_kind_of_proxy_target_is_checked(httpd: Callable[..., Httpd], backend: Callable[[int, str], int],
                                               tmp_path: Path) -> None:
    up = backend(200, "up")
    member_down, rewrite_down = free_port(), free_port()
    sock = tmp_path / "app.sock"  # no such socket: the app is not running
    server = httpd({"httpd.conf": (
        "LoadModule slotmem_shm_module /usr/lib/apache2/modules/mod_slotmem_shm.so\n"
        "LoadModule proxy_balancer_module /usr/lib/apache2/modules/mod_proxy_balancer.so\n"
        "LoadModule lbmethod_byrequests_module /usr/lib/apache2/modules/mod_lbmethod_byrequests.so\n"
        "LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so\n"
        "Listen {port}\n"  # a bare port: httpd binds the wildcard address
        "<VirtualHost *:{port}>\n"
        "    ServerName app.example.test\n"
        "    <Proxy balancer://pool>\n"
        f"        BalancerMember http://127.0.0.1:{up}\n"
        f"        BalancerMember http://127.0.0.1:{member_down}\n"
        "    </Proxy>\n"
        "    ProxyPass /pool balancer://pool\n"
        f'    ProxyPass /sock "unix:{sock}|http://localhost/"\n'
        "    RewriteEngine on\n"
        f"    RewriteRule ^/old/(.*)$ http://127.0.0.1:{rewrite_down}/$1 [P]\n"
        "</VirtualHost>\n")})
    code, doc, _ = doctor(server.conf)
    assert code == 1
    down = {f["directives"][0]["line"]: f for f in doc["findings"] if f["kind"] == "backend-down"}
    assert sorted(down) == sorted(line_of(server.conf, text) for text in (f":{member_down}", "unix:", "RewriteRule"))
    assert down[line_of(server.conf, "unix:")]["directives"][0]["name"] == "ProxyPass"
    assert any("ENOENT" in line for line in down[line_of(server.conf, "unix:")]["evidence"])
    assert down[line_of(server.conf, "RewriteRule")]["directives"][0]["name"] == "RewriteRule"
    assert doc["checks"][3]["detail"] == "1 of 4 backend addresses accept connections"
    # the bare Listen is served by httpd's wildcard socket
    assert {c["name"]: c["status"] for c in doc["checks"]}["listeners"] == "ok"


def test_connect_option(httpd: Callable[..., Httpd], backend: Callable[[int, str], int]) -> None:
    server = httpd(healthy_site(backend(200, "api")))
    code, doc, _ = doctor(server.conf, "--connect", f"127.0.0.1:{server.port}")
    assert code == 0 and problems(doc) == []
    closed = free_port()
    code, doc, _ = doctor(server.conf, "--connect", f"127.0.0.1:{closed}")
    assert code == 1
    (refused,) = problems(doc)
    assert refused["kind"] == "connect-failed" and f"127.0.0.1:{closed}" in refused["summary"]
    assert doc["server"]["pid"] == server.pid()  # loopback: this machine's server is still examined


def test_stopped_server_shows_what_it_logged_last(httpd: Callable[..., Httpd], backend: Callable[[int, str], int]) -> None:
    server = httpd(healthy_site(backend(200, "api")))
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=10)
    error_log = server.root / "logs" / "error.log"
    numbered = list(enumerate(error_log.read_text().splitlines(), 1))
    stop_line = next(n for n, line in reversed(numbered) if "caught SIGTERM" in line)
    code, doc, _ = doctor(server.conf, "--offline")
    assert code == 1
    top = doc["findings"][0]
    assert top["kind"] == "server-down"
    assert any(line.startswith(f"{error_log}:{stop_line}: ") and "caught SIGTERM" in line for line in top["evidence"])
    assert "caught SIGTERM, shutting down" in top["cause"]
    assert [f["kind"] for f in problems(doc)] == ["server-down", "listener-missing"]


def test_apache2_t_sees_the_configs_envvars(tmp_path: Path) -> None:
    """Debian's layout: ${VARS} come from envvars beside the main file, sourced as apache2ctl does."""
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "site.conf").write_text(f"Listen 127.0.0.1:{free_port()}\n")
    (tmp_path / "envvars").write_text(f"export SITE_DIR={tmp_path}/extra\n")
    conf = tmp_path / "apache2.conf"
    conf.write_text(base_config(tmp_path, ("mpm_event", "authz_core")) + "ServerName localhost\nInclude ${SITE_DIR}/site.conf\n")
    _, doc, _ = doctor(conf, "--offline")
    assert {c["name"]: c["status"] for c in doc["checks"]}["config"] == "ok", doc["checks"]
    assert "apache2 -t: Syntax OK" in doc["checks"][0]["detail"]
    assert [f["kind"] for f in problems(doc)] == ["server-down", "listener-missing"]
    missing = doc["findings"][1]
    assert missing["directives"][0]["file"] == str(tmp_path / "extra" / "site.conf")


def test_config_errors_are_findings_not_a_failure_to_run(tmp_path: Path) -> None:
    conf = tmp_path / "httpd.conf"
    conf.write_text(base_config(tmp_path, ("mpm_event", "authz_core"))
                    + f"ServerName localhost\nListen 127.0.0.1:{free_port()}\nInclude {tmp_path}/missing.conf\n")
    code, doc, _ = doctor(conf, "--offline")
    assert code == 1
    kinds = [f["kind"] for f in problems(doc)]
    assert kinds[0] == "config-invalid" and "config-unreadable" in kinds
    where = line_of(conf, "Include")
    assert doc["findings"][0]["directives"] == [{"name": "Include", "file": str(conf), "line": where}]
    unreadable = doc["findings"][kinds.index("config-unreadable")]
    assert unreadable["severity"] == "critical" and f"{conf}:{where}" in unreadable["summary"]


def test_stale_config_without_a_readable_reload_notice_says_so(httpd: Callable[..., Httpd],
                                                               backend: Callable[[int, str], int]) -> None:
    server = httpd(healthy_site(backend(200, "api")))
    error_log = server.root / "logs" / "error.log"
    wait_for(lambda: bool(resume_notices(error_log, server.pid())))
    error_log.unlink()  # httpd writes on to the unlinked file; its notices can no longer be read
    time.sleep(0.05)
    with open(server.conf, "a") as handle:
        handle.write("# changed\n")
    code, doc, _ = doctor(server.conf)
    assert code == 1
    top = doc["findings"][0]
    assert top["kind"] == "config-stale" and doc["server"]["reloaded"] is None
    assert doc["server"]["started"] in top["summary"]  # the start time is all that is known
    assert "no resume notice" in top["cause"]

"""summarise(): a real capture plus the config that produced it -> what the worker did.

The configs beside the captures are the ones apache2 ran (paths under
/tmp/h8cap, which need not exist now: nothing here runs apache2)."""
from __future__ import annotations

from pathlib import Path

import pytest

from vhostguard.config import LoadOptions, load
from vhostguard.diagnose import NotTraced, config_targets, parse_strace, summarise
from vhostguard.diagnose.strace import decode_string
from vhostguard.model import ServerModel, build_model
from vhostguard.routing import Request

DATA = Path(__file__).parent / "data"


def model(name: str) -> ServerModel:
    return build_model(load(str(DATA / f"{name}.conf"), LoadOptions()))


def run(capture: str, conf: str, url: str, marker: str):
    parsed = parse_strace((DATA / f"{capture}.strace").read_text().splitlines())
    return summarise(parsed, model(conf), Request.from_url(url, local_ip="127.0.0.1"), marker)


def line_of(conf: str, text: str) -> int:
    lines = (DATA / f"{conf}.conf").read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def test_refused_backend_is_tied_to_its_proxypass() -> None:
    summary = run("event-static-proxy", "event-static-proxy", "http://www.example.test:18481/down/x", "X-Vhostguard-Trace: m4")
    assert summary.tid == 24677 and summary.status == 503
    (connect,) = summary.connects
    assert connect.address == "127.0.0.1:18483" and connect.result == "ECONNREFUSED"
    assert connect.directive is not None and connect.directive.name == "ProxyPass"
    assert connect.directive.line == line_of("event-static-proxy", "ProxyPass /down")
    assert any("AH01114" in line for line in summary.errors_logged)
    assert "ECONNREFUSED" in summary.story and f":{connect.directive.line}" in summary.story
    assert [phase.name for phase in summary.phases] == ["accept/read", "mapping", "backend connect", "write"]


def test_missing_file_behind_an_alias() -> None:
    summary = run("event-static-proxy", "event-static-proxy", "http://www.example.test:18481/assets/ap.js", "X-Vhostguard-Trace: m2")
    assert summary.status == 404
    failed = [access for access in summary.files if access.result != "ok"]
    assert failed[0].path == "/tmp/h8cap/srv/www/static/ap.js" and failed[0].result == "ENOENT"
    assert failed[0].directive is not None and failed[0].directive.name == "Alias"
    assert failed[0].directive.line == line_of("event-static-proxy", "Alias /assets")
    # the .htaccess lookups httpd makes in every directory are not failures
    assert not any(access.path.endswith(".htaccess") for access in summary.files)


def test_concurrent_requests_are_told_apart_by_the_marker() -> None:
    c2 = run("event-static-proxy", "event-static-proxy", "http://www.example.test:18481/api/c2", "X-Vhostguard-Trace: c2")
    c3 = run("event-static-proxy", "event-static-proxy", "http://www.example.test:18481/api/c3", "X-Vhostguard-Trace: c3")
    assert (c2.tid, c3.tid) == (24678, 24679)
    assert c2.connects[0].address == "127.0.0.1:18482" and c2.connects[0].result == "ok"
    assert c2.connects[0].backend_status == 404  # python's http.server has no /api/c2
    assert c2.status == 404


def test_cgi_exec_and_file_errors() -> None:
    cgi = run("event-cgi-errors-shutdown", "event-cgi-errors", "http://www.example.test:18491/cgi-bin/hello.sh", "X-Vhostguard-Trace: /cgi-bin/hello.sh")
    (executed,) = cgi.execs
    assert executed.path == "/tmp/h8cap/srv2/cgi/hello.sh" and executed.result == "ok"
    assert executed.directive is not None and executed.directive.name == "ScriptAlias"
    assert cgi.status == 200
    denied = run("event-cgi-errors-shutdown", "event-cgi-errors", "http://www.example.test:18491/secret.html", "X-Vhostguard-Trace: /secret.html")
    assert denied.status == 403 and any(a.result == "EACCES" and a.directive and a.directive.name == "DocumentRoot" for a in denied.files)
    loop = run("event-cgi-errors-shutdown", "event-cgi-errors", "http://www.example.test:18491/loop1", "X-Vhostguard-Trace: /loop1")
    assert any(a.result == "ELOOP" for a in loop.files) and loop.status == 403


def test_a_marker_nobody_read_is_not_traced() -> None:
    with pytest.raises(NotTraced):
        run("event-static-proxy", "event-static-proxy", "http://www.example.test:18481/", "X-Vhostguard-Trace: never-sent")


def test_config_targets_name_every_root_and_backend() -> None:
    targets = config_targets(model("event-cgi-errors"))
    kinds = [(t.directive, t.root or t.address) for t in targets]
    assert kinds == [
        ("DocumentRoot", "/tmp/h8cap/srv2/www"), ("Alias", "/tmp/h8cap/srv2/www/static"),
        ("ScriptAlias", "/tmp/h8cap/srv2/cgi"), ("ProxyPass", "127.0.0.1:18492"), ("ProxyPass", "127.0.0.1:18493"),
    ]


def test_text_output_shows_control_characters_instead_of_obeying_them() -> None:
    from vhostguard.cli.diagnose import trace_text

    lines = [
        '7 10:00:00.000000 read(5<TCP:[127.0.0.1:80->127.0.0.1:4000]>, "GET /x HTTP/1.1\\r\\nX-Vhostguard-Trace: m\\r\\n\\r\\n", 8000) = 40 <0.000010>',
        '7 10:00:00.000100 newfstatat(AT_FDCWD</>, "/tmp/h8cap/srv/www/\\33[2Jx", 0x1, 0) = -1 ENOENT (No such file or directory) <0.000010>',
    ]
    summary = summarise(parse_strace(lines), model("event-static-proxy"),
                        Request.from_url("http://www.example.test:18481/x", local_ip="127.0.0.1"), "X-Vhostguard-Trace: m")
    assert summary.files[0].path == "/tmp/h8cap/srv/www/\x1b[2Jx"
    text = trace_text(summary)
    assert "\x1b" not in text and "\\x1b[2Jx" in text


def test_dns_lookups_from_real_messages() -> None:
    """``event-dns``: ProxyPass to backend.example.test and missing.example.test, with
    glibc asking a loopback DNS server (A and AAAA in one sendmmsg, two replies)."""
    found = run("event-dns", "event-dns", "http://www.example.test:18571/api/x", "X-Vhostguard-Trace: d1")
    (lookup,) = found.dns
    assert (lookup.server, lookup.name, lookup.result, lookup.answers) == ("127.0.0.1:53", "backend.example.test", "ok", ("127.0.0.1",))
    # the connect to the answer is tied to the ProxyPass naming the host, through the worker's own answer
    (connect,) = found.connects  # glibc's nscd probe (unix:/var/run/nscd/socket, ENOENT) is not a backend
    assert connect.address == "127.0.0.1:18572" and connect.directive is not None
    assert connect.directive.line == line_of("event-dns", "ProxyPass /api")
    missing = run("event-dns", "event-dns", "http://www.example.test:18571/gone/x", "X-Vhostguard-Trace: d2")
    (lookup,) = missing.dns
    assert lookup.name == "missing.example.test" and lookup.result == "NXDOMAIN" and lookup.answers == ()
    assert lookup.directive is not None and lookup.directive.line == line_of("event-dns", "ProxyPass /gone")
    assert missing.status == 500 and missing.connects == ()
    assert any("NXDOMAIN" in failure for failure in missing.failures) and "NXDOMAIN" in missing.story
    assert any("AH00898" in line for line in missing.errors_logged)


def test_dns_wire_format() -> None:
    from vhostguard.diagnose.dns import parse_dns, parse_hosts

    # the reply in event-dns.strace line 38, as strace printed it
    reply = decode_string('"\\tQ\\201\\200\\0\\1\\0\\1\\0\\0\\0\\0\\7backend\\7example\\4test\\0\\0\\1\\0\\1\\300\\f\\0\\1\\0\\1\\0\\0\\0<\\0\\4\\177\\0\\0\\1"')
    message = parse_dns(reply.value)
    assert message is not None and message.response and message.rcode == 0
    assert (message.name, message.qtype, message.answers) == ("backend.example.test", 1, ("127.0.0.1",))
    assert parse_dns(b"short") is None
    assert parse_hosts("127.0.0.1 localhost\n10.0.0.7 db.internal db # the database\n") == {
        "localhost": {"127.0.0.1"}, "db.internal": {"10.0.0.7"}, "db": {"10.0.0.7"},
    }


def test_evidence_wins_over_the_prediction(write) -> None:
    """The worker connected to a backend only vhost B names, while the config on
    disk sends the Host to vhost A: the summary says B served it, and that the
    running server does not match the config."""
    conf = write("httpd.conf", """
        Listen 127.0.0.1:18481
        <VirtualHost 127.0.0.1:18481>
            ServerName www.example.test
            DocumentRoot /srv/a
        </VirtualHost>
        <VirtualHost 127.0.0.1:18481>
            ServerName other.example.test
            ProxyPass /down http://127.0.0.1:18483/down
        </VirtualHost>
        """)
    parsed = parse_strace((DATA / "event-static-proxy.strace").read_text().splitlines())
    built = build_model(load(str(conf), LoadOptions()))
    summary = summarise(parsed, built, Request.from_url("http://www.example.test:18481/down/x", local_ip="127.0.0.1"),
                        "X-Vhostguard-Trace: m4")
    assert summary.vhost == f"{conf}:6" and summary.predicted_vhost == f"{conf}:2"
    assert summary.naming_directive is None
    assert "may not be running this config" in summary.story

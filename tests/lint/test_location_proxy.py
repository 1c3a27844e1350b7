"""ProxyPass inside <Location>: VG108, VG110 and VG111 pair the section's path
with the one-argument URL, as mod_proxy's add_pass does.

The offline tests pin down what the rules do not claim; the httpd tests run
the bad fixtures on the real apache2 (backends replaced by recording stubs)
and show that every reported <Location> case misroutes for real, and that the
good fixture routes as written.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.lint.conftest import FIXTURES
from tests.support.apache import MODULES_DIR, needs_apache
from vhostguard.config import LoadOptions, load
from vhostguard.lint import Finding, run
from vhostguard.live import Sandbox
from vhostguard.model import build_model

Write = Callable[..., Path]

PREAMBLE = """\
ServerName fixture.test
Listen 80
LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so
LoadModule proxy_http_module /usr/lib/apache2/modules/mod_proxy_http.so
"""


def lint_text(write: Write, text: str, code: str) -> list[Finding]:
    # The MPM last: apache2 needs one, and the lines the tests name keep their numbers.
    conf = write("apache2.conf", PREAMBLE + text + f"LoadModule mpm_event_module {MODULES_DIR}/mod_mpm_event.so\n")
    tree = load(str(conf), LoadOptions(env_file=""))
    assert tree.errors == ()
    return run(build_model(tree), tree, select=[code])


def lines(findings: list[Finding]) -> list[int]:
    return [f.line for f in findings]


# -- offline: what is (not) claimed --------------------------------------------------

def test_server_mapping_under_a_location_is_not_claimed_while_a_regex_location_proxies(write: Write) -> None:
    # The merged <LocationMatch> mapping, not the <Location /img/> one, is tried
    # for the URIs it applies to; whether it leaves any to the server list
    # depends on its regex, so nothing is claimed.
    text = """\
    <VirtualHost *:80>
        ServerName www.example.com
        ProxyPass /img/thumbs/ http://127.0.0.1:7000/
        <Location /img/>
            ProxyPass http://127.0.0.1:7001/
        </Location>
        <LocationMatch "^/img/thumbs/(.*)\\.png$">
            ProxyPassMatch http://127.0.0.1:7002/$1
        </LocationMatch>
    </VirtualHost>
    """
    assert lint_text(write, text, "VG108") == []


def test_the_last_covering_location_takes_the_requests(write: Write) -> None:
    # <Location /img/> comes after <Location /img/thumbs/>: every URI under
    # /img/thumbs/ ends up with the /img/ mapping, tried before the server list.
    text = """\
    <VirtualHost *:80>
        ServerName www.example.com
        ProxyPass /img/thumbs/big/ http://127.0.0.1:7000/
        <Location /img/thumbs/>
            ProxyPass http://127.0.0.1:7001/
        </Location>
        <Location /img/>
            ProxyPass http://127.0.0.1:7002/
        </Location>
    </VirtualHost>
    """
    findings = lint_text(write, text, "VG108")
    assert lines(findings) == [7, 9]
    assert "<Location /img/> at" in findings[0].message and "is tried first" in findings[0].message
    assert "<Location /img/thumbs/> is never used" in findings[1].message


def test_a_vhost_location_covers_a_main_server_location(write: Write) -> None:
    # Main-server sections merge first: the vhost's later <Location /n/> wins
    # in that vhost only. A main-server line is reported only when it is
    # unused in every server, the main server included.
    text = """\
    <Location /n/v2/>
        ProxyPass http://127.0.0.1:7000/
    </Location>
    <VirtualHost *:80>
        ServerName www.example.com
        <Location /n/>
            ProxyPass http://127.0.0.1:7001/
        </Location>
    </VirtualHost>
    """
    assert lint_text(write, text, "VG108") == []


def test_exclusion_in_a_location_takes_the_server_mapping_too(write: Write) -> None:
    # proxy_trans stops at a matching "!" in the <Location> mapping.
    text = """\
    <VirtualHost *:80>
        ServerName www.example.com
        ProxyPass /private/api/ http://127.0.0.1:7000/
        <Location /private/>
            ProxyPass !
        </Location>
    </VirtualHost>
    """
    assert lines(lint_text(write, text, "VG108")) == [7]


def test_trailing_slash_is_not_judged_for_regex_and_wildcard_locations(write: Write) -> None:
    text = """\
    <VirtualHost *:80>
        ServerName www.example.com
        <LocationMatch "^/a/">
            ProxyPass http://127.0.0.1:7000/a
        </LocationMatch>
        <Location ~ "^/b/">
            ProxyPass http://127.0.0.1:7000/b
        </Location>
        <Location /c/*/>
            ProxyPass http://127.0.0.1:7000/c
        </Location>
    </VirtualHost>
    """
    assert lint_text(write, text, "VG110") == []


def test_reverse_mapping_scope(write: Write) -> None:
    text = """\
    ProxyPassReverse /main/ http://127.0.0.1:7000/
    <VirtualHost *:80>
        ServerName www.example.com
        <Location /main/>
            ProxyPass http://127.0.0.1:7000/
        </Location>
        <Location /inner/>
            ProxyPass http://127.0.0.1:7001/
        </Location>
        <Location /inner/deeper/>
            ProxyPassReverse http://127.0.0.1:7001/
        </Location>
        ProxyPassReverse /outer/ http://127.0.0.1:7002/ interpolate
        <Location /outer/x/>
            ProxyPass http://127.0.0.1:7002/
        </Location>
        <LocationMatch "^/re/">
            ProxyPass http://127.0.0.1:7003/
        </LocationMatch>
    </VirtualHost>
    """
    findings = lint_text(write, text, "VG111")
    # Server-context reverse maps count everywhere (the main server's too, and
    # with "interpolate" after the URL); a <Location> one counts for the
    # mappings its path contains or lies under; a regex section is not judged
    # by path, so only its URL must have a reverse map somewhere.
    assert [f.message.split(": ", 1)[1] for f in findings] == [
        "ProxyPass http://127.0.0.1:7003/ in <LocationMatch ^/re/> has no ProxyPassReverse for http://127.0.0.1:7003/",
    ]


# -- the real apache2 --------------------------------------------------------------

@pytest.fixture
def sandbox_for(tmp_path: Path) -> Iterator[Callable[[str, str], Sandbox]]:
    """A running sandbox of a fixture: the fixture Included by a main file that
    adds what starting needs (an MPM) and defines ${WORK}."""
    started: list[Sandbox] = []
    (tmp_path / "logs").mkdir()

    def _start(code: str, kind: str) -> Sandbox:
        main = tmp_path / f"{code}-{kind}.conf"
        main.write_text(
            f"Define WORK {tmp_path}\n"
            f"LoadModule mpm_event_module {MODULES_DIR}/mod_mpm_event.so\n"
            f"LoadModule authz_core_module {MODULES_DIR}/mod_authz_core.so\n"
            f"Include {FIXTURES / code / kind / 'apache2.conf'}\n"
        )
        sandbox = Sandbox(main, env_file="")
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield _start
    for sandbox in started:
        sandbox.stop()


def reported(lint_dir: Callable[..., object], code: str) -> dict[int, str]:
    result = lint_dir(FIXTURES / code / "bad", select=[code])
    return {f.line: f.message for f in result.findings}  # type: ignore[attr-defined]


def backend_of(sandbox: Sandbox, url: str) -> str:
    result = sandbox.request(url)
    assert result.status == 200 and result.backend is not None, (url, result.status)
    return result.backend.url


@pytest.mark.httpd
@needs_apache
def test_reported_location_shadowing_misroutes_on_apache2(sandbox_for, lint_dir) -> None:
    findings = reported(lint_dir, "VG108")
    sandbox = sandbox_for("VG108", "bad")
    # (line reported, a request the shadowed mapping was written for, where httpd sends it)
    cases = [
        (10, "http://api.example.com/shared/v1/x", "http://127.0.0.1:7200/v1/x"),   # main ProxyPass under <Location /shared/>
        (10, "http://app.example.com/shared/v1/x", "http://127.0.0.1:7200/v1/x"),   # ... in every vhost
        (28, "http://app.example.com/srv/v2/x", "http://127.0.0.1:6200/v2/x"),      # ProxyPass before <Location /srv/>
        (35, "http://app.example.com/app/v2/x", "http://127.0.0.1:6400/v2/x"),      # <Location /app/v2/> before <Location /app/>
        (43, "http://app.example.com/one/x", "http://127.0.0.1:6600/x"),            # two ProxyPass in one <Location>
    ]
    for line, url, backend in cases:
        assert line in findings, (line, sorted(findings))
        assert backend_of(sandbox, url) == backend, findings[line]


@pytest.mark.httpd
@needs_apache
def test_good_location_order_routes_as_written_on_apache2(sandbox_for) -> None:
    sandbox = sandbox_for("VG108", "good")
    assert backend_of(sandbox, "http://app.example.com/app/v2/x") == "http://127.0.0.1:6300/x"
    assert backend_of(sandbox, "http://app.example.com/app/x") == "http://127.0.0.1:6400/x"
    assert backend_of(sandbox, "http://app.example.com/other/v2/x") == "http://127.0.0.1:6100/x"
    # The main server's ProxyPass /status/ is hidden in app.example.com only.
    assert backend_of(sandbox, "http://api.example.com/status/x") == "http://127.0.0.1:7300/x"
    assert backend_of(sandbox, "http://app.example.com/status/x") == "http://127.0.0.1:6700/x"


@pytest.mark.httpd
@needs_apache
def test_reported_location_trailing_slash_breaks_paths_on_apache2(sandbox_for, lint_dir) -> None:
    findings = reported(lint_dir, "VG110")
    assert {19, 23} <= set(findings)
    bad = sandbox_for("VG110", "bad")
    assert backend_of(bad, "http://app.example.com/svc/login") == "http://127.0.0.1:8080/svclogin"
    assert backend_of(bad, "http://app.example.com/raw/x") == "http://127.0.0.1:8080/raw//x"
    good = sandbox_for("VG110", "good")
    assert backend_of(good, "http://app.example.com/svc/login") == "http://127.0.0.1:8080/svc/login"
    assert backend_of(good, "http://app.example.com/raw/x") == "http://127.0.0.1:8080/raw/x"


@pytest.mark.httpd
@needs_apache
def test_alias_under_a_location_proxypass_is_never_served_on_apache2(sandbox_for, lint_dir, tmp_path: Path) -> None:
    (tmp_path / "htdocs").mkdir()
    (tmp_path / "htdocs" / "x.txt").write_text("file\n")
    messages = [m for m in reported(lint_dir, "VG109").values() if m.startswith("vhost portal.example.com")]
    assert len(messages) == 1 and "ProxyPass in <Location /app/>" in messages[0], messages
    bad = sandbox_for("VG109", "bad")
    assert backend_of(bad, "http://portal.example.com/app/static/x.txt") == "http://127.0.0.1:8081/app/static/x.txt"
    good = sandbox_for("VG109", "good")  # a <Location> "ProxyPass !" over the alias: mod_alias serves it
    served = good.request("http://portal.example.com/static/x.txt")
    assert (served.status, served.backend, served.body) == (200, None, b"file\n")


@pytest.mark.httpd
@needs_apache
def test_proxypass_in_a_regex_or_wildcard_location_is_never_used_on_apache2(sandbox_for, lint_dir) -> None:
    # mod_proxy's add_pass takes the section's text as a literal prefix for ProxyPass (a regex
    # for ProxyPassMatch, or when the text has a wildcard): apache2 answers these paths itself
    # (404), no backend is called.
    findings = reported(lint_dir, "VG108")
    literal = [m for m in findings.values() if "as a literal path prefix" in m]
    assert len(literal) == 1, sorted(findings.values())
    bad = sandbox_for("VG108", "bad")
    result = bad.request("http://app.example.com/api/x")
    assert (result.status, result.backend) == (404, None)
    good = sandbox_for("VG108", "good")
    assert backend_of(good, "http://app.example.com/api/v1/x") == "http://127.0.0.1:6800/x"
    assert backend_of(good, "http://app.example.com/ok/x") == "http://127.0.0.1:6900/ok/x"
    # "^/star/(.*)$" has a wildcard: searched as a regex, the whole URI appended (not reported).
    assert backend_of(good, "http://app.example.com/star/x") == "http://127.0.0.1:7000/star/x"


@pytest.mark.httpd
@needs_apache
def test_proxypassmatch_in_a_locationmatch_takes_its_regex_on_apache2(sandbox_for, lint_dir) -> None:
    assert any("<LocationMatch ^/re/(.*)$>" in m for m in reported(lint_dir, "VG110").values())
    assert backend_of(sandbox_for("VG110", "bad"), "http://app.example.com/re/login") == "http://127.0.0.1:8080/relogin"
    assert backend_of(sandbox_for("VG110", "good"), "http://app.example.com/re/login") == "http://127.0.0.1:8080/re/login"

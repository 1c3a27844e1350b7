"""Issue 15 items 2-5 and 7 offline (no apache2): each rule here was seen on the live
apache2 2.4.71 (tests/routing/realworld/test_uris_live.py holds the live cases)."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tests.routing.test_route import go, router, summary, vhost  # noqa: F401 - router is a fixture
from vhostguard.routing import Request, Router


def test_encoded_slashes_follow_allow_encoded_slashes(router: Callable[[str], Router]) -> None:  # noqa: F811
    off = router(vhost("  ProxyPass /api/ http://10.0.0.1/api/\n"))
    assert summary(go(off, "http://a.example/api/a%2Fb")) == ("not-found", 404, None)
    nodecode = router(vhost("  AllowEncodedSlashes NoDecode\n  ProxyPass /api/ http://10.0.0.1/api/\n"))
    assert summary(go(nodecode, "http://a.example/api/a%2Fb%7E")) == ("proxy", None, "http://10.0.0.1/api/a%2Fb~")
    on = router(vhost("  AllowEncodedSlashes On\n  ProxyPass /api/ http://10.0.0.1/api/\n"))
    assert summary(go(on, "http://a.example/api/a%2Fb")) == ("proxy", None, "http://10.0.0.1/api/a/b")


def test_rewrite_proxy_with_noescape_forwards_the_uri_as_is(router: Callable[[str], Router]) -> None:  # noqa: F811
    r = router(vhost("  AllowEncodedSlashes NoDecode\n  RewriteEngine on\n"
                     "  RewriteRule .* http://127.0.0.1:8181%{REQUEST_URI} [P,QSA,NE]\n"))
    decision = go(r, "http://a.example/api/v4/projects/g%2Fp?x=1")
    assert decision.certain and summary(decision) == ("proxy", None, "http://127.0.0.1:8181/api/v4/projects/g%2Fp?x=1")


def test_relative_redirects_take_the_host_headers_port_not_the_connections(router: Callable[[str], Router]) -> None:  # noqa: F811
    r = router("Listen 8080\n<VirtualHost *:8080>\n  ServerName a.example\n  Redirect /old /new\n</VirtualHost>\n")
    assert summary(go(r, "http://a.example:8080/old"))[2] == "http://a.example:8080/new"
    assert summary(go(r, "http://a.example:8080/old", headers=(("Host", "a.example"),)))[2] == "http://a.example/new"
    canonical = router("Listen 8080\n<VirtualHost *:8080>\n  ServerName a.example\n  UseCanonicalName On\n"
                       "  Redirect /old /new\n</VirtualHost>\n")
    assert summary(go(canonical, "http://a.example:8080/old"))[2] == "http://a.example/new"


def test_scriptalias_runs_the_script_with_path_info(router: Callable[[str], Router], tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "cgi").mkdir()
    script = tmp_path / "cgi" / "listinfo"
    script.write_text("#!/bin/sh\n")
    os.chmod(script, 0o755)
    r = router(vhost(f"  ScriptAlias /mailman/ {tmp_path}/cgi/\n  ScriptAlias /bad/ {tmp_path}/cgi\n"
                     f"  <Directory {tmp_path}/cgi>\n    Require all granted\n  </Directory>\n"))
    assert summary(go(r, "http://a.example/mailman/listinfo/mylist")) == ("script", 200, str(script))
    assert summary(go(r, "http://a.example/mailman/nothing/mylist"))[:2] == ("not-found", 404)
    # No trailing slash on the target: /bad/listinfo is <dir>/cgilistinfo, which does not exist.
    assert summary(go(r, "http://a.example/bad/listinfo"))[1] in (403, 404)


def test_a_port_nothing_listens_on_is_refused(router: Callable[[str], Router]) -> None:  # noqa: F811
    r = router(vhost("") + "<VirtualHost *:8080>\n  ServerName b.example\n</VirtualHost>\n")
    for url in ("http://a.example:8081/", "http://b.example:8080/", "https://a.example/"):
        decision = go(r, url)
        assert summary(decision) == ("refused", None, None) and decision.outcome.reason
    assert summary(go(r, "http://a.example/"))[0] != "refused"


def test_websocket_rewrite_proxy_keeps_its_scheme(router: Callable[[str], Router]) -> None:  # noqa: F811
    r = router(vhost('  RewriteEngine on\n  RewriteRule ^/?(.*) "ws://localhost:8080/$1" [P,L]\n'))
    assert summary(go(r, "http://a.example/chat")) == ("proxy", None, "ws://localhost:8080/chat")


def test_b_flag_escapes_backreferences_and_redirects_escape_them_again(router: Callable[[str], Router]) -> None:  # noqa: F811
    r = router(vhost("  RewriteEngine on\n  RewriteRule ^/search/(.*)$ /index.php?q=$1 [B,R=302,L]\n"
                     "  RewriteRule ^/api/(.*)$ http://10.0.0.4/api.php?path=$1 [B,P]\n"
                     "  RewriteRule ^/pct/(.*)$ /to/$1 [R]\n"))
    assert summary(go(r, "http://a.example/search/a%20b%26c"))[2] == "http://a.example/index.php?q=a+b%2526c"
    assert summary(go(r, "http://a.example/api/x%2By.z")) == ("proxy", None, "http://10.0.0.4/api.php?path=x%2by%2ez")
    assert summary(go(r, "http://a.example/pct/a%2525b"))[2] == "http://a.example/to/a%2525b"


def test_refused_reads_plainly_in_route_explain_and_json(router: Callable[[str], Router]) -> None:  # noqa: F811
    from vhostguard.report import decision_json, explain_text, route_line

    decision = go(router(vhost("")), "http://a.example:8081/x")
    assert "no server (connection refused)" in route_line(decision) and "no Listen opens port 8081" in route_line(decision)
    assert "connection refused" in explain_text(decision)
    document = decision_json(decision)
    assert document["vhost"] is None and document["outcome"]["kind"] == "refused" and document["outcome"]["status"] is None


def test_allow_encoded_slashes_is_not_inherited_by_vhosts(router: Callable[[str], Router]) -> None:  # noqa: F811
    # Seen live: set once in apache2.conf, it does not reach the vhosts (UseCanonicalName does).
    r = router("AllowEncodedSlashes NoDecode\n" + vhost("  ProxyPass /api/ http://10.0.0.1/api/\n"))
    assert summary(go(r, "http://a.example/api/a%2Fb")) == ("not-found", 404, None)


def test_addhandler_cgi_script_needs_execcgi(router: Callable[[str], Router], tmp_path: Path) -> None:  # noqa: F811
    for name in ("gitweb", "noexec"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "gitweb.cgi").write_text("#!/bin/sh\n")
        os.chmod(tmp_path / name / "gitweb.cgi", 0o755)
    r = router("LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so\n" + vhost(
        f"  Alias /gitweb {tmp_path}/gitweb\n  <Directory {tmp_path}/gitweb>\n    Options +ExecCGI\n"
        "    AddHandler cgi-script .cgi\n    Require all granted\n  </Directory>\n"
        f"  Alias /noexec {tmp_path}/noexec\n  <Directory {tmp_path}/noexec>\n"
        "    AddHandler cgi-script .cgi\n    Require all granted\n  </Directory>\n"
    ))
    script = str(tmp_path / "gitweb" / "gitweb.cgi")
    assert summary(go(r, "http://a.example/gitweb/gitweb.cgi/project.git")) == ("script", 200, script)
    assert summary(go(r, "http://a.example/noexec/gitweb.cgi"))[:2] == ("forbidden", 403)


def test_requests_from_logs_are_never_refused(router: Callable[[str], Router]) -> None:  # noqa: F811
    # A logged request reached the server; its %p is the canonical port (80 for a Host
    # without one), not necessarily a listened one: the deploy and postmortem replays saw this.
    model = router("Listen 8080\n<VirtualHost *:*>\n  ServerName a.example\n  Redirect /x http://b.example/\n</VirtualHost>\n").model
    assert summary(Router(model).route(Request.from_url("http://a.example:81/x")))[0] == "refused"
    assert summary(Router(model, from_logs=True).route(Request.from_url("http://a.example:81/x")))[0] == "redirect"

"""Offline routing rules, each taken from httpd's documented or observed behaviour."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from vhostguard.config import LoadOptions, load
from vhostguard.model import build_model
from vhostguard.routing import Decision, Request, Router

Write = Callable[..., Path]
MODULES = "\n".join(
    f"LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so"
    for m in ("mpm_event", "authz_core", "authz_host", "alias", "rewrite", "proxy", "proxy_http", "dir", "autoindex", "access_compat",
              "authn_core", "auth_basic")
)


@pytest.fixture
def router(write: Write, tmp_path: Path) -> Callable[[str], Router]:
    (tmp_path / "www").mkdir(exist_ok=True)

    def make(body: str) -> Router:
        text = f"ServerName main.example\n{MODULES}\nListen 80\n" + body.replace("@ROOT@", str(tmp_path))
        tree = load(str(write("main.conf", text)), LoadOptions(environ={}, env_file=""))
        assert tree.errors == ()
        model = build_model(tree)
        assert model.errors == ()
        return Router(model)

    return make


def go(router: Router, url: str, **kw: object) -> Decision:
    return router.route(Request.from_url(url, **kw))  # type: ignore[arg-type]


def summary(decision: Decision) -> tuple[str, int | None, str | None]:
    o = decision.outcome
    return o.kind, o.status, o.target


VHOST = """
<VirtualHost *:80>
  ServerName a.example
  DocumentRoot @ROOT@/www
  <Directory @ROOT@/www>
    Require all granted
  </Directory>
{body}
</VirtualHost>
"""


def vhost(body: str) -> str:
    return VHOST.replace("{body}", body)


@pytest.mark.parametrize(
    ("rule", "path", "expected"),
    [
        ("ProxyPass /api http://b:1/x", "/api", "http://b:1/x"),
        ("ProxyPass /api http://b:1/x", "/api/", "http://b:1/x/"),
        ("ProxyPass /api http://b:1/x", "/api/v1", "http://b:1/x/v1"),
        ("ProxyPass /api http://b:1/x", "/apix", None),
        ("ProxyPass /api http://b:1/x", "/api//v1", "http://b:1/x/v1"),
        ("ProxyPass /api http://b:1/x", "/api?q=1", "http://b:1/x?q=1"),
        ("ProxyPass /api/ http://b:1/x", "/api", None),
        ("ProxyPass /api/ http://b:1/x", "/api/v1", "http://b:1/xv1"),
        ("ProxyPass /api http://b:1/x/", "/api/v1", "http://b:1/x//v1"),
        ("ProxyPass /api http://b:1/x", "/API/v1", None),
        ("ProxyPassMatch ^/u/(\\d+)$ http://b:1/users/$1", "/u/42", "http://b:1/users/42"),
        ("ProxyPassMatch \\.php$ http://b:1", "/x/y.php", "http://b:1/x/y.php"),
    ],
)
def test_proxypass_mapping(router: Callable[[str], Router], rule: str, path: str, expected: str | None) -> None:
    decision = go(router(vhost(rule)), f"http://a.example{path}")
    if expected is None:
        assert decision.outcome.kind != "proxy"
    else:
        assert summary(decision) == ("proxy", None, expected)
        assert decision.outcome.directive is not None and decision.outcome.directive.key.startswith("proxypass")


def test_first_proxypass_wins_general_before_specific(router: Callable[[str], Router]) -> None:
    r = router(vhost("ProxyPass /c/ http://b:1/general/\nProxyPass /c/d/ http://b:2/specific/"))
    decision = go(r, "http://a.example/c/d/x")
    assert decision.outcome.target == "http://b:1/general/d/x"
    assert any("shadowed" in s.detail for s in decision.steps)


def test_proxypass_exclusion(router: Callable[[str], Router], tmp_path: Path) -> None:
    (tmp_path / "www" / "static").mkdir(parents=True)
    (tmp_path / "www" / "static" / "a.css").write_text("x")
    r = router(vhost("ProxyPass /static !\nProxyPass / http://b:1/"))
    assert summary(go(r, "http://a.example/static/a.css")) == ("file", 200, str(tmp_path / "www/static/a.css"))
    assert go(r, "http://a.example/other").outcome.target == "http://b:1/other"


def test_proxypass_in_location_takes_location_path_and_precedence(router: Callable[[str], Router]) -> None:
    r = router(vhost("ProxyPass /api http://b:1/server\n<Location /api>\n ProxyPass http://b:2/loc\n</Location>"))
    assert go(r, "http://a.example/api/x").outcome.target == "http://b:2/loc/x"


def test_proxypass_beats_alias_and_redirect(router: Callable[[str], Router], tmp_path: Path) -> None:
    r = router(vhost(f"Redirect /p http://elsewhere/\nAlias /p {tmp_path}/www\nProxyPass /p http://b:1/p"))
    assert go(r, "http://a.example/p/x").outcome.kind == "proxy"


def test_redirect_before_alias_whatever_the_order(router: Callable[[str], Router], tmp_path: Path) -> None:
    r = router(vhost(f"Alias /r {tmp_path}/www\nRedirect permanent /r https://b.example/new"))
    assert summary(go(r, "http://a.example/r/x?q=1")) == ("redirect", 301, "https://b.example/new/x?q=1")


def test_alias_trailing_slash_is_literal(router: Callable[[str], Router], tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "f.txt").write_text("x")
    r = router(vhost(f"Alias /a/ {tmp_path}/files/\n<Directory {tmp_path}/files>\nRequire all granted\n</Directory>"))
    assert summary(go(r, "http://a.example/a/f.txt")) == ("file", 200, str(tmp_path / "files/f.txt"))
    assert go(r, "http://a.example/a").outcome.kind != "file"


def test_alias_to_missing_directory_is_forbidden(router: Callable[[str], Router], tmp_path: Path) -> None:
    r = router("<Directory />\nRequire all denied\n</Directory>\n" + vhost(f"Alias /gone {tmp_path}/nowhere"))
    assert summary(go(r, "http://a.example/gone/x"))[:2] == ("forbidden", 403)


def test_documentroot_file_present_missing_and_index(router: Callable[[str], Router], tmp_path: Path) -> None:
    (tmp_path / "www" / "here.html").write_text("x")
    (tmp_path / "www" / "dir").mkdir()
    (tmp_path / "www" / "dir" / "index.html").write_text("x")
    (tmp_path / "www" / "empty").mkdir()
    r = router(vhost(""))
    assert summary(go(r, "http://a.example/here.html")) == ("file", 200, str(tmp_path / "www/here.html"))
    assert summary(go(r, "http://a.example/missing.html"))[:2] == ("not-found", 404)
    assert summary(go(r, "http://a.example/dir/")) == ("file", 200, str(tmp_path / "www/dir/index.html"))
    assert summary(go(r, "http://a.example/dir?x=1")) == ("redirect", 301, "http://a.example/dir/?x=1")
    assert summary(go(r, "http://a.example/empty/"))[:2] == ("forbidden", 403)


def test_options_indexes_lists_directory(router: Callable[[str], Router], tmp_path: Path) -> None:
    (tmp_path / "www" / "empty").mkdir()
    r = router(vhost(f"<Directory {tmp_path}/www/empty>\nOptions +Indexes\n</Directory>"))
    assert summary(go(r, "http://a.example/empty/")) == ("handler", 200, "autoindex")


def test_fallback_resource(router: Callable[[str], Router], tmp_path: Path) -> None:
    (tmp_path / "www" / "index.php").write_text("x")
    r = router(vhost("FallbackResource /index.php"))
    assert summary(go(r, "http://a.example/some/route")) == ("file", 200, str(tmp_path / "www/index.php"))


def test_require_denied_in_location(router: Callable[[str], Router], tmp_path: Path) -> None:
    (tmp_path / "www" / "private").mkdir()
    (tmp_path / "www" / "private" / "x").write_text("x")
    (tmp_path / "www" / "private123").write_text("x")
    r = router(vhost("<Location /private>\nRequire all denied\n</Location>"))
    assert go(r, "http://a.example/private/x").outcome.kind == "forbidden"
    assert go(r, "http://a.example/private123").outcome.kind == "file"  # whole segments only


def test_require_ip_and_old_order_allow(router: Callable[[str], Router], tmp_path: Path) -> None:
    (tmp_path / "www" / "adm").mkdir()
    (tmp_path / "www" / "adm" / "i").write_text("x")
    (tmp_path / "www" / "old").mkdir()
    (tmp_path / "www" / "old" / "i").write_text("x")
    r = router(vhost(
        "<Location /adm>\nRequire ip 10.0.0.0/8\n</Location>\n"
        "<Location /old>\nOrder deny,allow\nDeny from all\nAllow from 10.1\n</Location>"
    ))
    assert go(r, "http://a.example/adm/i").outcome.kind == "forbidden"
    assert go(r, "http://a.example/adm/i", remote_ip="10.2.3.4").outcome.kind == "file"
    assert go(r, "http://a.example/old/i").outcome.kind == "forbidden"
    assert go(r, "http://a.example/old/i", remote_ip="10.1.9.9").outcome.kind == "file"


def test_require_valid_user_is_unauthorized(router: Callable[[str], Router], tmp_path: Path) -> None:
    (tmp_path / "www" / "i").write_text("x")
    r = router(vhost("<Location />\nAuthType Basic\nAuthName x\nRequire valid-user\n</Location>"))
    assert summary(go(r, "http://a.example/i"))[:2] == ("unauthorized", 401)


def test_require_host_is_uncertain(router: Callable[[str], Router], tmp_path: Path) -> None:
    (tmp_path / "www" / "i").write_text("x")
    decision = go(router(vhost("<Location />\nRequire host example.org\n</Location>")), "http://a.example/i")
    assert not decision.certain and "reverse DNS" in decision.uncertain_reasons[0]


def test_sethandler_in_location(router: Callable[[str], Router]) -> None:
    r = router(vhost("<Location /server-status>\nSetHandler server-status\n</Location>"))
    assert summary(go(r, "http://a.example/server-status")) == ("handler", 200, "server-status")


def test_sethandler_proxy_unix_socket(router: Callable[[str], Router], tmp_path: Path) -> None:
    (tmp_path / "www" / "x.php").write_text("x")
    r = router(vhost('<FilesMatch "\\.php$">\nSetHandler "proxy:unix:/run/php/fpm.sock|fcgi://localhost"\n</FilesMatch>'))
    # mod_proxy's handler appends r->filename (tests/routing/realworld: debian-php-fpm, live)
    target = f"unix:/run/php/fpm.sock|fcgi://localhost{tmp_path}/www/x.php"
    assert summary(go(r, "http://a.example/x.php")) == ("proxy", None, target)


@pytest.mark.parametrize(
    ("rules", "url", "expected"),
    [
        ("RewriteRule ^/old/(.*)$ /new/$1 [R=301,L]", "http://a.example/old/x?q=1", ("redirect", 301, "http://a.example/new/x?q=1")),
        ("RewriteRule ^/old$ /new [R]", "http://a.example/old", ("redirect", 302, "http://a.example/new")),
        ("RewriteRule ^/old$ https://b.example/ [R=308,QSD]", "http://a.example/old?x", ("redirect", 308, "https://b.example/")),
        ("RewriteRule ^/s$ /t?a=1 [R,QSA]", "http://a.example/s?b=2", ("redirect", 302, "http://a.example/t?a=1&b=2")),
        ("RewriteRule ^/s$ /t?a=1 [R]", "http://a.example/s?b=2", ("redirect", 302, "http://a.example/t?a=1")),
        ("RewriteRule ^/f - [F]", "http://a.example/f", ("forbidden", 403, None)),
        ("RewriteRule ^/g - [G]", "http://a.example/g", ("gone", 410, None)),
        ("RewriteRule ^/p/(.*)$ http://b:9/$1 [P]", "http://a.example/p/x?y=1", ("proxy", None, "http://b:9/x?y=1")),
        ("RewriteRule ^/x$ http://other.example/y", "http://a.example/x", ("redirect", 302, "http://other.example/y")),
        ("RewriteCond %{HTTPS} off\nRewriteRule ^ https://%{HTTP_HOST}%{REQUEST_URI} [R=301,L]", "http://a.example/p?q", ("redirect", 301, "https://a.example/p?q")),
        ("RewriteCond %{HTTP_HOST} ^www\\.(.+)$ [NC]\nRewriteRule ^/(.*) http://%1/$1 [R=301]", "http://a.example/p", None),
        ("RewriteCond %{REQUEST_METHOD} =POST\nRewriteRule ^ - [F]", "http://a.example/p", None),
        ("RewriteCond %{QUERY_STRING} (^|&)id=(\\d+)\nRewriteRule ^/item$ /items/%2? [R=301]", "http://a.example/item?id=7", ("redirect", 301, "http://a.example/items/7")),
        ("RewriteRule ^/a$ /b\nRewriteRule ^/b$ /c [R]", "http://a.example/a", ("redirect", 302, "http://a.example/c")),
        ("RewriteRule ^/a$ /b [L]\nRewriteRule ^/b$ /c [R]", "http://a.example/a", ("not-found", 404, None)),
        ("RewriteRule ^/a$ - [C]\nRewriteRule ^ /chained [R]", "http://a.example/z", None),
        ("RewriteRule ^/a - [S=1]\nRewriteRule ^ - [F]\nRewriteRule ^/a /b [R]", "http://a.example/a", ("redirect", 302, "http://a.example/b")),
        ("RewriteRule !^/keep /moved [R]", "http://a.example/other", ("redirect", 302, "http://a.example/moved")),
        ("RewriteRule ^/CASE$ /c [NC,R]", "http://a.example/case", ("redirect", 302, "http://a.example/c")),
    ],
)
def test_rewrite(router: Callable[[str], Router], rules: str, url: str, expected: tuple[str, int | None, str | None] | None) -> None:
    r = router(vhost("RewriteEngine on\n" + rules))
    decision = go(r, url)
    assert decision.certain, decision.uncertain_reasons
    if expected is None:  # no rule applies: served from the DocumentRoot
        assert decision.outcome.kind == "not-found"
    elif expected[0] == "not-found":
        assert summary(decision)[:2] == expected[:2]
    else:
        assert summary(decision) == expected


def test_rewrite_pt_passes_to_proxy(router: Callable[[str], Router]) -> None:
    r = router(vhost("RewriteEngine on\nRewriteRule ^/old/(.*) /api/$1 [PT]\nProxyPass /api/ http://b:1/api/"))
    assert go(r, "http://a.example/old/x").outcome.target == "http://b:1/api/x"


def test_rewrite_without_pt_skips_proxypass(router: Callable[[str], Router], tmp_path: Path) -> None:
    (tmp_path / "www" / "api").mkdir()
    (tmp_path / "www" / "api" / "x").write_text("x")
    r = router(vhost("RewriteEngine on\nRewriteRule ^/old/(.*) /api/$1\nProxyPass /api/ http://b:1/api/"))
    assert summary(go(r, "http://a.example/old/x")) == ("file", 200, str(tmp_path / "www/api/x"))


def test_rewrite_p_wins_over_proxypass(router: Callable[[str], Router]) -> None:
    r = router(vhost("RewriteEngine on\nRewriteRule ^/api/(.*) http://rw:1/$1 [P]\nProxyPass /api/ http://pp:1/"))
    assert go(r, "http://a.example/api/x").outcome.target == "http://rw:1/x"


def test_rewrite_file_test_against_filesystem(router: Callable[[str], Router], tmp_path: Path) -> None:
    (tmp_path / "www" / "real.html").write_text("x")
    r = router(vhost(
        "RewriteEngine on\nRewriteCond %{DOCUMENT_ROOT}%{REQUEST_URI} !-f\nRewriteRule ^ /index.html [R]"
    ))
    assert go(r, "http://a.example/real.html").outcome.kind == "file"
    assert go(r, "http://a.example/nope").outcome.kind == "redirect"


def test_rewrite_rules_not_inherited_unless_inherit(router: Callable[[str], Router]) -> None:
    body = "RewriteEngine on\nRewriteRule ^/main$ /from-main [R]\n"
    assert go(router(body + vhost("")), "http://a.example/main").outcome.kind != "redirect"
    inherited = router(body + vhost("RewriteEngine on\nRewriteOptions Inherit"))
    assert go(inherited, "http://a.example/main").outcome.kind == "redirect"


def test_rewritemap_is_uncertain(router: Callable[[str], Router]) -> None:
    r = router(vhost('RewriteEngine on\nRewriteMap m "txt:/nope"\nRewriteRule ^/(.*) /${m:$1} [R]'))
    decision = go(r, "http://a.example/x")
    assert not decision.certain and any("RewriteMap" in s for s in decision.uncertain_reasons)


def test_balancer_members(router: Callable[[str], Router]) -> None:
    r = router(vhost(
        "<Proxy balancer://pool>\nBalancerMember http://10.0.0.1:80\nBalancerMember http://10.0.0.2:80\n</Proxy>\n"
        "ProxyPass /app balancer://pool/app"
    ))
    outcome = go(r, "http://a.example/app/x").outcome
    assert outcome.target == "balancer://pool/app/x"
    assert outcome.members == ("http://10.0.0.1:80", "http://10.0.0.2:80")


def test_bad_host_and_missing_host(router: Callable[[str], Router]) -> None:
    r = router(vhost(""))
    assert summary(go(r, "http://a.example/", headers=(("Host", "bad_host!"),)))[:2] == ("bad-request", 400)
    decision = go(r, "http://a.example/", no_host=True)
    assert decision.server.server_name == "a.example" and decision.outcome.kind != "bad-request"


def test_main_server_answers_when_no_vhost_on_port(write: Write, tmp_path: Path) -> None:
    tree = load(str(write("m.conf", "ServerName main.example\nListen 80\nListen 81\n<VirtualHost *:80>\nServerName v\n</VirtualHost>\n")), LoadOptions(environ={}, env_file=""))
    decision = Router(build_model(tree)).route(Request.from_url("http://x.example:81/"))
    assert decision.server.is_main and decision.server.server_name == "main.example"


def test_steps_name_config_lines(router: Callable[[str], Router]) -> None:
    decision = go(router(vhost("ProxyPass /api http://b:1/api")), "http://a.example/api")
    stages = [s.stage for s in decision.steps]
    assert stages[:2] == ["vhost", "vhost"] and "proxy" in stages
    proxy_step = next(s for s in decision.steps if s.stage == "proxy")
    assert proxy_step.source is not None and proxy_step.source.line > 0


# Bytes that are not UTF-8 in a %-escape (issue 17.4): as apache2 2.4 does, checked with
# the differential corpus. mod_proxy's canonicalisation (ap_proxy_canonenc) writes
# upper-case hex; ap_escape_uri (Redirect, RewriteRule [R]) lower-case.
@pytest.mark.parametrize(("path", "target"), [
    ("/v1/%ff", "http://10.0.0.1:5000/v1/%FF"),
    ("/v1/%c0%af", "http://10.0.0.1:5000/v1/%C0%AF"),
    ("/v1/%e2%82%ac", "http://10.0.0.1:5000/v1/%E2%82%AC"),
])
def test_proxy_backend_url_escapes_bytes_that_are_not_utf8(router: Callable[[str], Router], path: str, target: str) -> None:
    r = router(vhost("  ProxyPass /v1/ http://10.0.0.1:5000/v1/\n"))
    assert summary(go(r, f"http://a.example{path}")) == ("proxy", None, target)


@pytest.mark.parametrize(("body", "path", "target"), [
    ("  Redirect /r https://b.example/new\n", "/r/%ff", "https://b.example/new/%ff"),
    ("  Redirect /r https://b.example/new\n", "/r/%c3%a9", "https://b.example/new/%c3%a9"),
    ("  RewriteEngine on\n  RewriteRule ^/old/(.*)$ /new/$1 [R=301,L]\n", "/old/%c0%af", "http://a.example/new/%c0%af"),
])
def test_redirect_location_escapes_bytes_in_lower_case_hex(router: Callable[[str], Router], body: str, path: str,
                                                           target: str) -> None:
    decision = go(router(vhost(body)), f"http://a.example{path}")
    assert decision.outcome.kind == "redirect" and decision.outcome.target == target


def test_nocanon_forwards_the_clients_own_escapes(router: Callable[[str], Router]) -> None:
    # apache2 2.4.71 sends /n/%ff as .../raw/%ff and /n/x%7e as .../raw/x%7e under nocanon:
    # the URL is built from r->unparsed_uri (ap_proxy_trans_match), query included.
    r = router(vhost("  ProxyPass /n/ http://10.0.0.1/raw/ nocanon\n"))
    plain = go(r, "http://a.example/n/x")
    assert plain.certain and summary(plain) == ("proxy", None, "http://10.0.0.1/raw/x")
    for path in ("/n/%ff", "/n/x%7e", "/n/a%20b?q=%41"):
        decision = go(r, f"http://a.example{path}")
        assert decision.certain and summary(decision) == ("proxy", None, "http://10.0.0.1/raw/" + path[3:])

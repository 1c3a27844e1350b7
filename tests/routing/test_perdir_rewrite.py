"""Per-directory mod_rewrite and .htaccess files, offline (the live comparison is in
tests/routing/realworld/test_perdir_rewrite_live.py): the internal redirect loop and
its limit, and .htaccess files httpd refuses (500) or ignores."""
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
    for m in ("mpm_event", "authz_core", "authz_host", "alias", "rewrite", "proxy", "proxy_http", "dir", "setenvif")
)


@pytest.fixture
def router(write: Write, tmp_path: Path) -> Callable[[str], Router]:
    def make(body: str) -> Router:
        (tmp_path / "www").mkdir(exist_ok=True)
        text = f"ServerName main.example\n{MODULES}\nListen 80\n" + f"""
<VirtualHost *:80>
  ServerName a.example
  DocumentRoot @ROOT@/www
  <Directory @ROOT@/www>
    AllowOverride All
    Require all granted
  </Directory>
{body}
</VirtualHost>
""".replace("@ROOT@", str(tmp_path))
        tree = load(str(write("main.conf", text)), LoadOptions(environ={}, env_file=""))
        assert tree.errors == ()
        return Router(build_model(tree))

    return make


def go(router: Router, url: str) -> Decision:
    return router.route(Request.from_url(url))


def outcome(decision: Decision) -> tuple[str, int | None, str | None]:
    assert decision.certain, decision.uncertain_reasons
    return decision.outcome.kind, decision.outcome.status, decision.outcome.target


def test_a_rewrite_loop_ends_in_500_after_ten_internal_redirects(router: Callable[[str], Router], write: Write) -> None:
    write("www/.htaccess", "RewriteEngine On\nRewriteRule ^(.*)$ x$1\n")
    decision = go(router(""), "http://a.example/page")
    assert outcome(decision)[:2] == ("error", 500)
    assert "AH00124" in (decision.outcome.reason or "")


@pytest.mark.parametrize(("longest", "expected"), [(3, ("not-found", 404)), (4, ("error", 500))])
def test_limit_internal_recursion_sets_the_limit(router: Callable[[str], Router], write: Write, longest: int,
                                                 expected: tuple[str, int]) -> None:
    # /a is rewritten to aa, aaa, ... one internal redirect each, until the pattern stops
    # matching: `longest` redirects in all (seen on apache2 2.4: 10 pass, 11 are a 500).
    write("www/.htaccess", f"RewriteEngine On\nRewriteRule ^(a{{1,{longest}}})$ $1a\n")
    assert outcome(go(router("LimitInternalRecursion 3"), "http://a.example/a"))[:2] == expected


def test_end_stops_the_later_rounds_and_last_does_not(router: Callable[[str], Router], write: Write,
                                                     tmp_path: Path) -> None:
    write("www/new.html", "x")
    write("www/.htaccess", "RewriteEngine On\nRewriteRule ^l$ new.html [L]\nRewriteRule ^e$ new.html [END]\n"
                           "RewriteRule ^new\\.html$ - [F]\n")
    route = router("")
    assert outcome(go(route, "http://a.example/l"))[:2] == ("forbidden", 403)
    assert outcome(go(route, "http://a.example/e")) == ("file", 200, str(tmp_path / "www/new.html"))


def test_an_invalid_command_in_htaccess_is_a_500_naming_file_and_line(router: Callable[[str], Router],
                                                                      write: Write) -> None:
    path = write("www/sub/.htaccess", "RewriteEngine On\nRewriteEngin On\n")
    write("www/sub/f.txt", "x")
    decision = go(router(""), "http://a.example/sub/f.txt")
    assert outcome(decision)[:2] == ("error", 500)
    assert f"{path}:2: Invalid command 'RewriteEngin', perhaps misspelled" in (decision.outcome.reason or "")


def test_a_directive_allowoverride_does_not_allow_is_a_500(router: Callable[[str], Router], write: Write) -> None:
    path = write("www/sub/.htaccess", "RewriteEngine On\n")
    write("www/sub/f.txt", "x")
    decision = go(router("<Directory @ROOT@/www/sub>\n  AllowOverride AuthConfig\n</Directory>"), "http://a.example/sub/f.txt")
    assert outcome(decision)[:2] == ("error", 500)
    assert f"{path}:1: RewriteEngine not allowed here" in (decision.outcome.reason or "")


def test_a_module_not_loaded_makes_its_directive_invalid(router: Callable[[str], Router], write: Write) -> None:
    write("www/.htaccess", "<IfModule mod_headers.c>\n  Header set X-A b\n</IfModule>\nHeader set X-B c\n")
    write("www/f.txt", "x")
    decision = go(router(""), "http://a.example/f.txt")
    assert outcome(decision)[:2] == ("error", 500)
    assert ":4: Invalid command 'Header'" in (decision.outcome.reason or "")


def test_htaccess_is_not_read_where_allowoverride_is_none(router: Callable[[str], Router], write: Write,
                                                         tmp_path: Path) -> None:
    write("www/sub/.htaccess", "RewriteEngine On\nRewriteRule ^ - [F]\nNonsense here\n")
    write("www/sub/f.txt", "x")
    decision = go(router("<Directory @ROOT@/www/sub>\n  AllowOverride None\n</Directory>"), "http://a.example/sub/f.txt")
    assert outcome(decision) == ("file", 200, str(tmp_path / "www/sub/f.txt"))


def test_allowoverride_nonfatal_and_allowoverridelist(router: Callable[[str], Router], write: Write) -> None:
    write("www/sub/.htaccess", "Nonsense here\nRewriteEngine On\nRewriteRule ^ - [F]\n")
    write("www/sub/f.txt", "x")
    nonfatal = router("<Directory @ROOT@/www/sub>\n  AllowOverride FileInfo Nonfatal=Unknown\n</Directory>")
    assert outcome(go(nonfatal, "http://a.example/sub/f.txt"))[:2] == ("forbidden", 403)
    write("www/sub/.htaccess", "RewriteEngine On\nRewriteRule ^ - [F]\n")
    listed = router("<Directory @ROOT@/www/sub>\n  AllowOverride None\n  AllowOverrideList RewriteEngine RewriteRule\n"
                    "</Directory>")
    assert outcome(go(listed, "http://a.example/sub/f.txt"))[:2] == ("forbidden", 403)


def test_a_per_directory_file_too_large_to_read_is_uncertain(router: Callable[[str], Router], write: Write) -> None:
    write("www/.htaccess", "# padding\n" * 120_000)
    write("www/f.txt", "x")
    decision = go(router(""), "http://a.example/f.txt")
    assert not decision.certain
    assert any("was not read" in reason for reason in decision.uncertain_reasons)


@pytest.mark.parametrize("rules", [
    "RewriteCond %{TIME_HOUR} <12\nRewriteRule ^ /morning.html [L]\n",
    "RewriteRule ^(.*)$ ${lookup:$1} [L]\n",
])
def test_what_depends_on_the_clock_or_a_map_is_uncertain(router: Callable[[str], Router], write: Write, rules: str) -> None:
    write("www/.htaccess", "RewriteEngine On\n" + rules)
    decision = go(router("RewriteMap lookup prg:/usr/local/bin/lookup"), "http://a.example/page")
    assert not decision.certain
    assert any("not modelled" in reason for reason in decision.uncertain_reasons)


def test_condition_minus_capital_f_asks_for_access(router: Callable[[str], Router], write: Write, tmp_path: Path) -> None:
    write("www/cache/open.html", "x")
    write("www/private/secret.html", "x")
    write("www/.htaccess", "RewriteEngine On\nRewriteCond %{DOCUMENT_ROOT}/cache/$1.html -F\nRewriteRule ^c/(.*)$ cache/$1.html [L]\n"
                           "RewriteCond %{DOCUMENT_ROOT}/private/$1.html -F\nRewriteRule ^p/(.*)$ private/$1.html [L]\n")
    route = router("<Directory @ROOT@/www/private>\n  Require all denied\n</Directory>")
    assert outcome(go(route, "http://a.example/c/open")) == ("file", 200, str(tmp_path / "www/cache/open.html"))
    assert outcome(go(route, "http://a.example/p/secret"))[:2] == ("not-found", 404)


def test_per_directory_rules_need_followsymlinks(router: Callable[[str], Router], write: Write) -> None:
    write("www/.htaccess", "Options -FollowSymLinks\nRewriteEngine On\nRewriteRule ^x$ y.html [L]\n")
    assert outcome(go(router(""), "http://a.example/x"))[:2] == ("forbidden", 403)


def test_env_variables_set_by_rules_and_redirects_are_known(router: Callable[[str], Router], write: Write,
                                                            tmp_path: Path) -> None:
    # Symfony's pattern: [E] sets BASE; REDIRECT_STATUS is empty on the first round only.
    write("www/app.php", "x")
    write("www/.htaccess", "RewriteEngine On\nRewriteRule .* - [E=BASE:/]\n"
                           "RewriteCond %{ENV:REDIRECT_STATUS} =\"\"\nRewriteRule ^app\\.php$ %{ENV:BASE} [R=301,L]\n"
                           "RewriteCond %{REQUEST_FILENAME} !-f\nRewriteRule ^ %{ENV:BASE}app.php [L]\n")
    route = router("")
    assert outcome(go(route, "http://a.example/app.php")) == ("redirect", 301, "http://a.example/")
    assert outcome(go(route, "http://a.example/x/y")) == ("file", 200, str(tmp_path / "www/app.php"))


def test_env_variables_nothing_in_the_rules_sets_are_uncertain(router: Callable[[str], Router], write: Write) -> None:
    write("www/.htaccess", "RewriteEngine On\nRewriteCond %{ENV:FROM_OUTSIDE} =1\nRewriteRule ^ - [F]\n")
    decision = go(router(""), "http://a.example/page")
    assert not decision.certain
    assert any("ENV:FROM_OUTSIDE" in reason for reason in decision.uncertain_reasons)


def test_setenvif_makes_every_env_variable_uncertain(router: Callable[[str], Router], write: Write) -> None:
    write("www/.htaccess", "RewriteEngine On\nRewriteCond %{ENV:FLAG} =1\nRewriteRule ^ - [F]\n"
                           "RewriteRule ^ - [E=FLAG:1]\n")
    assert outcome(go(router(""), "http://a.example/page"))[:2] == ("not-found", 404)  # FLAG is only set later
    decision = go(router("SetEnvIf User-Agent bot FLAG=1"), "http://a.example/page")
    assert not decision.certain
    assert any("ENV:FLAG" in reason for reason in decision.uncertain_reasons)

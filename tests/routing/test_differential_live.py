"""The differential corpus: every (config, request) case routed offline and by the
real apache2 in a sandbox must give the same vhost and the same outcome
(the harness: tests/support/differential.py).
"""
from __future__ import annotations


import pytest

from tests.support.apache import needs_apache
from tests.support.differential import (
    differential_tests,
    C,
    Scenario,
    site,
)

pytestmark = [pytest.mark.httpd, needs_apache]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("proxy-order", site("""
  ProxyPass /c/ http://10.9.0.1:81/general/
  ProxyPass /c/d/ http://10.9.0.2:82/specific/
  ProxyPass /static !
  ProxyPass / http://10.9.0.3:83/
"""), (
        C("http://a.test/c/d/x"), C("http://a.test/c/x?q=1"), C("http://a.test/static/app.css"),
        C("http://a.test/other?q=2"), C("http://a.test/c"), C("http://a.test/static/missing.css"),
        C("http://alias-a.test/c/y"), C("http://x.y.wild-a.test/c/z"), C("http://a.test/c/d"),
        C("http://a.test//c//d//x"),
        # Bytes that are not UTF-8 (issue 17.4): ap_proxy_canonenc escapes them, upper-case hex.
        C("http://a.test/c/%ff"), C("http://a.test/c/%c0%af"), C("http://a.test/c/%e2%82%ac?q=%ff"),
    ), files=("a/static/app.css",)),
    Scenario("proxy-location-and-match", site("""
  ProxyPass /api http://10.9.0.5:80/server
  <Location /api>
    ProxyPass http://10.9.0.4:80/v1
  </Location>
  ProxyPassMatch ^/u/(\\d+)$ http://10.9.0.6:80/users/$1
  ProxyPassMatch \\.php$ http://10.9.0.7:9000
"""), (
        C("http://a.test/api/x"), C("http://a.test/api"), C("http://a.test/apix"), C("http://a.test/u/42"),
        C("http://a.test/u/abc"), C("http://a.test/dir/page.php?x=1"), C("http://a.test/index.html"),
    ), files=("a/index.html", "a/apix")),
    Scenario("trailing-slash-mismatch", site("""
  ProxyPass /api/ http://10.9.0.8:80/x
  ProxyPass /b http://10.9.0.9:80/y/
"""), (
        C("http://a.test/api/v1"), C("http://a.test/api/"), C("http://a.test/api"), C("http://a.test/b/v1"),
        C("http://a.test/b"), C("http://a.test/b?z=1"),
    )),
    Scenario("proxy-alias-redirect-precedence", site("""
  Redirect /p http://elsewhere.test/
  Alias /p @ROOT@/aliased
  ProxyPass /p http://10.9.1.1:80/p
  Alias /al @ROOT@/aliased
  Alias /r @ROOT@/aliased
  Redirect permanent /r https://b.test/new
  RedirectMatch 301 ^/rm/(\\d+)$ https://b.test/items/$1
  Redirect gone /gone-page
  <Directory @ROOT@/aliased>
    Require all granted
  </Directory>
"""), (
        C("http://a.test/p/x"), C("http://a.test/al/f.txt"), C("http://a.test/al"), C("http://a.test/al/"),
        C("http://a.test/r/x?q=1"), C("http://a.test/r/%ff"), C("http://a.test/r/%c3%a9"), C("http://a.test/rm/7"), C("http://a.test/rm/x"), C("http://a.test/gone-page"),
    ), files=("aliased/f.txt", "aliased/index.html")),
    Scenario("rewrite-vs-proxy", site("""
  RewriteEngine on
  RewriteRule ^/rp/(.*)$ http://10.9.2.1:80/$1 [P]
  ProxyPass /rp/ http://10.9.2.2:80/
  RewriteRule ^/pt/(.*)$ /api/$1 [PT]
  ProxyPass /api/ http://10.9.2.3:80/api/
  RewriteRule ^/nopt/(.*)$ /api/$1
  RewriteRule ^/f - [F]
  RewriteRule ^/g - [G]
  RewriteRule ^/old/(.*)$ /new/$1 [R=301,L]
  RewriteRule ^/tmp$ /elsewhere [R]
  RewriteRule ^/file$ /index.html
  RewriteCond %{QUERY_STRING} (^|&)id=(\\d+)
  RewriteRule ^/item$ /items/%2? [R=301,L]
  RewriteRule ^/qsa$ /target?a=1 [R,QSA]
"""), (
        C("http://a.test/rp/x?y=1"), C("http://a.test/pt/z"), C("http://a.test/nopt/z"), C("http://a.test/f"),
        C("http://a.test/g"), C("http://a.test/old/a/b?c=d"), C("http://a.test/tmp"), C("http://a.test/file"),
        C("http://a.test/item?id=42"), C("http://a.test/item?x=1"), C("http://a.test/qsa?b=2"),
        C("http://a.test/api/direct"), C("http://a.test/old/%c0%af"), C("http://a.test/rp/%ff"),
    ), files=("a/index.html",)),
    Scenario("https-redirect", site("""
  RewriteEngine on
  RewriteCond %{HTTPS} off
  RewriteRule ^ https://%{HTTP_HOST}%{REQUEST_URI} [R=301,L]
"""), (
        C("http://a.test/x?y=1"), C("http://a.test/"), C("http://alias-a.test/deep/path"),
    )),
    Scenario("access-control", site("""
  <Directory @ROOT@/a>
    Require all granted
  </Directory>
  <Location /private>
    Require all denied
  </Location>
  <Location /adm>
    Require ip 10.0.0.0/8
  </Location>
  <Location /basic>
    AuthType Basic
    AuthName test
    AuthBasicProvider file
    AuthUserFile @ROOT@/nobody.htpasswd
    Require valid-user
  </Location>
  Alias /gone @ROOT@/nowhere
"""), (
        C("http://a.test/private/x"), C("http://a.test/private123"), C("http://a.test/adm/i.html"),
        C("http://a.test/basic/i.html"), C("http://a.test/gone/x"), C("http://a.test/here.html"),
        C("http://a.test/missing.html"),
    ), files=("a/private/x", "a/private123", "a/adm/i.html", "a/basic/i.html", "a/here.html")),
    Scenario("files-and-mod-dir", site("""
  <Directory @ROOT@/a>
    Require all granted
  </Directory>
  <Directory @ROOT@/a/listing>
    Options +Indexes
  </Directory>
  <Directory @ROOT@/a/custom>
    DirectoryIndex start.html
  </Directory>
"""), (
        C("http://a.test/"), C("http://a.test/sub"), C("http://a.test/sub/"), C("http://a.test/sub/?q=1"),
        C("http://a.test/empty/"), C("http://a.test/listing/"), C("http://a.test/custom/"),
        C("http://a.test/sub/page.html"),
    ), files=("a/index.html", "a/sub/index.html", "a/sub/page.html", "a/custom/start.html", "a/listing/x.txt"),
        dirs=("a/empty",)),
    Scenario("fallback-resource", site("""
  <Directory @ROOT@/a>
    Require all granted
    FallbackResource /index.html
  </Directory>
"""), (
        C("http://a.test/route/one"), C("http://a.test/index.html"), C("http://a.test/real.txt"),
    ), files=("a/index.html", "a/real.txt")),
    Scenario("vhost-selection", """
<VirtualHost *:80>
  ServerName first.test
  DocumentRoot @ROOT@/first
</VirtualHost>
<VirtualHost *:80>
  ServerName named.test
  ServerAlias other.test
  DocumentRoot @ROOT@/named
</VirtualHost>
<VirtualHost *:80>
  ServerName later.test
  ServerAlias other.test
  DocumentRoot @ROOT@/later
</VirtualHost>
<VirtualHost 10.0.0.5:80>
  ServerName ip.test
  DocumentRoot @ROOT@/ip
</VirtualHost>
<VirtualHost 10.0.0.5:80>
  ServerName ip2.test
  DocumentRoot @ROOT@/ip2
</VirtualHost>
<VirtualHost *:8080>
  ServerName port.test
  DocumentRoot @ROOT@/port
</VirtualHost>
<Directory @ROOT@>
  Require all granted
</Directory>
""", (
        C("http://named.test/i.html"), C("http://NAMED.test./i.html"), C("http://other.test/i.html"),
        C("http://unknown.test/i.html"), C("http://named.test/i.html", no_host=True),
        C("http://named.test/i.html", local_ip="10.0.0.5"), C("http://ip2.test/i.html", local_ip="10.0.0.5"),
        C("http://x.test/i.html", local_ip="10.0.0.5"), C("http://named.test:8080/i.html"),
        C("http://named.test/i.html", headers=(("Host", "bad_host!"),)),
    ), files=("first/i.html", "named/i.html", "later/i.html", "ip/i.html", "ip2/i.html", "port/i.html"),
        listen=("80", "10.0.0.5:80", "8080")),
    Scenario("handlers-and-balancer", site("""
  <Location /server-status>
    SetHandler server-status
  </Location>
  <Proxy balancer://pool>
    BalancerMember http://10.9.3.1:80
  </Proxy>
  ProxyPass /app balancer://pool/app
"""), (
        C("http://a.test/server-status"), C("http://a.test/app/x"), C("http://a.test/app"),
    )),
    Scenario("rewrite-flags", site(r"""
  <Directory @ROOT@/a>
    Require all granted
  </Directory>
  RewriteEngine on
  RewriteRule ^/CASE$ /nc [NC,R]
  RewriteRule ^/chain$ - [C]
  RewriteRule ^ /chained [R]
  RewriteRule ^/skip - [S=1]
  RewriteRule ^ - [F]
  RewriteRule ^/skip /skipped [R]
  RewriteRule !^/(keep|index\.html|nc|chained|skipped|moved|a\.txt) /moved [R]
  RewriteCond %{REQUEST_METHOD} =POST
  RewriteRule ^/post-only - [F]
  RewriteCond %{HTTP_HOST} ^alias-a\.test$ [NC]
  RewriteRule ^/keep/(.*)$ http://a.test/keep/$1 [R=302,L]
  RewriteCond %{DOCUMENT_ROOT}%{REQUEST_URI} -f
  RewriteRule ^/a\.txt$ /index.html
"""), (
        C("http://a.test/case"), C("http://a.test/chain"), C("http://a.test/skip"), C("http://a.test/else"),
        C("http://a.test/keep/x"), C("http://ALIAS-A.test/keep/x"), C("http://a.test/a.txt"),
        C("http://a.test/keep/index.html"),
    ), files=("a/index.html", "a/a.txt", "a/keep/index.html")),
    Scenario("location-redirect-and-handler", site("""
  <Directory @ROOT@/a>
    Require all granted
  </Directory>
  <Location /moved-here>
    Redirect https://new.test/landing
  </Location>
  <Location /tmp-move>
    Redirect 307 https://new.test/tmp
  </Location>
  <Location /status-off>
    SetHandler server-status
  </Location>
  <Location /status-off/none>
    SetHandler none
  </Location>
"""), (
        C("http://a.test/moved-here"), C("http://a.test/moved-here/deeper?x=1"), C("http://a.test/tmp-move"),
        C("http://a.test/status-off"), C("http://a.test/status-off/none/f.txt"),
    ), files=("a/status-off/none/f.txt",)),
    Scenario("main-server-and-inherit", """
RewriteEngine on
RewriteRule ^/main-rule$ /from-main [R]
<VirtualHost *:80>
  ServerName inherit.test
  DocumentRoot @ROOT@/inherit
  RewriteEngine on
  RewriteOptions Inherit
</VirtualHost>
<VirtualHost *:80>
  ServerName noinherit.test
  DocumentRoot @ROOT@/noinherit
</VirtualHost>
<Directory @ROOT@>
  Require all granted
</Directory>
""", (
        C("http://inherit.test/main-rule"), C("http://noinherit.test/main-rule"),
        C("http://any.test:8081/x.html"), C("http://noinherit.test/x.html"),
    ), files=("inherit/x.html", "noinherit/x.html", "main/x.html"), listen=("80", "8081")),
)

CASES = [(scenario, case) for scenario in SCENARIOS for case in scenario.cases]


running, test_offline_equals_live = differential_tests(SCENARIOS)


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 80

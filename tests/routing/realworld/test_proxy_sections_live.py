"""ProxyPass and ProxyPassMatch inside <LocationMatch>, <Location ~> and wildcard
<Location>s, against the real apache2 (harness: tests/support/differential.py).

mod_proxy's add_pass takes the section's own text as the mapping's path: a regex
for ProxyPassMatch, and for ProxyPass too when apr_fnmatch_test finds a ``*``,
``?`` or ``[...]`` in it; otherwise a literal prefix, which ``^/api/`` or
``\\.(css|js)$`` never is of a request path. A wildcard <Location> applies only to
URIs it matches whole (apr_fnmatch with APR_FNM_PATHNAME).

Each scenario adapts a published configuration (``source``) as little as a
sandbox needs: paths under @ROOT@ (the sandbox stands a recording stub in for
each backend).
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

GRANT_A = """
  <Directory @ROOT@/a>
    Require all granted
  </Directory>
"""

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("kibana-locationmatch", site(GRANT_A + """
  # Proxy for _aliases and .*/_search
  <LocationMatch "^/(_nodes|_aliases|.*/_aliases|_search|.*/_search|_mapping|.*/_mapping)$">
    ProxyPassMatch http://127.0.0.1:9200/$1
    ProxyPassReverse http://127.0.0.1:9200/$1
  </LocationMatch>
  # Proxy for kibana-int/{dashboard,temp} stuff
  <LocationMatch "^/(kibana-int/dashboard/|kibana-int/temp)(.*)$">
    ProxyPassMatch http://127.0.0.1:9200/$1$2
    ProxyPassReverse http://127.0.0.1:9200/$1$2
  </LocationMatch>
"""), (
        C("http://a.test/_search"), C("http://a.test/logstash-2014.01.01/_search"),
        C("http://a.test/kibana-int/dashboard/home"), C("http://a.test/index.html"), C("http://a.test/_search/x"),
    ), files=("a/index.html",), source="https://github.com/elastic/kibana/blob/3.x/sample/apache_ldap.conf (and elastic/kibana#121)"),
    Scenario("cif-locationmatch", site(GRANT_A + """
  <LocationMatch "^/(ping|observables)$">
    ProxyPassMatch http://127.0.0.1:5000/$1
    ProxyPassReverse http://127.0.0.1:5000/$1
  </LocationMatch>
"""), (
        C("http://a.test/ping"), C("http://a.test/observables?q=example.com"), C("http://a.test/observables/x"),
    ), source="https://github.com/csirtgadgets/massive-octo-spice/issues/225"),
    Scenario("question-maker", site(GRANT_A + """
  # Handle API routes - proxy to backend (MUST come first)
  <LocationMatch "^/api/">
    ProxyPass http://localhost:8000
    ProxyPassReverse http://localhost:8000
  </LocationMatch>
  # Handle all other requests - send to frontend
  <LocationMatch "^(?!\\/api\\/).*">
    ProxyPass http://localhost:3005
    ProxyPassReverse http://localhost:3005
  </LocationMatch>
"""), (
        # "^/api/" has no wildcard: ProxyPass maps the literal prefix "^/api/", so the API is
        # never proxied; ".*" makes the other section's text a regex, searched in the URI.
        C("http://a.test/api/auth/login"), C("http://a.test/"), C("http://a.test/quiz/12?x=1"),
    ), source="Question Maker deployment notes (questionmaker.ok.ubc.ca), /etc/httpd/conf.d/question-maker.conf"),
    Scenario("static-exclusions", site(GRANT_A + """
  ProxyPreserveHost On
  # Exception for /images
  <Location /images>
    ProxyPass !
  </Location>
  # Exception for specific file types
  <LocationMatch "\\.(jpg|png|gif|css|js)$">
    ProxyPass !
  </LocationMatch>
  # Default proxy rule
  ProxyPass / http://localhost:8080/myapp/
  ProxyPassReverse / http://localhost:8080/myapp/
"""), (
        # The <LocationMatch> exclusion is a literal prefix that matches nothing: the server's
        # ProxyPass still takes /css/site.css, while the <Location /images> one works.
        C("http://a.test/css/site.css"), C("http://a.test/images/logo.png"), C("http://a.test/orders/7"),
    ), files=("a/css/site.css", "a/images/logo.png"), source="https://serverdevworker.com/443101cbb"),
    Scenario("wordpress-nextjs", site(GRANT_A + """
  <LocationMatch "^(/wp-admin|/wp-login\\.php|/wp-json|/wp-content)">
    ProxyPass !
  </LocationMatch>
  <Location "/_next/static">
    ProxyPass http://localhost:3000/_next/static
    ProxyPassReverse http://localhost:3000/_next/static
  </Location>
  <LocationMatch "^(/trips(/.*)?|/categories(/.*)?|/trip(?!/get-caving-crew-membership(/.*)?)(/.*)?|/category(/.*)?|/test-client-nav|/)?$">
    ProxyPass http://localhost:3000
    ProxyPassReverse http://localhost:3000
  </LocationMatch>
"""), (
        C("http://a.test/trips/123"), C("http://a.test/_next/static/chunks/main.js"), C("http://a.test/wp-json/wp/v2/posts"),
        C("http://a.test/trip/get-caving-crew-membership"),
    ), source="https://github.com/cavingcrew/cavingcrew-hybrid-headless-react (README, Apache configuration)"),
    Scenario("wildcard-location", site(GRANT_A + """
  <Location "/*">
    ProxyPass "http://localhost:9008/"
  </Location>
"""), (
        # <Location "/*"> applies to one-segment paths only; its text, a wildcard, is then
        # searched as the regex "/*" and the whole URI appended to the URL.
        C("http://a.test/status"), C("http://a.test/"), C("http://a.test/static/app.css"),
    ), files=("a/static/app.css",), source="a CentOS httpd set-up note on GitHub: `<Location \"/*\"> ProxyPass \"http://localhost:9008/\"` as the alternative to a [P] rule"),
    Scenario("puppet-locationmatch", site(GRANT_A + """
  <LocationMatch "/api">
    ProxyPass http://localhost:8081/api
  </LocationMatch>
  <Location ~ "^/legacy/">
    ProxyPass http://localhost:8082/
  </Location>
"""), (
        # Without a wildcard the section's text is the mapping's literal prefix: "/api" works
        # like <Location /api> (and only there, not for /v1/api); "^/legacy/" matches nothing.
        C("http://a.test/api/users"), C("http://a.test/v1/api"), C("http://a.test/legacy/page"),
    ), source="https://github.com/puppetlabs/puppetlabs-apache/pull/2221 (ProxyPass in a LocationMatch: the path is taken as a string)"),
    Scenario("pt-into-location", site(GRANT_A + """
  RewriteEngine On
  RewriteRule ^/old/(.*)$ /app/$1 [PT]
  <Location /app/>
    ProxyPass http://10.9.6.1:8080/
  </Location>
  <Location /old/>
    ProxyPass http://10.9.6.2:8080/
  </Location>
  RewriteRule ^/legacy/(.*)$ /svc/$1 [PT]
  ProxyPass /svc/ http://10.9.6.3:8080/
"""), (
        # mod_proxy's translate_name reads the <Location>s of the URI as it came: after the
        # [PT] to /app/x neither <Location /old/>'s mapping (for /old/) nor <Location /app/>'s
        # (not walked yet) proxies it; a server-context ProxyPass does.
        C("http://a.test/old/x"), C("http://a.test/app/x"), C("http://a.test/legacy/y"),
    ), source="https://httpd.apache.org/docs/2.4/rewrite/flags.html#flag_pt with the <Location> form of "
              "https://httpd.apache.org/docs/2.4/mod/mod_proxy.html#proxypass"),
    Scenario("location-redirect-over-proxy", site(GRANT_A + """
  ProxyPass /api/ http://10.9.7.1:8080/
  <Location /api/old/>
    Redirect /api/old/ /api/new/
  </Location>
"""), (
        # mod_alias's fixup_redir runs before the proxy handler: the <Location> Redirect wins.
        C("http://a.test/api/old/x"), C("http://a.test/api/x"),
    ), source="https://httpd.apache.org/docs/2.4/mod/mod_alias.html#redirect (Context: directory) with "
              "https://httpd.apache.org/docs/2.4/mod/mod_proxy.html#proxypass"),
    Scenario("wildcard-location-access", site(GRANT_A + """
  <Location /private/*>
    Require all denied
  </Location>
  <Location /adm*>
    Require all denied
  </Location>
"""), (
        # The same whole-URI match decides access: <Location /private/*> does not cover
        # /private/sub/b.txt, nor <Location /adm*> /admin/c.txt.
        C("http://a.test/private/a.txt"), C("http://a.test/private/sub/b.txt"), C("http://a.test/admin/c.txt"),
        C("http://a.test/adm"), C("http://a.test/private/"),
    ), files=("a/private/a.txt", "a/private/sub/b.txt", "a/admin/c.txt", "a/adm", "a/private/index.html"),
        source="https://httpd.apache.org/docs/2.4/sections.html#wildcards (wildcards in <Location>)"),
)


running, test_offline_equals_live = differential_tests(SCENARIOS, "vg-proxysec")


def test_every_scenario_names_its_source() -> None:
    assert all(s.source for s in SCENARIOS)
    assert sum(len(s.cases) for s in SCENARIOS) >= 10

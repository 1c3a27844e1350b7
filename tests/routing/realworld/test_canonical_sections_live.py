"""UseCanonicalName and UseCanonicalPhysicalPort set in <Location> and <Directory>
(core.c: RSRC_CONF|ACCESS_CONF), against the real apache2 (harness:
tests/support/differential.py).

ap_get_server_name and ap_get_server_port read the request's per-directory core
config: a server-context Redirect or RewriteRule [R] (translate_name) sees the
<Location>s of the URI; mod_dir's trailing-slash redirect and a <Location> or
<Directory> Redirect (fixups) see the <Directory> sections too.
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

DOCS = "https://httpd.apache.org/docs/2.4/mod/core.html#usecanonicalname (Context: server config, virtual host, directory)"

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("location-on", site("""
  ServerName a.test:8443
  <Directory @ROOT@/a>
    Require all granted
  </Directory>
  Redirect /old/ /new/
  <Location /canon/>
    UseCanonicalName On
  </Location>
  Redirect /canon/srv/ /new/
  <Location /canon/old/>
    # the two-argument form in a section: fixup_redir, with the section's UseCanonicalName
    Redirect /canon/old/ /new/
  </Location>
  RewriteEngine On
  RewriteRule ^/canon/rw/(.*)$ /new/$1 [R=302,L]
  RewriteRule ^/plain/rw/(.*)$ /new/$1 [R=302,L]
  <Directory @ROOT@/a/dirc>
    UseCanonicalName On
  </Directory>
"""), (
        C("http://alias-a.test/old/x"), C("http://alias-a.test/canon/srv/x"), C("http://alias-a.test/canon/rw/x"),
        C("http://alias-a.test/plain/rw/x"), C("http://alias-a.test/dirc"), C("http://alias-a.test/canon/sub"),
        C("http://alias-a.test/plainsub"), C("http://alias-a.test/canon/old/x"),
    ), dirs=("a/dirc", "a/canon/sub", "a/plainsub"),
        source=DOCS + "; https://httpd.apache.org/docs/2.4/mod/mod_alias.html#redirect (Context: directory)"),
    Scenario("vhost-on-location-off", site("""
  ServerName a.test
  UseCanonicalName On
  <Directory @ROOT@/a>
    Require all granted
  </Directory>
  <Location /dyn/>
    UseCanonicalName Off
  </Location>
  Redirect /dyn/old/ /new/
  Redirect /old/ /new/
"""), (
        C("http://alias-a.test/old/x"), C("http://alias-a.test/dyn/old/x"), C("http://alias-a.test/dyn/d"),
        C("http://alias-a.test/d"),
    ), dirs=("a/dyn/d", "a/d"), source=DOCS),
    Scenario("location-physical-port", """
<VirtualHost *:8080>
  ServerName a.test
  DocumentRoot @ROOT@/a
  <Directory @ROOT@/a>
    Require all granted
  </Directory>
  <Location /phys/>
    UseCanonicalPhysicalPort On
  </Location>
  Redirect /phys/old/ /new/
  Redirect /old/ /new/
</VirtualHost>
""", (
        C("http://a.test:8080/phys/old/x", headers=(("Host", "a.test"),)),
        C("http://a.test:8080/old/x", headers=(("Host", "a.test"),)),
        C("http://a.test:8080/phys/sub", headers=(("Host", "a.test"),)),
    ), dirs=("a/phys/sub",), listen=("8080",), source="https://httpd.apache.org/docs/2.4/mod/core.html#usecanonicalphysicalport"),
)


running, test_offline_equals_live = differential_tests(SCENARIOS, "vg-canonsec")

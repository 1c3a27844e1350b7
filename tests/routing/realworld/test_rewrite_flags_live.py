"""mod_rewrite's backreference-escaping and query flags of httpd 2.4.57-2.4.60 against the
real apache2 (harness: tests/support/differential.py): [BNE=chars] (characters [B] or
[BCTLS] leave alone), [BCTLS] (escape controls and space only), [QSL] (the query starts at
the last '?'), and the unsafe '?' check: a '?' that a backreference or variable brings into
the substitution (a decoded %3F) and that would start the query is refused with 403
(AH10508) unless [UnsafeAllow3F]. Server context and <Directory> alike.
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

FLAGS_DOCS = "https://httpd.apache.org/docs/2.4/rewrite/flags.html (flag_b, flag_bne, flag_bctls, flag_qsl, flag_unsafe_allow_3f)"

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("docs-backref-flags", site("""
  RewriteEngine On
  # Escape the default characters, but leave /
  RewriteRule "^/search/(.*)$" "http://10.9.5.1:8080/search.php?term=$1" "[B,BNE=/,P]"
  RewriteRule "^/find/(.*)$" "http://10.9.5.1:8080/search.php?term=$1" "[B,P]"
  # Escape control characters and spaces
  RewriteRule "^/ctl/(.*)$" "http://10.9.5.1:8080/search.php/$1" "[BCTLS,P]"
  RewriteRule "^/ctlq/(.*)$" "http://10.9.5.1:8080/search.php?term=$1" "[BCTLS,BNE=+,P]"
  RewriteRule "^/r/(.*)$" "/search.php?term=$1" "[B,BNE=/&,R=302]"
  RewriteRule "^/rc/(.*)$" "/search.php/$1" "[BCTLS,R=302]"
"""), (
        C("http://a.test/search/a/b%20c&d"), C("http://a.test/find/a/b%20c&d"), C("http://a.test/ctl/a%20b/c&d%3F"),
        C("http://a.test/ctlq/x%20y+z"), C("http://a.test/r/a/b%20c&d=e"), C("http://a.test/rc/a%20b/c"),
        C("http://a.test/ctl/100%25"), C("http://a.test/ctl/t%09ab"),
    ), dirs=("a",), source=FLAGS_DOCS),
    Scenario("unsafe-question-mark", site("""
  <Directory @ROOT@/a>
    Require all granted
    Options FollowSymLinks
    RewriteEngine On
    RewriteRule "^search/(.*)$" "/search.php?term=$1" "[B,BNE=/,R=302]"
    RewriteRule "^plain/(.*)$" "/plain.php/$1" "[R=302]"
  </Directory>
  RewriteEngine On
  RewriteRule "^/x/(.*)$" "http://10.9.5.1:8080/x.php/$1" "[P]"
  RewriteRule "^/y/(.*)$" "http://10.9.5.1:8080/y.php/$1" "[P,UnsafeAllow3F]"
  RewriteRule "^/q/(.*)$" "http://10.9.5.1:8080/q.php?a=$1" "[P]"
  RewriteRule "^/l/(.*)$" "http://10.9.5.1:8080/l.php?a=$1" "[P,QSL]"
  RewriteRule "^/lu/(.*)$" "http://10.9.5.1:8080/l.php?a=$1" "[P,QSL,UnsafeAllow3F]"
"""), (
        C("http://a.test/x/a%3Fb"), C("http://a.test/y/a%3Fb"), C("http://a.test/q/a%3Fb"), C("http://a.test/l/a%3Fb"),
        C("http://a.test/lu/a%3Fb"), C("http://a.test/search/a/b%20c&d"), C("http://a.test/plain/a%3Fb"),
        C("http://a.test/plain/ab"),
    ), dirs=("a/search", "a/plain"),
        source="https://httpd.apache.org/security/vulnerabilities_24.html (CVE-2024-38474, 2.4.60: UnsafeAllow3F) and " + FLAGS_DOCS),
)


running, test_offline_equals_live = differential_tests(SCENARIOS, "vg-rwflags")

"""Issue 15 items 2-5 and 7, against the real apache2: encoded slashes and raw URIs,
CGI and ScriptAlias, the absolute URLs httpd builds, proxy schemes, and requests
that reach nothing (harness: tests/support/differential.py).

Each scenario adapts a published configuration (``source``) as little as a
sandbox needs: paths under @ROOT@, backends on 10.9.x.x or as written (the
sandbox stands a recording stub in for each).
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import pytest

from tests.support.apache import needs_apache
from tests.support.differential import (
    differential_tests,
    C,
    Scenario,
    site,
)

pytestmark = [pytest.mark.httpd, needs_apache]

# A CGI script that names itself (and its PATH_INFO): a 200 from it says which script ran.
CGI = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nSCRIPT:%s\\nPATH_INFO:%s\\n' \"$SCRIPT_FILENAME\" \"$PATH_INFO\"\n"


@lru_cache(maxsize=1)
def _certificate() -> tuple[tuple[str, str], ...]:
    """A throw-away self-signed certificate and key, as scenario contents."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return ()
    with tempfile.TemporaryDirectory(prefix="vg-uris-cert-") as tmp:
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{tmp}/k.pem", "-out", f"{tmp}/c.pem", "-days", "2", "-subj", "/CN=a.test"],
            check=True, capture_output=True,
        )
        return (("tls/cert.pem", Path(f"{tmp}/c.pem").read_text()), ("tls/key.pem", Path(f"{tmp}/k.pem").read_text()))


GRANT_A = """
  <Directory @ROOT@/a>
    Require all granted
  </Directory>
"""

# -- item 2: encoded slashes and raw URIs --------------------------------------------------------

ENCODED = (
    Scenario("gitlab-nodecode-p-ne", site("""
  AllowEncodedSlashes NoDecode
  ProxyPreserveHost On
  RewriteEngine on
  RewriteCond %{DOCUMENT_ROOT}/%{REQUEST_FILENAME} !-f [OR]
  RewriteCond %{REQUEST_URI} ^/uploads/.*
  RewriteRule .* http://127.0.0.1:8181%{REQUEST_URI} [P,QSA,NE]
"""), (
        C("http://a.test/api/v4/projects/group%2Fproject"),
        C("http://a.test/api/v4/projects/group%2Fproject/repository/files/docs%2FREADME.md/raw?ref=main"),
        C("http://a.test/group/project/-/tree/main"),
    ), source="https://gitlab.com/gitlab-org/gitlab-recipes/-/blob/master/web-server/apache/gitlab-omnibus-apache24.conf"),
    Scenario("encoded-slash-off", site("""
  ProxyPass /api/ http://10.9.4.1:80/api/
"""), (
        C("http://a.test/api/v4/projects/group%2Fproject"), C("http://a.test/docs%2fREADME"),
        C("http://a.test/api/v4/projects/group%252Fproject"),
    ), source="https://httpd.apache.org/docs/2.4/mod/core.html#allowencodedslashes (the default, Off)"),
    Scenario("jenkins-nocanon", site("""
  ProxyPass         /jenkins  http://localhost:8081/jenkins nocanon
  ProxyPassReverse  /jenkins  http://localhost:8081/jenkins
  ProxyRequests     Off
  AllowEncodedSlashes NoDecode
"""), (
        C("http://a.test/jenkins/job/folder%2Fjob/"), C("http://a.test/jenkins/job/x/ws/a%20b%7Ec?p=%41%2F"),
        C("http://a.test/jenkins/view/%C3%A9t%C3%A9/"), C("http://a.test/jenkins"),
    ), source="https://www.jenkins.io/doc/book/system-administration/reverse-proxy-configuration-with-jenkins/reverse-proxy-configuration-apache/"),
    Scenario("synapse-nocanon", site("""
  AllowEncodedSlashes NoDecode
  ProxyPreserveHost on
  ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
  ProxyPassReverse /_matrix http://127.0.0.1:8008/_matrix
  ProxyPass /_synapse/client http://127.0.0.1:8008/_synapse/client nocanon
  ProxyPassReverse /_synapse/client http://127.0.0.1:8008/_synapse/client
"""), (
        C("http://a.test/_matrix/client/v3/rooms/%21room%3Aexample.org/state/m.room.member/%40al%2Fice%3Aexample.org"),
        C("http://a.test/_synapse/client/oidc/callback?code=a%2Fb&state=x"),
        C("http://a.test/_matrixfoo"),
    ), source="https://element-hq.github.io/synapse/latest/reverse_proxy.html (Apache)"),
    Scenario("nodecode-canon", site("""
  AllowEncodedSlashes NoDecode
  ProxyPass /git/ http://10.9.4.2:3000/
  RewriteEngine on
  RewriteRule ^/raw/(.*)$ http://10.9.4.3:80/$1 [P]
  RewriteRule ^/ne/(.*)$ http://10.9.4.3:80/$1 [P,NE]
"""), (
        C("http://a.test/git/user/repo/src/branch/feature%2Fx"), C("http://a.test/git/a%7Eb%20c"),
        C("http://a.test/raw/a%2Fb"), C("http://a.test/ne/a%2Fb"),
    ), source="https://docs.gitea.com/administration/reverse-proxies (Apache HTTPD: AllowEncodedSlashes NoDecode); mod_rewrite [P]/[NE]"),
    Scenario("rewrite-b-flag", site("""
  RewriteEngine on
  RewriteRule ^/search/(.*)$ /index.php?q=$1 [B,R=302,L]
  RewriteRule ^/api/(.*)$ http://10.9.4.4:80/api.php?path=$1 [B,P]
  RewriteRule ^/plain/(.*)$ http://10.9.4.4:80/api.php?path=$1 [P]
  RewriteRule ^/find/(.*)$ /lookup/$1 [B,R=302,L]
  RewriteRule ^/bnp/(.*)$ http://10.9.4.4:80/q?s=$1 [B,BNP,P]
  RewriteRule ^/pct/(.*)$ /to/$1 [R]
"""), (
        C("http://a.test/search/a%20b%26c"), C("http://a.test/api/x%2By/z"), C("http://a.test/plain/x%2By%26z"),
        C("http://a.test/search/caf%C3%A9"), C("http://a.test/search/a.b-c~d_e"), C("http://a.test/find/a%20b%26c"),
        C("http://a.test/bnp/a%20b"), C("http://a.test/pct/a%2525b"),
    ), source="https://httpd.apache.org/docs/2.4/rewrite/flags.html#flag_b (search and API front controllers)"),
    Scenario("encoded-slashes-main-server", """
AllowEncodedSlashes NoDecode
<VirtualHost *:80>
  ServerName default.test
  DocumentRoot @ROOT@/default
</VirtualHost>
<VirtualHost *:80>
  ServerName a.test
  DocumentRoot @ROOT@/a
  ProxyPass /api/ http://10.9.4.5:80/api/
  <Directory @ROOT@/a>
    Require all granted
  </Directory>
</VirtualHost>
<VirtualHost *:80>
  ServerName own.test
  AllowEncodedSlashes Off
  DocumentRoot @ROOT@/a
  ProxyPass /api/ http://10.9.4.5:80/api/
</VirtualHost>
<VirtualHost *:80>
  ServerName nd.test
  AllowEncodedSlashes NoDecode
  DocumentRoot @ROOT@/a
  <Directory @ROOT@/a>
    Require all granted
  </Directory>
</VirtualHost>
""", (
        C("http://a.test/api/group%2Fproject"), C("http://own.test/api/group%2Fproject"),
        C("http://a.test/name%2Fwith-slash.txt"), C("http://a.test/docs/page.html"),
        C("http://nd.test/name%2Fwith-slash.txt"), C("http://nd.test/docs%2Fpage.html"),
    ), files=("a/name%2Fwith-slash.txt", "a/docs/page.html"),
        source="https://git.pyrocufflink.blue/dustin/configpolicy/commits/commit/025f2ddd8c3a5c7f655eff7ea169be1b324d6e00/roles/gitea/templates/gitea.httpd.conf.j2 (AllowEncodedSlashes is not inherited)"),
    Scenario("encoded-slashes-on", site(GRANT_A + """
  AllowEncodedSlashes On
  ProxyPass /ci http://localhost:8080/ci
"""), (
        C("http://a.test/ci/job/mediawiki-php-security/ZUUL_PROJECT=mediawiki%2Fcore/"),
        C("http://a.test/docs%2Fpage.html"),
    ), files=("a/docs/page.html",), source="https://phabricator.wikimedia.org/T272159 (AllowEncodedSlashes On for Jenkins)"),
)

# -- item 3: CGI and ScriptAlias -----------------------------------------------------------------

CGI_SCENARIOS = (
    Scenario("debian-serve-cgi-bin", site("""
  ScriptAlias /cgi-bin/ @ROOT@/cgi-bin/
  <Directory "@ROOT@/cgi-bin">
    AllowOverride None
    Options +ExecCGI -MultiViews +SymLinksIfOwnerMatch
    Require all granted
  </Directory>
"""), (
        C("http://a.test/cgi-bin/hello"), C("http://a.test/cgi-bin/hello/extra/path?q=1"),
        C("http://a.test/cgi-bin/missing"), C("http://a.test/cgi-bin/missing/x"), C("http://a.test/cgi-bin/"),
        C("http://a.test/cgi-bin/sub/"), C("http://a.test/cgi-bin/hello.txt/x"), C("http://a.test/cgi-bin/sub"),
    ), modules=("cgid",), contents=(("cgi-bin/hello", CGI),), executables=("cgi-bin/hello",), files=("cgi-bin/sub/index.html", "cgi-bin/hello.txt"),
        source="Debian apache2: /etc/apache2/conf-available/serve-cgi-bin.conf"),
    Scenario("mailman-scriptalias", site("""
  ScriptAlias /mailman/ @ROOT@/cgi-bin/mailman/
  Alias /pipermail/ @ROOT@/archives/public/
  <Directory @ROOT@/cgi-bin/mailman/>
    AllowOverride None
    Options ExecCGI
    Require all granted
  </Directory>
  <Directory @ROOT@/archives/public/>
    Options FollowSymlinks
    Require all granted
  </Directory>
"""), (
        C("http://a.test/mailman/listinfo"), C("http://a.test/mailman/listinfo/mylist"),
        C("http://a.test/mailman/admin/mylist/members?letter=a"), C("http://a.test/mailman/nothing/mylist"),
        C("http://a.test/pipermail/mylist/index.html"),
    ), modules=("cgid",), contents=(("cgi-bin/mailman/listinfo", CGI), ("cgi-bin/mailman/admin", CGI)),
        executables=("cgi-bin/mailman/listinfo", "cgi-bin/mailman/admin"), files=("archives/public/mylist/index.html",),
        source="Debian mailman: /etc/mailman/apache.conf"),
    Scenario("git-http-backend", site("""
  SetEnv GIT_PROJECT_ROOT @ROOT@/git
  SetEnv GIT_HTTP_EXPORT_ALL
  ScriptAlias /git/ @ROOT@/git-core/git-http-backend/
  <Directory @ROOT@/git-core>
    Options +ExecCGI
    Require all granted
  </Directory>
"""), (
        C("http://a.test/git/project.git/info/refs?service=git-upload-pack"), C("http://a.test/git/"),
        C("http://a.test/git/project.git/git-upload-pack"),
    ), modules=("cgid", "env"), contents=(("git-core/git-http-backend", CGI),), executables=("git-core/git-http-backend",),
        source="https://git-scm.com/docs/git-http-backend (Apache 2.x example)"),
    Scenario("scriptalias-no-trailing-slash", site("""
  ScriptAlias /cgi-bin/ @ROOT@/cgi-bin
  <Directory @ROOT@>
    Options +ExecCGI
    Require all granted
  </Directory>
"""), (
        C("http://a.test/cgi-bin/hello"), C("http://a.test/cgi-bin/x"),
    ), modules=("cgid",), contents=(("cgi-bin/hello", CGI), ("cgi-binx", CGI)), executables=("cgi-bin/hello", "cgi-binx"),
        source="https://httpd.apache.org/docs/2.4/mod/mod_alias.html#scriptalias (trailing-slash note); Debian bug reports"),
)

CGI_SCENARIOS += (
    Scenario("debian-cgit", site("""
  ScriptAlias /cgit/ "@ROOT@/cgit/cgit.cgi/"
  RedirectMatch ^/cgit$ /cgit/
  Alias /cgit-css "@ROOT@/share/cgit/"
  <Directory "@ROOT@/cgit/">
    AllowOverride None
    Options ExecCGI FollowSymlinks
    Require all granted
  </Directory>
  <Directory "@ROOT@/share/cgit/">
    Require all granted
  </Directory>
"""), (
        C("http://a.test/cgit"), C("http://a.test/cgit/"), C("http://a.test/cgit/linux.git/log/?h=master"),
        C("http://a.test/cgit-css/cgit.css"),
    ), modules=("cgid",), contents=(("cgit/cgit.cgi", CGI),), executables=("cgit/cgit.cgi",),
        files=("share/cgit/cgit.css",), source="Debian cgit: /etc/apache2/conf-available/cgit.conf"),
    Scenario("debian-gitweb", site("""
  Alias /gitweb @ROOT@/share/gitweb
  <Directory @ROOT@/share/gitweb>
    Options +FollowSymLinks +ExecCGI
    AddHandler cgi-script .cgi
    Require all granted
  </Directory>
  Alias /noexec @ROOT@/share/noexec
  <Directory @ROOT@/share/noexec>
    AddHandler cgi-script .cgi
    Require all granted
  </Directory>
  Alias /sh @ROOT@/share/noexec
  <Location /sh>
    SetHandler cgi-script
  </Location>
"""), (
        C("http://a.test/gitweb/gitweb.cgi"), C("http://a.test/gitweb/gitweb.cgi/project.git"),
        C("http://a.test/gitweb/static/gitweb.css"), C("http://a.test/noexec/run.cgi"), C("http://a.test/sh/run.cgi"),
        C("http://a.test/gitweb/GITWEB.CGI"), C("http://a.test/gitweb/static/gitweb.css/x"),
    ), modules=("cgid",), contents=(("share/gitweb/gitweb.cgi", CGI), ("share/noexec/run.cgi", CGI)),
        executables=("share/gitweb/gitweb.cgi", "share/noexec/run.cgi"), files=("share/gitweb/static/gitweb.css",),
        source="Debian gitweb: /etc/apache2/conf-available/gitweb.conf"),
)

# -- item 4: absolute URLs httpd builds ----------------------------------------------------------

CANONICAL = (
    Scenario("nextcloud-relative-redirect", """
<VirtualHost *:8080>
  ServerName cloud.test
  DocumentRoot @ROOT@/cloud
  Redirect 301 /.well-known/carddav /remote.php/dav
  Redirect 301 /.well-known/caldav /remote.php/dav
  RewriteEngine on
  RewriteRule ^/\\.well-known/webfinger /index.php/.well-known/webfinger [R=301,L]
  <Directory @ROOT@/cloud>
    Require all granted
  </Directory>
</VirtualHost>
<VirtualHost *:8080>
  ServerName named-port.test:8443
  DocumentRoot @ROOT@/cloud
  Redirect 301 /.well-known/carddav /remote.php/dav
  <Directory @ROOT@/cloud>
    Require all granted
  </Directory>
</VirtualHost>
""", (
        C("http://cloud.test:8080/.well-known/carddav"),
        C("http://cloud.test:8080/.well-known/caldav", headers=(("Host", "cloud.test"),)),
        C("http://cloud.test:8080/.well-known/webfinger?resource=acct:x", headers=(("Host", "cloud.test"),)),
        C("http://cloud.test:8080/apps", headers=(("Host", "cloud.test"),)),
        C("http://cloud.test:8080/apps"),
        C("http://named-port.test:8080/.well-known/carddav", headers=(("Host", "named-port.test"),)),
        C("http://named-port.test:8080/apps", headers=(("Host", "named-port.test"),)),
        C("http://named-port.test:8080/.well-known/carddav", headers=(("Host", "named-port.test:81"),)),
    ), dirs=("cloud/apps",), listen=("8080",),
        source="https://docs.nextcloud.com/server/latest/admin_manual/issues/general_troubleshooting.html (service discovery)"),
    Scenario("use-canonical-name", """
<VirtualHost *:8080>
  ServerName canon.test:9000
  UseCanonicalName On
  DocumentRoot @ROOT@/canon
  Redirect /old /new
  <Directory @ROOT@/canon>
    Require all granted
  </Directory>
</VirtualHost>
<VirtualHost *:8080>
  ServerName bare.test
  ServerAlias other.test
  UseCanonicalName On
  DocumentRoot @ROOT@/canon
  Redirect /old /new
</VirtualHost>
<VirtualHost *:8080>
  ServerName phys.test
  UseCanonicalPhysicalPort On
  DocumentRoot @ROOT@/canon
  Redirect /old /new
</VirtualHost>
<VirtualHost *:8080>
  ServerName dns.test
  UseCanonicalName DNS
  DocumentRoot @ROOT@/canon
  Redirect /old /new
</VirtualHost>
""", (
        C("http://canon.test:8080/old"), C("http://canon.test:8080/dir"),
        C("http://other.test:8080/old"), C("http://other.test:8080/old", headers=(("Host", "other.test"),)),
        C("http://phys.test:8080/old", headers=(("Host", "phys.test"),)), C("http://phys.test:8080/old"),
        C("http://dns.test:8080/old", uncertain="UseCanonicalName DNS"),
    ), dirs=("canon/dir",), listen=("8080",),
        source="https://httpd.apache.org/docs/2.4/mod/core.html#usecanonicalname"),
)

# -- item 5: schemes and protocols ---------------------------------------------------------------

OFFLOAD = (
    Scenario("canonical-main-server", """
UseCanonicalName On
<VirtualHost *:8080>
  ServerName portal.test:9100
  DocumentRoot @ROOT@/canon
  Redirect /login /sso/login
</VirtualHost>
""", (
        C("http://portal.test:8080/login"), C("http://other.test:8080/login"),
    ), listen=("8080",), source="https://httpd.apache.org/docs/2.4/mod/core.html#usecanonicalname (set once in the main config)"),
    Scenario("servername-scheme-and-main-port", """
ServerName main.test:8000
<VirtualHost *:8080>
  ServerName https://cloud.test
  DocumentRoot @ROOT@/cloud
  Redirect 301 /.well-known/carddav /remote.php/dav
  <Directory @ROOT@/cloud>
    Require all granted
  </Directory>
</VirtualHost>
<VirtualHost *:8080>
  ServerName inherit.test
  DocumentRoot @ROOT@/cloud
  Redirect 301 /.well-known/carddav /remote.php/dav
</VirtualHost>
""", (
        C("http://cloud.test:8080/.well-known/carddav", headers=(("Host", "cloud.test"),)),
        C("http://cloud.test:8080/apps?x=1", headers=(("Host", "cloud.test"),)),
        C("http://inherit.test:8080/.well-known/carddav", headers=(("Host", "inherit.test"),)),
        C("http://inherit.test:8080/.well-known/carddav"),
    ), dirs=("cloud/apps",), listen=("8080",),
        source="https://httpd.apache.org/docs/2.4/mod/core.html#servername (a server behind a TLS-offloading proxy)"),
)

SCHEMES = (
    Scenario("wstunnel-rewrite", site("""
  ProxyPass / http://localhost:8080/
  RewriteEngine on
  RewriteCond %{HTTP:Upgrade} websocket [NC]
  RewriteCond %{HTTP:Connection} upgrade [NC]
  RewriteRule ^/?(.*) "ws://localhost:8080/$1" [P,L]
"""), (
        C("http://a.test/socket/chat", headers=(("Upgrade", "websocket"), ("Connection", "Upgrade"))),
        C("http://a.test/socket/chat"),
    ), modules=("proxy_wstunnel",), source="https://httpd.apache.org/docs/2.4/mod/mod_proxy_wstunnel.html"),
    Scenario("collabora", site("""
  AllowEncodedSlashes NoDecode
  ProxyPreserveHost On
  ProxyPass           /browser http://127.0.0.1:9980/browser retry=0
  ProxyPassReverse    /browser http://127.0.0.1:9980/browser
  ProxyPass           /hosting/discovery http://127.0.0.1:9980/hosting/discovery retry=0
  ProxyPassMatch "/cool/(.*)/ws$"      ws://127.0.0.1:9980/cool/$1/ws nocanon
  ProxyPass   /cool/adminws ws://127.0.0.1:9980/cool/adminws
  ProxyPass           /cool http://127.0.0.1:9980/cool
"""), (
        C("http://a.test/cool/http%3A%2F%2Fnc%2Fwopi%2Ffiles%2F7/ws"), C("http://a.test/cool/adminws"),
        C("http://a.test/cool/convert-to/pdf"), C("http://a.test/browser/dist/cool.html?WOPISrc=x"),
        C("http://a.test/hosting/discovery"),
    ), modules=("proxy_wstunnel",), source="https://sdk.collaboraonline.com/docs/installation/Proxy_settings.html (Apache)"),
    Scenario("backend-schemes", site("""
  ProxyPass "/tomcat/" "ajp://backend.example.com:8009/tomcat/"
  ProxyPass "/app" "h2c://app.example.com"
  ProxyPassMatch ^/shop/(.*\\.php)$ "unix:/run/php/php8.2-fpm.sock|fcgi://localhost/var/www/shop/$1"
  ProxyPassMatch ^/(.*\\.php(/.*)?)$ fcgi://127.0.0.1:9000/var/www/html/$1
  ProxyPass /push/ws ws://127.0.0.1:7867/ws
  ProxyPass /push/ http://127.0.0.1:7867/
  ProxyPass /sock/ "unix:/run/app.sock|http://localhost/"
  ProxyPass /fpm/ "unix:/run/php/php-fpm.sock|fcgi://localhost/var/www/fpm/"
  RewriteEngine on
  RewriteRule ^/wss/(.*)$ wss://chat.example.com/$1 [P,L]
"""), (
        C("http://a.test/tomcat/examples/index.jsp?x=1"), C("http://a.test/app/v1/items"),
        C("http://a.test/blog/index.php/2024/post"), C("http://a.test/push/ws"), C("http://a.test/push/test/cookie"),
        C("http://a.test/sock/status"), C("http://a.test/wss/room/1"), C("http://a.test/fpm/status?full"),
        C("http://a.test/shop/cart.php?id=3"),
    ), modules=("proxy_ajp", "proxy_fcgi", "proxy_http2", "proxy_wstunnel"),
        source="httpd docs mod_proxy_ajp, mod_proxy_http2, mod_proxy_fcgi; https://github.com/nextcloud/notify_push (Apache)"),
)


PHP_FPM = (
    Scenario("debian-php-fpm", site("""
  DirectoryIndex index.php index.html
  <FilesMatch ".+\\.ph(?:ar|p|tml)$">
    SetHandler "proxy:unix:/run/php/php8.2-fpm.sock|fcgi://localhost"
  </FilesMatch>
  <FilesMatch "^\\.ph(?:ar|p|ps|tml)$">
    Require all denied
  </FilesMatch>
""" + GRANT_A), (
        C("http://a.test/index.php"), C("http://a.test/"), C("http://a.test/blog/wp-login.php?x=1"),
        C("http://a.test/.php"), C("http://a.test/readme.html"),
    ), files=("a/index.php", "a/blog/wp-login.php", "a/.php", "a/readme.html"), modules=("proxy_fcgi",),
        source="Debian php8.2-fpm: /etc/apache2/conf-available/php8.2-fpm.conf"),
)


def _tls_scenarios() -> tuple[Scenario, ...]:
    certificate = _certificate()
    if not certificate:
        return ()
    return (
        Scenario("plain-http-to-ssl-port", """
<VirtualHost *:80>
  ServerName a.test
  DocumentRoot @ROOT@/a
  Redirect permanent / https://a.test/
</VirtualHost>
<VirtualHost *:443>
  ServerName a.test
  DocumentRoot @ROOT@/a
  SSLEngine on
  SSLCertificateFile @ROOT@/tls/cert.pem
  SSLCertificateKeyFile @ROOT@/tls/key.pem
  <Directory @ROOT@/a>
    Require all granted
  </Directory>
</VirtualHost>
""", (
            C("http://a.test:443/index.html"), C("https://a.test/index.html"), C("http://a.test/index.html"),
            C("https://a.test:80/index.html"), C("https://a.test:8443/index.html"),
        ), files=("a/index.html",), contents=certificate, listen=("80", "443"),
            modules=("socache_shmcb", "ssl"),
            source="Debian apache2: sites-available/default-ssl.conf with a port-80 redirect vhost"),
    )


# -- item 7: requests to nothing -----------------------------------------------------------------

NOTHING = (
    Scenario("missing-listen", """
<VirtualHost *:80>
  ServerName a.test
  DocumentRoot @ROOT@/a
  <Directory @ROOT@/a>
    Require all granted
  </Directory>
</VirtualHost>
<VirtualHost *:8080>
  ServerName app.test
  DocumentRoot @ROOT@/a
</VirtualHost>
""", (
        C("http://a.test:8081/index.html"), C("http://app.test:8080/index.html"), C("https://a.test/index.html"),
        C("http://a.test/index.html"), C("http://a.test/index.html", local_ip="10.0.0.9"),
    ), files=("a/index.html",), listen=("80",),
        source="Debian apache2: a site on *:8080 without its Listen in /etc/apache2/ports.conf"),
    Scenario("ip-listen", """
<VirtualHost 10.0.0.5:80>
  ServerName a.test
  DocumentRoot @ROOT@/a
  <Directory @ROOT@/a>
    Require all granted
  </Directory>
</VirtualHost>
""", (
        C("http://a.test/index.html", local_ip="10.0.0.5"), C("http://a.test/index.html", local_ip="10.0.0.6"),
    ), files=("a/index.html",), listen=("10.0.0.5:80",),
        source="https://httpd.apache.org/docs/2.4/bind.html (Listen on one address)"),
)

SCENARIOS: tuple[Scenario, ...] = (
    ENCODED + CGI_SCENARIOS + CANONICAL + OFFLOAD + SCHEMES + PHP_FPM + _tls_scenarios() + NOTHING
)


running, test_offline_equals_live = differential_tests(SCENARIOS, "vg-uris")


def test_every_scenario_names_its_source() -> None:
    assert all(s.source for s in SCENARIOS)
    assert sum(len(s.cases) for s in SCENARIOS) >= 35

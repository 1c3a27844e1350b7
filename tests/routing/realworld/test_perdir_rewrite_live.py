"""Per-directory mod_rewrite (issue 15.1): rules in <Directory> and in .htaccess files,
drawn from real configurations, routed offline and by the real apache2 (the harness:
tests/support/differential.py). Each scenario's ``source`` names where its pattern
comes from; the rules are those of the source, adapted only to the sandbox's paths.
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

# The vhost a.test (DocumentRoot @ROOT@/a) lets .htaccess files in, as the
# WordPress, Drupal and Laravel install guides ask.
OVERRIDE_ALL = """
  <Directory @ROOT@/a>
    AllowOverride All
    Require all granted
    DirectoryIndex index.php index.html
  </Directory>
"""

WORDPRESS = """# BEGIN WordPress
<IfModule mod_rewrite.c>
RewriteEngine On
RewriteRule .* - [E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]
RewriteBase /
RewriteRule ^index\\.php$ - [L]
RewriteCond %{REQUEST_FILENAME} !-f
RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule . /index.php [L]
</IfModule>
# END WordPress
"""

WORDPRESS_SUBDIR = """# BEGIN WordPress
<IfModule mod_rewrite.c>
RewriteEngine On
RewriteBase /blog/
RewriteRule ^index\\.php$ - [L]
RewriteCond %{REQUEST_FILENAME} !-f
RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule . /blog/index.php [L]
</IfModule>
# END WordPress
"""

LARAVEL = """<IfModule mod_rewrite.c>
    <IfModule mod_negotiation.c>
        Options -MultiViews -Indexes
    </IfModule>

    RewriteEngine On

    # Handle Authorization Header
    RewriteCond %{HTTP:Authorization} .
    RewriteRule .* - [E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]

    # Handle X-XSRF-Token Header
    RewriteCond %{HTTP:x-xsrf-token} .
    RewriteRule .* - [E=HTTP_X_XSRF_TOKEN:%{HTTP:X-XSRF-Token}]

    # Redirect Trailing Slashes If Not A Folder...
    RewriteCond %{REQUEST_FILENAME} !-d
    RewriteCond %{REQUEST_URI} (.+)/$
    RewriteRule ^ %1 [L,R=301]

    # Send Requests To Front Controller...
    RewriteCond %{REQUEST_FILENAME} !-d
    RewriteCond %{REQUEST_FILENAME} !-f
    RewriteRule ^ index.php [L]
</IfModule>
"""

DRUPAL = """#
# Apache/PHP/Drupal settings:
#

# Protect files and directories from prying eyes.
<FilesMatch "\\.(engine|inc|install|make|module|profile|po|sh|.*sql|theme|twig|tpl(\\.php)?|xtmpl|yml)(~|\\.sw[op]|\\.bak|\\.orig|\\.save)?$|^(\\.(?!well-known).*|Entries.*|Repository|Root|Tag|Template|composer\\.(json|lock)|web\\.config|yarn\\.lock|package\\.json)$|^#.*#$|\\.php(~|\\.sw[op]|\\.bak|\\.orig|\\.save)$">
  <IfModule mod_authz_core.c>
    Require all denied
  </IfModule>
  <IfModule !mod_authz_core.c>
    Order allow,deny
  </IfModule>
</FilesMatch>

# Don't show directory listings for URLs which map to a directory.
Options -Indexes

# Set the default handler.
DirectoryIndex index.php index.html index.htm

# Various rewrite rules.
<IfModule mod_rewrite.c>
  RewriteEngine on

  # Set "protossl" to "s" if we were accessed via https://.  This is used later
  # if you enable "www." stripping or enforcement, in order to ensure that
  # you don't bounce between http and https.
  RewriteRule ^ - [E=protossl]
  RewriteCond %{HTTPS} on
  RewriteRule ^ - [E=protossl:s]

  # Make sure Authorization HTTP header is available to PHP
  # even when running as CGI or FastCGI.
  RewriteRule ^ - [E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]

  # Block access to "hidden" directories whose names begin with a period.
  RewriteRule "/\\.|^\\.(?!well-known/)" - [F]

  # Pass all requests not referring directly to files in the filesystem to
  # index.php.
  RewriteCond %{REQUEST_FILENAME} !-f
  RewriteCond %{REQUEST_FILENAME} !-d
  RewriteCond %{REQUEST_URI} !=/favicon.ico
  RewriteRule ^ index.php [L]
</IfModule>
"""

VUE_HISTORY = """<IfModule mod_rewrite.c>
  RewriteEngine On
  RewriteBase /
  RewriteRule ^index\\.html$ - [L]
  RewriteCond %{REQUEST_FILENAME} !-f
  RewriteCond %{REQUEST_FILENAME} !-d
  RewriteRule . /index.html [L]
</IfModule>
"""

NEXTCLOUD = """<IfModule mod_rewrite.c>
  RewriteEngine on
  RewriteCond %{HTTP_USER_AGENT} DavClnt
  RewriteRule ^$ /remote.php/webdav/ [L,R=302]
  RewriteRule .* - [env=HTTP_AUTHORIZATION:%{HTTP:Authorization}]
  RewriteRule ^\\.well-known/carddav /remote.php/dav/ [R=301,L]
  RewriteRule ^\\.well-known/caldav /remote.php/dav/ [R=301,L]
  RewriteRule ^remote/(.*) remote.php [QSA,L]
  RewriteRule ^(?:build|tests|config|lib|3rdparty|templates)/.* - [R=404,L]
  RewriteRule ^\\.well-known/(?!acme-challenge|pki-validation) /index.php [QSA,L]
  RewriteRule ^ocm-provider/?$ index.php [QSA,L]
  RewriteRule ^(?:\\.(?!well-known)|autotest|occ|issue|indie|db_|console).* - [R=404,L]
</IfModule>
"""

WORDPRESS_MULTISITE = """RewriteEngine On
RewriteRule .* - [E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]
RewriteBase /
RewriteRule ^index\\.php$ - [L]

# add a trailing slash to /wp-admin
RewriteRule ^([_0-9a-zA-Z-]+/)?wp-admin$ $1wp-admin/ [R=301,L]

RewriteCond %{REQUEST_FILENAME} -f [OR]
RewriteCond %{REQUEST_FILENAME} -d
RewriteRule ^ - [L]
RewriteRule ^([_0-9a-zA-Z-]+/)?(wp-(content|admin|includes).*) $2 [L]
RewriteRule ^([_0-9a-zA-Z-]+/)?(.*\\.php)$ $2 [L]
RewriteRule . index.php [L]
"""

JOOMLA = """## No directory listings
<IfModule autoindex>
  IndexIgnore *
</IfModule>

## Can be commented out if causes errors, see notes above.
Options +FollowSymlinks
Options -Indexes

## Mod_rewrite in use.

RewriteEngine On

## Begin - Rewrite rules to block out some common exploits.
# Block any script trying to base64_encode data within the URL.
RewriteCond %{QUERY_STRING} base64_encode[^(]*\\([^)]*\\) [OR]
# Block any script that includes a <script> tag in URL.
RewriteCond %{QUERY_STRING} (<|%3C)([^s]*s)+cript.*(>|%3E) [NC,OR]
# Block any script trying to set a PHP GLOBALS variable via URL.
RewriteCond %{QUERY_STRING} GLOBALS(=|\\[|\\%[0-9A-Z]{0,2}) [OR]
# Block any script trying to modify a _REQUEST variable via URL.
RewriteCond %{QUERY_STRING} _REQUEST(=|\\[|\\%[0-9A-Z]{0,2})
# Return 403 Forbidden header and show the content of the root home page
RewriteRule .* index.php [F]
#
## End - Rewrite rules to block out some common exploits.

## Begin - Joomla! core SEF Section.
#
RewriteRule .* - [E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]
#
# If the requested path and file is not /index.php and the request
# has not already been internally rewritten to the index.php script
RewriteCond %{REQUEST_URI} !^/index\\.php
# and the requested path and file doesn't directly match a physical file
RewriteCond %{REQUEST_FILENAME} !-f
# and the requested path and file doesn't directly match a physical folder
RewriteCond %{REQUEST_FILENAME} !-d
# internally rewrite the request to the index.php script
RewriteRule .* index.php [L]
#
## End - Joomla! core SEF Section.
"""

ZEND_FRAMEWORK = """RewriteEngine On
RewriteCond %{REQUEST_FILENAME} -s [OR]
RewriteCond %{REQUEST_FILENAME} -l [OR]
RewriteCond %{REQUEST_FILENAME} -d
RewriteRule ^.*$ - [NC,L]
RewriteRule ^.*$ index.php [NC,L]
"""

CODEIGNITER = """RewriteEngine On
RewriteCond %{REQUEST_FILENAME} !-f
RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule ^(.*)$ index.php/$1 [L]
"""

DRUPAL7 = """<IfModule mod_rewrite.c>
  RewriteEngine on
  # Pass all requests not referring directly to files in the filesystem to
  # index.php. Clean URLs are handled in drupal_environment_initialize().
  RewriteCond %{REQUEST_FILENAME} !-f
  RewriteCond %{REQUEST_FILENAME} !-d
  RewriteCond %{REQUEST_URI} !=/favicon.ico
  RewriteRule ^ index.php [L]
</IfModule>
"""

SLIM = """RewriteEngine On
RewriteCond %{REQUEST_FILENAME} !-f
RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule ^ index.php [QSA,L]
"""

FILE_CACHE = """RewriteEngine On
RewriteCond %{REQUEST_FILENAME} !\\.(css|eot|gif|ico|jpe?g|otf|png|svg|ttf|webp|woff2?)$ [NC]
RewriteCond %{REQUEST_METHOD} GET
RewriteCond %{DOCUMENT_ROOT}/filecache/%{HTTP_HOST}/%{REQUEST_URI}/index.html -f
RewriteRule .* /filecache/%{HTTP_HOST}/%{REQUEST_URI}/index.html [L,E=nocache:1]
"""

SYMFONY = """DirectoryIndex index.php

<IfModule mod_negotiation.c>
    Options -MultiViews
</IfModule>

<IfModule mod_rewrite.c>
    RewriteEngine On

    RewriteCond %{REQUEST_URI}::$0 ^(/.+)/(.*)::\\2$
    RewriteRule .* - [E=BASE:%1]

    RewriteCond %{HTTP:Authorization} .+
    RewriteRule ^ - [E=HTTP_AUTHORIZATION:%0]

    RewriteCond %{ENV:REDIRECT_STATUS} =""
    RewriteRule ^index\\.php(?:/(.*)|$) %{ENV:BASE}/$1 [R=301,L]

    RewriteCond %{REQUEST_FILENAME} !-f
    RewriteRule ^ %{ENV:BASE}/index.php [L]
</IfModule>

<IfModule !mod_rewrite.c>
    <IfModule mod_alias.c>
        RedirectMatch 307 ^/$ /index.php/
    </IfModule>
</IfModule>
"""

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("wordpress-root", site(OVERRIDE_ALL), (
        C("http://a.test/hello-world/"), C("http://a.test/2024/01/a-post/?replytocom=3"), C("http://a.test/"),
        C("http://a.test/wp-content/themes/style.css"), C("http://a.test/wp-admin"), C("http://a.test/index.php"),
        C("http://a.test/wp-content/missing.png"),
    ), files=("a/index.php", "a/wp-content/themes/style.css", "a/wp-admin/index.php"),
        contents=(("a/.htaccess", WORDPRESS),),
        source="https://developer.wordpress.org/advanced-administration/server/web-server/httpd/ (Basic WP)"),
    Scenario("wordpress-subdirectory", site(OVERRIDE_ALL), (
        C("http://a.test/blog/some-post/"), C("http://a.test/blog/"), C("http://a.test/blog/wp-login.php"),
        C("http://a.test/elsewhere"),
    ), files=("a/blog/index.php", "a/blog/wp-login.php"), contents=(("a/blog/.htaccess", WORDPRESS_SUBDIR),),
        source="https://developer.wordpress.org/advanced-administration/server/web-server/httpd/ (WordPress in a subdirectory)"),
    Scenario("laravel-public", site(OVERRIDE_ALL), (
        C("http://a.test/users/5"), C("http://a.test/users/"), C("http://a.test/css/app.css"), C("http://a.test/css/"),
        C("http://a.test/api/items?page=2"),
    ), files=("a/index.php", "a/css/app.css"), contents=(("a/.htaccess", LARAVEL),),
        source="https://github.com/laravel/laravel/blob/11.x/public/.htaccess"),
    Scenario("laravel-behind-alias", site("""
  Alias /app @ROOT@/laravel/public
  <Directory @ROOT@/laravel/public>
    AllowOverride All
    Require all granted
  </Directory>
"""), (
        C("http://a.test/app/users/5"), C("http://a.test/app/css/app.css"),
    ), files=("laravel/public/index.php", "laravel/public/css/app.css"), contents=(("laravel/public/.htaccess", LARAVEL),),
        source="https://github.com/laravel/laravel/blob/11.x/public/.htaccess (served from an Alias, as in Laravel's deployment docs)"),
    Scenario("drupal", site(OVERRIDE_ALL), (
        C("http://a.test/node/1"), C("http://a.test/.git/config"), C("http://a.test/composer.json"),
        C("http://a.test/core/misc/drupal.js"), C("http://a.test/favicon.ico"), C("http://a.test/"),
        C("http://a.test/sites/default/settings.yml"),
    ), files=("a/index.php", "a/composer.json", "a/core/misc/drupal.js", "a/.git/config", "a/sites/default/settings.yml"),
        contents=(("a/.htaccess", DRUPAL),),
        source="https://git.drupalcode.org/project/drupal/-/blob/11.x/.htaccess"),
    Scenario("spa-history-fallback", site(OVERRIDE_ALL), (
        C("http://a.test/about"), C("http://a.test/users/7/edit"), C("http://a.test/assets/app.js"), C("http://a.test/"),
    ), files=("a/index.html", "a/assets/app.js"), contents=(("a/.htaccess", VUE_HISTORY),),
        source="https://router.vuejs.org/guide/essentials/history-mode.html (Apache)"),
    Scenario("deny-dotfiles-in-directory", site(r"""
  <Directory @ROOT@/a>
    Require all granted
    RewriteEngine On
    # Block dotfiles
    RewriteRule (^|/)\. - [F]
    # Don't rewrite real files or dirs
    RewriteCond %{REQUEST_FILENAME} -f [OR]
    RewriteCond %{REQUEST_FILENAME} -d
    RewriteRule ^ - [L]
    # Route everything else to Kirby
    RewriteRule ^ index.php [L]
  </Directory>
"""), (
        C("http://a.test/.env"), C("http://a.test/content/.git/HEAD"), C("http://a.test/ok.txt"),
        C("http://a.test/blog/post"),
    ), files=("a/.env", "a/content/.git/HEAD", "a/ok.txt", "a/index.php"),
        source="https://github.com/getkirby/starterkit/blob/main/.htaccess (Kirby's dot-file block and front controller)"),
    Scenario("nextcloud", site(OVERRIDE_ALL), (
        C("http://a.test/.well-known/carddav"), C("http://a.test/remote/webdav/x"), C("http://a.test/config/config.php"),
        C("http://a.test/.well-known/webfinger?resource=x"), C("http://a.test/occ"), C("http://a.test/status.php"),
        C("http://a.test/", headers=(("User-Agent", "Microsoft-WebDAV-MiniRedir DavClnt"),)),
    ), files=("a/index.php", "a/remote.php", "a/status.php", "a/config/config.php", "a/occ"),
        contents=(("a/.htaccess", NEXTCLOUD),),
        source="https://github.com/nextcloud/server/blob/master/.htaccess"),
    Scenario("https-in-htaccess", site(OVERRIDE_ALL), (
        C("http://a.test/shop/cart?item=2"), C("http://a.test/"),
    ), files=("a/index.html",), contents=(("a/.htaccess", """RewriteEngine On
RewriteCond %{HTTPS} off
RewriteRule ^(.*)$ https://%{HTTP_HOST}/$1 [R=301,L]
"""),), source="https://httpd.apache.org/docs/2.4/rewrite/remapping.html and the common 'force HTTPS' .htaccess"),
    Scenario("proxy-in-directory", site("""
  <Directory @ROOT@/a>
    Require all granted
    RewriteEngine On
    RewriteRule ^api/(.*)$ http://10.9.5.1:8080/v1/$1 [P]
  </Directory>
"""), (
        C("http://a.test/api/users?active=1"), C("http://a.test/static.txt"),
    ), files=("a/static.txt",),
        source="https://httpd.apache.org/docs/2.4/rewrite/proxy.html (RewriteRule [P] in a per-directory context)"),
    Scenario("last-versus-end", site(OVERRIDE_ALL + """
  RewriteEngine On
  RewriteRule ^/server-end$ /new-end.html [END]
  RewriteRule ^/server-l$ /new-l.html [L]
"""), (
        C("http://a.test/old-l"), C("http://a.test/old-end"), C("http://a.test/same.html"), C("http://a.test/server-end"),
        C("http://a.test/server-l"),
    ), files=("a/new-l.html", "a/new-end.html", "a/same.html"), contents=(("a/.htaccess", r"""RewriteEngine On
RewriteRule ^old-l$ new-l.html [L]
RewriteRule ^old-end$ new-end.html [END]
RewriteRule ^new-(l|end)\.html$ - [F]
RewriteRule ^same\.html$ same.html [L]
"""),), source="https://httpd.apache.org/docs/2.4/rewrite/flags.html#flag_end and #flag_l (the per-directory loop)"),
    Scenario("redirect-relative", site(OVERRIDE_ALL), (
        C("http://a.test/base/old-page"), C("http://a.test/nobase/old-page"),
    ), files=("a/base/new-page", "a/nobase/new-page"), contents=(
        ("a/base/.htaccess", "RewriteEngine On\nRewriteBase /base/\nRewriteRule ^old-page$ new-page [R=301,L]\n"),
        ("a/nobase/.htaccess", "RewriteEngine On\nRewriteRule ^old-page$ new-page [R=301,L]\n"),
    ), source="https://httpd.apache.org/docs/2.4/mod/mod_rewrite.html#rewritebase (the example without RewriteBase)"),
    Scenario("internal-redirect-limit", site(OVERRIDE_ALL), (
        C("http://a.test/nine/a"), C("http://a.test/ten/a"), C("http://a.test/eleven/a"), C("http://a.test/forever/x"),
    ), dirs=("a/nine", "a/ten", "a/eleven", "a/forever"), contents=(
        ("a/nine/.htaccess", "RewriteEngine On\nRewriteRule ^(a{1,9})$ $1a\n"),
        ("a/ten/.htaccess", "RewriteEngine On\nRewriteRule ^(a{1,10})$ $1a\n"),
        ("a/eleven/.htaccess", "RewriteEngine On\nRewriteRule ^(a{1,11})$ $1a\n"),
        ("a/forever/.htaccess", "RewriteEngine On\nRewriteRule ^(.*)$ x$1\n"),
    ), source="https://httpd.apache.org/docs/2.4/mod/core.html#limitinternalrecursion"),
    Scenario("htaccess-errors", site("""
  <Directory @ROOT@/a>
    AllowOverride All
    Require all granted
  </Directory>
  <Directory @ROOT@/a/authonly>
    AllowOverride AuthConfig
  </Directory>
  <Directory @ROOT@/a/none>
    AllowOverride None
  </Directory>
  <Directory @ROOT@/a/listed>
    AllowOverride None
    AllowOverrideList RewriteEngine RewriteRule
  </Directory>
  <Directory @ROOT@/a/nonfatal>
    AllowOverride All Nonfatal=Unknown
  </Directory>
"""), (
        C("http://a.test/typo/f.txt"), C("http://a.test/php/f.txt"), C("http://a.test/authonly/f.txt"),
        C("http://a.test/none/f.txt"), C("http://a.test/listed/f.txt"), C("http://a.test/listed/options/f.txt"),
        C("http://a.test/nonfatal/f.txt"),
    ), files=("a/typo/f.txt", "a/php/f.txt", "a/authonly/f.txt", "a/none/f.txt", "a/listed/f.txt",
              "a/listed/options/f.txt", "a/nonfatal/f.txt"), contents=(
        ("a/listed/.htaccess", "RewriteEngine On\nRewriteRule ^ - [F]\n"),
        ("a/listed/options/.htaccess", "Options -Indexes\n"),
        ("a/nonfatal/.htaccess", "php_value upload_max_filesize 64M\nRewriteEngine On\nRewriteRule ^ - [F]\n"),
        ("a/typo/.htaccess", "RewriteEngine On\nRewriteEngin On\n"),
        ("a/php/.htaccess", "php_value upload_max_filesize 64M\n"),
        ("a/authonly/.htaccess", "RewriteEngine On\nRewriteRule ^ - [F]\n"),
        ("a/none/.htaccess", "RewriteEngine On\nRewriteRule ^ - [F]\n"),
    ), source="https://httpd.apache.org/docs/2.4/howto/htaccess.html and mod/core.html#allowoverridelist "
               "(a php_value left over from mod_php: 'Invalid command', 500)"),
    Scenario("wordpress-multisite-subfolder", site(OVERRIDE_ALL), (
        C("http://a.test/site2/wp-admin"), C("http://a.test/site2/wp-content/uploads/photo.jpg"),
        C("http://a.test/site2/wp-login.php"), C("http://a.test/site2/a-post/"), C("http://a.test/wp-admin/"),
    ), files=("a/index.php", "a/wp-login.php", "a/wp-content/uploads/photo.jpg", "a/wp-admin/index.php"),
        contents=(("a/.htaccess", WORDPRESS_MULTISITE),),
        source="https://developer.wordpress.org/advanced-administration/server/web-server/httpd/ (WordPress Multisite, subfolder)"),
    Scenario("joomla", site(OVERRIDE_ALL), (
        C("http://a.test/?GLOBALS=1"), C("http://a.test/component/content/article"), C("http://a.test/about-us"),
        C("http://a.test/images/joomla_black.png"), C("http://a.test/index.php/about-us"),
    ), files=("a/index.php", "a/images/joomla_black.png"), contents=(("a/.htaccess", JOOMLA),),
        source="https://docs.joomla.org/Preconfigured_htaccess (Joomla 4 htaccess.txt)"),
    Scenario("zend-framework-1", site(OVERRIDE_ALL), (
        C("http://a.test/album/edit/1"), C("http://a.test/robots.txt"), C("http://a.test/empty.txt"),
        C("http://a.test/css/"),
    ), files=("a/index.php", "a/robots.txt"), dirs=("a/css",), contents=(("a/empty.txt", ""), ("a/.htaccess", ZEND_FRAMEWORK)),
        source="https://framework.zend.com/manual/1.12/en/zend.application.quick-start.html (public/.htaccess)"),
    Scenario("codeigniter-path-info", site(OVERRIDE_ALL), (
        C("http://a.test/welcome/index"), C("http://a.test/assets/site.css"),
    ), files=("a/index.php", "a/assets/site.css"), contents=(("a/.htaccess", CODEIGNITER),),
        source="https://codeigniter.com/userguide3/general/urls.html (Removing the index.php file)"),
    Scenario("drupal7-and-slim-nested", site(OVERRIDE_ALL), (
        C("http://a.test/node/1?page=2"), C("http://a.test/api/users/3"), C("http://a.test/api/"),
        C("http://a.test/api/.env"), C("http://a.test/favicon.ico"),
    ), files=("a/index.php", "a/api/index.php", "a/api/.env"),
        contents=(("a/.htaccess", DRUPAL7), ("a/api/.htaccess", SLIM)),
        source="https://git.drupalcode.org/project/drupal/-/blob/7.x/.htaccess and "
               "https://www.slimframework.com/docs/v4/start/web-servers.html (Slim in a subdirectory)"),
    Scenario("uploads-deny-php", site(OVERRIDE_ALL), (
        C("http://a.test/wp-content/uploads/shell.php"), C("http://a.test/wp-content/uploads/2024/missing.jpg"),
        C("http://a.test/wp-content/uploads/photo.jpg"),
    ), files=("a/index.php", "a/wp-content/uploads/shell.php", "a/wp-content/uploads/photo.jpg"),
        contents=(("a/.htaccess", WORDPRESS), ("a/wp-content/uploads/.htaccess", "<Files *.php>\ndeny from all\n</Files>\n")),
        modules=("access_compat",),
        source="https://wordpress.org/support/article/hardening-wordpress/ (no PHP in wp-content/uploads)"),
    Scenario("file-cache", site(OVERRIDE_ALL), (
        C("http://a.test/about"), C("http://a.test/contact"), C("http://a.test/logo.png"),
    ), files=("a/filecache/a.test/about/index.html", "a/contact", "a/logo.png"), contents=(("a/.htaccess", FILE_CACHE),),
        source="https://github.com/MutationDigitale/craft3-translate (File Cache plugin README; its flag list's stray ']' dropped)"),
    Scenario("canonical-hostname", site(OVERRIDE_ALL), (
        C("http://alias-a.test/page?x=1"), C("http://a.test/page.html"),
    ), files=("a/page.html",), contents=(("a/.htaccess", """RewriteEngine On
RewriteCond "%{HTTP_HOST}"   "!^a\\.test" [NC]
RewriteCond "%{HTTP_HOST}"   "!^$"
RewriteRule "^/?(.*)"        "http://a.test/$1" [L,R,NE]
"""),), source="https://httpd.apache.org/docs/2.4/rewrite/remapping.html#canonicalhost"),
    Scenario("redirects-beside-wordpress", site(OVERRIDE_ALL), (
        C("http://a.test/old-page/"), C("http://a.test/old-page/sub?x=1"), C("http://a.test/blog/2020/hello"),
        C("http://a.test/retired"), C("http://a.test/a-post"), C("http://a.test/index.php"),
    ), files=("a/index.php",), contents=(("a/.htaccess", "Redirect 301 /old-page/ https://a.test/new-page/\n"
                                                        "RedirectMatch 301 ^/blog/(\\d+)/(.*)$ /news/$2\n"
                                                        "Redirect gone /retired\n" + WORDPRESS),),
        source="https://httpd.apache.org/docs/2.4/mod/mod_alias.html#redirect (Redirects kept above the WordPress block)"),
    Scenario("strip-index-html", site(OVERRIDE_ALL), (
        C("http://a.test/"), C("http://a.test/index.html"), C("http://a.test/docs/index.htm?x=a%20b"), C("http://a.test/docs/"),
    ), files=("a/index.html", "a/docs/index.htm"), contents=(("a/.htaccess", """RewriteEngine On
RewriteCond %{REQUEST_URI} /index\\.html?$ [NC]
RewriteRule ^(.*)index\\.html?$ "/$1" [NC,R=301,NE,L]
"""),), source="https://stackoverflow.com/questions/6059920 (removing index.html from URLs: [R] rules skip "
                  "mod_dir's index subrequest, so / is no loop)"),
    Scenario("symfony", site(OVERRIDE_ALL), (
        C("http://a.test/blog/post"), C("http://a.test/index.php"), C("http://a.test/index.php/lucky/number"),
        C("http://a.test/build/app.css"), C("http://a.test/"), C("http://a.test/sym/blog/post"), C("http://a.test/sym/index.php"),
        C("http://a.test/sym/", headers=(("Authorization", "Bearer x"),)),
    ), files=("a/index.php", "a/build/app.css", "a/sym/index.php"), contents=(("a/.htaccess", SYMFONY), ("a/sym/.htaccess", SYMFONY)),
        source="https://github.com/symfony/recipes-contrib/blob/main/symfony/apache-pack/1.0/public/.htaccess"),
    Scenario("rewrite-without-followsymlinks", site("""
  <Directory @ROOT@/a>
    Options None
    AllowOverride FileInfo
    Require all granted
  </Directory>
"""), (
        C("http://a.test/a-post"), C("http://a.test/style.css"),
    ), files=("a/index.php", "a/style.css"), contents=(("a/.htaccess", WORDPRESS),),
        source="https://httpd.apache.org/docs/2.4/mod/mod_rewrite.html#rewriterule (per-directory rewrites need FollowSymLinks)"),
    Scenario("directorymatch-and-limit", site(r"""
  LimitInternalRecursion 4
  <Directory @ROOT@/a>
    AllowOverride All
    Require all granted
  </Directory>
  <DirectoryMatch "/uploads">
    RewriteEngine On
    RewriteRule \.php$ - [F]
  </DirectoryMatch>
"""), (
        C("http://a.test/uploads/x.php"), C("http://a.test/uploads/x.jpg"), C("http://a.test/four/a"),
        C("http://a.test/five/a"),
    ), files=("a/uploads/x.php", "a/uploads/x.jpg"), dirs=("a/four", "a/five"), contents=(
        ("a/four/.htaccess", "RewriteEngine On\nRewriteRule ^(a{1,4})$ $1a\n"),
        ("a/five/.htaccess", "RewriteEngine On\nRewriteRule ^(a{1,5})$ $1a\n"),
    ), source="https://httpd.apache.org/docs/2.4/mod/core.html#limitinternalrecursion and #directorymatch"),
)

CASES = [(scenario, case) for scenario in SCENARIOS for case in scenario.cases]


running, test_offline_equals_live = differential_tests(SCENARIOS, "vg-perdir")


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25

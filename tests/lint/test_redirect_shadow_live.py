"""VG117 (mapping-shadowed-by-redirect) against apache2: a mapping is reported exactly when
apache2 answers its path with the redirect.

mod_rewrite translates first, then mod_proxy, then mod_alias (redirects before aliases):
`Redirect /` leaves ProxyPass working and kills Alias; an unconditional `RewriteRule ... [R]`
kills both; a RewriteCond or a RedirectMatch that skips a path leaves it alone.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.live.helpers import readable_dir
from tests.logs.sandbox import request, running
from tests.support.apache import base_config, free_port, needs_apache
from vhostguard.config import LoadOptions, load
from vhostguard.lint import run
from vhostguard.model import build_model

SITES = """
<VirtualHost 127.0.0.1:{port}>
    ServerName redirect.test
    Redirect permanent / https://redirect.test/
    Alias /static/ {root}/www/
    ProxyPass /api/ http://127.0.0.1:9/
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName rewrite.test
    RewriteEngine On
    RewriteRule ^(.*)$ https://rewrite.test$1 [R=301,L]
    Alias /static/ {root}/www/
    ProxyPass /api/ http://127.0.0.1:9/
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName certbot.test
    RewriteEngine on
    RewriteCond %{{SERVER_NAME}} =elsewhere.test
    RewriteRule ^ https://%{{SERVER_NAME}}%{{REQUEST_URI}} [END,NE,R=permanent]
    Alias /static/ {root}/www/
    ProxyPass /api/ http://127.0.0.1:9/
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName acme.test
    RedirectMatch permanent ^/(?!\\.well-known/)(.*) https://acme.test/$1
    Alias /.well-known/ {root}/www/
    Alias /static/ {root}/www/
</VirtualHost>
"""
PROBES = [("redirect.test", "/static/"), ("redirect.test", "/api/"), ("rewrite.test", "/static/"),
          ("rewrite.test", "/api/"), ("certbot.test", "/static/"), ("certbot.test", "/api/"),
          ("acme.test", "/.well-known/"), ("acme.test", "/static/")]
EXPECTED_DEAD = {("redirect.test", "/static/"), ("rewrite.test", "/static/"), ("rewrite.test", "/api/"),
                 ("acme.test", "/static/")}


def _site(root: Path, port: int) -> Path:
    www = root / "www"
    www.mkdir(exist_ok=True)
    (www / "index.html").write_text("hello\n")
    root.chmod(0o755)
    www.chmod(0o755)
    (www / "index.html").chmod(0o644)
    conf = root / "httpd.conf"
    modules = ("mpm_event", "authz_core", "rewrite", "alias", "proxy", "proxy_http", "dir")
    conf.write_text(base_config(root, modules) + f"""
Listen 127.0.0.1:{port}
ServerName main.test
DirectoryIndex index.html
<Directory {root}/www>
    Require all granted
</Directory>
""" + SITES.format(port=port, root=root))
    return conf


def _reported(conf: Path) -> set[tuple[str, str]]:
    tree = load(str(conf), LoadOptions(env_file=""))
    model = build_model(tree)
    assert tree.errors == () and model.errors == ()
    found = set()
    for finding in run(model, tree, select=["VG117"]):
        vhost, _, rest = finding.message.partition(": ")
        found.add((vhost.removeprefix("vhost "), rest.split()[1]))
    return found


def test_lint_reports_the_mappings_the_redirect_takes(tmp_path: Path) -> None:
    assert _reported(_site(tmp_path, 8080)) == EXPECTED_DEAD


@pytest.mark.httpd
@needs_apache
def test_apache2_redirects_exactly_those(tmp_path: Path) -> None:
    with readable_dir(tmp_path) as root:
        port = free_port()
        conf = _site(root, port)
        with running(conf, port, {"PATH": "/usr/sbin:/usr/bin:/bin", "LANG": "C"}):
            answers = {(host, path): request(port, f"GET {path} HTTP/1.1".encode(), [(b"Host", host.encode())]).status
                       for host, path in PROBES}
    assert {probe for probe, status in answers.items() if status in (301, 302)} == EXPECTED_DEAD, answers
    assert all(answers[probe] in (200, 403, 503) for probe in PROBES if probe not in EXPECTED_DEAD), answers

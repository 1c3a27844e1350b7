"""config_targets: every root and backend a config names, with file:line."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vhostguard.config import LoadOptions, load
from vhostguard.diagnose import backend_address, config_targets
from vhostguard.diagnose.targets import backend_targets, file_target, same_address
from vhostguard.model import build_model


def test_targets_in_sections_and_every_proxy_form(write: Callable[..., Path], tmp_path: Path) -> None:
    conf = write("httpd.conf", f"""
        ServerRoot {tmp_path}
        ProxyPass /health http://127.0.0.1:9000/health
        <VirtualHost *:80>
            ServerName app.example.test
            DocumentRoot htdocs
            AliasMatch ^/docs/(.*)$ /srv/docs/$1
            ProxyPass /static !
            <Location /api>
                ProxyPass http://localhost:5000/api
            </Location>
            ProxyPass /php unix:/run/php/php-fpm.sock|fcgi://localhost/srv/php
            <Proxy balancer://pool>
                BalancerMember http://10.0.0.7:8080
            </Proxy>
            ProxyPass /pool balancer://pool/
            RewriteEngine on
            RewriteRule ^/old/(.*)$ http://127.0.0.1:7000/new/$1 [P,L]
        </VirtualHost>
        """)
    model = build_model(load(str(conf), LoadOptions()))
    vhost = model.vhosts[0].id
    found = [(t.directive, t.line, t.vhost, t.root or t.address) for t in config_targets(model)]
    assert found == [
        ("ProxyPass", 2, None, "127.0.0.1:9000"),  # the main server's, inherited by every vhost
        ("DocumentRoot", 5, vhost, f"{tmp_path}/htdocs"),  # relative to ServerRoot
        ("AliasMatch", 6, vhost, "/srv/docs"),  # the literal prefix of $1's path
        ("ProxyPass", 9, vhost, "localhost:5000"),  # one argument inside <Location /api>
        ("ProxyPass", 11, vhost, "unix:/run/php/php-fpm.sock"),
        ("BalancerMember", 13, vhost, "10.0.0.7:8080"),
        ("RewriteRule", 17, vhost, "127.0.0.1:7000"),
    ]
    location = config_targets(model)[3]
    assert location.url_path == "/api"
    targets = config_targets(model)
    assert [t.line for t in backend_targets(targets, "127.0.0.1:5000")] == [9]  # localhost is loopback
    assert [t.line for t in backend_targets(targets, "[::1]:5000")] == [9]
    assert backend_targets(targets, "127.0.0.2:5001") == []
    hit = file_target(targets, "/srv/docs/guide/index.html")
    assert hit is not None and hit.line == 6
    assert file_target(targets, "/srv/documents/x") is None  # a root is a directory, not a string prefix


def test_backend_address_forms() -> None:
    assert backend_address("http://backend.internal/") == "backend.internal:80"
    assert backend_address("https://[::1]:8443/x") == "[::1]:8443"
    assert backend_address("ajp://127.0.0.1/") == "127.0.0.1:8009"
    assert backend_address("!") is None
    assert backend_address("balancer://pool/") is None
    assert same_address("127.0.0.1:80", "127.0.0.1:80") and not same_address("127.0.0.1:80", "127.0.0.1:81")
    assert not same_address("backend.internal:80", "10.0.0.1:80")  # no DNS in a summary

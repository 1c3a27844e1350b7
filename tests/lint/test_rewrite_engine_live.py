"""VG115 (rewrite-rule-without-engine) and VG116 (main-rewrite-not-inherited) against apache2.

Each case is a main-server part and a vhost part around one redirecting
rule; ``runs`` says whether apache2 2.4 runs it (302) or not (404). The
offline test checks that lint reports exactly the rules that do not run;
the httpd test checks each ``runs`` on the real server. Cases found while
writing the rules: a vhost without its own ``RewriteEngine`` takes the
main server's; ``RewriteOptions InheritDown`` in the main server does
nothing for a vhost holding no mod_rewrite directive.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.live.helpers import readable_dir
from tests.logs.sandbox import request, running
from tests.support.apache import base_config, free_port, needs_apache
from vhostguard.config import LoadOptions, load
from vhostguard.lint import run
from vhostguard.model import build_model

SERVER_RULE = "RewriteRule ^/x$ /index.html [R=302]"
DIR_RULE = "RewriteRule ^x$ index.html [R=302]"


@dataclass(frozen=True)
class Case:
    main: str
    vhost: str
    runs: bool


CASES = {
    "main-engine-vhost-rule": Case("RewriteEngine On", SERVER_RULE, True),
    "no-engine": Case("", SERVER_RULE, False),
    "vhost-on-then-off": Case("", f"RewriteEngine On\nRewriteEngine Off\n{SERVER_RULE}", False),
    "main-on-vhost-off": Case("RewriteEngine On", f"RewriteEngine Off\n{SERVER_RULE}", False),
    "main-engine-dir-rule": Case("RewriteEngine On", f"<Directory {{root}}/www>\n{DIR_RULE}\n</Directory>", True),
    "no-engine-dir-rule": Case("", f"<Directory {{root}}/www>\n{DIR_RULE}\n</Directory>", False),
    "vhost-engine-dir-rule": Case("", f"RewriteEngine On\n<Directory {{root}}/www>\n{DIR_RULE}\n</Directory>", True),
    "dir-engine-off": Case("RewriteEngine On", f"<Directory {{root}}/www>\nRewriteEngine Off\n{DIR_RULE}\n</Directory>", False),
    "main-rule-not-inherited": Case(f"RewriteEngine On\n{SERVER_RULE}", "RewriteEngine On", False),
    "main-rule-vhost-inherit": Case(f"RewriteEngine On\n{SERVER_RULE}", "RewriteOptions Inherit", True),
    "main-inherit-option": Case(f"RewriteEngine On\nRewriteOptions Inherit\n{SERVER_RULE}", "RewriteEngine On", True),
    "main-rule-without-engine-inherited": Case(SERVER_RULE, "RewriteEngine On\nRewriteOptions Inherit", True),
    "main-rule-without-engine": Case(SERVER_RULE, "RewriteEngine On", False),
    "main-dir-rule-vhost-engine": Case(f"<Directory {{root}}/www>\n{DIR_RULE}\n</Directory>", "RewriteEngine On", True),
    "main-dir-rule-no-engine": Case(f"<Directory {{root}}/www>\n{DIR_RULE}\n</Directory>", "ServerAlias q.test", False),
    "inheritdown-alone": Case(f"RewriteEngine On\nRewriteOptions InheritDown\n{SERVER_RULE}", "ServerAlias w.test", False),
    "inheritdown-vhost-engine": Case(f"RewriteEngine On\nRewriteOptions InheritDown\n{SERVER_RULE}", "RewriteEngine On", True),
    "inheritdown-ignoreinherit": Case(f"RewriteEngine On\nRewriteOptions InheritDown\n{SERVER_RULE}",
                                      "RewriteOptions IgnoreInherit", False),
}


def _site(root: Path, port: int, case: Case) -> Path:
    www = root / "www"
    www.mkdir(exist_ok=True)
    (www / "index.html").write_text("hello\n")
    root.chmod(0o755)
    www.chmod(0o755)
    (www / "index.html").chmod(0o644)
    conf = root / "httpd.conf"
    conf.write_text(base_config(root, ("mpm_event", "authz_core", "rewrite")) + f"""
Listen 127.0.0.1:{port}
ServerName main.test
DocumentRoot {root}/www
<Directory {root}/www>
    Require all granted
</Directory>
{case.main.format(root=root)}
<VirtualHost 127.0.0.1:{port}>
    ServerName v.test
    DocumentRoot {root}/www
{case.vhost.format(root=root)}
</VirtualHost>
""")
    return conf


def _reported(conf: Path) -> bool:
    tree = load(str(conf), LoadOptions(env_file=""))
    model = build_model(tree)
    assert tree.errors == () and model.errors == ()
    return bool(run(model, tree, select=["VG115", "VG116"]))


@pytest.mark.parametrize("name", list(CASES))
def test_lint_reports_exactly_the_rules_that_never_run(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    assert _reported(_site(tmp_path, 8080, case)) is not case.runs


@pytest.mark.httpd
@needs_apache
@pytest.mark.parametrize("name", list(CASES))
def test_apache2_runs_the_rule_as_the_case_says(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    with readable_dir(tmp_path) as root:
        port = free_port()
        conf = _site(root, port, case)
        with running(conf, port, {"PATH": "/usr/sbin:/usr/bin:/bin", "LANG": "C"}):
            status = request(port, b"GET /x HTTP/1.1", [(b"Host", b"v.test")]).status
    assert status == (302 if case.runs else 404)

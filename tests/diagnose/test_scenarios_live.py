"""Issue 11's scenarios 3, 4 and 6 end to end, doctor and trace on the same real
apache2 (event MPM) on loopback, trace with the real strace:

3. a file-name typo behind an Alias: 404, ENOENT tied to the Alias line;
4. a permission problem: the workers run as www-data (apache2 is started by
   root and switches), the file is mode 0600 owned by root: 403, EACCES tied
   to the path and its DocumentRoot line, AH00132 in the error log;
6. a rewrite loop: 500, AH00124 in the error log, explained from the
   catalogue, the RewriteRule line named.

Expected file:line values are read from the config files written here, error-log
lines and their numbers from the log apache2 wrote."""
from __future__ import annotations

import json
import time
import os
import pwd
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.diagnose.conftest import Httpd, needs_strace
from tests.support.apache import needs_apache
from vhostguard.cli import main

pytestmark = [pytest.mark.httpd, needs_apache]

REWRITE = "LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so\n"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def doctor(conf: Path, url: str) -> dict:
    code, out, err = run("doctor", "-f", str(conf), "--json", "--url", url)
    assert code == 1, err + out
    return json.loads(out)


def trace(conf: Path, url: str) -> dict:
    code, out, err = run("trace", url, "-f", str(conf), "--json")
    assert code == 0, err
    return json.loads(out)


def line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def ref(name: str, path: Path, text: str) -> dict:
    return {"name": name, "file": str(path), "line": line_of(path, text)}


def logged(error_log: Path, code: str) -> list[str]:
    """``path:line: text`` of apache2's own error-log lines carrying ``code``."""
    return [f"{error_log}:{number}: {text}" for number, text in enumerate(error_log.read_text().splitlines(), 1)
            if code in text]


def settled(server: Httpd) -> None:
    """Wait for apache2's "resuming normal operations" notice: until then doctor knows the
    start time only to the second (/proc) and may call the files just written newer."""
    error_log = server.root / "logs/error.log"
    deadline = time.monotonic() + 10
    while "AH00489" not in (error_log.read_text() if error_log.exists() else ""):
        assert time.monotonic() < deadline, "apache2 never logged AH00489"
        time.sleep(0.05)


@pytest.fixture
def site() -> Iterator[Path]:
    """A document root the unprivileged workers can reach (pytest's tmp dirs are 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix="vhostguard-site-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_file_name_typo_behind_an_alias(httpd: Callable[..., Httpd], tmp_path: Path) -> None:
    static = tmp_path / "srv" / "static"
    static.mkdir(parents=True)
    (static / "app.js").write_text("ok\n")
    server = httpd({"httpd.conf": (
        "Listen 127.0.0.1:{port}\n"
        "<VirtualHost 127.0.0.1:{port}>\n"
        "    ServerName www.example.test\n"
        "    DocumentRoot {root}\n"
        '    Alias /assets "{root}/statics"\n'  # the directory is "static"
        "    <Directory {root}>\n"
        "        Require all granted\n"
        "    </Directory>\n"
        "</VirtualHost>\n")})
    url = f"http://www.example.test:{server.port}/assets/app.js"
    settled(server)
    doc = doctor(server.conf, url)
    top = doc["findings"][0]
    assert (top["kind"], top["severity"], top["check"]) == ("file-missing", "critical", "routing")
    alias = ref("Alias", server.conf, "Alias")
    assert top["directives"] == [alias]
    assert f"{server.root}/statics/app.js" in top["summary"] and "404" in top["summary"]
    assert f"{server.root}/statics does not exist; {server.root}/static exists" in top["cause"]
    assert f"{server.conf}:{alias['line']}" in top["summary"]
    assert f"probe 127.0.0.1:{server.port}: GET {url} -> 404" in top["evidence"]
    assert top["next"].startswith(f"vhostguard trace {url} ")
    # the trace's ENOENT is tied to the same Alias line
    if shutil.which("strace"):
        found = trace(server.conf, url)
        assert found["status"] == 404
        failed = [f for f in found["files"] if f["result"] == "ENOENT"]
        assert {f["path"] for f in failed} == {f"{server.root}/statics/app.js", f"{server.root}/statics"}
        assert all(f["directive"] == alias for f in failed)
        assert f"{server.root}/static exists" in found["story"]


def test_permission_denied_to_the_unprivileged_workers(httpd: Callable[..., Httpd], site: Path) -> None:
    needs_strace()
    if os.geteuid() != 0:
        pytest.skip("needs root: apache2 starts as root and switches its workers to www-data")
    (site / "index.html").write_text("welcome\n")
    secret = site / "report.html"
    secret.write_text("numbers\n")
    secret.chmod(0o600)  # owned by root (this process): www-data may not read it
    server = httpd({"httpd.conf": (
        "User www-data\nGroup www-data\n"
        "Listen 127.0.0.1:{port}\n"
        "<VirtualHost 127.0.0.1:{port}>\n"
        "    ServerName www.example.test\n"
        f"    DocumentRoot {site}\n"
        f"    <Directory {site}>\n"
        "        Require all granted\n"
        "    </Directory>\n"
        "</VirtualHost>\n")})
    error_log = server.root / "logs/error.log"
    url = f"http://www.example.test:{server.port}/report.html"
    docroot, user = ref("DocumentRoot", server.conf, "DocumentRoot"), ref("User", server.conf, "User www-data")

    found = trace(server.conf, url)
    assert found["status"] == 403
    (denied,) = [f for f in found["files"] if f["result"] == "EACCES"]
    assert denied["path"] == str(secret) and denied["directive"] == docroot
    assert f"{server.conf}:{docroot['line']}" in found["story"] and "EACCES" in found["story"]
    assert f"User www-data at {server.conf}:{user['line']}" in found["story"]
    with open(f"/proc/{found['pid']}/status") as status:  # the traced worker really runs as www-data
        uid = next(line.split()[1] for line in status if line.startswith("Uid:"))
    assert int(uid) == pwd.getpwnam("www-data").pw_uid

    settled(server)
    doc = doctor(server.conf, url)
    top = doc["findings"][0]
    assert (top["kind"], top["severity"]) == ("file-forbidden", "critical")
    assert top["directives"] == [docroot, user]
    assert f"file {secret} is mode 0600 owned by root:root" in top["cause"] and "User www-data" in top["cause"]
    assert f"probe 127.0.0.1:{server.port}: GET {url} -> 403" in top["evidence"]
    denials = logged(error_log, "AH00132")
    assert denials and denials[-1] in top["evidence"] and str(secret) in denials[-1]
    # the readable page next to it gives no finding
    _, out, _ = run("doctor", "-f", str(server.conf), "--json", "--url", f"http://www.example.test:{server.port}/index.html")
    assert [f for f in json.loads(out)["findings"] if f["check"] == "routing"] == []


def test_rewrite_loop(httpd: Callable[..., Httpd], site: Path) -> None:
    needs_strace()
    server = httpd({"httpd.conf": (
        REWRITE
        + "Listen 127.0.0.1:{port}\n"
        "<VirtualHost 127.0.0.1:{port}>\n"
        "    ServerName www.example.test\n"
        f"    DocumentRoot {site}\n"
        f"    <Directory {site}>\n"
        "        Require all granted\n"
        "        RewriteEngine on\n"
        "        RewriteRule ^app/(.*)$ app/v2/$1 [L]\n"  # app/v2/x matches ^app/ again: a loop
        "    </Directory>\n"
        "</VirtualHost>\n")})
    error_log = server.root / "logs/error.log"
    url = f"http://www.example.test:{server.port}/app/users"
    rule = ref("RewriteRule", server.conf, "RewriteRule")

    found = trace(server.conf, url)
    assert found["status"] == 500
    assert any("AH00124" in line for line in found["errors_logged"])
    assert any("AH00124" in failure and f"{server.conf}:{rule['line']}" in failure for failure in found["failures"])
    assert f"RewriteRule at {server.conf}:{rule['line']}" in found["story"] and "internally redirected" in found["story"]

    settled(server)
    doc = doctor(server.conf, url)
    top = doc["findings"][0]
    assert (top["kind"], top["severity"], top["check"]) == ("rewrite-loop", "critical", "routing")
    assert top["directives"] == [rule]
    assert f"{server.conf}:{rule['line']}" in top["summary"] and "AH00124" in top["summary"]
    loops = logged(error_log, "AH00124")
    assert loops and loops[-1] in top["evidence"]
    assert f"probe 127.0.0.1:{server.port}: GET {url} -> 500" in top["evidence"]
    assert "vhostguard explain-code AH00124" in top["next"]
    # the code is explained from the catalogue
    code, out, _ = run("explain-code", "AH00124", "--json")
    assert code == 0
    entry = json.loads(out)
    assert entry["module"] == "core" and "LimitInternalRecursion" in entry["format"]
    assert "AH00124: " + entry["meaning"].split(". ")[0].rstrip(".") in top["cause"]

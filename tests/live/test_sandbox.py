"""The sandbox against the real apache2: routing as httpd does it, on loopback, and nothing left behind."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.live.helpers import Site, readable_dir, writer
from tests.support.apache import MODULES_DIR, needs_apache
from vhostguard.live import LiveResult, Sandbox, SandboxError, SandboxUnsupported

pytestmark = [pytest.mark.httpd, needs_apache]

M = MODULES_DIR


def _main_conf(root: Path, extra: str = "") -> str:
    # mod_setenvif is deliberately not loaded: the sandbox must add it itself.
    return f"""
        ServerName main.example
        Define BACKEND_HOST 10.1.2.3
        PidFile /var/run/vhostguard-test-must-not-be-used.pid
        ErrorLog /var/log/vhostguard-test-must-not-be-used.log
        LoadModule mpm_event_module {M}/mod_mpm_event.so
        LoadModule authz_core_module {M}/mod_authz_core.so
        LoadModule alias_module {M}/mod_alias.so
        LoadModule dir_module {M}/mod_dir.so
        LoadModule rewrite_module {M}/mod_rewrite.so
        LoadModule proxy_module {M}/mod_proxy.so
        LoadModule proxy_http_module {M}/mod_proxy_http.so
        Listen 80
        Listen 8080
        Listen 8081
        <Directory />
            Require all denied
        </Directory>
        DocumentRoot {root}/htdocs
        <Directory {root}/htdocs>
            Require all granted
        </Directory>
        <VirtualHost *:80>
            ServerName catchall.invalid
            <Location />
                Require all denied
            </Location>
        </VirtualHost>
        {extra}
        Include {root}/sites/
    """


def _write_stack(root: Path) -> Path:
    write = writer(root)
    write("htdocs/index.html", "hello from htdocs\n")
    write("htdocs/docs/index.html", "docs\n")
    main = write("httpd.conf", _main_conf(root))
    write("sites/10-www.conf", """
        <VirtualHost *:80 *:8080>
            ServerName www.example.com
            ServerAlias example.com
            UseCanonicalPhysicalPort On
            Redirect permanent /old http://www.example.com/new
            CustomLog "|/bin/cat" "%h %r"
        </VirtualHost>
    """)
    write("sites/20-api.conf", r"""
        <VirtualHost *:80>
            ServerName api.example.com
            ProxyPass /v1/ \
                http://${BACKEND_HOST}:5000/api/
            <Location /v2/>
                ProxyPass http://10.1.2.4:6000/
            </Location>
            RewriteEngine on
            RewriteRule ^/legacy/(.*)$ http://10.1.2.5:7000/old/$1 [P,L]
            RewriteRule ^/dyn/(.*)$ http://%{HTTP:X-Shard}.internal.example/$1 [P]
        </VirtualHost>
    """)
    write("sites/30-admin.conf", """
        <VirtualHost 10.0.0.5:80>
            ServerName admin.example.com
        </VirtualHost>
    """)
    return main


@dataclass(frozen=True)
class Stack:
    root: Path
    sandbox: Sandbox

    def vhost_id(self, relative: str, line: int = 1) -> str:
        return f"{self.root / relative}:{line}"

    @property
    def catch_all(self) -> str:
        text = (self.root / "httpd.conf").read_text().splitlines()
        return self.vhost_id("httpd.conf", text.index("<VirtualHost *:80>") + 1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with readable_dir(tmp_path_factory.mktemp("stack")) as root, Sandbox(_write_stack(root)) as sandbox:
        yield Stack(root, sandbox)


# -- which vhost answers ------------------------------------------------------------

@pytest.mark.parametrize(
    ("url", "local_ip", "where"),
    [
        ("http://www.example.com/index.html", None, "sites/10-www.conf"),
        ("http://EXAMPLE.com./index.html", None, "sites/10-www.conf"),  # alias, case, trailing dot
        ("http://unknown.example/index.html", None, "catch-all"),
        ("http://www.example.com/index.html", "10.0.0.5", "sites/30-admin.conf"),  # IP vhosts hide *:80
        ("http://api.example.com/", "10.0.0.99", "sites/20-api.conf"),  # an IP no vhost names
        ("http://www.example.com:8080/index.html", None, "sites/10-www.conf"),
    ],
)
def test_served_vhost(stack: Stack, url: str, local_ip: str | None, where: str) -> None:
    result = stack.sandbox.request(url, local_ip=local_ip)
    expected = stack.catch_all if where == "catch-all" else stack.vhost_id(where)
    assert (result.served_by, result.vhost) == ("vhost", expected)


def test_model_agrees_with_the_real_server(stack: Stack) -> None:
    model = stack.sandbox.model
    assert model is not None
    for host, local_ip in [("www.example.com", None), ("nope.example", None), ("api.example.com", "10.0.0.5")]:
        live = stack.sandbox.request(f"http://{host}/", local_ip=local_ip)
        assert model.match(local_ip, 80, host).server.id == live.vhost, host


def test_http10_without_host_gets_the_default_vhost(stack: Stack) -> None:
    result = stack.sandbox.request("http://www.example.com/", no_host=True, http10=True)
    assert result.vhost == stack.catch_all
    assert result.status == 403


def test_port_without_vhosts_is_the_main_server(stack: Stack) -> None:
    result = stack.sandbox.request("http://www.example.com:8081/index.html")
    assert (result.served_by, result.vhost, result.status) == ("main", None, 200)
    assert result.body == b"hello from htdocs\n"


def test_malformed_host_is_answered_before_a_vhost_is_chosen(stack: Stack) -> None:
    result = stack.sandbox.request("http://www.example.com/", headers={"Host": "bad_host!"})
    assert result.status == 400
    assert result.served_by == "unknown"
    assert result.server_name == "catchall.invalid"  # httpd's %v: the default server of the address


# -- what the vhost does ------------------------------------------------------------

def test_document_root_file(stack: Stack) -> None:
    result = stack.sandbox.request("http://www.example.com/index.html")
    assert result.status == 200
    assert result.body == b"hello from htdocs\n"
    assert result.backend is None


def test_proxypass_reaches_the_stub_for_the_original_backend(stack: Stack) -> None:
    result = stack.sandbox.request("http://api.example.com/v1/users?id=7")
    assert result.status == 200
    assert result.backend is not None
    assert result.backend.url == "http://10.1.2.3:5000/api/users?id=7"  # ${BACKEND_HOST} and a continuation line
    assert result.backend.method == "GET"
    assert b"stub for http://10.1.2.3:5000" in result.body


def test_proxypass_in_location_and_post_body(stack: Stack) -> None:
    result = stack.sandbox.request("http://api.example.com/v2/z", method="POST", body=b'{"a": 1}')
    assert result.backend is not None
    assert (result.backend.url, result.backend.method, result.backend.body) == ("http://10.1.2.4:6000/z", "POST", b'{"a": 1}')


def test_rewrite_proxy_flag(stack: Stack) -> None:
    result = stack.sandbox.request("http://api.example.com/legacy/a?b=1")
    assert result.backend is not None
    assert result.backend.url == "http://10.1.2.5:7000/old/a?b=1"


def test_computed_backend_reaches_the_catch_all_stub(stack: Stack) -> None:
    result = stack.sandbox.request("http://api.example.com/dyn/x", headers={"X-Shard": "s1"})
    assert result.backend is not None
    assert result.backend.url == "http://s1.internal.example/x"
    assert any("computed per request" in w for w in stack.sandbox.warnings)


def test_redirect_location(stack: Stack) -> None:
    result = stack.sandbox.request("http://www.example.com/old")
    assert (result.status, result.location) == (301, "http://www.example.com/new")


def test_sandbox_port_in_location_is_mapped_back(stack: Stack) -> None:
    # UseCanonicalPhysicalPort On: httpd writes the port the connection arrived on.
    result = stack.sandbox.request("http://www.example.com:8080/docs", headers={"Host": "www.example.com"})
    sandbox_port = stack.sandbox.ports[8080]
    assert result.status == 301
    assert result.header("Location") == f"http://www.example.com:{sandbox_port}/docs/"
    assert result.location == "http://www.example.com:8080/docs/"


def test_logs_and_pid_stay_in_the_sandbox(stack: Stack) -> None:
    root = stack.sandbox.root
    assert root is not None
    copy = Path(stack.sandbox.copy_of(str(stack.root / "httpd.conf"))).read_text()
    assert "/var/run/vhostguard-test" not in copy and "/var/log/vhostguard-test" not in copy
    assert "|/bin/cat" not in Path(stack.sandbox.copy_of(str(stack.root / "sites/10-www.conf"))).read_text()
    assert os.path.exists(os.path.join(root, "run", "httpd.pid"))
    assert not os.path.exists("/var/run/vhostguard-test-must-not-be-used.pid")


def test_unknown_port_is_refused(stack: Stack) -> None:
    # No Listen opens 9999 in the original config: a client's connection would be refused.
    result = stack.sandbox.request("http://www.example.com:9999/")
    assert result.status == 0 and result.refused is not None and "port 9999" in result.refused


# -- life cycle -----------------------------------------------------------------------

def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _bindable(address: tuple[str, int]) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError:
            return False
    return True


def test_stop_leaves_no_process_and_frees_the_ports(site: Site) -> None:
    root = site("htdocs/index.html", "x\n").parent.parent
    main = site("httpd.conf", _main_conf(root))
    site("sites/30-admin.conf", "<VirtualHost 10.0.0.5:80>\nServerName admin.example.com\n</VirtualHost>\n")
    with Sandbox(main) as sandbox:
        assert sandbox.request("http://admin.example.com/", local_ip="10.0.0.5").body == b"x\n"
        processes = sandbox.processes()  # after a request: a worker has answered, so workers exist
        listens = sandbox.addresses.sandbox_listens()  # type: ignore[union-attr]
        sandbox_root = sandbox.root
        assert len(processes) >= 2 and sandbox.pid in processes  # the parent and its workers
        assert ("127.0.0.10", sandbox.ports[80]) in listens
    assert not [pid for pid in processes if _alive(pid)]
    assert all(_bindable(address) for address in listens)
    assert sandbox_root is not None and not os.path.exists(sandbox_root)


def test_failing_test_body_still_stops_the_server(site: Site) -> None:
    root = site("htdocs/index.html", "x\n").parent.parent
    main = site("httpd.conf", _main_conf(root))
    site("sites/none.conf", "")
    processes: list[int] = []
    with pytest.raises(RuntimeError, match="the test failed"), Sandbox(main) as sandbox:
        sandbox.request("http://www.example.com/")
        processes = sandbox.processes()
        raise RuntimeError("the test failed")
    assert processes and not [pid for pid in processes if _alive(pid)]


def test_syntax_error_is_reported_with_the_original_file_and_line(site: Site) -> None:
    root = site("htdocs/index.html", "x\n").parent.parent
    main = site("httpd.conf", _main_conf(root))
    bad = site("sites/bad.conf", """
        <VirtualHost *:80>
            ServerName bad.example
        </VirtualHost>
        Bogus directive
    """)
    with pytest.raises(SandboxError) as caught:
        Sandbox(main).start()
    message = caught.value.message
    assert "Invalid command 'Bogus'" in message
    # The copy has a line inserted into the vhost; the message names the original line.
    assert f"line 4 of {bad}" in message


def test_vhost_from_a_macro_is_unsupported(site: Site) -> None:
    root = site("htdocs/index.html", "x\n").parent.parent
    main = site("httpd.conf", _main_conf(root, f"LoadModule macro_module {M}/mod_macro.so"))
    site("sites/macro.conf", """
        <Macro Site $name>
            <VirtualHost *:80>
                ServerName $name
            </VirtualHost>
        </Macro>
        Use Site m.example
    """)
    with pytest.raises(SandboxUnsupported, match=r"(?i)VirtualHost .*macro 'site'"):
        Sandbox(main).start()


def test_live_result_reports_the_connection(stack: Stack) -> None:
    result: LiveResult = stack.sandbox.request("http://www.example.com/index.html", local_ip="10.0.0.5")
    assert result.connected_to == ("127.0.0.10", stack.sandbox.ports[80])
    assert result.log is not None and result.log.local_ip == "127.0.0.10"


OPENSSL = shutil.which("openssl")


def _certificate(directory: Path, name: str) -> tuple[Path, Path]:
    assert OPENSSL is not None
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}"],
        check=True, capture_output=True,
    )
    for path in (cert, key):
        path.chmod(0o644)
    return cert, key


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
def test_https_sni_chooses_the_vhost(site: Site) -> None:
    root = site("htdocs/index.html", "x\n").parent.parent
    a_cert, a_key = _certificate(root, "a.example")
    b_cert, b_key = _certificate(root, "b.example")
    main = site("httpd.conf", f"""
        ServerName main.example
        LoadModule mpm_event_module {M}/mod_mpm_event.so
        LoadModule authz_core_module {M}/mod_authz_core.so
        LoadModule socache_shmcb_module {M}/mod_socache_shmcb.so
        LoadModule ssl_module {M}/mod_ssl.so
        Listen 443 https
        SSLSessionCache shmcb:/var/run/vhostguard-test-must-not-exist/scache(512000)
        <VirtualHost *:443>
            ServerName a.example
            SSLEngine on
            SSLCertificateFile {a_cert}
            SSLCertificateKeyFile {a_key}
        </VirtualHost>
        <VirtualHost *:443>
            ServerName b.example
            SSLEngine on
            SSLCertificateFile {b_cert}
            SSLCertificateKeyFile {b_key}
        </VirtualHost>
    """)
    with Sandbox(main) as sandbox:
        by_sni = sandbox.request("https://b.example/")
        mismatch = sandbox.request("https://b.example/", sni="a.example")
    assert (by_sni.served_by, by_sni.vhost) == ("vhost", f"{main}:14")
    assert mismatch.status == 421  # SNI picked a.example, whose SSL settings differ from b.example's


def test_server_root_relative_paths_read_the_copies(site: Site) -> None:
    # A source-build layout: ServerRoot above conf/, modules/ and htdocs/ beside it, relative paths.
    root = site("htdocs/index.html", "relative docroot\n").parent.parent
    (root / "modules").symlink_to(M)
    main = site("conf/httpd.conf", f"""
        ServerRoot "{root}"
        ServerName main.example
        LoadModule mpm_event_module modules/mod_mpm_event.so
        LoadModule authz_core_module modules/mod_authz_core.so
        Listen 80
        ErrorLog logs/error_log
        IncludeOptional conf/extra/*.conf
    """)
    site("conf/extra/site.conf", """
        <VirtualHost *:80>
            ServerName rel.example
            DocumentRoot htdocs
            <Directory htdocs>
                Require all granted
            </Directory>
        </VirtualHost>
    """)
    with Sandbox(main) as sandbox:
        result = sandbox.request("http://rel.example/index.html")
        copy = Path(sandbox.copy_of(str(main))).read_text()
    assert (result.status, result.body) == (200, b"relative docroot\n")
    assert result.vhost == f"{root}/conf/extra/site.conf:1"
    assert "logs/error_log" not in copy
    assert not (root / "logs").exists()

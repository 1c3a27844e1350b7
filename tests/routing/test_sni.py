"""mod_ssl's SNI checks (routing/sni.py): offline rules, then the same cases on the real apache2.

The offline tests build small configs (certificate paths need not exist: the
model never reads them). The live tests run one sandboxed apache2 with real
certificates and send each request with a chosen SNI and Host over TLS.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.apache import MODULES_DIR, needs_apache
from vhostguard.config import LoadOptions, load
from vhostguard.live import Sandbox
from vhostguard.model import ServerModel, build_model
from vhostguard.routing import Request, route
from vhostguard.routing.sni import ALL_PROTOCOLS, SniChecker, SniResult, parse_protocols, sent_sni, sni_outcome

Write = Callable[..., Path]

PREAMBLE = f"""
ServerName main.example
LoadModule mpm_event_module {MODULES_DIR}/mod_mpm_event.so
LoadModule authz_core_module {MODULES_DIR}/mod_authz_core.so
LoadModule socache_shmcb_module {MODULES_DIR}/mod_socache_shmcb.so
LoadModule ssl_module {MODULES_DIR}/mod_ssl.so
Listen 443 https
"""


@pytest.fixture
def model(write: Write) -> Callable[[str], ServerModel]:
    def make(body: str, preamble: str = PREAMBLE) -> ServerModel:
        tree = load(str(write("main.conf", preamble + body)), LoadOptions(environ={}, env_file=""))
        assert tree.errors == ()
        built = build_model(tree)
        assert built.errors == ()
        return built

    return make


def vhost(name: str, body: str = "", address: str = "*:443", cert: str | None = "a") -> str:
    certs = f"SSLCertificateFile /etc/ssl/{cert}.pem\n  SSLCertificateKeyFile /etc/ssl/{cert}.key\n" if cert else ""
    return f"<VirtualHost {address}>\n  ServerName {name}\n  SSLEngine on\n  {certs}{body}\n</VirtualHost>\n"


def check(model: ServerModel, url: str, **kw: object) -> SniResult | None:
    request = Request.from_url(url, **kw)  # type: ignore[arg-type]
    return sni_outcome(model, request, model.match(request.local_ip, request.port, request.host))


# -- 421: the Host's server differs from the handshake server -----------------------------


def test_sni_and_host_naming_vhosts_with_different_certificates_is_421(model: Callable[[str], ServerModel]) -> None:
    m = model(vhost("a.example", cert="a") + vhost("b.example", cert="b"))
    result = check(m, "https://b.example/index.html", sni="a.example")
    assert result is not None
    assert (result.status, result.kind, result.log_id) == (421, "misdirected", "AH02032")
    assert result.handshake.server.server_name == "a.example" and result.handshake.how == "name"
    assert result.request_server.server_name == "b.example"
    assert result.differences == ("SSLCertificateFile", "SSLCertificateKeyFile")
    assert [(n.name, n.args[0]) for n in result.directives] == [
        ("SSLCertificateFile", "/etc/ssl/a.pem"), ("SSLCertificateFile", "/etc/ssl/b.pem"),
        ("SSLCertificateKeyFile", "/etc/ssl/a.key"), ("SSLCertificateKeyFile", "/etc/ssl/b.key"),
    ]
    assert "hostname a.example provided via SNI" in result.reason and "Host b.example" in result.reason and "AH02032" in result.reason
    step = result.step()
    assert step.stage == "ssl" and step.detail == result.reason
    assert step.source == result.directives[0].source and step.source.line == 10


def test_sni_and_host_naming_the_same_vhost_is_no_objection(model: Callable[[str], ServerModel]) -> None:
    m = model(vhost("a.example", cert="a") + vhost("b.example", cert="b"))
    assert check(m, "https://a.example/") is None
    assert check(m, "https://A.Example:443/", sni="A.EXAMPLE") is None  # both compared case-insensitively


def test_same_certificate_and_key_are_compatible(model: Callable[[str], ServerModel]) -> None:
    m = model(vhost("a.example", cert="shared") + vhost("b.example", cert="shared"))
    assert check(m, "https://b.example/index.html", sni="a.example") is None


def test_only_the_key_differing_is_enough(model: Callable[[str], ServerModel]) -> None:
    m = model(vhost("a.example", cert=None, body="SSLCertificateFile /etc/ssl/s.pem\n  SSLCertificateKeyFile /etc/ssl/1.key")
              + vhost("b.example", cert=None, body="SSLCertificateFile /etc/ssl/s.pem\n  SSLCertificateKeyFile /etc/ssl/2.key"))
    result = check(m, "https://b.example/index.html", sni="a.example")
    assert result is not None and result.differences == ("SSLCertificateKeyFile",)


def test_certificate_lists_compare_as_sets(model: Callable[[str], ServerModel]) -> None:
    rsa_ec = "SSLCertificateFile /etc/ssl/rsa.pem\n  SSLCertificateFile /etc/ssl/ec.pem"
    ec_rsa = "SSLCertificateFile /etc/ssl/ec.pem\n  SSLCertificateFile /etc/ssl/rsa.pem"
    m = model(vhost("a.example", rsa_ec, cert=None) + vhost("b.example", ec_rsa, cert=None)
              + vhost("c.example", "SSLCertificateFile /etc/ssl/rsa.pem", cert=None))
    assert check(m, "https://b.example/index.html", sni="a.example") is None
    result = check(m, "https://c.example/index.html", sni="a.example")
    assert result is not None and result.differences == ("SSLCertificateFile",)


def test_relative_certificate_paths_resolve_against_server_root(model: Callable[[str], ServerModel], tmp_path: Path) -> None:
    m = model(vhost("a.example", cert=None, body=f"SSLCertificateFile {tmp_path}/ssl/x.pem")
              + vhost("b.example", cert=None, body="SSLCertificateFile ssl/x.pem"),
              preamble=f'ServerRoot "{tmp_path}"\n' + PREAMBLE)
    assert check(m, "https://b.example/index.html", sni="a.example") is None


def test_vhost_without_certificate_inherits_the_main_servers(model: Callable[[str], ServerModel]) -> None:
    main = "SSLCertificateFile /etc/ssl/main.pem\nSSLCertificateKeyFile /etc/ssl/main.key\n"
    m = model(main + vhost("a.example", cert=None) + vhost("b.example", cert=None) + vhost("c.example", cert="c"))
    assert check(m, "https://b.example/index.html", sni="a.example") is None
    result = check(m, "https://c.example/index.html", sni="a.example")
    assert result is not None
    # The handshake server's certificate comes from the main server's line.
    assert [n.source.line for n in result.directives][:1] == [7]


def test_vhost_certificates_knock_out_the_main_servers_by_index(model: Callable[[str], ServerModel]) -> None:
    main = "SSLCertificateFile /etc/ssl/main-rsa.pem\nSSLCertificateFile /etc/ssl/main-ec.pem\n"
    m = model(main + vhost("a.example", "SSLCertificateFile /etc/ssl/own.pem", cert=None)
              + vhost("b.example", "SSLCertificateFile /etc/ssl/own.pem\n  SSLCertificateFile /etc/ssl/main-ec.pem", cert=None))
    checker = SniChecker(m)
    a, b = m.vhosts
    assert checker.setup(a).values["cert_files"] == ("/etc/ssl/own.pem", "/etc/ssl/main-ec.pem")
    assert checker.setup(b).values["cert_files"] == ("/etc/ssl/own.pem", "/etc/ssl/main-ec.pem")
    assert check(m, "https://b.example/index.html", sni="a.example") is None


@pytest.mark.parametrize(("main", "b_body", "compatible"), [
    ("SSLProtocol all -TLSv1 -TLSv1.1", "SSLProtocol TLSv1.2 +TLSv1.3", True),  # same bitmask, other words
    ("SSLProtocol all -TLSv1 -TLSv1.1", "SSLProtocol -all +TLSv1.2", False),
    ("SSLProtocol all -SSLv3", "", True),  # SSLv3 is not in a no-ssl3 build's set
    ("", "SSLProtocol all -SSLv3", True),
    ("SSLCipherSuite HIGH:!MD5", "SSLCipherSuite SSL HIGH:!MD5", True),  # the one-argument form is SSL
    ("SSLCipherSuite HIGH:!MD5", "SSLCipherSuite HIGH:MEDIUM", False),
    ("", "SSLCipherSuite TLSv1.3 TLS_AES_256_GCM_SHA384", False),
    ("", "SSLVerifyDepth 1", True),  # module init turns an unset depth into 1
    ("", "SSLVerifyDepth 2", False),
    ("", "SSLVerifyClient none", True),  # ... and an unset mode into none
    ("", "SSLVerifyClient require\n  SSLCACertificateFile /etc/ssl/ca.pem", False),
    ("SSLCACertificateFile /etc/ssl/ca.pem", "SSLCACertificateFile /etc/ssl/ca.pem", True),
    ("", "SSLCADNRequestFile /etc/ssl/names.pem", False),
    ("", "SSLCADNRequestPath /etc/ssl/names/", False),
    ("", "SSLCACertificatePath /etc/ssl/certs/", False),
    ("", "SSLCARevocationCheck chain\n  SSLCARevocationFile /etc/ssl/crl.pem", False),
    ("", "SSLOCSPEnable on", False),
    ("", "SSLOCSPEnable off", True),
    ("", "SSLOpenSSLConfCmd Curves X25519", False),
    ("SSLOpenSSLConfCmd Curves X25519", "", True),  # inherited by both
    ("", "SSLCertificateChainFile /etc/ssl/chain.pem", True),  # not compared
    ("", "SSLHonorCipherOrder on\n  SSLSessionTickets off\n  SSLCompression off", True),  # not compared
])
def test_the_fields_ssl_server_compatible_compares(
    model: Callable[[str], ServerModel], main: str, b_body: str, compatible: bool,
) -> None:
    m = model(main + "\n" + vhost("a.example") + vhost("b.example", b_body))
    result = check(m, "https://b.example/index.html", sni="a.example")
    assert (result is None) is compatible, result and result.reason


def test_421_names_the_inherited_and_the_own_directive(model: Callable[[str], ServerModel]) -> None:
    m = model("SSLProtocol all -TLSv1\n" + vhost("a.example") + vhost("b.example", "SSLProtocol -all +TLSv1.3"))
    result = check(m, "https://b.example/index.html", sni="a.example")
    assert result is not None and result.differences == ("SSLProtocol",)
    assert [(n.args, n.source.line) for n in result.directives] == [(("all", "-TLSv1"), 7), (("-all", "+TLSv1.3"), 20)]


def test_unmatched_sni_shakes_hands_with_the_default_vhost(model: Callable[[str], ServerModel]) -> None:
    m = model(vhost("a.example", cert="a") + vhost("b.example", cert="b"))
    result = check(m, "https://b.example/index.html", sni="nothing.example")
    assert result is not None and result.status == 421
    assert result.handshake.how == "unmatched" and result.handshake.server.server_name == "a.example"
    assert check(m, "https://a.example/index.html", sni="nothing.example") is None


def test_sni_matches_aliases_and_wildcards_in_configuration_order(model: Callable[[str], ServerModel]) -> None:
    m = model(vhost("a.example", cert="a") + vhost("b.example", "ServerAlias www.b.example *.wild.example", cert="b")
              + vhost("c.example", "ServerAlias x.wild.example", cert="c"))
    checker = SniChecker(m)
    for sni, how, name in [("www.b.example", "alias", "b.example"), ("x.wild.example", "wild-alias", "b.example"),
                           ("C.EXAMPLE", "name", "c.example")]:
        request = Request.from_url("https://c.example/index.html", sni=sni)
        hs = checker.handshake(request, m.match(None, 443, request.host))
        assert hs is not None and (hs.how, hs.server.server_name) == (how, name)


def test_sni_is_compared_verbatim_not_like_a_host_header(model: Callable[[str], ServerModel]) -> None:
    m = model(vhost("a.example", cert="a") + vhost("b.example", cert="b"))
    checker = SniChecker(m)
    for sni in ("b.example.", "b.example:443"):  # Host would drop the dot and the port; strcasecmp does not
        request = Request.from_url("https://a.example/index.html", sni=sni)
        hs = checker.handshake(request, m.match(None, 443, request.host))
        assert hs is not None and hs.how == "unmatched" and hs.server.server_name == "a.example"


def test_one_vhost_on_the_address_never_objects(model: Callable[[str], ServerModel]) -> None:
    m = model(vhost("a.example", "SSLStrictSNIVHostCheck on", cert="a"))
    assert check(m, "https://other.example/index.html", sni="b.example") is None
    assert check(m, "https://a.example/index.html", sni="") is None  # no name chain: the strict check needs one


def test_without_sni_the_default_vhost_is_compared_too(model: Callable[[str], ServerModel]) -> None:
    m = model(vhost("a.example", cert="a") + vhost("b.example", cert="b") + vhost("c.example", cert="a"))
    result = check(m, "https://b.example/index.html", sni="")
    assert result is not None and result.status == 421 and result.handshake.how == "no-sni"
    assert "a.example (default host as no SNI was provided)" in result.reason
    assert check(m, "https://c.example/index.html", sni="") is None


@pytest.mark.parametrize(("policy", "c_body", "status"), [
    ("strict", "", 421),  # any other vhost, even one with the same setup
    ("secure", "", None),
    ("authonly", "SSLProtocol -all +TLSv1.3", None),  # server-side differences are allowed
    ("authonly", "SSLVerifyDepth 3", 421),
    ("insecure", "SSLVerifyDepth 3", None),
    ("bogus", "SSLVerifyDepth 3", 421),  # httpd refuses to start; the model falls back to the default
])
def test_sslvhostsnipolicy(model: Callable[[str], ServerModel], policy: str, c_body: str, status: int | None) -> None:
    m = model(f"SSLVHostSNIPolicy {policy}\n" + vhost("a.example") + vhost("c.example", c_body))
    result = check(m, "https://c.example/index.html", sni="a.example")
    assert (result.status if result else None) == status
    if result is not None and policy == "strict":
        assert result.policy == "strict" and result.differences == ()
        assert result.directive is not None and result.directive.name == "SSLVHostSNIPolicy"
        assert "policy 'strict'" in result.reason


# -- 400: SNI, but no Host ---------------------------------------------------------------------


def test_sni_without_host_is_400(model: Callable[[str], ServerModel]) -> None:
    m = model(vhost("a.example") + vhost("b.example"))
    result = check(m, "https://a.example/index.html", sni="a.example", no_host=True)
    assert result is not None and (result.status, result.kind, result.log_id) == (400, "bad-request", "AH02031")
    assert result.directive is not None and result.directive.name == "SSLEngine"
    assert check(m, "https://a.example/index.html", sni="", no_host=True) is None


def test_core_400s_come_first(model: Callable[[str], ServerModel]) -> None:
    m = model(vhost("a.example", cert="a") + vhost("b.example", cert="b"))
    bad_host = Request.from_url("https://a.example/index.html", headers=(("Host", "bad_host!"),))
    assert sni_outcome(m, bad_host, m.match(None, 443, bad_host.host)) is None
    http11_without_host = Request("https", None, 443, "/", sni="a.example")
    assert sni_outcome(m, http11_without_host, m.match(None, 443, None)) is None


# -- 403: no SNI, SSLStrictSNIVHostCheck on ------------------------------------------------------


def test_strict_in_the_default_vhost_refuses_every_vhost_without_sni(model: Callable[[str], ServerModel]) -> None:
    m = model(vhost("a.example", "SSLStrictSNIVHostCheck on") + vhost("b.example"))
    for url in ("https://a.example/index.html", "https://b.example/"):
        result = check(m, url, sni="")
        assert result is not None and (result.status, result.kind, result.log_id) == (403, "forbidden", "AH02033")
        assert [(n.name, n.source.line) for n in result.directives] == [("SSLStrictSNIVHostCheck", 12)]
    assert check(m, "https://b.example/") is None  # with SNI


def test_strict_in_another_vhost_refuses_only_that_vhost(model: Callable[[str], ServerModel]) -> None:
    m = model(vhost("a.example") + vhost("b.example", "SSLStrictSNIVHostCheck on"))
    assert check(m, "https://a.example/index.html", sni="") is None
    result = check(m, "https://b.example/index.html", sni="")
    assert result is not None and result.status == 403 and "b.example" in result.reason


def test_strict_is_inherited_and_can_be_switched_off(model: Callable[[str], ServerModel]) -> None:
    m = model("SSLStrictSNIVHostCheck on\n" + vhost("a.example", "SSLStrictSNIVHostCheck off") + vhost("b.example"))
    assert check(m, "https://a.example/index.html", sni="") is None
    result = check(m, "https://b.example/index.html", sni="")
    assert result is not None and result.status == 403 and result.directives[0].source.line == 7


def test_strict_403_comes_before_the_policys_421(model: Callable[[str], ServerModel]) -> None:
    m = model(vhost("a.example", cert="a") + vhost("b.example", "SSLStrictSNIVHostCheck on", cert="b"))
    result = check(m, "https://b.example/index.html", sni="")
    assert result is not None and result.status == 403
    result = check(m, "https://b.example/index.html", sni="a.example")
    assert result is not None and result.status == 421


def test_strict_with_an_ip_literal_url_means_no_sni(model: Callable[[str], ServerModel]) -> None:
    m = model(vhost("a.example", "SSLStrictSNIVHostCheck on") + vhost("b.example"))
    result = check(m, "https://127.0.0.1/")
    assert result is not None and result.status == 403
    assert sent_sni(Request.from_url("https://[::1]/")) is None


# -- not a TLS connection -------------------------------------------------------------------------


def test_plain_http_and_ssl_disabled_default_are_not_checked(model: Callable[[str], ServerModel]) -> None:
    m = model(vhost("a.example", cert="a") + vhost("b.example", cert="b"))
    assert check(m, "http://b.example:443/", sni="a.example") is None
    m = model(vhost("a.example", "SSLEngine off", cert="a") + vhost("b.example", cert="b"))
    assert check(m, "https://b.example/index.html", sni="a.example") is None  # the base server decides TLS
    m = model(vhost("a.example", "SSLEngine optional", cert="a") + vhost("b.example", cert="b"))
    assert check(m, "https://b.example/index.html", sni="a.example") is None


def test_without_mod_ssl_nothing_is_checked(model: Callable[[str], ServerModel]) -> None:
    plain = "ServerName main.example\nListen 443\n"
    m = model("<VirtualHost *:443>\n ServerName a.example\n</VirtualHost>\n"
              "<VirtualHost *:443>\n ServerName b.example\n</VirtualHost>\n", preamble=plain)
    assert check(m, "https://b.example/index.html", sni="a.example") is None


def test_main_server_connection_only_checks_the_host(model: Callable[[str], ServerModel]) -> None:
    m = model("SSLEngine on\nSSLCertificateFile /etc/ssl/main.pem\n")
    assert check(m, "https://anything.example/index.html", sni="other.example") is None
    result = check(m, "https://anything.example/index.html", sni="other.example", no_host=True)
    assert result is not None and result.status == 400 and result.handshake.how == "main"


def test_parse_protocols() -> None:
    assert parse_protocols(("all",)) == ALL_PROTOCOLS
    assert parse_protocols(("-all", "+TLSv1.2", "+tlsv1.3")) == {"TLSv1.2", "TLSv1.3"}
    assert parse_protocols(("TLSv1.2", "TLSv1.3")) == {"TLSv1.3"}  # a bare word replaces (AH02532)
    assert parse_protocols(("all", "-SSLv3", "-SSLv2")) == ALL_PROTOCOLS


# -- the real apache2 ----------------------------------------------------------------------------

OPENSSL = shutil.which("openssl")
NAMES = ("a", "b", "c", "d", "e", "f", "g", "h", "s", "x", "t", "u", "solo")


def _live_config(root: Path) -> str:
    m = MODULES_DIR
    sites = ""

    def site(name: str, port: int, body: str) -> str:
        return (f"<VirtualHost *:{port}>\n  ServerName {name}.example\n  SSLEngine on\n"
                f"  DocumentRoot {root}/www/{name}\n{body}\n</VirtualHost>\n")

    def cert(name: str) -> str:
        return f"  SSLCertificateFile {root}/{name}.pem\n  SSLCertificateKeyFile {root}/{name}.key\n"

    sites += site("a", 443, cert("a"))
    sites += site("b", 443, cert("b"))
    sites += site("c", 443, cert("a"))  # a's certificate and key: compatible with a
    sites += site("d", 443, cert("a") + "  SSLVerifyDepth 1")  # the init default, written out: compatible
    sites += site("e", 443, cert("a") + "  SSLProtocol -all +TLSv1.2")  # a protocol set of its own: not compatible
    sites += site("f", 443, "")  # the main server's certificate
    sites += site("g", 443, "  SSLProtocol TLSv1.2 +TLSv1.3")  # main's protocol bitmask, other words: compatible with f
    sites += site("h", 443, cert("a") + "  SSLOCSPEnable on")  # a client verification setting: not compatible
    sites += site("s", 443, cert("a") + "  SSLStrictSNIVHostCheck on")  # strict, not the default
    sites += site("x", 443, cert("b") + "  SSLStrictSNIVHostCheck on")  # strict and not compatible
    sites += site("t", 8443, cert("a") + "  SSLStrictSNIVHostCheck on")  # strict default of 8443
    sites += site("u", 8443, cert("a"))
    sites += site("solo", 9443, cert("a") + "  SSLStrictSNIVHostCheck on")  # alone on 9443: no name chain
    return f"""
ServerName main.example
LoadModule mpm_event_module {m}/mod_mpm_event.so
LoadModule authz_core_module {m}/mod_authz_core.so
LoadModule socache_shmcb_module {m}/mod_socache_shmcb.so
LoadModule ssl_module {m}/mod_ssl.so
Listen 443 https
Listen 8443 https
Listen 9443 https
SSLProtocol all -TLSv1 -TLSv1.1
SSLCertificateFile {root}/main.pem
SSLCertificateKeyFile {root}/main.key
<Directory />
  Require all denied
</Directory>
<Directory {root}/www>
  Require all granted
</Directory>
{sites}"""


def _certificate(root: Path, name: str) -> None:
    assert OPENSSL is not None
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(root / f"{name}.key"), "-out", str(root / f"{name}.pem"), "-days", "2",
         "-subj", f"/CN={name}.example"],
        check=True, capture_output=True,
    )


@dataclass
class _Live:
    model: ServerModel
    sandbox: Sandbox


@pytest.fixture(scope="module")
def live() -> Iterator[_Live]:
    root = Path(tempfile.mkdtemp(prefix="vg-sni-", dir="/tmp"))
    try:
        for name in ("a", "b", "main"):
            _certificate(root, name)
        for name in NAMES:
            page = root / "www" / name / "index.html"
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(f"FILE:{name}\n")
        for dirpath, _, filenames in os.walk(root):
            os.chmod(dirpath, 0o755)
            for filename in filenames:
                os.chmod(os.path.join(dirpath, filename), 0o644)
        conf = root / "apache2.conf"
        conf.write_text(_live_config(root))
        tree = load(str(conf), LoadOptions(environ={}, env_file=""))
        assert tree.errors == (), tree.errors
        with Sandbox(str(conf), env_file="") as sandbox:
            yield _Live(build_model(tree), sandbox)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class LiveCase:
    url: str
    sni: str  # "" sends none
    expected: int  # the status the real server gives (asserted: the offline answer must match it)
    no_host: bool = False


LIVE_CASES = {
    "sni-a-host-b-other-certificate-421": LiveCase("https://b.example/index.html", "a.example", 421),
    "sni-a-host-a-served": LiveCase("https://a.example/index.html", "a.example", 200),
    "sni-a-host-c-same-certificate-served-by-c": LiveCase("https://c.example/index.html", "a.example", 200),
    "sni-a-host-d-verify-depth-1-written-out-served": LiveCase("https://d.example/index.html", "a.example", 200),
    "sni-a-host-e-own-protocols-421": LiveCase("https://e.example/index.html", "a.example", 421),
    "sni-f-host-g-same-protocol-bitmask-served": LiveCase("https://g.example/index.html", "f.example", 200),
    "sni-f-host-a-inherited-vs-own-certificate-421": LiveCase("https://a.example/index.html", "f.example", 421),
    "sni-unknown-host-b-default-handshake-421": LiveCase("https://b.example/index.html", "unknown.example", 421),
    "sni-unknown-host-c-default-handshake-served": LiveCase("https://c.example/index.html", "unknown.example", 200),
    "sni-a-host-h-ocsp-421": LiveCase("https://h.example/index.html", "a.example", 421),
    "no-sni-host-b-other-certificate-421": LiveCase("https://b.example/index.html", "", 421),
    "no-sni-host-c-same-certificate-served": LiveCase("https://c.example/index.html", "", 200),
    "no-sni-strict-and-incompatible-403": LiveCase("https://x.example/index.html", "", 403),
    "sni-a-host-x-strict-and-incompatible-421": LiveCase("https://x.example/index.html", "a.example", 421),
    "sni-a-no-host-http10-400": LiveCase("https://a.example/index.html", "a.example", 400, no_host=True),
    "no-sni-no-host-http10-served-by-default": LiveCase("https://a.example/index.html", "", 200, no_host=True),
    "no-sni-strict-request-vhost-403": LiveCase("https://s.example/index.html", "", 403),
    "no-sni-strict-elsewhere-served": LiveCase("https://c.example/index.html", "", 200),
    "no-sni-strict-default-vhost-403": LiveCase("https://u.example:8443/index.html", "", 403),
    "sni-strict-default-vhost-served": LiveCase("https://u.example:8443/index.html", "u.example", 200),
    "no-sni-strict-single-vhost-served": LiveCase("https://solo.example:9443/index.html", "", 200),
    "sni-other-single-vhost-served": LiveCase("https://solo.example:9443/index.html", "b.example", 200),
}


@needs_apache
@pytest.mark.httpd
@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
@pytest.mark.parametrize("case", LIVE_CASES.values(), ids=LIVE_CASES.keys())
def test_offline_sni_checks_equal_live(live: _Live, case: LiveCase) -> None:
    request = Request.from_url(case.url, sni=case.sni, no_host=case.no_host)
    match = live.model.match(request.local_ip, request.port, request.host)
    offline = sni_outcome(live.model, request, match)
    answer = live.sandbox.request(case.url, sni=case.sni, no_host=case.no_host, http10=case.no_host)
    assert answer.status == case.expected, live.sandbox.error_log_tail()
    # httpd logs the request under the Host's server whatever mod_ssl said.
    assert (answer.served_by, answer.vhost) == ("vhost", match.server.id)
    decision = route(live.model, request)  # what `vhostguard route` says: the check is part of routing
    assert decision.server is match.server
    if offline is None:
        assert answer.body == f"FILE:{match.server.server_name.split('.')[0]}\n".encode()
        assert (decision.outcome.kind, decision.outcome.status) == ("file", 200)
    else:
        assert offline.status == answer.status, offline.reason
        assert offline.log_id in live.sandbox.error_log_tail(200) or offline.log_id == "AH02033"  # AH02033 is info
        assert (decision.outcome.kind, decision.outcome.status) == (offline.kind, answer.status)
        assert decision.steps[-1].stage == "ssl" and decision.steps[-1].detail == offline.reason

"""VG4xx TLS: certificates, keys, protocols and the HTTP-to-HTTPS path.

Certificates are read with ``cryptography``; unreadable files are VG204's
business, so the rules here skip what they cannot parse.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from vhostguard.config.nodes import Directive
from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.routing import answers_name
from vhostguard.model import Server
from vhostguard.routing import Request

EXPIRY_WARNING_DAYS = 30
WEAK_PROTOCOLS = ("SSLv3", "TLSv1", "TLSv1.1")
_PROTOCOLS = {"sslv3": "SSLv3", "tlsv1": "TLSv1", "tlsv1.1": "TLSv1.1", "tlsv1.2": "TLSv1.2", "tlsv1.3": "TLSv1.3"}
# mod_ssl's "all" with an OpenSSL built without SSLv3 (every current distribution).
_ALL = frozenset({"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"})


@dataclass(frozen=True, slots=True)
class CertPair:
    """One SSLCertificateFile of a server with the key that goes with it."""

    cert_node: Directive
    cert_path: str
    key_path: str  # the cert file itself when the key is stored with it


@lru_cache(maxsize=256)
def load_certificate(path: str) -> x509.Certificate | None:
    """The leaf certificate of a PEM (first block) or DER file; None if unreadable."""
    try:
        data = open(path, "rb").read()  # noqa: SIM115 - tiny file, closed by refcount
    except OSError:
        return None
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)[0]
        return x509.load_der_x509_certificate(data)
    except ValueError:
        return None


@lru_cache(maxsize=256)
def load_public_key_der(path: str) -> bytes | None:
    """The public half of an unencrypted private key file, as DER (None if unreadable or encrypted)."""
    try:
        data = open(path, "rb").read()  # noqa: SIM115
    except OSError:
        return None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        return None
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def certificate_names(cert: x509.Certificate) -> list[str]:
    """DNS names the certificate is valid for: the SANs, else the subject CN (as clients do)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        return [n.lower() for n in san.value.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        return [str(a.value).lower() for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def name_covered(name: str, cert_names: list[str]) -> bool:
    """RFC 6125: exact match, or ``*.example.com`` for exactly one extra left label."""
    name = name.lower().rstrip(".")
    for pattern in cert_names:
        if pattern == name:
            return True
        if pattern.startswith("*.") and "." in name and name.split(".", 1)[1] == pattern[2:] and not name.startswith("*"):
            return True
    return False


def cert_pairs(ctx: LintContext, server: Server) -> list[CertPair]:
    """The server's certificates (own, else the main server's) paired with their keys in order."""
    certs = ctx.own(server, "sslcertificatefile") or ([] if server.is_main else ctx.own(ctx.main, "sslcertificatefile"))
    keys = ctx.own(server, "sslcertificatekeyfile") or ([] if server.is_main else ctx.own(ctx.main, "sslcertificatekeyfile"))
    pairs = []
    for index, node in enumerate(certs):
        if not node.args:
            continue
        cert_path = ctx.path(node.args[0])
        key_node = keys[index] if index < len(keys) else None
        key_path = ctx.path(key_node.args[0]) if key_node is not None and key_node.args else cert_path
        pairs.append(CertPair(node, cert_path, key_path))
    return pairs


def declared_names(server: Server) -> list[str]:
    """ServerName and plain ServerAliases as written: a name httpd derived
    (inherited from the main server, or from reverse DNS) is nobody's promise."""
    own = [server.declared_name.host] if server.declared_name is not None else []
    return own + list(server.aliases)


def tls_servers(ctx: LintContext) -> Iterator[Server]:
    for server in ctx.servers:
        if ctx.ssl_enabled(server) and (not server.is_main or not ctx.model.vhosts):
            yield server


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class SslCertificateMissing(Rule):
    """
    ## What it does
    Checks for `SSLEngine on` in a server that has no `SSLCertificateFile`
    (of its own or inherited from the main server).

    ## Why is this bad?
    httpd refuses to start (AH02572: "Failed to configure at least one
    certificate and key").

    ## Example
    ```apache
    <VirtualHost *:443>
        ServerName www.example.com
        SSLEngine on
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    <VirtualHost *:443>
        ServerName www.example.com
        SSLEngine on
        SSLCertificateFile /etc/ssl/www.example.com.pem
        SSLCertificateKeyFile /etc/ssl/private/www.example.com.key
    </VirtualHost>
    ```
    """

    code = "VG401"
    name = "ssl-certificate-missing"
    severity = Severity.ERROR
    summary = "SSLEngine on without SSLCertificateFile."
    hint = "Add SSLCertificateFile and SSLCertificateKeyFile to the vhost."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for server in tls_servers(ctx):
            if not cert_pairs(ctx, server):
                node = ctx.effective(server, "sslengine")
                if node is not None:
                    yield self.finding(node, f"{ctx.label(server)}: SSLEngine on but no SSLCertificateFile")


class CertificateExpired(Rule):
    """
    ## What it does
    Checks every `SSLCertificateFile` for a certificate whose validity has
    ended (or not yet begun).

    ## Why is this bad?
    Every client refuses the connection: the site is down for everyone using
    HTTPS, and automated clients fail hard.

    ## Example
    ```apache
    SSLCertificateFile /etc/ssl/old/www.example.com.pem
    ```

    ## Use instead:
    ```apache
    SSLCertificateFile /etc/letsencrypt/live/www.example.com/fullchain.pem
    ```
    """

    code = "VG402"
    name = "certificate-expired"
    severity = Severity.ERROR
    summary = "An expired (or not yet valid) certificate."
    hint = "Renew the certificate and reload httpd; automate renewal (ACME/certbot)."
    directives = frozenset({"sslcertificatefile"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        cert = load_certificate(ctx.path(node.args[0])) if node.args else None
        if cert is None:
            return
        now = _now()
        if cert.not_valid_after_utc < now:
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: certificate {node.args[0]} expired on {cert.not_valid_after_utc:%Y-%m-%d}")
        elif cert.not_valid_before_utc > now:
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: certificate {node.args[0]} is not valid before {cert.not_valid_before_utc:%Y-%m-%d}")


class CertificateExpiring(Rule):
    """
    ## What it does
    Checks every `SSLCertificateFile` for a certificate that expires within
    30 days.

    ## Why is this bad?
    Renewal that has not happened 30 days before expiry has usually failed
    silently; this is the last comfortable moment to fix it.

    ## Example
    ```apache
    SSLCertificateFile /etc/ssl/manual/www.example.com.pem
    ```

    ## Use instead:
    ```apache
    SSLCertificateFile /etc/letsencrypt/live/www.example.com/fullchain.pem
    ```
    """

    code = "VG403"
    name = "certificate-expiring"
    severity = Severity.WARNING
    summary = f"A certificate that expires within {EXPIRY_WARNING_DAYS} days."
    hint = "Renew the certificate now and check why automatic renewal did not."
    directives = frozenset({"sslcertificatefile"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        cert = load_certificate(ctx.path(node.args[0])) if node.args else None
        if cert is None:
            return
        now = _now()
        left = cert.not_valid_after_utc - now
        if dt.timedelta(0) <= left < dt.timedelta(days=EXPIRY_WARNING_DAYS):
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: certificate {node.args[0]} expires on {cert.not_valid_after_utc:%Y-%m-%d} ({left.days} days left)")


class KeyMismatch(Rule):
    """
    ## What it does
    Checks that the private key (`SSLCertificateKeyFile`, or the key stored in
    the certificate file) belongs to the certificate.

    ## Why is this bad?
    httpd refuses to start (AH02565 "Certificate and private key ... do not
    match"): typically a renewal replaced one file but not the other.

    ## Example
    ```apache
    SSLCertificateFile    /etc/ssl/new/www.pem
    SSLCertificateKeyFile /etc/ssl/old/www.key
    ```

    ## Use instead:
    ```apache
    SSLCertificateFile    /etc/ssl/new/www.pem
    SSLCertificateKeyFile /etc/ssl/new/www.key
    ```

    ## Known problems
    Encrypted keys are not checked.
    """

    code = "VG404"
    name = "key-mismatch"
    severity = Severity.ERROR
    summary = "The private key does not belong to the certificate."
    hint = "Install the key generated with this certificate (compare `openssl x509 -pubkey` and `openssl pkey -pubout`)."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for server in tls_servers(ctx):
            for pair in cert_pairs(ctx, server):
                cert = load_certificate(pair.cert_path)
                key = load_public_key_der(pair.key_path)
                if cert is None or key is None:
                    continue
                own = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
                if own != key:
                    yield self.finding(pair.cert_node, f"{ctx.label(server)}: the key {pair.key_path} does not match the certificate {pair.cert_path}")


class CertificateNameMismatch(Rule):
    """
    ## What it does
    Checks that the certificate of each TLS vhost covers its ServerName and
    every ServerAlias (subject alternative names, or the common name when
    there are none; `*.example.com` covers one label).

    ## Why is this bad?
    Clients connecting with a name the certificate does not cover get a
    certificate error: browsers show a warning page, API clients fail.

    ## Example
    ```apache
    <VirtualHost *:443>
        ServerName www.example.com
        ServerAlias shop.example.com
        SSLEngine on
        # a certificate for www.example.com only
        SSLCertificateFile /etc/ssl/www.pem
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    <VirtualHost *:443>
        ServerName www.example.com
        ServerAlias shop.example.com
        SSLEngine on
        # a certificate for www.example.com and shop.example.com
        SSLCertificateFile /etc/ssl/www-shop.pem
    </VirtualHost>
    ```
    """

    code = "VG405"
    name = "certificate-name-mismatch"
    severity = Severity.ERROR
    summary = "The certificate does not cover the vhost's ServerName/ServerAlias."
    hint = "Get a certificate whose subject alternative names include every ServerName and ServerAlias."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for server in tls_servers(ctx):
            if server.is_main:
                continue
            for pair in cert_pairs(ctx, server):
                cert = load_certificate(pair.cert_path)
                if cert is None:
                    continue
                names = certificate_names(cert)
                missing = [n for n in self._wanted(server) if not self._covered(n, names)]
                if missing:
                    yield self.finding(pair.cert_node, f"{ctx.label(server)}: certificate {pair.cert_path} does not cover {', '.join(missing)} (it names {', '.join(names) or 'nothing'})")

    @staticmethod
    def _wanted(server: Server) -> list[str]:
        return list(dict.fromkeys(n.lower() for n in [*declared_names(server), *server.wild_aliases]))

    @staticmethod
    def _covered(name: str, cert_names: list[str]) -> bool:
        if "*" in name or "?" in name:
            # A wildcard alias is covered only by the same wildcard in the certificate.
            return name in cert_names or not name.startswith("*.")
        return name_covered(name, cert_names)


def enabled_protocols(node: Directive) -> set[str]:
    """``SSLProtocol`` as mod_ssl reads it: a bare word replaces, +/- adjust."""
    enabled: set[str] = set()
    for word in node.args:
        sign = word[0] if word[0] in "+-" else ""
        name = word[1:] if sign else word
        chosen = set(_ALL) if name.lower() == "all" else {_PROTOCOLS.get(name.lower(), name)}
        if sign == "+":
            enabled |= chosen
        elif sign == "-":
            enabled -= chosen
        else:
            enabled = chosen
    return enabled


class WeakTlsProtocol(Rule):
    """
    ## What it does
    Checks for `SSLProtocol` settings that enable SSLv3, TLSv1 or TLSv1.1.

    ## Why is this bad?
    These protocols are deprecated (RFC 8996) and have known attacks
    (POODLE, BEAST); PCI DSS and most audits reject them.

    ## Example
    ```apache
    SSLProtocol all -SSLv3
    ```

    ## Use instead:
    ```apache
    SSLProtocol -all +TLSv1.2 +TLSv1.3
    ```

    ## References
    - https://httpd.apache.org/docs/2.4/mod/mod_ssl.html#sslprotocol
    """

    code = "VG406"
    name = "weak-tls-protocol"
    severity = Severity.WARNING
    summary = "SSLProtocol allows SSLv3, TLSv1 or TLSv1.1."
    hint = "Use `SSLProtocol -all +TLSv1.2 +TLSv1.3`."
    directives = frozenset({"sslprotocol"})

    def check_node(self, node: Directive, ctx: LintContext) -> Iterator[Finding]:
        weak = [p for p in WEAK_PROTOCOLS if p in enabled_protocols(node)]
        if weak:
            yield self.finding(node, f"{ctx.label(ctx.owner(node))}: SSLProtocol {' '.join(node.args)} enables {', '.join(weak)}")


class HttpsPortWithoutSsl(Rule):
    """
    ## What it does
    Checks for vhosts on port 443 without `SSLEngine on`.

    ## Why is this bad?
    Browsers speak TLS to port 443; a plain-HTTP vhost there answers the TLS
    handshake with an HTTP error ("SSL_ERROR_RX_RECORD_TOO_LONG"), so the
    site is unreachable over HTTPS.

    ## Example
    ```apache
    <VirtualHost *:443>
        ServerName www.example.com
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    <VirtualHost *:443>
        ServerName www.example.com
        SSLEngine on
        SSLCertificateFile /etc/ssl/www.pem
        SSLCertificateKeyFile /etc/ssl/private/www.key
    </VirtualHost>
    ```
    """

    code = "VG407"
    name = "https-port-without-ssl"
    severity = Severity.ERROR
    summary = "A *:443 vhost without SSLEngine on."
    hint = "Add `SSLEngine on` with a certificate, or move the vhost to port 80."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        for server in ctx.model.vhosts:
            node = ctx.vhost_node(server)
            if node is not None and any(a.port == 443 for a in server.addresses) and not ctx.ssl_enabled(server):
                yield self.finding(node, f"vhost {server.server_name} listens on port 443 without SSLEngine on")


class HttpNotRedirected(Rule):
    """
    ## What it does
    Checks, for every name served by an HTTPS vhost, that `http://name/` is
    redirected to `https://` by the vhost that answers it on port 80.

    ## Why is this bad?
    Users who type the bare name, old links and bookmarks keep using plain
    HTTP: cookies and credentials travel unencrypted, and the HTTP vhost
    tends to drift from the HTTPS one.

    ## Example
    ```apache
    <VirtualHost *:80>
        ServerName www.example.com
        DocumentRoot /var/www/www
    </VirtualHost>
    ```

    ## Use instead:
    ```apache
    <VirtualHost *:80>
        ServerName www.example.com
        Redirect permanent / https://www.example.com/
    </VirtualHost>
    ```
    """

    code = "VG408"
    name = "http-not-redirected"
    severity = Severity.WARNING
    summary = "An HTTP vhost for a name that has an HTTPS vhost, without a redirect to https."
    hint = "Redirect the HTTP vhost: `Redirect permanent / https://NAME/`."

    def check(self, ctx: LintContext) -> Iterator[Finding]:
        if not any(listen.port == 80 for listen in ctx.model.listens):
            return
        reported: set[str | None] = set()
        for server in tls_servers(ctx):
            for name in declared_names(server):
                finding = self._check_name(ctx, name, reported)
                if finding is not None:
                    yield finding

    def _check_name(self, ctx: LintContext, name: str, reported: set[str | None]) -> Finding | None:
        try:
            request = Request.from_url(f"http://{name}/")
        except ValueError:
            return None
        decision = ctx.router.route(request)
        http = decision.server
        node = ctx.vhost_node(http)
        if node is None or http.id in reported or ctx.ssl_enabled(http) or not answers_name(http, name.lower()):
            return None
        outcome = decision.outcome
        if outcome.kind == "redirect" and (outcome.target or "").startswith("https://"):
            return None
        reported.add(http.id)
        return self.finding(node, f"vhost {http.server_name} answers http://{name}/ with {outcome.kind} instead of redirecting to https://{name}/")


RULES: tuple[type[Rule], ...] = (
    SslCertificateMissing, CertificateExpired, CertificateExpiring, KeyMismatch, CertificateNameMismatch,
    WeakTlsProtocol, HttpsPortWithoutSsl, HttpNotRedirected,
)

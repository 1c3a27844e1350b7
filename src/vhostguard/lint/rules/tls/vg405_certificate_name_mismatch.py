"""VG405 certificate-name-mismatch. The certificate does not cover the vhost's ServerName/ServerAlias."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.tls._common import cert_pairs, declared_names, load_certificate, tls_servers
from vhostguard.model import Server

if TYPE_CHECKING:
    from cryptography import x509


def certificate_names(cert: x509.Certificate) -> list[str]:
    """DNS names the certificate is valid for: the SANs, else the subject CN (as clients do)."""
    from cryptography import x509  # only with TLS (see _common.load_certificate)
    from cryptography.x509.oid import NameOID

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

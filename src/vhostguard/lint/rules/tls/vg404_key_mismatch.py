"""VG404 key-mismatch. The private key does not belong to the certificate."""
from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache


from vhostguard.lint.context import LintContext
from vhostguard.lint.core import Finding, Rule, Severity
from vhostguard.lint.rules.tls._common import cert_pairs, load_certificate, tls_servers


@lru_cache(maxsize=256)
def load_public_key_der(path: str) -> bytes | None:
    """The public half of an unencrypted private key file, as DER (None if unreadable or encrypted)."""
    try:
        data = open(path, "rb").read()  # noqa: SIM115
    except OSError:
        return None
    from cryptography.hazmat.primitives import serialization  # only with TLS (see load_certificate)

    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        return None
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


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
                from cryptography.hazmat.primitives import serialization

                own = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
                if own != key:
                    yield self.finding(pair.cert_node, f"{ctx.label(server)}: the key {pair.key_path} does not match the certificate {pair.cert_path}")

"""Helpers shared by several tls rules."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING


from vhostguard.config import Directive
from vhostguard.lint.context import LintContext
from vhostguard.model import Server

if TYPE_CHECKING:
    from cryptography import x509


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
    # Imported here: cryptography costs a tenth of a second to import, and only a
    # configuration with TLS certificates needs it (issue 17.15).
    from cryptography import x509

    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)[0]
        return x509.load_der_x509_certificate(data)
    except ValueError:
        return None


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


def tls_servers(ctx: LintContext) -> list[Server]:
    """The servers that speak TLS (listed once per lint run for the four rules that ask)."""
    return ctx.remember("tls-servers", lambda: [
        server for server in ctx.servers if ctx.ssl_enabled(server) and (not server.is_main or not ctx.model.vhosts)
    ])


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)

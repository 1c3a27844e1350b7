"""VG4xx TLS: certificates, keys, protocols and the HTTP-to-HTTPS path.

Certificates are read with ``cryptography``; unreadable files are VG204's
business, so the rules here skip what they cannot parse.

One module per rule (``vgNNN_rule_name.py``, documentation in the class
docstring); ``RULES`` lists them explicitly, in code order.
"""
from __future__ import annotations

from vhostguard.lint.core import Rule
from vhostguard.lint.rules.tls.vg401_ssl_certificate_missing import SslCertificateMissing
from vhostguard.lint.rules.tls.vg402_certificate_expired import CertificateExpired
from vhostguard.lint.rules.tls.vg403_certificate_expiring import CertificateExpiring
from vhostguard.lint.rules.tls.vg404_key_mismatch import KeyMismatch
from vhostguard.lint.rules.tls.vg405_certificate_name_mismatch import CertificateNameMismatch
from vhostguard.lint.rules.tls.vg406_weak_tls_protocol import WeakTlsProtocol
from vhostguard.lint.rules.tls.vg407_https_port_without_ssl import HttpsPortWithoutSsl
from vhostguard.lint.rules.tls.vg408_http_not_redirected import HttpNotRedirected

RULES: tuple[type[Rule], ...] = (
    SslCertificateMissing,
    CertificateExpired,
    CertificateExpiring,
    KeyMismatch,
    CertificateNameMismatch,
    WeakTlsProtocol,
    HttpsPortWithoutSsl,
    HttpNotRedirected,
)

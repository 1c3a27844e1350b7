"""Shared set-up for the lint tests: certificates made on the fly, a small
served tree, and a helper that lints a fixture directory."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from vhostguard.config import LoadOptions, load
from vhostguard.lint import Finding, run
from vhostguard.model import build_model

FIXTURES = Path(__file__).parent / "fixtures"
EXPECT = re.compile(r"^\s*#\s*expect:\s*(.+?)\s*$")


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def make_certificate(key: ec.EllipticCurvePrivateKey, names: list[str], not_before: dt.datetime, not_after: dt.datetime) -> bytes:
    """A self-signed PEM certificate for ``names`` (the first is the CN)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="session")
def certdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """valid (a year left), expiring (10 days), expired, a stray key, and a combined cert+key file."""
    root = tmp_path_factory.mktemp("certs")
    now = dt.datetime.now(dt.UTC)
    names = ["www.example.com", "example.com", "*.example.org"]
    spans = {
        "valid": (now - dt.timedelta(days=1), now + dt.timedelta(days=365)),
        "expiring": (now - dt.timedelta(days=80), now + dt.timedelta(days=10)),
        "expired": (now - dt.timedelta(days=400), now - dt.timedelta(days=5)),
    }
    for label, (start, end) in spans.items():
        key = _key()
        (root / f"{label}.key").write_bytes(_pem_key(key))
        (root / f"{label}.pem").write_bytes(make_certificate(key, names, start, end))
    (root / "other.key").write_bytes(_pem_key(_key()))
    combined = _key()
    (root / "combined.pem").write_bytes(make_certificate(combined, ["example.com"], *spans["valid"]) + _pem_key(combined))
    return root


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A served tree: htdocs/ (with an index and a WSGI script), logs/, and vcs/ holding .git and .env."""
    root = tmp_path_factory.mktemp("work")
    (root / "htdocs" / "downloads").mkdir(parents=True)
    (root / "htdocs" / "index.html").write_text("<h1>hello</h1>\n")
    (root / "htdocs" / "app.wsgi").write_text("def application(environ, start_response):\n    return []\n")
    (root / "logs").mkdir()
    (root / "vcs" / ".git").mkdir(parents=True)
    (root / "vcs" / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "vcs" / ".env").write_text("DATABASE_PASSWORD=hunter2\n")
    (root / "vcs" / "index.html").write_text("site\n")
    return root


@dataclass
class Linted:
    findings: list[Finding]
    errors: tuple[object, ...]


@pytest.fixture
def lint_dir(certdir: Path, workdir: Path):
    """Lint ``<dir>/apache2.conf`` with CERTDIR/WORK/FIXTURE defined."""

    def _lint(directory: Path, select: list[str] | None = None) -> Linted:
        defines = {"CERTDIR": str(certdir), "WORK": str(workdir), "FIXTURE": str(directory)}
        tree = load(str(directory / "apache2.conf"), LoadOptions(defines=defines, env_file=""))
        model = build_model(tree)
        return Linted(run(model, tree, select=select), tree.errors + model.errors)

    return _lint


def expected_markers(conf: Path) -> set[tuple[str, int]]:
    """(code, line) for every ``# expect: CODE[, CODE]`` comment: the line of
    the next directive below the comment block."""
    lines = conf.read_text().splitlines()
    found: set[tuple[str, int]] = set()
    for index, text in enumerate(lines):
        match = EXPECT.match(text)
        if not match:
            continue
        target = index + 1
        while target < len(lines) and (not lines[target].strip() or lines[target].lstrip().startswith("#")):
            target += 1
        assert target < len(lines), f"{conf}:{index + 1}: marker above nothing"
        for code in re.split(r"[,\s]+", match.group(1)):
            found.add((code, target + 1))
    return found

"""Debian's own configurations, read as Debian's apache2 reads them.

1. The default tree the ``apache2`` package installs under /etc/apache2, with
   a few more modules and sites enabled the way a2enmod/a2ensite enable them,
   copied into a temp dir: it must load without error and give the same
   vhost table as the real ``apache2 -S`` on the same copy.
   Also: the same include tree as ``-D DUMP_INCLUDES`` and the same
   directives as mod_info's ``-D DUMP_CONFIG``.
2. The Apache snippets that other Debian packages ship (web applications and
   ``libapache2-mod-*`` modules), fetched with ``apt-get download`` and
   unpacked, never installed: each must load inside a small wrapper config
   without a crash and without an error httpd would not give; where the real
   apache2 can read the same wrapper (modules loaded from the unpacked
   package), it must have read the same files and directives. And
   ``<IfModule mod_x.c>`` must answer as httpd does for each packaged module.

The network tests cache the .debs under pytest's cache (``debian-debs``) and
skip when ``apt-get download`` cannot reach the archive.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import socket
import subprocess
import tarfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.apache import APACHE2, CLEAN_ENV, DumpedSet, needs_apache, parse_dump_vhosts
from vhostguard.config import ConfigTree, LoadOptions, catalog, load
from vhostguard.model import ServerModel, build_model
from vhostguard.model.addresses import local_host_name, reverse_name

SYSTEM_CONFDIR = Path("/etc/apache2")
SNAKEOIL_CERT = Path("/etc/ssl/certs/ssl-cert-snakeoil.pem")
SNAKEOIL_KEY = Path("/etc/ssl/private/ssl-cert-snakeoil.key")

# What apache2's postinst enables on a fresh install (a2enmod/a2enconf).
DEBIAN_DEFAULT_MODULES = (
    "access_compat", "alias", "auth_basic", "authn_core", "authn_file", "authz_core", "authz_host",
    "authz_user", "autoindex", "deflate", "dir", "env", "filter", "mime", "mpm_event", "negotiation",
    "reqtimeout", "setenvif", "status",
)


# --------------------------------------------------------------------------
# a2enmod / a2ensite, as far as these tests need them
# --------------------------------------------------------------------------

def _module_header(load_file: Path, field: str) -> list[str]:
    """The names on a ``# Depends:`` / ``# Conflicts:`` line of a .load file."""
    if not load_file.is_file():
        return []
    for line in load_file.read_text(errors="replace").splitlines():
        match = re.match(rf"#\s*{field}:\s*(.*)", line.strip())
        if match:
            return match.group(1).replace(",", " ").split()
    return []


def a2enmod(confdir: Path, module: str, *, with_self: bool = True, seen: set[str] | None = None) -> None:
    """Symlink mods-available/MODULE.{load,conf} into mods-enabled/, dependencies first.

    Like a2enmod, a module's ``# Conflicts:`` are disabled (the way the php and
    mpm maintainer scripts switch MPMs) and its ``# Depends:`` enabled.
    """
    seen = set() if seen is None else seen
    if module in seen:
        return
    seen.add(module)
    available, enabled = confdir / "mods-available", confdir / "mods-enabled"
    enabled.mkdir(exist_ok=True)
    load_file = available / f"{module}.load"
    for other in _module_header(load_file, "Conflicts"):
        for suffix in (".load", ".conf"):
            (enabled / f"{other}{suffix}").unlink(missing_ok=True)
    for dependency in _module_header(load_file, "Depends"):
        a2enmod(confdir, dependency, seen=seen)
    if not with_self:
        return
    for suffix in (".load", ".conf"):
        link = enabled / f"{module}{suffix}"
        if (available / f"{module}{suffix}").exists() and not link.is_symlink():
            link.symlink_to(f"../mods-available/{module}{suffix}")


def a2ensite(confdir: Path, site: str) -> None:
    link = confdir / "sites-enabled" / f"{site}.conf"
    if not link.is_symlink():
        link.symlink_to(f"../sites-available/{site}.conf")


def source_envvars(confdir: Path) -> dict[str, str]:
    """The environment apache2ctl gives apache2: ``. envvars`` with APACHE_CONFDIR preset."""
    env = dict(CLEAN_ENV, APACHE_CONFDIR=str(confdir))
    done = subprocess.run(
        ["/bin/sh", "-c", '. "$APACHE_CONFDIR/envvars" && env -0'],
        env=env, capture_output=True, check=True, timeout=30,
    )
    result = dict(env)
    for item in done.stdout.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            result[os.fsdecode(key)] = os.fsdecode(value)
    return result


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed stand-in for the snakeoil pair (openssl, else ``cryptography``)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "ssl-cert-snakeoil.pem", directory / "ssl-cert-snakeoil.key"
    openssl = shutil.which("openssl")
    if openssl:
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
             "-keyout", str(key), "-out", str(cert)],
            capture_output=True, check=True, timeout=60,
        )
        return cert, key
    try:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        pytest.skip("no snakeoil certificate, and neither openssl nor cryptography to make one")
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=2)).sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ))
    return cert, key


# Directives httpd executes while reading (EXEC_ON_READ) and so leaves out of
# the tree that mod_info's ``-D DUMP_CONFIG`` prints.
EXEC_ON_READ = frozenset({
    "defaultruntimedir", "define", "undefine", "loadmodule", "loadfile", "serverroot", "include",
    "includeoptional", "use", "undefmacro",
})
_INCLUDE_LINE = re.compile(r"^\s*\((?:\*|\d+)\) (/.*)$", re.MULTILINE)


def parse_dump_includes(text: str) -> list[str]:
    """The files ``-t -D DUMP_INCLUDES`` lists, in reading order."""
    return _INCLUDE_LINE.findall(text)


def parse_dump_config(text: str) -> list[tuple[str, int, str, str]]:
    """mod_info's ``-t -D DUMP_CONFIG``: (file, line, directive, args) in tree order."""
    found: list[tuple[str, int, str, str]] = []
    file, line = "", None
    for raw in text.splitlines():
        if raw.startswith("# In file: "):
            file = raw[len("# In file: "):]
            continue
        number = re.fullmatch(r"\s*#\s*(\d+):", raw)
        if number:
            line = int(number.group(1))
            continue
        stripped = raw.strip()
        if line is None or not stripped or stripped.startswith("</"):
            continue
        name, _, args = stripped.partition(" ")
        if name.startswith("<"):
            name = name[1:].rstrip(">")
            args = args[:-1] if args.endswith(">") else args
        found.append((file, line, name.lower(), args.strip()))
        line = None
    return found


def tree_as_dumped(tree: ConfigTree) -> list[tuple[str, int, str, str]]:
    """Our tree in the shape of ``parse_dump_config``."""
    found = []
    for node in tree.walk():
        if node.key in EXEC_ON_READ:
            continue
        args = node.arg_text.strip()
        if node.is_section and args.endswith(">"):
            args = args[:-1].strip()
        found.append((node.source.file, node.source.line, node.key, args))
    return found


# --------------------------------------------------------------------------
# 1. The Debian default configuration against the real apache2 -S
# --------------------------------------------------------------------------

EXTRA_MODULES = ("ssl", "socache_shmcb", "rewrite", "proxy", "proxy_http", "headers")

EXAMPLE_SITE = """\
# Added by the test: name-based vhosts on *:80, one IP-based vhost.
<VirtualHost *:80>
    ServerName www.example.com
    ServerAlias example.com *.example.com
    ServerAdmin webmaster@example.com
    DocumentRoot /var/www/example
    <IfModule mod_rewrite.c>
        RewriteEngine on
        RewriteRule ^/old/(.*)$ /new/$1 [R=301,L]
    </IfModule>
    ErrorLog ${APACHE_LOG_DIR}/example-error.log
    CustomLog ${APACHE_LOG_DIR}/example-access.log combined
</VirtualHost>

<VirtualHost *:80>
    ServerName app.example.net
    ServerAlias api.example.net static.example.net
    ProxyPreserveHost On
    ProxyPass /api/ http://127.0.0.1:8081/
    ProxyPassReverse /api/ http://127.0.0.1:8081/
</VirtualHost>

<VirtualHost 127.0.0.2:80>
    ServerName internal.example.net
    DocumentRoot /var/www/internal
</VirtualHost>
"""

SECURE_SITE = """\
# Added by the test: name-based TLS vhosts on *:443.
<IfModule mod_ssl.c>
    <VirtualHost *:443>
        ServerName secure.example.org
        ServerAlias www.secure.example.org
        DocumentRoot /var/www/secure
        SSLEngine on
        SSLCertificateFile      {cert}
        SSLCertificateKeyFile   {key}
        Header always set Strict-Transport-Security "max-age=63072000"
    </VirtualHost>

    <VirtualHost *:443>
        ServerName shop.example.org
        ServerAlias *.shop.example.org
        SSLEngine on
        SSLCertificateFile      {cert}
        SSLCertificateKeyFile   {key}
        ProxyPass / http://127.0.0.1:8082/
    </VirtualHost>
</IfModule>
"""


def _make_self_contained(confdir: Path, original: Path) -> None:
    """Point any absolute reference to ``original`` (files, symlinks) at the copy."""
    old = str(original)
    for path in sorted(confdir.rglob("*")):
        if path.is_symlink():
            target = os.readlink(path)
            if target == old or target.startswith(old + "/"):
                path.unlink()
                path.symlink_to(str(confdir) + target[len(old):])
        elif path.is_file() and path.name != "magic":
            text = path.read_text(errors="surrogateescape")
            lines = text.splitlines(keepends=True)
            changed = [
                line if line.lstrip().startswith("#") else line.replace(old + "/", str(confdir) + "/")
                for line in lines
            ]
            if changed != lines:
                path.write_text("".join(changed), errors="surrogateescape")


@pytest.fixture
def debian_tree(tmp_path: Path) -> Path:
    """A self-contained copy of /etc/apache2 with extra modules and sites enabled."""
    if not (SYSTEM_CONFDIR / "apache2.conf").is_file():
        pytest.skip("/etc/apache2 is absent: the apache2 package is not installed (apt-get install apache2)")
    confdir = tmp_path / "apache2"
    shutil.copytree(SYSTEM_CONFDIR, confdir, symlinks=True)
    _make_self_contained(confdir, SYSTEM_CONFDIR)

    state = tmp_path / "state"
    for sub in ("run", "lock", "log"):
        (state / sub).mkdir(parents=True)
    with (confdir / "envvars").open("a") as envvars:
        envvars.write(textwrap.dedent(f"""
            # Added by the test: keep the instance out of /var.
            export APACHE_PID_FILE={state}/run/apache2.pid
            export APACHE_RUN_DIR={state}/run
            export APACHE_LOCK_DIR={state}/lock
            export APACHE_LOG_DIR={state}/log
        """))

    if SNAKEOIL_CERT.is_file() and SNAKEOIL_KEY.is_file() and os.access(SNAKEOIL_KEY, os.R_OK):
        cert, key = SNAKEOIL_CERT, SNAKEOIL_KEY
    else:
        cert, key = make_certificate(tmp_path / "ssl")
        default_ssl = confdir / "sites-available" / "default-ssl.conf"
        if default_ssl.is_file():
            text = default_ssl.read_text().replace(str(SNAKEOIL_CERT), str(cert)).replace(str(SNAKEOIL_KEY), str(key))
            default_ssl.write_text(text)

    for module in EXTRA_MODULES:
        a2enmod(confdir, module)
    (confdir / "sites-available" / "example.conf").write_text(EXAMPLE_SITE)
    (confdir / "sites-available" / "secure.conf").write_text(SECURE_SITE.format(cert=cert, key=key))
    for site in ("default-ssl", "example", "secure"):
        if (confdir / "sites-available" / f"{site}.conf").is_file():
            a2ensite(confdir, site)
    return confdir


def _run_debian_apache(confdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert APACHE2 is not None
    return subprocess.run(
        [APACHE2, "-d", str(confdir), "-f", str(confdir / "apache2.conf"), *args],
        env=source_envvars(confdir), capture_output=True, text=True, timeout=60, check=False,
    )


def _load_debian(confdir: Path) -> tuple[ConfigTree, ServerModel]:
    tree = load(str(confdir / "apache2.conf"), LoadOptions(env_file=str(confdir / "envvars"), environ={}))
    return tree, build_model(tree)


def model_table(model: ServerModel) -> list[DumpedSet]:
    """Our address sets in the shape ``parse_dump_vhosts`` gives for ``apache2 -S``."""
    table: list[DumpedSet] = []
    for aset in model.address_sets:
        first = aset.servers[0]
        default = (first.server_name, first.id or "")
        if len(aset.servers) == 1:  # httpd prints a one-vhost set on one line, without aliases
            table.append(DumpedSet(aset.address, default, [(first.server_name, first.id or "", [])]))
        else:
            names = [(s.server_name, s.id or "", list(s.all_aliases)) for s in aset.servers]
            table.append(DumpedSet(aset.address, default, names))
    return table


DERIVED = "<name derived from the host name>"


Row = tuple[str, tuple[str, str], list[tuple[str, str, list[str]]]]


def masked(table: list[DumpedSet], derived_ids: set[str]) -> list[Row]:
    """The table with the names of vhosts that have no ServerName masked.

    Those take the main server's name, which httpd derives from the machine's
    host name (``ap_get_local_host``); that is compared by its own test.
    """
    def name(entry_name: str, where: str) -> str:
        return DERIVED if where in derived_ids else entry_name

    return [
        (s.address, (name(*s.default), s.default[1]), [(name(n, w), w, a) for n, w, a in s.names])
        for s in table
    ]


def httpd_local_host() -> str:
    """The main server's name without a global ServerName, as ``ap_get_local_host`` finds it.

    server/util.c: resolve gethostname() (first address), take its reverse
    name (NI_NAMEREQD) if that has a dot, else the host name if it has a dot,
    else the address itself.
    """
    name = socket.gethostname()
    try:
        first = socket.getaddrinfo(name, None, socket.AF_UNSPEC, socket.SOCK_STREAM)[0][4]
    except (OSError, IndexError):
        return "127.0.0.1"
    try:
        reverse = socket.getnameinfo(first, socket.NI_NAMEREQD)[0]
    except OSError:
        reverse = ""
    if "." in reverse:
        return reverse
    if "." in name:
        return name
    return str(first[0])


@pytest.mark.httpd
@needs_apache
def test_debian_default_tree_matches_apache2_S(debian_tree: Path) -> None:
    done = _run_debian_apache(debian_tree, "-S")
    assert done.returncode == 0, f"apache2 -S rejected the copy:\n{done.stderr}"
    theirs = parse_dump_vhosts(done.stdout)
    # The copy is what we meant it to be: our sites are on *:80 and *:443.
    addresses = [s.address for s in theirs]
    assert {"*:80", "*:443", "127.0.0.2:80"} <= set(addresses), done.stdout
    assert sum(len(s.names) for s in theirs) >= 6, done.stdout  # 5 of ours, Debian's 000-default (+ default-ssl)

    tree, model = _load_debian(debian_tree)
    assert tree.errors == ()
    assert model.errors == ()
    assert tree.server_root == str(debian_tree)
    undefined = [str(w) for w in tree.warnings if "is not defined" in w.message]
    assert undefined == []

    ours = model_table(model)
    derived = {v.id for v in model.vhosts if v.declared_name is None and v.id}
    assert [s.address for s in ours] == addresses
    for mine, real in zip(masked(ours, derived), masked(theirs, derived)):
        assert mine[1] == real[1], f"default server of {real[0]}"
        assert mine[2] == real[2], f"name vhosts of {real[0]}"

    # The lines after the table: ServerRoot and the main server's DocumentRoot.
    server_root = re.search(r'^ServerRoot: "(.*)"$', done.stdout, re.MULTILINE)
    document_root = re.search(r'^Main DocumentRoot: "(.*)"$', done.stdout, re.MULTILINE)
    assert server_root and document_root, done.stdout
    assert tree.server_root == server_root.group(1)
    assert model.main.document_root == document_root.group(1)


@pytest.mark.httpd
@needs_apache
@pytest.mark.xfail(
    httpd_local_host() != local_host_name(),
    strict=True,
    reason=(
        f"on this machine httpd's ap_get_local_host gives {httpd_local_host()!r}, "
        f"vhostguard.model.addresses.local_host_name() {local_host_name()!r}"
    ),
)
def test_vhost_without_servername_is_named_like_apache2_S(debian_tree: Path) -> None:
    """Debian's 000-default has no ServerName: it takes the name httpd derives for the main server."""
    done = _run_debian_apache(debian_tree, "-S")
    assert done.returncode == 0, done.stderr
    theirs = {where: name for s in parse_dump_vhosts(done.stdout) for name, where, _ in s.names}
    _, model = _load_debian(debian_tree)
    nameless = [v for v in model.vhosts if v.declared_name is None]
    assert nameless, "the copy has no vhost without ServerName any more"
    assert [(v.id, v.server_name) for v in nameless] == [(v.id, theirs[v.id or ""]) for v in nameless]


@pytest.fixture
def fresh_name_caches() -> Iterator[None]:
    local_host_name.cache_clear()
    reverse_name.cache_clear()
    yield
    local_host_name.cache_clear()
    reverse_name.cache_clear()


@pytest.mark.parametrize(
    ("hostname", "address", "reverse", "expected"),
    [
        pytest.param("vm", "10.9.8.7", "vm.example.test", "vm.example.test", id="reverse-name-has-a-dot"),
        pytest.param("vm", "10.9.8.7", "localhost", "10.9.8.7", id="no-dot-anywhere"),
        pytest.param("vm", "10.9.8.7", None, "10.9.8.7", id="no-reverse-name"),
        pytest.param("vm", None, None, "127.0.0.1", id="host-name-does-not-resolve"),
        pytest.param("web.example.test", "10.9.8.7", "localhost", "web.example.test", id="host-name-has-a-dot"),
    ],
)
def test_local_host_name_follows_ap_get_local_host(
    monkeypatch: pytest.MonkeyPatch, fresh_name_caches: None,
    hostname: str, address: str | None, reverse: str | None, expected: str,
) -> None:
    """The name a vhost without ServerName gets (what AH00558 announces), resolver mocked."""
    def getaddrinfo(host: str, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        if host != hostname or address is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0))]

    def getnameinfo(sockaddr: tuple[object, ...], flags: int) -> tuple[str, str]:
        if reverse is None or sockaddr[0] != address:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return reverse, "0"

    monkeypatch.setattr(socket, "gethostname", lambda: hostname)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "getnameinfo", getnameinfo)
    assert httpd_local_host() == expected  # the oracle itself, under the same resolver
    assert local_host_name() == expected


@pytest.mark.httpd
@needs_apache
def test_debian_default_tree_reads_the_same_files(debian_tree: Path) -> None:
    """The include tree, in order, is what ``apache2 -t -D DUMP_INCLUDES`` lists."""
    done = _run_debian_apache(debian_tree, "-t", "-D", "DUMP_INCLUDES")
    assert done.returncode == 0, done.stderr
    listed = parse_dump_includes(done.stdout)
    assert listed and listed[0] == str(debian_tree / "apache2.conf")
    tree, _ = _load_debian(debian_tree)
    assert [f.path for f in tree.files] == listed


@pytest.mark.httpd
@needs_apache
def test_debian_default_tree_same_directives_as_mod_info(debian_tree: Path) -> None:
    """Every directive, its file:line and its arguments, as mod_info's ``-D DUMP_CONFIG`` prints them."""
    a2enmod(debian_tree, "info")
    done = _run_debian_apache(debian_tree, "-t", "-D", "DUMP_CONFIG")
    assert done.returncode == 0, done.stderr
    theirs = parse_dump_config(done.stdout)
    assert len(theirs) > 100
    tree, _ = _load_debian(debian_tree)
    assert tree_as_dumped(tree) == theirs


@pytest.mark.httpd
@needs_apache
def test_debian_default_tree_untouched_loads_cleanly(tmp_path: Path) -> None:
    """The tree exactly as installed (only the envvars paths moved): no error, same table."""
    if not (SYSTEM_CONFDIR / "apache2.conf").is_file():
        pytest.skip("/etc/apache2 is absent: the apache2 package is not installed (apt-get install apache2)")
    confdir = tmp_path / "apache2"
    shutil.copytree(SYSTEM_CONFDIR, confdir, symlinks=True)
    _make_self_contained(confdir, SYSTEM_CONFDIR)
    for sub in ("run", "lock", "log"):
        (tmp_path / sub).mkdir()
    with (confdir / "envvars").open("a") as envvars:
        envvars.write(
            f"\nexport APACHE_PID_FILE={tmp_path}/run/apache2.pid APACHE_RUN_DIR={tmp_path}/run"
            f" APACHE_LOCK_DIR={tmp_path}/lock APACHE_LOG_DIR={tmp_path}/log\n"
        )
    done = _run_debian_apache(confdir, "-S")
    assert done.returncode == 0, done.stderr
    tree, model = _load_debian(confdir)
    assert tree.errors == ()
    assert model.errors == ()
    derived = {v.id for v in model.vhosts if v.declared_name is None and v.id}
    assert masked(model_table(model), derived) == masked(parse_dump_vhosts(done.stdout), derived)


# --------------------------------------------------------------------------
# 2. Snippets shipped by Debian packages
# --------------------------------------------------------------------------

# Web applications and tools that ship an Apache snippet (or, for dokuwiki,
# write one from postinst), and Apache modules packaged for Debian.
APP_PACKAGES = (
    "phpmyadmin", "nagios4-cgi", "roundcube-core", "mediawiki", "dokuwiki", "cacti", "munin", "gitweb",
    "javascript-common", "cgit", "smokeping", "dwww", "ganglia-webfrontend", "icingaweb2",
    "ocsinventory-server", "postfixadmin", "mailman3-web", "zoneminder", "modsecurity-crs",
)
MODULE_PACKAGES = (
    "libapache2-mod-wsgi-py3", "libapache2-mod-php8.2", "libapache2-mod-security2",
    "libapache2-mod-auth-openidc", "libapache2-mod-fcgid", "libapache2-mod-passenger", "libapache2-mod-perl2",
    "libapache2-mod-qos", "libapache2-mod-evasive", "libapache2-mod-rpaf", "libapache2-mod-authnz-external",
    "libapache2-mod-geoip", "libapache2-mod-xsendfile", "libapache2-mod-shib", "libapache2-mod-jk",
    "libapache2-mod-auth-mellon", "libapache2-mod-svn", "libapache2-mod-uwsgi", "libapache2-mod-python",
    "libapache2-mod-auth-cas", "libapache2-mod-auth-gssapi", "libapache2-mod-authnz-pam",
    "libapache2-mod-auth-tkt", "libapache2-mod-auth-pubtkt", "libapache2-mod-bw", "libapache2-mod-dnssd",
    "libapache2-mod-upload-progress", "libapache2-mod-mapcache", "libapache2-mod-tile",
    "libapache2-mod-musicindex", "libapache2-mod-log-sql",
)
# apache2 itself: the base tree every wrapper runs in, and its own snippets.
BASE_PACKAGE = "apache2"
PACKAGES = (BASE_PACKAGE, *APP_PACKAGES, *MODULE_PACKAGES)

# Files a package ships that are Apache configuration although their path
# does not say so (relative to the package root).
EXTRA_SNIPPETS = {
    "modsecurity-crs": ("etc/modsecurity/crs/*.conf", "usr/share/modsecurity-crs/rules/*.conf"),
}

# Errors httpd gives too, because a snippet names a file by absolute path
# that exists only once the package is installed. Keyed by (package, snippet);
# each is (absolute path, message pattern); asserted only while the path is
# absent on this machine.
EXPECTED_ERRORS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("modsecurity-crs", "usr/share/modsecurity-crs/owasp-crs.load"): (
        ("/etc/modsecurity/crs/crs-setup.conf",
         r"Could not open configuration file /etc/modsecurity/crs/crs-setup\.conf: No such file or directory"),
        ("/usr/share/modsecurity-crs/rules",  # httpd's wording, checked by hand (it stops at the first error)
         r"Include/IncludeOptional: Could not open directory /usr/share/modsecurity-crs/rules: "
         r"No such file or directory"),
    ),
}

# Refusals only the real apache2 gives: the module checks, while reading, a
# file the package installs (not unpacked to that path here). Keyed like
# EXPECTED_ERRORS: (absolute path, the directive refused, message pattern).
HTTPD_ONLY_ERRORS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("libapache2-mod-jk", "etc/apache2/mods-available/jk.conf"): (
        "/etc/libapache2-mod-jk/workers.properties", "JkWorkersFile", r"Can't find the workers file specified",
    ),
}

# A package whose Apache snippet is written by its postinst, not shipped.
POSTINST_SNIPPETS = {"dokuwiki": ("write_apache2_conf", "etc/dokuwiki/apache.conf")}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock, so pytest-xdist workers download each package once."""
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _cached_deb(cache: Path, package: str) -> Path | None:
    found = sorted(cache.glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def _apt_download(cache: Path, packages: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["apt-get", "download", *packages], cwd=cache, capture_output=True, text=True, timeout=900, check=False,
        env=dict(os.environ, LANG="C", LC_ALL="C"),
    )


_OFFLINE = re.compile(r"Failed to fetch|Temporary failure resolving|Could not resolve|Could not connect|"
                      r"Connection failed|Network is unreachable|Unable to connect")


_UNKNOWN = re.compile(r"Unable to locate package (\S+)|Package '([^']+)' has no installation candidate|"
                      r"Can't select candidate version from package (\S+)")


def _debs_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    if cache is not None:
        return Path(cache.mkdir("debian-debs"))
    return tmp_path_factory.getbasetemp().parent / "debian-debs"


@pytest.fixture(scope="session")
def debian_debs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    """Every package's .deb (downloaded once, kept in pytest's cache), or why it is missing."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("apt-get/dpkg-deb not available: not a Debian system")
    cache = _debs_cache(request, tmp_path_factory)
    cache.mkdir(parents=True, exist_ok=True)
    result: dict[str, Path | str] = {}
    with _locked(cache / ".lock"):
        missing = [p for p in PACKAGES if _cached_deb(cache, p) is None]
        if missing:
            done = _apt_download(cache, missing)
            if done.returncode != 0 and _OFFLINE.search(done.stderr):
                reason = _OFFLINE.search(done.stderr).group(0)  # type: ignore[union-attr]
                result.update((p, f"offline? apt-get download: {reason}") for p in missing)
            elif done.returncode != 0:  # a name apt cannot download fails the whole batch
                unknown = {name for found in _UNKNOWN.findall(done.stderr) for name in found if name} & set(missing)
                result.update((p, f"apt-get download {p}: not in this release's lists") for p in unknown)
                rest = [p for p in missing if p not in unknown]
                if unknown and rest:
                    done = _apt_download(cache, rest)
                for package in rest if done.returncode != 0 else ():  # still failing: one by one
                    if _cached_deb(cache, package) is None:
                        single = _apt_download(cache, [package])
                        if single.returncode != 0:
                            lines = (single.stderr.strip() or single.stdout.strip() or "failed").splitlines()
                            result[package] = lines[-1]
        for package in PACKAGES:
            deb = _cached_deb(cache, package)
            if deb is None:
                continue
            field = subprocess.run(["dpkg-deb", "-f", str(deb), "Package"], capture_output=True, text=True, check=False)
            if field.stdout.strip() == package:
                result[package] = deb
            else:  # a truncated download: drop it so that the next run fetches it again
                deb.unlink()
                result[package] = f"{deb.name} is not a valid .deb (removed from the cache)"
    if all(isinstance(v, str) for v in result.values()):
        reasons = sorted({str(v) for v in result.values()})
        pytest.skip(
            f"apt-get download failed for every package (offline, or no apt lists: apt-get update): {reasons[0]}"
        )
    return result


def _deb(debian_debs: dict[str, Path | str], package: str) -> Path:
    deb = debian_debs.get(package)
    if not isinstance(deb, Path):
        pytest.skip(f"apt-get download {package} failed: {deb}")
    return deb


def _wanted(name: str, package: str) -> bool:
    """Which members of a package to unpack: /etc, and Apache snippets elsewhere."""
    if name.startswith("etc/"):
        return True
    if name.startswith("usr/share/doc/"):
        return False
    if name.startswith("usr/lib/apache2/modules/") and ".so" in name:
        return True  # lets the real apache2 load the module (LoadModule is pointed at it)
    if name.endswith((".conf", ".load")) and ("apache" in name or name.endswith(".load")):
        return True
    return any(Path(name).match(pattern) for pattern in EXTRA_SNIPPETS.get(package, ()))


def unpack(deb: Path, root: Path, package: str) -> list[str]:
    """``dpkg-deb -x`` restricted to what the tests read; returns the member names."""
    root.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
            for member in archive:
                name = os.path.normpath(member.name.removeprefix("./").lstrip("/") or ".")
                if name == "." or name.startswith("..") or not _wanted(name, package):
                    continue
                target = root / name
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.is_symlink() or target.exists():
                    target.unlink()
                if member.issym():
                    target.symlink_to(member.linkname)
                elif member.isfile():
                    source = archive.extractfile(member)
                    assert source is not None
                    target.write_bytes(source.read())
                else:
                    continue
                names.append(name)
        proc.stdout.read()  # the archive's padding, so that dpkg-deb ends cleanly
    assert proc.returncode == 0, f"dpkg-deb --fsys-tarfile {deb} failed"
    return names


def is_snippet(name: str, package: str) -> bool:
    """Apache configuration a package ships, by where it lives."""
    if not name.endswith((".conf", ".load")):
        return False
    parts = name.split("/")
    if parts[:2] == ["etc", "apache2"]:
        return True
    if parts[0] == "etc" and re.match(r"(apache|httpd)[^/]*\.conf$", parts[-1]):
        return True  # etc/<pkg>/apache.conf, apache2.conf, apache24.conf, httpd-jk.conf
    if parts[:2] == ["usr", "share"] and parts[2] != "doc" and ("apache" in name or name.endswith(".load")):
        return True
    return any(Path(name).match(pattern) for pattern in EXTRA_SNIPPETS.get(package, ()))


@pytest.fixture(scope="session")
def apache2_base(debian_debs: dict[str, Path | str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The apache2 package unpacked once: its /etc/apache2 is every wrapper's ServerRoot."""
    root = tmp_path_factory.mktemp("apache2-base")
    unpack(_deb(debian_debs, BASE_PACKAGE), root, BASE_PACKAGE)
    return root


def _generate_postinst_snippet(deb: Path, root: Path, function: str, target: str, work: Path) -> str:
    """Run the shell function of a postinst that writes an Apache snippet, with debconf stubbed."""
    control = work / "control"
    subprocess.run(["dpkg-deb", "-e", str(deb), str(control)], check=True, capture_output=True, timeout=60)
    script = (control / "postinst").read_text()
    match = re.search(rf"^{function}\(\)\s*\n\{{\n.*?^\}}\n", script, re.MULTILINE | re.DOTALL)
    assert match, f"{function} not found in {deb.name}'s postinst"
    out = root / target
    out.parent.mkdir(parents=True, exist_ok=True)
    stub = textwrap.dedent(f"""\
        db_get() {{
            case "$1" in
                */documentroot) RET=/{deb.name.split("_")[0]} ;;
                */accessible) RET="localnet" ;;
                */localnet) RET="10.0.0.0/8 192.168.0.0/16" ;;
                *) RET="" ;;
            esac
        }}
        ucf() {{ cp "$2" "{out}"; }}
        ucfr() {{ :; }}
        """)
    subprocess.run(
        ["/bin/sh", "-ec", stub + match.group(0) + f"\n{function}\n"],
        check=True, capture_output=True, timeout=60, cwd=work, env=dict(CLEAN_ENV, TMPDIR=str(work)),
    )
    assert out.is_file(), f"{function} wrote nothing"
    return target


def _resolve_in_root(root: Path, name: str) -> Path:
    """The snippet's path inside the unpacked root; absolute symlinks are followed inside it."""
    path = root / name
    for _ in range(16):
        if not path.is_symlink():
            break
        target = os.readlink(path)
        if not os.path.isabs(target):
            break  # relative links resolve inside the root by themselves
        path = root / target.lstrip("/")
    return path


# Debian modules a package's maintainer scripts enable (apache2_invoke enmod)
# or its snippet is written for: enabled in the wrapper so that httpd reads
# the whole snippet instead of stopping at its first directive.
PACKAGE_MODULES = {
    "nagios4-cgi": ("auth_digest", "authz_groupfile", "cgid"),
    "gitweb": ("cgid",),
    "cgit": ("cgid",),
    "smokeping": ("cgid",),
    "munin": ("cgid",),
    "icingaweb2": ("rewrite",),
    "mailman3-web": ("proxy_uwsgi",),
    "zoneminder": ("cgid",),
    "libapache2-mod-php8.2": ("userdir",),
}

WRAPPER = """\
# Test wrapper: Debian's global settings, its default modules, then one snippet.
ServerRoot "{serverroot}"
Mutex file:${{APACHE_LOCK_DIR}} default
DefaultRuntimeDir ${{APACHE_RUN_DIR}}
PidFile ${{APACHE_PID_FILE}}
User ${{APACHE_RUN_USER}}
Group ${{APACHE_RUN_GROUP}}
ErrorLog ${{APACHE_LOG_DIR}}/error.log
LogLevel warn
IncludeOptional mods-enabled/*.load
IncludeOptional mods-enabled/*.conf
{load}
Include "{snippet}"
"""


def prepare_root(root: Path, state: Path) -> Path:
    """Keep the unpacked tree's envvars (read by us and by apache2) out of /var, and
    point LoadModule at the unpacked module when it is not installed here."""
    confdir = root / "etc" / "apache2"
    for load_file in (confdir / "mods-available").glob("*.load"):
        text = load_file.read_text()
        fixed = re.sub(
            r"(?m)^(\s*LoadModule\s+\S+\s+)(/usr/lib/apache2/modules/\S+)",
            lambda m: m.group(1) + (
                str(root) + m.group(2)
                if not os.path.exists(m.group(2)) and (root / m.group(2).lstrip("/")).exists() else m.group(2)
            ),
            text,
        )
        if fixed != text:
            load_file.write_text(fixed)
    for sub in ("run", "lock", "log"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    with (confdir / "envvars").open("a") as envvars:
        envvars.write(
            f"\nexport APACHE_PID_FILE={state}/run/apache2.pid APACHE_RUN_DIR={state}/run"
            f" APACHE_LOCK_DIR={state}/lock APACHE_LOG_DIR={state}/log\n"
        )
    return confdir


def wrap(root: Path, work: Path, name: str, package: str) -> Path:
    """A main file that reads ``name`` (a path in ``root``) as Debian would."""
    confdir = root / "etc" / "apache2"
    enabled = confdir / "mods-enabled"
    if enabled.exists():
        shutil.rmtree(enabled)
    enabled.mkdir()
    # mod_info too: apache2 -t -D DUMP_CONFIG then prints the tree it read.
    for module in (*DEBIAN_DEFAULT_MODULES, "info", *PACKAGE_MODULES.get(package, ())):
        a2enmod(confdir, module)
    load_line = ""
    parts = name.split("/")
    if parts[:3] == ["etc", "apache2", "mods-available"]:
        module = Path(name).stem
        a2enmod(confdir, module, with_self=False)  # its dependencies (and conflicts), not itself
        if name.endswith(".conf") and (confdir / "mods-available" / f"{module}.load").is_file():
            load_line = f"Include mods-available/{module}.load"
    wrapper = work / f"wrapper-{re.sub(r'[^A-Za-z0-9.]+', '_', name)}"
    wrapper.write_text(WRAPPER.format(serverroot=confdir, load=load_line, snippet=_resolve_in_root(root, name)))
    return wrapper


_SYNTAX_ERROR = re.compile(r"Syntax error on line (\d+) of (/[^:\n]+):")


def compare_with_httpd(
    tree: ConfigTree, model: ServerModel, wrapper: Path, env: dict[str, str], name: str, package: str
) -> list[str]:
    """What the real ``apache2 -t`` says about the same wrapper, against our reading.

    The package's own modules are loaded from the unpacked tree where the
    libraries they need are installed here. httpd accepts: we read the same
    files in the same order, the same directives with the same arguments
    (mod_info's dump, so ``<IfModule>`` on third-party module names is
    checked too), and build the same vhost table (names derived from the
    host name aside). httpd refuses because a module cannot be loaded, a
    directive belongs to a module that is not loaded, or a module checks a
    file that only the installed package has (HTTPD_ONLY_ERRORS): none of
    which a static reader can see, so the directive httpd stopped at must be
    in our tree at the same file:line. Any other refusal: our first error is
    httpd's, at the same place.
    """
    assert APACHE2 is not None
    done = subprocess.run(
        [APACHE2, "-f", str(wrapper), "-t", "-D", "DUMP_INCLUDES", "-D", "DUMP_CONFIG", "-D", "DUMP_VHOSTS"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    if done.returncode == 0:
        listed = parse_dump_includes(done.stdout)
        ours = [f.path for f in tree.files]
        if ours != listed:
            return [f"{name}: read {ours}, apache2 -t read {listed}"]
        mine, theirs = tree_as_dumped(tree), parse_dump_config(done.stdout)
        if mine != theirs:
            first = next(i for i, pair in enumerate(zip([*mine, None], [*theirs, None])) if pair[0] != pair[1])
            return [f"{name}: directive #{first} differs: ours {mine[first:first + 2]}, "
                    f"apache2's (mod_info) {theirs[first:first + 2]}"]
        derived = {v.id for v in model.vhosts if v.declared_name is None and v.id}
        table, real = masked(model_table(model), derived), masked(parse_dump_vhosts(done.stdout), derived)
        return [] if table == real else [f"{name}: vhost table {table}, apache2's {real}"]
    where = _SYNTAX_ERROR.findall(done.stderr)
    if not where:
        return [f"{name}: apache2 -t failed without a location: {done.stderr.strip()}"]
    line, file = int(where[-1][0]), where[-1][1]
    message = done.stderr[done.stderr.rfind(f"of {file}:") + len(f"of {file}:"):].strip()
    at_line = [n for n in tree.walk() if n.source.file == file and n.source.line == line and n.source.macro is None]
    known = HTTPD_ONLY_ERRORS.get((package, name))
    if known and not os.path.exists(known[0]) and re.search(known[2], message):
        if not any(n.name == known[1] for n in at_line):
            return [f"{name}: apache2 refuses {known[1]} on {file}:{line}, not in our tree there"]
        return []
    invalid = re.match(r"Invalid command '([^']+)'", message)
    if invalid:
        if not any(n.name == invalid.group(1) for n in at_line):
            return [f"{name}: apache2 stops at {invalid.group(1)} on {file}:{line}, not in our tree there"]
        refused = [e for e in tree.errors if e.source is not None and (e.source.file, e.source.line) == (file, line)]
        if not any(e.message.startswith(message) for e in refused):
            return [f"{name}: apache2 refuses {file}:{line} ({message}), we do not"]
        return []
    if message.startswith("Cannot load "):
        if not any(n.key == "loadmodule" for n in at_line):
            return [f"{name}: apache2 cannot load a module on {file}:{line}, we have no LoadModule there"]
        return []
    if not tree.errors:
        return [f"{name}: apache2 -t refuses it, we find no error: {done.stderr.strip()}"]
    first = tree.errors[0]
    if first.source is None or (first.source.file, first.source.line) != (file, line) or first.message not in message:
        return [f"{name}: our first error {first} differs from apache2's: {file}:{line}: {message}"]
    return []


def check_snippet(root: Path, work: Path, name: str, package: str, env: dict[str, str] | None) -> list[str]:
    """Load one snippet in its wrapper; return the problems found (empty: fine)."""
    wrapper = wrap(root, work, name, package)
    confdir = root / "etc" / "apache2"
    try:
        tree = load(str(wrapper), LoadOptions(env_file=str(confdir / "envvars"), environ={}))
        model = build_model(tree)
    except Exception as crash:
        return [f"{name}: crashed: {type(crash).__name__}: {crash}"]
    problems: list[str] = []
    expected = [
        (path, pattern) for path, pattern in EXPECTED_ERRORS.get((package, name), ()) if not os.path.exists(path)
    ]
    for error in (*tree.errors, *model.errors):
        text = str(error)
        if error.message.startswith("Invalid command '"):
            # The wrapper loads Debian's default modules and a few more, not every module a
            # package's snippet may want (third-party ones are not installed here): apache2 -t
            # refuses those directives too, which compare_with_httpd checks against the real one.
            continue
        hit = next((e for e in expected if re.search(e[1], text)), None)
        if hit is None:
            problems.append(f"{name}: unexpected error: {text}")
        else:
            expected.remove(hit)
    problems.extend(f"{name}: expected an error matching {pattern!r}" for _, pattern in expected)
    problems.extend(f"{name}: {w}" for w in tree.warnings if "is not defined" in w.message)
    snippet_file = str(_resolve_in_root(root, name))
    if snippet_file not in [f.path for f in tree.files]:
        problems.append(f"{name}: the wrapper did not read {snippet_file}")
    if env is not None:
        problems.extend(compare_with_httpd(tree, model, wrapper, env, name, package))
    return problems


@pytest.mark.network
@pytest.mark.parametrize("package", PACKAGES)
def test_package_snippets_load(
    package: str, debian_debs: dict[str, Path | str], apache2_base: Path, tmp_path: Path
) -> None:
    deb = _deb(debian_debs, package)
    root = tmp_path / "root"
    shutil.copytree(apache2_base, root, symlinks=True)
    names = unpack(deb, root, package)
    prepare_root(root, tmp_path / "state")
    snippets = sorted(n for n in names if is_snippet(n, package))
    if package in POSTINST_SNIPPETS:
        function, target = POSTINST_SNIPPETS[package]
        work = tmp_path / "postinst"
        work.mkdir()
        snippets.append(_generate_postinst_snippet(deb, root, function, target, work))
    assert snippets, f"{package} ships no Apache snippet any more: update the package lists of this test"
    env = source_envvars(root / "etc" / "apache2") if APACHE2 is not None else None  # as apache2ctl runs it
    problems: list[str] = []
    for name in snippets:
        problems.extend(check_snippet(root, tmp_path, name, package, env))
    assert problems == [], "\n".join(problems)


# Modules whose source file name (what ``<IfModule mod_x.c>`` tests) is not
# ``mod_<stem>.c`` for a ``<stem>_module`` identifier.
MISNAMED_MODULES: dict[str, str] = {}  # package -> reason, for modules whose source name we get wrong

IFMODULE_PROBE = """\
ServerRoot "{root}"
DefaultRuntimeDir "{root}"
PidFile "{root}/apache2.pid"
ErrorLog "{root}/error.log"
LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule dav_module /usr/lib/apache2/modules/mod_dav.so
LoadModule {name} {path}
<IfModule {source}>
    Define PROBE_SOURCE_NAME
</IfModule>
<IfModule {name}>
    Define PROBE_IDENTIFIER
</IfModule>
"""


@pytest.mark.network
@pytest.mark.httpd
@needs_apache
@pytest.mark.parametrize(
    "package",
    [
        pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=MISNAMED_MODULES[p])) if p in MISNAMED_MODULES
        else p
        for p in MODULE_PACKAGES
    ],
)
def test_package_module_answers_ifmodule_like_apache2(
    package: str, debian_debs: dict[str, Path | str], tmp_path: Path
) -> None:
    """``<IfModule mod_x.c>`` for a module loaded from the package: our name for it is httpd's.

    The real module is loaded from the unpacked package (skipped when this
    machine lacks a library it needs); httpd's ``-D DUMP_RUN_CFG`` lists the
    Defines each ``<IfModule>`` body made.
    """
    deb = _deb(debian_debs, package)
    root = tmp_path / "root"
    unpack(deb, root, package)
    probed = 0
    for load_file in sorted((root / "etc" / "apache2" / "mods-available").glob("*.load")):
        for match in re.finditer(r"(?m)^\s*LoadModule\s+(\S+)\s+(\S+)", load_file.read_text()):
            name, path = match.groups()
            so = root / path.lstrip("/")
            if not so.exists():
                continue
            conf = tmp_path / f"probe-{name}.conf"
            source = catalog().info(name).source
            conf.write_text(IFMODULE_PROBE.format(root=tmp_path, name=name, path=so, source=source))
            done = subprocess.run(
                [str(APACHE2), "-f", str(conf), "-t", "-D", "DUMP_RUN_CFG"],
                env=CLEAN_ENV, capture_output=True, text=True, timeout=60, check=False,
            )
            if done.returncode != 0:
                continue  # a library it needs is not installed here
            theirs = sorted(re.findall(r"^Define: (PROBE_\w+)$", done.stdout, re.MULTILINE))
            tree = load(str(conf), LoadOptions(env_file="", environ={}))
            assert tree.errors == ()
            ours = sorted(n for n, _ in tree.defines if n.startswith("PROBE_"))
            assert ours == theirs, f"{name} from {so.name}: <IfModule {source}> / <IfModule {name}>"
            probed += 1
    if not probed:
        pytest.skip(f"no module of {package} can be loaded on this machine (missing libraries)")

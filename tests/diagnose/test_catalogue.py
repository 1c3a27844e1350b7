"""The AH-code catalogue: every code real httpd 2.4 sources log, and real apache2 lines explained."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import pwd
import shutil
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.diagnose.conftest import Httpd
from tests.support.apache import APACHE2, MODULES_DIR, base_config, free_port, run_apache
from vhostguard.cli import main
from vhostguard.diagnose import explain_code, explain_line, load_catalogue, normalise_code
from vhostguard.exitcodes import ExitCode

SOURCES = Path(__file__).parent / "data" / "ahcodes-2.4.txt"


def httpd_sources() -> tuple[str, dict[str, set[str]]]:
    """The commit the fixture was derived from, and each code's source files there."""
    commit = ""
    where: dict[str, set[str]] = {}
    for line in SOURCES.read_text().splitlines():
        if line.startswith("#"):
            if "commit " in line:
                commit = line.rsplit("commit ", 1)[1].strip()
            continue
        path, *codes = line.split()
        for code in codes:
            where.setdefault(code, set()).add(path)
    return commit, where


# --- the catalogue against httpd's sources (offline: tests/diagnose/data/ahcodes-2.4.txt) ---

def test_every_code_is_logged_by_the_named_source_file_of_httpd_2_4() -> None:
    commit, where = httpd_sources()
    catalogue = load_catalogue()
    assert len(where) > 2500  # the whole 2.4.x tree, not a sample
    assert catalogue.httpd_commit == commit
    wrong = {code: (entry.source, sorted(where.get(code, ()))) for code, entry in catalogue.entries.items()
             if entry.source not in where.get(code, ())}
    assert wrong == {}


def test_catalogue_covers_the_failure_families() -> None:
    catalogue = load_catalogue()
    assert len(catalogue.entries) >= 100  # README: "over 100 codes"
    for code in ("AH00957", "AH01114", "AH01102", "AH00898", "AH01097", "AH00940", "AH00959", "AH01144", "AH02454",
                 "AH00124", "AH01630", "AH01797", "AH01618", "AH00128", "AH01276", "AH00526", "AH00529", "AH02032",
                 "AH02031", "AH02033", "AH02261", "AH00484", "AH03490", "AH00072", "AH00015", "AH00493", "AH00494",
                 "AH00489", "AH00163", "AH00094", "AH00052"):
        entry = catalogue.entries[code]
        assert entry.meaning and entry.causes and entry.checks, code
        assert entry.format.startswith(code + ": ")
    for entry in catalogue.entries.values():
        assert entry.level in {"emerg", "alert", "crit", "error", "warn", "notice", "info", "debug", "startup"}, entry.code
        assert entry.topic in {"proxy", "rewrite", "files", "request", "authz", "config", "startup", "ssl", "capacity",
                               "crash", "restart", "cgi"}, entry.code  # the topics docs/contract.md lists
        assert all(other in catalogue.entries for other in entry.related), entry.code


def test_code_spellings() -> None:
    assert normalise_code("ah01114") == normalise_code("AH1114") == normalise_code(" 01114 ") == "AH01114"
    assert normalise_code("AH011140") is None and normalise_code("HTTP500") is None
    assert explain_code("ah01114") is explain_code("AH01114") is not None
    assert explain_code("AH99999") is None


def test_line_lookup_reads_the_code_not_other_digits() -> None:
    line = ("[Fri Dec 04 03:05:12.123456 2026] [proxy:error] [pid 4711:tid 4712] (111)Connection refused: "
            "[client 127.0.0.1:50000] AH00957: http: attempt to connect to 127.0.0.1:1 (127.0.0.1:1) failed")
    entry = explain_line(line)
    assert entry is not None and entry.code == "AH00957" and entry.matches(line)
    assert explain_line("[core:notice] child pid 1114 exit: AH01114 mentioned without colon") is None
    assert explain_line("AH99999: not catalogued") is None
    assert not load_catalogue().entries["AH01114"].matches(line)


# --- real apache2: each real error line is explained, by code and by format ---

def _get(url: str, timeout: float = 10.0, auth: tuple[str, str] | None = None) -> int:
    request = urllib.request.Request(url)
    if auth is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as problem:
        return int(problem.code)


_CODE = re.compile(r"\bAH[0-9]{5}(?=: )")


def _coded_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if _CODE.search(line)]


def explain_line_code(line: str) -> str | None:
    found = _CODE.search(line)
    return found.group(0) if found else None


_LEVEL = re.compile(r"\[[^\]:\s]*:([a-z]+[0-9]?)\]")
_QUIET = {"info", "debug", "trace1", "trace2", "trace3", "trace4", "trace5", "trace6", "trace7", "trace8"}


def _assert_explained(lines: list[str], expected: set[str]) -> None:
    """Every coded line at notice level or worse (and every expected one) is catalogued, and its entry's
    code, module and message format agree with the real line. Lines without a level were written
    to stderr during start-up and count too."""
    seen = set()
    for line in lines:
        code = explain_line_code(line)
        level = _LEVEL.search(line)
        if code not in expected and level is not None and level.group(1) in _QUIET:
            continue
        entry = explain_line(line)
        assert entry is not None, f"not catalogued: {line}"
        assert entry.code == code
        assert entry.matches(line), f"{entry.code} format {entry.format!r} does not match {line!r}"
        if level is not None:
            assert f"[{entry.module}:{level.group(1)}]" in line or entry.level == "startup", (entry.module, entry.level, line)
        seen.add(entry.code)
    assert expected <= seen, (expected - seen, lines)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _wait_for(path: Path, done: Callable[[str], bool], timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while not done(text := path.read_text()):
        assert time.monotonic() < deadline, text
        time.sleep(0.1)
    return text


@pytest.fixture
def silent_backend() -> Iterator[int]:
    """A loopback port that accepts TCP connections (kernel backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield int(sock.getsockname()[1])
    sock.close()


@pytest.mark.httpd
def test_real_failure_lines_are_explained(httpd: Callable[..., Httpd], silent_backend: int) -> None:
    closed = free_port()
    server = httpd({"httpd.conf": (
        f"LoadModule rewrite_module {MODULES_DIR}/mod_rewrite.so\n"
        f"LoadModule autoindex_module {MODULES_DIR}/mod_autoindex.so\n"
        f"LoadModule access_compat_module {MODULES_DIR}/mod_access_compat.so\n"
        f"LoadModule auth_basic_module {MODULES_DIR}/mod_auth_basic.so\n"
        f"LoadModule authn_core_module {MODULES_DIR}/mod_authn_core.so\n"
        f"LoadModule authn_file_module {MODULES_DIR}/mod_authn_file.so\n"
        f"LoadModule authz_user_module {MODULES_DIR}/mod_authz_user.so\n"
        "LogLevel warn core:info\n"
        'CoreDumpDirectory "{root}/run"\n'  # a core of the crash below stays in the sandbox

        "Listen 127.0.0.1:{port}\n"
        'DocumentRoot "{root}/htdocs"\n'
        '<Directory "{root}/htdocs">\n  Require all granted\n  Options -Indexes\n'
        "  RewriteEngine On\n  RewriteRule ^loop/(.*)$ /loop/x$1\n</Directory>\n"
        '<Directory "{root}/htdocs/nolinks">\n  Options None\n  RewriteEngine On\n  RewriteRule ^x$ y\n</Directory>\n'
        "<Location /denied>\n  Require all denied\n</Location>\n"
        "<Location /old>\n  Order deny,allow\n  Deny from all\n</Location>\n"
        '<Location /auth>\n  AuthType Basic\n  AuthName area\n  AuthUserFile "{root}/htpasswd"\n  Require valid-user\n</Location>\n'
        '<Location /noauthfile>\n  AuthType Basic\n  AuthName area\n  AuthUserFile "{root}/missing-htpasswd"\n'
        "  Require valid-user\n</Location>\n"
        f"ProxyPass /down/ http://127.0.0.1:{closed}/\n"
        f"ProxyPass /slow/ http://127.0.0.1:{silent_backend}/s/ timeout=1\n"
        f"ProxyPass /hold/ http://127.0.0.1:{silent_backend}/h/ timeout=4\n"
        f"ProxyPass /shared/ http://127.0.0.1:{silent_backend}/s/x/ timeout=2\n"  # shares /slow/'s worker: AH01146
        'ProxyPass /uds/ "unix:{root}/run/missing.sock|http://localhost/"\n'),
        "htdocs/index.html": "hi\n", "htdocs/empty/.keep": "", "htdocs/nolinks/x": "x\n", "htdocs/loop/.keep": "",
        # htpasswd's {SHA} scheme: base64 of the SHA-1 of the password
        "htpasswd": "alice:{SHA}" + base64.b64encode(hashlib.sha1(b"right").digest()).decode() + "\n"})
    base = f"http://127.0.0.1:{server.port}"
    assert _get(f"{base}/down/api") == 503
    assert _get(f"{base}/slow/api") in (502, 504)
    assert _get(f"{base}/uds/api") == 503
    assert _get(f"{base}/loop/a") == 500
    assert _get(f"{base}/missing.html") == 404
    assert _get(f"{base}/empty/") == 403
    assert _get(f"{base}/denied") == 403
    assert _get(f"{base}/nolinks/x") == 403
    assert _get(f"{base}/old") == 403
    assert _get(f"{base}/auth", auth=("alice", "wrong")) == 401
    assert _get(f"{base}/auth", auth=("mallory", "right")) == 401
    assert _get(f"{base}/noauthfile", auth=("alice", "right")) == 500
    error_log = server.root / "logs" / "error.log"
    # More requests held by a silent backend than the 4 worker threads: the server is full.
    with ThreadPoolExecutor(6) as pool:
        held = [pool.submit(_get, f"{base}/hold/{n}") for n in range(6)]
        _wait_for(error_log, lambda text: "AH00484" in text)
        assert {future.result() for future in held} <= {502, 503, 504}
    os.kill(_children(server.pid())[0], signal.SIGSEGV)  # a crashing child
    _wait_for(error_log, lambda text: "AH00052" in text or "AH00051" in text)
    os.kill(server.pid(), signal.SIGUSR1)  # graceful restart: the notices doctor reads for "last reloaded"
    text = _wait_for(error_log, lambda text: "AH00493" in text and text.count("AH00489") >= 2)
    crash = "AH00051" if "AH00051" in text else "AH00052"
    _assert_explained(_coded_lines(text), {
        "AH00957", "AH01114", "AH01102", "AH00898", "AH02454", "AH01146", "AH00124", "AH00128", "AH01276", "AH01630",
        "AH01797", "AH01617", "AH01618", "AH01620", "AH00670", "AH00484", crash, "AH00493", "AH00489", "AH00094"})


@pytest.mark.httpd
def test_real_startup_failures_are_explained(tmp_path: Path) -> None:
    if APACHE2 is None:
        pytest.skip("apache2 is not installed (apt-get install apache2)")
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    conf = tmp_path / "busy.conf"
    conf.write_text(base_config(tmp_path, ("mpm_event", "authz_core")) + f"ServerName localhost\nListen 127.0.0.1:{port}\n")
    try:
        busy = run_apache(conf, "-DFOREGROUND")
    finally:
        holder.close()
    bad = tmp_path / "bad.conf"
    bad.write_text(base_config(tmp_path, ("mpm_event", "authz_core")) + "ServerName localhost\nProxyPazz / http://x/\n")
    syntax = run_apache(bad, "-t")
    assert busy.returncode != 0 and syntax.returncode != 0
    # Before the logs are open (bind, syntax), httpd writes to stderr.
    startup = busy.stderr + syntax.stderr
    _assert_explained(_coded_lines(startup), {"AH00072", "AH00015", "AH00526"})


# --- the command ---

def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_explain_code_text_names_meaning_causes_and_checks() -> None:
    code, out, _ = _invoke("explain-code", "AH01114")
    assert code == ExitCode.OK
    assert out.startswith("AH01114  [proxy_http:error]  from httpd's modules/proxy/mod_proxy_http.c\n")
    assert "503" in out and "Typical causes:\n  - the backend is down" in out and "What to check:\n  - " in out
    assert "AH00957 (" in out  # related codes, with their message


def test_explain_code_lower_case_is_the_same() -> None:
    assert _invoke("explain-code", "ah01114")[:2] == _invoke("explain-code", "AH01114")[:2]


def test_explain_code_json_document() -> None:
    code, out, _ = _invoke("explain-code", "ah00124", "--json")
    assert code == ExitCode.OK
    document = json.loads(out)
    assert set(document) == {"schema", "code", "module", "source", "level", "topic", "format", "meaning", "causes",
                             "checks", "related", "httpd"}
    assert document["schema"] == 1 and document["code"] == "AH00124" and document["source"] == "server/core.c"
    assert document["module"] == "core" and document["level"] == "error"
    assert document["format"].startswith("AH00124: Request exceeded the limit of %d internal redirects")
    assert document["causes"] and document["checks"] and isinstance(document["causes"][0], str)
    assert document["httpd"]["commit"] == httpd_sources()[0]


def test_explain_code_unknown_exits_2_with_nearest_codes() -> None:
    code, out, err = _invoke("explain-code", "AH01115")
    assert code == ExitCode.BAD_INPUT and out == ""
    assert err.count("\n") == 1
    assert "AH01115 is not in the catalogue" in err and "nearest known: AH01114, AH01110, AH01102" in err


def test_explain_code_not_a_code_exits_2() -> None:
    code, _, err = _invoke("explain-code", "proxy-error")
    assert code == ExitCode.BAD_INPUT and err.count("\n") == 1 and "AH01114" in err


def _tls_request(port: int, sni: str | None, host: str | None) -> bytes:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=sni) as tls:
        head = "GET / HTTP/1.1\r\n" + (f"Host: {host}\r\n" if host else "") + "Connection: close\r\n\r\n"
        tls.sendall(head.encode())
        answer = b""
        while chunk := tls.recv(4096):
            answer += chunk
    return answer


@pytest.mark.httpd
def test_real_tls_lines_are_explained(httpd: Callable[..., Httpd], tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None or not Path(MODULES_DIR, "mod_ssl.so").exists():
        pytest.skip("needs openssl and mod_ssl")
    cert, key = tmp_path / "a.pem", tmp_path / "a.key"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=a.example.test",
                    "-addext", "subjectAltName=DNS:a.example.test", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    tls = f"SSLEngine on\n  SSLCertificateFile {cert}\n  SSLCertificateKeyFile {key}\n"
    server = httpd({"httpd.conf": (
        f"LoadModule socache_shmcb_module {MODULES_DIR}/mod_socache_shmcb.so\n"
        f"LoadModule ssl_module {MODULES_DIR}/mod_ssl.so\n"
        "LogLevel warn ssl:info\n"
        "Listen 127.0.0.1:{port} https\n"
        "SSLStrictSNIVHostCheck on\n"
        'DocumentRoot "{root}/htdocs"\n<Directory "{root}/htdocs">\n  Require all granted\n</Directory>\n'
        f"<VirtualHost *:{{port}}>\n  ServerName a.example.test\n  {tls}</VirtualHost>\n"
        # b: same certificate (it does not name b), and a client-certificate requirement a lacks.
        f"<VirtualHost *:{{port}}>\n  ServerName b.example.test\n  {tls}  SSLVerifyClient optional\n"
        f"  SSLCACertificateFile {cert}\n</VirtualHost>\n"),
        "htdocs/index.html": "hi\n"})
    assert b" 421 " in _tls_request(server.port, "a.example.test", "b.example.test").split(b"\r\n", 1)[0]
    assert b" 403 " in _tls_request(server.port, None, "a.example.test").split(b"\r\n", 1)[0]
    error_log = server.root / "logs" / "error.log"
    text = _wait_for(error_log, lambda text: "AH02032" in text and "AH02033" in text)
    _assert_explained(_coded_lines(text), {"AH02032", "AH02033", "AH01909", "AH01906"})


@pytest.fixture
def shared_docroot() -> Iterator[Path]:
    """A document root other users can traverse (pytest's temp dirs are private to their owner)."""
    root = Path(tempfile.mkdtemp(prefix="vg-ahcodes-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.httpd
def test_real_permission_lines_are_explained(httpd: Callable[..., Httpd], shared_docroot: Path) -> None:
    """Workers that run as www-data meet files and directories they may not read (the incident's 403s)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: httpd switches its workers to www-data only when started as root")
    try:
        pwd.getpwnam("www-data")
    except KeyError:
        pytest.skip("no www-data user")
    docs = shared_docroot
    for relative, mode in (("secret.html", 0o600), ("a/locked/x.html", 0o644), ("b/locked/x.html", 0o644)):
        (docs / relative).parent.mkdir(parents=True, exist_ok=True)
        (docs / relative).write_text("x\n")
        (docs / relative).chmod(mode)
    for directory, mode in (("a", 0o755), ("b", 0o755), ("a/locked", 0o700), ("b/locked", 0o700)):
        (docs / directory).chmod(mode)
    server = httpd({"httpd.conf": (
        "User www-data\nGroup www-data\nListen 127.0.0.1:{port}\n"
        # Without an explicit AllowOverride None, apache2 probes for .htaccess here (observed: AH00529, not AH00035)
        f'DocumentRoot "{docs}"\n<Directory "{docs}">\n  Require all granted\n  AllowOverride None\n</Directory>\n'
        f'<Directory "{docs}/b">\n  AllowOverride All\n</Directory>\n')})
    base = f"http://127.0.0.1:{server.port}"
    assert _get(f"{base}/secret.html") == 403
    assert _get(f"{base}/a/locked/x.html") == 403
    assert _get(f"{base}/b/locked/x.html") == 403
    error_log = server.root / "logs" / "error.log"
    text = _wait_for(error_log, lambda text: all(code in text for code in ("AH00132", "AH00035", "AH00529")))
    _assert_explained(_coded_lines(text), {"AH00132", "AH00035", "AH00529"})

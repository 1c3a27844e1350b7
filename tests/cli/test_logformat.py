"""``vhostguard logformat`` (issue 18): the recommended LogFormat is one httpd accepts, whose lines
vhostguard reads with the vhost, the Host, the status, the duration and the error-log id; lint's
VG505 stays quiet on a config that uses it."""
from __future__ import annotations

import http.client
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.live.helpers import readable_dir, writer
from tests.support.apache import base_config, APACHE2, CLEAN_ENV, free_port, needs_apache
from vhostguard.cli.logformat import logformat
from vhostguard.config import LoadOptions, load
from vhostguard.lint import RECOMMENDED_LOGFORMAT, default_registry
from vhostguard.lint import run as run_lint
from vhostguard.logs import parser_for
from vhostguard.model import build_model
from vhostguard.monitor.hosts import host_column


def test_it_prints_the_format_for_both_layouts() -> None:
    result = CliRunner().invoke(logformat, [])
    assert result.exit_code == 0
    assert "/etc/apache2/conf-available/vhostguard-log.conf" in result.output
    assert "/etc/httpd/conf.d/vhostguard-log.conf" in result.output
    only = CliRunner().invoke(logformat, ["--layout", "rhel"])
    assert "/etc/apache2" not in only.output and "systemctl reload httpd" in only.output
    assert CliRunner().invoke(logformat, ["--layout", "bsd"]).exit_code == 2


def _directives(layout: str) -> list[str]:
    """The lines of the printed snippet that are config, not comments."""
    text = CliRunner().invoke(logformat, ["--layout", layout]).output
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    with readable_dir(tmp_path) as root:
        yield root


@pytest.mark.httpd
@needs_apache
@pytest.mark.parametrize("layout", ["debian", "rhel"])
def test_httpd_accepts_it_and_vhostguard_reads_every_field(site: Path, layout: str) -> None:
    port = free_port()
    write = writer(site)
    write("www/index.html", "hello\n")
    preamble = textwrap.indent(base_config(site, ("mpm_event", "authz_core"), user="www-data"), " " * 8)
    printed = "\n".join(_directives(layout))
    conf = write("httpd.conf", preamble + f"""
        ServerName main.example
        Listen 127.0.0.1:{port}
        CustomLog "{site}/logs/access.log" vhostguard
        <Directory "{site}">
            Require all granted
        </Directory>
        <VirtualHost *:{port}>
            ServerName www.example.com
            DocumentRoot {site}/www
        </VirtualHost>
    """)
    with open(conf, "a") as handle:  # the printed lines, as a conf.d file would add them
        handle.write(printed + "\n")
    assert APACHE2 is not None
    server = subprocess.Popen([APACHE2, "-f", str(conf), "-DFOREGROUND"], env=CLEAN_ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = site / "logs" / "access.log"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/index.html", headers={"Host": "WWW.Example.com.", "User-Agent": "t/1"})
                status = connection.getresponse().status
                connection.close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, server.stderr
                time.sleep(0.1)
        assert status == 200
        deadline = time.monotonic() + 5
        while not (log.exists() and log.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.terminate()
        server.wait(10)
    [line] = log.read_text().splitlines()
    parser = parser_for(RECOMMENDED_LOGFORMAT)
    record = parser.parse(line)
    assert record["vhost"] == "www.example.com"
    assert record["headers_in"]["Host"] == "WWW.Example.com." and record["headers_in"]["User-Agent"] == "t/1"
    assert record["status"] == 200 and record["method"] == "GET" and record["path"] == "/index.html"
    assert isinstance(record["duration_us"], int) and record["duration_us"] >= 0
    assert any(s.text == "%L" for s in parser.fields)  # the error-log id is in the format
    assert host_column(parser) == "headers_in"  # watch's host-moved is on with it
    model = build_model(load(str(conf), LoadOptions()))
    codes = {f.code for f in run_lint(model, model.tree, registry=default_registry())}
    assert not codes & {"VG501", "VG502", "VG505"}

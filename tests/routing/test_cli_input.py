"""``route`` / ``explain`` on awkward input, through the CLI: answers for any path
httpd accepts, exit 2 with one line for what cannot describe a request."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from vhostguard.cli import main

Write = Callable[..., Path]

CONF = """
Listen 80
ServerName main.example
<VirtualHost *:80>
  ServerName api.example
  ProxyPass /v1/ http://127.0.0.1:5000/v1/
</VirtualHost>
"""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def one_line_error(code: int, out: str, err: str) -> str:
    assert code == 2, (out, err)
    assert out == "" and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(("path", "backend"), [
    ("/v1/%ff", "http://127.0.0.1:5000/v1/%FF"),
    ("/v1/%c0%af", "http://127.0.0.1:5000/v1/%C0%AF"),
])
@pytest.mark.parametrize("command", ["route", "explain"])
def test_path_with_bytes_that_are_not_utf8(write: Write, command: str, path: str, backend: str) -> None:
    conf = write("apache2.conf", CONF)
    code, out, err = run(command, "-f", str(conf), f"http://api.example{path}")
    assert code == 0, err
    assert f"proxy -> {backend}" in out
    code, out, err = run(command, "-f", str(conf), "--json", f"http://api.example{path}")
    assert code == 0, err
    document = json.loads(out)
    assert document["outcome"]["target"] == backend
    assert document["request"]["path"] == path


def test_explain_escapes_undecodable_bytes_and_control_characters(write: Write) -> None:
    conf = write("apache2.conf", CONF)
    code, out, _ = run("explain", "-f", str(conf), "http://api.example/v1/%ff%1b[2J")
    assert code == 0
    assert "\x1b" not in out and "\udcff" not in out
    assert "matches /v1/\\xff\\x1b[2J" in out


@pytest.mark.parametrize("url", ["http://[bad/", "http://[::1/x", "http://a]b/"])
@pytest.mark.parametrize("command", ["route", "explain"])
def test_malformed_url_exit_2_one_line(write: Write, command: str, url: str) -> None:
    conf = write("apache2.conf", CONF)
    line = one_line_error(*run(command, "-f", str(conf), url))
    assert url in line and "not a valid URL" in line


@pytest.mark.parametrize("option", ["--local-ip", "--remote-ip"])
def test_address_option_that_is_no_ip_exit_2(write: Write, option: str) -> None:
    conf = write("apache2.conf", CONF)
    line = one_line_error(*run("route", "-f", str(conf), option, "bogus", "http://api.example/"))
    assert line == f"vhostguard: {option} 'bogus': not an IP address (10.0.0.5, ::1)"


def test_explain_names_each_config_line_once_per_line(write: Write) -> None:
    conf = write("apache2.conf", CONF + """
<VirtualHost *:80>
  ServerName closed.example
  <Location />
    Require all denied
  </Location>
  <Location /old>
    Order deny,allow
    Deny from all
  </Location>
</VirtualHost>
""")
    for path in ("/", "/old"):
        code, out, _ = run("explain", "-f", str(conf), f"http://closed.example{path}")
        assert code == 0 and "forbidden 403" in out
        access = [line for line in out.splitlines() if ". access " in line]
        assert len(access) == 1
        assert access[0].count(f"{conf}:") == 1, access[0]


def test_diff_replays_paths_with_bytes_that_are_not_utf8(write: Write) -> None:
    old = write("old/apache2.conf", CONF)
    new = write("new/apache2.conf", CONF.replace("5000", "6000"))
    urls = write("urls.txt", "".join(f"http://api.example/v1/item{n}\n" for n in range(199)) + "http://api.example/v1/%ff\n")
    code, out, err = run("diff", str(old), str(new), "--requests", str(urls), "--json")
    assert code == 1, err
    document = json.loads(out)
    assert (document["requests"], document["changed"], document["skipped"]) == (200, 200, 0)

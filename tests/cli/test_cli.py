from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.apache import needs_apache
from vhostguard.cli import main

Write = Callable[..., Path]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "api-stack" / "apache2.conf"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_vhosts_json_schema_on_example() -> None:
    code, out, _ = run("vhosts", "-f", str(EXAMPLE), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == 1
    assert set(doc) == {"schema", "listen", "address_sets", "vhosts", "main_server"}
    star80 = next(a for a in doc["address_sets"] if a["address"] == "*:80")
    assert star80["default"] == star80["vhosts"][0]
    default = doc["vhosts"][star80["default"]]
    assert default["server_name"] == "default.invalid"
    assert star80["default"] == f"{default['file']}:{default['line']}"
    api = next(v for v in doc["vhosts"].values() if v["server_name"] == "api.example.com")
    assert api["aliases"] == ["api-v1.example.com", "*.api.example.com"]
    assert api["addresses"] == ["*:80"]
    assert doc["main_server"]["server_name"] == "web01.example.com"
    assert {(listen["address"], listen["port"]) for listen in doc["listen"]} == {(None, 80), ("10.0.0.5:8443", 8443)}


def test_vhosts_text_like_apache2_S() -> None:
    code, out, _ = run("vhosts", "-f", str(EXAMPLE))
    assert code == 0
    assert out.startswith("VirtualHost configuration:\n")
    assert "*:80                   is a NameVirtualHost" in out
    assert "default server default.invalid" in out
    assert "wild alias *.api.example.com" in out


def test_unclosed_section_one_line_exit_2(write: Write) -> None:
    conf = write("main.conf", "Listen 80\n<VirtualHost *:80>\n")
    code, out, err = run("vhosts", "-f", str(conf))
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{conf}:2: ")
    assert "Traceback" not in err


def test_missing_config_exit_2(tmp_path: Path) -> None:
    code, _, err = run("vhosts", "-f", str(tmp_path / "missing.conf"))
    assert code == 2
    assert "Could not open configuration file" in err and len(err.strip().splitlines()) == 1


def test_bad_vhost_address_exit_2(write: Write) -> None:
    conf = write("main.conf", "<VirtualHost 1.2.3.4:99999>\n</VirtualHost>\n")
    code, _, err = run("vhosts", "-f", str(conf))
    assert code == 2 and err.startswith(f"{conf}:1: ")


def test_dump_shows_file_line_and_includes(write: Write) -> None:
    write("conf.d/site.conf", "<VirtualHost *:80>\n  ServerName s.example\n</VirtualHost>\n")
    conf = write("main.conf", "Listen 80\nInclude conf.d/*.conf\n")
    code, out, _ = run("dump", "-f", str(conf))
    assert code == 0
    site = conf.parent / "conf.d" / "site.conf"
    assert f"{conf}:1: Listen 80" in out
    assert f"{site}:2:   ServerName s.example" in out
    code, out, _ = run("dump", "--includes", "-f", str(conf))
    assert out.splitlines() == ["Included configuration files:", f"  (*) {conf}", f"    (2) {site}"]


def test_define_option(write: Write) -> None:
    conf = write("main.conf", "<IfDefine TLS>\nListen 443\n</IfDefine>\nServerName ${NAME}\n")
    _code, out, _ = run("vhosts", "-f", str(conf), "-D", "TLS", "-D", "NAME=x.example", "--json")
    doc = json.loads(out)
    assert [listen["port"] for listen in doc["listen"]] == [443]
    assert doc["main_server"]["server_name"] == "x.example"


def test_undefined_variable_warns_on_stderr(write: Write) -> None:
    conf = write("main.conf", "ServerName ${NOT_SET_ANYWHERE}\n")
    code, _, err = run("vhosts", "-f", str(conf))
    assert code == 0
    assert f"warning: {conf}:1: Config variable ${{NOT_SET_ANYWHERE}} is not defined" in err


def test_route_one_line_and_json_contract() -> None:
    code, out, _ = run("route", "-f", str(EXAMPLE), "http://api.example.com/v1/users?a=1")
    assert code == 0
    assert out.count("\n") == 1
    assert "api.example.com" in out and "proxy -> http://127.0.0.1:5000/v1/users?a=1" in out
    code, out, _ = run("route", "-f", str(EXAMPLE), "http://api.example.com/v1/users?a=1", "--json")
    doc = json.loads(out)
    assert doc["schema"] == 1
    assert doc["request"] == {"method": "GET", "scheme": "http", "host": "api.example.com", "port": 80,
                              "path": "/v1/users", "query": "a=1", "local_ip": None}
    assert doc["vhost"]["server_name"] == "api.example.com"
    assert doc["vhost"]["id"] == f"{doc['vhost']['file']}:{doc['vhost']['line']}"
    assert doc["outcome"]["kind"] == "proxy" and doc["outcome"]["status"] is None
    assert doc["outcome"]["target"] == "http://127.0.0.1:5000/v1/users?a=1"
    assert doc["outcome"]["directive"]["name"] == "ProxyPass"
    assert doc["certain"] is True and doc["uncertain_reasons"] == []
    assert {s["stage"] for s in doc["steps"]} >= {"vhost", "proxy"}


def test_explain_lists_steps_with_lines() -> None:
    code, out, _ = run("explain", "-f", str(EXAMPLE), "http://www.example.com/api/x?q=1")
    assert code == 0
    assert "Redirect /api/" in out and "www.conf:8]" in out
    assert out.strip().splitlines()[-1].startswith("=> www.example.com")


def test_route_local_ip_defaults_from_listen_and_option() -> None:
    _, out, _ = run("route", "-f", str(EXAMPLE), "http://admin.example.com:8443/", "--json")
    assert json.loads(out)["request"]["local_ip"] == "10.0.0.5"
    _code, out, _ = run("route", "-f", str(EXAMPLE), "http://nobody.example/", "--header", "Host: api.example.com", "--json")
    assert json.loads(out)["vhost"]["server_name"] == "api.example.com"


def test_route_bad_url_and_header_exit_2() -> None:
    code, _, err = run("route", "-f", str(EXAMPLE), "ftp://x/")
    assert code == 2 and err.strip().count("\n") == 0
    code, _, err = run("route", "-f", str(EXAMPLE), "http://x/", "--header", "nocolon")
    assert code == 2 and "Name: value" in err


@pytest.mark.httpd
@needs_apache
def test_route_live_agrees_on_example() -> None:
    code, out, _ = run("route", "--live", "-f", str(EXAMPLE), "http://www.example.com/api/x", "--json")
    doc = json.loads(out)
    assert code == 0, out
    assert doc["live"]["agree"] is True
    assert doc["live"]["outcome"] == {"kind": "redirect", "status": 301, "target": "http://api.example.com/v1/x"}

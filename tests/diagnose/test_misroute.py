"""diagnose.misroute offline: each cause on a small config, and the incident example's typo
(examples/incident/after: the API vhost's ServerName lost a letter, so nothing names
api.example.com and the catch-all answers). The live tests confirm each cause on apache2
(test_doctor_misroute_causes_live.py)."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from vhostguard.cli import main
from vhostguard.config import LoadOptions, load
from vhostguard.diagnose.misroute import Misroute, find_misroute
from vhostguard.model import build_model

AFTER = Path(__file__).resolve().parents[2] / "examples" / "incident" / "after"


def line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_servername_typo_is_the_misroute_of_the_incident() -> None:
    result = CliRunner().invoke(main, ["doctor", "-f", str(AFTER / "apache2.conf"), "--offline", "--json",
                                       "--url", "http://api.example.com/v1/users/42"])
    assert result.exit_code == 1, result.stderr
    (found,) = [f for f in json.loads(result.stdout)["findings"] if f["check"] == "routing"]
    api, default = AFTER / "sites-enabled/api.conf", AFTER / "sites-enabled/000-default.conf"
    assert found["kind"] == "host-misrouted" and found["severity"] == "warning"
    assert found["vhost"] == f"{default}:{line_of(default, '<VirtualHost')}"
    assert found["expected_vhost"] == f"{api}:{line_of(api, '<VirtualHost')}"
    typo = {"name": "ServerName", "file": str(api), "line": line_of(api, "api.exmaple.com")}
    assert found["directives"][-1] == typo
    assert f"correct ServerName api.exmaple.com at {api}:{typo['line']} to api.example.com" in found["cause"]


def test_a_host_far_from_every_name_is_no_typo() -> None:
    result = CliRunner().invoke(main, ["doctor", "-f", str(AFTER / "apache2.conf"), "--offline", "--json",
                                       "--url", "http://shop.example.org/"])
    assert [f for f in json.loads(result.stdout)["findings"] if f["check"] == "routing"] == []


def misroute(conf: Path, host: str, port: int = 80, local_ip: str | None = "127.0.0.1") -> Misroute | None:
    model = build_model(load(str(conf), LoadOptions()))
    return find_misroute(model, model.match(local_ip, port, host), port)


VHOST = "<VirtualHost {address}>\n    {names}\n</VirtualHost>\n"


def vhost(address: str, *names: str) -> str:
    return VHOST.format(address=address, names="\n    ".join(names) or "DocumentRoot /srv")


@pytest.mark.parametrize(("layout", "host", "cause"), [
    # an earlier wildcard alias, the seed
    ([vhost("*:80", "ServerName www.example.test", "ServerAlias *.example.test"), vhost("*:80", "ServerName api.example.test")],
     "api.example.test", "earlier-name"),
    # an IP vhost hides the * ones for connections to its address
    ([vhost("127.0.0.1:80", "ServerName status.internal"), vhost("*:80", "ServerName api.example.test")],
     "api.example.test", "ip-vhost"),
    # the API vhost is on another port
    ([vhost("*:80", "ServerName www.example.test"), vhost("*:8080", "ServerName api.example.test")],
     "api.example.test", "other-address"),
    # no ServerName: the first vhost inherits the main server's, www.example.test
    ([vhost("*:80"), vhost("*:80", "ServerName www.example.test")], "www.example.test", "inherited-name"),
    # no ServerName on the vhost meant for the Host: nothing names it
    ([vhost("*:80", "ServerName www.example.test"), vhost("*:80")], "api.example.test", "no-servername"),
    # one letter off
    ([vhost("*:80", "ServerName www.example.test"), vhost("*:80", "ServerName api.exmaple.test")],
     "api.example.test", "near-name"),
])
def test_each_cause_names_both_vhosts(write: Callable[..., Path], layout: list[str], host: str, cause: str) -> None:
    """The first vhost of each layout answers; the second is the one meant for the Host."""
    conf = write("httpd.conf", "ServerName www.example.test\nListen 80\nListen 8080\n" + "".join(layout))
    found = misroute(conf, host)
    assert found is not None and found.cause == cause
    first, second = [n for n, line in enumerate(conf.read_text().splitlines(), 1) if line.startswith("<VirtualHost")]
    assert (found.captor.id, found.owner.id) == (f"{conf}:{first}", f"{conf}:{second}")
    assert found.deciding and found.fix


@pytest.mark.parametrize("host", ["www.example.test", "api.example.test", "shop.example.org"])
def test_no_misroute_when_the_host_reaches_its_vhost_or_nobody_claims_it(write: Callable[..., Path], host: str) -> None:
    conf = write("httpd.conf", "Listen 80\n" + vhost("*:80", "ServerName www.example.test")
                 + vhost("*:80", "ServerName api.example.test"))
    assert misroute(conf, host) is None

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from tests.support.apache import needs_apache
from vhostguard.cli import main

pytest_plugins = ["pytester"]
Write = Callable[..., Path]
EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "api-stack"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    target = tmp_path / "stack"
    shutil.copytree(EXAMPLE_DIR, target, symlinks=True)
    return target


def test_example_expectations_pass_offline() -> None:
    code, out, _ = run("test", str(EXAMPLE_DIR / "vhostguard.yaml"))
    assert code == 0, out
    assert out.strip().endswith("4 passed, 0 failed (offline)")


def test_failure_shows_expected_and_actual_exit_1(stack: Path) -> None:
    (stack / "cases.yaml").write_text(
        "config: apache2.conf\ncases:\n"
        "  - name: api goes to the new backend\n    url: http://api.example.com/v1/x\n"
        "    expect: {kind: proxy, target: 'http://127.0.0.1:6000/v1/x'}\n"
        "  - url: http://www.example.com/api/y\n    expect: {status: 301}\n"
    )
    code, out, _ = run("test", str(stack / "cases.yaml"))
    assert code == 1
    assert f"FAIL api goes to the new backend  [{stack / 'cases.yaml'}:3]" in out
    assert "- expected target: http://127.0.0.1:6000/v1/x" in out
    assert "+ actual   target: http://127.0.0.1:5000/v1/x" in out
    assert "PASS http://www.example.com/api/y" in out
    assert out.strip().endswith("1 passed, 1 failed (offline)")


def test_json_and_junit(stack: Path, tmp_path: Path) -> None:
    cases = stack / "vhostguard.yaml"
    junit = tmp_path / "junit.xml"
    code, out, _ = run("test", str(cases), "--json", "--junit", str(junit))
    doc = json.loads(out)
    assert code == 0 and doc["schema"] == 1 and doc["summary"] == {"passed": 4, "failed": 0}
    assert doc["cases"][0]["actual"]["kind"] == "proxy"
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "4" and suite.get("failures") == "0"


def test_bad_expectations_are_one_line_exit_2(stack: Path) -> None:
    (stack / "bad.yaml").write_text("config: apache2.conf\ncases:\n  - url: http://x/\n    expect: {colour: red}\n")
    code, _, err = run("test", str(stack / "bad.yaml"))
    assert code == 2 and err.startswith(f"vhostguard: {stack / 'bad.yaml'}:3: ")
    (stack / "broken.yaml").write_text("cases: [\n")
    code, _, err = run("test", str(stack / "broken.yaml"))
    assert code == 2 and "invalid YAML" in err and len(err.strip().splitlines()) == 1


def test_generate_round_trip(stack: Path) -> None:
    code, out, _ = run("test", "-f", str(stack / "apache2.conf"), "--generate", "--url", "http://api.example.com/v1/a",
                       "--url", "http://nobody.example/")
    assert code == 0
    generated = stack / "generated.yaml"
    generated.write_text(out)
    code, out, _ = run("test", str(generated), "-f", str(stack / "apache2.conf"))
    assert code == 0 and "2 passed, 0 failed" in out


def test_changed_config_fails_expectations(stack: Path) -> None:
    api = stack / "sites-enabled" / "api.conf"
    api.write_text(api.read_text().replace("ServerName api.example.com", "ServerName api.example.org"))
    code, out, _ = run("test", str(stack / "vhostguard.yaml"))
    assert code == 1
    assert "+ actual   vhost: default.invalid" in out


def test_pytest_plugin_collects_yaml(pytester: pytest.Pytester, stack: Path) -> None:
    (stack / "vhostguard-routing.yaml").write_text((stack / "vhostguard.yaml").read_text())
    (stack / "vhostguard-wrong.yaml").write_text(
        "config: apache2.conf\ncases:\n  - name: wrong\n    url: http://api.example.com/v1/x\n    expect: {kind: redirect}\n"
    )
    for item in stack.iterdir():
        target = pytester.path / item.name
        if item.is_dir():
            shutil.copytree(item, target, symlinks=True)
        else:
            shutil.copy(item, target)
    result = pytester.runpytest_subprocess("-q", "-p", "no:randomly", "vhostguard-routing.yaml", "vhostguard-wrong.yaml")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(["*- expected kind: redirect*", "*+ actual   kind: proxy*"])


@pytest.mark.httpd
@needs_apache
def test_live_mode_against_real_apache(stack: Path) -> None:
    code, out, _ = run("test", str(stack / "vhostguard.yaml"), "--live")
    assert code == 0, out
    assert out.strip().endswith("4 passed, 0 failed (live)")
    api = stack / "sites-enabled" / "api.conf"
    api.write_text(api.read_text().replace("ServerName api.example.com", "ServerName api.example.org"))
    code, out, _ = run("test", str(stack / "vhostguard.yaml"), "--live")
    assert code == 1 and "FAIL the users API reaches the API backend" in out


def test_generate_from_log_most_common_routes() -> None:
    incident = EXAMPLE_DIR.parent / "incident"
    code, out, _ = run("test", "--generate", "-f", str(incident / "before/apache2.conf"),
                       "--from-log", str(incident / "access.log"), "--top", "3")
    assert code == 0
    import yaml

    cases = yaml.safe_load(out)["cases"]
    assert len(cases) == 3
    # Count routes independently of vhostguard: the Host field and the path with ids blanked.
    import re
    from collections import Counter

    def route(host: str, target: str) -> tuple[str, str]:
        path = target.partition("?")[0]
        return host, "/".join("{id}" if re.fullmatch(r"[0-9]+|[0-9a-f-]{36}", seg) else seg for seg in path.split("/"))

    lines = (incident / "access.log").read_text().splitlines()
    counted = Counter(route(line.rsplit('"', 2)[1], line.split('"')[1].split(" ")[1]) for line in lines if line.endswith('"'))
    expected = [r for r, _ in sorted(counted.items(), key=lambda item: -item[1])[:3]]
    generated = [route(c["url"].split("/")[2], "/" + c["url"].split("/", 3)[3]) for c in cases]
    assert generated == expected
    assert all(case["expect"]["kind"] for case in cases)
    code, _, err = run("test", "--generate", "-f", str(incident / "before/apache2.conf"))
    assert code == 2 and "--generate needs requests" in err

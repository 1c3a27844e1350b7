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
    assert code == 2 and err.startswith(f"vhostguard: {stack / 'bad.yaml'}:4: ")  # the line of the unknown key
    (stack / "broken.yaml").write_text("cases: [\n")
    code, _, err = run("test", str(stack / "broken.yaml"))
    assert code == 2 and "not valid YAML" in err and len(err.strip().splitlines()) == 1


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


def one_line_error(code: int, out: str, err: str) -> str:
    assert code == 2, (out, err)
    assert out == "" and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


CASE = "config: apache2.conf\ncases:\n  - name: api\n    url: http://api.example.com/v1/x\n"


@pytest.mark.parametrize(("tail", "line", "words"), [
    ("    colour: red\n    expect: {kind: proxy}\n", 3, "unknown key colour; use expect, headers"),
    ("    expect: {colour: red, size: 2}\n", 5, "unknown keys colour, size; 'expect' must map"),
    ("    expect: {status: ok}\n", 5, "'status' must be an HTTP status code (100-599), not 'ok'"),
    ("    expect:\n      status: null\n", 6, "'status' must be an HTTP status code (100-599), not None"),
    ("    expect: {status: 2000}\n", 5, "'status' must be an HTTP status code"),
    ("    expect: {status: true}\n", 5, "'status' must be an HTTP status code"),
    ("    expect: {kind: proxied}\n", 5, "'kind' must be one of proxy, redirect"),
    ("    expect: {vhost: [a, b]}\n", 5, "'vhost' must be a ServerName"),
    ("    expect: {target: {a: 1}}\n", 5, "'target' must be a URL"),
    ("    expect: {? [status, kind] : 200}\n", 5, "a mapping key must be a plain value"),
    ("    ? [x, y]\n    : 1\n    expect: {kind: proxy}\n", 5, "a mapping key must be a plain value"),
    ("    expect: {kind: !outcome proxy}\n", 5, "the tag '!outcome' is not allowed"),
    ("    headers: !!python/object/apply:os.getcwd []\n    expect: {kind: proxy}\n", 5, "is not allowed"),
    ("    local_ip: not-an-ip\n    expect: {kind: proxy}\n", 5, "'local_ip' 'not-an-ip' is not an IP address"),
    ("    remote_ip: 10.0.0.300\n    expect: {kind: proxy}\n", 5, "'remote_ip' '10.0.0.300' is not an IP address"),
    ("    no_host: maybe\n    expect: {kind: proxy}\n", 5, "'no_host' must be true or false"),
    ("    method: [GET]\n    expect: {kind: proxy}\n", 5, "'method' must be an HTTP method"),
    ("    expect: {kind: proxy}\n  - url: 'http://[bad/'\n    expect: {kind: proxy}\n", 6,
     "http://[bad/: not a valid URL"),
])
def test_bad_case_fields_exit_2_with_file_line(stack: Path, tail: str, line: int, words: str) -> None:
    cases = stack / "cases.yaml"
    cases.write_text(CASE + tail)
    message = one_line_error(*run("test", str(cases)))
    assert message.startswith(f"vhostguard: {cases}:{line}: "), message
    assert words in message


def test_billion_laughs_is_refused_quickly(stack: Path) -> None:
    levels = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    levels += [f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 9) + "]" for n in range(1, 6)]
    cases = stack / "cases.yaml"
    # A name that repeats 9^5 "lol"s when written out; the real bomb (9 levels) is in tests/test_yamlload.py.
    cases.write_text("\n".join(levels) + "\n" + CASE + "    expect: {kind: proxy, target: *l5}\n")
    message = one_line_error(*run("test", str(cases)))
    assert message.startswith(f"vhostguard: {cases}: aliases repeat ")


def test_junit_in_missing_directory_fails_before_the_work(stack: Path, tmp_path: Path) -> None:
    junit = tmp_path / "missing" / "junit.xml"
    message = one_line_error(*run("test", str(stack / "vhostguard.yaml"), "--junit", str(junit)))
    assert message == f"vhostguard: --junit {junit}: no such directory {junit.parent}; create it first"
    # Before the work: not even the expectations file is read.
    message = one_line_error(*run("test", str(stack / "missing.yaml"), "--junit", str(junit)))
    assert "--junit" in message


def test_local_ip_option_is_checked_on_test_too(stack: Path) -> None:
    cases = stack / "cases.yaml"
    cases.write_text(CASE + "    local_ip: '::1'\n    expect: {kind: proxy}\n")
    code, out, _ = run("test", str(cases))
    assert code == 0 and "1 passed" in out


def test_quoted_status_is_still_a_number(stack: Path) -> None:
    cases = stack / "cases.yaml"
    cases.write_text("config: apache2.conf\ncases:\n  - url: http://www.example.com/api/users\n    expect: {status: '301'}\n")
    code, out, _ = run("test", str(cases))
    assert code == 0 and "1 passed" in out


def test_no_python_none_in_failures(stack: Path) -> None:
    cases = stack / "cases.yaml"
    cases.write_text(
        "config: apache2.conf\ncases:\n"
        "  - url: http://www.example.com/private\n    expect: {kind: proxy, target: http://127.0.0.1:5000/x}\n"
        "  - url: http://api.example.com/v1/x\n    expect: {kind: forbidden, target: null}\n"
    )
    code, out, _ = run("test", str(cases))
    assert code == 1
    assert "None" not in out and "True" not in out
    assert "+ actual   target: (none)" in out and "- expected target: (none)" in out


@pytest.mark.parametrize(("content", "words"), [
    ("# nothing but a comment\n\n", "--urls {path}: no URLs in it"),
    ("http://api.example.com/\n\nhttp://[bad/\n", "{path}:3: http://[bad/: not a valid URL"),
])
def test_generate_from_url_list_problems_exit_2(stack: Path, content: str, words: str) -> None:
    urls = stack / "urls.txt"
    urls.write_text(content)
    message = one_line_error(*run("test", "--generate", "-f", str(stack / "apache2.conf"), "--urls", str(urls)))
    assert words.format(path=urls) in message


def test_generate_from_log_without_requests_exit_2(stack: Path) -> None:
    log = stack / "access.log"
    log.write_text("not an access log line\n")
    message = one_line_error(*run("test", "--generate", "-f", str(stack / "apache2.conf"), "--from-log", str(log)))
    assert message.startswith(f"vhostguard: --from-log {log}: no requests to generate cases from (1 line read, 1 malformed")
    log.write_text("")
    message = one_line_error(*run("test", "--generate", "-f", str(stack / "apache2.conf"), "--from-log", str(log)))
    assert message.endswith("(the log is empty)")


def test_generate_with_bad_url_option_exit_2(stack: Path) -> None:
    message = one_line_error(*run("test", "--generate", "-f", str(stack / "apache2.conf"), "--url", "http://[bad/"))
    assert message == "vhostguard: --url: http://[bad/: not a valid URL (Invalid IPv6 URL)"


def test_case_with_bytes_that_are_not_utf8_in_its_path(stack: Path) -> None:
    cases = stack / "cases.yaml"
    cases.write_text("config: apache2.conf\ncases:\n"
                     "  - url: http://api.example.com/v1/%ff\n    expect: {kind: proxy, target: 'http://127.0.0.1:5000/v1/%FF'}\n"
                     "  - url: http://api.example.com/v1/%c0%af\n    expect: {target: 'http://127.0.0.1:5000/v1/%C0%AF'}\n")
    code, out, err = run("test", str(cases))
    assert code == 0, (out, err)
    assert out.strip().endswith("2 passed, 0 failed (offline)")


def test_cases_may_share_settings_through_merge_keys(stack: Path) -> None:
    cases = stack / "cases.yaml"
    cases.write_text("config: apache2.conf\nshared: &api {expect: {vhost: api.example.com, kind: proxy}}\ncases:\n"
                     "  - <<: *api\n    url: http://api.example.com/v1/a\n"
                     "  - <<: *api\n    url: http://www.example.com/v1/b\n")
    code, out, _ = run("test", str(cases))
    assert code == 1
    assert "PASS http://api.example.com/v1/a" in out and "FAIL http://www.example.com/v1/b  [" in out

"""Output safety across the CLI (issue 17.2, 17.16, 17.17).

Each command runs as a real process (``python -m vhostguard``) with stdout and
stderr on pipes (no TTY) and a UTF-8 locale, so the bytes checked are the bytes
a terminal or a JSON reader would get.
"""
from __future__ import annotations

import json
import os
import re
import resource
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

ESC, BEL = "\x1b", "\x07"
OSC52 = f"{ESC}]52;c;ZXZpbA=={BEL}"  # "set the clipboard to 'evil'"
FORMAT = '%v %h %l %u %t "%r" %>s %b "%{Host}i"'

# Bytes a terminal must never receive raw from us: C0 but \t and \n, DEL; C1 as UTF-8 (0xC2 0x80-0x9F).
_RAW_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")


def vg(*args: str, cwd: Path | None = None, limit_file_size: int | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "LC_ALL": "C.UTF-8", "COLUMNS": "200"}
    env.pop("PYTHONIOENCODING", None)

    def limits() -> None:
        if limit_file_size is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))

    return subprocess.run([sys.executable, "-m", "vhostguard", *args], capture_output=True, env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL, timeout=120, check=False, preexec_fn=limits)


def assert_terminal_safe(data: bytes, where: str) -> str:
    raw = _RAW_CONTROL.search(data)
    assert raw is None, f"{where}: raw control {raw.group()!r} in {data[max(0, raw.start() - 40):raw.end() + 40]!r}"
    return data.decode("utf-8")  # strict: no undecodable byte either


# --- fixtures ---------------------------------------------------------------------------------------------


def _hostile_config(root: Path, log: Path, *, moved: bool = False) -> Path:
    """A config whose names and paths carry OSC 52, CSI, a C1 CSI, rich markup and a byte that is not UTF-8."""
    text = (
        "Listen 80\n"  # the logs record no port: replayed requests come to port 80
        f'LogFormat "{FORMAT.replace(chr(34), chr(92) + chr(34))}" hostile\n'
        "<VirtualHost *:80>\n"
        f"  ServerName evil{OSC52}.example\n"
        "  ServerAlias c1\u009b31m.example [link=http://x.invalid/]click[/link].example\n"
        f"  DocumentRoot /srv/{'new' if moved else 'www'}{ESC}[2J\n"
        f"  CustomLog {log} hostile\n"
        "</VirtualHost>\n"
    )
    path = root / ("new.conf" if moved else "httpd.conf")
    path.write_bytes(text.encode("utf-8").replace(b"c1", b"\xffc1", 1))
    return path


def _hostile_log(path: Path, lines: int = 30) -> Path:
    """A log as httpd writes it: %v raw (from the config), the request and Host escaped (``\\x1b``)."""
    rows = []
    for second in range(lines):
        # httpd answers 400 to a Host with control characters (so does our routing): half the
        # lines have one, the other half reach the vhost and show up in diff's examples.
        host = "h\\x1b[31m.example" if second % 2 else "evil.example"
        rows.append(f"evil{OSC52}.example 10.0.0.1 - - [04/Dec/2026:01:00:{second:02d} +0000] "
                    f'"GET /p\\x1b]52;c;Zm9v\\x07/\\xc2\\x9b31m HTTP/1.1" 500 5 "{host}"\n')
    rows.append(f"not a log line {OSC52}\n")
    path.write_text("".join(rows), encoding="utf-8")
    return path


@pytest.fixture
def hostile(tmp_path: Path) -> dict[str, Path]:
    log = _hostile_log(tmp_path / "access.log")
    return {"root": tmp_path, "log": log, "conf": _hostile_config(tmp_path, log),
            "new": _hostile_config(tmp_path, log, moved=True)}


# --- 17.16: no raw control character reaches the terminal ---------------------------------------------------


def _text_commands(h: dict[str, Path]) -> dict[str, list[str]]:
    conf, log = str(h["conf"]), str(h["log"])
    return {
        "vhosts": ["vhosts", "-f", conf],
        "dump": ["dump", "-f", conf],
        "route": ["route", "-f", conf, "http://evil.example/x", "--header", f"X-A: {OSC52}"],
        "explain": ["explain", "-f", conf, "http://evil.example/x"],
        "lint": ["lint", "-f", conf],
        "diff": ["diff", conf, str(h["new"]), "--requests", log],
        "report": ["report", log, "--log-format", FORMAT],
        "logs": ["logs", log, "--log-format", FORMAT],
        "watch": ["watch", log, "--log-format", FORMAT, "--from-start", "--once", "--metrics-addr", "off",
                  "--state", str(h["root"] / "state")],
    }


@pytest.mark.parametrize("name", ["vhosts", "dump", "route", "explain", "lint", "diff", "report", "logs", "watch"])
def test_hostile_names_never_reach_the_terminal_raw(hostile: dict[str, Path], name: str) -> None:
    result = vg(*_text_commands(hostile)[name])
    assert "Traceback" not in result.stderr.decode("utf-8", "replace")
    out = assert_terminal_safe(result.stdout, f"{name} stdout")
    err = assert_terminal_safe(result.stderr, f"{name} stderr")
    shown = out + err
    # Escaped, not dropped: the reader sees what the config or the log holds.
    if name in ("vhosts", "dump", "route", "explain", "lint", "diff", "watch", "report"):
        assert "evil\\x1b]52;c;ZXZpbA==" in shown
    if name in ("dump", "explain"):
        assert "/srv/www\\x1b[2J" in shown
    if name == "dump":
        assert "\\xffc1\\u009b31m.example" in shown  # the byte that is not UTF-8, and the C1 CSI
    if name in ("diff", "report"):
        # (report's table may shorten the end of a long name to fit the terminal)
        assert "/p\\x1b]52;c;Zm9" in shown
    if name == "watch":
        assert "FIRING" in out


def test_rich_markup_in_a_logged_name_prints_as_itself(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(f'[link=http://x.invalid/]v[/link] 10.0.0.1 - - [04/Dec/2026:01:00:{s:02d} +0000] '
                           f'"GET /[bold]x[/bold] HTTP/1.1" 200 5 "-"\n' for s in range(3)))
    result = vg("report", str(log), "--log-format", FORMAT)
    out = assert_terminal_safe(result.stdout, "report")
    assert "[link=http://x.invalid/]v[/link]" in out and "/[bold]x[/bold]" in out


def test_a_config_error_message_is_escaped(tmp_path: Path) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text(f"Listen 80\nInclude /nonexistent/{OSC52}.conf\n")
    result = vg("vhosts", "-f", str(conf))
    assert result.returncode == 2
    err = assert_terminal_safe(result.stderr, "stderr")
    assert err.startswith(f"{conf}:2: ") and "/nonexistent/\\x1b]52;c;ZXZpbA==\\x07.conf" in err
    assert len(err.strip().splitlines()) == 1


def test_escaping_follows_httpd_and_keeps_newline_and_tab() -> None:
    from vhostguard.safetext import terminal_text

    assert terminal_text("a\tb\nc") == "a\tb\nc"
    assert terminal_text(f"{OSC52}\r\b\v\x7f") == "\\x1b]52;c;ZXZpbA==\\x07\\r\\b\\v\\x7f"
    assert terminal_text("\u009b\udcff\ud800é") == "\\u009b\\xff\\ud800é"
    same = "plain text"
    assert terminal_text(same) is same


def test_rich_colours_survive_on_a_terminal_while_the_text_is_escaped() -> None:
    import io

    from rich.table import Table
    from rich.text import Text

    from vhostguard.cli.output import TerminalGuard, console

    buffer = io.StringIO()
    table = Table()
    table.add_column("vhost")
    table.add_row(Text(f"evil{OSC52}", style="bold red"))
    console(TerminalGuard(buffer), force_terminal=True, width=80).print(table)
    printed = buffer.getvalue()
    assert "\x1b[1;31m" in printed  # rich's own colour, on the real stream
    assert "evil\\x1b]52;c;ZXZpbA==" in printed and "\x1b]52" not in printed


# --- 17.17: JSON is valid UTF-8, and undecodable bytes survive as \udcXX -------------------------------------


@pytest.fixture
def undecodable(tmp_path: Path) -> dict[str, Path]:
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(b"caf\xe9.example 10.0.0.1 - us\xfer [04/Dec/2026:01:00:%02d +0000] "
                             b'"GET /p\xff\\xc2\\x9b31m HTTP/1.1" 500 5 "x.example"\n' % s for s in range(30))
                    + b"malformed \xff\xc2\x9b\x1b]52;c;Zm9v\x07\n")
    conf = tmp_path / "httpd.conf"
    conf.write_bytes(b"Listen 80\n<VirtualHost *:80>\n  ServerName caf\xe9.example\n"
                     b"  DocumentRoot /srv/\xff\xfe\n</VirtualHost>\n")
    new = tmp_path / "new.conf"
    new.write_bytes(conf.read_bytes().replace(b"/srv/", b"/srv/new/"))
    cases = tmp_path / "cases.yaml"
    cases.write_text("config: httpd.conf\ncases:\n  - url: http://x.example/a\n    expect: {status: 404}\n")
    urls = tmp_path / "urls.txt"
    urls.write_text("http://x.example/a\n")
    return {"root": tmp_path, "log": log, "conf": conf, "new": new, "cases": cases, "urls": urls}


def _strings(value: Any) -> Any:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _strict_json(data: bytes, where: str) -> Any:
    assert _RAW_CONTROL.search(data) is None, where  # C1 (U+009B: CSI) from the log escaped too
    return json.loads(data.decode("utf-8"))  # strict UTF-8, then JSON


def test_vhosts_json_is_utf8_and_keeps_the_undecodable_bytes(undecodable: dict[str, Path]) -> None:
    result = vg("vhosts", "-f", str(undecodable["conf"]), "--json")
    assert result.returncode == 0, result.stderr
    assert b"\\udce9" in result.stdout  # the JSON escape, not a raw byte
    document = _strict_json(result.stdout, "vhosts")
    (vhost,) = document["vhosts"].values()
    assert vhost["server_name"].encode("utf-8", "surrogateescape") == b"caf\xe9.example"


@pytest.mark.parametrize("name", ["route", "explain", "lint-json", "lint-sarif", "diff", "report", "test"])
def test_every_json_output_is_strict_utf8(undecodable: dict[str, Path], name: str) -> None:
    conf, log = str(undecodable["conf"]), str(undecodable["log"])
    args = {
        "route": ["route", "-f", conf, "http://x.example/a", "--json"],
        "explain": ["explain", "-f", conf, "http://x.example/a", "--json"],
        "lint-json": ["lint", "-f", conf, "--format", "json"],
        "lint-sarif": ["lint", "-f", conf, "--format", "sarif"],
        "diff": ["diff", conf, str(undecodable["new"]), "--requests", str(undecodable["urls"]), "--json"],
        "report": ["report", log, "--log-format", FORMAT, "--json"],
        "test": ["test", str(undecodable["cases"]), "--json"],
    }[name]
    result = vg(*args)
    assert "Traceback" not in result.stderr.decode("utf-8", "replace")
    document = _strict_json(result.stdout, name)
    assert document
    if name in ("route", "explain", "diff"):
        # Not lost: as \udce9 (our JSON rule), or as the text \xe9 where a reporter already wrote it so.
        texts = set(_strings(document))
        assert "caf\udce9.example" in texts or "caf\\xe9.example" in texts
    if name == "lint-json":
        assert any("\udcff\udcfe" in finding["message"] for finding in document["findings"])


def test_logs_jsonl_and_watch_alerts_jsonl_are_strict_utf8(undecodable: dict[str, Path]) -> None:
    log = str(undecodable["log"])
    result = vg("logs", log, "--log-format", FORMAT, "--jsonl")
    records = [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]
    assert len(records) == 30 and records[0]["path"].startswith("/p")
    assert _RAW_CONTROL.search(result.stdout) is None
    # the malformed line, as JSON on stderr, then the human summary
    assert _RAW_CONTROL.search(result.stderr) is None
    malformed = json.loads(result.stderr.decode("utf-8").splitlines()[0])
    assert malformed["line"] == 31
    alerts = undecodable["root"] / "alerts.jsonl"
    result = vg("watch", log, "--log-format", FORMAT, "--from-start", "--once", "--metrics-addr", "off",
                "--state", str(undecodable["root"] / "state"), "--alerts-jsonl", str(alerts), "-q")
    assert result.returncode == 0, result.stderr
    assert _RAW_CONTROL.search(alerts.read_bytes()) is None
    lines = alerts.read_bytes().decode("utf-8").splitlines()
    assert lines and all(json.loads(line)["vhost"] for line in lines)


def test_json_safe_escapes_only_what_json_leaves_raw() -> None:
    from vhostguard.safetext import json_dumps, json_safe_bytes

    value = {"k\udcff": "a\x7f\u009b\udce9é\x1b"}
    text = json_dumps(value)
    assert text == '{"k\\udcff":"a\\u007f\\u009b\\udce9é\\u001b"}'
    assert json.loads(text.encode("utf-8").decode("utf-8")) == value
    assert json_safe_bytes('"\u009b\x7fé"'.encode()) == b'"\\u009b\\u007f\xc3\xa9"'


# --- 17.2: output paths ----------------------------------------------------------------------------------


@pytest.fixture
def small_log(tmp_path: Path) -> Path:
    log = tmp_path / "access.log"
    log.write_text("".join(f'v.example 10.0.0.1 - - [04/Dec/2026:01:00:{s:02d} +0000] "GET /a HTTP/1.1" 200 5 "-"\n'
                           for s in range(5)))
    return log


def _report_html(log: Path, target: str, **options: Any) -> subprocess.CompletedProcess[bytes]:
    return vg("report", str(log), "--log-format", FORMAT, "--html", target, **options)


def test_html_through_a_symlink_writes_its_target_and_keeps_the_link(small_log: Path, tmp_path: Path) -> None:
    real = tmp_path / "pages" / "real.html"
    real.parent.mkdir()
    real.write_text("old page")
    real.chmod(0o640)
    link = tmp_path / "link.html"
    link.symlink_to(real)
    result = _report_html(small_log, str(link))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert "<html" in real.read_text().lower()
    assert stat.S_IMODE(real.stat().st_mode) == 0o640  # a replaced file keeps its permissions
    assert sorted(p.name for p in real.parent.iterdir()) == ["real.html"]  # no temp file left


def test_html_to_a_fifo_writes_into_it_and_never_replaces_it(small_log: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "page.fifo"
    os.mkfifo(fifo)
    link = tmp_path / "fifo-link"
    link.symlink_to(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = _report_html(small_log, str(link))
    if reader.is_alive():  # nobody wrote into the FIFO: let the reader go
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    reader.join(10)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and stat.S_ISFIFO(fifo.lstat().st_mode)
    assert received and b"<html" in received[0].lower()


def test_html_to_a_character_device_writes_it(small_log: Path, tmp_path: Path) -> None:
    link = tmp_path / "null"
    link.symlink_to("/dev/null")
    result = _report_html(small_log, str(link))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_html_dash_and_a_descriptor_alias_go_to_stdout(small_log: Path, tmp_path: Path) -> None:
    result = _report_html(small_log, "-", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "-").exists()
    assert b"<html" in result.stdout.lower() and b"Top 20 endpoints" in result.stdout
    alias = tmp_path / "stdout"  # as /dev/stdout is, without touching the real one
    alias.symlink_to("/proc/self/fd/1")
    result = _report_html(small_log, str(alias))
    assert result.returncode == 0, result.stderr
    assert alias.is_symlink() and os.readlink(alias) == "/proc/self/fd/1"
    assert b"<html" in result.stdout.lower()


@pytest.mark.parametrize("problem", ["missing-directory", "directory", "read-only-directory"])
def test_a_bad_junit_path_fails_at_start(tmp_path: Path, problem: str) -> None:
    conf = tmp_path / "httpd.conf"
    conf.write_text("Listen 127.0.0.1:8080\n<VirtualHost *:8080>\n  ServerName a.example\n</VirtualHost>\n")
    cases = tmp_path / "cases.yaml"
    cases.write_text("config: httpd.conf\ncases:\n  - url: http://a.example:8080/\n    expect: {status: 404}\n")
    target = {"missing-directory": tmp_path / "nowhere" / "junit.xml", "directory": tmp_path,
              "read-only-directory": tmp_path / "ro" / "junit.xml"}[problem]
    if problem == "read-only-directory":
        if os.geteuid() == 0:
            pytest.skip("root writes anywhere")
        target.parent.mkdir(mode=0o500)
    result = vg("test", str(cases), "--junit", str(target))
    err = result.stderr.decode()
    assert result.returncode == 2 and result.stdout == b"", err
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"vhostguard: --junit {target}: "), err


def test_junit_with_a_hostile_url_is_well_formed_xml(hostile: dict[str, Path]) -> None:
    from xml.etree import ElementTree

    cases = hostile["root"] / "cases.yaml"
    # A URL as `test --generate --from-log` copies it from a log (YAML's "\\e" is ESC, "\\a" BEL).
    cases.write_text('config: httpd.conf\ncases:\n  - url: "http://evil.example/a\\e]52;c;Zm9v\\a"\n'
                     "    expect: {vhost: other.example}\n")
    junit = hostile["root"] / "junit.xml"
    result = vg("test", str(cases), "--junit", str(junit))
    assert result.returncode == 1, result.stderr
    failure = ElementTree.parse(junit).getroot().find("testsuite/testcase/failure")
    assert failure is not None and "/a\\x1b]52;c;Zm9v\\x07" in (failure.text or "")


def test_a_failed_junit_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    conf = tmp_path / "httpd.conf"
    conf.write_text("Listen 127.0.0.1:8080\n<VirtualHost *:8080>\n  ServerName a.example\n</VirtualHost>\n")
    cases = tmp_path / "cases.yaml"
    cases.write_text("config: httpd.conf\ncases:\n" + "".join(
        f"  - url: http://a.example:8080/{n}\n    expect: {{status: 404}}\n" for n in range(20)))
    junit = tmp_path / "out" / "junit.xml"
    junit.parent.mkdir()
    junit.write_text("previous results")
    result = vg("test", str(cases), "--junit", str(junit), limit_file_size=200)  # the XML is larger: EFBIG
    err = result.stderr.decode()
    assert result.returncode == 2 and err.startswith(f"vhostguard: --junit {junit}: "), err
    assert "Traceback" not in err
    assert junit.read_text() == "previous results"
    assert sorted(p.name for p in junit.parent.iterdir()) == ["junit.xml"]


def test_a_bad_alerts_jsonl_path_fails_at_start(small_log: Path, tmp_path: Path) -> None:
    result = vg("watch", str(small_log), "--log-format", FORMAT, "--once", "--metrics-addr", "off",
                "--state", str(tmp_path / "state"), "--alerts-jsonl", str(tmp_path / "nowhere" / "a.jsonl"))
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert err.strip().splitlines() == [f"vhostguard: --alerts-jsonl {tmp_path / 'nowhere' / 'a.jsonl'}: No such directory"]
    assert not (tmp_path / "state").exists()  # before any work


def test_the_watch_checkpoint_behind_a_symlink_keeps_the_link(small_log: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    args = ("watch", str(small_log), "--log-format", FORMAT, "--from-start", "--once", "--metrics-addr", "off",
            "--state", str(state), "-q")
    assert vg(*args).returncode == 0
    (checkpoint,) = state.glob("watch-*.json")
    kept = tmp_path / "kept.json"
    kept.write_bytes(checkpoint.read_bytes())
    checkpoint.unlink()
    checkpoint.symlink_to(kept)
    with small_log.open("a") as handle:
        handle.write('v.example 10.0.0.1 - - [04/Dec/2026:01:01:00 +0000] "GET /b HTTP/1.1" 200 5 "-"\n')
    assert vg(*args).returncode == 0
    assert checkpoint.is_symlink()
    assert json.loads(kept.read_text())["version"] == 1
    assert sorted(p.name for p in state.iterdir() if not p.name.endswith(".lock")) == [checkpoint.name]


def test_a_pipe_whose_reader_left_is_a_broken_pipe_not_a_bad_path(tmp_path: Path) -> None:
    from vhostguard.outfile import write_file

    reader, writer = os.pipe()
    os.close(reader)
    try:
        with pytest.raises(BrokenPipeError):
            write_file(f"/dev/fd/{writer}", b"<html></html>")
    finally:
        os.close(writer)


def test_a_str_table_cell_is_not_read_as_markup() -> None:
    import io

    from rich.table import Table

    from vhostguard.cli.output import console

    buffer = io.StringIO()
    table = Table()
    table.add_column("endpoint")
    table.add_row("/[link=http://x.invalid/]a[/link]")
    console(buffer, force_terminal=True, width=80).print(table)
    assert "[link=http://x.invalid/]a[/link]" in buffer.getvalue() and "\x1b]8" not in buffer.getvalue()


def test_click_text_streams_keep_the_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import warnings

    import click

    from vhostguard.cli.output import TerminalGuard, guarded_output

    raw = io.BytesIO()
    # a C-locale stdout, as Python makes it: surrogateescape
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape"))
    with guarded_output(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        stream = click.get_text_stream("stdout")
        assert isinstance(stream, TerminalGuard)
        stream.write(f"evil{OSC52}\udcff\n")
        stream.flush()
    assert raw.getvalue() == b"evil\\x1b]52;c;ZXZpbA==\\x07\\xff\n"

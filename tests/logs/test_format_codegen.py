"""The generated parser code holds nothing of the format (it comes from a tree under audit), and edge formats.

A LogFormat is compiled to Python source; its text must enter that source
only as constants of the generated functions' globals, never as code, so a
format written to execute something executes nothing. Then a seeded
property test: random formats from hostile pieces, lines rendered as httpd
writes them, the split path and the regex path agreeing on every line.

``VHOSTGUARD_CODEGEN_SECONDS`` (default 3) and ``VHOSTGUARD_CODEGEN_SEED``
scale the property test up locally; a failure names the format and line.
"""
from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from vhostguard.cli.logs import logs
from vhostguard.cli.report import report
from vhostguard.logs import FormatError, LineError, compile_format, compile_rows

Write = Callable[..., Path]

SECONDS = float(os.environ.get("VHOSTGUARD_CODEGEN_SECONDS", "3"))
SEED = int(os.environ.get("VHOSTGUARD_CODEGEN_SEED", "20261204"))


def payload(canary: Path) -> str:
    return f'__import__("os").system("touch {canary}")'


# Literal text as a LogFormat writes it (format syntax: \\ is one backslash, %% one percent).
HOSTILE_LITERALS = ("'", '"', "'''", '"""', "\\\\", "\\\\'", "\\'", "{", "}", "{}", "\x00", "#", "\\t",
                    "' + '", '" + "', "');", "\u2028", "\x0c", "\x85", "%%", "é", ":", "-", " - ", "[", "]")


def literal_value(text: str) -> str:
    """What httpd writes for format literal ``text`` (parse_log_misc_string)."""
    return text.replace("\\\\", "\x01").replace("\\t", "\t").replace("%%", "%").replace("\x01", "\\")


def test_format_text_never_enters_the_source(tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"
    evil = payload(canary)
    formats = [evil, f"{evil} %h", f"%h {evil}", f'"{evil}" %h "%r"', f"%h{evil}%>s", f"%v{evil}%p",
               f"%{{{evil}}}i", f'%h "%{{{evil}}}i" %{{{evil}}}o', f"%{{{evil} %Y}}t %h", f"%{{{evil}}}e%{{x}}n",
               *(f"%h{lit}%u{lit}%>s {lit}" for lit in HOSTILE_LITERALS),
               *(f"%{{{lit}}}i %h" for lit in HOSTILE_LITERALS if "}" not in lit)]
    for fmt in formats:
        compiled = compile_format(fmt)
        assert evil not in compiled.source and "touch" not in compiled.source, fmt
        rows = compile_rows(fmt, compiled.all_keys)
        line = fmt.replace("%{" + evil + "}i", "v").replace("%h", "h").replace("%u", "u").replace("%>s", "200")
        for text in (line, "", "x", evil, '"' * 9):
            try:
                compiled.parse(text)
            except LineError:
                pass
            rows([text])
    assert not canary.exists()


@pytest.mark.parametrize(("fmt", "text"), [("%h ''' %>s", "'''"), ('%h "%{it\'s}i" %>s', "it's"),
                                           ("%h x'y\"z %>s", "x'y"), ("%v:%p{é}%h", "{é}")])
def test_format_text_is_a_global_of_the_code_not_its_text(fmt: str, text: str) -> None:
    source = compile_format(fmt).source
    assert text not in source and repr(text)[1:-1] not in source


def test_literal_only_formats_read_the_lines_httpd_writes() -> None:
    # mod_log_config accepts a format with no directive: each line is the literal.
    for fmt, written in (("vlog", "vlog"), ("   ", "   "), ("\t", "\t"), ("\\t", "\t"), ("%%", "%"),
                         ("a%%b", "a%b"), ('"', '"'), ('"x" y', '"x" y'), ("\\\\", "\\")):
        compiled = compile_format(fmt)
        assert compiled.parse(written) == {} == compiled.parse_regex(written)
        assert compile_rows(fmt, ("status",))([written, written + "x"]) == ([(None,)], [1])
        with pytest.raises(LineError):
            compiled.parse(written + "x")


def test_literal_around_a_field() -> None:
    assert compile_format("x%hx").parse("xhost.examplex") == {"remote_host": "host.example"}


@pytest.mark.parametrize("fmt", ["", "%", "%h %", "%{", "%{Referer", "%{x}", "%200", "%!", "%<"])
def test_formats_httpd_refuses(fmt: str) -> None:
    # apache2 -t: "Ran off end of LogFormat parsing args to some directive" (an empty one:
    # "LogFormat takes 1-2 arguments").
    with pytest.raises(FormatError):
        compile_format(fmt)


def _logs(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(logs, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(("fmt", "line"), [("vlog", "vlog"), ("   ", "   "), ("\t", "\t"), ("%%", "%"),
                                           ("x%hx", "xhx")])
def test_cli_literal_only_format(tmp_path: Path, fmt: str, line: str) -> None:
    log = tmp_path / "a.log"
    log.write_text(f"{line}\n")
    code, out, err = _logs("--log-format", fmt, str(log), "--jsonl")
    assert code == 0, err
    assert out.count("\n") == 1 and "internal error" not in err


@pytest.mark.parametrize("fmt", ["", "%", "%{", "%h %"])
def test_cli_refused_format_is_one_line_exit_2(tmp_path: Path, fmt: str) -> None:
    log = tmp_path / "a.log"
    log.write_text("x\n")
    code, _, err = _logs("--log-format", fmt, str(log))
    assert code == 2 and err.count("\n") == 1 and err.startswith("vhostguard: --log-format"), err


def _config_format(text: str) -> str:
    """``text`` as the quoted argument of a config directive (ap_getword_conf: \\" is a quote)."""
    return text.replace('"', '\\"')


def test_hostile_config_formats_and_nicknames(write: Write, tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"
    evil = payload(canary)
    (tmp_path / "logs").mkdir()
    pieces = [f"%h {evil} %>s", f'%h "%{{{evil}}}i" %>s', f"%{{{evil} %Y}}t %h %>s", f"{evil}",
              "%h ''' \"\"\" {} \\\\ %>s"]
    lines = ["10.0.0.1 " + evil + " 200", '10.0.0.1 "v" 200', evil + " 2024 10.0.0.1 200", evil,
             "10.0.0.1 ''' \"\"\" {} \\ 200"]
    config = [f'ServerRoot "{tmp_path}"']
    for n, (fmt, line) in enumerate(zip(pieces, lines, strict=True)):
        nick = f'{evil}{n}'
        config.append(f'LogFormat "{_config_format(fmt)}" "{_config_format(nick)}"')
        config.append(f'CustomLog logs/n{n}.log "{_config_format(nick)}"')
        (tmp_path / "logs" / f"n{n}.log").write_text(f"{line}\nnot a line\n")
    # a name that is no defined nickname is the format itself
    config.append(f'CustomLog logs/raw.log "{_config_format(evil)} %>s"')
    (tmp_path / "logs" / "raw.log").write_text(f"{evil} 404\n")
    conf = write("httpd.conf", "\n".join(config) + "\n")
    code, out, err = _logs("-f", str(conf), "--env-file", "", "--jsonl")
    assert code in (0, 1, 2) and "Traceback" not in err and "internal error" not in err, err
    assert out.count('"line"') == len(pieces) + 1  # every well-formed line was read
    result = CliRunner().invoke(report, ["-f", str(conf), "--env-file", ""])
    assert result.exit_code in (0, 1, 2) and "Traceback" not in result.stderr
    assert "internal error" not in result.stderr, result.stderr
    assert not canary.exists()


# --- the property test ------------------------------------------------------------------

def escape_logitem(text: str) -> str:
    """``text`` as ap_escape_logitem writes it (server/util.c): printable ASCII, \\" \\\\ and \\xhh."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\b\n\r\t\v":
            out.append({"\b": "\\b", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}[ch])
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def _text(rng: random.Random) -> str:
    return rng.choice(("-", "", "a", "curl/8.5.0", "a b", 'say "hi"', "back\\slash", "é😀", "\x00\x7f",
                       "tab\there", "x'y", "{}", '__import__("os")', "-1", "200", " ", "a:b", "[x]"))


def _clf_time(rng: random.Random) -> str:
    return (f"[{rng.randint(1, 28):02d}/{rng.choice(('Jan', 'Feb', 'Dec'))}/{rng.randint(1990, 2030)}:"
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} "
            f"{rng.choice('+-')}{rng.randint(0, 14):02d}{rng.choice(('00', '30'))}]")


def _number(rng: random.Random) -> str:
    return rng.choice((str(rng.randint(0, 99999)), "0", "-", "-5", "007"))


# directive -> how httpd renders a value for it
RENDER: dict[str, Callable[[random.Random], str]] = {
    "%h": lambda rng: escape_logitem(rng.choice(("10.0.0.1", "host.example", "::1", "-"))),
    "%a": lambda rng: rng.choice(("10.0.0.1", "::1")),
    "%l": lambda rng: "-",
    "%u": lambda rng: rng.choice(('""', "-")) if rng.random() < 0.3 else escape_logitem(_text(rng) or "u"),
    "%t": _clf_time,
    "%{sec}t": lambda rng: str(rng.randint(0, 2_000_000_000)),
    "%{%Y-%m-%d}t": lambda rng: f"{rng.randint(1990, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
    "%r": lambda rng: escape_logitem(rng.choice(("GET / HTTP/1.1", "POST /a?b=c HTTP/1.0", "GET /x y HTTP/1.1",
                                                 "-", "garbage", "GET /é HTTP/1.1", 'GET /"q" HTTP/1.1'))),
    "%>s": lambda rng: str(rng.choice((200, 404, 500))),
    "%s": lambda rng: str(rng.choice((200, 302))),
    "%b": _number,
    "%O": _number,
    "%D": lambda rng: rng.choice((str(rng.randint(0, 10**7)), "-")),
    "%{ms}T": lambda rng: str(rng.randint(0, 5000)),
    "%v": lambda rng: escape_logitem(rng.choice(("www.example.com", "-", "a b"))),
    "%p": lambda rng: str(rng.choice((80, 443))),
    "%q": lambda rng: rng.choice(("", "?a=b", "?" + escape_logitem(_text(rng)))),
    "%U": lambda rng: escape_logitem(rng.choice(("/", "/a b", "/é"))),
    "%m": lambda rng: rng.choice(("GET", "POST")),
    "%X": lambda rng: rng.choice("X+-"),
    "%{hextid}P": lambda rng: rng.choice(("7f3a", "0", "-")),
    "%{Referer}i": lambda rng: escape_logitem(_text(rng)),
    "%{User-Agent}i": lambda rng: escape_logitem(_text(rng)),
    '%{__import__("os")}i': lambda rng: escape_logitem(_text(rng)),
    "%{x'\"y}o": lambda rng: escape_logitem(_text(rng)),
}
LITERALS = (" ", " ", " ", '"', '" "', ":", " - ", "'", "'''", '"""', "\\\\", "{", "}", "\x00", "#", "[", "]",
            "%%", "é", '__import__("os").system("touch CANARY")', "\\t", "x")


def render(fmt_parts: list[str], rng: random.Random) -> str:
    return "".join(RENDER[p](rng) if p in RENDER else literal_value(p) for p in fmt_parts)


def random_case(rng: random.Random) -> tuple[str, list[str]]:
    parts = []
    for _ in range(rng.randint(1, 7)):
        if rng.random() < 0.6:
            parts.append(rng.choice(list(RENDER)))
        if rng.random() < 0.7:
            parts.append(rng.choice(LITERALS))
    parts = parts or ["x"]
    lines = [render(parts, rng) for _ in range(12)]
    lines += [line[:rng.randint(0, len(line))] for line in lines[:3]]  # truncated, as a crash leaves them
    lines += [lines[0] + rng.choice(('"', " ", "\\", "x")), ""]
    return "".join(parts), lines


def check_format(fmt: str, lines: list[str]) -> tuple[int, int]:
    """Parse ``lines`` by every path; returns (parsed, malformed). Fails on any disagreement."""
    try:
        compiled = compile_format(fmt)
    except FormatError:
        return 0, 0
    records: list[dict[str, Any] | None] = []
    for line in lines:
        try:
            fast: dict[str, Any] | None = compiled.parse(line)
        except LineError:
            fast = None
        try:
            slow: dict[str, Any] | None = compiled.parse_regex(line)
        except LineError:
            slow = None
        assert fast == slow, f"format {fmt!r}, line {line!r}: split path {fast!r}, regex path {slow!r}"
        records.append(fast)
    columns = compiled.all_keys
    if columns:  # limiting fields changes which values are built, never which lines are valid
        some = compile_format(fmt, columns[-1:])
        for line, record in zip(lines, records, strict=True):
            try:
                one: dict[str, Any] | None = some.parse(line)
            except LineError:
                one = None
            expected = None if record is None else {columns[-1]: record[columns[-1]]}
            assert one == expected, f"format {fmt!r}, line {line!r}: one field gives {one!r}, all {record!r}"
        rows, bad = compile_rows(fmt, columns[:1])(lines)
        assert bad == [i for i, r in enumerate(records) if r is None], f"format {fmt!r}: one column rows"
    rows, bad = compile_rows(fmt, columns)(lines)
    assert bad == [i for i, r in enumerate(records) if r is None], f"format {fmt!r}: rows rejected other lines"
    assert rows == [tuple(r.get(c) for c in columns) for r in records if r is not None], f"format {fmt!r}: rows"
    parsed = sum(r is not None for r in records)
    return parsed, len(lines) - parsed


def run_property(seconds: float, seed: int, limit: int | None = None) -> tuple[int, int, int]:
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    formats = parsed = malformed = 0
    while time.monotonic() < deadline and (limit is None or formats < limit):
        fmt, lines = random_case(rng)
        good, bad = check_format(fmt, lines)
        formats, parsed, malformed = formats + 1, parsed + good, malformed + bad
    return formats, parsed, malformed


def test_random_formats_split_and_regex_paths_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # where the payload among the literals would touch its CANARY
    formats, parsed, malformed = run_property(SECONDS, SEED)
    assert formats >= 20 and parsed > 0 and malformed > 0  # the run did test something
    assert not (tmp_path / "CANARY").exists()


@pytest.mark.parametrize("line", ['h "', "h x", 'h "a"', "h ?", "h -", "h "])
def test_query_split_path_checks_the_question_mark(line: str) -> None:
    # Found by the property test: the split path took any token as %q ("x" -> query "")
    # where the regex path (and httpd, which writes "" or "?args") takes only those.
    check_format("%h %q", [line])


def test_the_code_check_refuses_format_text_written_into_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    # The guard against a regression: were a literal written into the source as repr(),
    # the compiled code would hold the format's text and compiling would stop.
    from vhostguard.logs import format as module
    monkeypatch.setattr(module._Compiler, "const", lambda self, value: repr(value))
    with pytest.raises(RuntimeError, match="not ours"):
        compile_format("%h guard-check-literal %>s")


def test_the_code_check_takes_every_record_key_of_ours() -> None:
    # "status" filled from %s is a key no directive names (found by the property test).
    assert compile_format("%h %s").parse("a 200") == {"remote_host": "a", "original_status": 200, "status": 200}


@pytest.mark.parametrize("fmt", ["%h\\n%u", "%h\n%u", "\\n", "a\rb\\n"])
def test_a_format_writing_a_newline_is_refused(fmt: str) -> None:
    with pytest.raises(FormatError, match="newline"):
        compile_format(fmt)


@pytest.mark.parametrize("template", ["{evil}", "%h {evil} %>s", '%h "%{{{evil}}}i"', "%{{{evil} %Y}}t %h",
                                      "%{{{evil}}}C%{{{evil}}}n"])
def test_cli_hostile_log_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str) -> None:
    monkeypatch.chdir(tmp_path)
    evil = payload(tmp_path / "CANARY")
    log = tmp_path / "a.log"
    log.write_text(f'{evil}\n10.0.0.1 {evil} 200\n10.0.0.1 "v"\n{evil} 2024 h\n')
    code, _, err = _logs("--log-format", template.format(evil=evil), str(log), "--jsonl")
    assert code in (0, 1, 2) and "Traceback" not in err and "internal error" not in err, err
    assert not (tmp_path / "CANARY").exists()

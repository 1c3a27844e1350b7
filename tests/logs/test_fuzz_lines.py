"""A seeded, bounded fuzzer of access-log lines through ``logs --jsonl``, ``report --json`` and ``diff``.

Valid combined, common and custom-format lines are generated, then mutated
(escapes, quotes, control bytes, invalid UTF-8, huge fields, CR, BOM,
out-of-range numbers and dates, truncation, random bytes). For every file:
no traceback, exit 0/1/2 only, and every line accounted for: parsed +
malformed = the lines written, the same counts in ``logs`` and ``report``;
``diff`` rejects the same lines and replays or skips every other one.

``VHOSTGUARD_FUZZ_ITERATIONS`` (default 40) and ``VHOSTGUARD_FUZZ_SEED``
scale it up locally; a failure names the seed and iteration to replay.
"""
from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from vhostguard.cli.diff import diff
from vhostguard.cli.logs import logs
from vhostguard.cli.report import report

ITERATIONS = int(os.environ.get("VHOSTGUARD_FUZZ_ITERATIONS", "40"))
SEED = int(os.environ.get("VHOSTGUARD_FUZZ_SEED", "20261204"))
LINES_PER_FILE = 40

FORMATS = {
    "combined": '%h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
    "common": '%h %l %u %t "%r" %>s %b',
    "custom": '%v:%p %h %l %u %t "%r" %>s %O %D "%{Referer}i" "%{User-Agent}i" "%{Host}i"',
}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
ODD_TIMES = ("[31/Dec/9999:23:59:59 -1400]", "[01/Jan/0001:00:00:00 +0100]", "[01/Jan/2020:00:00:00 +2400]",
             "[31/Feb/2020:10:00:00 +0000]", "[00/Jan/0000:24:60:61 +0000]", "[01/Jan/2020:00:00:00 -9999]",
             "[01/Foo/2020:00:00:00 +0000]", "[1/Jan/2020:0:0:0 +0000]", "-")
ODD_NUMBERS = ("-1", "-0", "99999999999999999999999999", "007", "1e3", "0x10", "", "-", "٣")


def _time(rng: random.Random) -> str:
    return (f"[{rng.randint(1, 28):02d}/{rng.choice(MONTHS)}/{rng.randint(1990, 2030)}:"
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} "
            f"{rng.choice('+-')}{rng.randint(0, 14):02d}{rng.choice(('00', '30', '45'))}]")


def _text(rng: random.Random, size: int) -> str:
    alphabet = "abcXYZ019/._-~%?=&é😀 \\\"'[]{}"
    return "".join(rng.choice(alphabet) for _ in range(size))


def _valid(rng: random.Random, kind: str) -> str:
    host = f"{rng.randint(1, 254)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    path = "/" + "/".join(rng.choice(("v1", "users", str(rng.randint(1, 999)), "a b", "é")) for _ in range(3))
    query = rng.choice(("", f"?q={rng.randint(0, 9)}", "?"))
    request = f"{rng.choice(('GET', 'POST', 'HEAD', 'PUT'))} {path}{query} HTTP/1.1"
    status, size = rng.choice((200, 301, 404, 500, 503)), rng.randint(0, 99999)
    base = f'{host} - {rng.choice(("-", "bob"))} {_time(rng)} "{request}" {status} {size}'
    if kind == "common":
        return base
    tail = f' "{rng.choice(("-", "http://x/"))}" "{rng.choice(("curl/8", "Mozilla/5.0 (X)"))}"'
    if kind == "combined":
        return base + tail
    vhost = rng.choice(("api.example.com", "www.example.com", "other.test"))
    return (f'{vhost}:{rng.choice((80, 443))} {base} {rng.randint(0, 10**6)}{tail} '
            f'"{rng.choice((vhost, "-", vhost.upper() + ":80"))}"')


def _mutate(rng: random.Random, line: str) -> bytes:
    choice = rng.randrange(14)
    if choice == 0:  # escapes httpd writes, and some it never does
        at = rng.randrange(len(line) + 1)
        return (line[:at] + rng.choice(("\\x00", "\\xff", '\\"', "\\\\", "\\", "\\q", "\\x")) + line[at:]).encode()
    if choice == 1:  # a stray quote
        at = rng.randrange(len(line) + 1)
        return (line[:at] + '"' + line[at:]).encode()
    if choice == 2:  # control bytes
        at = rng.randrange(len(line) + 1)
        return line[:at].encode() + bytes([rng.choice((0, 1, 7, 8, 9, 11, 12, 27, 127))]) + line[at:].encode()
    if choice == 3:  # bytes that are not UTF-8
        at = rng.randrange(len(line) + 1)
        return line[:at].encode() + rng.choice((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80")) + line[at:].encode()
    if choice == 4:  # a huge field
        return line.replace("HTTP/1.1", "/" + "x" * rng.choice((5000, 70000)) + " HTTP/1.1", 1).encode()
    if choice == 5:  # a CR inside, or before the newline
        at = rng.randrange(len(line) + 1)
        return (line[:at] + "\r" + line[at:]).encode() if rng.random() < 0.5 else (line + "\r").encode()
    if choice == 6:  # a BOM
        return b"\xef\xbb\xbf" + line.encode()
    if choice == 7:  # a time out of range or malformed
        return re.sub(r"\[[^]]*\]", lambda _: rng.choice(ODD_TIMES), line, count=1).encode()
    if choice == 8:  # numbers out of range (status, size, duration)
        words = line.split(" ")
        numeric = [i for i, w in enumerate(words) if w.isdigit()]
        if numeric:
            words[rng.choice(numeric)] = rng.choice(ODD_NUMBERS)
        return " ".join(words).encode()
    if choice == 9:  # truncated
        return line[: rng.randrange(len(line) + 1)].encode()
    if choice == 10:  # random bytes flipped
        data = bytearray(line.encode())
        for _ in range(rng.randint(1, 4)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256) if rng.random() < 0.7 else 10
        return bytes(data)
    if choice == 11:  # free text
        return _text(rng, rng.randint(0, 120)).encode()
    if choice == 12:  # empty
        return b""
    return line.encode()


def _file(rng: random.Random, kind: str) -> bytes:
    lines = [_valid(rng, kind) for _ in range(LINES_PER_FILE)]
    data = b"\n".join(_mutate(rng, line) if rng.random() < 0.5 else line.encode() for line in lines)
    return data + (b"\n" if rng.random() < 0.8 else b"")


def _lines_in(data: bytes) -> int:
    return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


def _checked(result: Result, where: str) -> Result:
    assert result.exception is None or isinstance(result.exception, SystemExit), (where, result.exc_info)
    assert result.exit_code in (0, 1, 2), (where, result.exit_code, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, (where, result.stderr[-2000:])
    return result


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    root = tmp_path_factory.mktemp("configs")
    made = []
    for name, target in (("old", "www.example.com"), ("new", "other.test")):
        path = root / f"{name}.conf"
        path.write_text(f'ServerRoot "{root}"\nListen 80\n'
                        "<VirtualHost *:80>\n ServerName api.example.com\n DocumentRoot /srv\n</VirtualHost>\n"
                        f"<VirtualHost *:80>\n ServerName {target}\n DocumentRoot /srv\n</VirtualHost>\n")
        made.append(str(path))
    return made[0], made[1]


def test_fuzzed_lines_are_all_accounted_for(tmp_path: Path, configs: tuple[str, str]) -> None:
    rng = random.Random(SEED)
    runner = CliRunner()
    for iteration in range(ITERATIONS):
        kind = rng.choice(tuple(FORMATS))
        fmt = FORMATS[kind]
        data = _file(rng, kind)
        log = tmp_path / f"fuzz-{iteration}.log"
        log.write_bytes(data)
        where = f"seed {SEED} iteration {iteration} ({kind})"
        total = _lines_in(data)

        got = _checked(runner.invoke(logs, [str(log), "--log-format", fmt, "--jsonl"]), where + " logs")
        parsed = len(got.stdout_bytes.splitlines())
        malformed = sum(1 for line in got.stderr.splitlines() if line.startswith("{"))
        assert parsed + malformed == total, (where, parsed, malformed, total)
        assert f"{total} line{'' if total == 1 else 's'}, {malformed} malformed" in got.stderr, where
        assert got.exit_code == (2 if parsed == 0 else 0), (where, got.stderr[-500:])

        got = _checked(runner.invoke(report, [str(log), "--log-format", fmt, "--json", "-j", "1"]), where + " report")
        document = json.loads(got.stdout)
        assert (document["lines"], document["malformed"]) == (total, malformed), where
        assert sum(e["requests"] for e in document["endpoints"]) == parsed, where
        assert all((e["duration_us_sum"] or 0) >= 0 for e in document["endpoints"]), where

        got = _checked(runner.invoke(diff, [*configs, "--requests", str(log), "--log-format", fmt, "--json"]),
                       where + " diff")
        if got.exit_code != 2:
            replayed = json.loads(got.stdout)
            bad = re.search(r"(\d+) of (\d+) lines? malformed", got.stderr)
            skipped_malformed, read = (int(bad.group(1)), int(bad.group(2))) if bad else (0, total)
            assert read == total, (where, got.stderr[-500:])
            assert skipped_malformed == malformed, (where, got.stderr[-500:])  # the same lines as logs
            assert replayed["requests"] + replayed["skipped"] + skipped_malformed == total, where

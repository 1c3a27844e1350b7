#!/usr/bin/env python3
"""Coverage-guided differential fuzzing of the compiled scanner with atheris (optional tool).

    .venv/bin/pip install atheris      # not a dependency: a wheel exists for CPython 3.11 on x86_64
    mkdir -p /tmp/fuzz && .venv/bin/python tools/fuzz_scanner.py -runs=200000 /tmp/fuzz tests/logs/scanner_corpus

Each input is cut into lines; every line the scanner takes must be one the
Python parser takes, with the same vhost, method, endpoint template, status
class, bytes, duration and time (tests/logs/test_scanner.py's comparison).
A mismatch raises, which atheris reports with the input that caused it.
atheris writes new inputs into the first directory (a scratch one); the
checked-in corpus seeds it. Each input is also cut in two and read by two
tallies merged: their sums must equal one tally's. .ci/run makes a bounded
run (-runs=8000); the test suite's own bounded loop
(test_each_line_the_scanner_takes_the_python_parser_takes_alike) is a plain
mutation loop that needs no atheris.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import atheris

with atheris.instrument_imports():
    from tests.logs.test_scanner import FORMAT, _python_values, _scanner_values
    from vhostguard.logs import scanner
    from vhostguard.logs.format import compile_format

SPEC = scanner.scan_spec(FORMAT)
PARSE = compile_format(FORMAT).parse


CAPS = scanner.TallyCaps(4000, 4000, 4000, 1 << 30, ())


def _merged_equals_one(data: bytes, whole: scanner.Scanned) -> None:
    assert SPEC is not None
    cut = data.find(b"\n", len(data) // 2) + 1
    halves = scanner.Tally(50.0, 2.88, CAPS), scanner.Tally(50.0, 2.88, CAPS)
    halves[1].scan(SPEC, data[cut:], 1)
    halves[0].scan(SPEC, data[:cut], 0)
    halves[0].merge(halves[1])
    merged = {(g.vhost, g.method, g.template): g.requests for g in halves[0].result().groups}
    if merged != {(g.vhost, g.method, g.template): g.requests for g in whole.groups}:
        raise AssertionError(f"two tallies merged disagree with one on {data!r}")


def one_input(data: bytes) -> None:
    assert SPEC is not None
    result = scanner.scan(SPEC, data, 50.0, 2.88)
    if b"\n" in data:
        _merged_equals_one(data, result)
    deferred = {number for number, _ in result.deferred}
    for number, line in enumerate(data.split(b"\n")[:64], 1):
        if number in deferred or (number == result.lines + 1 and not line):
            continue
        single = scanner.scan(SPEC, line + b"\n", 50.0, 2.88)
        if single.deferred:
            continue
        expected = _python_values(PARSE, line)
        if expected is None or _scanner_values(single.groups[0]) != expected:
            raise AssertionError(f"scanner and Python disagree on {line!r}: {expected}")


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

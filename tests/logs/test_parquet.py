"""``vhostguard logs LOG... --parquet OUT``: the file read back with DuckDB, against ``report --json`` and ``--jsonl``."""
from __future__ import annotations

import itertools
import json
import os
import random
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from vhostguard.cli.logs import logs
from vhostguard.cli.report import report

duckdb = pytest.importorskip("duckdb")
pq = pytest.importorskip("pyarrow.parquet")

FORMAT = '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D'
CORPUS = Path(__file__).parent / "scanner_corpus"
ROOT = Path(__file__).parents[2]
VHOSTS = ("api.example.com", "www.example.com", "shop.example.com")
PATHS = ("/v1/users/{n}", "/v1/users/{n}/orders/{n}", "/img/{n}.jpg", "/", "/search?q={n}", "/a\\\"b/{n}",
         "/static/{h}/app.js", "/day/2024-01-{d:02d}")


def generated_log(path: Path, lines: int = 3000, seed: int = 19) -> Path:
    """Several vhosts and endpoints, ids to template, escapes, CRLF, invalid UTF-8 and broken lines."""
    rng = random.Random(seed)
    out = bytearray()
    for number in range(lines):
        n = rng.randrange(1, 10**6)
        target = rng.choice(PATHS).format(n=n, h=f"{n:08x}", d=n % 28 + 1)
        method = rng.choice(("GET", "GET", "POST", "HEAD"))
        second = number % 3600
        text = (f'{rng.choice(VHOSTS)}:443 10.0.{n % 7}.{n % 250} - - [21/Jan/2024:15:{second // 60:02d}:{second % 60:02d} '
                f'+0100] "{method} {target} HTTP/1.1" {rng.choice((200, 200, 404, 502))} {n % 5000} "-" '
                f'"ua \\"{n % 3}\\"" {n % 100000}')
        raw = text.encode()
        roll = rng.random()
        if roll < 0.01:
            raw = raw[: rng.randrange(5, len(raw) - 5)]  # cut short
        elif roll < 0.02:
            raw = raw.replace(b"ua ", b"ua \xff\xfe ")  # not UTF-8: kept as \xhh text
        elif roll < 0.03:
            raw += b"\r"  # CRLF
        out += raw + b"\n"
    path.write_bytes(bytes(out))
    return path


def export(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(logs, list(args))
    return result.exit_code, result.stderr


def report_json(*args: str) -> dict:
    result = CliRunner().invoke(report, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("engine", ["c", "python"])
def test_per_endpoint_counts_equal_report(tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VHOSTGUARD_ENGINE", engine)
    log = generated_log(tmp_path / "access.log")
    out = tmp_path / "access.parquet"
    code, err = export(str(log), "--log-format", FORMAT, "--parquet", str(out))
    assert code == 0, err
    document = report_json(str(log), "--log-format", FORMAT)
    expected = {(e["vhost"], e["method"], e["endpoint"]): e["requests"] for e in document["endpoints"]}
    got = {(vhost, method, endpoint): count for vhost, method, endpoint, count in duckdb.sql(
        f"select vhost, method, endpoint, count(*) from '{out}' group by vhost, method, endpoint").fetchall()}
    assert got == expected
    assert len(expected) > 20  # templated endpoints of several vhosts, not one bucket
    rows = duckdb.sql(f"select count(*) from '{out}'").fetchall()[0][0]
    assert rows + document["malformed"] == document["lines"] == 3000
    assert f"{document['lines']:,} lines: {rows:,} rows written" in err and f"{document['malformed']} malformed" in err


def test_columns_are_typed(tmp_path: Path) -> None:
    log = generated_log(tmp_path / "access.log", lines=200)
    out = tmp_path / "out.parquet"
    assert export(str(log), "--log-format", FORMAT, "--parquet", str(out))[0] == 0
    types = dict(duckdb.sql(f"select column_name, column_type from (describe select * from '{out}')").fetchall())
    assert types["time"] == "TIMESTAMP WITH TIME ZONE"
    assert types["status"] == "SMALLINT"
    assert types["bytes_out"] == types["duration_us"] == types["port"] == types["line"] == "BIGINT"
    assert types["headers_in"] == 'STRUCT(Referer VARCHAR, "User-Agent" VARCHAR)'
    schema = pq.read_schema(out)
    assert str(schema.field("vhost").type) == "dictionary<values=string, indices=int32, ordered=0>"
    assert str(schema.field("time").type) == "timestamp[us, tz=UTC]"
    assert pq.ParquetFile(out).metadata.row_group(0).column(0).compression == "ZSTD"
    # +0100 in the log: the stored instant is UTC
    first = duckdb.sql(f"select epoch(time)::bigint from '{out}' order by line limit 1").fetchall()[0][0]
    assert first == datetime(2024, 1, 21, 14, tzinfo=UTC).timestamp()


def test_time_without_zone_stays_without_zone(tmp_path: Path) -> None:
    log = tmp_path / "local.log"
    log.write_text("2024-01-21 15:00:07 GET /x 200\n")
    out = tmp_path / "out.parquet"
    code, err = export(str(log), "--log-format", "%{%Y-%m-%d %H:%M:%S}t %m %U %>s", "--parquet", str(out))
    assert code == 0, err
    assert str(pq.read_schema(out).field("time").type) == "timestamp[us]"
    assert str(duckdb.sql(f"select time from '{out}'").fetchall()[0][0]) == "2024-01-21 15:00:07"


@pytest.mark.parametrize("engine", ["c", "python"])
def test_one_row_group_per_block(tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from vhostguard.logs import parser_for, write_parquet

    monkeypatch.setenv("VHOSTGUARD_ENGINE", engine)
    log = generated_log(tmp_path / "access.log", lines=1000)
    out = tmp_path / "out.parquet"
    summary = write_parquet([(str(log), parser_for(FORMAT))], str(out), block_rows=100, block_bytes=16384)
    assert summary.row_groups == pq.ParquetFile(out).num_row_groups >= 5
    assert summary.rows + summary.stats.malformed == summary.stats.lines == 1000


@pytest.mark.parametrize("engine", ["c", "python"])
@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.log")))
def test_corpus_rows_are_what_the_parser_reads(name: str, engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Escapes, CRLF, bare CR, NUL, invalid UTF-8, over-long and truncated lines: each row holds what
    ``logs --jsonl`` gives for its line, and the others are counted malformed."""
    monkeypatch.setenv("VHOSTGUARD_ENGINE", engine)
    log = CORPUS / name
    out = tmp_path / "out.parquet"
    code, err = export(str(log), "--log-format", FORMAT, "--parquet", str(out))
    jsonl = CliRunner().invoke(logs, [str(log), "--log-format", FORMAT, "--jsonl"])
    records = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert code == jsonl.exit_code
    if not records:
        return
    table = pq.read_table(out).sort_by("line").to_pylist()
    # a number its column cannot hold (status beyond int16, beyond int64) makes the line malformed
    fits = [r for r in records if -2**15 <= (r["status"] or 0) < 2**15
            and all(-2**63 <= (r[k] or 0) < 2**63 for k in ("bytes_out", "duration_us", "port"))]
    assert len(fits) < len(records) or name != "overlong.log"
    assert [row["line"] for row in table] == [r["line"] for r in fits]
    records = fits
    for row, record in zip(table, records):
        for key in ("remote_host", "request_line", "method", "path", "query", "status", "bytes_out", "duration_us", "port"):
            assert row[key] == record[key], (row["line"], key)
        assert row["headers_in"] == record["headers_in"]
        assert row["time"] == (record["time"] and datetime.fromisoformat(record["time"]))  # the same instant, in UTC
    lines = int(re.search(r"([\d,]+) lines?:", err)[1].replace(",", ""))
    malformed = int(re.search(r"(\d+) malformed", err)[1])
    assert lines == len(table) + malformed


def test_without_pyarrow_one_line_and_exit_2(tmp_path: Path) -> None:
    log = generated_log(tmp_path / "access.log", lines=10)
    out = tmp_path / "out.parquet"
    script = ("import sys; sys.modules['pyarrow'] = None; sys.modules['pyarrow.parquet'] = None\n"
              "from vhostguard.cli import main; sys.argv[0] = 'vhostguard'; main()")
    done = subprocess.run([sys.executable, "-c", script, "logs", str(log), "--log-format", FORMAT, "--parquet", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "pip install 'vhostguard[parquet]'" in done.stderr
    assert done.stdout == ""
    assert sorted(os.listdir(tmp_path)) == ["access.log"]


def test_refuses_a_path_that_is_not_a_regular_file(tmp_path: Path) -> None:
    log = generated_log(tmp_path / "access.log", lines=10)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (tmp_path / "dir").mkdir()
    for target in (fifo, tmp_path / "dir", tmp_path / "missing" / "out.parquet"):
        code, err = export(str(log), "--log-format", FORMAT, "--parquet", str(target))
        assert code == 2 and err.count("\n") == 1 and err.startswith(f"vhostguard: --parquet {target}"), err
    assert sorted(os.listdir(tmp_path)) == ["access.log", "dir", "pipe"]
    assert os.listdir(tmp_path / "dir") == []


def test_writes_only_the_named_path_and_replaces_it_whole(tmp_path: Path) -> None:
    log = generated_log(tmp_path / "access.log", lines=50)
    out = tmp_path / "out.parquet"
    out.write_text("old")
    out.chmod(0o640)
    assert export(str(log), "--log-format", FORMAT, "--parquet", str(out))[0] == 0
    assert sorted(os.listdir(tmp_path)) == ["access.log", "out.parquet"]
    assert out.stat().st_mode & 0o777 == 0o640
    assert pq.read_metadata(out).num_rows > 40
    # a log that cannot be read: the old file stays, no temp file is left
    code, _ = export(str(tmp_path / "nope.log"), "--log-format", FORMAT, "--parquet", str(out))
    assert code == 2 and pq.read_metadata(out).num_rows > 40
    assert sorted(os.listdir(tmp_path)) == ["access.log", "out.parquet"]


def test_fleet_query_of_the_docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/fleet.md's DuckDB query over hosts/*/access.parquet: per-endpoint counts summed over the hosts."""
    expected: dict[tuple[str, str, str], int] = {}
    for number, host in enumerate(("web1", "web2", "web3")):
        (tmp_path / "hosts" / host).mkdir(parents=True)
        log = generated_log(tmp_path / f"{host}.log", lines=400, seed=number)
        assert export(str(log), "--log-format", FORMAT, "--parquet", str(tmp_path / "hosts" / host / "access.parquet"))[0] == 0
        for e in report_json(str(log), "--log-format", FORMAT)["endpoints"]:
            key = (host, e["vhost"], e["endpoint"])
            expected[key] = expected.get(key, 0) + e["requests"]
    doc = (ROOT / "docs" / "fleet.md").read_text()
    query = re.search(r"```sql\n(.*?)```", doc, re.S)[1]
    monkeypatch.chdir(tmp_path)
    got = {(host, vhost, endpoint): requests for host, vhost, endpoint, requests, *_ in duckdb.sql(query).fetchall()}
    assert got == expected


def test_both_engines_write_the_same_rows_around_over_long_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines beyond MAX_LINE (one of 1.5 MiB, one of 5 MiB that the scanner's reader skips) are malformed
    on both paths, and the line numbers after them stay right, whatever the block size."""
    from vhostguard.logs import MAX_LINE, parser_for, write_parquet

    log = generated_log(tmp_path / "access.log", lines=600)
    lines = log.read_bytes().split(b"\n")
    lines[100:100] = [b"x" * (MAX_LINE + MAX_LINE // 2)]
    lines[300:300] = [b"y" * (5 * MAX_LINE)]
    log.write_bytes(b"\n".join(lines))
    results = {}
    for engine in ("c", "python"):
        monkeypatch.setenv("VHOSTGUARD_ENGINE", engine)
        out = tmp_path / f"{engine}.parquet"
        summary = write_parquet([(str(log), parser_for(FORMAT))], str(out), block_rows=64, block_bytes=1 << 14)
        assert summary.stats.lines == 602 == summary.rows + summary.stats.malformed
        results[engine] = pq.read_table(out).sort_by("line").to_pylist()
    assert results["c"] == results["python"]
    assert {101, 301}.isdisjoint(row["line"] for row in results["c"])


def test_refuses_to_replace_a_log_it_reads(tmp_path: Path) -> None:
    log = generated_log(tmp_path / "access.log", lines=10)
    before = log.read_bytes()
    code, err = export(str(log), "--log-format", FORMAT, "--parquet", str(log))
    assert code == 2 and "is a log being read" in err and err.count("\n") == 1
    assert log.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["access.log"]


def test_parquet_and_jsonl_exclude_each_other_and_endpoints_needs_parquet(tmp_path: Path) -> None:
    log = generated_log(tmp_path / "access.log", lines=10)
    code, err = export(str(log), "--log-format", FORMAT, "--parquet", str(tmp_path / "o.parquet"), "--jsonl")
    assert code == 2 and "choose one" in err
    code, err = export(str(log), "--log-format", FORMAT, "--endpoints", str(log))
    assert code == 2 and "--parquet" in err
    assert sorted(os.listdir(tmp_path)) == ["access.log"]


@pytest.mark.parametrize("engine", ["c", "python"])
def test_endpoint_patterns_as_report_applies_them(tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VHOSTGUARD_ENGINE", engine)
    log = generated_log(tmp_path / "access.log", lines=500)
    patterns = tmp_path / "endpoints.txt"
    patterns.write_text("/v1/users/{user}\n/v1/users/{user}/orders/{order}\n")
    out = tmp_path / "out.parquet"
    assert export(str(log), "--log-format", FORMAT, "--endpoints", str(patterns), "--parquet", str(out))[0] == 0
    document = report_json(str(log), "--log-format", FORMAT, "--endpoints", str(patterns))
    expected = {(e["vhost"], e["method"], e["endpoint"]): e["requests"] for e in document["endpoints"]}
    got = {(v, m, e): n for v, m, e, n in duckdb.sql(
        f"select vhost, method, endpoint, count(*) from '{out}' group by all").fetchall()}
    assert got == expected and any(e == "/v1/users/{user}" for _, _, e in got)


def test_nothing_written_when_no_line_parses(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("garbage\nmore garbage\n")
    out = tmp_path / "out.parquet"
    out.write_text("old")
    code, err = export(str(log), "--log-format", FORMAT, "--parquet", str(out))
    assert code == 2 and "no line matches" in err
    assert out.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["access.log", "out.parquet"]


# User-Agent values as httpd logs them (ap_escape_logitem), and whether the compiled scanner takes the line
# itself (True) or leaves it to the Python parser (False: bytes that are not UTF-8, escapes httpd never writes).
AGENTS = {r"caf\xc3\xa9 client/1.0": True, r"UP \xC3\xA9": True, r"tab\there nl\n cr\r bs\b vt\v": True,
          r"\"q\" \\ b": True, r"emoji \xf0\x9f\x98\x80 and \xe2\x82\xac": True, r"nul \x00.": True,
          r"bad \xff": False, r"surrogate \xed\xa0\x80": False, r"overlong \xc0\xaf": False, r"cut \xc3": False,
          r"cut3 \xe2\x82": False, r"beyond \xf4\x90\x80\x80": False, r"odd \q": False, r"bad hex \x4g": False,
          r"short \x4": False}


def test_escaped_text_is_read_by_the_scanner_as_the_parser_reads_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """httpd's \\xhh (UTF-8 bytes) and \\t \\n \\r \\b \\v in a quoted text field are undone by the scanner
    (no Python per line: 1% of the bench log's lines hold one), giving what ``logs --jsonl`` gives; a value
    that does not decode to UTF-8, or an escape httpd never writes, is left to the Python parser."""
    from vhostguard.logs import _scan, parser_for
    from vhostguard.logs.parquet import _plan, columns_of

    monkeypatch.setenv("VHOSTGUARD_ENGINE", "c")
    log = tmp_path / "access.log"
    log.write_text("".join(f'www.example.com:443 10.0.0.1 - - [21/Jan/2024:15:00:{n:02d} +0000] "GET /a/{n} HTTP/1.1" '
                           f'200 12 "-" "{agent}" 5\n' for n, agent in enumerate(AGENTS)))
    parser = parser_for(FORMAT)
    plan = _plan(parser, columns_of([parser]))
    assert plan is not None
    lines, rows, _, deferred = _scan.parquet_columns(plan.spec.items, log.read_bytes(), plan.outputs)
    left = {number - 1 for number in memoryview(deferred).cast("q")[::3]}
    assert (lines, rows) == (len(AGENTS), len(AGENTS) - len(left))
    assert left == {n for n, taken in enumerate(AGENTS.values()) if not taken}
    out = tmp_path / "out.parquet"
    assert export(str(log), "--log-format", FORMAT, "--parquet", str(out))[0] == 0
    jsonl = CliRunner().invoke(logs, [str(log), "--log-format", FORMAT, "--jsonl"])
    expected = [json.loads(line)["headers_in"]["User-Agent"] for line in jsonl.stdout.splitlines()]
    assert len(expected) == len(AGENTS)
    assert [row["headers_in"]["User-Agent"] for row in pq.read_table(out).sort_by("line").to_pylist()] == expected
    assert expected[0] == "café client/1.0" and expected[6] == "bad \\xff"


@pytest.mark.parametrize("block_bytes", [1, 100, 5000, 1 << 18, 1 << 24])
def test_blocks_are_whole_lines_of_about_the_block_size(tmp_path: Path, block_bytes: int) -> None:
    """The scanner's blocks (read once by the reader, joined once): whole lines in file order, each of at
    least ``block_bytes`` up to the next newline, a line well beyond 4 * MAX_LINE bytes in none of them but
    given as None in its place, and the last line kept without its newline."""
    from vhostguard.logs import MAX_LINE, iter_bytes
    from vhostguard.logs.parquet import _whole_lines

    rng = random.Random(block_bytes)
    lines = [b"x" * rng.randrange(0, 300) for _ in range(3000)]
    lines[1000] = b"y" * (5 * MAX_LINE)  # skipped (the reader looks at what it read, a chunk at a time)
    lines[2000] = b"z" * (MAX_LINE + 10)  # kept: the parser says it is too long
    log = tmp_path / "access.log"
    log.write_bytes(b"\n".join(lines) + b"\nlast")
    blocks = list(_whole_lines(iter_bytes(str(log)), block_bytes))
    assert blocks.count(None) == 1
    cut = blocks.index(None)
    before, after = b"".join(blocks[:cut]), b"".join(blocks[cut + 1:])  # type: ignore[arg-type]
    assert before == b"\n".join(lines[:1000]) + b"\n"
    assert after == b"\n".join(lines[1001:]) + b"\nlast"
    for block in blocks[:-1]:
        if block is not None:
            assert block.endswith(b"\n")
    for block, following in itertools.pairwise(blocks):
        if block is not None and following is not None:
            assert len(block) >= block_bytes and b"\n" not in block[block_bytes - 1:-1]


def test_a_file_without_newlines_is_read_in_bounded_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """48 MiB without a newline between valid lines (a binary file named as a log, from anyone): one line
    too long, skipped as it is read, never held whole, whatever cuts the file into blocks."""
    import tracemalloc

    from vhostguard.logs import parser_for, write_parquet

    monkeypatch.setenv("VHOSTGUARD_ENGINE", "c")
    good = generated_log(tmp_path / "good.log", lines=50).read_bytes()
    log = tmp_path / "access.log"
    with open(log, "wb") as handle:
        handle.write(good)
        handle.write(b"x" * (48 << 20) + b"\n")
        handle.write(good)
    tracemalloc.start()
    try:
        summary = write_parquet([(str(log), parser_for(FORMAT))], str(tmp_path / "out.parquet"), block_bytes=1 << 16)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert summary.stats.lines == 101 == summary.rows + summary.stats.malformed
    assert peak < 24 << 20, f"{peak >> 20} MiB held"

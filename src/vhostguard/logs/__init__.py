"""logs/: access logs read back exactly as httpd wrote them.

Public surface:

* ``compile_format(fmt, fields=None) -> LogFormat`` and ``parser_for(fmt_or_nickname, nicknames)``;
  ``LogFormat.parse(line) -> dict`` (docs/contract.md ``logs`` keys) or ``LineError``;
* ``compile_rows(fmt, columns)``: the same parser in bulk, a block of lines to tuples;
  ``logs.rows.request_rows``: ``(vhost, method, path, ...)`` rows for report and watch;
* ``read_log(path, parser, stats=..., on_malformed=...)`` over plain/gzip/bzip2/xz files,
  counting malformed lines with their numbers (``ReadStats``, ``Malformed``); ``iter_lines`` the lines
  themselves (of a byte range too); ``LogCursor`` a log read from an offset on, a read at a time
  (rotation followed); ``decode_lines`` cuts and decodes complete lines as all of them do;
* ``find_logs(tree) -> LogConfig``: every CustomLog/GlobalLog/TransferLog of a config with its format;
* ``EndpointTemplater`` / ``auto_template``: endpoint templates with a per-vhost cardinality cap;
* ``resolve_files(paths, layout, log_format)`` / ``resolve_targets(layout, log_format)``: which format
  each log is in (``--log-format``, else the config's, else detected), the one answer every command uses;
  ``parser_of(formats)`` / ``target_parser(target)`` the parser of formats so resolved;
* ``spans(path, parts, start, end)``: byte ranges of a plain file at line boundaries (None: compressed);
  ``fold_jobs(jobs, empty, read, merge, workers)``: the one pool (forked workers fold the jobs they take,
  the parent merges; ``WorkerError``); ``usable_cpus()``;
* ``is_compressed(head)``: a gzip, bzip2 or xz stream (read whole, never entered in the middle);
* ``WatchCounter(spec, bounds)``: the same scanner counting for ``watch`` (per group, second and status,
  durations in bins; ``WatchRead``, ``WATCH_*``);
* ``scan_spec(fmt)`` / ``Tally(...).scan(spec, data, job)``: the compiled scanner (per-endpoint sums
  of blocks of lines held in C across blocks, one tally per thread, merged, turned into Python objects
  once; exact; lines it is not sure of are left to the Python parser); ``scan_engine()`` says whether
  it runs ("c") or not ("python");
* ``offset_since(handle, size, at, time_of)``: where the lines of time ``at`` and later start in a
  time-ordered log (one binary search over byte offsets; ``record_time(parser)`` gives ``time_of``,
  ``UntimedLog`` when no time can be read), with ``first_timed``/``last_time``, ``count_lines``/
  ``skip_lines``/``lines_before`` (line numbers of a range read from the middle) and ``line_text``;
  ``window_span(path, parser, since, until)`` the byte range of a plain log that holds a time window
  (None: read it whole);
* ``printable(name)``: a file name with bytes that are not UTF-8 as ``\\xhh``, safe to print and encode;
* ``write_parquet(logs, out)``: the records of logs as one Parquet file (typed columns, report's vhost and
  endpoint, a row group per block, written atomically; ``pyarrow_missing()`` when pyarrow is not installed);
* the AH-code catalogue of the error log: ``explain_code(code)`` / ``explain_line(line) -> CodeEntry | None``,
  ``load_catalogue()``, ``normalise_code`` (what httpd 2.4's numbered error-log messages mean).
"""
from __future__ import annotations

from vhostguard.logs.catalogue import Catalogue, CodeEntry, explain_code, explain_line, load_catalogue, normalise_code
from vhostguard.logs.discover import LogConfig, LogTarget, find_logs
from vhostguard.logs.endpoints import (
    OTHER, EndpointPattern, EndpointTemplater, PatternError, auto_template, load_patterns, parse_patterns,
)
from vhostguard.logs.escapes import unescape
from vhostguard.logs.format import (
    CLF_FORMAT, DEFAULT_NICKNAMES, FormatError, LineError, LogFormat, compile_format, compile_rows, parser_for,
)
from vhostguard.logs.parallel import WorkerError, fold_jobs, spans, usable_cpus
from vhostguard.logs.reader import (
    SAMPLES, TOO_LONG, FormatChoice, LogCursor, Malformed, Parser, ReadStats, count_newlines, decode_lines, detect_format,
    is_compressed, iter_bytes,
    iter_lines, printable, read_log, read_logs,
)
from vhostguard.logs.resolve import (
    STOCK_NICKNAMES, ResolvedLog, ResolveError, explicit_format, parser_of, resolve_files, resolve_targets, target_parser,
)

from vhostguard.logs.window import (
    UntimedLog, count_lines, epoch, first_timed, last_time, line_text, lines_before, offset_since, record_time, skip_lines,
    window_span,
)
from vhostguard.logs.endpoints import NONE, SegmentTemplates
from vhostguard.logs.reader import MAX_LINE
from vhostguard.logs.rows import BYTES_SENT, RequestRows, request_rows
from vhostguard.logs.parquet import ParquetError, ParquetSummary, check_target as check_parquet_target, pyarrow_missing
from vhostguard.logs.parquet import write_parquet
from vhostguard.logs.scanner import OTHER_HOST, GroupSums, ScanSpec, Tallied, Tally, TallyCaps, engine as scan_engine, scan_spec
from vhostguard.logs.scanner import WATCH_BOUNDARY, WATCH_CELL, WATCH_END, WATCH_PYTHON, WatchCounter, WatchRead

__all__ = [
    "BYTES_SENT",
    "CLF_FORMAT",
    "DEFAULT_NICKNAMES",
    "MAX_LINE",
    "NONE",
    "OTHER",
    "OTHER_HOST",
    "SAMPLES",
    "STOCK_NICKNAMES",
    "TOO_LONG",
    "WATCH_BOUNDARY",
    "WATCH_CELL",
    "WATCH_END",
    "WATCH_PYTHON",
    "Catalogue",
    "CodeEntry",
    "EndpointPattern",
    "EndpointTemplater",
    "FormatChoice",
    "FormatError",
    "GroupSums",
    "LineError",
    "LogConfig",
    "LogCursor",
    "LogFormat",
    "LogTarget",
    "Malformed",
    "ParquetError",
    "ParquetSummary",
    "Parser",
    "PatternError",
    "ReadStats",
    "RequestRows",
    "ResolveError",
    "ResolvedLog",
    "ScanSpec",
    "SegmentTemplates",
    "Tallied",
    "Tally",
    "TallyCaps",
    "UntimedLog",
    "WatchCounter",
    "WatchRead",
    "WorkerError",
    "auto_template",
    "check_parquet_target",
    "compile_format",
    "compile_rows",
    "count_lines",
    "count_newlines",
    "decode_lines",
    "detect_format",
    "epoch",
    "explain_code",
    "explain_line",
    "explicit_format",
    "find_logs",
    "first_timed",
    "fold_jobs",
    "is_compressed",
    "iter_bytes",
    "iter_lines",
    "last_time",
    "line_text",
    "lines_before",
    "load_catalogue",
    "load_patterns",
    "normalise_code",
    "offset_since",
    "parse_patterns",
    "parser_for",
    "parser_of",
    "printable",
    "pyarrow_missing",
    "read_log",
    "read_logs",
    "record_time",
    "request_rows",
    "resolve_files",
    "resolve_targets",
    "scan_engine",
    "scan_spec",
    "skip_lines",
    "spans",
    "target_parser",
    "unescape",
    "usable_cpus",
    "window_span",
    "write_parquet",
]

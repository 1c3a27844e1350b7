"""Requests as rows for aggregations: ``(vhost, method, path, *extra)`` per line, in bulk.

``report`` and ``watch`` count requests per vhost × method × endpoint and
need a handful of values per line, millions of times. ``request_rows``
gives them tuples for a whole block of lines at once; both read the vhost
the same way (docs/contract.md): ``%v``, else ``%V``, else the ``Host`` request
header (case, port and trailing dot dropped), else a default.

When the format logs exactly one of ``%v``/``%V`` the rows come from
``compile_rows`` (the LogFormat split path in one loop, no dict per line);
otherwise (several formats for one file, a vhost only in the Host header)
from whole records. Both give the values ``parse`` gives.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vhostguard.logs.endpoints import host_header_vhost
from vhostguard.logs.format import LineError, LogFormat, RowParser, compile_format, compile_rows
from vhostguard.logs.reader import FormatChoice, Parser

BYTES_SENT = "bytes_sent"  # an ``extra`` column: %O when the format logs it, else %B/%b
_ALTERNATIVES = {BYTES_SENT: ("bytes_out", "bytes")}
_VHOST_KEYS = ("vhost", "server_name", "headers_in")


@dataclass(frozen=True)
class RequestRows:
    """``rows(lines) -> (rows, bad)`` (``bad``: indexes of lines that do not parse); ``why(line)``
    says what is wrong with one of those."""

    rows: RowParser
    why: Callable[[str], str]


def request_rows(parser: Parser, extra: Sequence[str], default_vhost: str | None = None) -> RequestRows:
    """Rows ``(vhost, method, path, *extra)`` of ``parser``'s format(s); ``extra`` are record keys
    (or BYTES_SENT), None when not logged. ``default_vhost`` names the vhost when no line does."""
    if isinstance(parser, LogFormat):
        keys = set(parser.all_keys)
        named = [key for key in ("vhost", "server_name") if key in keys]
        if len(named) == 1 and default_vhost is None:
            columns = (named[0], "method", "path", *(_column(key, keys) for key in extra))
            return RequestRows(compile_rows(parser.format, columns, parser.lenient), _why(parser))
    return _through_records(_converting(parser, extra), extra, default_vhost)


def _column(key: str, keys: set[str]) -> str:
    return next((k for k in _ALTERNATIVES[key] if k in keys), _ALTERNATIVES[key][-1]) if key in _ALTERNATIVES else key


def _converting(parser: Parser, extra: Sequence[str]) -> Parser:
    """``parser``'s format(s), converting what the rows read (the same lines are valid)."""
    wanted = {*_VHOST_KEYS, "method", "path"}
    for key in extra:
        wanted.update(_ALTERNATIVES.get(key, (key,)))
    if isinstance(parser, FormatChoice):
        return FormatChoice(tuple(compile_format(f.format, wanted, f.lenient) for f in parser.formats))
    if isinstance(parser, LogFormat):
        return compile_format(parser.format, wanted, parser.lenient)
    return parser


def _through_records(parser: Parser, extra: Sequence[str], default_vhost: str | None) -> RequestRows:
    parse = parser.parse
    pickers = [_picker(key) for key in extra]

    def rows(lines: list[str]) -> tuple[list[tuple[Any, ...]], list[int]]:
        out: list[tuple[Any, ...]] = []
        bad: list[int] = []
        for index, line in enumerate(lines):
            try:
                record = parse(line)
            except LineError:
                bad.append(index)
                continue
            get = record.get
            vhost = get("vhost") or get("server_name") or host_header_vhost(get("headers_in")) or default_vhost
            out.append((vhost, get("method"), get("path"), *[pick(record) for pick in pickers]))
        return out, bad

    return RequestRows(rows, _why(parser))


def _picker(key: str) -> Callable[[dict[str, Any]], Any]:
    if key not in _ALTERNATIVES:
        return lambda record: record.get(key)
    first, second = _ALTERNATIVES[key]
    return lambda record: record[first] if record.get(first) is not None else record.get(second)


def _why(parser: Parser) -> Callable[[str], str]:
    def why(line: str) -> str:
        try:
            parser.parse(line)
        except LineError as problem:
            return problem.message
        return "line does not parse"  # unreachable: rows and parse agree on every line
    return why

"""Which format each access log is in: the one answer ``logs``, ``report``, ``watch`` and ``diff`` share.

In order of authority:

1. ``--log-format`` (a nickname of the config or a stock one, or a format string) for every log;
2. a log the config writes (matched by real path, rotated names included):
   the format(s) its CustomLog/TransferLog lines write;
3. another log, with a config: detected among the formats the config writes
   and the nicknames it defines (then the stock ones);
4. without a config: detected among the stock nicknames.

Detection reads the first lines of a regular file. A pipe cannot be read
twice, and an empty or missing file has nothing to read: both get every
candidate, each line tried strictly then leniently (``FormatChoice``).
"""
from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from vhostguard.logs.discover import LogConfig, LogTarget
from vhostguard.logs.format import DEFAULT_NICKNAMES, FormatError, LogFormat, parser_for
from vhostguard.logs.reader import FormatChoice, Parser, ReadStats, detect_format, iter_lines

STOCK_NICKNAMES = ("vhost_combined", "combined", "common")  # tried in this order when nothing says which


class ResolveError(ValueError):
    """A format that cannot be used: ``--log-format`` or a LogFormat of the config (the message says which)."""


@dataclass(frozen=True)
class ResolvedLog:
    """One log and how to read it.

    ``origin`` is ``"--log-format"``, ``"config"`` (the config writes this
    file) or ``"detected"``; ``tried`` names the candidates detection chose
    among (nicknames where there is one), for hints when nothing parses;
    ``note`` says why a format is tried line by line (a pipe, an empty file).
    """

    path: str
    parser: Parser
    origin: str
    tried: tuple[str, ...] = ()
    target: LogTarget | None = None
    note: str | None = None

    @property
    def formats(self) -> tuple[str, ...]:
        """The format strings of ``parser``."""
        if isinstance(self.parser, FormatChoice):
            return tuple(f.format for f in self.parser.formats)
        assert isinstance(self.parser, LogFormat)
        return (self.parser.format,)

    @property
    def described(self) -> str:
        return " | ".join(self.formats)


def nicknames_of(layout: LogConfig | None) -> Mapping[str, str]:
    """The nicknames ``--log-format`` may name: the config's own first, then the stock ones."""
    return {**DEFAULT_NICKNAMES, **layout.nicknames} if layout is not None else DEFAULT_NICKNAMES


def explicit_format(log_format: str | None, layout: LogConfig | None,
                    fields: Iterable[str] | None = None) -> LogFormat | None:
    """The parser of ``--log-format`` (None without it); ResolveError when httpd would refuse it."""
    if log_format is None:
        return None
    try:
        return parser_for(log_format, nicknames_of(layout), fields)
    except FormatError as problem:
        raise ResolveError(f"--log-format {log_format!r}: {problem}") from None


def resolve_files(paths: Sequence[str], layout: LogConfig | None, log_format: str | None = None,
                  fields: Iterable[str] | None = None) -> list[ResolvedLog]:
    """Each of ``paths`` with its parser (``fields``: only those keys converted, see ``compile_format``)."""
    explicit = explicit_format(log_format, layout, fields)
    return [_resolve_file(path, layout, explicit, fields) for path in paths]


def resolve_targets(layout: LogConfig, log_format: str | None = None,
                    fields: Iterable[str] | None = None) -> list[ResolvedLog]:
    """Every log ``layout`` writes, in its own format(s) (or ``--log-format``), whether it exists or not."""
    explicit = explicit_format(log_format, layout, fields)
    if explicit is not None:
        return [ResolvedLog(t.path, explicit, "--log-format", target=t) for t in layout.targets]
    return [ResolvedLog(t.path, target_parser(t, fields), "config", target=t) for t in layout.targets]


def target_parser(target: LogTarget, fields: Iterable[str] | None = None) -> Parser:
    """The parser of a log the config writes: its format, or a choice when several formats write it."""
    try:
        return parser_of(target.formats, fields)
    except FormatError as problem:
        where = ", ".join(str(s) for s in target.sources)
        raise ResolveError(f"{where}: {problem}") from None


def parser_of(formats: Sequence[str], fields: Iterable[str] | None = None) -> Parser:
    """The parser of a log written in ``formats`` (LogFormat strings as resolved here, ``ResolvedLog.formats``):
    the one format, or a ``FormatChoice`` when several write it. Raises FormatError naming the format."""
    wanted = tuple(fields) if fields is not None else None
    parsers = []
    for fmt in formats:
        try:
            parsers.append(parser_for(fmt, {}, wanted))
        except FormatError as problem:
            raise FormatError(f"LogFormat {fmt!r}: {problem}") from None
    if not parsers:
        raise FormatError("no LogFormat")
    return parsers[0] if len(parsers) == 1 else FormatChoice(tuple(parsers))


def candidates(layout: LogConfig | None) -> list[tuple[str, str]]:
    """(name, format) pairs detection chooses among, in order of preference (ties go to the earlier).

    With a config: the formats it writes, then its nicknames, then the stock
    nicknames (a log may come from another server); without: the stock ones.
    """
    pairs: dict[str, str] = {}  # format -> name, first name wins
    if layout is not None:
        names = {fmt: name for name, fmt in reversed(list(layout.nicknames.items()))}
        for target in layout.targets:
            for fmt in target.formats:
                pairs.setdefault(fmt, names.get(fmt, fmt))
        for name, fmt in layout.nicknames.items():
            pairs.setdefault(fmt, name)
    for name in STOCK_NICKNAMES:
        pairs.setdefault(DEFAULT_NICKNAMES[name], name)
    return [(name, fmt) for fmt, name in pairs.items()]


def _resolve_file(path: str, layout: LogConfig | None, explicit: LogFormat | None,
                  fields: Iterable[str] | None) -> ResolvedLog:
    if explicit is not None:
        return ResolvedLog(path, explicit, "--log-format")
    target = layout.target_for(path) if layout is not None else None
    if target is not None:
        return ResolvedLog(path, target_parser(target, fields), "config", target=target)
    pairs = candidates(layout)
    tried = tuple(name for name, _ in pairs)
    wanted = tuple(fields) if fields is not None else None
    parsers = []
    for _name, fmt in pairs:
        try:
            parsers.append(parser_for(fmt, {}, wanted))
        except FormatError:
            continue  # a nickname the config defines but never uses may be one httpd would refuse
    why = _undetectable(path)
    if why is not None:
        return ResolvedLog(path, FormatChoice(tuple(parsers)), "detected", tried,
                           note=f"{path}: {why}: each line is tried as {', '.join(tried)} (pass --log-format to say)")
    return ResolvedLog(path, detect_format(path, parsers), "detected", tried)


def _undetectable(path: str) -> str | None:
    """Why the first lines of ``path`` cannot be read to detect its format (None: they can)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "missing"
    if not stat.S_ISREG(mode):
        return "not a regular file (read once)"
    stats = ReadStats()
    try:
        has_lines = any(lines for lines in iter_lines(path, stats, path))
    except OSError:
        return "unreadable"
    if has_lines:
        return None
    return "damaged, no line could be read" if stats.problems else "empty"

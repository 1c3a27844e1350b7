"""Everything the CLI writes, made safe: the terminal streams, rich consoles, output files.

- ``guarded_output()`` (entered by ``run`` around every command) puts a
  guard on ``sys.stdout`` and ``sys.stderr`` that escapes control
  characters in all text written (``vhostguard.safetext.terminal_text``):
  ``click.echo``, error messages, the watch terminal sink all pass through
  it, so no output path of a command can forget. Bytes written to the
  binary buffer (``logs --jsonl``) are JSON, made safe by its encoder.
- ``console()`` is the rich Console to use: it writes to the real stream
  (its own colours and cursor controls survive on a terminal) and escapes
  the text of what it renders, so a logged ESC or OSC sequence prints as
  ``\\x1b]52;...`` inside a table.
- ``check_output()`` / ``write_output()`` are ``--html``, ``--junit`` and
  the like: ``-`` is stdout, every other path goes to
  ``vhostguard.outfile`` (atomic for regular files, never replacing a
  symlink or a device). A bad path fails before the work (exit 2).
"""
from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

import click

from vhostguard.outfile import OutputPathError, check_writable, write_file
from vhostguard.safetext import terminal_text

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["OutputPathError", "TerminalGuard", "check_output", "console", "guarded_output", "raw_stream",
           "write_output"]


class TerminalGuard:
    """A text stream that writes ``terminal_text(s)`` to the stream it wraps; everything else is the wrapped one's.

    Only ``str`` is accepted (click checks whether a stream is binary by writing ``b""`` to it).
    """

    def __init__(self, stream: IO[str]) -> None:
        self.raw = stream

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.raw.write(terminal_text(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    @property
    def encoding(self) -> str:
        return getattr(self.raw, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str:
        # What it writes never fails to encode (surrogates are escaped): "strict" holds, and
        # click then takes this stream as it is (get_text_stream asks for "strict") instead
        # of wrapping the binary buffer beneath it, which would bypass the guard.
        return "strict"

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, buffer, closed, ...
        return getattr(self.raw, name)


def raw_stream(stream: Any) -> Any:
    """The stream under a TerminalGuard (``stream`` itself otherwise)."""
    while isinstance(stream, TerminalGuard):
        stream = stream.raw
    return stream


@contextmanager
def guarded_output() -> Iterator[None]:
    """Guard ``sys.stdout`` and ``sys.stderr`` for the duration (see the module docstring).

    Off a terminal, click.echo would silently drop CSI sequences (``ESC [ ... m``) but
    keep every other control: with the guard there, click is told to keep them all
    (the context's ``color``) and the guard shows them escaped, so a DocumentRoot
    ``/srv/www<ESC>[2J`` prints as ``/srv/www\\x1b[2J``, not as ``/srv/www``.
    """
    context = click.get_current_context(silent=True)
    saved_color = context.color if context is not None else None
    if context is not None:
        context.color = True
    saved = sys.stdout, sys.stderr
    if sys.stdout is not None and not isinstance(sys.stdout, TerminalGuard):
        sys.stdout = TerminalGuard(sys.stdout)
    if sys.stderr is not None and not isinstance(sys.stderr, TerminalGuard):
        sys.stderr = TerminalGuard(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        if context is not None:
            context.color = saved_color


def console(stream: Any = None, *, stderr: bool = False, **options: Any) -> Console:
    """The rich Console for ``stream`` (default: stdout, or stderr with ``stderr=True``), on the real
    stream under any TerminalGuard; ``options`` go to rich.console.Console."""
    from vhostguard.cli.safeconsole import SafeConsole  # rich costs ~50 ms to import: only when used

    if stream is None:
        stream = sys.stderr if stderr else sys.stdout
    # No console markup: a "[link=...]" or "[/]" from a log prints as itself, wherever a str slips in.
    options.setdefault("markup", False)
    return SafeConsole(file=raw_stream(stream), **options)


def check_output(option: str, path: str, *, append: bool = False) -> None:
    """Raise OutputPathError (``option path: reason``) unless ``path`` can be written (or appended to);
    ``-`` is stdout."""
    if path == "-":
        return
    try:
        check_writable(path, append=append)
    except OutputPathError as problem:
        raise OutputPathError(f"{option} {problem}") from None


def write_output(option: str, path: str, data: str | bytes, *, mode: int | None = None) -> None:
    """Write ``data`` (text as UTF-8, an unencodable surrogate as ``\\udcxx``) to ``path``; ``-`` is stdout."""
    payload = data.encode("utf-8", "backslashreplace") if isinstance(data, str) else data
    try:
        if path == "-":
            out = raw_stream(sys.stdout)
            out.flush()
            binary = getattr(out, "buffer", None)
            if binary is not None:
                binary.write(payload)
                binary.flush()
            else:
                out.write(payload.decode("utf-8"))
            return
        write_file(path, payload, mode=mode)
    except OutputPathError as problem:
        raise OutputPathError(f"{option} {problem}") from None
    except BrokenPipeError:
        raise  # ``run`` exits 0, as for any reader that went away
    except OSError as problem:
        raise OutputPathError(f"{option} {path}: {problem.strerror or problem}") from None

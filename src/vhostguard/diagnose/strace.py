"""strace's output format, read back into data.

The lines come from ``strace -f -tt -T -yy -s 512`` (with or without ``-o``):

    24678 02:31:49.765353 openat(AT_FDCWD</>, "/srv/www/x.html", O_RDONLY|O_CLOEXEC) = 12</srv/www/x.html> <0.000012>
    [pid 28182] 02:33:18.274188 access("/etc/ld.so.preload", R_OK) = -1 ENOENT (No such file or directory) <0.000012>
    24678 02:31:49.839793 connect(12<TCP:[47653]>, {sa_family=AF_INET, ...}, 16 <unfinished ...>
    24678 02:31:49.841926 <... connect resumed>) = -1 EINPROGRESS (Operation now in progress) <0.000083>
    25320 02:32:11.395027 --- SIGTERM {si_signo=SIGTERM, si_code=SI_USER, si_pid=25318, si_uid=0} ---
    25406 02:32:10.651869 +++ exited with 0 +++

The pid prefix is bare with ``-o FILE`` and ``[pid N]`` on stderr (where the
first traced process has none at all, and strace's own "Process N attached"
notes can cut a line in two). A call another thread interrupts is split into
``<unfinished ...>`` and ``<... NAME resumed>`` lines; they are joined per
thread, since a thread has at most one call in flight. Lines that fit none
of these shapes are counted and sampled, never fatal.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

_PREFIX = re.compile(r"^(?:\[pid\s+(\d+)\]\s*|(\d+)\s+)?(?:(\d\d):(\d\d):(\d\d)(?:\.(\d+))?\s+)?")
_ATTACHED_NOTE = re.compile(r"strace: Process \d+ attached(?: with \d+ threads)?")
_CALL_START = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\(")
_RESUMED = re.compile(r"<\.\.\. ([A-Za-z_][A-Za-z0-9_]*) resumed>\s?")
_SIGNAL = re.compile(r"--- (SIG[A-Z0-9+]+|\S+) (.*) ---$")
_EXITED = re.compile(r"\+\+\+ exited with (-?\d+) \+\+\+$")
_KILLED = re.compile(r"\+\+\+ killed by (SIG[A-Z0-9+]+)( \(core dumped\))? \+\+\+$")
_RESULT = re.compile(
    r"\s*=\s*(?P<value>\?|-?\d+|0x[0-9a-fA-F]+)(?P<fd><.*?>(?=\s|$))?"
    r"(?:\s+(?P<errno>E[A-Z0-9]+|ERESTART[A-Z_]*)(?:\s+\((?P<errno_text>[^)]*)\))?)?"
    r"(?:\s+\((?P<note>.*?)\))?"
    r"(?:\s+<(?P<duration>\d+\.\d+|unavailable)>)?\s*$"
)
_UNFINISHED = " <unfinished ...>"
_DETACHED = " <detached ...>"
_SAMPLES = 5
_DAY = 86400.0


@dataclass(frozen=True)
class Syscall:
    """One system call, its two halves joined when another thread interrupted it.

    ``time`` is seconds since midnight as ``-tt`` prints it (continuing past
    86400 when the capture crosses midnight); ``args`` the raw argument text;
    ``result`` the raw return text (``12</srv/x.html>``, ``-1``, ``?``) or
    None when the call never returned in the capture (detached, or the
    process exited meanwhile); ``value`` its number; ``errno`` e.g.
    ``ENOENT``; ``duration`` the ``-T`` seconds; ``line`` where it started.
    """

    pid: int | None
    time: float | None
    name: str
    args: str
    result: str | None
    value: int | None
    errno: str | None = None
    errno_text: str | None = None
    duration: float | None = None
    line: int = 0

    @property
    def failed(self) -> bool:
        return self.errno is not None

    @property
    def end(self) -> float | None:
        if self.time is None:
            return None
        return self.time + (self.duration or 0.0)

    def arg_list(self) -> list[str]:
        """The top-level arguments, each as raw text (see ``split_args``)."""
        return split_args(self.args)


@dataclass(frozen=True)
class Signal:
    """``--- SIGCHLD {si_signo=SIGCHLD, ...} ---``: a signal delivered to ``pid``."""

    pid: int | None
    time: float | None
    name: str
    detail: str
    line: int = 0


@dataclass(frozen=True)
class Exit:
    """``+++ exited with N +++`` or ``+++ killed by SIGNAL +++``."""

    pid: int | None
    time: float | None
    code: int | None
    killed_by: str | None = None
    core_dumped: bool = False
    line: int = 0


@dataclass(frozen=True)
class Malformed:
    line: int
    text: str


@dataclass(frozen=True)
class Capture:
    """A parsed strace output: calls in the order they started, signals, exits,
    and the lines that fit no known shape (counted; the first few kept)."""

    syscalls: tuple[Syscall, ...]
    signals: tuple[Signal, ...] = ()
    exits: tuple[Exit, ...] = ()
    malformed: int = 0
    malformed_samples: tuple[Malformed, ...] = field(default_factory=tuple)

    def by_pid(self, pid: int | None) -> list[Syscall]:
        return [call for call in self.syscalls if call.pid == pid]


@dataclass
class _Pending:
    pid: int | None
    time: float | None
    name: str
    args: str
    line: int
    order: int


class _Clock:
    """``-tt`` times are wall-clock of day: keep them increasing across midnight."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.last: float | None = None

    def __call__(self, raw: float | None) -> float | None:
        if raw is None:
            return None
        value = raw + self.offset
        if self.last is not None and value < self.last - _DAY / 2:
            self.offset += _DAY
            value += _DAY
        self.last = value
        return value


def _join_attach_notes(lines: Iterable[str]) -> Iterable[tuple[int, str]]:
    """Drop strace's "Process N attached" notes that cut a traced line in two
    (stderr output), joining the halves; number lines from 1."""
    carry: tuple[int, str] | None = None
    for number, raw in enumerate(lines, 1):
        text = raw.rstrip("\r\n")
        if carry is not None:
            text = carry[1] + text
            number = carry[0]
            carry = None
        if "strace: Process " in text:
            stripped = _ATTACHED_NOTE.sub("", text)
            if stripped != text:
                if not stripped.strip():
                    continue  # a note on a line of its own
                if not stripped.endswith((">", "---", "+++")) and _RESULT_TAIL.search(stripped) is None:
                    carry = (number, stripped)  # the call's text goes on on the next line
                    continue
                text = stripped
        yield number, text
    if carry is not None:
        yield carry


_RESULT_TAIL = re.compile(r"\)\s*=\s*\S.*$")


def parse_strace(lines: Iterable[str]) -> Capture:
    """Parse strace output lines (see the module docstring) into a ``Capture``."""
    parser = _Parser()
    for number, text in _join_attach_notes(lines):
        if text.strip():
            parser.feed(number, text)
    return parser.finish()


class _Parser:
    """The state of one parse: calls in flight per thread, and what was found."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, Syscall]] = []  # (order started, call)
        self.signals: list[Signal] = []
        self.exits: list[Exit] = []
        self.pending: dict[int | None, _Pending] = {}
        self.malformed: list[Malformed] = []
        self.count_malformed = 0
        self.clock = _Clock()
        self.order = 0

    def feed(self, number: int, text: str) -> None:
        prefix = _PREFIX.match(text)
        assert prefix is not None  # every group is optional
        pid_text = prefix.group(1) or prefix.group(2)
        pid = int(pid_text) if pid_text else None
        time = self.clock(_seconds(prefix)) if prefix.group(3) else None
        body = text[prefix.end():]
        self.order += 1
        if body.startswith("---"):
            understood = self._signal(pid, time, body, number)
        elif body.startswith("+++"):
            understood = self._exit(pid, time, body, number)
        elif body.startswith("<..."):
            understood = self._resumed(pid, time, body, number)
        else:
            understood = self._call(pid, time, body, number)
        if not understood:
            self._bad(number, text)

    def finish(self) -> Capture:
        for started in self.pending.values():  # still in flight when strace detached
            self.calls.append((started.order, _unreturned(started)))
        self.calls.sort(key=lambda item: item[0])
        return Capture(tuple(call for _, call in self.calls), tuple(self.signals), tuple(self.exits),
                       self.count_malformed, tuple(self.malformed))

    def _bad(self, number: int, text: str) -> None:
        self.count_malformed += 1
        if len(self.malformed) < _SAMPLES:
            self.malformed.append(Malformed(number, text[:200]))

    def _signal(self, pid: int | None, time: float | None, body: str, number: int) -> bool:
        found = _SIGNAL.match(body)
        if found:
            self.signals.append(Signal(pid, time, found.group(1), found.group(2), number))
        return found is not None

    def _exit(self, pid: int | None, time: float | None, body: str, number: int) -> bool:
        exited = _EXITED.match(body)
        killed = _KILLED.match(body)
        if not (exited or killed):
            return False
        if pid in self.pending:  # the process ended inside a call: it never returned
            started = self.pending.pop(pid)
            self.calls.append((started.order, _unreturned(started)))
        self.exits.append(Exit(pid, time, int(exited.group(1)) if exited else None,
                               killed.group(1) if killed else None, bool(killed and killed.group(2)), number))
        return True

    def _resumed(self, pid: int | None, time: float | None, body: str, number: int) -> bool:
        resumed = _RESUMED.match(body)
        if not resumed:
            return False
        name = resumed.group(1)
        started = self.pending.pop(pid, None)
        unprefixed = self.pending.get(None)
        if started is None and unprefixed is not None and unprefixed.name == name:
            # stderr output: the first process had no prefix until a second one was traced
            started = self.pending.pop(None)
            started.pid = pid
        if started is None or started.name != name:
            # The first half is outside the capture (attached mid-call): keep what we have.
            started = _Pending(pid, time, name, "", number, self.order)
        rest = body[resumed.end():]
        if rest.endswith(_UNFINISHED):  # interrupted again
            started.args += rest[: -len(_UNFINISHED)]
            self.pending[pid] = started
            return True
        call = _complete(started, started.args + rest)
        if call is not None:
            self.calls.append((started.order, call))
        return call is not None

    def _call(self, pid: int | None, time: float | None, body: str, number: int) -> bool:
        start = _CALL_START.match(body)
        if not start:
            return False
        rest = body[start.end():]
        name = start.group(1)
        if rest.endswith(_UNFINISHED):
            if pid in self.pending:
                previous = self.pending.pop(pid)
                self.calls.append((previous.order, _unreturned(previous)))
            self.pending[pid] = _Pending(pid, time, name, rest[: -len(_UNFINISHED)], number, self.order)
            return True
        if rest.endswith(_DETACHED):  # strace let go of the thread inside this call
            self.calls.append((self.order, _unreturned(_Pending(pid, time, name, rest[: -len(_DETACHED)], number, self.order))))
            return True
        call = _complete(_Pending(pid, time, name, "", number, self.order), rest)
        if call is not None:
            self.calls.append((self.order, call))
        return call is not None


def _seconds(prefix: re.Match[str]) -> float:
    hours, minutes, seconds, fraction = prefix.group(3, 4, 5, 6)
    value = int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    return value + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def _unreturned(started: _Pending) -> Syscall:
    return Syscall(started.pid, started.time, started.name, started.args.rstrip(", "), None, None, line=started.line)


def _complete(started: _Pending, text: str) -> Syscall | None:
    """Split ``args) = result <duration>`` at the call's own closing parenthesis."""
    found = _split_result(text)
    if found is None:
        return None
    close, tail = found
    value_text = tail.group("value")
    value = None if value_text == "?" else int(value_text, 0)
    duration_text = tail.group("duration")
    duration = float(duration_text) if duration_text and duration_text != "unavailable" else None
    result = value_text + (tail.group("fd") or "")
    return Syscall(started.pid, started.time, started.name, text[:close], result, value,
                   tail.group("errno"), tail.group("errno_text"), duration, started.line)


def _split_result(text: str) -> tuple[int, re.Match[str]] | None:
    """(index of the closing parenthesis, the result's match).

    The result never holds ``) =``, so the last ``=`` after a ``)`` is the
    result's whenever what follows reads as one: found from the right without
    scanning the arguments (their strings may hold anything, ``) = 5``
    included). The full scan settles what that does not.
    """
    end = len(text)
    while True:
        equals = text.rfind("=", 0, end)
        if equals < 0:
            break
        before = text[:equals].rstrip()
        if before.endswith(")"):
            close = len(before) - 1
            tail = _RESULT.match(text, close + 1)
            if tail is not None:
                return close, tail
            break
        end = equals
    close_at = _closing_paren(text)
    if close_at is None:
        return None
    tail = _RESULT.match(text, close_at + 1)
    return (close_at, tail) if tail is not None else None


# What the scanners stop at; everything between is skipped by the regex engine
# (a line holds up to 512-byte strings, most of them escapes: a Python loop
# over each character made parsing ten times slower).
_SPECIAL = re.compile(r'["()\[\]{}<,]')
_STRING = re.compile(r'"(?:[^"\\]|\\.)*(?:"(?:\.\.\.)?|$)', re.S)


def _structure(text: str) -> Iterator[tuple[int, str]]:
    """The brackets and commas of ``text`` with their index, skipping strings
    and ``-yy`` decorations (``3<TCP:[1.2.3.4:80]>``): what both the end of a
    call and its argument list are found by."""
    index = 0
    while (found := _SPECIAL.search(text, index)) is not None:
        index = found.start()
        char = text[index]
        if char == '"':
            index = _string_end(text, index)
        elif char == "<":
            index = _decoration_end(text, index) if _decorates(text, index) else index + 1
        else:
            yield index, char
            index += 1


def _closing_paren(text: str) -> int | None:
    """Index of the ``)`` that closes the call; None when it is missing."""
    depth = 0
    for index, char in _structure(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                return index if char == ")" else None
            depth -= 1
    return None


def _decorates(text: str, index: int) -> bool:
    """Is the ``<`` at ``index`` a ``-yy`` decoration: ``12<...>`` or ``AT_FDCWD</>``?"""
    return index > 0 and (text[index - 1].isdigit() or text[index - 1] == "D")


def _string_end(text: str, start: int) -> int:
    """Index just past the closing quote of the string starting at ``start``
    (and past a ``...`` truncation mark)."""
    found = _STRING.match(text, start)
    return found.end() if found else len(text)


def _decoration_end(text: str, start: int) -> int:
    """Index just past the ``>`` closing the decoration that starts at ``start``.

    A ``>`` closes it only where an argument could end: the arrow of a socket's
    endpoints (``->``) and a ``>`` inside a path are part of it.
    """
    depth = 0
    index = start
    length = len(text)
    while index < length:
        char = text[index]
        if char == "<":
            depth += 1
        elif char == ">" and text[index - 1] != "-":
            following = text[index + 1: index + 2]
            if text.startswith("(deleted)", index + 1):  # an unlinked file: part of the decoration
                following = ""
                index += len("(deleted)")
            if following in ("", ",", ")", "]", "}", " ", ">"):
                depth -= 1
                if depth == 0:
                    return index + 1
        index += 1
    return length


def split_args(text: str) -> list[str]:
    """Top-level comma-separated arguments of a call, each stripped, as raw text."""
    parts: list[str] = []
    depth = 0
    begin = 0
    for index, char in _structure(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[begin:index].strip())
            begin = index + 1
    last = text[begin:].strip()
    if last or parts:
        parts.append(last)
    return parts


@dataclass(frozen=True)
class StraceString:
    """A string argument: its bytes, and whether ``-s`` cut it (``"..."...``)."""

    value: bytes
    truncated: bool


_ESCAPES = {"n": 10, "r": 13, "t": 9, "v": 11, "f": 12, "a": 7, "b": 8, "e": 27, '"': 34, "\\": 92, "'": 39, "?": 63}


def decode_string(text: str) -> StraceString | None:
    """The bytes of a quoted strace string (C escapes, ``\\xNN``, octal); None when
    ``text`` is not one."""
    text = text.strip()
    if not text.startswith('"'):
        return None
    end = _string_end(text, 0)
    truncated = text[:end].endswith('"...')
    body = text[1: end - (4 if truncated else 1)]
    out = bytearray()
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.extend(char.encode("utf-8"))
            index += 1
            continue
        code = body[index + 1: index + 2]
        if code == "x":
            out.append(int(body[index + 2: index + 4], 16))
            index += 4
        elif code.isdigit():
            digits = re.match(r"[0-7]{1,3}", body[index + 1:])
            assert digits is not None
            out.append(int(digits.group(0), 8) & 0xFF)
            index += 1 + len(digits.group(0))
        else:
            out.append(_ESCAPES.get(code, ord(code) if code else 92))
            index += 2
    return StraceString(bytes(out), truncated)


def strings_in(text: str) -> list[StraceString]:
    """Every quoted string anywhere in ``text`` (e.g. each ``iov_base`` of a writev)."""
    found: list[StraceString] = []
    index = 0
    while True:
        index = text.find('"', index)
        if index < 0:
            return found
        end = _string_end(text, index)
        decoded = decode_string(text[index:end])
        if decoded is not None:
            found.append(decoded)
        index = end


@dataclass(frozen=True)
class DecodedFd:
    """A file descriptor as ``-yy`` prints it: ``12<TCP:[127.0.0.1:80->127.0.0.1:5000]>``."""

    number: int | None  # None for AT_FDCWD
    detail: str  # inside the angle brackets ("" when strace printed none)

    @property
    def protocol(self) -> str | None:
        """``TCP``, ``TCPv6``, ``UDP``, ``UNIX``, ``NETLINK``... for sockets; None for paths."""
        found = re.match(r"([A-Z][A-Za-z0-9-]*):\[", self.detail)
        return found.group(1) if found else None

    @property
    def endpoints(self) -> tuple[str, str] | None:
        """(local, peer) of a connected socket, as strace wrote them."""
        found = re.match(r"[A-Z][A-Za-z0-9-]*:\[(.*)->(.*)\]$", self.detail)
        return (found.group(1), found.group(2)) if found else None

    @property
    def path(self) -> str | None:
        """The file path for an fd on a file (or directory), else None."""
        if not self.detail or self.protocol is not None or ":[" in self.detail:
            return None
        return self.detail if self.detail.startswith("/") else None


_FD = re.compile(r"^(-?\d+|AT_FDCWD)(?:<(.*)>)?(?:\(deleted\))?$", re.S)


def decode_fd(text: str) -> DecodedFd | None:
    """``12<...>`` / ``AT_FDCWD</>`` / ``3`` as a ``DecodedFd``; None for anything else."""
    found = _FD.match(text.strip())
    if found is None:
        return None
    number = None if found.group(1) == "AT_FDCWD" else int(found.group(1))
    return DecodedFd(number, found.group(2) or "")


_SOCKADDR_INET = re.compile(r'sin6?_port=htons\((\d+)\).*?(?:sin_addr=inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)")')
_SOCKADDR_UNIX = re.compile(r'sun_path="([^"]*)"')


def sockaddr_address(text: str) -> str | None:
    """``127.0.0.1:5000``, ``[::1]:5000`` or ``unix:/run/x.sock`` from a sockaddr argument."""
    found = _SOCKADDR_INET.search(text)
    if found:
        if found.group(2):
            return f"{found.group(2)}:{found.group(1)}"
        return f"[{found.group(3)}]:{found.group(1)}"
    unix = _SOCKADDR_UNIX.search(text)
    if unix:
        return f"unix:{unix.group(1)}"
    return None

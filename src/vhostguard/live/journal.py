"""The sandbox's GlobalLog: one line per request, saying which server answered.

Every ``<VirtualHost>`` of the copy sets ``VG_VHOST`` to its own token with
mod_setenvif at post_read_request, i.e. after httpd has chosen the vhost
(seen here: redirects, 403 and 404 carry it too; a 400 for a malformed Host
is answered before that and logs ``-``). The main server sets ``main``. Each
probe carries a unique request-id header so its line can be found.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

REQUEST_ID_HEADER = "X-Vhostguard-Probe"
VHOST_ENV = "VG_VHOST"
MAIN_TOKEN = "main"

# %<{...}e: the original request's env, i.e. the vhost chosen before any internal redirect.
_FIELDS = (
    ("request_id", f"%{{{REQUEST_ID_HEADER}}}i"),
    ("vhost_token", f"%<{{{VHOST_ENV}}}e"),
    ("server_name", "%v"),
    ("local_ip", "%A"),
    ("local_port", "%{local}p"),
    ("status", "%>s"),
    ("method", "%m"),
    ("uri", "%U%q"),
    ("location", "%{Location}o"),
    ("duration_us", "%D"),
)
LOG_FORMAT = "\\t".join(spec for _, spec in _FIELDS)  # mod_log_config turns \t into a tab


@dataclass(frozen=True)
class JournalEntry:
    request_id: str | None
    vhost_token: str | None
    server_name: str | None
    local_ip: str | None
    local_port: str | None
    status: str | None
    method: str | None
    uri: str | None
    location: str | None
    duration_us: str | None


_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|.)")
_SIMPLE = {"t": "\t", "n": "\n", "r": "\r", "v": "\v", "b": "\b", '"': '"', "\\": "\\"}


def _unescape(value: str) -> str:
    """Undo ``ap_escape_logitem`` (``\\xhh``, ``\\"``, ``\\\\``, ``\\n`` ...)."""
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code.startswith("x") and len(code) == 3:
            return chr(int(code[1:], 16))
        return _SIMPLE.get(code, "\\" + code)
    return _ESCAPE.sub(one, value)


def parse_line(line: str) -> JournalEntry | None:
    parts = line.rstrip("\n").split("\t")
    if len(parts) != len(_FIELDS):
        return None
    values = [None if p == "-" else _unescape(p) for p in parts]
    return JournalEntry(*values)


class Journal:
    """Reads the GlobalLog as it grows and finds the line of one request."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._offset = 0
        self._pending = b""
        self._entries: dict[str, JournalEntry] = {}
        self._lock = threading.Lock()  # requests may come from several threads

    def _read_new(self) -> None:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return
        self._offset += len(data)
        data = self._pending + data
        lines = data.split(b"\n")
        self._pending = lines.pop()  # an incomplete last line waits for the rest
        for raw in lines:
            entry = parse_line(raw.decode("utf-8", errors="replace"))
            if entry is not None and entry.request_id:
                self._entries[entry.request_id] = entry

    def wait_for(self, request_id: str, timeout: float = 2.0) -> JournalEntry | None:
        """The entry for ``request_id``; httpd logs after sending the response, so poll briefly."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                self._read_new()
                if request_id in self._entries:
                    return self._entries.pop(request_id)
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.01)

"""What one worker thread did with one request, read from a strace capture and
explained with the config: files, backends, execs, failures, time per phase,
and which vhost served it (by evidence, not by prediction)."""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from vhostguard.diagnose.strace import (
    Capture, DecodedFd, Syscall, decode_fd, decode_string, sockaddr_address, strings_in,
)
from vhostguard.logs import explain_line
from vhostguard.diagnose.dns import RCODES, DnsMessage, parse_dns, parse_hosts
from vhostguard.diagnose.misroute import find_misroute
from vhostguard.diagnose.failures import REWRITE_LOOP_CODE, missing_part, rewrite_rules, worker_user
# DirectiveRef and naming_directive live in refs (misroute needs them, and summary needs misroute);
# re-exported here, where the checks have always found them.
from vhostguard.diagnose.refs import DirectiveRef as DirectiveRef
from vhostguard.diagnose.refs import naming_directive as naming_directive
from vhostguard.diagnose.targets import ConfigTarget, backend_host, backend_targets, config_targets, file_target
from vhostguard.model import Server, ServerModel, normalize_host
from vhostguard.routing import Request, Router

MARKER_HEADER = "X-Vhostguard-Trace"

_READS = {"read", "recvfrom", "recvmsg", "readv", "pread64"}
_WRITES = {"write", "writev", "sendto", "sendmsg", "sendfile", "sendfile64", "pwrite64"}
# Calls whose path is argument 0, and those whose path is argument 1 after a dirfd.
_PATH_FIRST = {"open", "stat", "lstat", "access", "readlink", "execve", "chdir", "truncate", "statfs", "creat"}
_PATH_SECOND = {"openat", "openat2", "newfstatat", "fstatat64", "statx", "faccessat", "faccessat2", "readlinkat", "execveat"}
_FORKS = {"clone", "clone3", "fork", "vfork"}
_FILE_FAILURES = {"ENOENT", "EACCES", "ELOOP", "ENOTDIR", "EPERM", "ENAMETOOLONG", "EISDIR"}
_CONNECT_FAILURES = {"ECONNREFUSED", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ECONNRESET", "EADDRNOTAVAIL", "ENOENT", "EACCES"}
_STATUS = re.compile(rb"^HTTP/\d(?:\.\d)? (\d{3})")


class NotTraced(Exception):
    """The capture does not hold the request (it never reached a traced worker)."""


@dataclass(frozen=True)
class FileAccess:
    syscall: str
    path: str
    result: str  # "ok" or the errno name
    time: float | None
    directive: DirectiveRef | None


@dataclass(frozen=True)
class Connect:
    address: str
    result: str  # "ok", an errno name, or "EINPROGRESS" when the outcome is not in the capture
    ms: float | None
    directive: DirectiveRef | None
    candidates: tuple[DirectiveRef, ...] = ()  # every backend directive naming the address
    backend_status: int | None = None  # the status line the backend answered with


@dataclass(frozen=True)
class Exec:
    pid: int | None
    path: str
    argv: str
    result: str
    directive: DirectiveRef | None


@dataclass(frozen=True)
class DnsLookup:
    """One name the worker looked up over DNS (its A and AAAA queries together).
    ``result``: ``ok`` (addresses came back), ``NXDOMAIN``, ``SERVFAIL``...,
    ``no answer`` (the name exists without addresses), ``no reply``."""

    server: str
    name: str
    result: str
    answers: tuple[str, ...] = ()
    directive: DirectiveRef | None = None  # the backend directive naming this host


@dataclass(frozen=True)
class Phase:
    name: str
    ms: float


@dataclass(frozen=True)
class TraceSummary:
    """The contract's trace document as data (see ``trace_json`` in the CLI)."""

    request: Request
    status: int | None
    pid: int | None
    tid: int | None
    vhost: str | None
    vhost_name: str | None
    vhost_evidence: str
    naming_directive: DirectiveRef | None  # the ServerName/ServerAlias that made httpd pick the vhost
    chosen_by: str | None  # how: name, alias, wild-alias, default (first of its address set), only...
    predicted_vhost: str | None  # what routing the config on disk predicts
    expected_vhost: str | None  # a vhost that names the Host exactly, when another one served it
    phases: tuple[Phase, ...]
    files: tuple[FileAccess, ...]
    connects: tuple[Connect, ...]
    execs: tuple[Exec, ...]
    dns: tuple[DnsLookup, ...]
    errors_logged: tuple[str, ...]
    story: str
    capture_malformed: int = 0
    failures: tuple[str, ...] = field(default_factory=tuple)


def summarise(capture: Capture, model: ServerModel, request: Request, marker: str,
              client_port: int | None = None, thread_groups: Mapping[int, int] | None = None,
              client_status: int | None = None) -> TraceSummary:
    """Find the thread that read the request carrying ``marker`` (or, for TLS,
    the connection from ``client_port``) and summarise what it did.

    Raises ``NotTraced`` when the capture holds no such request.
    """
    reading = _request_read(capture, marker.encode(), client_port)
    if reading is None:
        raise NotTraced("no traced worker read the request")
    tid = reading.pid
    connection = decode_fd(reading.arg_list()[0]) if reading.arg_list() else None
    window = _window(capture, reading, connection)
    children = _children(capture, window)
    targets = config_targets(model)

    files = _files(window, targets)
    dns, resolved = _lookups(window, targets)
    connects = _connects(window, targets, resolved)
    execs = _execs(capture, children, targets)
    status = _response_status(window, connection) or client_status
    logged = _logged(window, connection)
    match = model.match(request.local_ip, request.port, request.host)
    predicted = match.server
    vhost, evidence = _served_by(targets, files, connects, execs, dns, predicted)
    served = model.vhost(vhost) if vhost else None
    naming = naming_directive(served, match) if served is not None and served.id == predicted.id else None
    expected = _expected(model, request, served) if served is not None else None
    # Why the Host reached this vhost and not the one meant for it (when the evidence agrees with the config).
    misroute = find_misroute(model, match, request.port) if served is not None and served.id == predicted.id else None
    if misroute is not None and expected is None:
        expected = misroute.owner.id
    phases = _phases(capture, reading, window, connection)
    failures = _failures(files, connects, dns, status) + _logged_failures(model, request, served or predicted, logged)
    summary = TraceSummary(
        request=request, status=status, pid=(thread_groups or {}).get(tid or -1, tid), tid=tid,
        vhost=vhost, vhost_name=served.server_name if served else None, vhost_evidence=evidence,
        naming_directive=naming, chosen_by=match.how if naming is not None else None,
        predicted_vhost=predicted.id, expected_vhost=expected,
        phases=phases, files=files, connects=connects, execs=execs, dns=dns, errors_logged=logged,
        story="", capture_malformed=capture.malformed, failures=failures,
    )
    why = (f"Why: {misroute.why}. Fix: {misroute.fix}.",) if misroute is not None else ()
    return _with_story(summary, why + _story_notes(model, summary), explained=misroute is not None)


# -- finding the request ---------------------------------------------------------------

def _request_read(capture: Capture, marker: bytes, client_port: int | None) -> Syscall | None:
    by_port: Syscall | None = None
    for call in capture.syscalls:
        if call.name not in _READS or not call.value or call.value <= 0:
            continue
        args = call.arg_list()
        if len(args) < 2:
            continue
        if marker and any(marker in text.value for text in strings_in(args[1])):
            return call
        if by_port is None and client_port is not None:
            fd = decode_fd(args[0])
            ends = fd.endpoints if fd else None
            if ends and ends[1].rpartition(":")[2] == str(client_port):
                by_port = call
    return by_port


def _window(capture: Capture, reading: Syscall, connection: DecodedFd | None) -> list[Syscall]:
    """The thread's calls from the request read until it is done with the request:
    the last write on the connection, or the read of another request."""
    own = [call for call in capture.syscalls if call.pid == reading.pid]
    start = own.index(reading)
    calls = own[start:]
    end = len(calls)
    last_write = None
    for index, call in enumerate(calls[1:], 1):
        fd = _fd(call)
        if call.name in _READS and fd is not None and fd.endpoints and connection is not None \
                and fd.detail != connection.detail and call.value and call.value > 0 and _looks_like_request(call):
            end = index  # the thread moved on to another connection's request
            break
        if call.name in _WRITES and connection is not None and fd is not None and fd.detail == connection.detail:
            last_write = index
    if last_write is not None:
        end = min(end, last_write + 1)
    return calls[:end]


def _looks_like_request(call: Syscall) -> bool:
    args = call.arg_list()
    text = decode_string(args[1]) if len(args) > 1 else None
    return text is not None and re.match(rb"^[A-Z]+ \S+ HTTP/", text.value) is not None


def _fd(call: Syscall) -> DecodedFd | None:
    args = call.arg_list()
    return decode_fd(args[0]) if args else None


def _children(capture: Capture, window: list[Syscall]) -> set[int]:
    """Processes the thread forked (CGI), and theirs."""
    found = {call.value for call in window if call.name in _FORKS and call.value and call.value > 0}
    grew = True
    while grew:
        more = {call.value for call in capture.syscalls
                if call.pid in found and call.name in _FORKS and call.value and call.value > 0} - found
        grew = bool(more)
        found |= {pid for pid in more if pid is not None}
    return {pid for pid in found if pid is not None}


# -- what the thread touched ------------------------------------------------------------

def _path_of(call: Syscall) -> str | None:
    args = call.arg_list()
    if call.name in _PATH_FIRST and args:
        text = decode_string(args[0])
        base = None
    elif call.name in _PATH_SECOND and len(args) > 1:
        text = decode_string(args[1])
        base = decode_fd(args[0])
    else:
        return None
    if text is None:
        return None
    path = text.value.decode("utf-8", "surrogateescape")
    if not path.startswith("/") and base is not None and base.path:
        path = os.path.join(base.path, path)
    return path or None


def _files(window: list[Syscall], targets: tuple[ConfigTarget, ...]) -> tuple[FileAccess, ...]:
    seen: set[tuple[str, str, str]] = set()
    found: list[FileAccess] = []
    for call in window:
        path = _path_of(call)
        if path is None or call.name.startswith("execve"):
            continue
        result = call.errno or ("ok" if call.result is not None else "unfinished")
        if os.path.basename(path) == ".htaccess" and result in ("ENOENT", "ENOTDIR"):
            continue  # httpd looks for .htaccess in every directory; absent is normal
        key = (call.name, path, result)
        if key in seen:
            continue
        seen.add(key)
        target = file_target(targets, path)
        if target is None and result == "ok" and not call.name.startswith("open"):
            continue  # httpd's walk up the directories of a path (stat of /, /srv...): noise
        found.append(FileAccess(call.name, path, result, call.time, DirectiveRef.of(target) if target else None))
    return tuple(found)


# glibc asks nscd first when its socket exists; a refused or absent nscd is normal
_RESOLVER_SOCKETS = {"unix:/var/run/nscd/socket", "unix:/run/nscd/socket"}


def _connects(window: list[Syscall], targets: tuple[ConfigTarget, ...],
              resolved: Mapping[str, set[str]]) -> tuple[Connect, ...]:
    found: list[Connect] = []
    for index, call in enumerate(window):
        if call.name != "connect":
            continue
        args = call.arg_list()
        address = sockaddr_address(args[1]) if len(args) > 1 else None
        if address is None or address.endswith(":53") or address in _RESOLVER_SOCKETS:
            continue  # name lookups are read from their messages (see _lookups)
        fd = decode_fd(args[0])
        result, finished = _connect_outcome(call, window[index + 1:], fd)
        ms = round((finished - call.time) * 1000, 3) if finished is not None and call.time is not None else None
        candidates = backend_targets(targets, address, resolved)
        directive = DirectiveRef.of(candidates[0]) if candidates else None
        status = _backend_status(window[index + 1:], fd)
        found.append(Connect(address, result, ms, directive, tuple(DirectiveRef.of(t) for t in candidates), status))
    return tuple(found)


_DNS_SENDS = {"sendmmsg", "sendto", "sendmsg", "send", "write", "writev"}
_DNS_RECEIVES = {"recvfrom", "recvmsg", "recv", "read", "readv", "recvmmsg"}


def _lookups(window: list[Syscall], targets: tuple[ConfigTarget, ...]) -> tuple[tuple[DnsLookup, ...], dict[str, set[str]]]:
    """The DNS lookups in the window, and every name -> addresses the worker
    learned (DNS answers and the hosts file it read)."""
    asked: dict[tuple[str, str], list[DnsMessage]] = {}
    resolved: dict[str, set[str]] = {}
    for call in window:
        fd = _fd(call)
        if fd is None:
            continue
        if fd.path == "/etc/hosts" and call.name in _READS and call.value:
            for text in strings_in(call.args)[:1]:
                for name, addresses in parse_hosts(text.value.decode("utf-8", "replace")).items():
                    resolved.setdefault(name, set()).update(addresses)
            continue
        ends = fd.endpoints
        if ends is None or not ends[1].endswith(":53"):
            continue
        sending = call.name in _DNS_SENDS
        if not sending and (call.name not in _DNS_RECEIVES or not call.value or call.value <= 0):
            continue
        for text in strings_in(call.args):
            data = text.value[2:] if fd.protocol and fd.protocol.startswith("TCP") else text.value  # TCP: length prefix
            message = parse_dns(data)
            if message is not None and message.response != sending:
                asked.setdefault((ends[1], message.name), []).append(message)
    lookups: list[DnsLookup] = []
    for (server, name), messages in asked.items():
        replies = [message for message in messages if message.response]
        answers = tuple(dict.fromkeys(address for reply in replies for address in reply.answers))
        errors = [RCODES.get(reply.rcode, f"rcode {reply.rcode}") for reply in replies if reply.rcode != 0]
        result = "ok" if answers else errors[0] if errors else "no answer" if replies else "no reply"
        resolved.setdefault(name, set()).update(answers)
        named = [t for t in targets if t.kind == "backend" and backend_host(t) == name]
        lookups.append(DnsLookup(server, name, result, answers, DirectiveRef.of(named[0]) if named else None))
    return tuple(lookups), resolved


def _connect_outcome(call: Syscall, after: list[Syscall], fd: DecodedFd | None) -> tuple[str, float | None]:
    """A blocking connect's errno, or for a non-blocking one (EINPROGRESS) the
    SO_ERROR read after poll; ETIMEDOUT when the poll on the socket timed out."""
    if call.errno is None:
        return ("ok" if call.result is not None else "unfinished"), call.end
    if call.errno != "EINPROGRESS" or fd is None:
        return call.errno, call.end
    for later in after:
        args = later.arg_list()
        if later.name == "getsockopt" and args and _same_fd(args[0], fd) and "SO_ERROR" in args[2:3]:
            value = args[3].strip("[]") if len(args) > 3 else ""
            return ("ok" if value == "0" else value), later.end
        if later.name in ("poll", "ppoll") and f"fd={fd.number}" in later.args and later.value == 0:
            return "ETIMEDOUT", later.end
        if later.name == "close" and args and _same_fd(args[0], fd):
            break
    return "EINPROGRESS", call.end


def _same_fd(text: str, fd: DecodedFd) -> bool:
    other = decode_fd(text)
    return other is not None and other.number == fd.number


def _backend_status(after: list[Syscall], fd: DecodedFd | None) -> int | None:
    if fd is None:
        return None
    for call in after:
        args = call.arg_list()
        if not args or not _same_fd(args[0], fd):
            continue
        if call.name == "close":
            return None
        if call.name in _READS and call.value and call.value > 0 and len(args) > 1:
            text = decode_string(args[1])
            found = _STATUS.match(text.value) if text else None
            if found:
                return int(found.group(1))
    return None


def _execs(capture: Capture, children: set[int], targets: tuple[ConfigTarget, ...]) -> tuple[Exec, ...]:
    found: list[Exec] = []
    for call in capture.syscalls:
        if call.pid not in children or not call.name.startswith("execve"):
            continue
        path = _path_of(call) or "?"
        args = call.arg_list()
        argv = args[1] if call.name == "execve" and len(args) > 1 else ""
        target = file_target(targets, path)
        found.append(Exec(call.pid, path, argv, call.errno or "ok", DirectiveRef.of(target) if target else None))
    return tuple(found)


def _response_status(window: list[Syscall], connection: DecodedFd | None) -> int | None:
    for call in window:
        fd = _fd(call)
        if call.name not in _WRITES or fd is None or connection is None or fd.detail != connection.detail:
            continue
        for text in strings_in(call.args)[:1]:
            found = _STATUS.match(text.value)
            if found:
                return int(found.group(1))
    return None


def _logged(window: list[Syscall], connection: DecodedFd | None) -> tuple[str, ...]:
    """Lines the thread wrote to a log file (httpd's error log names the cause: AH01114...)."""
    lines: list[str] = []
    for call in window:
        fd = _fd(call)
        if call.name != "write" or fd is None or fd.path is None or (connection and fd.detail == connection.detail):
            continue
        if fd.protocol is not None or not (fd.path.endswith(".log") or fd.number == 2):
            continue
        text = decode_string(call.arg_list()[1]) if len(call.arg_list()) > 1 else None
        if text is not None:
            lines.extend(part for part in text.value.decode("utf-8", "replace").splitlines() if part.strip())
    return tuple(lines)


# -- which vhost served it --------------------------------------------------------------

def _served_by(targets: tuple[ConfigTarget, ...], files: tuple[FileAccess, ...], connects: tuple[Connect, ...],
               execs: tuple[Exec, ...], dns: tuple[DnsLookup, ...], predicted: Server) -> tuple[str | None, str]:
    """The vhost the evidence names: the backends connected to, the files under
    a root, the scripts executed. Evidence shared by several vhosts is settled
    by routing's prediction when it is one of them."""
    clues: list[tuple[str, set[str | None]]] = []
    for connect in connects:
        if connect.candidates:
            clues.append((f"connected to {connect.address}", {ref.vhost for ref in connect.candidates}))
    for lookup in dns:
        owners = {t.vhost for t in targets if t.kind == "backend" and backend_host(t) == lookup.name}
        if owners:
            clues.append((f"looked up {lookup.name}", owners))
    for exec_ in execs:
        if exec_.directive:
            clues.append((f"executed {exec_.path}", {exec_.directive.vhost}))
    # Alias-like roots before DocumentRoots: the more specific mapping is the better clue.
    for access in sorted(files, key=lambda item: item.directive is not None and item.directive.name.lower() == "documentroot"):
        target = file_target(targets, access.path)
        if target is not None:
            owners = {t.vhost for t in targets if t.kind == "file" and t.root == target.root}
            clues.append((f"{access.syscall} {access.path}", owners))
    clues = [(text, owners) for text, owners in clues if owners]
    if not clues:
        return predicted.id, (f"no file or backend evidence in the trace; the config predicts {predicted.label()}")
    text, owners = clues[0]
    for _other_text, other in clues[1:]:
        if owners & other:
            owners = owners & other
    vhost_owners = {owner for owner in owners if owner is not None}
    if not vhost_owners:  # only main-server directives: inherited by whichever vhost answered
        return predicted.id, f"{text}: named by the main server's config (inherited); the config predicts {predicted.label()}"
    if len(vhost_owners) == 1:
        (only,) = vhost_owners
        return only, f"{text}, which only this vhost's config names"
    if predicted.id in vhost_owners:
        return predicted.id, f"{text}, named by {len(vhost_owners)} vhosts; the config predicts this one"
    first = sorted(vhost_owners)[0]
    return first, f"{text}, named by {len(vhost_owners)} vhosts (ambiguous; showing the first)"


def _expected(model: ServerModel, request: Request, served: Server) -> str | None:
    """A vhost whose ServerName is exactly the Host, when another vhost served it."""
    host = normalize_host(request.host).name
    if host is None:
        return None
    for server in model.vhosts:
        if server.id != served.id and server.declared_name is not None and server.declared_name.host.lower() == host:
            return server.id
    return None


# -- time per phase -----------------------------------------------------------------------

def _phases(capture: Capture, reading: Syscall, window: list[Syscall], connection: DecodedFd | None) -> tuple[Phase, ...]:
    phases: list[Phase] = []
    accepted = _accept(capture, reading, connection)
    read_end = reading.end
    if read_end is None:
        return ()
    start = accepted.time if accepted is not None and accepted.time is not None else reading.time
    if start is not None:
        phases.append(Phase("accept/read", _ms(read_end - start)))
    writes = [call for call in window if call.name in _WRITES and _on_connection(call, connection)]
    connects = [call for call in window if call.name == "connect" and call.time is not None
                and not (sockaddr_address(call.args) or ":53").endswith(":53")]  # backends, not DNS or netlink
    first_write = writes[0].time if writes else None
    # mapping: from the request read to whatever comes first, a backend connect or the response
    ends = [t for t in (connects[0].time if connects else None, first_write, window[-1].end) if t is not None]
    if ends:
        phases.append(Phase("mapping", _ms(min(ends) - read_end)))
    if connects:
        connect_end = _backend_connect_end(window, connects)
        first = connects[0].time
        assert first is not None
        phases.append(Phase("backend connect", _ms(connect_end - first)))
        if first_write is not None and any(_connect_outcome(call, window[window.index(call) + 1:], _fd(call))[0] == "ok" for call in connects):
            phases.append(Phase("backend wait", _ms(first_write - connect_end)))
    if writes and writes[0].time is not None and writes[-1].end is not None:
        phases.append(Phase("write", _ms(writes[-1].end - writes[0].time)))
    return tuple(phases)


def _on_connection(call: Syscall, connection: DecodedFd | None) -> bool:
    fd = _fd(call)
    return fd is not None and connection is not None and fd.detail == connection.detail


def _backend_connect_end(window: list[Syscall], connects: list[Syscall]) -> float:
    ends = []
    for call in connects:
        fd = _fd(call)
        index = window.index(call)
        _, finished = _connect_outcome(call, window[index + 1:], fd)
        if finished is not None:
            ends.append(finished)
    return max(ends) if ends else (connects[-1].end or 0.0)


def _accept(capture: Capture, reading: Syscall, connection: DecodedFd | None) -> Syscall | None:
    if connection is None or not connection.endpoints:
        return None
    found = None
    for call in capture.syscalls:
        if call is reading:
            break
        if call.name in ("accept", "accept4") and call.result is not None:
            fd = decode_fd(call.result)
            if fd is not None and fd.detail == connection.detail:
                found = call
    return found


def _ms(seconds: float) -> float:
    return round(max(seconds, 0.0) * 1000, 3)


# -- the story ----------------------------------------------------------------------------

def _failures(files: tuple[FileAccess, ...], connects: tuple[Connect, ...], dns: tuple[DnsLookup, ...],
              status: int | None) -> tuple[str, ...]:
    found: list[str] = []
    for lookup in dns:
        if lookup.result != "ok":
            where = f" (named by {lookup.directive.name} at {lookup.directive.file}:{lookup.directive.line})" if lookup.directive else ""
            found.append(f"DNS lookup of {lookup.name} via {lookup.server}: {lookup.result}{where}")
    for access in files:
        if access.directive is None and access.result in ("ENOENT", "ENOTDIR") and status != 404:
            continue  # httpd's walk stats a path no directive maps (the compiled-in DocumentRoot) before refusing it
        if access.result in _FILE_FAILURES and not (access.result == "ENOTDIR" and access.path.endswith("/.htaccess")):
            where = f" (under {access.directive.name} at {access.directive.file}:{access.directive.line})" if access.directive else ""
            found.append(f"{access.syscall} {access.path}: {access.result}{where}")
    for connect in connects:
        if connect.result in _CONNECT_FAILURES or connect.result == "EINPROGRESS":
            where = f" (named by {connect.directive.name} at {connect.directive.file}:{connect.directive.line})" if connect.directive else ""
            found.append(f"connect {connect.address}: {connect.result}{where}")
        elif connect.backend_status is not None and connect.backend_status >= 500:
            found.append(f"backend {connect.address} answered {connect.backend_status}")
    if status is not None and status >= 500:
        found.append(f"response status {status}")
    return tuple(found)


def _loop_rules(model: ServerModel, request: Request, server: Server) -> str:
    """``RewriteRule at file:line, ...`` for the rules that apply to the request (a loop's suspects)."""
    filename = Router(model).route(request).outcome.target
    rules = rewrite_rules(model, server, request.path, filename)
    return ", ".join(f"{node.name} at {node.source.file}:{node.source.line}" for node in rules)


def _logged_failures(model: ServerModel, request: Request, server: Server, logged: tuple[str, ...]) -> tuple[str, ...]:
    """A rewrite loop the worker logged (AH00124), with the RewriteRules that apply."""
    if not any(REWRITE_LOOP_CODE in line for line in logged):
        return ()
    rules = _loop_rules(model, request, server)
    return (f"rewrite loop: httpd logged {REWRITE_LOOP_CODE}" + (f"; the rules in play: {rules}" if rules else ""),)


def _story_notes(model: ServerModel, summary: TraceSummary) -> tuple[str, ...]:
    """What the config adds to the capture: who the workers run as when a file was
    refused, the catalogue's meaning of each code the worker logged, a loop's rules."""
    notes: list[str] = []
    missing = next((access for access in summary.files if access.result == "ENOENT" and access.directive is not None), None)
    if missing is not None:
        gone, close = missing_part(missing.path)
        if close is not None:
            notes.append(f"{gone} does not exist; {close} exists: a typo in the path?")
    if any(access.result in ("EACCES", "EPERM") for access in summary.files):
        worker = worker_user(model)
        if worker is not None:
            notes.append(f"The workers run as User {worker.user} at {worker.user_line.source.file}:"
                         f"{worker.user_line.source.line}: that user may not open the file.")
    seen: set[str] = set()
    for line in summary.errors_logged:
        entry = explain_line(line)
        if entry is None or entry.code in seen:
            continue
        seen.add(entry.code)
        notes.append(f"httpd logged {entry.code} ({entry.module}): {entry.meaning.split('. ')[0].rstrip('.')}.")
        served = model.vhost(summary.vhost) if summary.vhost else None
        if entry.code == REWRITE_LOOP_CODE:
            rules = _loop_rules(model, summary.request, served or model.main)
            if rules:
                notes.append(f"The rewriting that loops: {rules}.")
    return tuple(notes)


def _with_story(summary: TraceSummary, notes: tuple[str, ...] = (), explained: bool = False) -> TraceSummary:
    """The story; ``notes`` come after what the capture shows, except that when ``explained``
    the first one says why the Host reached another vhost than the one meant for it."""
    parts: list[str] = []
    request = summary.request
    host = request.host if request.host is not None else "(no Host)"
    who = f"vhost {summary.vhost_name} ({summary.vhost})" if summary.vhost else "the main server"
    parts.append(f"Worker thread {summary.tid} read {request.method} {request.path} for Host {host}; "
                 f"it was served by {who}: {summary.vhost_evidence}.")
    if summary.naming_directive is not None:
        ref = summary.naming_directive
        why = {"default": " (no name matched: the first vhost for the address)", "only": " (the only vhost for the address)"}
        parts.append(f"httpd picked that vhost by {ref.name} at {ref.file}:{ref.line}{why.get(summary.chosen_by or '', '')}.")
    elif summary.vhost != summary.predicted_vhost:
        parts.append(f"The config on disk predicts {summary.predicted_vhost or 'the main server'} instead: "
                     "the running server may not be running this config.")
    if explained and notes:
        parts.append(notes[0])
        notes = notes[1:]
    elif summary.expected_vhost is not None:
        name = normalize_host(request.host).name or host
        parts.append(f"Note: vhost {summary.expected_vhost} has ServerName {name}, but an earlier vhost captured the request.")
    for access in summary.files:
        if access.result in _FILE_FAILURES and access.directive is not None:
            root = access.directive
            parts.append(f"{access.path} failed with {access.result}; that path comes from {root.name} at {root.file}:{root.line}.")
            break
    for connect in summary.connects:
        proxy = connect.directive
        named = f" ({proxy.name} at {proxy.file}:{proxy.line})" if proxy else " (no directive names it)"
        if connect.result == "ok":
            answer = f", which answered {connect.backend_status}" if connect.backend_status else ""
            parts.append(f"It connected to backend {connect.address}{named}{answer}.")
        else:
            parts.append(f"Connecting to backend {connect.address}{named} failed: {connect.result}.")
    for lookup in summary.dns:
        if lookup.result != "ok":
            named = f" (the backend host of {lookup.directive.name} at {lookup.directive.file}:{lookup.directive.line})" if lookup.directive else ""
            parts.append(f"Looking up {lookup.name}{named} failed: {lookup.result} from {lookup.server}.")
    for exec_ in summary.execs:
        parts.append(f"It executed {exec_.path} ({exec_.result}).")
    parts.extend(notes)
    if summary.status is not None:
        parts.append(f"The response status was {summary.status}.")
    return TraceSummary(**{**summary.__dict__, "story": " ".join(parts)})

"""Attach strace to a running httpd's workers, send one marked request, detach.

The server is found through its PidFile (relative to ServerRoot, as httpd
writes it) or given pids; strace attaches to the parent (so that workers it
forks meanwhile are followed) and follows every thread of each worker process (``-f`` on ``-p`` of a process
attaches all its threads, which the event and worker MPMs serve requests
on). The request goes over loopback with the right Host (and SNI for https)
and a unique ``X-Vhostguard-Trace`` header, so the one thread that read it
can be told apart from the others.
"""
from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from vhostguard.diagnose.strace import parse_strace
from vhostguard.diagnose.summary import MARKER_HEADER, NotTraced, TraceSummary, summarise
from vhostguard.model import ServerModel
from vhostguard.routing import Request

DEFAULT_PIDLOG = "/run/apache2.pid"  # Debian's compiled-in DEFAULT_PIDLOG (apache2 -V)
# File, network, process and I/O calls; poll and getsockopt show a non-blocking connect's outcome.
STRACE_CALLS = "%file,%network,%process,read,write,readv,writev,pread64,pwrite64,sendfile,poll,ppoll,close"
ATTACH_TIMEOUT = 5.0
SETTLE = 0.2  # seconds for strace to write out the worker's last calls after the response arrived


class TraceError(Exception):
    """Tracing could not be done (no strace, ptrace refused, no server, request unseen): one line."""


@dataclass(frozen=True)
class ClientResult:
    status: int | None
    local_port: int | None
    error: str | None


def pid_file(model: ServerModel) -> str:
    """The PidFile httpd writes for this config: the last PidFile, relative to
    ServerRoot (not DefaultRuntimeDir: apache2 2.4.71 writes ``PidFile rel.pid``
    under ServerRoot whatever DefaultRuntimeDir says)."""
    tree = model.tree
    given = [node.args[0] for node in tree.find("pidfile") if node.args]
    path = given[-1] if given else DEFAULT_PIDLOG
    return path if os.path.isabs(path) else os.path.join(tree.server_root, path)


def server_pid(model: ServerModel) -> int:
    path = pid_file(model)
    try:
        with open(path, encoding="ascii") as handle:
            text = handle.read().strip()
    except OSError as problem:
        raise TraceError(f"no running server: cannot read PidFile {path} ({problem.strerror}); start httpd or pass --pid") from None
    if not text.isdigit() or not process_alive(int(text)):
        raise TraceError(f"no running server: PidFile {path} names pid {text or '(empty)'}, which is not running; pass --pid")
    return int(text)


def process_alive(pid: int) -> bool:
    """Is ``pid`` running (a zombie is not: its parent has not reaped it yet, as a test harness may not)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode("ascii", "replace")
    except OSError:
        return True  # no /proc: the signal test is all there is
    return stat[stat.rfind(")") + 2:][:1] not in ("Z", "X")


def worker_pids(parent: int) -> list[int]:
    """httpd's worker processes (its children); the parent itself when it has none (-X)."""
    children: list[int] = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[0] != "Z" and int(fields[1]) == parent:
            children.append(int(name))
    return sorted(children) or [parent]


def thread_groups(pids: Sequence[int]) -> dict[int, int]:
    """thread id -> process id, for every thread of ``pids``."""
    groups: dict[int, int] = {}
    for pid in pids:
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                groups[int(tid)] = pid
        except OSError:
            groups[pid] = pid
    return groups


def trace(model: ServerModel, request: Request, connect_to: tuple[str, int], pids: Sequence[int] = (),
          timeout: float = 10.0, strace: str | None = None, keep: str | None = None) -> TraceSummary:
    """Trace one request through the running server (see the module docstring).

    ``pids``: processes to attach to (default: the server the config's
    PidFile names, and its workers); ``keep``: a file to copy strace's raw
    output to (evidence for later). Raises ``TraceError`` when it cannot trace.
    """
    binary = strace or shutil.which("strace")
    if binary is None:
        raise TraceError("strace is not installed: apt-get install strace")
    if pids:
        targets = list(pids)
    else:
        # The parent too: with -f, strace then follows the workers it forks while we
        # trace (prefork's spare-server upkeep), which may be the ones that accept.
        parent = server_pid(model)
        targets = sorted({parent, *worker_pids(parent)})
    for pid in targets:
        if not process_alive(pid):
            raise TraceError(f"no running server: pid {pid} does not exist")
    groups = thread_groups(targets)
    marker = uuid.uuid4().hex
    with tempfile.TemporaryDirectory(prefix="vhostguard-trace-") as workdir:
        output = os.path.join(workdir, "strace.out")
        notes = os.path.join(workdir, "strace.err")
        argv = [binary, "-f", "-tt", "-T", "-yy", "-s", "512", "-e", f"trace={STRACE_CALLS}", "-o", output]
        for pid in targets:
            argv += ["-p", str(pid)]
        with open(notes, "wb") as sink:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=sink, close_fds=True)
        try:
            _wait_attached(process, notes, targets)
            result = send_request(request, connect_to, [(MARKER_HEADER, marker)], timeout)
            time.sleep(SETTLE)
        finally:
            _detach(process)
        with open(output, encoding="utf-8", errors="surrogateescape") as handle:
            capture = parse_strace(handle)
        if keep is not None:
            try:
                shutil.copyfile(output, keep)
            except OSError as problem:
                raise TraceError(f"cannot write {keep}: {problem.strerror or problem}") from None
    try:
        return summarise(capture, model, request, f"{MARKER_HEADER}: {marker}", result.local_port, groups, result.status)
    except NotTraced:
        why = f" ({result.error})" if result.error else ""
        raise TraceError(f"the request never reached a traced worker{why}: check the URL's port and address "
                         f"({connect_to[0]}:{connect_to[1]}) against the server's Listen, and --pid") from None


def _wait_attached(process: subprocess.Popen[bytes], notes: str, pids: Sequence[int]) -> None:
    """Until strace reports every process attached; its refusal as one line."""
    deadline = time.monotonic() + ATTACH_TIMEOUT
    while True:
        with open(notes, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        if "Operation not permitted" in text or ("ptrace" in text and "denied" in text):
            _detach(process)
            raise TraceError("ptrace is not permitted: run as root or with CAP_SYS_PTRACE, or lower the sysctl "
                             "kernel.yama.ptrace_scope (e.g. sysctl kernel.yama.ptrace_scope=0)")
        if all(f"Process {pid} attached" in text for pid in pids):
            return
        if process.poll() is not None:
            first = next((line for line in text.splitlines() if line.strip()), f"exit status {process.returncode}")
            raise TraceError(f"strace could not attach: {first}")
        if time.monotonic() > deadline:
            _detach(process)
            raise TraceError(f"strace did not attach to {', '.join(map(str, pids))} within {ATTACH_TIMEOUT:g}s")
        time.sleep(0.02)


def _detach(process: subprocess.Popen[bytes]) -> None:
    """SIGINT makes strace detach from every thread (they run on untouched) and exit."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def send_request(request: Request, connect_to: tuple[str, int], extra_headers: Sequence[tuple[str, str]],
                 timeout: float) -> ClientResult:
    """Send ``request`` to ``connect_to`` with its Host, SNI and ``extra_headers``
    first (so they fall within strace's 512-byte string); returns the status and
    the client's own port (which names the connection in the trace)."""
    target = request.path + (f"?{request.query}" if request.query else "")
    version = "HTTP/1.0" if request.http10 or request.host is None else "HTTP/1.1"
    lines = [f"{request.method} {target} {version}"]
    if request.host is not None:
        lines.append(f"Host: {request.host}")
    lines += [f"{name}: {value}" for name, value in extra_headers]
    lines += [f"{name}: {value}" for name, value in request.headers if name.lower() not in ("host", "connection")]
    lines += ["User-Agent: vhostguard-trace", "Connection: close"]
    payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    try:
        sock = socket.create_connection(connect_to, timeout=timeout)
    except OSError as problem:
        raise TraceError(f"cannot connect to {connect_to[0]}:{connect_to[1]}: {problem.strerror or problem}; "
                         "is the server listening there?") from None
    local_port = int(sock.getsockname()[1])
    try:
        if request.scheme == "https":
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # tracing routing, not certificates
            context.set_alpn_protocols(["http/1.1"])
            sock = context.wrap_socket(sock, server_hostname=request.sni or None)
        sock.sendall(payload)
        response = http.client.HTTPResponse(sock, method=request.method)
        response.begin()
        response.read()
        return ClientResult(response.status, local_port, None)
    except (OSError, http.client.HTTPException, ssl.SSLError) as problem:
        return ClientResult(None, local_port, f"{problem.__class__.__name__}: {problem}")
    finally:
        sock.close()

"""listeners: every ``Listen`` has a listening socket, held by the running httpd.

Read from the kernel's socket tables of the server's network namespace
(``/proc/<pid>/net/tcp`` and ``tcp6``), never by connecting. A ``Listen``
with an address is served by a socket bound to that address, or by a
wildcard one on its port (which accepts connections to every address); a
``Listen`` of a bare port (or ``*``/``0.0.0.0``/``[::]``) needs a wildcard
socket: httpd binds ``[::]`` (dual-stack) or ``0.0.0.0`` for it. With
``--connect HOST:PORT``, that address must also accept a TCP connection.
"""
from __future__ import annotations

import socket

from vhostguard.diagnose.checks.base import Check, result, skipped
from vhostguard.diagnose.context import DoctorContext, iso, mtime
from vhostguard.diagnose.findings import CheckResult, Finding, Severity
from vhostguard.diagnose.sockets import ListeningSocket, inode_owner, listening_sockets, socket_inodes
from vhostguard.diagnose.summary import DirectiveRef
from vhostguard.model import ListenAddress

NAME = "listeners"


def run(ctx: DoctorContext) -> CheckResult:
    findings: list[Finding] = []
    parts: list[str] = []
    if ctx.options.connect is not None and not ctx.options.offline:
        connected = _connect(ctx)
        if connected is not None:
            findings.append(connected)
        parts.append(f"--connect {_address(*ctx.options.connect)}: {'refused' if connected else 'accepts'}")
    if ctx.server is None:
        parts.append("Listen sockets not read: --connect names another machine")
        if ctx.options.offline:
            return skipped(NAME, "; ".join(parts))
        return result(NAME, findings, "; ".join(parts))
    if not ctx.model.listens:
        return result(NAME, findings, "; ".join([*parts, "no Listen in the config"]))
    pid = ctx.server.pid
    sockets = listening_sockets(pid)
    owned = socket_inodes(pid) if pid is not None else None
    served = 0
    for listen in ctx.model.listens:
        matching = [s for s in sockets if _serves(s, listen)]
        if not matching:
            findings.append(_missing(ctx, listen, pid))
            continue
        if owned is not None and not any(s.inode in owned for s in matching):
            findings.append(_foreign(ctx, listen, matching[0]))
            continue
        served += 1
    parts.append(f"{served} of {len(ctx.model.listens)} Listen addresses have a listening socket"
                 + (f" held by pid {pid}" if owned is not None else ""))
    return result(NAME, findings, "; ".join(parts))


def _serves(sock: ListeningSocket, listen: ListenAddress) -> bool:
    if sock.port != listen.port:
        return False
    if sock.wildcard:
        # 0.0.0.0 accepts IPv4 only; [::] IPv6 and, dual-stack as httpd opens it, IPv4 too
        return sock.ip == "::" or listen.ip is None or ":" not in listen.ip
    return listen.ip is not None and sock.ip == listen.ip


def _shown(listen: ListenAddress) -> str:
    return listen.address or f"*:{listen.port}"


def _missing(ctx: DoctorContext, listen: ListenAddress, pid: int | None) -> Finding:
    where = f"{listen.source.file}:{listen.source.line}"
    table = f"/proc/{pid}/net/tcp{{,6}}" if pid is not None else "/proc/net/tcp{,6}"
    state = ctx.server
    assert state is not None
    if pid is None:
        cause = f"no httpd is running ({state.problem})"
    elif state.stale and (mtime(listen.source.file) or 0) > (state.loaded or 0):
        cause = (f"{listen.source.file} changed after httpd (pid {pid}) last loaded its config at {iso(state.loaded)}: "
                 "the running server never read this Listen; a reload binds it")
    else:
        cause = (f"httpd (pid {pid}) runs but does not listen there: it runs another config, or the address is "
                 "not one of this machine's")
    return Finding(
        NAME, "listener-missing", Severity.CRITICAL, f"nothing listens on {_shown(listen)} (Listen at {where})", cause,
        evidence=(ctx.source_line(listen.source.file, listen.source.line),
                  f"{table}: no socket in LISTEN state on {_shown(listen)}"),
        directives=(DirectiveRef("Listen", listen.source.file, listen.source.line),),
        next=f"ss -ltnp 'sport = :{listen.port}'",
    )


def _foreign(ctx: DoctorContext, listen: ListenAddress, sock: ListeningSocket) -> Finding:
    where = f"{listen.source.file}:{listen.source.line}"
    owner = inode_owner(sock.inode)
    holder = f"pid {owner[0]} ({owner[1]})" if owner else f"a process we cannot see (socket inode {sock.inode})"
    pid = ctx.server.pid if ctx.server else None
    return Finding(
        NAME, "listener-foreign", Severity.CRITICAL, f"{sock.display()} is held by {holder}, not httpd (Listen at {where})",
        f"another program owns the port of this Listen: requests to it never reach httpd (pid {pid})",
        evidence=(ctx.source_line(listen.source.file, listen.source.line),
                  f"/proc/net/tcp{{,6}}: {sock.display()} LISTEN, socket inode {sock.inode}, not among pid {pid}'s fds"),
        directives=(DirectiveRef("Listen", listen.source.file, listen.source.line),),
        next=f"ss -ltnp 'sport = :{listen.port}'",
    )


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _connect(ctx: DoctorContext) -> Finding | None:
    assert ctx.options.connect is not None
    host, port = ctx.options.connect
    try:
        with socket.create_connection((host, port), timeout=ctx.options.backend_timeout):
            return None
    except OSError as problem:
        reason = problem.strerror or str(problem)
    return Finding(
        NAME, "connect-failed", Severity.CRITICAL, f"{_address(host, port)} (--connect) does not accept connections",
        f"a TCP connection to the server given with --connect failed: {reason}",
        evidence=(f"connect {_address(host, port)}: {reason}",),
        next=f"ss -ltnp 'sport = :{port}'",
    )


CHECK = Check(NAME, run)

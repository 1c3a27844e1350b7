"""backends: every proxy target accepts a TCP connection.

One connection attempt per distinct configured address (ProxyPass,
ProxyPassMatch, BalancerMember, literal RewriteRule [P] targets, unix
sockets), with a bounded timeout, to that address only: never a scan. A
host name is resolved as httpd resolves it (the system resolver). Each
finding names every directive that proxies to the address.
"""
from __future__ import annotations

import errno
import socket
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from vhostguard.diagnose.checks.base import Check, result, skipped
from vhostguard.diagnose.context import DoctorContext
from vhostguard.diagnose.findings import CheckResult, Finding, Severity
from vhostguard.diagnose.summary import DirectiveRef
from vhostguard.diagnose.targets import ConfigTarget, config_targets

NAME = "backends"
MAX_PARALLEL = 64  # connection attempts in flight at once


def run(ctx: DoctorContext) -> CheckResult:
    if ctx.options.offline:
        return skipped(NAME, "--offline: no connections made")
    if ctx.server is None:
        return skipped(NAME, "--connect names another machine: its backends are reached from there, not from here")
    by_address: dict[str, list[ConfigTarget]] = {}
    for target in config_targets(ctx.model):
        if target.kind == "backend" and target.address is not None:
            by_address.setdefault(target.address, []).append(target)
    if not by_address:
        return result(NAME, [], "no proxy backends in the config")
    addresses = list(by_address)
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(addresses))) as pool:
        outcomes = list(pool.map(lambda a: try_connect(a, ctx.options.backend_timeout), addresses))
    findings = [_down(ctx, address, by_address[address], outcome)
                for address, outcome in zip(addresses, outcomes, strict=True) if outcome is not None]
    return result(NAME, findings, f"{len(addresses) - len(findings)} of {len(addresses)} backend addresses accept connections")


def try_connect(address: str, timeout: float) -> str | None:
    """None when ``address`` (``host:port``, ``[v6]:port`` or ``unix:/path``) accepts
    a connection within ``timeout`` seconds, else why not (errno name and text)."""
    try:
        if address.startswith("unix:"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(address[5:])
            return None
        host, _, port = address.rpartition(":")
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return None
    except socket.gaierror as problem:
        return f"name does not resolve ({problem.strerror})"
    except TimeoutError:
        return f"ETIMEDOUT (no answer within {timeout:g} s)"
    except OSError as problem:
        name = errno.errorcode.get(problem.errno or 0, "error")
        return f"{name} ({problem.strerror or problem})"


def _down(ctx: DoctorContext, address: str, targets: list[ConfigTarget], outcome: str) -> Finding:
    first = targets[0]
    where = f"{first.directive} at {first.file}:{first.line}"
    more = f" and {len(targets) - 1} more" if len(targets) > 1 else ""
    refused = outcome.startswith("ECONNREFUSED")
    cause = (f"nothing listens on {address}: the backend is down or on another port; httpd answers 503 "
             "(AH01114/AH00957 in the error log)" if refused else
             f"connecting to {address} failed: {outcome}; httpd answers 503 or 502 for these requests")
    return Finding(
        NAME, "backend-down", Severity.CRITICAL, f"backend {address} named by {where}{more}: {outcome}", cause,
        evidence=(*(ctx.source_line(t.file, t.line) for t in targets), f"connect {address}: {outcome}"),
        directives=tuple(DirectiveRef.of(t) for t in targets), vhost=first.vhost,
        next=_next(ctx, first),
    )


def _next(ctx: DoctorContext, target: ConfigTarget) -> str:
    """``vhostguard trace URL`` for a request this directive proxies, when one can be written."""
    server = ctx.model.vhost(target.vhost) if target.vhost else ctx.model.main
    path = target.url_path if target.url_path and target.url_path.startswith("/") and target.directive.lower() == "proxypass" else "/"
    port = next((a.port for a in server.addresses if a.port), None) if server else None
    if port is None:
        port = ctx.model.listens[0].port if ctx.model.listens else 80
    host = server.server_name if server else "localhost"
    scheme = "https" if port == 443 else "http"
    url = f"{scheme}://{host}{'' if (scheme, port) in (('http', 80), ('https', 443)) else f':{port}'}{path}"
    return ctx.command("trace", url) if urlsplit(url).hostname else ctx.command("explain", "http://localhost/")


CHECK = Check(NAME, run)

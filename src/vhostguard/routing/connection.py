"""Before any vhost: does the request reach httpd at all, and in the protocol it expects?

- No ``Listen`` opens the port (or the address) the request goes to: the
  client's connection is refused; no vhost, no status (outcome ``refused``).
  A config without any Listen is a fragment (httpd refuses to start without
  one: "no listening sockets available"), so nothing is refused for it.
- An https request to a port whose connections do not start TLS (the address
  set's default server has no ``SSLEngine on``): the TLS handshake fails, the
  client never sends its request (``refused`` too).
- A plain-http request to a port that starts TLS: mod_ssl answers 400 ("You're
  speaking plain HTTP to an SSL-enabled server port", AH02261).
"""
from __future__ import annotations

from dataclasses import dataclass

from vhostguard.model import ListenAddress, normalize_ip
from vhostguard.routing.request import Request


@dataclass(frozen=True, slots=True)
class Refusal:
    kind: str  # "refused" or "bad-request"
    status: int | None
    reason: str
    listen: ListenAddress | None = None  # the Listen the connection reached, if any


def listen_for(listens: tuple[ListenAddress, ...], request: Request) -> ListenAddress | None:
    """The Listen that accepts a connection to (request.local_ip, request.port), or None.

    ``local_ip`` None stands for an address the caller did not choose: any
    Listen on the port accepts it (the CLI picks the first Listen's address).
    """
    on_port = [listen for listen in listens if listen.port == request.port]
    if request.local_ip is None or not on_port:
        return on_port[0] if on_port else None
    ip = normalize_ip(request.local_ip) or request.local_ip
    for listen in on_port:
        # A Listen naming a host (not an IP) opens whatever it resolves to at start-up:
        # not known here, so it is taken to cover the address rather than refuse.
        if listen.ip is None or listen.ip == ip or normalize_ip(listen.ip) is None:
            return listen
    return None


def refusal(listens: tuple[ListenAddress, ...], request: Request, speaks_tls: bool) -> Refusal | None:
    """Why this request gets no ordinary answer from a vhost, or None when it does.

    ``speaks_tls``: the connection's base server has SSLEngine on (sni.SniChecker.speaks_tls).
    """
    if listens:
        listen = listen_for(listens, request)
        if listen is None:
            where = f"{request.local_ip}:{request.port}" if request.local_ip else f"port {request.port}"
            return Refusal("refused", None, f"no Listen opens {where}: the connection is refused")
    else:
        listen = None
    if request.scheme == "https" and not speaks_tls and listens:
        return Refusal("refused", None, f"port {request.port} speaks plain HTTP (no SSLEngine on for its connections): "
                       "the TLS handshake fails", listen)
    if request.scheme == "http" and speaks_tls:
        return Refusal("bad-request", 400, f"plain HTTP to port {request.port}, where SSLEngine is on: mod_ssl answers 400",
                       listen)
    return None

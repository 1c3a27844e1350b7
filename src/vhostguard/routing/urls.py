"""The absolute URLs httpd builds for a request: one implementation for every stage that
needs ``SERVER_NAME``, ``SERVER_PORT`` or a Location (mod_alias's relative Redirect,
mod_rewrite's ``[R]`` and ``fully_qualify_uri``, mod_dir's trailing-slash redirect).

Follows server/core.c: ``ap_get_server_name_for_url`` (the name),
``ap_get_server_port`` (the port) and ``ap_construct_url`` (scheme://name[:port]path,
the port left out when it is the scheme's default), with what the live apache2
2.4.71 showed where the source reads differently:

- UseCanonicalName Off (the default) or DNS: the port of the Host header if it
  has one, else the server's port (its own ServerName's: a vhost does not take
  the main server's, seen live), else the scheme's default; with
  UseCanonicalPhysicalPort On the port the connection came in on comes before
  the server's port. Never the connection's port otherwise (a request to
  ``:8080`` with ``Host: name`` is redirected to ``http://name/...``).
- UseCanonicalName On: the ServerName's port, else (UseCanonicalPhysicalPort
  On) the connection's port, else the scheme's default; the Host header's port
  is not used (seen live).
- The name: Off, the Host header's host (lower-cased, no trailing dot); On, the
  ServerName; DNS, a reverse lookup of the address the connection came in on,
  which no config can tell (the caller marks that uncertain).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from vhostguard.config import Directive
from vhostguard.model import Server
from vhostguard.routing.request import Request
from vhostguard.routing.sections import Section

# The per-directory settings of this module (core.c: RSRC_CONF|ACCESS_CONF, so
# <Directory>, <Location> and their kin may set them; .htaccess may not).
SECTION_KEYS = ("usecanonicalname", "usecanonicalphysicalport")

# ``scheme:`` or ``scheme://`` at the start of a target: mod_rewrite's is_absolute_uri
# knows ws://, wss://, fcgi://, ... as well as http(s)://; "unix:" has no slashes.
_HAS_SCHEME = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|unix:)", re.IGNORECASE)

USE_CANONICAL_DNS_NOTE = (
    "UseCanonicalName DNS: the server name in built URLs comes from a reverse DNS lookup of the "
    "address the connection arrived on, not from the config"
)


@dataclass(frozen=True, slots=True)
class UrlSettings:
    """What one server's config says about the URLs httpd builds for it."""

    canonical: str  # "off", "on" or "dns" (UseCanonicalName)
    physical_port: bool  # UseCanonicalPhysicalPort On
    server_name: str  # the ServerName's host (apache2 -S's name)
    server_port: int | None  # the ServerName's port (None: it has none)
    https_name: bool  # the ServerName says https:// (a TLS-offloading front end)
    encoded_slashes: str = "off"  # AllowEncodedSlashes: "off", "on" or "nodecode" (how %2F in a path is read)


def url_settings(base_last: dict[str, Directive], server: Server) -> UrlSettings:
    """``base_last``: the server-level directives that win (routing.sections.last_of)."""
    canonical = _word(base_last.get("usecanonicalname"), "off")
    physical = _word(base_last.get("usecanonicalphysicalport"), "off") == "on"
    declared = server.declared_name
    port = declared.port if declared is not None and declared.port else None
    https_name = declared is not None and declared.scheme == "https"
    # AllowEncodedSlashes is the server's own: a vhost does not inherit the main server's
    # (seen live: the well-known gotcha of setting it once in apache2.conf), unlike UseCanonicalName.
    own = [node for node in server.directives if node.key == "allowencodedslashes"]
    slashes = _word(own[-1] if own else None, "off")
    return UrlSettings(canonical if canonical in ("on", "dns") else "off", physical, server.server_name, port, https_name,
                       slashes if slashes in ("on", "nodecode") else "off")


def in_sections(settings: UrlSettings, chosen: Sequence[Section]) -> UrlSettings:
    """``settings`` with UseCanonicalName and UseCanonicalPhysicalPort as the sections in
    force (``chosen``, in merge order) set them: ``ap_get_server_name`` and
    ``ap_get_server_port`` read the per-directory core config of the request, so a
    ``<Location>`` or ``<Directory>`` value wins over the server's where it applies."""
    canonical, physical = settings.canonical, settings.physical_port
    for section in chosen:
        node = section.last.get("usecanonicalname")
        if node is not None:
            word = _word(node, "off")
            canonical = word if word in ("on", "dns") else "off"
        node = section.last.get("usecanonicalphysicalport")
        if node is not None:
            physical = _word(node, "off") == "on"
    if (canonical, physical) == (settings.canonical, settings.physical_port):
        return settings
    return replace(settings, canonical=canonical, physical_port=physical)


def _word(node: Directive | None, default: str) -> str:
    return node.args[0].lower() if node is not None and node.args else default


def has_scheme(target: str) -> bool:
    """Is ``target`` already an absolute URL (``ws://``, ``fcgi://``, ``unix:...`` as well as http)?"""
    return _HAS_SCHEME.match(target) is not None


def url_scheme(settings: UrlSettings, request: Request) -> str:
    """``ap_http_scheme``: https on a TLS connection (mod_ssl's hook), else the ServerName's scheme."""
    return "https" if request.scheme == "https" or settings.https_name else "http"


def default_port(settings: UrlSettings, request: Request) -> int:
    """``ap_default_port``: 443 where the scheme is https, else 80."""
    return 443 if url_scheme(settings, request) == "https" else 80


def host_port(request: Request) -> int | None:
    """The port the Host header names (``r->parsed_uri.port``), or None."""
    host = request.host
    if not host or ":" not in host.rsplit("]", 1)[-1]:
        return None
    text = host.rsplit(":", 1)[1]
    return int(text) if text.isdigit() else None


def server_port(settings: UrlSettings, request: Request) -> int:
    """``ap_get_server_port``."""
    if settings.canonical == "on":
        if settings.server_port:
            return settings.server_port
        return request.port if settings.physical_port else default_port(settings, request)
    from_host = host_port(request)
    if from_host is not None:
        return from_host
    if settings.physical_port:
        return request.port
    return settings.server_port or default_port(settings, request)


def server_name_for_url(settings: UrlSettings, request: Request) -> str:
    """``ap_get_server_name_for_url`` without the IPv6 brackets (see ``construct_url``).
    For UseCanonicalName DNS the ServerName stands in (see USE_CANONICAL_DNS_NOTE)."""
    if settings.canonical == "off" and request.host:
        host = request.host
        name = host.split("]")[0] + "]" if host.startswith("[") else host.rsplit(":", 1)[0]
        return name.lower().rstrip(".")
    return settings.server_name


def construct_url(settings: UrlSettings, request: Request, path: str) -> str:
    """``ap_construct_url``: scheme://name[:port]path, as a Location header carries it."""
    scheme = url_scheme(settings, request)
    name = server_name_for_url(settings, request)
    port = server_port(settings, request)
    if ":" in name and not name.startswith("["):
        name = f"[{name}]"
    return f"{scheme}://{name}{'' if port == default_port(settings, request) else f':{port}'}{path}"

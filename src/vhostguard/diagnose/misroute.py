"""Why httpd gives a Host to another vhost than the one meant for it.

httpd picks a vhost in two steps (server/vhost.c). For the connection,
``ap_update_vhost_given_ip`` takes the name chain of the exact local
address:port if any ``<VirtualHost IP:port>`` names it, and only otherwise
the chain of the wildcard ``*:port`` vhosts: an IP-specific vhost hides the
``*`` ones for connections to its address. Within that chain,
``update_server_from_aliases`` walks the vhosts in configuration order and
takes the first whose ServerName, ServerAlias or wildcard alias matches the
Host; none matching, the chain's first vhost answers (its default). A vhost
without ServerName gets one in ``ap_fini_vhost_config``: on a ``*`` address
the main server's name (its ServerName, else the machine's host name), on an
IP address the reverse-DNS name of the address.

So a Host meant for vhost B reaches vhost A when: an earlier A names it too
(a wildcard alias, the same name, or a name A inherited because it has no
ServerName of its own); A is declared on the connection's exact address and
B only on ``*``; B is declared for another address or port than the
request's; or B has no ServerName at all, so nothing names the Host and the
chain's default answers.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from vhostguard.diagnose.refs import DirectiveRef, naming_directive
from vhostguard.model import Match, Server, ServerModel, normalize_host, wildcard_regex

# Match.how values where no name or alias decided: the chain's first (or only) vhost, or the main server.
_UNNAMED = ("only", "default", "virthost", "main")
NEAR = 0.85  # difflib ratio from which a name is taken for a typo of the Host (api.exmaple.com ~ api.example.com: 0.93)


@dataclass(frozen=True)
class Misroute:
    """``captor`` answers the Host; ``owner`` is the vhost meant for it.

    ``cause``: ``earlier-name`` (an earlier name or alias of the captor),
    ``inherited-name`` (the captor has no ServerName and inherits one that
    matches), ``ip-vhost`` (an IP-specific vhost hides the owner's ``*``
    address), ``other-address`` (the owner is declared for another
    address:port), ``no-servername`` (the owner has no ServerName; nobody
    names the Host). ``deciding``: the captor's lines that made httpd pick it;
    ``named``: the owner's lines; ``why``: httpd's rule at work, one sentence;
    ``fix``: what to change.
    """

    cause: str
    captor: Server
    owner: Server
    host: str
    deciding: tuple[DirectiveRef, ...]
    named: tuple[DirectiveRef, ...]
    owner_role: str  # how the summary describes the owner: "that names it", ...
    why: str
    fix: str


def find_misroute(model: ServerModel, match: Match, port: int) -> Misroute | None:
    """The reason ``match`` (httpd's pick for a request to ``port``) is not the
    vhost meant for its Host, or None when nothing suggests it is wrong."""
    host = match.host.name
    if host is None or match.how == "bad-host":
        return None
    aset = match.address_set
    if aset is not None and match.how not in ("only", "main"):
        owner = _literal_owner(aset.servers, host)
        if owner is not None and owner.id != match.server.id:
            if match.server.declared_name is None and match.how == "name":
                return _inherited(model, match, owner, host)
            return _earlier(match, owner, host)
        if owner is not None:
            return None
    if match.how not in _UNNAMED:
        return None
    if aset is not None and aset.ip is not None:
        hidden = model.match(None, port, host)
        named = hidden.how in ("name", "alias", "wild-alias") or (hidden.how == "only" and _names(hidden.server, host))
        if hidden.address_set is not None and named and hidden.server.id != match.server.id:
            return _ip_vhost(match, hidden, host, port)
    elsewhere = _named_elsewhere(model, match, host)
    if elsewhere is not None:
        return _other_address(match, elsewhere, host, port)
    if match.how == "default" and aset is not None:
        near = _near_name(aset.servers[1:], host)
        if near is not None:
            return _typo(match, near[0], near[1], host)
        nameless = [server for server in aset.servers[1:] if server.declared_name is None]
        if nameless:
            return _no_servername(model, match, nameless, host)
    return None


def _near_name(servers: tuple[Server, ...], host: str) -> tuple[Server, str] | None:
    """The vhost with a ServerName or plain alias closest to the Host, when close enough to be its typo."""
    best: tuple[float, Server, str] | None = None
    for server in servers:
        names = ([server.declared_name.host] if server.declared_name is not None else []) + list(server.aliases)
        for name in names:
            ratio = difflib.SequenceMatcher(None, name.lower(), host).ratio()
            if ratio >= NEAR and (best is None or ratio > best[0]):
                best = (ratio, server, name)
    return (best[1], best[2]) if best else None


# -- who names the Host ------------------------------------------------------------------

def _names(server: Server, host: str) -> bool:
    if server.declared_name is not None and server.declared_name.host.lower() == host:
        return True
    if any(alias.lower() == host for alias in server.aliases):
        return True
    return any(wildcard_regex(pattern).match(host) for pattern in server.wild_aliases)


def _literal_owner(servers: tuple[Server, ...], host: str) -> Server | None:
    """The first vhost whose own ServerName or plain ServerAlias is exactly the Host."""
    for server in servers:
        names = ([server.declared_name.host] if server.declared_name is not None else []) + list(server.aliases)
        if any(name.lower() == host for name in names):
            return server
    return None


def _named_elsewhere(model: ServerModel, match: Match, host: str) -> Server | None:
    """A vhost outside the connection's address set that names the Host (its own names only)."""
    inside = {server.id for server in match.address_set.servers} if match.address_set is not None else set()
    exact = [s for s in model.vhosts if s.id not in inside and _literal_owner((s,), host) is not None]
    if exact:
        return exact[0]
    return next((s for s in model.vhosts if s.id not in inside and _names(s, host)), None)


def _name_ref(server: Server, host: str) -> DirectiveRef | None:
    """The owner's ServerName/ServerAlias line naming the Host."""
    for node in server.directives:
        if node.key not in ("servername", "serveralias"):
            continue
        for arg in node.args:
            name = normalize_host(arg.split("://")[-1]).name
            if name == host or (("*" in arg or "?" in arg) and wildcard_regex(arg).match(host)):
                return DirectiveRef(node.name, node.source.file, node.source.line, server.id)
    return None


def _vhost_ref(server: Server) -> DirectiveRef | None:
    if server.source is None:
        return None
    return DirectiveRef("VirtualHost", server.source.file, server.source.line, server.id)


def _refs(*refs: DirectiveRef | None) -> tuple[DirectiveRef, ...]:
    return tuple(ref for ref in refs if ref is not None)


def _where(ref: DirectiveRef | None) -> str:
    return f" at {ref.file}:{ref.line}" if ref is not None else ""


def who(server: Server) -> str:
    """``www.example.test (sites/00-www.conf:1)``, or ``the main server``."""
    return f"{server.server_name} ({server.id})" if server.id is not None else f"the main server ({server.server_name})"


def _addresses(server: Server) -> str:
    return " ".join(address.display() for address in server.addresses)


# -- the causes ----------------------------------------------------------------------------

def _earlier(match: Match, owner: Server, host: str) -> Misroute:
    captor = match.server
    assert match.address_set is not None
    deciding = naming_directive(captor, match)
    if deciding is not None and deciding.name.lower() == "serveralias":
        fix = (f"narrow ServerAlias {match.matched} at {deciding.file}:{deciding.line} to the names "
               f"{captor.server_name} serves, or move {owner.id} (the <VirtualHost> of {owner.server_name}) "
               f"before {captor.id} in configuration order")
    else:
        fix = (f"remove {host} from {captor.server_name}'s names{_where(deciding)}, "
               f"or move {owner.id} before {captor.id} in configuration order")
    how = "alias" if match.how == "wild-alias" else match.how
    why = (f"Host {host} matches {how} {match.matched} of {who(captor)}, which comes before {who(owner)} on "
           f"{match.address_set.address}: httpd takes the first vhost of the address set whose name or alias matches")
    return Misroute("earlier-name", captor, owner, host, _refs(deciding), _refs(_name_ref(owner, host)),
                    "that names it", why, fix)


def _inherited(model: ServerModel, match: Match, owner: Server, host: str) -> Misroute:
    captor = match.server
    assert match.address_set is not None
    main_name = model.main.declared_name
    main_ref = (DirectiveRef("ServerName", main_name.source.file, main_name.source.line)
                if main_name is not None and main_name.source is not None else None)
    inherits_main = any(address.is_wildcard for address in captor.addresses)
    if not inherits_main:
        origin = "the reverse-DNS name of its address"
    elif main_ref is not None:
        origin = f"the main server's ServerName{_where(main_ref)}"
    else:
        origin = "the machine's host name (the main server has no ServerName)"
    vhost_line = _vhost_ref(captor)
    why = (f"{who(captor)} has no ServerName, so httpd names it {captor.server_name} after {origin}; it comes before "
           f"{who(owner)} on {match.address_set.address}, and httpd takes the first vhost whose name matches")
    fix = (f"give the vhost at {captor.id} a ServerName of its own, "
           f"or move {owner.id} before it in configuration order")
    return Misroute("inherited-name", captor, owner, host, _refs(vhost_line, main_ref if inherits_main else None),
                    _refs(_name_ref(owner, host)), "that names it", why, fix)


def _ip_vhost(match: Match, hidden: Match, host: str, port: int) -> Misroute:
    captor, owner = match.server, hidden.server
    assert match.address_set is not None and hidden.address_set is not None
    specific, wildcard = match.address_set.address, hidden.address_set.address
    captor_line, owner_line = _vhost_ref(captor), _vhost_ref(owner)
    why = (f"the connection arrived on {specific}, which <VirtualHost {_addresses(captor)}> of {who(captor)} "
           f"names: httpd uses the vhosts of an exact address:port first and then never "
           f"looks at the {wildcard} vhosts, where {who(owner)} names {host}")
    fix = (f"add {specific} to the <VirtualHost> at {owner.id} (<VirtualHost {_addresses(owner)} {specific}>), "
           f"or declare the vhost at {captor.id} on {wildcard} instead of {specific}")
    return Misroute("ip-vhost", captor, owner, host, _refs(captor_line), _refs(owner_line, _name_ref(owner, host)),
                    f"that names it on {wildcard}", why, fix)


def _other_address(match: Match, owner: Server, host: str, port: int) -> Misroute:
    captor = match.server
    owner_line = _vhost_ref(owner)
    aset = match.address_set
    if aset is None:
        answered = f"no <VirtualHost> covers port {port}, so the main server answers"
        add = f"*:{port}"
    else:
        role = "the only vhost" if match.how == "only" else "the first vhost (httpd's default)"
        answered = f"on {aset.address} no vhost names {host}, so {role} of that address set answers"
        add = aset.address
    ports = sorted({a.port for a in owner.addresses if a.port is not None and a.port != port})
    elsewhere = f", or send the request to port {ports[0]}" if ports else ""
    why = (f"{who(owner)} names {host} but is declared for {_addresses(owner)} only; "
           f"a request to port {port} is matched against the vhosts of its own address:port: {answered}")
    fix = f"add {add} to the <VirtualHost> at {owner.id}{elsewhere}"
    return Misroute("other-address", captor, owner, host, _refs(_vhost_ref(captor)),
                    _refs(owner_line, _name_ref(owner, host)), f"that names it on {_addresses(owner)}", why, fix)


def _no_servername(model: ServerModel, match: Match, nameless: list[Server], host: str) -> Misroute:
    captor, owner = match.server, nameless[0]
    assert match.address_set is not None
    owner_line = _vhost_ref(owner)
    others = f" (and {len(nameless) - 1} more vhosts without one)" if len(nameless) > 1 else ""
    why = (f"no vhost on {match.address_set.address} has ServerName or ServerAlias {host}, so the first one, "
           f"{who(captor)}, answers (httpd's default for the address set); the vhost at {owner.id} has no "
           f"ServerName{others}: httpd names it {owner.server_name} (inherited), so no Host of its own reaches it")
    fix = f"add `ServerName {host}` to the vhost at {owner.id} if it is meant to serve {host}"
    return Misroute("no-servername", captor, owner, host, _refs(_vhost_ref(captor)), _refs(owner_line),
                    "which has no ServerName", why, fix)


def _typo(match: Match, owner: Server, name: str, host: str) -> Misroute:
    captor = match.server
    assert match.address_set is not None
    named = _name_ref(owner, name)
    directive = named.name if named is not None else "ServerName"
    why = (f"no vhost on {match.address_set.address} names {host}, so the first one, {who(captor)}, answers "
           f"(httpd's default for the address set); {who(owner)} has {directive} {name}{_where(named)}, "
           f"one typo away from {host}")
    fix = f"correct {directive} {name}{_where(named)} to {host}" + (
        f", or add `ServerAlias {host}` to the vhost at {owner.id}" if directive == "ServerName" else "")
    return Misroute("near-name", captor, owner, host, _refs(_vhost_ref(captor)), _refs(named),
                    f"whose {directive} {name} is close to it", why, fix)

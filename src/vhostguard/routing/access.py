"""Access control: mod_authz_core ``Require`` and mod_access_compat ``Order/Allow/Deny``.

With the default ``AuthMerging Off``, the last section that says anything
about authorization decides alone; an empty configuration grants.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from vhostguard.config import Directive
from vhostguard.routing.sections import Section

AUTHZ_KEYS = frozenset({"require", "requireall", "requireany", "requirenone"})
COMPAT_KEYS = frozenset({"order", "allow", "deny", "satisfy"})


@dataclass(frozen=True, slots=True)
class AccessResult:
    """``granted`` / ``denied`` / ``auth`` (authentication needed: 401)."""

    verdict: str
    directive: Directive | None
    detail: str
    uncertain: str | None = None


@lru_cache(maxsize=4096)
def _ip_in(remote: str, spec: str) -> bool:
    """Is ``remote`` in ``spec`` (an address, a network, or a partial IPv4)? Cached:
    parsing is the costly part, and clients and specs repeat."""
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    try:
        if "/" in spec:
            return address in ipaddress.ip_network(spec, strict=False)
        if spec.count(".") < 3 and ":" not in spec and all(p.isdigit() for p in spec.strip(".").split(".") if p):
            # Partial IPv4 ("10.1") means the /8, /16, /24 network.
            octets = [p for p in spec.strip(".").split(".") if p]
            network = ".".join(octets + ["0"] * (4 - len(octets))) + f"/{8 * len(octets)}"
            return address in ipaddress.ip_network(network, strict=False)
        return address == ipaddress.ip_address(spec)
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class _Client:
    remote_ip: str
    method: str


def _require(node: Directive, client: _Client) -> tuple[str, str | None]:
    """One ``Require`` line: 'yes', 'no', 'auth' (needs a user), plus an uncertainty."""
    args = list(node.args)
    negate = bool(args) and args[0].lower() == "not"
    if negate:
        args = args[1:]
    if not args:
        return "no", None
    provider, values = args[0].lower(), args[1:]
    uncertain = None
    if provider == "all":
        result = "yes" if values and values[0].lower() == "granted" else "no"
    elif provider == "ip":
        result = "yes" if any(_ip_in(client.remote_ip, v) for v in values) else "no"
    elif provider == "local":
        result = "yes" if _ip_in(client.remote_ip, "127.0.0.0/8") or client.remote_ip == "::1" else "no"
    elif provider == "method":
        result = "yes" if client.method.upper() in (v.upper() for v in values) else "no"
    elif provider in ("valid-user", "user", "group", "ldap-user", "ldap-group", "ldap-attribute", "ldap-filter", "ldap-dn", "dbd-group", "file-group", "file-owner"):
        result = "auth"
    elif provider in ("host", "forward-dns"):
        result, uncertain = "no", f"Require {provider} depends on the client's reverse DNS"
    else:
        result, uncertain = "no", f"Require {provider} is not modelled"
    if negate and result in ("yes", "no"):
        result = "no" if result == "yes" else "neutral"
    return result, uncertain


def _container(nodes: tuple[Directive, ...], mode: str, client: _Client, notes: list[str]) -> str:
    """Evaluate a RequireAny/All/None block: returns 'yes', 'no', 'auth' or 'neutral'."""
    results: list[str] = []
    for node in nodes:
        key = node.key
        if key == "require":
            result, uncertain = _require(node, client)
        elif key in ("requireall", "requireany", "requirenone"):
            result = _container(node.children or (), key[7:], client, notes)
            uncertain = None
        else:
            continue
        if uncertain:
            notes.append(uncertain)
        results.append(result)
    if not results:
        return "neutral"
    if mode == "all":
        if "no" in results:
            return "no"
        if "auth" in results:
            return "auth"
        return "yes" if "yes" in results else "neutral"
    if mode == "none":
        return "no" if "yes" in results else ("auth" if "auth" in results else "neutral")
    if "yes" in results:
        return "yes"
    if "auth" in results:
        return "auth"
    return "no" if "no" in results else "neutral"


def _authz_nodes(section_children: tuple[Directive, ...]) -> tuple[Directive, ...]:
    return tuple(n for n in section_children if n.key in AUTHZ_KEYS)


def _compat(nodes: list[Directive], client: _Client) -> tuple[bool, Directive | None]:
    """mod_access_compat: Order + Allow/Deny lists (later sections replace lists)."""
    order = "deny,allow"
    allows: list[Directive] = []
    denies: list[Directive] = []
    order_node = None
    for node in nodes:
        if node.key == "order" and node.args:
            order, order_node = node.args[0].lower().replace(" ", ""), node
        elif node.key == "allow":
            allows.append(node)
        elif node.key == "deny":
            denies.append(node)

    def hits(entries: list[Directive]) -> Directive | None:
        for entry in entries:
            specs = entry.args[1:] if entry.args and entry.args[0].lower() == "from" else entry.args
            for spec in specs:
                if spec.lower() == "all" or _ip_in(client.remote_ip, spec):
                    return entry
        return None

    allowed, denied = hits(allows), hits(denies)
    if order == "allow,deny" or order == "mutual-failure":
        ok = allowed is not None and denied is None
    else:  # deny,allow
        ok = denied is None or allowed is not None
    return ok, (denied or allowed or order_node)


def check_access(chosen: list[Section], remote_ip: str, method: str) -> AccessResult:
    """Decide access for the sections that apply, in merge order."""
    deciding, compat_nodes = deciders(chosen)
    return decide(deciding, compat_nodes, remote_ip, method)


def deciders(chosen: Iterable[Section], deciding: Section | None = None,
             compat_nodes: list[Directive] | None = None) -> tuple[Section | None, list[Directive]]:
    """What access depends on: the last section with authorization directives
    (AuthMerging Off: it decides alone) and the merged Order/Allow/Deny/Satisfy lines.

    ``deciding`` and ``compat_nodes`` carry on from the sections before ``chosen``
    (what this returned for them); the list is never modified, so it can be shared.
    """
    if compat_nodes is None:
        compat_nodes = []
    for section in chosen:
        if section.authz:
            deciding = section
        compat = section.compat
        if compat:
            if any(n.key in ("allow", "deny") for n in compat):
                compat_nodes = list(compat)
            else:
                compat_nodes = compat_nodes + list(compat)
    return deciding, compat_nodes


def decide(deciding: Section | None, compat_nodes: list[Directive], remote_ip: str, method: str) -> AccessResult:
    """The verdict for a client, given what ``deciders`` found."""
    client = _Client(remote_ip, method)
    uncertain: list[str] = []
    verdict = "granted"
    directive: Directive | None = None
    detail = "no Require applies: granted"
    if deciding is not None:
        nodes = deciding.authz
        notes: list[str] = []
        result = _container(nodes, "any", client, notes)
        uncertain.extend(notes)
        directive = nodes[-1]
        if result == "yes":
            detail = f"granted by {' '.join(['Require', *directive.args])}"
        elif result == "auth":
            verdict, detail = "auth", "authentication required (Require user/valid-user)"
        else:
            # No file:line in the text: the step and the outcome carry the directive's source.
            verdict, detail = "denied", "denied by the Require rules"
    if compat_nodes and any(n.key in ("allow", "deny", "order") for n in compat_nodes):
        ok, node = _compat(compat_nodes, client)
        satisfy_any = any(n.key == "satisfy" and n.args and n.args[0].lower() == "any" for n in compat_nodes)
        if not ok and not (satisfy_any and verdict == "granted" and deciding is not None):
            verdict, directive = "denied", node
            detail = "denied by Order/Allow/Deny"
    return AccessResult(verdict, directive, detail, "; ".join(uncertain) or None)

"""mod_ssl's SNI checks on a request, offline: 400, 403 or 421 before any routing.

Follows mod_ssl of httpd 2.4.71 (read in httpd's 2.4.x source up to 2.4.63 and
checked against the real server for what 2.4.64-2.4.66 changed, see
docs/httpd-behaviour.md). On a TLS connection the SNI name picks the
*handshake* server among the connection's address set (``init_vhost`` ->
``ssl_find_vhost`` -> ``ssl_util_vhost_matches``; no SNI or no match: the
address set's default); the Host then picks the request server as usual;
``ssl_hook_ReadReq`` (a post_read_request hook: after core's Host checks,
before URI decoding) then refuses

- a request without a hostname when SNI was sent (AH02031, 400);
- without SNI, a request to a name-based address set when
  ``SSLStrictSNIVHostCheck on`` applies to the handshake or the request
  server (AH02033, 403);
- a request whose server is not the handshake server, with or without SNI,
  when ``SSLVHostSNIPolicy`` (default ``secure``) finds their merged SSL
  setups incompatible (AH02032, 421).

Public surface: ``sni_outcome(model, request, request_match)`` and, for many
requests against one model, ``SniChecker``. Static: never runs apache2.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from vhostguard.config import server_root_relative
from vhostguard.config import Directive
from vhostguard.config import Source
from vhostguard.model import Match, Server, ServerModel, normalize_host
from vhostguard.model import wildcard_regex
from vhostguard.routing.decision import Step
from vhostguard.routing.request import Request

# SSL_PROTOCOL_ALL of a Debian (OpenSSL 3, no-ssl3) build, which is also the
# default (SSL_PROTOCOL_DEFAULT = ALL when OPENSSL_NO_SSL3).
ALL_PROTOCOLS = frozenset({"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"})
# CERTKEYS_IDX_MAX + 1 with HAVE_ECC: how many SSLCertificate[Key]File entries of a
# vhost replace the main server's index by index before the rest are appended.
_CERTKEYS_REPLACED = 3
_VERIFY_MODES = {"none": "none", "off": "none", "optional": "optional", "require": "require", "on": "require",
                 "optional_no_ca": "optional_no_ca"}

POLICIES = ("strict", "secure", "authonly", "insecure")
DEFAULT_POLICY = "secure"

# The fields SSLVHostSNIPolicy compares, with the directive that sets each and
# its category: "server" (certificate/key, protocol/cipher restrictions:
# compared by ``secure``) or "auth" (client verification and authentication:
# compared by ``secure`` and ``authonly``).
COMPARED_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("protocols", "SSLProtocol", "server"),
    ("cipher_suite", "SSLCipherSuite", "server"),
    ("tls13_ciphers", "SSLCipherSuite TLSv1.3", "server"),
    ("cert_files", "SSLCertificateFile", "server"),
    ("key_files", "SSLCertificateKeyFile", "server"),
    ("verify_mode", "SSLVerifyClient", "auth"),
    ("verify_depth", "SSLVerifyDepth", "auth"),
    ("ca_cert_path", "SSLCACertificatePath", "auth"),
    ("ca_cert_file", "SSLCACertificateFile", "auth"),
    ("ca_name_path", "SSLCADNRequestPath", "auth"),
    ("ca_name_file", "SSLCADNRequestFile", "auth"),
    ("crl_path", "SSLCARevocationPath", "auth"),
    ("crl_file", "SSLCARevocationFile", "auth"),
    ("crl_check", "SSLCARevocationCheck", "auth"),
    ("ocsp", "SSLOCSPEnable", "auth"),
    ("srp_file", "SSLSRPVerifierFile", "auth"),
    ("conf_cmds", "SSLOpenSSLConfCmd", "auth"),
)
_LIST_FIELDS = frozenset({"cert_files", "key_files"})


@dataclass(frozen=True, slots=True)
class SslSetup:
    """One server's SSL settings as the SNI policy sees them: after
    ``ssl_config_server_merge`` with the main server and the defaults module
    init fills in (verify mode none, depth 1). ``values`` holds every
    COMPARED_FIELDS field; ``origins`` maps a field to the directives that
    produced its value (absent: the default)."""

    engine: str | None  # "on", "off", "optional"; None when never set
    strict_sni: bool
    values: dict[str, object]
    origins: dict[str, tuple[Directive, ...]]


@dataclass(frozen=True, slots=True)
class Handshake:
    """The server whose SSL context the handshake used (httpd's ``sslconn->server``).

    ``how``: ``name``/``alias``/``wild-alias`` (the SNI matched it), ``no-sni``,
    ``unmatched`` (nothing matched: the address set's default), ``only`` (one
    vhost on the address: SNI is not looked at), ``main`` (no vhost on the address).
    """

    server: Server
    sni: str | None
    how: str
    matched: str | None
    name_based: bool  # httpd's conn->vhost_lookup_data: two or more vhosts share the address

    def describe(self) -> str:
        where = self.server.label()
        if self.how in ("name", "alias", "wild-alias"):
            kind = {"name": "ServerName", "alias": "ServerAlias", "wild-alias": "ServerAlias"}[self.how]
            return f"SNI {self.sni} matches {kind} {self.matched}: handshake with {where}"
        if self.how == "unmatched":
            return f"SNI {self.sni} matches no ServerName/ServerAlias: handshake with the default {where}"
        if self.how == "no-sni":
            return f"no SNI: handshake with the default {where}"
        if self.how == "only":
            return f"one vhost on the address: handshake with {where} whatever the SNI"
        return f"no <VirtualHost> on the address: handshake with the main server ({self.server.server_name})"


@dataclass(frozen=True, slots=True)
class SniResult:
    """mod_ssl's objection to a request: the status and why, in httpd's terms."""

    status: int  # 400, 421 or 403
    kind: str  # the Outcome kind: bad-request, misdirected, forbidden
    handshake: Handshake
    request_server: Server
    reason: str  # one line, ending with httpd's log id
    log_id: str  # AH02031, AH02032 or AH02033
    directives: tuple[Directive, ...]  # the config lines responsible, handshake server's first
    differences: tuple[str, ...] = ()  # for 421: the directive names whose effective values differ
    policy: str = DEFAULT_POLICY  # the SSLVHostSNIPolicy in force

    @property
    def directive(self) -> Directive | None:
        return self.directives[0] if self.directives else None

    @property
    def sources(self) -> tuple[Source, ...]:
        return tuple(node.source for node in self.directives)

    def step(self) -> Step:
        """The explanation line for ``explain``: stage ``ssl``, the reason, the first responsible line."""
        return Step("ssl", self.reason, self.directive.source if self.directive is not None else None)


class SniChecker:
    """mod_ssl's request checks against one model; each server's SSL setup is merged once."""

    def __init__(self, model: ServerModel) -> None:
        self.model = model
        self._ssl_loaded = any(m.name == "ssl_module" for m in model.tree.modules)
        resolve: Callable[[str], str] = lambda path: _resolve(model.tree.server_root, path)  # noqa: E731
        self._main_own = _own_settings(model.main.directives, resolve)
        self._setups: dict[int, tuple[Server, SslSetup]] = {}
        # SSLVHostSNIPolicy is global (server config only): the main server's last one.
        self.policy_directive = _last(model.main.directives, "sslvhostsnipolicy")
        policy = self.policy_directive.args[0].lower() if self.policy_directive is not None else DEFAULT_POLICY
        self.policy = policy if policy in POLICIES else DEFAULT_POLICY

    def setup(self, server: Server) -> SslSetup:
        """``server``'s SSL setup after the merge with the main server."""
        found = self._setups.get(id(server))
        if found is None or found[0] is not server:
            resolve: Callable[[str], str] = lambda path: _resolve(self.model.tree.server_root, path)  # noqa: E731
            own = self._main_own if server.is_main else _own_settings(server.directives, resolve)
            found = self._setups[id(server)] = (server, _merge(self._main_own, own, server.is_main))
        return found[1]

    def speaks_tls(self, match: Match) -> bool:
        """Does the connection ``match`` arrived on start with a TLS handshake? mod_ssl's
        pre_connection hook decides by the connection's base server (the address set's
        default, or the main server): SSLEngine on, with mod_ssl loaded."""
        if not self._ssl_loaded:
            return False
        aset = match.address_set
        return self.setup(aset.default if aset is not None else self.model.main).engine == "on"

    def handshake(self, request: Request, match: Match) -> Handshake | None:
        """The handshake server for this request's connection, or None when it is no TLS connection."""
        if request.scheme != "https" or not self._ssl_loaded:
            return None
        aset = match.address_set
        base = aset.default if aset is not None else self.model.main
        # mod_ssl's pre_connection hook starts TLS only when the connection's base
        # server has SSLEngine on ("optional" waits for an Upgrade: TLS/1.0).
        if self.setup(base).engine != "on":
            return None
        sni = sent_sni(request)
        if aset is None:
            return Handshake(base, sni, "main", None, False)
        name_based = len(aset.servers) > 1
        if sni is None:
            return Handshake(base, None, "no-sni", None, name_based)
        if not name_based:
            # No name chain: ap_vhost_iterate_given_conn asks only the base server.
            return Handshake(base, sni, "only", None, False)
        found = self._find(request, sni, aset.servers)
        if found is None:
            return Handshake(base, sni, "unmatched", None, True)
        server, how, matched = found
        return Handshake(server, sni, how, matched, True)

    def _find(self, request: Request, sni: str, servers: tuple[Server, ...]) -> tuple[Server, str, str] | None:
        """``ssl_find_vhost`` over the chain: the first server whose ServerName, ServerAlias
        or wildcard ServerAlias equals the SNI, case-insensitively."""
        lowered = sni.lower()
        if normalize_host(sni).name == lowered:
            # A plain name: the Host index gives the same first match, except that
            # Host matching also falls back to the <VirtualHost> address, SNI does not.
            match = self.model.match(request.local_ip, request.port, sni)
            if match.how in ("name", "alias", "wild-alias") and match.matched is not None:
                return match.server, match.how, match.matched
            return None
        # Anything else (a port, a trailing dot, odd characters) is compared verbatim,
        # as strcasecmp does, without Host's normalisation.
        for server in servers:
            if server.server_name.lower() == lowered:
                return server, "name", server.server_name
            for alias in server.aliases:
                if alias.lower() == lowered:
                    return server, "alias", alias
            for pattern in server.wild_aliases:
                if wildcard_regex(pattern).match(lowered):
                    return server, "wild-alias", pattern
        return None

    def check(self, request: Request, request_match: Match) -> SniResult | None:
        """``ssl_hook_ReadReq``'s verdict on a request whose server is ``request_match``
        (from ``model.match``); None when mod_ssl lets it through."""
        if request_match.how == "bad-host" or (request.host is None and not request.http10):
            return None  # core already answered 400 before the post_read_request hooks
        handshake = self.handshake(request, request_match)
        if handshake is None:
            return None
        server = request_match.server
        if handshake.sni is not None and request.host is None:
            return self._no_host(handshake, server)
        if handshake.sni is None:
            strict = self._strict(handshake, server)
            if strict is not None:
                return strict  # seen: 403 even where the policy would also refuse
        if server is handshake.server:
            return None
        differences = self.differences(handshake.server, server)
        if differences is None:
            return None
        return self._misdirected(handshake, server, request_match, differences)

    def differences(self, first: Server, second: Server) -> tuple[str, ...] | None:
        """Why SSLVHostSNIPolicy refuses a request for ``second`` on a connection whose
        handshake used ``first``: the directive names whose effective values differ
        in the categories the policy compares (empty for ``strict``, which refuses
        any other server); None when the policy allows it."""
        if self.policy == "insecure":
            return None
        if self.policy == "strict":
            return ()
        categories = ("server", "auth") if self.policy == "secure" else ("auth",)
        a, b = self.setup(first).values, self.setup(second).values
        found = []
        for field_name, directive, category in COMPARED_FIELDS:
            if category not in categories:
                continue
            left, right = a[field_name], b[field_name]
            same = _same_str_set(left, right) if field_name in _LIST_FIELDS else left == right  # type: ignore[arg-type]
            if not same and directive not in found:
                found.append(directive)
        return tuple(found) if found else None

    def _no_host(self, handshake: Handshake, server: Server) -> SniResult:
        engine = self.setup(handshake.server).origins.get("engine", ())
        reason = (f"hostname {handshake.sni} provided via SNI, but no hostname provided in HTTP request "
                  f"(HTTP/1.0 without Host): 400 [AH02031]")
        return SniResult(400, "bad-request", handshake, server, reason, "AH02031", engine)

    def _misdirected(self, handshake: Handshake, server: Server, match: Match, differences: tuple[str, ...]) -> SniResult:
        hs_setup, rq_setup = self.setup(handshake.server), self.setup(server)
        responsible: list[Directive] = []
        for field_name, directive, _ in COMPARED_FIELDS:
            if directive in differences:
                for node in hs_setup.origins.get(field_name, ()) + rq_setup.origins.get(field_name, ()):
                    if node not in responsible:
                        responsible.append(node)
        if self.policy_directive is not None and (self.policy == "strict" or not responsible):
            responsible.insert(0, self.policy_directive)
        host = match.host.name or "-"
        via = "provided via SNI" if handshake.sni is not None else "(default host as no SNI was provided)"
        name = handshake.sni if handshake.sni is not None else handshake.server.server_name
        why = "any other vhost" if self.policy == "strict" else f"they differ in {', '.join(differences)}"
        reason = (f"hostname {name} {via} selects {handshake.server.label()} for the handshake, Host {host} "
                  f"selects {server.label()}: no compatible SSL setup for policy '{self.policy}' ({why}): "
                  f"421 Misdirected Request [AH02032]")
        return SniResult(421, "misdirected", handshake, server, reason, "AH02032", tuple(responsible), differences,
                         self.policy)

    def _strict(self, handshake: Handshake, server: Server) -> SniResult | None:
        # Checked in the request server (sc) and in the handshake server (hssc), only
        # where a name chain exists (conn->vhost_lookup_data).
        if not handshake.name_based:
            return None
        strict = [s for s in (server, handshake.server) if self.setup(s).strict_sni]
        if not strict:
            return None
        responsible: list[Directive] = []
        for s in (handshake.server, server):
            if not self.setup(s).strict_sni:
                continue  # an "off" there is no reason for the 403
            for node in self.setup(s).origins.get("strict_sni", ()):
                if node not in responsible:
                    responsible.append(node)
        where = " and ".join(dict.fromkeys(s.label() for s in strict))
        reason = (f"no hostname provided via SNI for a name-based virtual host and SSLStrictSNIVHostCheck is on "
                  f"in {where}: 403 [AH02033]")
        return SniResult(403, "forbidden", handshake, server, reason, "AH02033", tuple(responsible))


def sni_outcome(model: ServerModel, request: Request, request_match: Match) -> SniResult | None:
    """mod_ssl's objection to ``request`` (400, 421 or 403), or None when there is none.

    ``request_match`` is ``model.match(request.local_ip, request.port, request.host)``.
    Only https requests on an address whose default server has ``SSLEngine on``
    are checked; ``request.sni`` None or ``""`` (or an IP literal, which clients
    never send) means no SNI. Builds a fresh SniChecker: use one for many requests.
    """
    return SniChecker(model).check(request, request_match)


def sent_sni(request: Request) -> str | None:
    """The SNI name the client sends: none for an empty name or an IP literal (RFC 6066
    allows only host names; Python's ssl, browsers and curl leave it out)."""
    sni = request.sni
    if not sni:
        return None
    try:
        ipaddress.ip_address(sni.strip("[]"))
    except ValueError:
        return sni
    return None


# -- the SSL setup: mod_ssl's directive handlers and its merge ----------------------


@dataclass(slots=True)
class _Own:
    """The server-level SSL directives written in one server (unset fields are None)."""

    values: dict[str, object]
    origins: dict[str, tuple[Directive, ...]]
    certs: list[tuple[str, Directive]]
    keys: list[tuple[str, Directive]]
    conf_cmds: list[tuple[tuple[str, ...], Directive]]


def _resolve(server_root: str, path: str) -> str:
    # ssl_cmd_check_file: ap_server_root_relative, except for ENGINE/PKCS#11 ids.
    if path.startswith("pkcs11:"):
        return path
    return server_root_relative(server_root, path)


# Directives whose one argument is a file or directory (resolved under ServerRoot) -> setting.
_PATH_SETTINGS = {
    "sslcacertificatepath": "ca_cert_path", "sslcacertificatefile": "ca_cert_file",
    "sslcadnrequestpath": "ca_name_path", "sslcadnrequestfile": "ca_name_file",
    "sslcarevocationpath": "crl_path", "sslcarevocationfile": "crl_file", "sslsrpverifierfile": "srp_file",
}


def _own_settings(directives: tuple[Directive, ...], resolve: Callable[[str], str]) -> _Own:  # noqa: C901 - one branch per SSL directive mod_ssl compares
    """What each handler stores, in reading order (the last one wins for a single value).

    Only server-level directives count: inside <Directory>/<Location> the same
    directives set the per-directory record, which the SNI policy ignores.
    """
    own = _Own({}, {}, [], [], [])

    def put(field_name: str, value: object, node: Directive) -> None:
        own.values[field_name] = value
        own.origins[field_name] = (node,)

    for node in directives:
        if node.children is not None or not node.args:
            continue
        key, args = node.key, node.args
        if key == "sslengine":
            put("engine", args[0].lower(), node)
        elif key == "sslstrictsnivhostcheck":
            put("strict_sni", args[0].lower() == "on", node)
        elif key == "sslprotocol":
            put("protocols", parse_protocols(args), node)
        elif key == "sslciphersuite":
            tag, spec = ("SSL", args[0]) if len(args) == 1 else (args[0], args[1])
            if tag == "SSL":
                put("cipher_suite", spec + ":!aNULL:!eNULL:!EXP", node)  # the handler appends this
            elif tag == "TLSv1.3":
                put("tls13_ciphers", spec, node)
        elif key == "sslverifyclient" and args[0].lower() in _VERIFY_MODES:
            put("verify_mode", _VERIFY_MODES[args[0].lower()], node)
        elif key == "sslverifydepth":
            put("verify_depth", _atoi(args[0]), node)
        elif key in _PATH_SETTINGS:
            put(_PATH_SETTINGS[key], resolve(args[0]), node)
        elif key == "sslcarevocationcheck":
            put("crl_check", tuple(word.lower() for word in args), node)
        elif key == "sslocspenable":
            put("ocsp", args[0].lower(), node)
        elif key == "sslopensslconfcmd":
            own.conf_cmds.append((tuple(args), node))
        elif key == "sslcertificatefile":
            own.certs.append((resolve(args[0]), node))
        elif key == "sslcertificatekeyfile":
            own.keys.append((resolve(args[0]), node))
    return own


_DEFAULTS: dict[str, object] = {
    "engine": None, "strict_sni": False, "protocols": ALL_PROTOCOLS, "verify_depth": 1, "verify_mode": "none",
    "ca_cert_path": None, "ca_cert_file": None, "cipher_suite": None, "tls13_ciphers": None,
    "ca_name_path": None, "ca_name_file": None, "crl_path": None, "crl_file": None, "crl_check": ("none",),
    "ocsp": "off", "srp_file": None,
}


def _merge(main: _Own, own: _Own, is_main: bool) -> SslSetup:
    """``ssl_config_server_merge``: the vhost's value where it set one, else the main server's."""
    values: dict[str, object] = {}
    origins: dict[str, tuple[Directive, ...]] = {}
    for field_name, default in _DEFAULTS.items():
        for source in ((own,) if is_main else (own, main)):
            if field_name in source.values:
                values[field_name] = source.values[field_name]
                origins[field_name] = source.origins[field_name]
                break
        else:
            values[field_name] = default
    certs = own.certs if is_main else _merge_certkeys(main.certs, own.certs)
    keys = own.keys if is_main else _merge_certkeys(main.keys, own.keys)
    # SSLOpenSSLConfCmd merges as an array: the main server's commands, then the vhost's.
    cmds = own.conf_cmds if is_main else main.conf_cmds + own.conf_cmds
    values["cert_files"] = tuple(path for path, _ in certs)
    values["key_files"] = tuple(path for path, _ in keys)
    values["conf_cmds"] = tuple(words for words, _ in cmds)
    for field_name, entries in (("cert_files", certs), ("key_files", keys), ("conf_cmds", cmds)):
        if entries:
            origins[field_name] = tuple(dict.fromkeys(node for _, node in entries))
    engine, strict = values.pop("engine"), values.pop("strict_sni")
    return SslSetup(engine, bool(strict), values, origins)  # type: ignore[arg-type]


def _merge_certkeys(base: list[tuple[str, Directive]], add: list[tuple[str, Directive]]) -> list[tuple[str, Directive]]:
    """``modssl_ctx_cfg_merge_certkeys_array``: the vhost's first entries knock out the main
    server's at the same index (2.4.7 compatibility), the main server's rest follow, then
    the vhost's rest."""
    head = add[:_CERTKEYS_REPLACED]
    return head + base[len(head):] + add[_CERTKEYS_REPLACED:]


def parse_protocols(words: tuple[str, ...]) -> frozenset[str]:
    """``ssl_cmd_protocol_parse``: a word without +/- replaces the set, +/- add or remove.

    ``SSLv3`` and ``SSLv2`` can only be removed on a no-ssl3 OpenSSL (anything else is
    a start-up error), so they change nothing here.
    """
    names = {p.lower(): p for p in ALL_PROTOCOLS}
    chosen: set[str] = set()
    for word in words:
        action = word[0] if word[:1] in ("+", "-") else ""
        name = word[1:] if action else word
        lowered = name.lower()
        if lowered in ("sslv2", "sslv3"):
            continue
        these = set(ALL_PROTOCOLS) if lowered == "all" else {names[lowered]} if lowered in names else set()
        if action == "-":
            chosen -= these
        elif action == "+":
            chosen |= these
        else:
            chosen = these
    return frozenset(chosen)


def _atoi(text: str) -> int:
    digits = ""
    for char in text.strip():
        if char.isdigit() or (not digits and char in "+-"):
            digits += char
        else:
            break
    try:
        return int(digits)
    except ValueError:
        return 0


def _last(directives: tuple[Directive, ...], key: str) -> Directive | None:
    found = None
    for node in directives:
        if node.key == key and node.children is None and node.args:
            found = node
    return found


def _same_str_set(first: tuple[str, ...], second: tuple[str, ...]) -> bool:
    """As many entries, each of the first found in the second (2.4.63's ``ap_array_same_str_set``;
    seen in 2.4.71: order does not matter, a repeated file counts)."""
    return len(first) == len(second) and all(item in second for item in first)

"""What to change in the copied config so the real apache2 runs it in the sandbox.

Every change is found from the loaded tree (each node knows its file and
last physical line) and applied to the copied text at that line. Additions
that need no particular place go on apache2's command line instead (``-C``
before the config, ``-c`` after it), which keeps the copy's line numbers
equal to the original's wherever possible.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

# The config stage's own lexer and ${VAR} expansion: an Include line is not a
# node of the tree (it is replaced by what it includes), so the sandbox has to
# read that one line itself, exactly as the loader did.
from vhostguard.config import expand_variables
from vhostguard.config import next_word, split_words
from vhostguard.config import ConfigTree, Directive
from vhostguard.config import Source
from vhostguard.live.edits import FileEdits, directive_line, logical_text, replace_word
from vhostguard.live.journal import LOG_FORMAT, MAIN_TOKEN, VHOST_ENV
from vhostguard.live.layout import Layout
from vhostguard.live.mapping import AddressMap, ListenSpec, normalize_ip, resolve
from vhostguard.live.stubs import StubPool, StubServer
from vhostguard.model import ServerModel

MODULE_DIRS = ("/usr/lib/apache2/modules", "/usr/lib64/httpd/modules", "/usr/lib/httpd/modules", "/usr/local/apache2/modules")

# Directives that make httpd write somewhere: (sandbox subdirectory, file name);
# None as file name means "a file of its own per directive".
_WRITES: dict[str, tuple[str, str | None]] = {
    "pidfile": ("run", "httpd.pid"),
    "defaultruntimedir": ("run", ""),
    "scoreboardfile": ("run", "scoreboard"),
    "scriptsock": ("run", "cgisock"),
    "davlockdb": ("run", "davlock"),
    "errorlog": ("logs", "error.log"),  # one error log for all servers: one place to read
    "customlog": ("logs", None),
    "transferlog": ("logs", None),
    "globallog": ("logs", None),
    "forensiclog": ("logs", None),
    "scriptlog": ("logs", None),
    "cacheroot": ("cache", ""),
    "mdstoredir": ("md", ""),
}
_CACHE_SPECS = ("sslsessioncache", "sslstaplingcache")  # "shmcb:/path(size)", "dbm:/path"
_PATH_CACHE_TYPES = ("shmcb", "shmht", "dbm", "sdbm", "gdbm", "ndbm", "db")
_STUB_SCHEMES = ("http", "https", "ws", "wss", "h2", "h2c", "fcgi", "ajp", "scgi", "uwsgi")
_ORIGIN = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(\[[^\]]*\]|[^/?#:\s]*)(:[0-9]*)?")


@dataclass(frozen=True)
class Origin:
    """The part of a backend URL that names the server (``scheme://host:port``, or a unix socket target)."""

    text: str  # as written
    rest: str  # what follows it (path, query)

    @property
    def dynamic(self) -> bool:
        """Computed per request (``$1``, ``%{HTTP_HOST}``, ``${...}`` left unexpanded): not known up front."""
        return "$" in self.text or "%{" in self.text

    @property
    def scheme(self) -> str:
        inner = self.text.split("|", 1)[1] if self.text.lower().startswith("unix:") else self.text
        return inner.split(":", 1)[0].lower()


def split_origin(url: str) -> Origin | None:
    """Split a backend URL; None when it is not one the sandbox can stand in for."""
    if url.lower().startswith("unix:"):
        pipe = url.find("|")
        inner = split_origin(url[pipe + 1 :]) if pipe > 0 else None
        return None if inner is None else Origin(url[: pipe + 1] + inner.text, inner.rest)
    match = _ORIGIN.match(url)
    if match is None or match.group(1).lower() not in _STUB_SCHEMES:
        return None
    return Origin(match.group(0), url[match.end() :])


@dataclass
class Plan:
    """The edits to the copied files (keyed by ORIGINAL path) and the command-line directives."""

    edits: dict[str, FileEdits] = field(default_factory=dict)
    pre: list[str] = field(default_factory=list)  # -C: before the config
    post: list[str] = field(default_factory=list)  # -c: after the config
    server_root: str = ""  # the mirrored initial ServerRoot, for -d
    anchors: list[str] = field(default_factory=list)  # original server roots
    vhost_tokens: dict[str, str] = field(default_factory=dict)  # VG_VHOST token -> VHOST-ID
    warnings: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)

    def file(self, path: str) -> FileEdits:
        return self.edits.setdefault(path, FileEdits())

    def replace(self, source: Source, text: str) -> None:
        self.file(source.file).replace[source.line] = text


@dataclass(frozen=True)
class Inputs:
    tree: ConfigTree
    model: ServerModel
    layout: Layout
    addresses: AddressMap
    stubs: StubPool | None  # None: backends are left as they are
    initial_server_root: str
    environ: Mapping[str, str]
    compiled: frozenset[str] = frozenset()  # modules built into apache2 (``apache2 -l``), as module names


def vhost_default_ports(tree: ConfigTree) -> dict[Source, int | None]:
    """The port a port-less ``<VirtualHost>`` address gets, per vhost.

    httpd uses the main server's ServerName port as read so far (seen in
    tests/model/test_differential_vhosts.py), not the config's last one.
    """
    port: int | None = None
    found: dict[Source, int | None] = {}
    for node in tree.nodes:
        if node.key == "servername" and node.args:
            port = _server_name_port(node.args[0])
        elif node.key == "virtualhost":
            found[node.source] = port
    return found


def _server_name_port(text: str) -> int | None:
    rest = text.split("://", 1)[-1]
    host, sep, port = rest.rpartition(":")
    return int(port) if sep and port.isdigit() and not host.endswith(":") else None


def collect_addresses(model: ServerModel) -> tuple[list[str], list[int], list[ListenSpec]]:
    """The IPs, ports and listening addresses the sandbox must map, in configuration order."""
    listens: list[ListenSpec] = []
    ips: list[str] = []
    ports: list[int] = []
    for listen in model.listens:
        ip = listen.ip
        if ip is not None and normalize_ip(ip) is None:
            resolved = resolve(ip)  # a hostname: httpd binds its first address
            ip = resolved[0] if resolved else None
            if ip is None:
                continue  # httpd cannot start with it either; the Listen is left for apache2 to reject
        ip = normalize_ip(ip) if ip is not None else None
        if ip is not None and ip in ("0.0.0.0", "::"):
            ip = None
        listens.append(ListenSpec(ip, listen.port, listen.protocol, listen.source))
        ports.append(listen.port)
        if ip is not None:
            ips.append(ip)
    for server in model.vhosts:
        for address in server.addresses:
            if address.ip is not None:
                ips.append(address.ip)
            if address.port is not None:
                ports.append(address.port)
    ports.extend(p for p in vhost_default_ports(model.tree).values() if p is not None)
    return ips, ports, listens


def make_plan(inputs: Inputs) -> Plan:
    plan = Plan()
    _server_roots(inputs, plan)
    _listens(inputs, plan)
    _vhosts(inputs, plan)
    _writes(inputs, plan)
    _includes(inputs, plan)
    if inputs.stubs is not None:
        _backends(inputs, plan)
    _command_line(inputs, plan)
    return plan


def walk(nodes: tuple[Directive, ...], parents: tuple[Directive, ...] = ()) -> Iterator[tuple[Directive, tuple[Directive, ...]]]:
    """Every node with its enclosing sections, in configuration order."""
    for node in nodes:
        yield node, parents
        if node.children:
            yield from walk(node.children, (*parents, node))


def _in_macro(plan: Plan, node: Directive, why: str) -> bool:
    if node.source.macro is None:
        return False
    plan.unsupported.append(
        f"{node.source}: {node.name} ({why}) comes from {node.source.macro.rsplit(':', 1)[0]}; the sandbox "
        "changes config lines in place and cannot change one use of a macro; expand the macro to try it live"
    )
    return True


def _with_args(node: Directive, arg_text: str) -> str:
    return f"{node.name} {arg_text}".rstrip()


# -- ServerRoot, Listen, VirtualHost -------------------------------------------

def _server_roots(inputs: Inputs, plan: Plan) -> None:
    root = os.path.normpath(inputs.initial_server_root)
    plan.server_root = inputs.layout.mirror(root)
    plan.anchors.append(root)
    for node in inputs.tree.nodes:
        if node.key != "serverroot" or len(node.args) != 1:
            continue
        root = os.path.normpath(os.path.join(root, node.args[0]))
        plan.anchors.append(root)
        if not _in_macro(plan, node, "sets ServerRoot"):
            plan.replace(node.source, directive_line(node.name, [inputs.layout.mirror(root)]))


def _listens(inputs: Inputs, plan: Plan) -> None:
    amap = inputs.addresses
    nodes = {n.source: n for n in inputs.tree.nodes if n.key == "listen"}
    emitted: set[str] = set()
    for spec in amap.listens:
        node = nodes.get(spec.source) if spec.source else None
        if node is None or _in_macro(plan, node, "its address must move to loopback"):
            continue
        word = amap.listen_word(spec)
        if word in emitted:
            # Two wildcard Listens (0.0.0.0:80 and [::]:80) both become 127.0.0.1:P.
            plan.replace(node.source, f"# vhostguard sandbox: Listen {' '.join(node.args)} is {word}, listed above")
            continue
        emitted.add(word)
        plan.replace(node.source, directive_line(node.name, [word, *node.args[1:]]))
    for extra in amap.wildcard_extras():
        protocol = [extra.protocol] if extra.protocol else []
        plan.post.append(directive_line("Listen", [amap.listen_word(extra), *protocol]))


def _vhosts(inputs: Inputs, plan: Plan) -> None:
    model, amap = inputs.model, inputs.addresses
    nodes = {n.source: n for n in inputs.tree.nodes if n.key == "virtualhost"}
    default_ports = vhost_default_ports(inputs.tree)
    for index, server in enumerate(model.vhosts):
        node = nodes.get(server.source) if server.source else None
        if node is None or _in_macro(plan, node, "its addresses must move to loopback"):
            continue
        by_name: dict[str, list[str]] = {}
        for address in server.addresses:
            if address.ip is not None:
                by_name.setdefault(address.written, []).append(address.ip)
        words: list[str] = []
        for word in node.args:
            words.extend(amap.vhost_words(word, default_ports.get(node.source), by_name.get))
        token = f"v{index}"
        plan.vhost_tokens[token] = server.id or ""
        plan.replace(node.source, "<" + directive_line(node.name, words) + ">")
        # mod_setenvif's server-level rules run at post_read_request, after the vhost is chosen.
        plan.file(node.source.file).insert_after[node.source.line] = [f'    SetEnvIf Request_URI "^" {VHOST_ENV}={token}']


# -- where httpd writes ---------------------------------------------------------

def _writes(inputs: Inputs, plan: Plan) -> None:
    layout = inputs.layout
    counter = 0
    for node, _ in walk(inputs.tree.nodes):
        key = node.key
        if not node.args:
            continue
        if key in _WRITES:
            subdir, name = _WRITES[key]
            if name is None:
                counter += 1
                name = f"{key}-{counter}.log"
            target = os.path.join(layout.root, subdir, name) if name else os.path.join(layout.root, subdir)
            os.makedirs(target if not name else os.path.dirname(target), exist_ok=True)
            if not _in_macro(plan, node, "writes outside the sandbox"):
                plan.replace(node.source, _with_args(node, replace_word(node.arg_text, 0, target)))
        elif key == "mutex":
            mechanism, sep, _ = node.args[0].partition(":")
            if sep and mechanism.lower() in ("file", "flock") and not _in_macro(plan, node, "writes outside the sandbox"):
                plan.replace(node.source, _with_args(node, replace_word(node.arg_text, 0, f"{mechanism}:{layout.run}")))
        elif key in _CACHE_SPECS:
            kind, sep, spec = node.args[0].partition(":")
            if sep and kind.lower() in _PATH_CACHE_TYPES and not _in_macro(plan, node, "writes outside the sandbox"):
                size = spec[spec.index("(") :] if "(" in spec else ""
                counter += 1
                new = f"{kind}:{os.path.join(layout.run, f'{key}-{counter}')}{size}"
                plan.replace(node.source, _with_args(node, replace_word(node.arg_text, 0, new)))
        elif key == "sslusestapling" and node.args[0].lower() == "on" and node.source.macro is None:
            # Stapling makes httpd query OCSP responders: no traffic leaves loopback.
            plan.replace(node.source, _with_args(node, "off"))
        elif key == "bufferedlogs" and node.args[0].lower() == "on" and node.source.macro is None:
            # Buffered, the sandbox's own GlobalLog line would arrive long after the response.
            plan.replace(node.source, _with_args(node, "off"))


# -- Include lines ---------------------------------------------------------------

def _includes(inputs: Inputs, plan: Plan) -> None:
    """Point absolute Include paths at the copies (relative ones follow the mirrored ServerRoot)."""
    defined = {name: value for name, value in inputs.tree.defines if value is not None}
    texts: dict[str, str] = {}
    seen: set[tuple[str, int]] = set()
    for included in inputs.tree.files:
        source = included.included_from
        if source is None or (source.file, source.line) in seen:
            continue
        seen.add((source.file, source.line))
        if source.macro is not None:
            continue  # checked after the fact: apache2 -D DUMP_INCLUDES must list only copies
        if source.file not in texts:
            with open(source.file, "rb") as handle:
                texts[source.file] = handle.read().decode("utf-8", errors="surrogateescape")
        line = logical_text(texts[source.file], source.line)
        name, pos = next_word(line)
        words = split_words(line[pos:])
        if name.lower() not in ("include", "includeoptional") or len(words) != 1:
            continue
        path = expand_variables(words[0], defined, inputs.environ, lambda _name: None)
        if os.path.isabs(path):
            plan.replace(source, directive_line(name, [inputs.layout.mirror(path) + ("/" if path.endswith("/") else "")]))


# -- backends -------------------------------------------------------------------

def _url_index(node: Directive, parents: tuple[Directive, ...]) -> int | None:
    """Which argument of a proxy directive is the backend URL (None: not a backend directive)."""
    key = node.key
    if key in ("proxypass", "proxypassmatch"):
        in_location = bool(parents) and parents[-1].key in ("location", "locationmatch")
        return 0 if in_location else 1
    if key == "balancermember":
        return 1 if node.args and node.args[0].lower().startswith("balancer://") else 0
    if key in ("proxyremote", "proxyremotematch"):
        return 1
    if key in ("proxyset", "proxy"):
        return 0
    return None


def _backends(inputs: Inputs, plan: Plan) -> None:
    stubs = inputs.stubs
    assert stubs is not None
    for node, parents in walk(inputs.tree.nodes):
        key = node.key
        if key == "rewriterule":
            _rewrite_rule(plan, stubs, node)
            continue
        if key in ("sethandler", "addhandler"):
            if node.args and node.args[0].lower().startswith("proxy:"):
                _replace_backend(plan, stubs, node, 0, prefix=node.args[0][:6])
            continue
        index = _url_index(node, parents)
        if index is not None and index < len(node.args):
            _replace_backend(plan, stubs, node, index)


def _stub_for(plan: Plan, stubs: StubPool, node: Directive, url: str) -> tuple[Origin, StubServer] | None:
    origin = split_origin(url)
    if origin is None:
        return None  # "!", balancer://, a path, "*": nothing to stand in for
    if origin.dynamic:
        plan.warnings.append(
            f"{node.source}: {node.name} backend {url} is computed per request; http:// targets reach the "
            "sandbox's catch-all stub, others are not stubbed"
        )
        return None
    if node.source.macro is not None:
        if origin.scheme in ("http", "ws"):
            return None  # the catch-all stub (ProxyRemoteMatch) records it with its full URL
        _in_macro(plan, node, f"proxies to {url}")
        return None
    return origin, stubs.stub_for(origin.text)


def _replace_backend(plan: Plan, stubs: StubPool, node: Directive, index: int, prefix: str = "") -> None:
    found = _stub_for(plan, stubs, node, node.args[index][len(prefix) :])
    if found is None:
        return
    origin, stub = found
    new = prefix + stub.origin + origin.rest
    if node.is_section:
        plan.replace(node.source, "<" + _with_args(node, replace_word(node.arg_text, index, new)) + ">")
    else:
        plan.replace(node.source, _with_args(node, replace_word(node.arg_text, index, new)))


def _rewrite_rule(plan: Plan, stubs: StubPool, node: Directive) -> None:
    if len(node.args) < 3 or not _has_proxy_flag(node.args[2]):
        return
    found = _stub_for(plan, stubs, node, node.args[1])
    if found is None:
        return
    origin, stub = found
    # mod_rewrite splits its own arguments (not ap_getword_conf), so replace the
    # origin in place rather than re-quoting the words.
    pattern = re.compile(r"(^|(?<=[\s\"']))" + re.escape(origin.text))
    new_text, count = pattern.subn(lambda m: stub.origin, node.arg_text, count=1)
    if count:
        plan.replace(node.source, _with_args(node, new_text))


def _has_proxy_flag(flags: str) -> bool:
    body = flags.strip()
    if not (body.startswith("[") and body.endswith("]")):
        return False
    return any(f.split("=", 1)[0].strip().lower() in ("p", "proxy") for f in body[1:-1].split(","))


# -- command line ---------------------------------------------------------------

def compiled_in(listing: str) -> frozenset[str]:
    """Module names from ``apache2 -l`` output (``mod_log_config.c`` -> ``log_config_module``)."""
    names = {line.strip()[4:-2] for line in listing.splitlines() if line.strip().startswith("mod_") and line.strip().endswith(".c")}
    return frozenset(f"{name}_module" for name in names)


def find_module(tree: ConfigTree, file_name: str) -> str | None:
    """The path of module ``file_name`` (mod_x.so), looked for beside the modules the config loads."""
    candidates = [os.path.dirname(m.path) for m in tree.modules] + list(MODULE_DIRS)
    for directory in dict.fromkeys(candidates):
        path = os.path.join(directory, file_name)
        if os.path.isfile(path):
            return path
    return None


def _command_line(inputs: Inputs, plan: Plan) -> None:
    tree, layout = inputs.tree, inputs.layout
    # Defaults for what the config may not set at all (httpd would fall back to
    # paths under the real ServerRoot); the config's own lines were rewritten above.
    plan.pre += [
        directive_line("DefaultRuntimeDir", [layout.run]),
        directive_line("PidFile", [os.path.join(layout.run, "httpd.pid")]),
        directive_line("ErrorLog", [layout.error_log]),
    ]
    if "setenvif_module" not in inputs.compiled and not _loaded_before_first_vhost(tree, "setenvif_module"):
        # Our vhost lines use SetEnvIf while the config is read, so the module
        # must be there before it. (A later LoadModule of it is then skipped with a warning.)
        path = find_module(tree, "mod_setenvif.so")
        if path is None:
            plan.unsupported.append("mod_setenvif.so not found: the sandbox needs it to tell which vhost answered")
        else:
            plan.pre.append(directive_line("LoadModule", ["setenvif_module", path]))
    loaded = {m.name for m in tree.modules} | inputs.compiled
    if "log_config_module" not in loaded:
        # Debian builds mod_log_config in; elsewhere it may be a module the config does not load.
        path = find_module(tree, "mod_log_config.so")
        if path is None:
            plan.unsupported.append("mod_log_config.so not found: the sandbox needs GlobalLog to tell which vhost answered")
        else:
            plan.post.append(directive_line("LoadModule", ["log_config_module", path]))
    plan.post.append(f'SetEnvIf Request_URI "^" {VHOST_ENV}={MAIN_TOKEN}')
    plan.post.append(directive_line("GlobalLog", [layout.journal]) + f' "{LOG_FORMAT}"')
    if inputs.stubs is not None and "proxy_module" in loaded:
        if "proxy_http_module" not in loaded:
            path = find_module(tree, "mod_proxy_http.so")
            if path is not None:
                plan.post.append(directive_line("LoadModule", ["proxy_http_module", path]))
        catch_all = inputs.stubs.catch_all()
        ports = "|".join(str(s.port) for s in inputs.stubs.stubs if s is not catch_all)
        own = rf"^(?!http://127\.0\.0\.1:(?:{ports})(?:[/?]|$))" if ports else "."
        # Any proxied http:// URL not already sent to a stub (computed targets,
        # macro-expanded ProxyPass) goes to the catch-all stub as a forward
        # proxy request, which carries the full backend URL.
        plan.post.append(directive_line("ProxyRemoteMatch", [own, catch_all.origin]))
    if "md_module" in loaded:
        plan.post.append("MDRenewMode manual")  # no ACME traffic from a sandbox
        plan.warnings.append("mod_md is loaded: the sandbox sets MDRenewMode manual so it never contacts a CA")


def _loaded_before_first_vhost(tree: ConfigTree, module: str) -> bool:
    for node in tree.nodes:
        if node.key == "virtualhost":
            return False
        if node.key == "loadmodule" and node.args and node.args[0] == module:
            return True
    return any(m.name == module for m in tree.modules)  # no vhost at all: loaded anywhere will do


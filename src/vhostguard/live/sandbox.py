"""A real apache2 running a copy of a candidate config, on loopback only.

``Sandbox`` loads the config with our own loader to find what must change
(addresses, ports, log and runtime paths, backends), copies the config files
into a temp directory and edits the copies at those lines, starts apache2 on
the copy, and answers requests given with the ORIGINAL URLs and addresses.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Self
from urllib.parse import urlsplit

from vhostguard.config import ConfigError, ConfigTree, LoadOptions, load
from vhostguard.live.edits import LineMap, apply_edits, directive_line
from vhostguard.live.errors import SandboxError, SandboxUnsupported
from vhostguard.live.journal import MAIN_TOKEN, REQUEST_ID_HEADER, Journal, JournalEntry
from vhostguard.live.layout import Layout, copy_config
from vhostguard.live.lifeline import TerminationSignals, Watchdog, mark_owner, signals_held, sweep_stale
from vhostguard.live.mapping import SCHEME_PORTS, AddressMap
from vhostguard.live.plan import Inputs, Plan, collect_addresses, compiled_in, make_plan
from vhostguard.live.probe import DEFAULT_MAX_BODY, ProbeError, probe
from vhostguard.live.process import children_of, group_members, spawn, stop_group
from vhostguard.live.stubs import CATCH_ALL, StubPool, StubRecord
from vhostguard.live.system import CLEAN_PATH, apache_environment
from vhostguard.model import ServerModel, build_model

# Debian's envvars names for where httpd writes; pointed into the sandbox at
# run time as a second line of defence for directives the plan does not know.
_RUNTIME_VARS = {"APACHE_RUN_DIR": "run", "APACHE_LOCK_DIR": "run", "APACHE_LOG_DIR": "logs"}
_PORT_RETRIES = 3
_LOG_WAIT = 2.0  # httpd writes the log line after the response; wait this long for it


@dataclass(frozen=True)
class BackendHit:
    """A request a stub backend received on behalf of the original backend."""

    url: str  # the original backend URL as httpd requested it (original origin + path?query)
    method: str
    stub: str  # the stub's own origin
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True)
class LiveResult:
    """What the real apache2 did with one request.

    ``vhost`` is the VHOST-ID (``file:line`` of the original ``<VirtualHost>``)
    when ``served_by`` is ``"vhost"``; ``served_by`` is ``"main"`` when the
    main server answered and ``"unknown"`` when httpd answered before
    choosing (e.g. 400 for a malformed Host) or logged nothing.
    """

    url: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    location: str | None  # sandbox ports/addresses mapped back to the original ones
    vhost: str | None
    served_by: str
    server_name: str | None  # httpd's %v for the request
    backend: BackendHit | None
    request_id: str
    connected_to: tuple[str, int]  # the sandbox address used
    log: JournalEntry | None = field(default=None, repr=False)
    # Why no HTTP exchange took place (status 0): nothing listens on that address and
    # port in the original config, or the TLS handshake failed. None: httpd answered.
    refused: str | None = None

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


@dataclass
class _Running:
    """What must be cleaned up; shared with the finalizer, so it holds no reference to the Sandbox."""

    process: subprocess.Popen[bytes] | None = None
    watchdog: Watchdog | None = None
    stubs: StubPool | None = None
    layout: Layout | None = None
    keep: bool = False
    signals: TerminationSignals = field(default_factory=TerminationSignals)


def _stop_process(state: _Running) -> None:
    if state.process is not None:
        stop_group(state.process)
        state.process = None
    if state.watchdog is not None:
        state.watchdog.release()
        state.watchdog = None


def _cleanup(state: _Running) -> None:
    # A second signal must not cut the cleanup short (leaving apache2 running); it is delivered after.
    with signals_held(then_restore=state.signals):
        _stop_process(state)
        if state.stubs is not None:
            state.stubs.stop()
            state.stubs = None
        if state.layout is not None and not state.keep:
            state.layout.remove()
        state.layout = None


class Sandbox:
    """A sandboxed real apache2 on a copy of ``main_file`` (use as a context manager).

    ``server_root``, ``defines`` and ``env_file`` mean what apache2's ``-d``,
    ``-D`` and Debian's envvars mean (``env_file`` None: ``envvars`` beside
    the main file if present; ``""``: none). ``stub_backends`` replaces every
    proxied backend by a recording stub on loopback; without it, proxied
    requests go to the real backends. ``apache2`` is the binary (default: found
    on the sbin PATH); ``start_timeout`` bounds the wait for its ports;
    ``parent_dir`` is where the sandbox directory is made (default: the temp
    dir); ``keep`` leaves that directory in place after stopping (for
    reading its logs).

    Raises SandboxUnsupported (before running anything) when the config
    cannot be rewritten faithfully, SandboxError when apache2 rejects the copy
    or does not come up.
    """

    def __init__(
        self,
        main_file: str | os.PathLike[str],
        *,
        server_root: str | os.PathLike[str] | None = None,
        defines: Mapping[str, str | None] | Iterable[str] | None = None,
        env_file: str | None = None,
        stub_backends: bool = True,
        apache2: str | None = None,
        start_timeout: float = 10.0,
        keep: bool = False,
        parent_dir: str | None = None,
    ) -> None:
        self.main_file = os.path.abspath(os.fspath(main_file))
        self.server_root = os.path.abspath(os.fspath(server_root)) if server_root else None
        self.defines: dict[str, str | None] = (
            dict(defines) if isinstance(defines, Mapping) else {name: None for name in defines or ()}
        )
        self.env_file = env_file
        self.stub_backends = stub_backends
        self.apache2 = apache2 or find_apache2()
        self.start_timeout = start_timeout
        self.parent_dir = parent_dir
        self.tree: ConfigTree | None = None
        self.model: ServerModel | None = None
        self.plan: Plan | None = None
        self.addresses: AddressMap | None = None
        self.warnings: list[str] = []
        self.startup_messages: str = ""
        self._state = _Running(keep=keep)
        self._finalizer: weakref.finalize[[_Running], Sandbox] | None = None
        self._line_map = LineMap({})
        self._journal: Journal | None = None
        self._env: dict[str, str] = {}
        self._compiled: frozenset[str] = frozenset()

    # -- life cycle ----------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Sandbox:
        """Prepare the copy, check it with ``apache2 -t``, start apache2 and wait for its ports."""
        if self._state.process is not None:
            return self
        if self.apache2 is None:
            raise SandboxError("apache2 is not installed (Debian: apt-get install apache2)")
        self._finalizer = weakref.finalize(self, _cleanup, self._state)
        self._state.signals.install()
        try:
            self._load()
            self._state.stubs = StubPool() if self.stub_backends else None
            for attempt in range(_PORT_RETRIES):
                self._prepare()
                self._check()
                if self._launch(last_try=attempt == _PORT_RETRIES - 1):
                    return self
                self._discard_attempt()
        except BaseException:
            self.stop()
            raise
        return self  # unreachable: the last attempt raises

    def stop(self) -> None:
        """Stop apache2 (its whole process group) and the stubs; remove the sandbox unless ``keep``."""
        if self._finalizer is not None:
            self._finalizer()  # runs _cleanup once; also registered for interpreter exit and garbage collection

    @property
    def running(self) -> bool:
        return self._state.process is not None and self._state.process.poll() is None

    @property
    def pid(self) -> int | None:
        """The apache2 parent's pid (also its process group id)."""
        return self._state.process.pid if self._state.process is not None else None

    def processes(self) -> list[int]:
        """Every live process of this sandbox's apache2 (parent and workers)."""
        if self.pid is None:
            return []
        return sorted(set(group_members(self.pid)) | set(children_of(self.pid)))

    @property
    def root(self) -> str | None:
        """The sandbox directory (config copy under ``fs/``, ``logs/``, ``run/``)."""
        return self._state.layout.root if self._state.layout else None

    @property
    def ports(self) -> dict[int, int]:
        """Original port -> sandbox port."""
        return dict(self.addresses.ports) if self.addresses else {}

    @property
    def ips(self) -> dict[str, str]:
        """Original IP -> the loopback IP standing for it."""
        return dict(self.addresses.ips) if self.addresses else {}

    @property
    def backends(self) -> dict[str, str]:
        """Stub origin -> original backend origin."""
        stubs = self._state.stubs
        return {s.origin: s.original for s in stubs.stubs} if stubs else {}

    @property
    def vhost_tokens(self) -> dict[str, str]:
        return dict(self.plan.vhost_tokens) if self.plan else {}

    def copy_of(self, path: str) -> str:
        """The sandbox copy of original config file ``path``."""
        return self._layout().mirror(os.path.abspath(path))

    def error_log_tail(self, lines: int = 30) -> str:
        layout = self._state.layout
        if layout is None:
            return ""
        chunks = [_tail(layout.error_log, lines), _tail(layout.stderr_log, lines)]
        return self._translate("\n".join(c for c in chunks if c))

    def backend_hits(self) -> list[BackendHit]:
        """Every request the stubs received so far."""
        stubs = self._state.stubs
        return [self._hit(r) for r in stubs.records()] if stubs else []

    # -- requests ------------------------------------------------------------

    def request(
        self,
        url: str,
        *,
        local_ip: str | None = None,
        method: str = "GET",
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        sni: str | None = None,
        no_host: bool = False,
        http10: bool = False,
        body: bytes = b"",
        target: str | None = None,
        timeout: float = 10.0,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> LiveResult:
        """Send the request a client would send for the ORIGINAL ``url``, arriving on ``local_ip``.

        The connection goes to the sandbox address standing for (local_ip,
        the URL's port); ``local_ip`` None is an address no IP-specific vhost
        names. Host, SNI, HTTP/1.0 and headers are as in ``probe``. When the
        original config accepts no such connection (no Listen covers it) or the
        TLS handshake fails, the result has status 0 and ``refused`` says why.
        Raises SandboxError when no response comes back for another reason.
        """
        if not self.running or self.addresses is None or self._journal is None:
            raise SandboxError("the sandbox is not running (use it as a context manager or call start())")
        parts = urlsplit(url)
        port = parts.port or SCHEME_PORTS.get(parts.scheme.lower(), 80)
        try:
            address = self.addresses.connect_address(local_ip, port)
        except LookupError as exc:
            return self._refused(url, str(exc), ("", 0))
        request_id = uuid.uuid4().hex
        items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        items.append((REQUEST_ID_HEADER, request_id))
        try:
            answer = probe(
                url, address, method=method, headers=items, sni=sni, no_host=no_host, http10=http10,
                body=body, target=target, timeout=timeout, max_body=max_body,
            )
        except ProbeError as exc:
            if exc.refused:
                return self._refused(url, str(exc), address)
            raise SandboxError(str(exc), self.error_log_tail()) from None
        entry = self._journal.wait_for(request_id, _LOG_WAIT)
        served_by, vhost = self._served_by(entry)
        location = answer.header("Location")
        return LiveResult(
            url=url, status=answer.status, reason=answer.reason, headers=answer.headers, body=answer.body,
            location=self._map_back(location) if location else None,
            vhost=vhost, served_by=served_by, server_name=entry.server_name if entry else None,
            backend=self._backend_for(request_id), request_id=request_id,
            connected_to=answer.connected_to, log=entry,
        )

    def _refused(self, url: str, why: str, address: tuple[str, int]) -> LiveResult:
        return LiveResult(
            url=url, status=0, reason="", headers=(), body=b"", location=None, vhost=None, served_by="unknown",
            server_name=None, backend=None, request_id="", connected_to=address, refused=why,
        )

    def _served_by(self, entry: JournalEntry | None) -> tuple[str, str | None]:
        token = entry.vhost_token if entry else None
        if token == MAIN_TOKEN:
            return "main", None
        if token is not None and self.plan is not None and token in self.plan.vhost_tokens:
            return "vhost", self.plan.vhost_tokens[token]
        return "unknown", None

    def _backend_for(self, request_id: str) -> BackendHit | None:
        stubs = self._state.stubs
        if stubs is None:
            return None
        records = stubs.find(REQUEST_ID_HEADER, request_id)
        return self._hit(records[-1]) if records else None

    def _hit(self, record: StubRecord) -> BackendHit:
        assert self._state.stubs is not None
        return BackendHit(
            url=self._state.stubs.backend_url(record), method=record.method, stub=record.stub,
            headers=record.headers, body=record.body,
        )

    def _map_back(self, url: str) -> str:
        stubs = self._state.stubs
        for stub in stubs.stubs if stubs else ():
            if url.lower().startswith(stub.origin) and stub.original != CATCH_ALL:
                return stub.original + url[len(stub.origin):]
        return self.addresses.map_url_back(url) if self.addresses else url

    # -- preparation ---------------------------------------------------------

    def _layout(self) -> Layout:
        if self._state.layout is None:
            raise SandboxError("the sandbox is not prepared")
        return self._state.layout

    def _load(self) -> None:
        env_vars = self._env_file_vars()
        # The loader sees exactly the environment apache2 will get (env -i + envvars).
        base = {"PATH": CLEAN_PATH, **env_vars}
        tree = load(self.main_file, LoadOptions(
            server_root=self.server_root, defines=self.defines, env_file="", environ=base,
        ))
        if not any(f.path == self.main_file for f in tree.files):
            raise SandboxError("; ".join(str(e) for e in tree.errors) or f"cannot read {self.main_file}")
        self.tree = tree
        self.model = build_model(tree)
        self.warnings.extend(f"{e} (vhostguard's loader; apache2 has the last word)" for e in tree.errors)
        self._env = base
        assert self.apache2 is not None
        listing = subprocess.run([self.apache2, "-l"], env=base, capture_output=True, text=True, timeout=30, check=False)
        self._compiled = compiled_in(listing.stdout)

    def _env_file_vars(self) -> dict[str, str]:
        try:
            env = apache_environment(self.main_file, self.env_file)
        except ConfigError as problem:
            raise SandboxError(str(problem)) from None
        env.pop("PATH")  # read_env_file never returns PATH: this is apache_environment's own
        return env

    def _prepare(self) -> None:
        assert self.tree is not None and self.model is not None
        sweep_stale(self.parent_dir or tempfile.gettempdir())
        layout = Layout.create(self.parent_dir)
        self._state.layout = layout
        if not self._state.keep:
            mark_owner(layout.root)  # a kept sandbox is the user's to remove, never swept
        ips, ports, listens = collect_addresses(self.model)
        self.addresses = AddressMap.build(ips, ports, listens)
        plan = make_plan(Inputs(
            tree=self.tree, model=self.model, layout=layout, addresses=self.addresses,
            stubs=self._state.stubs, initial_server_root=self.server_root or os.path.dirname(self.main_file),
            environ=self._env, compiled=self._compiled,
        ))
        if plan.unsupported:
            raise SandboxUnsupported("the sandbox cannot run this config faithfully:\n" + "\n".join(plan.unsupported))
        self.plan = plan
        self.warnings.extend(w for w in plan.warnings if w not in self.warnings)
        copy_config(layout, [f.path for f in self.tree.files], plan.anchors)
        copied_edits = {}
        for path, edits in plan.edits.items():
            copy = layout.mirror(path)
            with open(copy, "rb") as handle:
                text = handle.read().decode("utf-8", errors="surrogateescape")
            with open(copy, "wb") as handle:
                handle.write(apply_edits(text, edits).encode("utf-8", errors="surrogateescape"))
            copied_edits[copy] = edits
        self._line_map = LineMap.build(copied_edits)
        self._journal = Journal(layout.journal)

    def _argv(self) -> list[str]:
        assert self.apache2 is not None and self.plan is not None
        argv = [self.apache2, "-f", self._layout().mirror(self.main_file), "-d", self.plan.server_root]
        for name, value in self.defines.items():
            # apache2's -D takes a bare name; a value needs the Define directive.
            argv += ["-D", name] if value is None else ["-C", directive_line("Define", [name, value])]
        for directive in self.plan.pre:
            argv += ["-C", directive]
        for directive in self.plan.post:
            argv += ["-c", directive]
        return argv

    def _process_env(self) -> dict[str, str]:
        layout = self._layout()
        env = dict(self._env)
        for name, sub in _RUNTIME_VARS.items():
            if name in env:
                env[name] = os.path.join(layout.root, sub)
        if "APACHE_PID_FILE" in env:
            env["APACHE_PID_FILE"] = os.path.join(layout.run, "httpd.pid")
        return env

    def _check(self) -> None:
        """``apache2 -t``: apache2's own verdict on the copy, and proof that it reads only copies."""
        layout = self._layout()
        done = subprocess.run(
            [*self._argv(), "-t", "-D", "DUMP_INCLUDES"], env=self._process_env(), cwd=layout.root,
            capture_output=True, text=True, errors="replace", timeout=60, check=False,
        )
        if done.returncode != 0:
            raise SandboxError("apache2 rejected the configuration: " + self._translate((done.stderr or done.stdout).strip()))
        self.startup_messages = self._translate(done.stderr.strip())
        outside = [
            path for path in re.findall(r"^\s+\(\S+\) (.*)$", done.stdout, flags=re.MULTILINE)
            if not path.startswith(layout.fs + os.sep)
        ]
        if outside:
            raise SandboxUnsupported(
                "the sandboxed config still reads original files (an Include the sandbox could not rewrite, "
                "e.g. from a macro): " + ", ".join(outside)
            )

    def _launch(self, last_try: bool) -> bool:
        """Start apache2; True once every sandbox address accepts connections."""
        layout = self._layout()
        assert self.addresses is not None
        process = spawn([*self._argv(), "-D", "FOREGROUND"], self._process_env(), layout.stderr_log, layout.root)
        self._state.process = process
        self._state.watchdog = Watchdog.start(process.pid, None if self._state.keep else layout.root)
        pending = self.addresses.sandbox_listens()
        deadline = time.monotonic() + self.start_timeout
        while pending:
            if process.poll() is not None:
                tail = self.error_log_tail()
                if "Address already in use" in tail and not last_try:
                    return False  # a port was taken between choosing and binding it: choose again
                raise SandboxError(f"apache2 exited with status {process.returncode} while starting", tail)
            if time.monotonic() >= deadline:
                raise SandboxError(f"apache2 did not accept connections on {pending[0][0]}:{pending[0][1]} "
                                   f"within {self.start_timeout:g}s", self.error_log_tail())
            pending = [address for address in pending if not _accepts(address)]
            if pending:
                time.sleep(0.02)
        return True

    def _discard_attempt(self) -> None:
        _stop_process(self._state)
        if self._state.layout is not None:
            self._state.layout.remove()
            self._state.layout = None

    def _translate(self, text: str) -> str:
        """apache2's messages about the copy, with original file names and line numbers."""
        layout = self._state.layout
        if layout is None:
            return text

        def line_of(match: re.Match[str]) -> str:
            copy = match.group(2)
            original = layout.original(copy)
            if original is None:
                return match.group(0)
            return f"line {self._line_map.original_line(copy, int(match.group(1)))} of {original}"

        text = re.sub(r"line (\d+) of (/\S+?)(?=:?(?:\s|$))", line_of, text)
        return layout.unmirror_text(text)


def find_apache2() -> str | None:
    """The apache2 (or httpd) binary, looked up on the sbin-inclusive PATH."""
    for name in ("apache2", "httpd"):
        found = shutil.which(name, path=f"{CLEAN_PATH}:/sbin:/usr/local/sbin:/usr/local/apache2/bin")
        if found:
            return found
    return None


def _accepts(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=0.2):
            return True
    except OSError:
        return False


def _tail(path: str, lines: int) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])

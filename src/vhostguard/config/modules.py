"""What httpd knows about modules: names, source names, directives.

The table in ``data/modules.json`` is generated from a real apache2 by
``tools/gen_modules.py``; static commands only read it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

# Debian's `apache2 -l`; used when the data file lacks it.
DEBIAN_COMPILED_IN: tuple[str, ...] = (
    "core.c", "mod_so.c", "mod_watchdog.c", "http_core.c",
    "mod_log_config.c", "mod_logio.c", "mod_version.c", "mod_unixd.c",
)

_MPM_SOURCES = {"mpm_event_module": "event.c", "mpm_prefork_module": "prefork.c", "mpm_worker_module": "worker.c"}


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    name: str  # LoadModule identifier, e.g. rewrite_module
    source: str  # module->name, e.g. mod_rewrite.c
    directives: frozenset[str]  # lower-cased; sections start with "<"


@dataclass(frozen=True, slots=True)
class ModuleCatalog:
    modules: dict[str, ModuleInfo]
    compiled_in: tuple[str, ...]
    by_source: dict[str, ModuleInfo]
    by_directive: dict[str, ModuleInfo]
    httpd_version: str

    def info(self, name: str) -> ModuleInfo:
        """Known facts for a LoadModule identifier, or a best guess for an unknown one."""
        found = self.modules.get(name)
        if found is not None:
            return found
        stem = name[: -len("_module")] if name.endswith("_module") else name
        return ModuleInfo(name, _MPM_SOURCES.get(name, f"mod_{stem}.c"), frozenset())

    def compiled_in_modules(self) -> list[ModuleInfo]:
        return [self.by_source.get(src) or ModuleInfo(src, src, frozenset()) for src in self.compiled_in]

    def module_for_directive(self, directive: str) -> ModuleInfo | None:
        return self.by_directive.get(directive.lower())


@lru_cache(maxsize=1)
def catalog() -> ModuleCatalog:
    """The bundled module table (read once; it is immutable data)."""
    try:
        raw = json.loads(resources.files("vhostguard.config").joinpath("data/modules.json").read_text())
    except (FileNotFoundError, OSError, ValueError):
        raw = {}
    modules: dict[str, ModuleInfo] = {}
    for name, entry in sorted(raw.get("modules", {}).items()):
        directives = frozenset(d.lower() for d in entry.get("directives", ()))
        modules[name] = ModuleInfo(name, entry.get("source") or f"mod_{name[:-7]}.c", directives)
    by_source = {info.source: info for info in modules.values()}
    by_directive: dict[str, ModuleInfo] = {}
    for info in modules.values():
        for directive in info.directives:
            by_directive.setdefault(directive, info)
    compiled = tuple(raw.get("compiled_in") or DEBIAN_COMPILED_IN)
    return ModuleCatalog(modules, compiled, by_source, by_directive, raw.get("httpd_version", ""))


class ModuleState:
    """The modules present at a point of reading: compiled-in plus LoadModule'd so far."""

    def __init__(self, table: ModuleCatalog) -> None:
        self._table = table
        self._names: set[str] = set()
        self._sources: set[str] = set(table.compiled_in)
        self._directives: set[str] = set()
        # A module the table does not know was loaded: its directives are unknown to us.
        self.unknown_loaded = False
        for info in table.compiled_in_modules():
            self._add(info)

    def _add(self, info: ModuleInfo) -> None:
        self._names.add(info.name)
        self._sources.add(info.source)
        self._directives |= info.directives

    def load(self, name: str) -> bool:
        """Record a LoadModule; False when the module was already loaded (httpd skips it)."""
        if name in self._names:
            return False
        if name not in self._table.modules:
            self.unknown_loaded = True
        self._add(self._table.info(name))
        return True

    def has_module(self, name: str) -> bool:
        """``<IfModule name>``: the source name (``mod_x.c``) or the identifier (``x_module``)."""
        return name in self._sources or name in self._names

    def has_directive(self, name: str) -> bool:
        return name.lower() in self._directives

    def has_key(self, key: str) -> bool:
        """``has_directive`` for a name already lower-cased (the loader asks for every line)."""
        return key in self._directives

    def has_mpm(self) -> bool:
        """httpd refuses to start without one (AH00534)."""
        return any(name.startswith("mpm_") for name in self._names)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._names)

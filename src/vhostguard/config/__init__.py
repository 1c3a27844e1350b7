"""config/: httpd 2.4 configuration syntax, read exactly as httpd reads it.

Public surface: ``load(main_file, options) -> ConfigTree`` and the plain data
types it returns.
"""
from __future__ import annotations

from vhostguard.config.loader import DEFAULT_HTTPD_VERSION, LoadOptions, find_system_config, load
from vhostguard.config.modules import catalog
from vhostguard.config.nodes import ConfigTree, Directive, IncludedFile, LoadedModule
from vhostguard.config.source import ConfigError, ConfigWarning, Source

__all__ = [
    "DEFAULT_HTTPD_VERSION", "ConfigError", "ConfigTree", "ConfigWarning", "Directive", "IncludedFile",
    "LoadOptions", "LoadedModule", "Source", "catalog", "find_system_config", "load",
]

"""config/: httpd 2.4 configuration syntax, read exactly as httpd reads it.

Public surface: ``load(main_file, options) -> ConfigTree`` and the plain data
types it returns.
"""
from __future__ import annotations

from vhostguard.config.loader import DEFAULT_HTTPD_VERSION, LoadOptions, find_system_config, load
from vhostguard.config.modules import catalog
from vhostguard.config.nodes import ConfigTree, Directive, IncludedFile, LoadedModule
from vhostguard.config.source import ConfigError, ConfigWarning, Source

from vhostguard.config.envfile import read_env_file
from vhostguard.config.htaccess import AccessFile, Overrides, parse_overrides, read_access_file
from vhostguard.config.expand import expand_variables
from vhostguard.config.includes import has_wildcard, server_root_relative
from vhostguard.config.lexer import next_word, split_words
from vhostguard.speed import slot_setters

__all__ = [
    "DEFAULT_HTTPD_VERSION",
    "AccessFile",
    "ConfigError",
    "ConfigTree",
    "ConfigWarning",
    "Directive",
    "IncludedFile",
    "LoadOptions",
    "LoadedModule",
    "Overrides",
    "Source",
    "catalog",
    "expand_variables",
    "find_system_config",
    "has_wildcard",
    "load",
    "next_word",
    "parse_overrides",
    "read_access_file",
    "read_env_file",
    "server_root_relative",
    "slot_setters",
    "split_words",
]

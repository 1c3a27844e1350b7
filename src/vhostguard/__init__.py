"""vhostguard: understand, audit, test and monitor Apache httpd virtual-host routing.

The public surface is small on purpose; everything else is private to its stage.
"""
from __future__ import annotations

from vhostguard.config import ConfigError, ConfigTree, LoadOptions, load
from vhostguard.model import ServerModel, build_model

__all__ = ["ConfigError", "ConfigTree", "LoadOptions", "ServerModel", "build_model", "load"]
__version__ = "0.1.0"

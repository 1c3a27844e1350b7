"""model/: the server model httpd builds from its configuration.

Public surface: ``build_model(tree) -> ServerModel`` and
``ServerModel.match(local_ip, port, host) -> Match``.
"""
from __future__ import annotations

from vhostguard.model.addresses import ListenAddress, VhostAddress
from vhostguard.model.build import ServerModel, build_model
from vhostguard.model.matching import AddressSet, HostName, Match, normalize_host
from vhostguard.model.server import Server, ServerName

from vhostguard.model.addresses import AddressError, normalize_ip, split_host_port
from vhostguard.model.matching import wildcard_regex

__all__ = [
    "AddressError",
    "AddressSet",
    "HostName",
    "ListenAddress",
    "Match",
    "Server",
    "ServerModel",
    "ServerName",
    "VhostAddress",
    "build_model",
    "normalize_host",
    "normalize_ip",
    "split_host_port",
    "wildcard_regex",
]

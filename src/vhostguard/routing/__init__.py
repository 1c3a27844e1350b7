"""routing/: what httpd does with a request inside the vhost that answers it.

Public surface: ``route(model, request) -> Decision``, ``Router`` for many
requests against one model, and the ``Request``/``Decision`` data types.
"""
from __future__ import annotations

from vhostguard.routing.decision import OUTCOME_KINDS, Decision, Outcome, Step
from vhostguard.routing.engine import Router, route
from vhostguard.routing.request import DEFAULT_REMOTE_IP, Request, RequestError, is_ip_address

from vhostguard.routing.access import check_access
from vhostguard.routing.alias import AliasEntry, alias_matches
from vhostguard.routing.alias import entries as alias_entries
from vhostguard.routing.proxy import ProxyMapping, ProxyMatch, match_mapping, server_mappings
from vhostguard.routing.proxy import alias_match as proxy_alias_match
from vhostguard.routing.rewrite import parse_flags
from vhostguard.routing.sections import Section, ServerSections, applicable, collect_sections, server_levels, server_sections

__all__ = [
    "DEFAULT_REMOTE_IP",
    "OUTCOME_KINDS",
    "AliasEntry",
    "Decision",
    "Outcome",
    "ProxyMapping",
    "ProxyMatch",
    "Request",
    "RequestError",
    "Router",
    "Section",
    "ServerSections",
    "Step",
    "alias_entries",
    "alias_matches",
    "applicable",
    "check_access",
    "collect_sections",
    "is_ip_address",
    "match_mapping",
    "parse_flags",
    "proxy_alias_match",
    "route",
    "server_levels",
    "server_mappings",
    "server_sections",
]

"""routing/: what httpd does with a request inside the vhost that answers it.

Public surface: ``route(model, request) -> Decision``, ``Router`` for many
requests against one model, and the ``Request``/``Decision`` data types.
"""
from __future__ import annotations

from vhostguard.routing.decision import OUTCOME_KINDS, Decision, Outcome, Step
from vhostguard.routing.engine import Router, route
from vhostguard.routing.request import DEFAULT_REMOTE_IP, Request, RequestError, is_ip_address

__all__ = ["DEFAULT_REMOTE_IP", "OUTCOME_KINDS", "Decision", "Outcome", "Request", "RequestError", "Router", "Step", "is_ip_address", "route"]

"""What routing returns: the outcome, the steps that explain it, and how sure we are."""
from __future__ import annotations

from dataclasses import dataclass, field

from vhostguard.config.nodes import Directive
from vhostguard.config.source import Source, slot_setters
from vhostguard.model import Match, Server
from vhostguard.routing.request import Request

OUTCOME_KINDS = (
    "proxy", "redirect", "file", "not-found", "forbidden", "gone", "unauthorized",
    "bad-request", "misdirected", "script", "wsgi", "handler", "error",
)


@dataclass(frozen=True, slots=True, init=False)
class Step:
    """One explanation line: a routing stage, what happened, and the config line responsible."""

    stage: str
    detail: str
    source: Source | None = None

    def __init__(self, stage: str, detail: str, source: Source | None = None) -> None:
        # Written out, with slot setters (see config.source.slot_setters), as for Outcome
        # and Decision: routing makes these for every decision. The same as dataclass's __init__.
        _set_stage(self, stage)
        _set_detail(self, detail)
        _set_step_source(self, source)


@dataclass(frozen=True, slots=True, init=False)
class Outcome:
    """Where the request finally goes (CONTRACT.md ``outcome``)."""

    kind: str
    status: int | None
    target: str | None
    directive: Directive | None = None
    members: tuple[str, ...] = ()
    reason: str | None = None

    def __init__(self, kind: str, status: int | None, target: str | None, directive: Directive | None = None,
                 members: tuple[str, ...] = (), reason: str | None = None) -> None:
        _set_kind(self, kind)
        _set_status(self, status)
        _set_target(self, target)
        _set_directive(self, directive)
        _set_members(self, members)
        _set_reason(self, reason)


@dataclass(frozen=True, slots=True, init=False)
class Decision:
    request: Request
    match: Match
    outcome: Outcome
    steps: tuple[Step, ...]
    certain: bool = True
    uncertain_reasons: tuple[str, ...] = field(default_factory=tuple)

    def __init__(self, request: Request, match: Match, outcome: Outcome, steps: tuple[Step, ...],
                 certain: bool = True, uncertain_reasons: tuple[str, ...] = ()) -> None:
        _set_request(self, request)
        _set_match(self, match)
        _set_outcome(self, outcome)
        _set_steps(self, steps)
        _set_certain(self, certain)
        _set_uncertain_reasons(self, uncertain_reasons)

    @property
    def server(self) -> Server:
        return self.match.server


_set_stage, _set_detail, _set_step_source = slot_setters(Step, "stage", "detail", "source")
_set_kind, _set_status, _set_target, _set_directive, _set_members, _set_reason = slot_setters(
    Outcome, "kind", "status", "target", "directive", "members", "reason"
)
_set_request, _set_match, _set_outcome, _set_steps, _set_certain, _set_uncertain_reasons = slot_setters(
    Decision, "request", "match", "outcome", "steps", "certain", "uncertain_reasons"
)

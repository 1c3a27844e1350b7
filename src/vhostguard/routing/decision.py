"""What routing returns: the outcome, the steps that explain it, and how sure we are."""
from __future__ import annotations

from dataclasses import dataclass, field

from vhostguard.config.nodes import Directive
from vhostguard.config.source import Source
from vhostguard.model import Match, Server
from vhostguard.routing.request import Request

OUTCOME_KINDS = (
    "proxy", "redirect", "file", "not-found", "forbidden", "gone", "unauthorized",
    "bad-request", "misdirected", "script", "wsgi", "handler", "error",
)


@dataclass(frozen=True, slots=True)
class Step:
    """One explanation line: a routing stage, what happened, and the config line responsible."""

    stage: str
    detail: str
    source: Source | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where the request finally goes (CONTRACT.md ``outcome``)."""

    kind: str
    status: int | None
    target: str | None
    directive: Directive | None = None
    members: tuple[str, ...] = ()
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    request: Request
    match: Match
    outcome: Outcome
    steps: tuple[Step, ...]
    certain: bool = True
    uncertain_reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def server(self) -> Server:
        return self.match.server

"""What routing returns: the outcome, the steps that explain it, and how sure we are."""
from __future__ import annotations

from dataclasses import dataclass, field

from vhostguard.config.nodes import Directive
from vhostguard.config.source import Source, slot_setters
from vhostguard.model import Match, Server
from vhostguard.routing.drafts import draft_class
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
    steps: tuple[Step, ...]  # see _steps below: routing may hand over a StepRecipe instead
    certain: bool = True
    uncertain_reasons: tuple[str, ...] = field(default_factory=tuple)

    def __init__(self, request: Request, match: Match, outcome: Outcome, steps: tuple[Step, ...] | StepRecipe,
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


class StepRecipe(tuple):  # type: ignore[type-arg]
    """The steps of a decision, written out only when read.

    Routing decides far more requests than anyone explains (a log replay, a
    benchmark), and most steps name the request (its URI, its file): formatting
    those, and keeping a ``Step`` object each alive in the memo for the cyclic GC
    to walk, cost more than the rest of the decision. So the engine records a
    flat tuple: a ``Step`` as itself, or a step still to be formatted as four
    entries ``stage, template, args, source`` (``Step(stage, template.format(*args),
    source)``, the same text the f-string would make).
    """

    __slots__ = ()

    def build(self) -> tuple[Step, ...]:
        steps: list[Step] = []
        index, end = 0, len(self)
        while index < end:
            entry = self[index]
            if type(entry) is Step:
                steps.append(entry)
                index += 1
            else:
                template, args, source = self[index + 1:index + 4]
                steps.append(new_step(entry, template.format(*args), source))
                index += 4
        return tuple(steps)


_set_stage, _set_detail, _set_step_source = slot_setters(Step, "stage", "detail", "source")
_set_kind, _set_status, _set_target, _set_directive, _set_members, _set_reason = slot_setters(
    Outcome, "kind", "status", "target", "directive", "members", "reason"
)
_set_request, _set_match, _set_outcome, _set_steps, _set_certain, _set_uncertain_reasons = slot_setters(
    Decision, "request", "match", "outcome", "steps", "certain", "uncertain_reasons"
)


_steps_slot = Decision.__dict__["steps"]
_StepDraft, _OutcomeDraft, _DecisionDraft = draft_class(Step), draft_class(Outcome), draft_class(Decision)


# The constructors routing uses (see routing.drafts): the same objects as Step(...),
# Outcome(...) and Decision(...), made in about half the time.

def new_step(stage: str, detail: str, source: Source | None = None) -> Step:
    step = _StepDraft()
    step.stage = stage
    step.detail = detail
    step.source = source
    step.__class__ = Step
    return step  # type: ignore[no-any-return]


def new_outcome(kind: str, status: int | None, target: str | None, directive: Directive | None = None,
                members: tuple[str, ...] = (), reason: str | None = None) -> Outcome:
    outcome = _OutcomeDraft()
    outcome.kind = kind
    outcome.status = status
    outcome.target = target
    outcome.directive = directive
    outcome.members = members
    outcome.reason = reason
    outcome.__class__ = Outcome
    return outcome  # type: ignore[no-any-return]


def new_decision(request: Request, match: Match, outcome: Outcome, steps: tuple[Step, ...] | StepRecipe,
                 certain: bool, uncertain_reasons: tuple[str, ...]) -> Decision:
    decision = _DecisionDraft()
    decision.request = request
    decision.match = match
    decision.outcome = outcome
    decision.steps = steps  # the slot itself: a draft has no steps property
    decision.certain = certain
    decision.uncertain_reasons = uncertain_reasons
    decision.__class__ = Decision
    return decision  # type: ignore[no-any-return]


def _steps(self: Decision) -> tuple[Step, ...]:
    """``Decision.steps``: a StepRecipe is built on first read and replaced by its steps.

    A property over the slot, so ``steps`` stays a dataclass field: the generated
    ``__eq__``, ``__hash__``, ``__repr__`` and pickling read it by name, and so see the steps.
    """
    steps = _steps_slot.__get__(self, Decision)
    if type(steps) is StepRecipe:
        steps = steps.build()
        _set_steps(self, steps)
    return steps  # type: ignore[no-any-return]


# The setter is the slot's: frozen assignment still raises (the dataclass __setattr__
# refuses first), and unpickling, which stores with object.__setattr__, works.
Decision.steps = property(_steps, _set_steps)  # type: ignore[assignment,method-assign,misc]

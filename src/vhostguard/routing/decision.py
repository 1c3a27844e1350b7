"""What routing returns: the outcome, the steps that explain it, and how sure we are."""
from __future__ import annotations

from dataclasses import dataclass, field

from vhostguard.config import Directive
from vhostguard.config import Source, slot_setters
from vhostguard.model import Match, Server
from vhostguard.speed import draft_class
from vhostguard.routing.request import Request

OUTCOME_KINDS = (
    "proxy", "redirect", "file", "not-found", "forbidden", "gone", "unauthorized",
    "bad-request", "misdirected", "script", "wsgi", "handler", "error", "refused",
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
    """Where the request finally goes (docs/contract.md ``outcome``)."""

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
    steps: tuple[Step, ...]  # see _steps below: routing hands over a recipe instead
    certain: bool = True
    uncertain_reasons: tuple[str, ...] = field(default_factory=tuple)

    def __init__(self, request: Request, match: Match, outcome: Outcome, steps: tuple[Step, ...] | tuple[object, ...],
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


# A decision's steps, written out only when read.
#
# Routing decides far more requests than anyone explains (a log replay, a
# benchmark), and most steps name the request (its URI, its file): formatting
# those costs as much as the rest of the decision, and every object a memoised
# decision keeps is one more for the cyclic GC to walk again and again. So the
# engine hands Decision a *recipe*: a plain tuple that starts with RECIPE, then
# one run of six entries per step, ``stage, template, args, file, line, macro``:
# the detail is ``template.format(*args)`` (the same text as the f-string), or
# ``template`` itself when args is None; the source is ``Source(file, line,
# macro)``, or None when file is None. Only strings, numbers and tuples of them:
# the GC stops tracking such a tuple, so a decision costs it two objects, not a
# handful.
RECIPE = "(the steps of a decision, to be built)"  # a recipe's first entry, compared by identity
StepEntry = tuple[str, str, "tuple[object, ...] | None", "str | None", "int | None", "str | None"]


def step_entry(stage: str, detail: str, source: Source | None = None) -> StepEntry:
    """The recipe entries for a step whose text is already written."""
    if source is None:
        return (stage, detail, None, None, None, None)
    return (stage, detail, None, source.file, source.line, source.macro)


def build_steps(recipe: tuple[object, ...]) -> tuple[Step, ...]:
    steps: list[Step] = []
    for index in range(1, len(recipe), 6):
        stage, template, args, file, line, macro = recipe[index:index + 6]
        detail = template if args is None else template.format(*args)  # type: ignore[attr-defined,misc]
        source = Source(file, line, macro) if file is not None else None  # type: ignore[arg-type]
        steps.append(new_step(stage, detail, source))  # type: ignore[arg-type]
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


def new_decision(request: Request, match: Match, outcome: Outcome, steps: tuple[Step, ...] | tuple[object, ...],
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
    """``Decision.steps``: a recipe (see RECIPE) is built on first read and replaced by its steps.

    A property over the slot, so ``steps`` stays a dataclass field: the generated
    ``__eq__``, ``__hash__``, ``__repr__`` and pickling read it by name, and so see the steps.
    """
    steps = _steps_slot.__get__(self, Decision)
    if steps and steps[0] is RECIPE:
        steps = build_steps(steps)
        _set_steps(self, steps)
    return steps  # type: ignore[no-any-return]


# The setter is the slot's: frozen assignment still raises (the dataclass __setattr__
# refuses first), and unpickling, which stores with object.__setattr__, works.
Decision.steps = property(_steps, _set_steps)  # type: ignore[assignment,misc]

"""routing's fast constructors give the very objects the public constructors give."""
from __future__ import annotations

import dataclasses
import pickle

import pytest

from vhostguard.config.source import Source
from vhostguard.routing import Request
from vhostguard.routing.decision import RECIPE, Decision, Outcome, Step, build_steps, new_decision, new_outcome, new_step
from vhostguard.speed import draft_class


def test_new_step_and_new_outcome_equal_the_dataclass_constructors() -> None:
    source = Source("/etc/apache2/sites-enabled/a.conf", 4)
    step = new_step("proxy", "ProxyPass /api/ matches", source)
    assert type(step) is Step and step == Step("proxy", "ProxyPass /api/ matches", source)
    assert hash(step) == hash(Step("proxy", "ProxyPass /api/ matches", source))
    outcome = new_outcome("proxy", None, "http://127.0.0.1:5000/x", reason="r")
    assert type(outcome) is Outcome and outcome == Outcome("proxy", None, "http://127.0.0.1:5000/x", None, (), "r")
    with pytest.raises(dataclasses.FrozenInstanceError):
        outcome.kind = "file"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(outcome)) == outcome


def test_a_decision_from_a_recipe_reads_as_built_steps() -> None:
    request = Request.from_url("http://a.example/x")
    recipe = (RECIPE, "vhost", "Host {} matches", ("a.example",), "/c.conf", 3, None,
              "file", "no such file", None, None, None, None)
    outcome = new_outcome("not-found", 404, "/var/www/x")
    made = new_decision(request, None, outcome, recipe, True, ())  # type: ignore[arg-type]
    expected = (Step("vhost", "Host a.example matches", Source("/c.conf", 3)), Step("file", "no such file"))
    assert made.steps == expected == build_steps(recipe)
    plain = Decision(request, None, outcome, expected)  # type: ignore[arg-type]
    assert made == plain and hash(made) == hash(plain) and repr(made) == repr(plain)
    assert pickle.loads(pickle.dumps(made)) == plain
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.steps = ()  # type: ignore[misc]


def test_only_plain_slots_classes_get_a_draft() -> None:
    class WithDict:
        pass

    with pytest.raises((TypeError, KeyError)):
        draft_class(WithDict)

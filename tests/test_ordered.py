from __future__ import annotations

import pytest

from vhostguard.diagnose import Severity as DoctorSeverity
from vhostguard.lint import Severity as LintSeverity
from vhostguard.ordered import OrderedEnum


class Level(OrderedEnum):
    LOW = "low"
    MID = "mid"
    HIGH = "high"


def test_members_compare_in_definition_order() -> None:
    assert Level.LOW < Level.MID < Level.HIGH and Level.HIGH >= Level.HIGH and Level.MID <= Level.HIGH
    assert sorted([Level.HIGH, Level.LOW, Level.MID]) == [Level.LOW, Level.MID, Level.HIGH]
    assert [level.rank for level in Level] == [0, 1, 2]


def test_other_enums_do_not_compare() -> None:
    with pytest.raises(TypeError):
        _ = LintSeverity.ERROR > DoctorSeverity.INFO


def test_lint_and_doctor_severities_are_ordered() -> None:
    assert LintSeverity.INFO < LintSeverity.WARNING < LintSeverity.ERROR
    assert DoctorSeverity.INFO < DoctorSeverity.WARNING < DoctorSeverity.CRITICAL

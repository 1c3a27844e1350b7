"""An enum whose members compare in the order they are defined: severities of
lint findings and doctor findings are both "info < warning < worst"."""
from __future__ import annotations

import enum
from typing import Any


class OrderedEnum(enum.Enum):
    """Members compare by definition order, the first being the lowest.

    An ordered Enum rather than bare strings (Gixy's weakness): ``finding.severity
    >= Severity.WARNING`` reads as it means, and a typo is an AttributeError.
    """

    @property
    def rank(self) -> int:
        """0 for the first member defined, 1 for the next, ..."""
        return type(self)._member_names_.index(self.name)

    def _ranks(self, other: Any) -> tuple[int, int] | None:
        if type(other) is not type(self):
            return None
        return self.rank, other.rank

    def __lt__(self, other: object) -> bool:
        ranks = self._ranks(other)
        return NotImplemented if ranks is None else ranks[0] < ranks[1]

    def __le__(self, other: object) -> bool:
        ranks = self._ranks(other)
        return NotImplemented if ranks is None else ranks[0] <= ranks[1]

    def __gt__(self, other: object) -> bool:
        ranks = self._ranks(other)
        return NotImplemented if ranks is None else ranks[0] > ranks[1]

    def __ge__(self, other: object) -> bool:
        ranks = self._ranks(other)
        return NotImplemented if ranks is None else ranks[0] >= ranks[1]

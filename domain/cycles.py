"""Academic years (учебный год, 1 Sep - 31 Aug) and the cycles a roadmap runs in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_CYCLE_RE = re.compile(r"^\s*(\d{4})\s*[/\-–]\s*(\d{4})\s*$")


class CycleError(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Cycle:
    """Academic year `first`/`first+1`; the roadmap's first cycle also holds the
    spring before it (an order of 08.04.2022 runs its first cycle to 31.08.2023)."""

    first: int

    @property
    def name(self) -> str:
        return f"{self.first}/{self.first + 1}"

    @property
    def starts(self) -> date:
        return date(self.first, 9, 1)

    @property
    def ends(self) -> date:
        return date(self.first + 1, 8, 31)

    def span(self, roadmap_start: date) -> tuple[date, date]:
        """The dates this cycle covers for a roadmap that starts on `roadmap_start`."""
        first = first_cycle(roadmap_start)
        if self == first:
            return min(roadmap_start, self.starts), self.ends
        return self.starts, self.ends

    @classmethod
    def parse(cls, text: str) -> Cycle:
        match = _CYCLE_RE.match(text)
        if not match or int(match.group(2)) != int(match.group(1)) + 1:
            raise CycleError(f"cycle {text!r}: expected two consecutive years like 2022/2023")
        return cls(int(match.group(1)))


def academic_year_of(day: date) -> Cycle:
    return Cycle(day.year if day.month >= 9 else day.year - 1)


def first_cycle(roadmap_start: date) -> Cycle:
    """The academic year holding the start, or for a spring start the one that follows:
    the months before the first September fold into the first full year."""
    return Cycle(roadmap_start.year)


def cycle_of(day: date, roadmap_start: date) -> Cycle:
    """The cycle a date belongs to: its academic year, or the first cycle if earlier."""
    return max(academic_year_of(day), first_cycle(roadmap_start))

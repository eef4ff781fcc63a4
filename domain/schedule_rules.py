"""The structured meaning of a schedule phrase and the windows it yields.

A parsed phrase is a list of rules (`SpanRule`, `DeadlineRule`, `PeriodicRule`,
`ContinuousRule`). Each rule turns a span of dates (start, until) into raw windows
(opens, last day); `Schedule.occurrences` then applies the working-day rule.

Which windows a span holds (see "What a schedule phrase means" in DESIGN.md):
- an explicit window (a day, a month, a range, a quarter, the academic year, a week)
  counts when it opens inside [start, until]; a window that opened before start is
  left out. A named month, range, quarter or date without a year and without a
  recurrence word is the first such window opening on or after start; a standing
  period named without a year (`в течение учебного года`) is every such period
  (the grammar makes it yearly);
- a deadline (`до ...`) opens at the start of its natural period (the academic year for
  a yearly deadline, the month for a monthly one, the span's start for a one-off) but
  never before start, and the first deadline in the span opens at start; it counts when
  its last day is on or after start and it opens on or before until;
- a continuous activity has one standing window per academic year (1 Sep - 31 Aug),
  opening at the academic year's start but never before start.
"""

from __future__ import annotations

import calendar as _stdcal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class ScheduleKind(StrEnum):
    once = "once"
    recurring = "recurring"
    continuous = "continuous"
    external = "external"


class ScheduleParseError(ValueError):
    """A phrase the grammar cannot read; `reason` names the word it stopped at."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, order=True)
class Window:
    """One occurrence: the task opens on `opens` and is due on `due` (a working day)."""

    opens: date
    due: date
    continuous: bool = False


RawWindow = tuple[date, date]
"""(opens, last day) before the working-day shift."""


def month_length(year: int, month: int) -> int:
    return _stdcal.monthrange(year, month)[1]


def clamped(year: int, month: int, day: int | None) -> date:
    """`day` of the month (None: its last day); 29-31 fall back to the month's last day."""
    last = month_length(year, month)
    return date(year, month, last if day is None else min(day, last))


def academic_year_start(day: date) -> date:
    return date(day.year if day.month >= 9 else day.year - 1, 9, 1)


def add_months(year: int, month: int, count: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + count
    return index // 12, index % 12 + 1


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SpanRule(_Rule):
    """An explicit window: from (start_month, start_day) to (end_month, end_day) that is
    `end_years_later` years after the start; `end_day` None is the month's last day.

    `year` is the start's year. With `yearly` it is the first year (None: every year);
    without `yearly` and without `year` it is the first such window opening on or after
    the span's start.
    """

    type: Literal["span"] = "span"
    start_month: int = Field(ge=1, le=12)
    start_day: int = Field(ge=1, le=31)
    end_month: int = Field(ge=1, le=12)
    end_day: int | None = Field(default=None, ge=1, le=31)
    end_years_later: int = Field(default=0, ge=0)
    year: int | None = None
    yearly: bool = False

    def instance(self, year: int) -> RawWindow:
        opens = clamped(year, self.start_month, self.start_day)
        last = clamped(year + self.end_years_later, self.end_month, self.end_day)
        return opens, last

    def every_instance(self, low: int, high: int) -> Iterator[RawWindow]:
        """Instances starting in years low..high that this rule allows, ignoring `yearly`
        limits other than its first year (used for bounds of periodic rules)."""
        if self.year is not None and not self.yearly:
            if low <= self.year <= high:
                yield self.instance(self.year)
            return
        for year in range(max(low, self.year or low), high + 1):
            yield self.instance(year)

    def windows(self, start: date, until: date) -> list[RawWindow]:
        if self.year is not None and not self.yearly:
            candidates = [self.instance(self.year)]
        elif self.yearly:
            first = max(self.year or start.year - 1, start.year - 1)
            candidates = [self.instance(y) for y in range(first, until.year + 1)]
        else:
            # The first such window opening on or after start: this year's or next year's.
            later = (self.instance(y) for y in (start.year, start.year + 1))
            candidates = [w for w in later if w[0] >= start][:1]
        return [w for w in candidates if start <= w[0] <= until]


class DeadlineRule(_Rule):
    """`до <date>`: due the day before the named date (`inclusive`: on it; `day` None is
    the month's last day). `year` is the named date's year: the first year when yearly."""

    type: Literal["deadline"] = "deadline"
    month: int = Field(ge=1, le=12)
    day: int | None = Field(default=None, ge=1, le=31)
    inclusive: bool = False
    year: int | None = None
    yearly: bool = False

    def last_day(self, year: int) -> date:
        named = clamped(year, self.month, self.day)
        return named if self.inclusive else named - timedelta(days=1)

    def windows(self, start: date, until: date) -> list[RawWindow]:
        if self.year is not None and not self.yearly:
            years: list[int] = [self.year]
        elif self.yearly:
            first = max(self.year or start.year - 1, start.year - 1)
            years = list(range(first, until.year + 2))
        else:
            years = [start.year, start.year + 1]
        dues = sorted(d for d in (self.last_day(y) for y in years) if d >= start)
        if not self.yearly:
            dues = dues[:1]
        result: list[RawWindow] = []
        for index, due in enumerate(dues):
            opens = start if index == 0 else max(start, academic_year_start(due))
            if opens <= until:
                result.append((opens, due))
        return result


class PeriodicRule(_Rule):
    """Every week, month or quarter.

    - whole periods (a month's `first_day`..`last_day` narrows a monthly window);
    - `deadline_day`: `до N числа` each period: due the day before (inclusive: on) day N
      of the period's month, or, with `following`, of the month after the reporting
      period; it opens on the 1st of the month the due date falls in ("opens the 1st of
      the following month" for a monthly report), never before start;
    - `weekday` (0 = Monday): a one-day event on that day every week;
    - `within`: a window is kept only when it opens inside one of these windows (for a
      deadline: when its reporting period begins inside); a bound without a year repeats
      every year.
    """

    type: Literal["periodic"] = "periodic"
    unit: Literal["week", "month", "quarter"]
    first_day: int | None = Field(default=None, ge=1, le=31)
    last_day: int | None = Field(default=None, ge=1, le=31)
    deadline_day: int | None = Field(default=None, ge=1, le=31)
    inclusive: bool = False
    following: bool = False
    weekday: int | None = Field(default=None, ge=0, le=6)
    within: tuple[SpanRule, ...] = ()

    def _periods(self, low: date, high: date) -> Iterator[tuple[date, date]]:
        """(first day, last day) of each period overlapping low..high."""
        if self.unit == "week":
            day = low - timedelta(days=low.weekday())
            while day <= high:
                yield day, day + timedelta(days=6)
                day += timedelta(days=7)
            return
        step = 1 if self.unit == "month" else 3
        year, month = low.year, low.month
        if step == 3:
            month -= (month - 1) % 3
        while date(year, month, 1) <= high:
            end_year, end_month = add_months(year, month, step - 1)
            yield date(year, month, 1), clamped(end_year, end_month, None)
            year, month = add_months(year, month, step)

    def _inside_bounds(self, day: date) -> bool:
        if not self.within:
            return True
        for bound in self.within:
            for opens, last in bound.every_instance(day.year - 3, day.year + 1):
                if opens <= day <= last:
                    return True
        return False

    def windows(self, start: date, until: date) -> list[RawWindow]:
        result: list[RawWindow] = []
        low = start - timedelta(days=120)
        for first, last in self._periods(low, until):
            if self.deadline_day is not None:
                if not self._inside_bounds(first):
                    continue
                month_year, month = first.year, first.month
                if self.following:
                    month_year, month = add_months(last.year, last.month, 1)
                named = clamped(month_year, month, self.deadline_day)
                due = named if self.inclusive else named - timedelta(days=1)
                opens = max(start, due.replace(day=1))
                if due >= start and opens <= until:
                    result.append((opens, due))
                continue
            if self.weekday is not None:
                day = first + timedelta(days=self.weekday)
                window = (day, day)
            elif self.first_day is not None or self.last_day is not None:
                window = (
                    clamped(first.year, first.month, self.first_day or 1),
                    clamped(first.year, first.month, self.last_day),
                )
            else:
                window = (first, last)
            if start <= window[0] <= until and self._inside_bounds(window[0]):
                result.append(window)
        return result


class ContinuousRule(_Rule):
    """A standing activity: one window per academic year, 1 Sep to 31 Aug, opening not
    before the span's start nor before `since` (month/day, optionally a year; without a
    year the first such day on or after start)."""

    type: Literal["continuous"] = "continuous"
    since_month: int | None = Field(default=None, ge=1, le=12)
    since_day: int = Field(default=1, ge=1, le=31)
    since_year: int | None = None

    def since(self, start: date) -> date:
        if self.since_month is None:
            return start
        if self.since_year is not None:
            return clamped(self.since_year, self.since_month, self.since_day)
        day = clamped(start.year, self.since_month, self.since_day)
        return day if day >= start else clamped(start.year + 1, self.since_month, self.since_day)

    def windows(self, start: date, until: date) -> list[RawWindow]:
        floor = max(start, self.since(start))
        result: list[RawWindow] = []
        year_start = academic_year_start(floor)
        while year_start <= until:
            year_end = date(year_start.year + 1, 8, 31)
            opens = max(year_start, floor)
            if opens <= min(until, year_end):
                result.append((opens, year_end))
            year_start = date(year_start.year + 1, 9, 1)
        return result


Rule = Annotated[
    SpanRule | DeadlineRule | PeriodicRule | ContinuousRule, Field(discriminator="type")
]

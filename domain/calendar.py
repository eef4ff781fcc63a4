"""Working days by the Russian production calendar (the `holidays` package)."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays


@lru_cache(maxsize=64)
def _holidays_for(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("RU", years=[year]).keys())


class WorkingCalendar:
    """Saturdays, Sundays, public holidays and transferred days off are not working days.

    The `holidays` package does not list the rare working Saturdays; they count as
    days off here, which only ever moves a date earlier or later by one day, never
    onto a day off.
    """

    def __init__(self, extra_days_off: frozenset[date] = frozenset()) -> None:
        self._extra = extra_days_off

    def is_working_day(self, day: date) -> bool:
        if day.weekday() >= 5 or day in self._extra:
            return False
        return day not in _holidays_for(day.year)

    def on_or_before(self, day: date) -> date:
        """The due-date rule: a day off moves to the previous working day."""
        while not self.is_working_day(day):
            day -= timedelta(days=1)
        return day

    def on_or_after(self, day: date) -> date:
        """A reminder owed on a day off waits for the next working day."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, day: date, count: int) -> date:
        """`count` working days after (or, negative, before) `day`."""
        step = timedelta(days=1 if count >= 0 else -1)
        remaining = abs(count)
        while remaining:
            day += step
            if self.is_working_day(day):
                remaining -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative when end is before start."""
        if end < start:
            return -self.working_days_between(end, start)
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count


RUSSIAN_CALENDAR = WorkingCalendar()

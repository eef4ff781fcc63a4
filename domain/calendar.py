"""Working days by the Russian production calendar.

Public holidays and transferred days off come from the `holidays` package. The
transferred working days (a Saturday worked in exchange for a day off elsewhere, e.g.
27.04.2024 for 29.04.2024), which the package does not list, come from a data file
shipped in the repository, `domain/data/working_saturdays.txt`, that an administrator
may extend with a file of their own (`ROADMAP_WORKING_SATURDAYS_FILE`, applied by
`config.settings.get_settings` through `RUSSIAN_CALENDAR.use_local_working_days`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import holidays

WORKING_SATURDAYS_FILE = Path(__file__).resolve().parent / "data" / "working_saturdays.txt"

_WEEKDAYS_RU = ("понедельник", "вторник", "среда", "четверг", "пятница", "суббота", "воскресенье")
_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


class CalendarFileError(ValueError):
    """A bad line in a working-days file; the message names the file, the line and the fix."""


@lru_cache(maxsize=64)
def _holidays_for(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("RU", years=[year]).keys())


def parse_working_days(text: str, source: str) -> frozenset[date]:
    """The dates of a working-days file: one date a line (ДД.ММ.ГГГГ or ГГГГ-ММ-ДД),
    `#` starts a comment, blank lines are skipped. Each date must be a Saturday or a
    Sunday: a weekday is a working day already, so it is a typo."""
    found: set[date] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{source}, строка {number}"
        dotted, iso = _DOTTED.fullmatch(line), _ISO.fullmatch(line)
        try:
            if dotted is not None:
                day, month, year = (int(g) for g in dotted.groups())
            elif iso is not None:
                year, month, day = (int(g) for g in iso.groups())
            else:
                raise ValueError(line)
            value = date(year, month, day)
        except ValueError:
            raise CalendarFileError(
                f"{where}: «{line}» — не дата; укажите одну дату в строке, "
                "ДД.ММ.ГГГГ (например 27.04.2024)"
            ) from None
        if value.weekday() < 5:
            raise CalendarFileError(
                f"{where}: {value:%d.%m.%Y} — {_WEEKDAYS_RU[value.weekday()]}, будний день; "
                "в файл вносят только рабочие субботы и воскресенья"
            )
        found.add(value)
    return frozenset(found)


def load_working_days(path: Path) -> frozenset[date]:
    """Read a working-days file (see `parse_working_days`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CalendarFileError(f"{path}: файл не найден; укажите путь к файлу дат") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarFileError(f"{path}: не удалось прочитать файл ({exc})") from None
    return parse_working_days(text, str(path))


class WorkingCalendar:
    """Saturdays, Sundays, public holidays and transferred days off are not working days,
    except the transferred working days (`working_weekends`, and an administrator's
    `use_local_working_days`); `extra_days_off` are days off whatever else says."""

    def __init__(
        self,
        extra_days_off: frozenset[date] = frozenset(),
        working_weekends: frozenset[date] = frozenset(),
    ) -> None:
        self._extra = extra_days_off
        self._shipped = working_weekends
        self._working = working_weekends

    def use_local_working_days(self, days: Iterable[date]) -> None:
        """The administrator's working days, on top of the shipped ones; each call
        replaces the previous local set (an empty one goes back to the shipped file)."""
        self._working = self._shipped | frozenset(days)

    def is_working_day(self, day: date) -> bool:
        if day in self._extra:
            return False
        if day in self._working:
            return True
        if day.weekday() >= 5:
            return False
        return day not in _holidays_for(day.year)

    def working_weekends(self, start: date, until: date) -> list[date]:
        """The transferred working days (weekend days worked) in [start, until]."""
        return sorted(d for d in self._working if start <= d <= until and self.is_working_day(d))

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


RUSSIAN_CALENDAR = WorkingCalendar(working_weekends=load_working_days(WORKING_SATURDAYS_FILE))

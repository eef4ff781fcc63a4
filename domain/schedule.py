"""Schedule phrases (сроки исполнения): parsing and the windows they yield.

`parse_schedule("апрель, ежегодно")` reads a phrase with the grammar in
`schedule_grammar` into a `Schedule`; `Schedule.occurrences(start, until)` lists the
windows (opens, due) that fall in a span, by the rules in DESIGN.md ("What a schedule
phrase means") spelled out in `schedule_rules`.

Working days: a due date on a day off moves to the previous working day
(`WorkingCalendar.on_or_before`); `opens` never moves. When the move would put the due
date before the window opens (a one-day event on a holiday, a week of New Year holidays,
a window clipped at the span's start), the due date stays on the window's last day:
the event happens that day, and a task never falls due before it opens.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict

from domain.calendar import RUSSIAN_CALENDAR, WorkingCalendar
from domain.schedule_grammar import build
from domain.schedule_rules import (
    ContinuousRule,
    DeadlineRule,
    PeriodicRule,
    Rule,
    ScheduleKind,
    ScheduleParseError,
    SpanRule,
    Window,
)

__all__ = [
    "ContinuousRule",
    "DeadlineRule",
    "PeriodicRule",
    "Schedule",
    "ScheduleKind",
    "ScheduleParseError",
    "SpanRule",
    "Window",
    "parse_schedule",
    "read_schedule",
]

_MAX_PHRASE = 500
_EARLIEST = date(1900, 1, 1)
_LATEST = date(2199, 12, 31)


class Schedule(BaseModel):
    """A parsed phrase. `rules` is its meaning; `needs_dates` says an administrator must
    enter the dates (an external plan, or a phrase the grammar could not read)."""

    model_config = ConfigDict(extra="forbid")

    phrase: str
    kind: ScheduleKind | None
    needs_dates: bool
    reason: str | None = None
    note: str | None = None
    rules: list[Rule] = []

    def occurrences(
        self, start: date, until: date, calendar: WorkingCalendar = RUSSIAN_CALENDAR
    ) -> list[Window]:
        """The windows that fall in [start, until], sorted by the day they open."""
        # Dates outside the years any roadmap runs in are clipped, keeping arithmetic safe.
        start, until = max(start, _EARLIEST), min(until, _LATEST)
        if until < start:
            return []
        found: set[Window] = set()
        for rule in self.rules:
            continuous = isinstance(rule, ContinuousRule)
            for opens, last in rule.windows(start, until):
                due = calendar.on_or_before(last)
                if due < opens:
                    due = last
                found.add(Window(opens=opens, due=due, continuous=continuous))
        return sorted(found)

    @classmethod
    def unreadable(cls, phrase: str, reason: str) -> Schedule:
        return cls(phrase=phrase, kind=None, needs_dates=True, reason=reason)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def parse_schedule(text: str) -> Schedule:
    """Read a schedule phrase; raises only `ScheduleParseError` (its `reason` says why)."""
    if not isinstance(text, str):
        raise ScheduleParseError("срок должен быть строкой")
    phrase = text.strip()
    if not phrase:
        raise ScheduleParseError("срок не указан (пустая строка)")
    if len(phrase) > _MAX_PHRASE:
        raise ScheduleParseError(f"срок длиннее {_MAX_PHRASE} символов: это не срок")
    try:
        rules, notes, plans, repeats = build(phrase)
    except ScheduleParseError:
        raise
    except (ValueError, IndexError, KeyError, OverflowError, AssertionError) as exc:
        # The grammar is meant to catch everything itself; this keeps the contract if not.
        raise ScheduleParseError(f"не удалось прочитать срок «{phrase}» ({exc})") from None
    note = "; ".join(plans + notes) or None
    if not rules:
        plan = "; ".join(plans)
        return Schedule(
            phrase=text,
            kind=ScheduleKind.external,
            needs_dates=True,
            reason=f"даты задаёт внешний план ({plan}): введите их вручную",
            note=note,
        )
    if any(isinstance(rule, ContinuousRule) for rule in rules):
        kind = ScheduleKind.continuous
    elif repeats or any(isinstance(rule, PeriodicRule) for rule in rules):
        kind = ScheduleKind.recurring
    else:
        kind = ScheduleKind.once
    return Schedule(phrase=text, kind=kind, needs_dates=False, note=note, rules=rules)


def read_schedule(text: str) -> Schedule:
    """Like `parse_schedule`, but a phrase it cannot read becomes `Schedule.unreadable`
    (flagged "needs dates") instead of an error: what an import wants."""
    try:
        return parse_schedule(text)
    except ScheduleParseError as exc:
        return Schedule.unreadable(str(text), exc.reason)

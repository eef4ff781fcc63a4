"""The daily scan looks at a task only on its next-look day (`next_notice_on`): looking
on those days alone must send exactly what looking every day would, on the same days,
for ordinary tasks and journals (quarterly nudges, a returned entry's own chase)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import RUSSIAN_CALENDAR
from domain.enums import NoticeKind, Role, TaskStatus
from domain.reminders import Policy, TaskView, next_look, owed_steps

POLICY = Policy()

Sent = list[tuple[date, list[tuple[NoticeKind, int]]]]


def run(task: TaskView, entry_days: list[date], end: date, *, scan: bool) -> Sent:
    """Walk from the opening to `end`: every working day (`scan=False`), or only on the
    next-look day the last look left, as `next_notice_on` does (`scan=True`). An entry
    is a change of the task: it is looked at again that day, as a change resets the look."""
    sent: set[tuple[NoticeKind, int]] = set()
    out: Sent = []
    announced: date | None = None
    look = task.occurrence_opens
    day = task.occurrence_opens
    while day <= end:
        if day in entry_days:
            look = min(look, day)
        if RUSSIAN_CALENDAR.is_working_day(day) and (not scan or day >= look):
            known = [d for d in entry_days if d <= day]
            steps = owed_steps(
                task,
                sent=sent,
                entry_days=known,
                today=day,
                policy=POLICY,
                announced_on=announced,
            )
            if steps:
                sent |= set(steps)
                out.append((day, steps))
                if (NoticeKind.opened, 0) in steps:
                    announced = day
            look = next_look(task, today=day, sent=sent, entry_days=known, policy=POLICY)
        day += timedelta(days=1)
    return out


@settings(max_examples=400, deadline=None)
@given(
    continuous=st.booleans(),
    status=st.sampled_from([TaskStatus.open, TaskStatus.returned, TaskStatus.submitted]),
    opened=st.dates(min_value=date(2022, 4, 1), max_value=date(2023, 3, 31)),
    length=st.integers(min_value=1, max_value=400),
    revision=st.integers(min_value=0, max_value=2),
    entry_due_after=st.one_of(st.none(), st.integers(min_value=1, max_value=90)),
    entries=st.lists(st.integers(min_value=0, max_value=400), max_size=4),
)
def test_looking_on_next_look_days_sends_what_looking_daily_sends(
    continuous: bool,
    status: TaskStatus,
    opened: date,
    length: int,
    revision: int,
    entry_due_after: int | None,
    entries: list[int],
) -> None:
    due = opened + timedelta(days=length)
    task = TaskView(
        status=status,
        role=Role.head,
        due=due,
        opened_on=opened,
        revision=revision,
        continuous=continuous,
        occurrence_opens=opened,
        entry_due=(
            opened + timedelta(days=entry_due_after)
            if continuous and entry_due_after is not None
            else None
        ),
    )
    entry_days = sorted({opened + timedelta(days=n) for n in entries}) if continuous else []
    end = due + timedelta(days=45)
    assert run(task, entry_days, end, scan=True) == run(task, entry_days, end, scan=False)

"""The rules for reminders, chases, escalations and nudges, with `today` passed in."""

from __future__ import annotations

from datetime import date

import pytest

from domain.calendar import RUSSIAN_CALENDAR
from domain.enums import NoticeKind, Role, TaskStatus
from domain.reminders import Policy, TaskView, owed_steps, quarter_ends_between
from tests.factories import JOURNAL_VIEW, TASK_VIEW, task_view

POLICY = Policy(reminder_before=3, chase_after=(1, 5, 10), escalate_after_chase=2)
TASK = TASK_VIEW  # item 13's first occurrence: opened 08.04.2022, due Wed 14.09.2022


def owed(
    task: TaskView, today: date, sent=(), entries=(), announced: bool = True
) -> list[tuple[NoticeKind, int]]:
    already = set(sent) | ({(NoticeKind.opened, 0)} if announced else set())
    return owed_steps(
        task,
        sent=already,
        entry_days=list(entries),
        today=today,
        policy=POLICY,
        calendar=RUSSIAN_CALENDAR,
    )


def test_it_reminds_three_working_days_before_the_due_date() -> None:
    assert owed(TASK, date(2022, 9, 8)) == []
    assert owed(TASK, date(2022, 9, 9)) == [(NoticeKind.reminder, 0)]


def test_it_reminds_once() -> None:
    assert owed(TASK, date(2022, 9, 12), sent=[(NoticeKind.reminder, 0)]) == []


def test_a_missed_reminder_is_still_owed_until_the_due_date() -> None:
    assert owed(TASK, date(2022, 9, 14)) == [(NoticeKind.reminder, 0)]
    assert (NoticeKind.reminder, 0) not in owed(TASK, date(2022, 9, 15))


def test_nothing_goes_out_on_a_weekend_or_holiday() -> None:
    assert owed(TASK, date(2022, 9, 10)) == []  # Saturday
    late = task_view(due=date(2022, 10, 31))
    assert owed(late, date(2022, 11, 4)) == []  # Unity Day


def test_it_chases_one_five_and_ten_working_days_after() -> None:
    assert owed(TASK, date(2022, 9, 15), sent=[(NoticeKind.reminder, 0)]) == [(NoticeKind.chase, 1)]
    sent = [(NoticeKind.reminder, 0), (NoticeKind.chase, 1)]
    assert owed(TASK, date(2022, 9, 20), sent=sent) == []
    assert owed(TASK, date(2022, 9, 21), sent=sent) == [
        (NoticeKind.chase, 2),
        (NoticeKind.escalation, 0),
    ]
    sent += [(NoticeKind.chase, 2), (NoticeKind.escalation, 0)]
    assert owed(TASK, date(2022, 9, 28), sent=sent) == [(NoticeKind.chase, 3)]
    sent.append((NoticeKind.chase, 3))
    assert owed(TASK, date(2022, 12, 1), sent=sent) == []


def test_after_downtime_only_the_latest_chase_is_owed() -> None:
    assert owed(TASK, date(2022, 10, 3)) == [(NoticeKind.chase, 3), (NoticeKind.escalation, 0)]


def test_an_answered_task_is_never_chased() -> None:
    for status in (TaskStatus.submitted, TaskStatus.accepted):
        done = task_view(status=status)
        assert owed(done, date(2022, 9, 21)) == []


def test_the_centres_own_task_is_chased_but_not_escalated() -> None:
    centre = task_view(role=Role.centre)
    assert owed(centre, date(2022, 9, 21), sent=[(NoticeKind.chase, 1)]) == [(NoticeKind.chase, 2)]


def test_a_returned_task_starts_a_new_series() -> None:
    returned = task_view(status=TaskStatus.returned, revision=1, due=date(2022, 10, 14))
    sent = [(NoticeKind.reminder, 0), (NoticeKind.chase, 1), (NoticeKind.chase, 2)]
    assert owed(returned, date(2022, 10, 11), sent=sent) == [(NoticeKind.reminder, 10)]
    assert owed(returned, date(2022, 10, 17), sent=sent) == [(NoticeKind.chase, 11)]


def test_a_task_opened_inside_the_reminder_window_gets_no_reminder() -> None:
    short = task_view(opened_on=date(2022, 9, 12))
    assert owed(short, date(2022, 9, 13)) == []


def test_a_continuous_log_is_nudged_after_a_quarter_without_entries() -> None:
    log = JOURNAL_VIEW
    assert owed(log, date(2022, 9, 30)) == []
    assert owed(log, date(2022, 10, 3)) == [(NoticeKind.nudge, 1)]
    assert owed(log, date(2022, 10, 3), entries=[date(2022, 9, 20)]) == []
    assert owed(log, date(2022, 10, 4), sent=[(NoticeKind.nudge, 1)]) == []
    assert owed(log, date(2023, 1, 9), entries=[date(2022, 9, 20)]) == [(NoticeKind.nudge, 2)]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2022, 9, 1), date(2022, 9, 29), []),
        (date(2022, 9, 1), date(2022, 9, 30), [date(2022, 9, 30)]),
        (
            date(2022, 4, 8),
            date(2023, 1, 1),
            [date(2022, 6, 30), date(2022, 9, 30), date(2022, 12, 31)],
        ),
    ],
)
def test_quarter_ends(start: date, end: date, expected: list[date]) -> None:
    assert quarter_ends_between(start, end) == expected


def test_look_days_are_the_days_a_notice_first_falls_due() -> None:
    from domain.reminders import look_days

    days = look_days(TASK, policy=POLICY, calendar=RUSSIAN_CALENDAR)
    assert date(2022, 4, 8) in days  # the opening is announced
    looks = sorted(d for d in days if d.month == 9)
    assert looks == [date(2022, 9, 9), date(2022, 9, 15), date(2022, 9, 21), date(2022, 9, 28)]
    for day in looks:
        assert owed(TASK, day), day


def test_an_opening_is_owed_until_it_is_announced_on_a_working_day() -> None:
    assert owed(TASK, date(2022, 4, 8), announced=False) == [(NoticeKind.opened, 0)]
    assert owed(TASK, date(2022, 4, 9), announced=False) == []  # Saturday: waits
    assert owed(TASK, date(2022, 4, 11), announced=False) == [(NoticeKind.opened, 0)]
    assert owed(TASK, date(2022, 4, 11)) == []


def test_an_accepted_log_is_left_alone() -> None:
    log = task_view(JOURNAL_VIEW, status=TaskStatus.accepted)
    assert owed(log, date(2022, 10, 3), announced=False) == []


def test_nobody_is_chased_on_the_day_a_task_is_announced_even_when_run_again() -> None:
    """A catch-up announces a task that is long overdue: that day it owes only the
    announcement, and a second run the same day (retry, hand-over) owes nothing; the
    chase and the escalation follow on the next working day."""
    late = task_view(opened_on=date(2026, 12, 1))
    day = date(2026, 12, 1)
    assert owed(late, day, announced=False) == [(NoticeKind.opened, 0)]
    again = owed_steps(
        late,
        sent={(NoticeKind.opened, 0)},
        entry_days=[],
        today=day,
        policy=POLICY,
        calendar=RUSSIAN_CALENDAR,
        announced_on=day,
    )
    assert again == []
    next_day = owed_steps(
        late,
        sent={(NoticeKind.opened, 0)},
        entry_days=[],
        today=date(2026, 12, 2),
        policy=POLICY,
        calendar=RUSSIAN_CALENDAR,
        announced_on=day,
    )
    assert next_day == [(NoticeKind.chase, 3), (NoticeKind.escalation, 0)]

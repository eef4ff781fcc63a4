"""When reminders, chases, escalations and nudges are owed: pure rules taking `today`.

Steps: a task returned for revision starts a new series, so every step carries the
task's revision (`revision * 10 + n`), and (task, kind, step) stays unique for ever.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta, tzinfo
from typing import Any

from sqlalchemy import case, func, or_
from sqlalchemy import select as core_select
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from domain import lifecycle
from domain.calendar import RUSSIAN_CALENDAR, WorkingCalendar
from domain.emails import Notice
from domain.enums import NoticeKind, Role, TaskEventKind, TaskStatus
from domain.evidence import Evidence
from domain.notices import OwedNotice
from domain.organisations import Organisation
from domain.recipients import item_owner_email, role_recipients
from domain.roadmap import RoadmapItem
from domain.tasks import Occurrence, Task, TaskEvent

# The statuses in which the organisation owes the answer: the lifecycle table's.
WAITING = lifecycle.WAITING


@dataclass(frozen=True)
class Policy:
    reminder_before: int = 3  # working days before the due date
    chase_after: tuple[int, ...] = (1, 5, 10)  # working days after the due date
    escalate_after_chase: int = 2  # escalate to the centre once this chase is owed


@dataclass(frozen=True)
class TaskView:
    """What the rules need to know about one task."""

    status: TaskStatus
    role: Role
    due: date
    opened_on: date
    revision: int
    continuous: bool
    occurrence_opens: date
    # a journal's entry the centre returned: the day its corrected entry is due (the
    # journal keeps its own due date); None for any other task
    entry_due: date | None = None


def series_step(step: int) -> tuple[int, int]:
    """(revision, n) of a notice's step `revision * 10 + n`: the task's revision when
    it was owed (a return starts a new series) and its place in that series."""
    return divmod(step, 10)


def _view(
    task: Any, *, continuous: bool, opens: date, tz: tzinfo, entry_due: date | None = None
) -> TaskView:
    """`task`: a Task or a row with its status, role, due, opened_at and revision."""
    return TaskView(
        status=task.status,
        role=task.role,
        due=task.due,
        opened_on=task.opened_at.astimezone(tz).date(),
        revision=task.revision,
        continuous=continuous,
        occurrence_opens=opens,
        entry_due=entry_due,
    )


def quarter_ends_between(start: date, end: date) -> list[date]:
    """Last days of calendar quarters in [start, end]."""
    ends: list[date] = []
    year = start.year
    while True:
        for month in (3, 6, 9, 12):
            last = date(year, month, 31 if month in (3, 12) else 30)
            if last > end:
                return ends
            if last >= start:
                ends.append(last)
        year += 1


def owed_steps(
    task: TaskView,
    *,
    sent: Collection[tuple[NoticeKind, int]],
    entry_days: Sequence[date],
    today: date,
    policy: Policy,
    calendar: WorkingCalendar = RUSSIAN_CALENDAR,
    return_days: Sequence[date] = (),
    announced_on: date | None = None,
) -> list[tuple[NoticeKind, int]]:
    """The (kind, step) notices owed for a task on `today`: its opening (until it has
    been announced), a reminder, a chase, an escalation, a nudge. For a journal,
    `entry_days` are the days of its entries and `return_days` the days the centre
    returned one: the nudges count from the latest of them. On the day of the
    announcement (`announced_on`) nothing else is owed, so a re-run that day sends nothing.

    Nothing is owed on a day off: it waits for the next working day. After downtime
    only the latest chase is owed, never a burst of the ones missed.
    """
    if not calendar.is_working_day(today):
        return []
    base = task.revision * 10
    owed: list[tuple[NoticeKind, int]] = []
    announce = lifecycle.waits_for_organisation(task.status) or (
        task.continuous and not lifecycle.is_done(task.status)
    )
    if announce and (NoticeKind.opened, 0) not in sent:
        # The opening is announced by the same run that sends the day's other notices,
        # so that everything owed to one person on one day goes as one digest. The
        # announcement carries the due date: nobody is chased, reminded or escalated about
        # a task on the day they first hear of it (after downtime, say): that waits for the
        # task's next look day.
        owed.append((NoticeKind.opened, 0))
        return owed
    if announced_on == today:
        return owed
    if task.continuous:
        if lifecycle.is_done(task.status):
            return owed
        owed += _entry_chase(task, sent=sent, today=today, policy=policy, calendar=calendar)
        activity = [*entry_days, *return_days]
        return owed + _nudges(task, sent=sent, activity_days=activity, today=today)
    if not lifecycle.waits_for_organisation(task.status):
        return owed
    reminder_day = calendar.add_working_days(task.due, -policy.reminder_before)
    if (
        reminder_day <= today <= task.due
        and task.opened_on < reminder_day
        and (NoticeKind.reminder, base) not in sent
    ):
        owed.append((NoticeKind.reminder, base))
    chase_step = 0
    for index in range(len(policy.chase_after), 0, -1):
        if today >= calendar.add_working_days(task.due, policy.chase_after[index - 1]):
            chase_step = index
            break
    if chase_step:
        already = any(
            (NoticeKind.chase, base + s) in sent
            for s in range(chase_step, len(policy.chase_after) + 1)
        )
        if not already:
            owed.append((NoticeKind.chase, base + chase_step))
        if (
            task.role is not Role.centre
            and chase_step >= policy.escalate_after_chase
            and (NoticeKind.escalation, base) not in sent
        ):
            owed.append((NoticeKind.escalation, base))
    return owed


def _entry_chase_day(task: TaskView, policy: Policy, calendar: WorkingCalendar) -> date | None:
    """The day a journal's returned entry, still not corrected, is chased: the first
    chase day after the entry's own date (None: no entry waits for its correction)."""
    if task.entry_due is None or not lifecycle.is_returned(task.status) or not policy.chase_after:
        return None
    return calendar.add_working_days(task.entry_due, policy.chase_after[0])


def _entry_chase(
    task: TaskView,
    *,
    sent: Collection[tuple[NoticeKind, int]],
    today: date,
    policy: Policy,
    calendar: WorkingCalendar,
) -> list[tuple[NoticeKind, int]]:
    """One chase when a journal's returned entry passed its own date uncorrected (the
    journal itself is not late: its nudges and due date go on as before). Its step is
    the return's revision, so a later return of another entry is chased afresh."""
    day = _entry_chase_day(task, policy, calendar)
    step = task.revision * 10 + 1
    if day is None or today < day or (NoticeKind.chase, step) in sent:
        return []
    return [(NoticeKind.chase, step)]


def _nudges(
    task: TaskView,
    *,
    sent: Collection[tuple[NoticeKind, int]],
    activity_days: Sequence[date],
    today: date,
) -> list[tuple[NoticeKind, int]]:
    """A journal is a log: a nudge when a quarter passed with no entry, counted from the
    last entry or return (one since the quarter began, even after its end, is enough).

    A journal is nudged once per quarter whatever happens to its entries: the step is
    the quarter's number, not shifted by returns (older rows may carry the revision's
    offset, `revision * 10 + n`, and count as sent too)."""
    ends = quarter_ends_between(task.occurrence_opens, min(today - timedelta(days=1), task.due))
    if not ends:
        return []
    last_end = ends[-1]
    quarter = len(ends)
    quarter_start = max(task.occurrence_opens, date(last_end.year, last_end.month - 2, 1))
    if any(quarter_start <= d <= today for d in activity_days):
        return []
    if any((NoticeKind.nudge, r * 10 + quarter) in sent for r in range(task.revision + 1)):
        return []
    return [(NoticeKind.nudge, quarter)]


# "Nothing more to look at" for a task's next_notice_on (until its state changes).
NEVER = date(9999, 12, 31)


def _scanned(query: Any, today: date) -> Any:
    """Waiting tasks and continuous logs whose next look is due: an indexed read of
    `next_notice_on`, so a day's scan does not touch the tasks that owe nothing."""
    return query.join(Occurrence, col(Occurrence.id) == Task.occurrence_id).where(
        (col(Task.status).in_(WAITING)) | (col(Occurrence.continuous).is_(True)),
        Occurrence.opens <= today,
        or_(col(Task.next_notice_on).is_(None), col(Task.next_notice_on) <= today),
    )


def looks_due(session: Session, today: date, calendar: WorkingCalendar = RUSSIAN_CALENDAR) -> bool:
    """Whether `owed_notices` on `today` has any task to look at: the same indexed read
    of `next_notice_on`, stopped at the first row. False on a day off (nothing is owed)."""
    if not calendar.is_working_day(today):
        return False
    return session.exec(_scanned(select(Task.id), today).limit(1)).first() is not None


def earliest_look(
    session: Session, after: date, calendar: WorkingCalendar = RUSSIAN_CALENDAR
) -> date | None:
    """The first working day from `after` on which `looks_due` can be true (None: no
    task will ever be looked at again): the same indexed next looks, read as a minimum,
    so that a caller stepping through days can jump to it."""
    look_from = case(
        (
            or_(col(Task.next_notice_on).is_(None), col(Task.next_notice_on) < Occurrence.opens),
            Occurrence.opens,
        ),
        else_=Task.next_notice_on,
    )
    first = session.exec(
        select(func.min(look_from))
        .select_from(Task)
        .join(Occurrence, col(Occurrence.id) == Task.occurrence_id)
        .where((col(Task.status).in_(WAITING)) | (col(Occurrence.continuous).is_(True)))
    ).one()
    if first is None or first >= NEVER:
        return None
    return calendar.on_or_after(max(first, after))


def next_look(
    task: TaskView,
    *,
    today: date,
    sent: Collection[tuple[NoticeKind, int]],
    entry_days: Sequence[date],
    policy: Policy,
    calendar: WorkingCalendar = RUSSIAN_CALENDAR,
) -> date:
    """The first day after `today` on which the task may owe a notice (NEVER if none),
    given that what is owed today (`sent` includes it) goes out. Something still owed on
    the next working day (a chase held back on the day of an announcement, a catch-up
    after downtime) makes that day the next look; otherwise the next of its look days."""
    tomorrow = calendar.on_or_after(today + timedelta(days=1))
    if owed_steps(
        task, sent=sent, entry_days=entry_days, today=tomorrow, policy=policy, calendar=calendar
    ):
        return tomorrow
    ahead = [d for d in look_days(task, policy=policy, calendar=calendar) if d > today]
    return min(ahead, default=NEVER)


SCAN_CHUNK = 1000  # tasks read and judged at a time: the scan's memory does not grow with N


@dataclass(frozen=True, slots=True)
class Looked:
    """One task the day's scan looked at: what it owes today and its next look day."""

    task_id: int
    owed: tuple[OwedNotice, ...]
    next_look: date


def _due_task_ids(session: Session, today: date) -> array[int]:
    """The ids of the tasks due a look, through the `next_notice_on` index, as a compact
    array (8 bytes a task) rather than rows."""
    ids: array[int] = array("q")
    result = session.execute(
        _scanned(select(Task.id), today).order_by(col(Task.id)).execution_options(yield_per=10_000)
    )
    for partition in result.partitions():
        ids.extend(task_id for (task_id,) in partition)
    return ids


def scan_owed(
    *,
    session: Session,
    today: date,
    policy: Policy,
    centre_email: str,
    tz: tzinfo,
    calendar: WorkingCalendar = RUSSIAN_CALENDAR,
    chunk: int = SCAN_CHUNK,
) -> Iterator[list[Looked]]:
    """The day's scan in chunks of `chunk` tasks: every waiting task and continuous log
    due a look (the indexed `next_notice_on` read), with what it owes on `today` (a date
    in the district's zone `tz`) and its next look day. Reads columns, not Task objects,
    and writes nothing: the caller writes the next looks (`write_next_looks`) when what is
    owed is written."""
    if not calendar.is_working_day(today):
        return
    ids = _due_task_ids(session, today)
    for start in range(0, len(ids), chunk):
        chunk_ids = list(ids[start : start + chunk])
        # each chunk reads its own rows: the caller may commit (and expire) in between
        yield _look_at(session, chunk_ids, today, policy, centre_email, tz, calendar)


def _look_at(
    session: Session,
    task_ids: list[int],
    today: date,
    policy: Policy,
    centre_email: str,
    tz: tzinfo,
    calendar: WorkingCalendar,
) -> list[Looked]:
    rows = session.execute(
        core_select(
            col(Task.id),
            col(Task.status),
            col(Task.role),
            col(Task.due),
            col(Task.opened_at),
            col(Task.revision),
            col(Task.item_id),
            col(Task.organisation_id),
            col(Occurrence.continuous),
            col(Occurrence.opens),
        )
        .join(Occurrence, col(Occurrence.id) == Task.occurrence_id)
        .where(col(Task.id).in_(task_ids))
        .order_by(col(Task.id))
    ).all()
    sent: dict[int, set[tuple[NoticeKind, int]]] = defaultdict(set)
    announced: dict[int, date] = {}
    for task_id, kind, step, on_day in session.execute(
        core_select(
            col(Notice.task_id), col(Notice.kind), col(Notice.step), col(Notice.on_day)
        ).where(col(Notice.task_id).in_(task_ids))
    ).all():
        sent[task_id].add((NoticeKind(kind), step))
        if kind == NoticeKind.opened:
            announced[task_id] = on_day
    logs = [row.id for row in rows if row.continuous]
    entries: dict[int, list[date]] = defaultdict(list)
    returns: dict[int, list[date]] = defaultdict(list)
    # the latest returned entry of each journal: (its version, the day it is due)
    reopened: dict[int, tuple[int, date]] = {}
    if logs:
        for task_id, submitted_at, version, until in session.execute(
            core_select(
                col(Evidence.task_id),
                col(Evidence.submitted_at),
                col(Evidence.version),
                col(Evidence.reopened_until),
            ).where(col(Evidence.task_id).in_(logs))
        ).all():
            entries[task_id].append(submitted_at.astimezone(tz).date())
            if until is not None and version > reopened.get(task_id, (-1,))[0]:
                reopened[task_id] = (version, until)
        for task_id, at in session.execute(
            select(TaskEvent.task_id, TaskEvent.at).where(
                col(TaskEvent.task_id).in_(logs), TaskEvent.kind == TaskEventKind.returned
            )
        ).all():
            returns[task_id].append(at.astimezone(tz).date())
    item_ids = sorted({row.item_id for row in rows})
    items = {
        i.id: i
        for i in session.exec(select(RoadmapItem).where(col(RoadmapItem.id).in_(item_ids))).all()
    }
    org_ids = {row.organisation_id for row in rows if row.organisation_id is not None}
    orgs = (
        {
            o.id: o
            for o in session.exec(
                select(Organisation).where(col(Organisation.id).in_(sorted(org_ids)))
            ).all()
        }
        if org_ids
        else {}
    )
    looked: list[Looked] = []
    for row in rows:
        entry_due = reopened[row.id][1] if row.id in reopened else None
        view = _view(row, continuous=row.continuous, opens=row.opens, tz=tz, entry_due=entry_due)
        steps = owed_steps(
            view,
            sent=sent[row.id],
            entry_days=entries[row.id],
            today=today,
            policy=policy,
            calendar=calendar,
            announced_on=announced.get(row.id),
            return_days=returns[row.id],
        )
        look = next_look(
            view,
            today=today,
            sent=sent[row.id] | set(steps),
            entry_days=entries[row.id],
            policy=policy,
            calendar=calendar,
        )
        owed: list[OwedNotice] = []
        if steps:
            item = items[row.item_id]
            org = orgs.get(row.organisation_id) if row.organisation_id else None
            to, cc = role_recipients(row.role, org, item, centre_email, on_day=today)
            for kind, step in steps:
                if kind is NoticeKind.escalation:
                    owner = item_owner_email(item, centre_email)
                    owed.append(OwedNotice(row.id, kind, step, today, owner))
                elif to:
                    owed.append(OwedNotice(row.id, kind, step, today, to, cc))
        looked.append(Looked(row.id, tuple(owed), look))
    return looked


def write_next_looks(session: Session, looks: Iterable[tuple[int, date]]) -> None:
    """Store each (task id, next look day): one UPDATE per day per few hundred tasks, not
    one per task. Task objects the session holds get the value too."""
    by_day: dict[date, list[int]] = defaultdict(list)
    for task_id, day in looks:
        by_day[day].append(task_id)
    table = Task.__table__  # type: ignore[attr-defined]
    for day, task_ids in by_day.items():
        for start in range(0, len(task_ids), 500):
            session.execute(
                table.update()
                .where(table.c.id.in_(task_ids[start : start + 500]))
                .values(next_notice_on=day)
            )
    if by_day:
        day_of = {task_id: day for day, task_ids in by_day.items() for task_id in task_ids}
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Task) and obj.id in day_of:
                set_committed_value(obj, "next_notice_on", day_of[obj.id])


def owed_notices(
    *,
    session: Session,
    today: date,
    policy: Policy,
    centre_email: str,
    tz: tzinfo,
    calendar: WorkingCalendar = RUSSIAN_CALENDAR,
) -> list[OwedNotice]:
    """Every notice owed on `today` (a date in the district's zone `tz`) across the
    waiting tasks and continuous logs due a look; each one looked at gets its next look
    day (`next_notice_on`) in the caller's transaction. (The day's queue uses `scan_owed`
    and writes each task's next look with its notices instead.)"""
    owed: list[OwedNotice] = []
    for looked in scan_owed(
        session=session,
        today=today,
        policy=policy,
        centre_email=centre_email,
        tz=tz,
        calendar=calendar,
    ):
        write_next_looks(session, ((one.task_id, one.next_look) for one in looked))
        for one in looked:
            owed.extend(one.owed)
    return owed


def first_working_day_after(day: date, calendar: WorkingCalendar) -> date:
    return calendar.on_or_after(day + timedelta(days=1))


def look_days(
    task: TaskView, *, policy: Policy, calendar: WorkingCalendar = RUSSIAN_CALENDAR
) -> frozenset[date]:
    """The days on which a notice for this task falls due for the first time: the
    working day its opening is announced, its reminder day and chase days, or for a
    continuous log the working day after each quarter's end. A cheap test for "is there
    anything to do today" that does not need the notices already sent (owed_steps gives
    the full answer)."""
    announce = calendar.on_or_after(task.opened_on)
    if task.continuous:
        entry_chase = _entry_chase_day(task, policy, calendar)
        return frozenset(
            {announce}
            | {
                first_working_day_after(end, calendar)
                for end in quarter_ends_between(task.occurrence_opens, task.due)
            }
            | ({entry_chase} if entry_chase is not None else set())
        )
    if not lifecycle.waits_for_organisation(task.status):
        return frozenset()
    days = {announce, calendar.add_working_days(task.due, -policy.reminder_before)}
    days.update(calendar.add_working_days(task.due, n) for n in policy.chase_after)
    return frozenset(days)

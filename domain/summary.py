"""The yearly summary (аналитическая справка): pure arithmetic over the cycle's rows.

`build_summary` reads the rows of one cycle and returns plain dataclasses; rendering
lives in `reports/`. Nothing here reads the clock: `as_of` says what "already overdue"
means.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from domain import lifecycle
from domain.calendar import RUSSIAN_CALENDAR, WorkingCalendar
from domain.cycles import Cycle, cycle_of
from domain.emails import Notice, OutgoingEmail
from domain.enums import EmailStatus, EvidenceFieldKind, NoticeKind, OrgKind
from domain.evidence import Evidence
from domain.lifecycle import Timeliness
from domain.opening import item_schedule
from domain.organisations import Organisation
from domain.roadmap import Roadmap, RoadmapItem
from domain.tasks import Occurrence, Task

DISTRICT_TZ = ZoneInfo("Europe/Moscow")


ORG_KIND_LABELS: dict[OrgKind, str] = {
    OrgKind.school: "школа",
    OrgKind.kindergarten: "детский сад",
    OrgKind.extra: "доп. образование",
}


class SummaryError(ValueError):
    """The summary cannot be built as asked (the message says why and what to do)."""


class Outcome(StrEnum):
    on_time = "on_time"  # finished (submitted or accepted) on or before the due date
    late = "late"  # finished after the due date
    overdue = "overdue"  # not finished, due date passed by `as_of`
    in_progress = "in_progress"  # not finished, due date not yet passed


# --- Russian numerals --------------------------------------------------------------


def plural_ru(n: int, forms: tuple[str, str, str]) -> str:
    """The form of a noun for `n`: (1 организация, 2 организации, 5 организаций)."""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return forms[0]
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return forms[1]
    return forms[2]


def count_ru(n: int, forms: tuple[str, str, str]) -> str:
    """`n` with its noun: "1 организация", "22 организации", "11 организаций"."""
    return f"{n} {plural_ru(n, forms)}"


def format_number_ru(value: float, digits: int = 1) -> str:
    """A number the Russian way: decimal comma, no trailing ",0"."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.{digits}f}".replace(".", ",")


def format_share_ru(share: float | None) -> str:
    """A share 0..1 as "62,5 %" (or "—" when there is nothing to divide)."""
    if share is None:
        return "—"
    return f"{format_number_ru(round(share * 100, 1))} %"


ORGANISATIONS = ("организация", "организации", "организаций")
TASKS = ("задание", "задания", "заданий")
ITEMS = ("мероприятие", "мероприятия", "мероприятий")
WORKING_DAYS = ("рабочий день", "рабочих дня", "рабочих дней")
LETTERS = ("письмо", "письма", "писем")
ENTRIES = ("запись", "записи", "записей")
ORGANISATIONS_DAT = ("организации", "организациям", "организациям")  # по 2 организациям
ORGANISATIONS_ACC = ("организацию", "организации", "организаций")  # на 1 организацию


# --- counts ------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """Tasks asked and how they ended; `late_days` holds each late task's working days."""

    asked: int = 0
    on_time: int = 0
    late: int = 0
    overdue: int = 0
    in_progress: int = 0
    late_days: tuple[int, ...] = ()

    @classmethod
    def of(cls, outcomes: Iterable[tuple[Outcome, int]]) -> Counts:
        tally = {kind: 0 for kind in Outcome}
        late_days: list[int] = []
        for outcome, days in outcomes:
            tally[outcome] += 1
            if outcome is Outcome.late:
                late_days.append(days)
        return cls(
            asked=sum(tally.values()),
            on_time=tally[Outcome.on_time],
            late=tally[Outcome.late],
            overdue=tally[Outcome.overdue],
            in_progress=tally[Outcome.in_progress],
            late_days=tuple(sorted(late_days)),
        )

    @classmethod
    def total(cls, parts: Iterable[Counts]) -> Counts:
        result = cls()
        for part in parts:
            result = result + part
        return result

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            asked=self.asked + other.asked,
            on_time=self.on_time + other.on_time,
            late=self.late + other.late,
            overdue=self.overdue + other.overdue,
            in_progress=self.in_progress + other.in_progress,
            late_days=tuple(sorted(self.late_days + other.late_days)),
        )

    @property
    def done(self) -> int:
        return self.on_time + self.late

    @property
    def missing(self) -> int:
        """Still not finished: overdue plus in progress."""
        return self.overdue + self.in_progress

    @property
    def falling_due(self) -> int:
        """Tasks answered or past their due date: the base of the shares (a task whose
        due date has not come yet counts against nobody), as on the dashboard."""
        return self.on_time + self.late + self.overdue

    @property
    def on_time_share(self) -> float | None:
        return self.on_time / self.falling_due if self.falling_due else None

    @property
    def done_share(self) -> float | None:
        return self.done / self.falling_due if self.falling_due else None

    @property
    def avg_late_days(self) -> float | None:
        if not self.late_days:
            return None
        return round(sum(self.late_days) / len(self.late_days), 1)

    @property
    def max_late_days(self) -> int | None:
        return max(self.late_days) if self.late_days else None

    def describe_ru(self) -> str:
        """A one-line account, e.g. "в срок 2, с опозданием 1, просрочено 1"."""
        if not self.asked:
            return "—"
        parts = []
        if self.on_time:
            parts.append(f"в срок {self.on_time}")
        if self.late:
            parts.append(f"с опозданием {self.late}")
        if self.overdue:
            parts.append(f"просрочено {self.overdue}")
        if self.in_progress:
            parts.append(f"в работе {self.in_progress}")
        if len(parts) == 1 and self.asked == 1:
            return {
                Outcome.on_time: "выполнено в срок",
                Outcome.late: "выполнено с опозданием",
                Outcome.overdue: "просрочено",
                Outcome.in_progress: "в работе",
            }[self._only_outcome()]
        return ", ".join(parts)

    def _only_outcome(self) -> Outcome:
        for outcome, value in (
            (Outcome.on_time, self.on_time),
            (Outcome.late, self.late),
            (Outcome.overdue, self.overdue),
        ):
            if value:
                return outcome
        return Outcome.in_progress


# --- the summary's parts -----------------------------------------------------------


@dataclass(frozen=True)
class OccurrenceSummary:
    opens: date
    due: date
    continuous: bool
    started: bool  # opened by `as_of`
    counts: Counts  # organisations' tasks
    not_asked: int  # active organisations with no task in this occurrence (once started)
    not_asked_in_scope: int  # of those, the ones whose kind the item's rule covers
    centre: Counts  # the centre's own task(s)
    entries: int  # Evidence rows (for continuous items: entries logged)


@dataclass(frozen=True)
class ItemSummary:
    item_id: int
    number: int
    section: str
    title: str
    schedule_text: str
    responsible: str
    owner_name: str
    owner_email: str
    needs_dates: bool
    needs_dates_reason: str | None
    continuous: bool
    for_organisations: bool  # the item's rule gives organisations tasks (not centre-only)
    occurrences: tuple[OccurrenceSummary, ...]
    counts: Counts  # organisations' tasks, all occurrences
    not_asked: int  # active organisations with no task for this item in the cycle
    not_asked_in_scope: int  # of those, the ones whose kind the item's rule covers
    centre: Counts
    entries: int
    organisations_with_entries: int
    expected_result: str = ""
    organisations_asked: int = 0  # distinct organisations with a task for this item
    # For an item nothing of which has opened by `as_of`: its windows in the cycle by
    # its schedule, (opens, due) - what is still to come, or what fell due before
    # tracking began.
    planned: tuple[tuple[date, date], ...] = ()
    journal_since: date | None = None  # a journal's first day of tracking in the cycle

    @property
    def label(self) -> str:
        return f"{self.number}. {self.title}"

    @property
    def started(self) -> bool:
        """Some occurrence of the cycle has opened (or has tasks) by `as_of`."""
        return any(occ.started for occ in self.occurrences)

    @property
    def missed(self) -> int | None:
        """Active organisations the item's rule covers that got no task in the cycle;
        None when the question does not arise (centre-only item, nothing opened yet)."""
        if not (self.for_organisations and self.started):
            return None
        return self.not_asked_in_scope

    def missed_in(self, occ: OccurrenceSummary) -> int | None:
        """`missed` for one occurrence of this item."""
        if not (self.for_organisations and occ.started):
            return None
        return occ.not_asked_in_scope

    @property
    def centre_label(self) -> str:
        return self.centre.describe_ru() if self.centre.asked else "—"

    @property
    def note(self) -> str:
        notes = []
        if self.needs_dates:
            reason = report_reason(self.needs_dates_reason)
            notes.append(f"сроки не установлены: {reason}" if reason else "сроки не установлены")
        if self.continuous:
            notes.append(f"постоянно; {count_ru(self.entries, ENTRIES)}")
        if not self.occurrences and not self.needs_dates:
            notes.append("в этом учебном году не проводилось")
        return "; ".join(notes)


@dataclass(frozen=True)
class SectionSummary:
    name: str
    items: tuple[ItemSummary, ...]


@dataclass(frozen=True)
class OrganisationSummary:
    organisation_id: int
    name: str
    short_name: str
    kind: OrgKind
    active: bool
    items_asked: int  # distinct items it had tasks for
    counts: Counts

    @property
    def kind_label(self) -> str:
        return ORG_KIND_LABELS.get(self.kind, str(self.kind))


@dataclass(frozen=True)
class KindTotal:
    """One indicator's total over the organisations of one kind."""

    kind: OrgKind
    total: int | float
    reported: int  # organisations of this kind whose answers carried a number

    @property
    def kind_label(self) -> str:
        return ORG_KIND_LABELS.get(self.kind, str(self.kind))


@dataclass(frozen=True)
class IndicatorTotal:
    """A district total of one number field. An ordinary item counts the latest answer of
    each task (a resubmission replaces the earlier one); a journal (continuous) item sums
    every entry of the cycle, since each entry reports something new."""

    item_number: int
    item_title: str
    field_name: str
    label: str
    total: int | float
    reported: int  # answers (journal: entries) that carried a number here
    ignored: int  # answers (journal: entries) that carried something that is not a number
    journal: bool = False  # summed over every entry of a continuous item
    by_kind: tuple[KindTotal, ...] = ()  # the total per kind of organisation
    centre_total: int | float = 0  # the centre's own answers, if the item asks it too


@dataclass(frozen=True)
class KindSummary:
    """The organisations of one kind and how their tasks ended."""

    kind: OrgKind
    organisations: int  # with at least one task in the cycle
    counts: Counts

    @property
    def kind_label(self) -> str:
        return ORG_KIND_LABELS.get(self.kind, str(self.kind))


@dataclass(frozen=True)
class EscalationCount:
    """How many times one organisation's tasks were escalated, per item."""

    organisation: str
    kind: OrgKind | None  # None: the centre's own tasks
    total: int
    by_item: tuple[tuple[int, int], ...]  # (item number, escalations), by item number

    @property
    def items_label(self) -> str:
        return ", ".join(f"№ {number} ({n})" for number, n in self.by_item)


@dataclass(frozen=True)
class EscalationRow:
    item_number: int
    item_title: str
    organisation: str
    on_day: date
    recipient: str
    outcome: Outcome
    kind: OrgKind | None = None  # the organisation's kind; None for the centre's tasks


@dataclass(frozen=True)
class DeliveryFailure:
    created_on: date
    kind: str
    to_addr: str
    subject: str
    last_error: str
    attempts: int


@dataclass(frozen=True)
class YearlySummary:
    cycle: str
    period_start: date
    period_end: date
    as_of: date
    roadmap_title: str
    roadmap_order: str  # "№ 209-од от 08.04.2022" or ""
    district: str
    items: tuple[ItemSummary, ...]
    organisations: tuple[OrganisationSummary, ...]
    indicators: tuple[IndicatorTotal, ...]
    escalations: tuple[EscalationRow, ...]
    delivery_failures: tuple[DeliveryFailure, ...]
    counts: Counts  # every organisation task of the cycle
    centre: Counts  # every centre task of the cycle
    text: tuple[str, ...] = field(default=())  # the generated sentences, in Russian
    tracked_since: date | None = None  # the roadmap's activation, when known
    kinds: tuple[KindSummary, ...] = ()  # per kind of organisation
    conclusions: tuple[str, ...] = ()  # the generated conclusions, in Russian
    recommendations: tuple[str, ...] = ()  # the generated recommendations, in Russian

    @property
    def sections(self) -> tuple[SectionSummary, ...]:
        """Items grouped by section, sections in the order their first item appears."""
        groups: dict[str, list[ItemSummary]] = {}
        for item in self.items:
            groups.setdefault(item.section, []).append(item)
        return tuple(SectionSummary(name, tuple(items)) for name, items in groups.items())

    @property
    def needs_dates(self) -> tuple[ItemSummary, ...]:
        return tuple(item for item in self.items if item.needs_dates)

    @property
    def period_label(self) -> str:
        return f"{self.period_start:%d.%m.%Y} – {self.period_end:%d.%m.%Y}"

    @property
    def organisations_involved(self) -> int:
        return sum(1 for org in self.organisations if org.counts.asked)

    @property
    def interim(self) -> bool:
        """The cycle is still running on `as_of`: an interim report."""
        return self.as_of < self.period_end

    @property
    def title(self) -> str:
        if self.interim:
            return (
                "Промежуточная аналитическая справка о реализации дорожной карты "
                f"в {self.cycle} учебном году (на дату {self.as_of:%d.%m.%Y})"
            )
        return f"Аналитическая справка о реализации дорожной карты в {self.cycle} учебном году"

    @property
    def escalation_counts(self) -> tuple[EscalationCount, ...]:
        """Escalations per organisation (most first), each split by item."""
        per: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        kinds: dict[str, OrgKind | None] = {}
        for row in self.escalations:
            per[row.organisation][row.item_number] += 1
            kinds[row.organisation] = row.kind
        rows = [
            EscalationCount(
                organisation=name,
                kind=kinds[name],
                total=sum(by_item.values()),
                by_item=tuple(sorted(by_item.items())),
            )
            for name, by_item in per.items()
        ]
        return tuple(sorted(rows, key=lambda r: (-r.total, r.organisation)))

    def escalations_of(self, item_number: int) -> tuple[int, int]:
        """(escalations, organisations escalated) for one item."""
        rows = [row for row in self.escalations if row.item_number == item_number]
        return len(rows), len({row.organisation for row in rows})

    def indicators_of(self, item_number: int) -> tuple[IndicatorTotal, ...]:
        return tuple(ind for ind in self.indicators if ind.item_number == item_number)


# --- arithmetic --------------------------------------------------------------------


def task_outcome(
    task: Task,
    *,
    as_of: date,
    tz: ZoneInfo = DISTRICT_TZ,
    calendar: WorkingCalendar,
    continuous: bool = False,
) -> tuple[Outcome, int]:
    """How a task ended by `as_of`, and for a late one by how many working days.

    A continuous activity's task is a log that stays open all year: it counts as done
    in time once it has entries (its latest entry may well come after the year's end
    and says nothing about lateness)."""
    answered_on: date | None = None
    if lifecycle.is_answered(task.status):  # reviewed or not: a report counts what arrived
        if continuous:
            return Outcome.on_time, 0
        finished = task.submitted_at or task.accepted_at or task.updated_at
        answered_on = finished.astimezone(tz).date()
    timeliness = lifecycle.timeliness(
        task.status, due=task.due, answered_on=answered_on, today=as_of
    )
    if timeliness is Timeliness.on_time:
        return Outcome.on_time, 0
    if timeliness is Timeliness.late:
        assert answered_on is not None
        return Outcome.late, calendar.working_days_between(task.due, answered_on)
    if timeliness is Timeliness.overdue:
        return Outcome.overdue, 0
    return Outcome.in_progress, 0


def parse_number(value: Any) -> Decimal | None:
    """A number from an answer: ints, floats and numeric text ("1 200", "12,5"); else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
        if not text:
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _plain_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _pick_roadmap(session: Session, roadmap_id: int | None) -> Roadmap | None:
    if roadmap_id is not None:
        roadmap = session.get(Roadmap, roadmap_id)
        if roadmap is None:
            raise SummaryError(f"дорожной карты с id {roadmap_id} нет в базе")
        return roadmap
    roadmaps = list(session.exec(select(Roadmap).order_by(col(Roadmap.id))))
    if len(roadmaps) > 1:
        codes = ", ".join(r.key for r in roadmaps)
        raise SummaryError(f"в базе несколько дорожных карт ({codes}); укажите нужную")
    return roadmaps[0] if roadmaps else None


def build_summary(
    *,
    session: Session,
    cycle: Cycle,
    roadmap_start: date,
    as_of: date,
    calendar: WorkingCalendar = RUSSIAN_CALENDAR,
    tz: ZoneInfo = DISTRICT_TZ,
    roadmap_id: int | None = None,
    tracked_since: date | None = None,
) -> YearlySummary:
    """The summary of `cycle` as it stands on `as_of` (tasks due before it and still
    unfinished are overdue; before the cycle's end it is an interim report). With
    `roadmap_id` None the database's only roadmap is used; `tracked_since` (the roadmap's
    activation) is mentioned in the text when given."""
    period_start, period_end = cycle.span(roadmap_start)
    roadmap = _pick_roadmap(session, roadmap_id)

    items: list[RoadmapItem] = []
    if roadmap is not None:
        items = list(
            session.exec(
                select(RoadmapItem)
                .where(RoadmapItem.roadmap_id == roadmap.id)
                .order_by(col(RoadmapItem.number))
            )
        )
    item_ids = [item.id for item in items if item.id is not None]

    occurrences = list(
        session.exec(
            select(Occurrence)
            .where(Occurrence.cycle == cycle.name, col(Occurrence.item_id).in_(item_ids))
            .order_by(col(Occurrence.opens), col(Occurrence.id))
        )
    )
    occ_ids = [occ.id for occ in occurrences if occ.id is not None]
    tasks = list(
        session.exec(
            select(Task).where(col(Task.occurrence_id).in_(occ_ids)).order_by(col(Task.id))
        )
    )
    task_ids = [task.id for task in tasks if task.id is not None]
    evidence = list(
        session.exec(
            select(Evidence)
            .where(col(Evidence.task_id).in_(task_ids))
            .order_by(col(Evidence.task_id), col(Evidence.version))
        )
    )
    organisations = {
        org.id: org
        for org in session.exec(select(Organisation).order_by(col(Organisation.name)))
        if org.id is not None
    }
    active_orgs = [org for org in organisations.values() if org.active]

    continuous_occ = {occ.id for occ in occurrences if occ.continuous}
    outcomes = {
        task.id: task_outcome(
            task,
            as_of=as_of,
            tz=tz,
            calendar=calendar,
            continuous=task.occurrence_id in continuous_occ,
        )
        for task in tasks
    }
    entries_by_task: dict[int, int] = defaultdict(int)
    evidence_by_task: dict[int, list[Evidence]] = defaultdict(list)
    for row in evidence:
        entries_by_task[row.task_id] += 1
        evidence_by_task[row.task_id].append(row)  # ordered by version

    tasks_by_occ: dict[int, list[Task]] = defaultdict(list)
    for task in tasks:
        tasks_by_occ[task.occurrence_id].append(task)
    occs_by_item: dict[int, list[Occurrence]] = defaultdict(list)
    for occ in occurrences:
        occs_by_item[occ.item_id].append(occ)

    item_summaries: list[ItemSummary] = []
    indicators: list[IndicatorTotal] = []
    for item in items:
        assert item.id is not None
        covered = set(item.assignee_rule.kinds) if item.assignee_rule.organisations else set()
        occ_summaries: list[OccurrenceSummary] = []
        item_tasks: list[Task] = []
        asked_orgs: set[int] = set()
        any_started = False
        for occ in occs_by_item[item.id]:
            assert occ.id is not None
            occ_tasks = tasks_by_occ[occ.id]
            item_tasks.extend(occ_tasks)
            org_tasks = [t for t in occ_tasks if t.organisation_id is not None]
            centre_tasks = [t for t in occ_tasks if t.organisation_id is None]
            occ_orgs = {t.organisation_id for t in org_tasks if t.organisation_id is not None}
            asked_orgs |= occ_orgs
            started = occ.opens <= as_of or bool(occ_tasks)
            any_started = any_started or started
            missing_orgs = [o for o in active_orgs if o.id not in occ_orgs] if started else []
            occ_summaries.append(
                OccurrenceSummary(
                    opens=occ.opens,
                    due=occ.due,
                    continuous=occ.continuous,
                    started=started,
                    counts=Counts.of(outcomes[t.id] for t in org_tasks),
                    not_asked=len(missing_orgs),
                    not_asked_in_scope=sum(1 for o in missing_orgs if o.kind in covered),
                    centre=Counts.of(outcomes[t.id] for t in centre_tasks),
                    entries=sum(entries_by_task[t.id] for t in occ_tasks if t.id is not None),
                )
            )
        never_asked = [o for o in active_orgs if o.id not in asked_orgs] if any_started else []
        continuous = any(occ.continuous for occ in occs_by_item[item.id])
        planned: tuple[tuple[date, date], ...] = ()
        if not any_started and item.schedule and not item.needs_dates and not item.withdrawn:
            planned = _planned_windows(item, cycle, roadmap_start, calendar)
        journal_days = [
            max(occ.opens, tracked_since or occ.opens)
            for occ in occs_by_item[item.id]
            if occ.continuous and (occ.opens <= as_of or tasks_by_occ[occ.id or 0])
        ]
        item_summaries.append(
            ItemSummary(
                item_id=item.id,
                number=item.number,
                section=item.section,
                title=item.title,
                expected_result=item.expected_result,
                organisations_asked=len(asked_orgs),
                planned=planned,
                journal_since=min(journal_days) if journal_days else None,
                schedule_text=item.schedule_text,
                responsible=item.responsible,
                owner_name=item.owner_name,
                owner_email=item.owner_email,
                needs_dates=item.needs_dates,
                needs_dates_reason=item.needs_dates_reason,
                continuous=continuous,
                for_organisations=item.assignee_rule.organisations is not None,
                occurrences=tuple(occ_summaries),
                counts=Counts.total(o.counts for o in occ_summaries),
                not_asked=len(never_asked),
                not_asked_in_scope=sum(1 for o in never_asked if o.kind in covered),
                centre=Counts.total(o.centre for o in occ_summaries),
                entries=sum(o.entries for o in occ_summaries),
                organisations_with_entries=len(
                    {
                        t.organisation_id
                        for t in item_tasks
                        if t.organisation_id is not None and entries_by_task.get(t.id or 0)
                    }
                ),
            )
        )
        indicators.extend(
            _indicators(item, item_tasks, evidence_by_task, continuous_occ, organisations)
        )

    org_summaries = _organisation_summaries(tasks, outcomes, organisations)
    task_by_id = {task.id: task for task in tasks}
    item_by_id = {item.id: item for item in items}

    escalations: list[EscalationRow] = []
    if task_ids:
        notices = session.exec(
            select(Notice)
            .where(Notice.kind == NoticeKind.escalation, col(Notice.task_id).in_(task_ids))
            .order_by(col(Notice.on_day), col(Notice.id))
        )
        for notice in notices:
            task = task_by_id[notice.task_id]
            item = item_by_id[task.item_id]
            org = organisations.get(task.organisation_id or 0)
            escalations.append(
                EscalationRow(
                    item_number=item.number,
                    item_title=item.title,
                    organisation=(org.short_name or org.name) if org else "Методический центр",
                    on_day=notice.on_day,
                    recipient=notice.recipient,
                    outcome=outcomes[task.id][0],
                    kind=org.kind if org else None,
                )
            )

    failures = _delivery_failures(session, period_start, period_end, tz)
    counts = Counts.total(i.counts for i in item_summaries)
    centre = Counts.total(i.centre for i in item_summaries)
    order = ""
    if roadmap is not None and roadmap.order_number:
        order = f"№ {roadmap.order_number} от {roadmap.order_date:%d.%m.%Y}"
    summary = YearlySummary(
        cycle=cycle.name,
        period_start=period_start,
        period_end=period_end,
        as_of=as_of,
        roadmap_title=roadmap.title if roadmap else "",
        roadmap_order=order,
        district=roadmap.district if roadmap else "",
        items=tuple(item_summaries),
        organisations=org_summaries,
        indicators=tuple(indicators),
        escalations=tuple(escalations),
        delivery_failures=failures,
        counts=counts,
        centre=centre,
        tracked_since=tracked_since,
        kinds=_kind_summaries(org_summaries),
    )
    return replace(
        summary,
        text=summary_text(summary),
        conclusions=conclusions_text(summary),
        recommendations=recommendations_text(summary),
    )


def _planned_windows(
    item: RoadmapItem, cycle: Cycle, roadmap_start: date, calendar: WorkingCalendar
) -> tuple[tuple[date, date], ...]:
    """The item's windows whose opening day falls in `cycle` (as `domain.opening` files
    its occurrences), by its schedule: (opens, due)."""
    windows = item_schedule(item).occurrences(roadmap_start, cycle.span(roadmap_start)[1], calendar)
    return tuple((w.opens, w.due) for w in windows if cycle_of(w.opens, roadmap_start) == cycle)


def _kind_summaries(orgs: Sequence[OrganisationSummary]) -> tuple[KindSummary, ...]:
    result = []
    for kind in OrgKind:
        members = [org for org in orgs if org.kind is kind and org.counts.asked]
        if members:
            result.append(KindSummary(kind, len(members), Counts.total(o.counts for o in members)))
    return tuple(result)


def _indicators(
    item: RoadmapItem,
    item_tasks: Sequence[Task],
    evidence_by_task: dict[int, list[Evidence]],
    continuous_occ: set[int | None],
    organisations: dict[int, Organisation],
) -> list[IndicatorTotal]:
    """One total per number field of the item: the latest answer of each ordinary task,
    every entry of a journal task; per kind of organisation as well."""
    journal = any(task.occurrence_id in continuous_occ for task in item_tasks)
    result = []
    for spec_field in item.evidence.fields:
        if spec_field.kind is not EvidenceFieldKind.number:
            continue
        total, centre_total, reported, ignored = Decimal(0), Decimal(0), 0, 0
        per_kind: dict[OrgKind, Decimal] = defaultdict(Decimal)
        per_kind_orgs: dict[OrgKind, set[int]] = defaultdict(set)
        for task in item_tasks:
            rows = evidence_by_task.get(task.id or 0, [])
            if task.occurrence_id not in continuous_occ:
                rows = rows[-1:]  # a resubmission replaces the earlier answer
            org = organisations.get(task.organisation_id or 0)
            for answer in rows:
                if spec_field.name not in answer.values:
                    continue
                raw = answer.values[spec_field.name]
                number = parse_number(raw)
                if number is None:
                    if raw not in (None, ""):
                        ignored += 1
                    continue
                total += number
                reported += 1
                if org is None:
                    centre_total += number
                else:
                    per_kind[org.kind] += number
                    per_kind_orgs[org.kind].add(task.organisation_id or 0)
        result.append(
            IndicatorTotal(
                item_number=item.number,
                item_title=item.title,
                field_name=spec_field.name,
                label=spec_field.label,
                total=_plain_number(total),
                reported=reported,
                ignored=ignored,
                journal=journal,
                by_kind=tuple(
                    KindTotal(kind, _plain_number(per_kind[kind]), len(per_kind_orgs[kind]))
                    for kind in OrgKind
                    if kind in per_kind
                ),
                centre_total=_plain_number(centre_total),
            )
        )
    return result


def _organisation_summaries(
    tasks: Sequence[Task],
    outcomes: dict[int | None, tuple[Outcome, int]],
    organisations: dict[int, Organisation],
) -> tuple[OrganisationSummary, ...]:
    by_org: dict[int, list[Task]] = defaultdict(list)
    for task in tasks:
        if task.organisation_id is not None:
            by_org[task.organisation_id].append(task)
    result = []
    for org_id, org in organisations.items():
        org_tasks = by_org.get(org_id, [])
        if not org.active and not org_tasks:
            continue
        result.append(
            OrganisationSummary(
                organisation_id=org_id,
                name=org.name,
                short_name=org.short_name or org.name,
                kind=org.kind,
                active=org.active,
                items_asked=len({t.item_id for t in org_tasks}),
                counts=Counts.of(outcomes[t.id] for t in org_tasks),
            )
        )
    return tuple(sorted(result, key=lambda o: natural_key(o.short_name)))


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that puts "№ 2" before "№ 10"."""
    parts = re.split(r"(\d+)", text.casefold())
    return tuple((1, int(p)) if p.isdigit() else (0, p) for p in parts if p)


def _delivery_failures(
    session: Session, start: date, end: date, tz: ZoneInfo
) -> tuple[DeliveryFailure, ...]:
    """Messages that could not be delivered, created within the cycle's dates."""
    since = datetime.combine(start, time.min, tz).astimezone(UTC)
    until = datetime.combine(end, time.max, tz).astimezone(UTC)
    rows = session.exec(
        select(OutgoingEmail)
        .where(
            OutgoingEmail.status == EmailStatus.failed,
            col(OutgoingEmail.created_at) >= since,
            col(OutgoingEmail.created_at) <= until,
        )
        .order_by(col(OutgoingEmail.created_at), col(OutgoingEmail.id))
    )
    return tuple(
        DeliveryFailure(
            created_on=row.created_at.astimezone(tz).date(),
            kind=row.kind,
            to_addr=row.to_addr,
            subject=row.subject,
            last_error=row.last_error,
            attempts=row.attempts,
        )
        for row in rows
    )


# --- the generated text ------------------------------------------------------------


def _lower_first(label: str) -> str:
    """ "Количество наставников" -> "количество наставников"; acronyms ("ОО ...") stay."""
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        return label[0].lower() + label[1:]
    return label


def _verb(n: int, singular: str, plural: str) -> str:
    return singular if n % 10 == 1 and n % 100 != 11 else plural


def _clause(text: str) -> str:
    """Text from the roadmap as a clause of a sentence: without the punctuation it may
    end with ("август 2022 г." or "МКУ «ИМЦСО ЛМО СК»," followed by "." would not read)."""
    return text.strip().rstrip(" .,;:")


def report_reason(reason: str | None) -> str:
    """Why an item has no dates, as the report says it: without the instruction meant
    for the administrator ("…: введите их вручную")."""
    if not reason:
        return ""
    return re.sub(r"\s*:\s*введите[^;]*$", "", reason).strip()


KIND_PLURAL: dict[OrgKind, str] = {
    OrgKind.school: "школы",
    OrgKind.kindergarten: "детские сады",
    OrgKind.extra: "организации доп. образования",
}
ON_TIME_LABEL = "принято в срок"
LATE_LABEL = "принято с опозданием"
# An organisation needs support when fewer than half its tasks fallen due were accepted
# on time, or when its share is SUPPORT_GAP or more below the district's; an item failed
# across the district when fewer than half its tasks fallen due were accepted at all, and
# lags when its on-time share is WEAK_ITEM_GAP or more below the district's.
SUPPORT_BELOW = 0.5
SUPPORT_GAP = 0.10
FAILED_BELOW = 0.5
WEAK_ITEM_GAP = 0.10
# A journal is judged in an interim report only once it has been open this long (the
# centre asks for entries every quarter).
JOURNAL_GRACE_DAYS = 91
KEY_INDICATORS = 6  # indicators named in the year's summary (the rest in section 2)
LISTED = 8  # names listed in a sentence before "и ещё N"
TASKS_GEN = ("задания", "заданий", "заданий")  # от 1 задания, от 5 заданий
ITEMS_DAT = ("мероприятию", "мероприятиям", "мероприятиям")
ITEMS_GEN = ("мероприятия", "мероприятий", "мероприятий")


def _names(names: Sequence[str], limit: int = LISTED) -> str:
    """Names, or the first `limit` of them "и ещё N" (never "и ещё 1" or "и ещё 2")."""
    if len(names) <= limit + 2:
        return ", ".join(names)
    return f"{', '.join(names[:limit])} и ещё {len(names) - limit}"


def _numbers(items: Sequence[ItemSummary]) -> str:
    return ", ".join(f"№ {i.number}" for i in items)


def _items_word(n: int, forms: tuple[str, str, str] = ITEMS_DAT) -> str:
    """ "мероприятию" for one, "мероприятиям" for several (no number before it)."""
    return forms[0] if n == 1 else forms[1]


def missing_phrase(counts: Counts) -> str:
    """What is not submitted: "не сдано — 48 (из них просрочено — 30, срок ещё не
    наступил — 18)", "не сдано (просрочено) — 30" or "в работе — 18" ("" for nothing)."""
    if counts.overdue and counts.in_progress:
        return (
            f"не сдано — {counts.missing} (из них просрочено — {counts.overdue}, "
            f"срок ещё не наступил — {counts.in_progress})"
        )
    if counts.overdue:
        return f"не сдано (просрочено) — {counts.overdue}"
    if counts.in_progress:
        return f"в работе — {counts.in_progress}"
    return ""


def outcome_phrase(counts: Counts) -> str:
    """ "принято в срок — 20 (71,4 %), принято с опозданием — 5 (…), не сдано — 3"."""
    parts = [f"{ON_TIME_LABEL} — {counts.on_time} ({format_share_ru(counts.on_time_share)})"]
    if counts.late:
        parts.append(
            f"{LATE_LABEL} — {counts.late} (в среднем на "
            f"{format_number_ru(counts.avg_late_days or 0)} раб. дн.)"
        )
    missing = missing_phrase(counts)
    if missing:
        parts.append(missing)
    return ", ".join(parts)


def centre_phrase(counts: Counts) -> str:
    """The centre's own tasks of an item, as a sentence."""
    if counts.asked == 1:
        return {
            Outcome.on_time: "Задание методического центра выполнено в срок.",
            Outcome.late: "Задание методического центра выполнено с опозданием.",
            Outcome.overdue: "Задание методического центра не выполнено, срок истёк.",
            Outcome.in_progress: "Задание методического центра в работе: срок не наступил.",
        }[counts._only_outcome()]
    parts = []
    for value, label in (
        (counts.on_time, "выполнено в срок"),
        (counts.late, "с опозданием"),
        (counts.overdue, "не выполнено (срок истёк)"),
        (counts.in_progress, "в работе"),
    ):
        if value:
            parts.append(f"{label} — {value}")
    return f"Задания методического центра ({counts.asked}): {', '.join(parts)}."


def indicator_phrase(ind: IndicatorTotal) -> str:
    """ "количество наставников — 57 (школы — 30, детские сады — 27)"."""
    kinds = [
        f"{KIND_PLURAL.get(k.kind, k.kind_label)} — {format_number_ru(k.total)}"
        for k in ind.by_kind
    ]
    if ind.centre_total:
        kinds.append(f"методический центр — {format_number_ru(ind.centre_total)}")
    split = f" ({'; '.join(kinds)})" if len(kinds) > 1 else ""
    basis = (
        f"сумма {count_ru(ind.reported, ENTRIES)} журнала"
        if ind.journal
        else f"по {ind.reported} {plural_ru(ind.reported, ('ответу', 'ответам', 'ответам'))}"
    )
    return f"{_lower_first(ind.label)} — {format_number_ru(ind.total)}{split}, {basis}"


def schedule_line(item: ItemSummary) -> str:
    """ "Сроки: апрель, ежегодно. Ответственные: МКУ «ИМЦСО ЛМО СК», наставники." """
    return f"Сроки: {_clause(item.schedule_text)}. Ответственные: {_clause(item.responsible)}."


def _not_started(item: ItemSummary, summary: YearlySummary) -> str:
    """Why an item shows nothing by `as_of`: still to come, due before tracking began, or
    not in this year's schedule."""
    as_of, since = summary.as_of, summary.tracked_since
    if item.occurrences:
        first = min(item.occurrences, key=lambda o: o.opens)
        return (
            f"Срок ещё не наступил: задания будут направлены {first.opens:%d.%m.%Y}, "
            f"срок — {first.due:%d.%m.%Y}."
        )
    ahead = [w for w in item.planned if w[0] > as_of]
    before = [w for w in item.planned if since is not None and w[1] < since]
    if ahead:
        opens, due = ahead[0]
        return (
            f"Срок ещё не наступил: по графику задания будут направлены {opens:%d.%m.%Y}, "
            f"срок — {due:%d.%m.%Y}."
        )
    if before and since is not None:
        due = before[-1][1]
        return (
            f"Срок ({due:%d.%m.%Y}) наступил до начала мониторинга ({since:%d.%m.%Y}): "
            "задания не направлялись."
        )
    if item.planned:
        return f"Задания по сроку {item.planned[0][1]:%d.%m.%Y} ещё не направлены."
    return "По графику дорожной карты в этом учебном году мероприятие не предусмотрено."


def item_text(item: ItemSummary, summary: YearlySummary) -> tuple[str, ...]:
    """A few sentences on one item's result, from the same figures as the tables."""
    sentences: list[str] = []
    if item.needs_dates and not item.occurrences:
        reason = report_reason(item.needs_dates_reason)
        why = f": {reason}" if reason else ""
        return (f"Сроки не установлены{why}; задания не направлялись.",)
    if not item.started:
        return (_not_started(item, summary),)
    c = item.counts
    centre_journal = item.continuous and not item.organisations_asked
    if centre_journal:
        sentences.append(
            f"Журнал ведёт методический центр: {count_ru(item.entries, ENTRIES)} за учебный год."
        )
    elif item.continuous:
        sentences.append(
            f"Журнал ведётся в течение учебного года: записи внесли "
            f"{item.organisations_with_entries} из "
            f"{count_ru(item.organisations_asked, ORGANISATIONS)}, "
            f"всего {count_ru(item.entries, ENTRIES)}."
        )
        without = item.organisations_asked - item.organisations_with_entries
        if without > 0:
            sentences.append(f"Без единой записи — {count_ru(without, ORGANISATIONS)}.")
    elif c.asked:
        occs = [o for o in item.occurrences if o.started]
        dues = ", ".join(f"{o.due:%d.%m.%Y}" for o in occs[:4])
        more = f" и ещё {len(occs) - 4}" if len(occs) > 4 else ""
        word = "срок" if len(occs) == 1 else "сроки"
        result = outcome_phrase(c) if c.falling_due else "срок ещё не наступил"
        sentences.append(f"Направлено {count_ru(c.asked, TASKS)} ({word}: {dues}{more}): {result}.")
        if c.max_late_days:
            sentences.append(f"Наибольшее опоздание — {count_ru(c.max_late_days, WORKING_DAYS)}.")
    if item.missed:
        sentences.append(
            f"Не получили задание, хотя должны: {count_ru(item.missed, ORGANISATIONS)}."
        )
    escalated, escalated_orgs = summary.escalations_of(item.number)
    if escalated:
        sentences.append(
            f"Передано на контроль в методический центр (эскалации): {escalated} "
            f"по {count_ru(escalated_orgs, ORGANISATIONS_DAT)}."
        )
    if item.centre.asked and not centre_journal:
        sentences.append(centre_phrase(item.centre))
    reported = [ind for ind in summary.indicators_of(item.number) if ind.reported]
    if len(reported) == 1:
        sentences.append(f"Показатель: {indicator_phrase(reported[0])}.")
    elif reported:
        sentences.append(f"Показатели: {'; '.join(indicator_phrase(i) for i in reported)}.")
    if item.expected_result:
        sentences.append(
            f"Ожидаемый результат по дорожной карте: {_lower_first(_clause(item.expected_result))}."
        )
    return tuple(sentences)


def organisations_by_share(
    summary: YearlySummary, *, weakest_first: bool = False
) -> tuple[OrganisationSummary, ...]:
    """Organisations with tasks fallen due, by their share accepted on time: the best
    first (ties: fewer not submitted, then name), or the weakest first (ties: more not
    submitted, then name). The text, the tables and the charts all use this order."""
    orgs = [o for o in summary.organisations if o.counts.falling_due]
    if weakest_first:
        return tuple(
            sorted(
                orgs,
                key=lambda o: (
                    o.counts.on_time_share or 0,
                    -o.counts.missing,
                    natural_key(o.short_name),
                ),
            )
        )
    return tuple(
        sorted(
            orgs,
            key=lambda o: (
                -(o.counts.on_time_share or 0),
                o.counts.missing,
                natural_key(o.short_name),
            ),
        )
    )


def _below(share: float | None, district: float | None, floor: float, gap: float) -> bool:
    """`share` under `floor`, or `gap` or more under the district's share."""
    if share is None:
        return False
    if share < floor:
        return True
    return district is not None and share <= district - gap + 1e-9


def lagging_organisations(summary: YearlySummary) -> tuple[OrganisationSummary, ...]:
    """Organisations that need support: fewer than half their tasks fallen due accepted on
    time, or a share 10 points or more below the district's; weakest first."""
    district = summary.counts.on_time_share
    return tuple(
        o
        for o in organisations_by_share(summary, weakest_first=True)
        if _below(o.counts.on_time_share, district, SUPPORT_BELOW, SUPPORT_GAP)
    )


def failed_items(summary: YearlySummary) -> tuple[ItemSummary, ...]:
    """Items where fewer than half the organisations' tasks fallen due were accepted at
    all (in time or late)."""
    return tuple(
        i
        for i in summary.items
        if i.counts.falling_due and (i.counts.done_share or 0) < FAILED_BELOW
    )


def lagging_items(summary: YearlySummary) -> tuple[ItemSummary, ...]:
    """Items (other than the failed ones) whose on-time share is under half or 10 points
    or more below the district's: a difficulty of many organisations, weakest first."""
    district = summary.counts.on_time_share
    failed = {i.number for i in failed_items(summary)}
    return tuple(
        sorted(
            (
                i
                for i in summary.items
                if i.number not in failed
                and i.counts.falling_due
                and _below(i.counts.on_time_share, district, FAILED_BELOW, WEAK_ITEM_GAP)
            ),
            key=lambda i: (i.counts.on_time_share or 0, i.number),
        )
    )


def silent_journals(summary: YearlySummary) -> tuple[ItemSummary, ...]:
    """Journal items some organisations have written nothing in; in an interim report only
    journals open for a quarter or more (a journal opened last week is not yet judged)."""
    return tuple(
        i
        for i in summary.items
        if i.continuous
        and i.organisations_asked > i.organisations_with_entries
        and (
            not summary.interim
            or (
                i.journal_since is not None
                and (summary.as_of - i.journal_since).days >= JOURNAL_GRACE_DAYS
            )
        )
    )


def roadmap_genitive(title: str) -> str:
    """ "дорожной карты «…»", or for a title that itself begins "Дорожная карта …" the
    title in the genitive: "дорожной карты (плана мероприятий) по реализации …"."""
    if not title:
        return "дорожной карты"
    head = "дорожная карта"
    if title.lower().startswith(head):
        rest = title[len(head) :]
        rest = rest.replace("(план мероприятий)", "(плана мероприятий)", 1)
        return f"дорожной карты{rest}"
    return f"дорожной карты «{title}»"


SUPPORT_RULE = "доля принятых в срок ниже 50 % или на 10 и более пунктов ниже средней по округу"


def summary_text(summary: YearlySummary) -> tuple[str, ...]:
    """The year in a few Russian sentences: period, what was done, shares, who lagged
    and why it matters."""
    sentences: list[str] = []
    roadmap = roadmap_genitive(summary.roadmap_title)
    order = f" (приказ {summary.roadmap_order})" if summary.roadmap_order else ""
    kind = "Промежуточная справка подготовлена" if summary.interim else "Справка подготовлена"
    sentences.append(
        f"{kind} по итогам реализации {roadmap}{order} "
        f"за {summary.cycle} учебный год: период с {summary.period_start:%d.%m.%Y} "
        f"по {summary.period_end:%d.%m.%Y}, на дату {summary.as_of:%d.%m.%Y}."
    )
    if summary.interim:
        sentences.append(
            "Учебный год продолжается: задания, срок которых ещё не наступил, "
            "показаны как «в работе»."
        )
    if summary.tracked_since:
        sentences.append(f"Мониторинг ведётся с {summary.tracked_since:%d.%m.%Y}.")
    counts = summary.counts
    involved = summary.organisations_involved
    items_run = sum(1 for item in summary.items if item.counts.asked)
    if counts.asked:
        sentences.append(
            f"В реализации мероприятий {_verb(involved, 'участвовала', 'участвовали')} "
            f"{count_ru(involved, ORGANISATIONS)}; "
            f"направлено {count_ru(counts.asked, TASKS)} по {items_run} "
            f"{plural_ru(items_run, ITEMS_DAT)}."
        )
    else:
        sentences.append("Задания организациям в этом периоде не направлялись.")
    if counts.asked and not counts.falling_due:
        sentences.append(
            f"Срок ни одного задания ещё не наступил: в работе — {counts.in_progress}."
        )
    elif counts.asked:
        late = ""
        if counts.late:
            late = (
                f"; {LATE_LABEL} — {counts.late} (в среднем на "
                f"{format_number_ru(counts.avg_late_days or 0)} раб. дн., наибольшее "
                f"опоздание — {count_ru(counts.max_late_days or 0, WORKING_DAYS)})"
            )
        missing = missing_phrase(counts)
        rest = f"; {missing}" if missing else ""
        sentences.append(
            f"Принято в срок {count_ru(counts.on_time, TASKS)} "
            f"({format_share_ru(counts.on_time_share)}){late}{rest}."
        )
        if counts.in_progress:
            sentences.append(
                f"Доли считаются от {counts.falling_due} "
                f"{plural_ru(counts.falling_due, TASKS_GEN)}, срок которых наступил "
                "или которые уже сданы."
            )
        if len(summary.kinds) > 1:
            listed = "; ".join(
                f"{KIND_PLURAL.get(k.kind, k.kind_label)} ({k.organisations}) — "
                f"{format_share_ru(k.counts.on_time_share)}"
                for k in summary.kinds
            )
            sentences.append(f"Доля принятых в срок по типам организаций: {listed}.")

    weak_items = sorted(
        (i for i in summary.items if i.counts.falling_due and (i.counts.on_time_share or 0) < 1),
        key=lambda i: (i.counts.on_time_share or 0, i.number),
    )[:3]
    if weak_items:
        listed = "; ".join(
            f"№ {i.number} «{i.title}» ({format_share_ru(i.counts.on_time_share)} в срок)"
            for i in weak_items
        )
        sentences.append(f"Ниже всего исполнительская дисциплина по мероприятиям: {listed}.")
    weak_orgs = [
        o
        for o in organisations_by_share(summary, weakest_first=True)
        if (o.counts.on_time_share or 0) < 1
    ][:3]
    if weak_orgs:
        listed = "; ".join(
            f"{o.short_name} ({format_share_ru(o.counts.on_time_share)} в срок, "
            f"не сдано {o.counts.missing})"
            for o in weak_orgs
        )
        lagging = lagging_organisations(summary)
        why = ""
        if lagging and counts.overdue:
            theirs = sum(o.counts.overdue for o in lagging)
            why = (
                f" На {count_ru(len(lagging), ORGANISATIONS_ACC)}, которым нужна поддержка "
                f"({SUPPORT_RULE}), приходится {theirs} из {counts.overdue} просроченных "
                "заданий: без их отчётов сведения по округу неполны."
            )
        sentences.append(f"Наибольшее отставание у организаций: {listed}.{why}")
    reported = [ind for ind in summary.indicators if ind.reported]
    if reported:
        key = [ind for ind in reported if ind.by_kind][:KEY_INDICATORS] or reported[:KEY_INDICATORS]
        listed = "; ".join(
            f"{_lower_first(ind.label)} (п. {ind.item_number}) — {format_number_ru(ind.total)}"
            for ind in key
        )
        others = len(reported) - len(key)
        more = f"; ещё {others} — в разделе 2 и приложении 4" if others > 0 else ""
        sentences.append(f"Ключевые показатели по округу: {listed}{more}.")
    centre = summary.centre
    if centre.asked:
        own = ("собственного задания", "собственных заданий", "собственных заданий")
        if not centre.falling_due:
            sentences.append(
                f"Собственные задания методического центра ({centre.asked}) в работе: "
                "срок не наступил."
            )
        elif centre.in_progress:
            sentences.append(
                f"Методический центр выполнил в срок {centre.on_time} из "
                f"{count_ru(centre.falling_due, own)}, срок которых наступил; "
                f"в работе — {centre.in_progress}."
            )
        else:
            sentences.append(
                f"Методический центр выполнил в срок {centre.on_time} из "
                f"{count_ru(centre.asked, own)}."
            )
    if summary.needs_dates:
        n = len(summary.needs_dates)
        sentences.append(
            f"Сроки не установлены для {n} {plural_ru(n, ITEMS_GEN)} "
            f"({_numbers(summary.needs_dates)}): задания по {'нему' if n == 1 else 'ним'} "
            "не направлялись."
        )
    esc, fail = len(summary.escalations), len(summary.delivery_failures)
    if esc or fail:
        escalated_orgs = len({row.organisation for row in summary.escalations})
        parts = []
        if esc:
            parts.append(
                f"передано на контроль в методический центр (эскалации): {esc} "
                f"по {count_ru(escalated_orgs, ORGANISATIONS_DAT)}"
            )
        if fail:
            parts.append(f"не удалось доставить: {count_ru(fail, LETTERS)}")
        joined = "; ".join(parts)
        sentences.append(f"{joined[0].upper()}{joined[1:]}.")
    return tuple(sentences)


def conclusions_text(summary: YearlySummary) -> tuple[str, ...]:
    """Conclusions drafted from the figures (the methodologist edits them before signing)."""
    result: list[str] = []
    counts = summary.counts
    if not counts.asked:
        return ("Задания организациям в этом периоде не направлялись; выводы делать рано.",)
    if not counts.falling_due:
        return (
            "Срок ни одного задания ещё не наступил; выводы об исполнительской дисциплине "
            "делать рано.",
        )
    share = counts.on_time_share or 0
    level = "высокая" if share >= 0.9 else "удовлетворительная" if share >= 0.7 else "низкая"
    result.append(
        f"Исполнительская дисциплина по округу {level}: {ON_TIME_LABEL} "
        f"{format_share_ru(counts.on_time_share)} заданий, выполнено всего (в срок и с "
        f"опозданием) {format_share_ru(counts.done_share)}."
    )
    lagging = lagging_organisations(summary)
    if lagging:
        result.append(
            f"{_verb(len(lagging), 'Нуждается', 'Нуждаются')} в методической поддержке "
            f"{count_ru(len(lagging), ORGANISATIONS)} ({SUPPORT_RULE}, "
            f"{format_share_ru(counts.on_time_share)}): "
            f"{_names([o.short_name for o in lagging])}."
        )
    else:
        result.append(
            "Организаций, у которых доля принятых в срок ниже 50 % или заметно (на 10 и более "
            "пунктов) ниже средней по округу, нет."
        )
    failed = failed_items(summary)
    if failed:
        listed = "; ".join(
            f"№ {i.number} «{i.title}» (выполнено {format_share_ru(i.counts.done_share)})"
            for i in failed
        )
        result.append(
            f"Не выполнены в большинстве организаций мероприятия: {listed}; "
            "это трудность округа, а не отдельных организаций."
        )
    weak = lagging_items(summary)
    if weak:
        listed = ", ".join(
            f"№ {i.number} ({format_share_ru(i.counts.on_time_share)})" for i in weak
        )
        result.append(
            f"Доля принятых в срок заметно ниже средней по округу по "
            f"{_items_word(len(weak))} {listed}: задержки по "
            f"{'нему' if len(weak) == 1 else 'ним'} допускают многие организации, "
            "а не отдельные."
        )
    for item in silent_journals(summary):
        without = item.organisations_asked - item.organisations_with_entries
        result.append(
            f"Журнал по мероприятию № {item.number} не {_verb(without, 'ведёт', 'ведут')} "
            f"{count_ru(without, ORGANISATIONS)} из {item.organisations_asked}."
        )
    return tuple(result)


def recommendations_text(summary: YearlySummary) -> tuple[str, ...]:
    """Recommendations that follow from the conclusions."""
    result: list[str] = []
    lagging = lagging_organisations(summary) if summary.counts.falling_due else ()
    if lagging:
        result.append(
            "Руководителям организаций с низкой долей заданий, принятых в срок ("
            f"{_names([o.short_name for o in lagging], 5)}), представить в методический центр "
            "причины несвоевременной сдачи; методическому центру провести для их кураторов "
            "консультации."
        )
    discuss = sorted([*failed_items(summary), *lagging_items(summary)], key=lambda i: i.number)
    if discuss:
        result.append(
            f"По {_items_word(len(discuss))} {_numbers(discuss)} провести совещание с "
            "кураторами: выяснить причины задержек, уточнить форму отчёта и сроки, при "
            "необходимости внести изменения в дорожную карту."
        )
    journals = silent_journals(summary)
    if journals:
        result.append(
            "Напомнить кураторам о ежеквартальном заполнении журнала по "
            f"{_items_word(len(journals))} {_numbers(journals)}."
        )
    if summary.needs_dates:
        n = len(summary.needs_dates)
        result.append(
            f"Установить даты {_items_word(n, ITEMS_GEN)} {_numbers(summary.needs_dates)}: "
            "без них задания не направляются."
        )
    if summary.delivery_failures:
        result.append(
            f"Уточнить адреса электронной почты: не доставлено "
            f"{count_ru(len(summary.delivery_failures), LETTERS)}."
        )
    if not result:
        result.append("Сохранить действующий порядок контроля исполнения дорожной карты.")
    return tuple(result)

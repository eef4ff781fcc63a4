"""The yearly summary (аналитическая справка): pure arithmetic over the cycle's rows.

`build_summary` reads the rows of one cycle and returns plain dataclasses; rendering
lives in `reports/`. Nothing here reads the clock: `as_of` says what "already overdue"
means.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from domain.calendar import RUSSIAN_CALENDAR, WorkingCalendar
from domain.cycles import Cycle
from domain.emails import Notice, OutgoingEmail
from domain.enums import EmailStatus, EvidenceFieldKind, NoticeKind, OrgKind, TaskStatus
from domain.evidence import Evidence
from domain.organisations import Organisation
from domain.roadmap import Roadmap, RoadmapItem
from domain.tasks import Occurrence, Task

DISTRICT_TZ = ZoneInfo("Europe/Moscow")

FINISHED = frozenset({TaskStatus.submitted, TaskStatus.accepted})

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
    def on_time_share(self) -> float | None:
        return self.on_time / self.asked if self.asked else None

    @property
    def done_share(self) -> float | None:
        return self.done / self.asked if self.asked else None

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
            reason = f": {self.needs_dates_reason}" if self.needs_dates_reason else ""
            notes.append(f"сроки не установлены{reason}")
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
class IndicatorTotal:
    """A district total of one number field: the sum over the latest answer of each task."""

    item_number: int
    item_title: str
    field_name: str
    label: str
    total: int | float
    reported: int  # tasks whose latest answer carried a number here
    ignored: int  # tasks whose latest answer carried something that is not a number


@dataclass(frozen=True)
class EscalationRow:
    item_number: int
    item_title: str
    organisation: str
    on_day: date
    recipient: str
    outcome: Outcome


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
    def title(self) -> str:
        return f"Аналитическая справка о реализации дорожной карты в {self.cycle} учебном году"


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
    if task.status in FINISHED:
        if continuous:
            return Outcome.on_time, 0
        finished = task.submitted_at or task.accepted_at or task.updated_at
        finished_on = finished.astimezone(tz).date()
        if finished_on <= task.due:
            return Outcome.on_time, 0
        return Outcome.late, calendar.working_days_between(task.due, finished_on)
    if task.due < as_of:
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
) -> YearlySummary:
    """The summary of `cycle` as it stands on `as_of` (tasks due before it and still
    unfinished are overdue). With `roadmap_id` None the database's only roadmap is used."""
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
    latest: dict[int, Evidence] = {}
    for row in evidence:
        entries_by_task[row.task_id] += 1
        latest[row.task_id] = row  # ordered by version: the last one wins

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
        item_summaries.append(
            ItemSummary(
                item_id=item.id,
                number=item.number,
                section=item.section,
                title=item.title,
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
        indicators.extend(_indicators(item, item_tasks, latest))

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
    )
    return replace(summary, text=summary_text(summary))


def _indicators(
    item: RoadmapItem, item_tasks: Sequence[Task], latest: dict[int, Evidence]
) -> list[IndicatorTotal]:
    result = []
    for spec_field in item.evidence.fields:
        if spec_field.kind is not EvidenceFieldKind.number:
            continue
        total, reported, ignored = Decimal(0), 0, 0
        for task in item_tasks:
            answer = latest.get(task.id or 0)
            if answer is None or spec_field.name not in answer.values:
                continue
            raw = answer.values[spec_field.name]
            number = parse_number(raw)
            if number is not None:
                total += number
                reported += 1
            elif raw not in (None, ""):
                ignored += 1
        result.append(
            IndicatorTotal(
                item_number=item.number,
                item_title=item.title,
                field_name=spec_field.name,
                label=spec_field.label,
                total=_plain_number(total),
                reported=reported,
                ignored=ignored,
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
    return tuple(result)


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


def summary_text(summary: YearlySummary) -> tuple[str, ...]:
    """A few Russian sentences: period, organisations, shares, weak spots, key numbers."""
    sentences: list[str] = []
    roadmap = (
        f"дорожной карты «{summary.roadmap_title}»" if summary.roadmap_title else ("дорожной карты")
    )
    order = f" (приказ {summary.roadmap_order})" if summary.roadmap_order else ""
    sentences.append(
        f"Справка подготовлена по итогам реализации {roadmap}{order} "
        f"за {summary.cycle} учебный год: период с {summary.period_start:%d.%m.%Y} "
        f"по {summary.period_end:%d.%m.%Y}, данные на {summary.as_of:%d.%m.%Y}."
    )
    counts = summary.counts
    involved = summary.organisations_involved
    items_run = sum(1 for item in summary.items if item.counts.asked)
    if counts.asked:
        sentences.append(
            f"В реализации мероприятий {_verb(involved, 'участвовала', 'участвовали')} "
            f"{count_ru(involved, ORGANISATIONS)}; "
            f"направлено {count_ru(counts.asked, TASKS)} по {items_run} "
            f"{plural_ru(items_run, ('мероприятию', 'мероприятиям', 'мероприятиям'))}."
        )
        late = ""
        if counts.late:
            late = (
                f", с опозданием — {counts.late} (в среднем на "
                f"{format_number_ru(counts.avg_late_days or 0)} раб. дн., наибольшее "
                f"опоздание — {count_ru(counts.max_late_days or 0, WORKING_DAYS)})"
            )
        rest = f", просрочено (не сдано) — {counts.overdue}" if counts.overdue else ""
        progress = f", в работе — {counts.in_progress}" if counts.in_progress else ""
        sentences.append(
            f"В срок выполнено {count_ru(counts.on_time, TASKS)} "
            f"({format_share_ru(counts.on_time_share)}){late}{rest}{progress}."
        )
    else:
        sentences.append("Задания организациям в этом периоде не направлялись.")

    weak_items = sorted(
        (i for i in summary.items if i.counts.asked and (i.counts.on_time_share or 0) < 1),
        key=lambda i: (i.counts.on_time_share or 0, i.number),
    )[:3]
    if weak_items:
        listed = "; ".join(
            f"№ {i.number} «{i.title}» ({format_share_ru(i.counts.on_time_share)} в срок)"
            for i in weak_items
        )
        sentences.append(f"Ниже всего исполнительская дисциплина по мероприятиям: {listed}.")
    weak_orgs = sorted(
        (o for o in summary.organisations if o.counts.asked and (o.counts.on_time_share or 0) < 1),
        key=lambda o: (o.counts.on_time_share or 0, o.name),
    )[:3]
    if weak_orgs:
        listed = "; ".join(
            f"{o.short_name} ({format_share_ru(o.counts.on_time_share)} в срок, "
            f"не сдано {o.counts.missing})"
            for o in weak_orgs
        )
        sentences.append(f"Наибольшее отставание у организаций: {listed}.")
    if summary.indicators:
        listed = "; ".join(
            f"{_lower_first(ind.label)} (п. {ind.item_number}) — {format_number_ru(ind.total)}"
            for ind in summary.indicators
            if ind.reported
        )
        if listed:
            sentences.append(f"Ключевые показатели по округу: {listed}.")
    if summary.centre.asked:
        own = ("собственного задания", "собственных заданий", "собственных заданий")
        sentences.append(
            f"Методический центр выполнил в срок {summary.centre.on_time} из "
            f"{count_ru(summary.centre.asked, own)}."
        )
    if summary.needs_dates:
        numbers = ", ".join(f"№ {i.number}" for i in summary.needs_dates)
        sentences.append(
            f"Сроки не установлены для {len(summary.needs_dates)} "
            f"{plural_ru(len(summary.needs_dates), ('мероприятия', 'мероприятий', 'мероприятий'))}"
            f" ({numbers}): они ждут плана."
        )
    esc, fail = len(summary.escalations), len(summary.delivery_failures)
    if esc or fail:
        sentences.append(
            f"Передано на контроль в методический центр (эскалации): {count_ru(esc, TASKS)}; "
            f"не удалось доставить: {count_ru(fail, LETTERS)}."
        )
    return tuple(sentences)

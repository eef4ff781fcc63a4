"""What the email templates show: plain views built from the tables.

Everything here reads the session and never writes, except that issuing a personal
link creates (or reuses) its AccessLink row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from config.settings import Settings
from domain.calendar import RUSSIAN_CALENDAR
from domain.emails import Notice
from domain.enums import NoticeKind, TaskEventKind
from domain.evidence import Evidence, EvidenceFile
from domain.formatting import local_time, ru_date
from domain.organisations import Organisation
from domain.progress import STATUS_LABELS, status_label
from domain.reminders import series_step
from domain.roadmap import Roadmap, RoadmapItem
from domain.tasks import Occurrence, Task, TaskEvent
from notifications.ics import DueEvent, task_uid
from notifications.render import shorten
from notifications.reply import task_reference
from services.links import issue_task_link


@dataclass(frozen=True)
class TaskParts:
    """A task with the rows around it."""

    task: Task
    item: RoadmapItem
    roadmap: Roadmap
    occurrence: Occurrence
    organisation: Organisation | None

    @property
    def task_id(self) -> int:
        assert self.task.id is not None
        return self.task.id

    def organisation_name(self, settings: Settings) -> str:
        return self.organisation.name if self.organisation else settings.centre_name

    def person_name(self, recipient: str) -> str:
        """The name behind `recipient` if we know it (head, curator, deputy or the item's
        owner)."""
        who = recipient.strip().lower()
        org = self.organisation
        if org is not None:
            if org.head_email.strip().lower() == who:
                return org.head_name
            if org.curator_email and org.curator_email.strip().lower() == who:
                return org.curator_name
            if org.deputy_email and org.deputy_email.strip().lower() == who:
                return org.deputy_name
        if self.item.owner_email and self.item.owner_email.strip().lower() == who:
            return self.item.owner_name
        return ""


def load_task(session: Session, task_id: int) -> TaskParts:
    task = session.get(Task, task_id)
    if task is None:
        raise ValueError(f"owed notice names task {task_id}, which does not exist")
    item = session.get(RoadmapItem, task.item_id)
    occurrence = session.get(Occurrence, task.occurrence_id)
    if item is None or occurrence is None:
        raise ValueError(f"task {task_id}: its roadmap item or occurrence is missing")
    roadmap = session.get(Roadmap, item.roadmap_id)
    if roadmap is None:
        raise ValueError(f"task {task_id}: roadmap {item.roadmap_id} is missing")
    org = None
    if task.organisation_id is not None:
        org = session.get(Organisation, task.organisation_id)
        if org is None:
            raise ValueError(f"task {task_id}: organisation {task.organisation_id} is missing")
    return TaskParts(task, item, roadmap, occurrence, org)


def load_tasks(session: Session, task_ids: Sequence[int]) -> dict[int, TaskParts]:
    """`load_task` for many tasks in a few reads: the tasks with their organisations,
    and each item, occurrence and roadmap once (they are few and their rows are large);
    tasks that do not exist (or miss their rows) are left out, so `load_task` can say
    what is wrong with them."""
    found: dict[int, TaskParts] = {}
    items: dict[int, RoadmapItem | None] = {}
    occurrences: dict[int, Occurrence | None] = {}
    roadmaps: dict[int, Roadmap | None] = {}
    ids = sorted(set(task_ids))
    for start in range(0, len(ids), 500):
        rows = session.execute(
            core_select(Task, Organisation)
            .outerjoin(Organisation, col(Organisation.id) == Task.organisation_id)
            .where(col(Task.id).in_(ids[start : start + 500]))
        ).all()
        for task, org in rows:
            assert task.id is not None
            if task.organisation_id is not None and org is None:
                continue
            if task.item_id not in items:
                items[task.item_id] = session.get(RoadmapItem, task.item_id)
            item = items[task.item_id]
            if task.occurrence_id not in occurrences:
                occurrences[task.occurrence_id] = session.get(Occurrence, task.occurrence_id)
            occurrence = occurrences[task.occurrence_id]
            if item is None or occurrence is None:
                continue
            if item.roadmap_id not in roadmaps:
                roadmaps[item.roadmap_id] = session.get(Roadmap, item.roadmap_id)
            roadmap = roadmaps[item.roadmap_id]
            if roadmap is None:
                continue
            found[task.id] = TaskParts(task, item, roadmap, occurrence, org)
    return found


@dataclass(frozen=True)
class TaskView:
    task_id: int
    item_number: str  # as the order writes it
    item_title: str
    roadmap_title: str
    expected_result: str
    evidence_labels: list[str]
    organisation: str
    organisation_id: int | None
    due: date
    continuous: bool
    status: str
    link: str
    owner_name: str
    reference: str = ""  # [ДК-13-204] without brackets: matches an email reply to the task


def task_view(
    parts: TaskParts,
    *,
    session: Session,
    recipient: str,
    settings: Settings,
    on_day: date,
    now: datetime,
    with_link: bool = True,
    link: str | None = None,
) -> TaskView:
    """What a template shows of a task; `link` is the recipient's link when the caller
    issued it already (see services.links.issue_task_links)."""
    if not with_link:
        link = ""
    elif link is None:
        link = issue_task_link(
            session=session, task=parts.task, recipient=recipient, settings=settings, now=now
        )
    return TaskView(
        task_id=parts.task_id,
        item_number=parts.item.label,
        item_title=parts.item.title,
        roadmap_title=parts.roadmap.title,
        expected_result=parts.item.expected_result,
        evidence_labels=[f.label for f in parts.item.evidence.fields],
        organisation=parts.organisation_name(settings),
        organisation_id=parts.task.organisation_id,
        due=parts.task.due,
        continuous=parts.occurrence.continuous,
        status=status_label(parts.task, on_day),
        link=link,
        owner_name=parts.item.owner_name,
        reference=task_reference(parts.item.number, parts.task_id),
    )


def due_event(parts: TaskParts, view: TaskView, *, domain: str, now: datetime) -> DueEvent:
    org = parts.organisation
    who = f" ({org.short_name or org.name})" if org is not None else ""
    description = f"п. {view.item_number}. {view.item_title}\n{view.organisation}"
    if view.link:
        description += f"\nОтветить: {view.link}"
    return DueEvent(
        uid=task_uid(view.task_id, domain),
        day=view.due,
        summary=f"Срок: п. {view.item_number} «{shorten(view.item_title, 60)}»{who}",
        description=description,
        url=view.link,
        sequence=parts.task.revision,
        stamp=now,
    )


# -- the greeting ---------------------------------------------------------------------

_NAME_WORD = re.compile(r"^[А-ЯЁа-яё]+(?:-[А-ЯЁа-яё]+)*$")
_MALE_ENDINGS = ("вич", "ич")
_FEMALE_ENDINGS = ("вна", "чна")
_MALE_PARTICLES = ("оглы", "улы", "уулу")
_FEMALE_PARTICLES = ("кызы", "гызы")


def _capitalised(word: str) -> str:
    return "-".join(part[:1].upper() + part[1:].lower() for part in word.split("-"))


def _gender(word: str) -> str:
    low = word.lower()
    if low.endswith(_FEMALE_ENDINGS):
        return "f"
    if low.endswith(_MALE_ENDINGS):
        return "m"
    return ""


def greeting(full_name: str) -> str:
    """How an email opens, from the stored full name (Фамилия Имя Отчество, or Имя
    Отчество [Фамилия]): «Уважаемая Вера Сергеевна!» for a patronymic in -вна/-чна or
    with «кызы», «Уважаемый Пётр Ильич!» for -вич/-ич or «оглы»; «Здравствуйте, Ен Су!»
    when the gender cannot be told; «Здравствуйте!» when the name cannot be read
    (initials, one word, digits, an organisation or an address)."""
    words = full_name.split()
    if not 2 <= len(words) <= 4 or not all(_NAME_WORD.match(w) for w in words):
        return "Здравствуйте!"
    low = [w.lower() for w in words]
    # a Turkic patronymic: "Ильхам кызы" / "Ильхам оглы" after the given name
    for i, word in enumerate(low):
        if word in _MALE_PARTICLES + _FEMALE_PARTICLES and i >= 2:
            name = " ".join(_capitalised(w) for w in words[i - 2 : i]) + f" {word}"
            return ("Уважаемая " if word in _FEMALE_PARTICLES else "Уважаемый ") + name + "!"
    if len(words) == 4:
        return "Здравствуйте!"
    for i, word in enumerate(words):
        gender = _gender(word)
        if gender and i >= 1:
            name = f"{_capitalised(words[i - 1])} {_capitalised(word)}"
            return ("Уважаемая " if gender == "f" else "Уважаемый ") + name + "!"
    if len(words) == 3:  # Фамилия Имя Отчество, with a patronymic we cannot read
        return f"Здравствуйте, {_capitalised(words[1])} {_capitalised(words[2])}!"
    return "Здравствуйте!"


# -- receipts -------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedField:
    label: str
    value: str
    files: list[str] = field(default_factory=list)


def _format_value(value: Any, kind: str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "да" if value else "нет"
    if isinstance(value, list):
        return "; ".join(s for s in (_format_value(v, kind) for v in value) if s)
    if isinstance(value, dict):
        return "; ".join(
            f"{k}: {s}" for k, s in ((k, _format_value(v, None)) for k, v in value.items()) if s
        )
    text = str(value).strip()
    if kind == "date":
        try:
            return ru_date(date.fromisoformat(text))
        except ValueError:
            return text
    return text


@dataclass(frozen=True)
class Receipt:
    version: int
    submitted_at: str
    submitted_by: str
    fields: list[ReceivedField]


def receipt(session: Session, parts: TaskParts, version: int, settings: Settings) -> Receipt:
    evidence = session.exec(
        select(Evidence).where(Evidence.task_id == parts.task_id, Evidence.version == version)
    ).first()
    if evidence is None or evidence.id is None:
        raise ValueError(
            f"receipt for task {parts.task_id} version {version}: no such evidence row "
            "(queue the receipt after the evidence is saved, with step = its version)"
        )
    files = session.exec(
        select(EvidenceFile)
        .where(EvidenceFile.evidence_id == evidence.id)
        .order_by(col(EvidenceFile.id))
    ).all()
    names_by_field: dict[str, list[str]] = {}
    for f in files:
        names_by_field.setdefault(f.field, []).append(f.original_name)
    spec = parts.item.evidence
    shown: list[ReceivedField] = []
    seen: set[str] = set()
    for spec_field in spec.fields:
        seen.add(spec_field.name)
        file_names = names_by_field.get(spec_field.name, [])
        value = evidence.values.get(spec_field.name)
        text = "" if spec_field.kind == "file" else _format_value(value, spec_field.kind)
        if text or file_names or spec_field.required:
            shown.append(ReceivedField(spec_field.label, text, file_names))
    for name, value in evidence.values.items():
        if name in seen:
            continue
        seen.add(name)
        text = _format_value(value, None)
        file_names = names_by_field.get(name, [])
        if text or file_names:
            shown.append(ReceivedField(name, text, file_names))
    for name, file_names in names_by_field.items():
        if name not in seen:
            shown.append(ReceivedField(name, "", file_names))
    return Receipt(
        version=version,
        submitted_at=local_time(evidence.submitted_at, settings.tz),
        submitted_by=evidence.submitted_by,
        fields=shown,
    )


def return_reason(session: Session, task_id: int) -> str:
    """The centre's reason: the note of the task's latest "returned" event."""
    event = session.exec(
        select(TaskEvent)
        .where(TaskEvent.task_id == task_id, TaskEvent.kind == TaskEventKind.returned)
        .order_by(col(TaskEvent.at).desc(), col(TaskEvent.id).desc())
    ).first()
    if event is None:
        raise ValueError(
            f"returned notice for task {task_id}: the task has no 'returned' event "
            "(write the TaskEvent with the reason in its note first)"
        )
    return event.note.strip() or "не указана"


@dataclass(frozen=True)
class ReopenedEntry:
    """A journal's entry the centre returned: its number, its day, the reason and the
    day by which the corrected entry is due (the journal keeps its own due date)."""

    version: int
    day: date
    reason: str
    until: date


def reopened_entry(session: Session, parts: TaskParts, settings: Settings) -> ReopenedEntry | None:
    """The latest entry of a journal that was returned with its own date, if any."""
    if not parts.occurrence.continuous:
        return None
    evidence = session.exec(
        select(Evidence)
        .where(Evidence.task_id == parts.task_id, col(Evidence.reopened_until).is_not(None))
        .order_by(col(Evidence.version).desc())
    ).first()
    if evidence is None or evidence.reopened_until is None:
        return None
    return ReopenedEntry(
        version=evidence.version,
        day=evidence.submitted_at.astimezone(settings.tz).date(),
        reason=evidence.review_note.strip() or "не указана",
        until=evidence.reopened_until,
    )


def entry_due_event(
    parts: TaskParts, view: TaskView, entry: ReopenedEntry, *, domain: str, now: datetime
) -> DueEvent:
    """The returned entry's own date as a calendar entry of its own: the journal's entry
    (its due date) stays where it is."""
    return DueEvent(
        uid=f"task-{view.task_id}-entry-{entry.version}-due@{domain}",
        day=entry.until,
        summary=(
            f"Исправить запись журнала № {entry.version}: п. {view.item_number} "
            f"«{shorten(view.item_title, 50)}»"
        ),
        description=f"п. {view.item_number}. {view.item_title}\n{view.organisation}"
        + (f"\nОтветить: {view.link}" if view.link else ""),
        url=view.link,
        stamp=now,
    )


def last_entry_day(session: Session, task_id: int, settings: Settings) -> date | None:
    latest = session.exec(
        select(Evidence)
        .where(Evidence.task_id == task_id)
        .order_by(col(Evidence.submitted_at).desc())
    ).first()
    return None if latest is None else latest.submitted_at.astimezone(settings.tz).date()


# -- escalations ----------------------------------------------------------------------


@dataclass(frozen=True)
class ChaseSent:
    step: int
    on_day: date


@dataclass(frozen=True)
class OverdueRow:
    organisation: str
    contact: str
    due: date
    days_overdue: int
    status: str
    chases: list[ChaseSent]


@dataclass(frozen=True)
class OverdueItem:
    number: str  # as the order writes it
    title: str
    rows: list[OverdueRow]


def chases_sent(
    session: Session, task_id: int, *, before_step: int | None = None
) -> list[ChaseSent]:
    """The chases written for a task (a catch-up writes only the latest one owed), oldest
    first; with `before_step`, only those with a lower step."""
    query = select(Notice).where(Notice.task_id == task_id, Notice.kind == NoticeKind.chase)
    if before_step is not None:
        query = query.where(Notice.step < before_step)
    notices = session.exec(query.order_by(col(Notice.step))).all()
    return [ChaseSent(n.step, n.on_day) for n in notices]


def chases_sent_to(session: Session, task_ids: Sequence[int]) -> dict[int, list[ChaseSent]]:
    """`chases_sent` for many tasks in a few reads."""
    found: dict[int, list[ChaseSent]] = {}
    ids = sorted(set(task_ids))
    for start in range(0, len(ids), 500):
        for task_id, step, on_day in session.execute(
            core_select(col(Notice.task_id), col(Notice.step), col(Notice.on_day))
            .where(col(Notice.task_id).in_(ids[start : start + 500]))
            .where(col(Notice.kind) == NoticeKind.chase)
            .order_by(col(Notice.task_id), col(Notice.step))
        ).all():
            found.setdefault(task_id, []).append(ChaseSent(step, on_day))
    return found


def overdue_items(
    session: Session, parts_list: list[TaskParts], settings: Settings, on_day: date
) -> list[OverdueItem]:
    by_item: dict[int, tuple[RoadmapItem, list[tuple[str, OverdueRow]]]] = {}
    chases = chases_sent_to(session, [parts.task_id for parts in parts_list])
    for parts in parts_list:
        task, org = parts.task, parts.organisation
        if org is None:
            contact = f"{settings.centre_name}: {parts.item.owner_name or settings.centre_email}"
        elif task.role == "curator" and org.curator_email:
            contact = f"куратор {org.curator_name} <{org.curator_email}>"
        else:
            contact = f"руководитель {org.head_name} <{org.head_email}>"
        row = OverdueRow(
            organisation=parts.organisation_name(settings),
            contact=contact,
            due=task.due,
            days_overdue=max(0, RUSSIAN_CALENDAR.working_days_between(task.due, on_day)),
            # every row here is overdue (its days say by how much): the plain status
            status=STATUS_LABELS[task.status],
            # the chases of its current due date, numbered as their emails were (a
            # return starts a new series)
            chases=[
                ChaseSent(series_step(c.step)[1], c.on_day)
                for c in chases.get(parts.task_id, [])
                if series_step(c.step)[0] == task.revision
            ],
        )
        assert parts.item.id is not None
        by_item.setdefault(parts.item.id, (parts.item, []))[1].append((row.organisation, row))
    result = []
    for item, rows in sorted(by_item.values(), key=lambda pair: pair[0].number):
        ordered = [row for _, row in sorted(rows, key=lambda pair: pair[0])]
        result.append(OverdueItem(number=item.label, title=item.title, rows=ordered))
    return result

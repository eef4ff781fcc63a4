"""Small builders of test data: a roadmap with items, organisations, occurrences, tasks in
given states and answers. Each database builder adds its rows to the session, flushes (so
ids are set) and returns them; none commits. Defaults are the district's real item 5 and
its schools; a test names only what matters to it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import Session

from config.settings import Settings
from domain.enums import OrgKind, Role, TaskStatus
from domain.evidence import Evidence
from domain.organisations import Organisation
from domain.reminders import TaskView
from domain.roadmap import Roadmap, RoadmapItem
from domain.tasks import Occurrence, Task
from services.answers import UploadedFile, submit_answer

OPENED = datetime(2022, 9, 5, 6, 0, tzinfo=UTC)  # Monday 09:00 in Moscow
CYCLE = "2022/2023"

ITEM_5 = {
    "number": 5,
    "section": "Организационные мероприятия",
    "title": "Издание приказа о закреплении наставнических пар",
    "schedule_text": "до 15.09.2022г., далее ежегодно",
    "responsible": "руководители образовательных организаций",
    "expected_result": "Приказ о закреплении наставнических пар",
}
ITEM_12 = {
    "number": 12,
    "section": "Методическое сопровождение",
    "title": "Методическое сопровождение наставнических пар",
    "schedule_text": "постоянно",
    "responsible": "руководители образовательных организаций",
    "expected_result": "Журнал мероприятий",
}

SCHOOLS: dict[int, dict[str, str]] = {
    1: {
        "name": "МКОУ СОШ № 1 с. Левокумского",
        "head_name": "Иванова Анна Петровна",
        "curator_name": "Петров Пётр",
    },
    2: {
        "name": "МКОУ СОШ № 2 п. Новокумского",
        "head_name": "Сидоров Иван",
        "curator_name": "Кураторова Ольга",
    },
}


def a_roadmap(s: Session, *, key: str = "r209", **fields: Any) -> Roadmap:
    values: dict[str, Any] = {"key": key, "title": "Дорожная карта", "order_date": date(2022, 4, 8)}
    roadmap = Roadmap(**values | fields)
    s.add(roadmap)
    s.flush()
    return roadmap


def an_item(
    s: Session,
    roadmap: Roadmap,
    *,
    like: Mapping[str, Any] = ITEM_5,
    evidence_spec: Mapping[str, Any] | None = None,
    **fields: Any,
) -> RoadmapItem:
    """An item of `roadmap` shaped like item 5 (or `like=ITEM_12`), with `fields` over it."""
    assert roadmap.id is not None
    values = dict(like) | fields
    values.setdefault("slug", f"item-{values['number']}")
    item = RoadmapItem(roadmap_id=roadmap.id, evidence_spec=dict(evidence_spec or {}), **values)
    s.add(item)
    s.flush()
    return item


def a_school(s: Session, number: int = 1, *, curator: bool = True, **fields: Any) -> Organisation:
    """School № `number`: head@school{n}.example, and a curator unless `curator=False`."""
    known = SCHOOLS.get(number, {"name": f"МКОУ СОШ № {number}", "head_name": "Руководитель"})
    values: dict[str, Any] = {
        "name": known["name"],
        "short_name": f"СОШ № {number}",
        "kind": OrgKind.school,
        "head_name": known["head_name"],
        "head_email": f"head@school{number}.example",
    }
    if curator:
        values["curator_name"] = known.get("curator_name", "Куратор")
        values["curator_email"] = f"curator@school{number}.example"
    org = Organisation(**values | fields)
    s.add(org)
    s.flush()
    return org


def an_occurrence(
    s: Session,
    item: RoadmapItem,
    *,
    opens: date = date(2022, 9, 1),
    due: date = date(2022, 9, 14),
    continuous: bool = False,
    opened_at: datetime = OPENED,
    cycle: str = CYCLE,
) -> Occurrence:
    assert item.id is not None
    occ = Occurrence(
        item_id=item.id,
        cycle=cycle,
        opens=opens,
        due=due,
        continuous=continuous,
        opened_at=opened_at,
    )
    s.add(occ)
    s.flush()
    return occ


def a_task(
    s: Session,
    occ: Occurrence,
    org: Organisation | None,
    *,
    role: Role = Role.head,
    status: TaskStatus = TaskStatus.open,
    due: date | None = None,
    **fields: Any,
) -> Task:
    """The task of `org` (None: the centre's own) in `occ`, in `status`, due with the
    occurrence unless `due` says otherwise."""
    assert occ.id is not None and occ.opened_at is not None
    key = "centre" if org is None else f"org:{org.id}"
    task = Task(
        occurrence_id=occ.id,
        item_id=occ.item_id,
        organisation_id=None if org is None else org.id,
        assignee_key=key,
        role=role,
        status=status,
        due=due or occ.due,
        opened_at=occ.opened_at,
        updated_at=occ.opened_at,
        **fields,
    )
    s.add(task)
    s.flush()
    return task


def an_answer(
    s: Session,
    task: Task,
    values: Mapping[str, str],
    *,
    by: str,
    settings: Settings,
    now: datetime,
    files: Sequence[UploadedFile] = (),
) -> Evidence:
    """An answer through the one path every answer takes (`services.answers`)."""
    return submit_answer(
        session=s, task=task, values=values, files=files, by=by, settings=settings, now=now
    )


# --- plain values (no database) -----------------------------------------------------------

# Item 13's first occurrence: opened 08.04.2022, due Wed 14.09.2022.
TASK_VIEW = TaskView(
    status=TaskStatus.open,
    role=Role.head,
    due=date(2022, 9, 14),
    opened_on=date(2022, 4, 8),
    revision=0,
    continuous=False,
    occurrence_opens=date(2022, 4, 8),
)
# A year-long journal (item 12): opened 01.09.2022, due 31.08.2023.
JOURNAL_VIEW = replace(
    TASK_VIEW,
    due=date(2023, 8, 31),
    opened_on=date(2022, 9, 1),
    continuous=True,
    occurrence_opens=date(2022, 9, 1),
)


def task_view(base: TaskView = TASK_VIEW, **changes: Any) -> TaskView:
    """What the reminder rules see of a task: `base` with `changes`."""
    return replace(base, **changes)


def unsaved_task(
    status: TaskStatus, due: date = date(2022, 9, 14), *, now: datetime = OPENED
) -> Task:
    """A task row that is never saved, for the rules that read only its fields."""
    return Task(
        id=7,
        occurrence_id=1,
        item_id=1,
        assignee_key="org:1",
        role=Role.head,
        status=status,
        due=due,
        opened_at=now,
        updated_at=now,
    )

"""The district at a glance: items × organisations for one roadmap and cycle.

Pure computation over plain rows (the portal loads them): each cell's status (a cell
without a task says whether the item comes to that organisation later in the cycle or is
not its at all), totals per row and column, per item its progress, overdue count, next
due date and owner, per organisation its share answered on time and what is still open.
No database, no clock: `today` is passed in.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from domain import lifecycle
from domain.enums import OrgKind, TaskStatus
from domain.lifecycle import Stage, Timeliness

DUE_SOON_WORKING_DAYS = 3
# no due date further than this many calendar days away can be 3 working days away,
# even across the New Year holidays: beyond it the calendar need not be asked
_SOON_HORIZON_DAYS = 21

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[str | int, ...]:
    """Sort key that reads numbers as numbers: "Д/с № 2" before "Д/с № 10"; case, "ё"
    and spacing do not matter. Parts alternate text, number, text, … so they compare."""
    folded = " ".join(text.casefold().replace("ё", "е").split())
    parts = _DIGITS.split(folded)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


class CellStatus(StrEnum):
    done = "done"  # accepted
    review = "review"  # answered (or a journal's entry), waiting for the centre
    returned = "returned"  # sent back for revision, not yet past its new due date
    soon = "soon"  # open, due within 3 working days
    overdue = "overdue"  # open or returned, past due
    open = "open"  # open, not started, due later
    later = "later"  # this organisation's, but its window opens later in the cycle
    none = "none"  # not this organisation's item (or nothing of it in this cycle)


CELL_LABELS: dict[CellStatus, str] = {
    CellStatus.done: "выполнено",
    CellStatus.review: "на проверке",
    CellStatus.returned: "возвращено",
    CellStatus.soon: "срок скоро",
    CellStatus.overdue: "просрочено",
    CellStatus.open: "не начато",
    CellStatus.later: "откроется позже",
    CellStatus.none: "не для этой организации",
}
# the one-letter marks inside the cells (the colour says it too; the letter is for print
# and for people who do not tell colours apart)
CELL_MARKS: dict[CellStatus, str] = {
    CellStatus.done: "✓",
    CellStatus.review: "?",
    CellStatus.returned: "↺",
    CellStatus.soon: "!",
    CellStatus.overdue: "×",
    CellStatus.open: "·",
    CellStatus.later: "",
    CellStatus.none: "",
}
# the statuses of a task (a cell of `later` or `none` has none: it counts in no total)
NO_TASK = frozenset({CellStatus.later, CellStatus.none})
TASK_STATUSES = tuple(s for s in CellStatus if s not in NO_TASK)


@dataclass(frozen=True)
class ItemIn:
    id: int
    number: int
    label: str
    section: str
    title: str
    owner: str
    # who gets its tasks: organisations of these kinds, and/or the centre
    kinds: frozenset[OrgKind] = frozenset()
    centre: bool = False
    # the due date of its next window in the cycle that has not opened yet, if any: the
    # cells of those who will get it say "откроется позже", not "не для этой организации"
    upcoming: date | None = None
    # its dates wait for an external plan: it will come to them once they are entered
    needs_dates: bool = False


@dataclass(frozen=True)
class OrgIn:
    id: int
    name: str
    short_name: str
    kind: OrgKind
    active: bool


@dataclass(frozen=True)
class TaskIn:
    id: int
    item_id: int
    organisation_id: int | None  # None: the centre's own task
    status: TaskStatus
    due: date
    opens: date
    continuous: bool
    answered_on: date | None  # the district day of the latest answer


@dataclass
class Cell:
    status: CellStatus
    task_id: int | None = None
    due: date | None = None
    item_label: str = ""

    @property
    def label(self) -> str:
        return CELL_LABELS[self.status]

    @property
    def opens_later(self) -> bool:
        """This organisation's, but its window opens later in the cycle."""
        return self.status is CellStatus.later

    @property
    def mark(self) -> str:
        return CELL_MARKS[self.status]


@dataclass
class Column:
    organisation_id: int | None  # None: the centre
    name: str
    short_name: str
    kind: OrgKind | None
    active: bool
    counts: Counter[CellStatus] = field(default_factory=Counter)
    on_time: int = 0  # answered by the due date
    answered_late: int = 0
    falling_due: int = 0  # tasks answered or past due: the base of the on-time share
    open_tasks: list[Cell] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(n for s, n in self.counts.items() if s not in NO_TASK)

    @property
    def header(self) -> str:
        """The short name with "№" kept on the line of its number."""
        return re.sub(r"№\s+", "№\u00a0", self.short_name)

    @property
    def share_on_time(self) -> float | None:
        return self.on_time / self.falling_due if self.falling_due else None


@dataclass
class Row:
    item: ItemIn
    cells: list[Cell]
    counts: Counter[CellStatus] = field(default_factory=Counter)
    next_due: date | None = None

    @property
    def total(self) -> int:
        return sum(n for s, n in self.counts.items() if s not in NO_TASK)

    @property
    def done(self) -> int:
        return self.counts[CellStatus.done]

    @property
    def overdue(self) -> int:
        return self.counts[CellStatus.overdue]

    @property
    def share_done(self) -> float | None:
        return self.done / self.total if self.total else None


@dataclass
class Section:
    title: str
    rows: list[Row]


@dataclass
class Matrix:
    today: date
    columns: list[Column]
    sections: list[Section]
    counts: Counter[CellStatus]

    @property
    def rows(self) -> list[Row]:
        return [row for section in self.sections for row in section.rows]

    @property
    def total(self) -> int:
        return sum(n for s, n in self.counts.items() if s not in NO_TASK)


def cell_status(
    task: TaskIn, today: date, working_days_between: Callable[[date, date], int]
) -> CellStatus:
    """The lifecycle table's stage, then for what the organisation still owes: overdue,
    returned, due soon or open. A journal is coloured like any task."""
    stage = lifecycle.stage(task.status)
    if stage is Stage.done:
        return CellStatus.done
    if stage is Stage.review:
        return CellStatus.review
    if lifecycle.is_overdue(task.status, task.due, today):
        return CellStatus.overdue
    if lifecycle.is_returned(task.status):
        return CellStatus.returned
    if (task.due - today).days <= _SOON_HORIZON_DAYS and (
        working_days_between(today, task.due) <= DUE_SOON_WORKING_DAYS
    ):
        return CellStatus.soon
    return CellStatus.open


def build_matrix(
    *,
    items: Sequence[ItemIn],
    organisations: Iterable[OrgIn],
    tasks: Iterable[TaskIn],
    today: date,
    working_days_between: Callable[[date, date], int],
    kinds: Sequence[OrgKind] = (),
    status: CellStatus | None = None,
) -> Matrix:
    """The matrix of one roadmap's cycle: `tasks` are that cycle's tasks of `items`.

    Where an item has several occurrences in the cycle (quarterly, monthly), a cell
    shows the latest one that has opened. Columns: every active organisation of the
    `kinds` asked for (all kinds when empty) and any inactive one that has a task, in
    natural order, then the centre when it has tasks of its own. With `status`, only the
    rows and columns holding a cell of that status are kept."""
    item_ids = {i.id for i in items}
    latest: dict[tuple[int, int | None], TaskIn] = {}
    for task in tasks:
        if task.item_id not in item_ids:
            continue
        key = (task.item_id, task.organisation_id)
        known = latest.get(key)
        if known is None or (task.opens, task.id) > (known.opens, known.id):
            latest[key] = task
    with_tasks = {org_id for _, org_id in latest}
    chosen = [
        o
        for o in organisations
        if (not kinds or o.kind in kinds) and (o.active or o.id in with_tasks)
    ]
    chosen.sort(key=lambda o: (natural_key(o.short_name or o.name), o.id))
    columns = [
        Column(
            organisation_id=o.id, name=o.name, short_name=o.short_name, kind=o.kind, active=o.active
        )
        for o in chosen
    ]
    if None in with_tasks:
        columns.append(
            Column(
                organisation_id=None,
                name="Методический центр",
                short_name="Центр",
                kind=None,
                active=True,
            )
        )
    soon_cache: dict[date, int] = {}

    def between(start: date, end: date) -> int:
        if end not in soon_cache:
            soon_cache[end] = working_days_between(start, end)
        return soon_cache[end]

    rows: list[Row] = []
    for item in sorted(items, key=lambda i: i.number):
        cells: list[Cell] = []
        row = Row(item=item, cells=cells)
        for column in columns:
            found = latest.get((item.id, column.organisation_id))
            if found is None:
                later = _comes_later(item, column)
                cell = Cell(
                    CellStatus.later if later else CellStatus.none,
                    due=item.upcoming if later else None,
                )
            else:
                task = found
                cell = Cell(
                    cell_status(task, today, between),
                    task_id=task.id,
                    due=task.due,
                    item_label=item.label,
                )
                _count_on_time(column, task, today)
                if cell.status not in (CellStatus.done, CellStatus.review):
                    column.open_tasks.append(cell)
                    if task.due >= today and (row.next_due is None or task.due < row.next_due):
                        row.next_due = task.due
            cells.append(cell)
            row.counts[cell.status] += 1
            column.counts[cell.status] += 1
        if item.upcoming is not None and (row.next_due is None or item.upcoming < row.next_due):
            row.next_due = item.upcoming
        rows.append(row)

    if status is not None:
        keep = [i for i, c in enumerate(columns) if c.counts[status]]
        columns = [columns[i] for i in keep]
        rows = [r for r in rows if r.counts[status]]
        for row in rows:
            row.cells = [row.cells[i] for i in keep]

    sections: list[Section] = []
    for row in rows:
        if not sections or sections[-1].title != row.item.section:
            sections.append(Section(title=row.item.section, rows=[]))
        sections[-1].rows.append(row)
    counts: Counter[CellStatus] = Counter()
    for row in rows:
        counts.update(row.counts)
    return Matrix(today=today, columns=columns, sections=sections, counts=counts)


def _comes_later(item: ItemIn, column: Column) -> bool:
    """The item has a window still to open in the cycle (or waits for its dates), and it
    goes to this column."""
    if item.upcoming is None and not item.needs_dates:
        return False
    if column.organisation_id is None:
        return item.centre
    return column.active and column.kind in item.kinds


def _count_on_time(column: Column, task: TaskIn, today: date) -> None:
    timeliness = lifecycle.timeliness(
        task.status, due=task.due, answered_on=task.answered_on, today=today
    )
    if timeliness is Timeliness.pending:
        return
    column.falling_due += 1
    if timeliness is Timeliness.on_time:
        column.on_time += 1
    elif timeliness is Timeliness.late:
        column.answered_late += 1

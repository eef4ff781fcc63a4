"""Setting a roadmap up in the portal: an order's draft, fixing its items, activation,
and editing an activated roadmap with its history (domain.roadmap_setup says what a form
means; this module reads and writes the rows).

A draft lives in `roadmap_draft` until it is activated: then it becomes a roadmap by its
key (`sync_roadmap`, as `roadmap load` does) and starts from the day given (as
`roadmap activate KEY --from`); a draft of a running roadmap's key updates it and keeps its
start. An edit after activation changes the item's row, never its occurrences, tasks or
answers, and writes one `roadmap_change` row per field; a new schedule (or a new item)
applies to what falls due from the day of the change. A re-loaded order or file writes
its changes the same way, and so does a move of a tracked roadmap's start.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from domain.enums import OrgKind
from domain.organisations import Organisation
from domain.roadmap import Roadmap, RoadmapItem
from domain.roadmap_file import ItemSpec, Owner, RoadmapFile, roadmap_file_of, sync_roadmap
from domain.roadmap_setup import (
    ItemForm,
    ItemPreview,
    apply_form,
    apply_heading,
    changes,
    heading_changes,
    item_line,
    preview_item,
)
from domain.roadmap_setup_models import RoadmapChange, RoadmapDraft
from domain.roadmaps import activate, activation_day, item_by_label, roadmap_by_key

if TYPE_CHECKING:
    from domain.roadmap_import import ImportResult


class SetupError(LookupError):
    """No such draft, roadmap or item, or a draft already activated (Russian message)."""


def org_counts(session: Session) -> dict[OrgKind, int]:
    """Active organisations by kind: who an item's tasks would go to."""
    kinds = session.exec(select(Organisation.kind).where(col(Organisation.active).is_(True)))
    counted = Counter(kinds.all())
    return {kind: counted.get(kind, 0) for kind in OrgKind}


# --- drafts ---------------------------------------------------------------------------


def create_draft(
    session: Session, *, result: ImportResult, source_name: str, who: str, now: datetime
) -> RoadmapDraft:
    """Keep an import's roadmap and warnings as a draft (nothing runs from it)."""
    label_at = {
        result.where[spec.number]: spec.label
        for spec in result.roadmap.items
        if spec.number in result.where
    }
    warnings = [
        {
            "where": w.where,
            "column": w.column,
            "message": w.message,
            "text": str(w),
            "label": label_at.get(w.where),
        }
        for w in result.warnings
    ]
    warned = {(w["label"], w["column"]) for w in warnings}
    for spec in result.roadmap.items:  # an external plan is no import error, but needs dates
        if spec.needs_dates and (spec.label, "schedule") not in warned:
            where = result.where.get(spec.number, f"пункт {spec.label}")
            text = (
                f"пункт {spec.label}: срок «{spec.schedule_text}» — "
                f"{spec.needs_dates_reason or 'нужны даты'}; пункт помечен «нужны даты»"
            )
            warnings.append(
                {
                    "where": where,
                    "column": "schedule",
                    "message": text,
                    "text": f"{where}: {text}",
                    "label": spec.label,
                }
            )
    draft = RoadmapDraft(
        source_name=source_name[:200],
        roadmap=result.roadmap.model_dump(mode="json"),
        warnings=warnings,
        created_by=who,
        created_at=now,
        updated_at=now,
    )
    session.add(draft)
    session.flush()
    return draft


def draft_by_id(session: Session, draft_id: int) -> RoadmapDraft:
    draft = session.get(RoadmapDraft, draft_id)
    if draft is None:
        raise SetupError(f"черновика № {draft_id} нет: загрузите приказ заново")
    return draft


def draft_file(draft: RoadmapDraft) -> RoadmapFile:
    return RoadmapFile.model_validate(draft.roadmap)


def drafts(session: Session) -> list[RoadmapDraft]:
    """Drafts not activated yet, newest first."""
    return list(
        session.exec(
            select(RoadmapDraft)
            .where(col(RoadmapDraft.activated_at).is_(None))
            .order_by(col(RoadmapDraft.id).desc())
        )
    )


def newest_draft(session: Session, key: str) -> RoadmapDraft | None:
    """The newest draft of a key not activated yet (the API names drafts by key)."""
    return next((d for d in drafts(session) if draft_file(d).key == key), None)


def _spec(file: RoadmapFile, label: str) -> ItemSpec:
    spec = next((s for s in file.items if s.label == label), None)
    if spec is None:
        raise SetupError(f"в дорожной карте «{file.key}» нет пункта {label}")
    return spec


def save_draft_item(
    session: Session, draft: RoadmapDraft, label: str, form: ItemForm, now: datetime
) -> ItemSpec:
    """Apply an item's form to a draft; ItemFormError when a field is wrong."""
    if draft.activated_at is not None:
        raise SetupError("черновик уже запущен: правьте пункты запущенной дорожной карты")
    file = draft_file(draft)
    spec = apply_form(_spec(file, label), form)
    file.items = [spec if s.label == label else s for s in file.items]
    draft.roadmap = file.model_dump(mode="json")
    draft.updated_at = now
    session.add(draft)
    session.flush()
    return spec


def save_draft_heading(
    session: Session,
    draft: RoadmapDraft,
    *,
    key: str,
    title: str,
    order_number: str,
    order_date: str,
    now: datetime,
) -> RoadmapFile:
    """Apply the heading form to a draft; ItemFormError when a field is wrong."""
    if draft.activated_at is not None:
        raise SetupError("черновик уже запущен")
    file = apply_heading(
        draft_file(draft), key=key, title=title, order_number=order_number, order_date=order_date
    )
    draft.roadmap = file.model_dump(mode="json")
    draft.updated_at = now
    session.add(draft)
    session.flush()
    return file


def existing_roadmap(session: Session, key: str) -> Roadmap | None:
    return session.exec(select(Roadmap).where(Roadmap.key == key)).first()


@dataclass(frozen=True)
class WarningView:
    text: str
    label: str | None
    resolved: bool


@dataclass(frozen=True)
class SetupView:
    """What the set-up pages show of a draft or a roadmap."""

    file: RoadmapFile
    tracked_from: date
    previews: list[ItemPreview]
    warnings: list[WarningView]
    counts: dict[OrgKind, int]

    @property
    def open_issues(self) -> int:
        return sum(1 for p in self.previews if p.issues)

    @property
    def needs_dates(self) -> int:
        return sum(1 for p in self.previews if p.needs_dates)


def _previews(
    session: Session, file: RoadmapFile, tracked_from: date
) -> tuple[list[ItemPreview], dict[OrgKind, int]]:
    counts = org_counts(session)
    return [
        preview_item(spec, start=file.order_date, tracked_from=tracked_from, org_counts=counts)
        for spec in file.items
    ], counts


def draft_view(session: Session, draft: RoadmapDraft) -> SetupView:
    """A draft's items as they would run from its order date, and its import's warnings
    (a warning about a schedule or a responsible party is resolved once that is fixed)."""
    file = draft_file(draft)
    previews, counts = _previews(session, file, file.order_date)
    by_label = {p.label: p for p in previews}
    warnings = []
    for w in draft.warnings:
        label = w.get("label")
        preview = by_label.get(label) if label else None
        resolved = (
            preview is not None
            and w.get("column") in ("schedule", "responsible")
            and w.get("column") not in preview.open_columns
        )
        warnings.append(WarningView(text=str(w.get("text", "")), label=label, resolved=resolved))
    return SetupView(file, file.order_date, previews, warnings, counts)


def roadmap_view(session: Session, roadmap: Roadmap, tz: tzinfo, today: date) -> SetupView:
    """An activated roadmap's items as they run from now on (from its activation day if
    that is later), or from its order date while it has not run."""
    file = roadmap_file_of(session=session, roadmap=roadmap)
    started = activation_day(roadmap, tz)
    tracked = max(started, today) if started is not None else roadmap.order_date
    previews, counts = _previews(session, file, tracked)
    return SetupView(file, tracked, previews, [], counts)


def sync_with_history(
    session: Session, file: RoadmapFile, *, who: str, now: datetime, tz: tzinfo
) -> Roadmap:
    """`sync_roadmap`, keeping what it changes in an activated roadmap in the history: its
    heading, each item's fields and wording, items added and taken out. A changed schedule,
    and an item added, apply from today (what fell due before opens nothing); returns the
    roadmap's row."""
    existing = session.exec(select(Roadmap).where(Roadmap.key == file.key)).first()
    previous: RoadmapFile | None = None
    if existing is not None and existing.activated_at is not None:
        previous = roadmap_file_of(session=session, roadmap=existing)
    row = sync_roadmap(session=session, roadmap=file, now=now)
    if previous is None:
        return row
    assert row.id is not None
    today = now.astimezone(tz).date()

    def change(item: RoadmapItem | None, label: str, name: str, old: str, new: str) -> None:
        session.add(
            RoadmapChange(
                roadmap_id=row.id or 0,
                item_id=item.id if item is not None else None,
                item_label=label,
                field=name,
                before=old,
                after=new,
                who=who,
                at=now,
            )
        )

    for name, old, new in heading_changes(previous, file):
        change(None, "", name, old, new)
    before = {s.label: s for s in previous.items}
    rows = session.exec(select(RoadmapItem).where(RoadmapItem.roadmap_id == row.id))
    items = {i.label: i for i in rows}
    for spec in file.items:
        item, old_spec = items.get(spec.label), before.get(spec.label)
        if item is None:
            continue
        if old_spec is None:  # new, or back in the order: from today on, as any change
            item.schedule_from = today
            session.add(item)
            change(item, item.label, "added", "", item_line(spec))
        else:
            _record(session, row, item, old_spec, spec, who=who, now=now, today=today)
    kept = {spec.label for spec in file.items}
    for label, old_spec in before.items():
        if label not in kept:
            change(items.get(label), label, "withdrawn", item_line(old_spec), "")
    session.flush()
    return row


def restart_tracking(
    session: Session, roadmap: Roadmap, at: datetime, *, who: str, now: datetime, tz: tzinfo
) -> None:
    """Track a roadmap from `at` (as `roadmap activate KEY --from`), running again if it
    was retired; a move of an activated roadmap's start is kept in its history."""
    previous = roadmap.activated_at
    was_retired = roadmap.retired_at is not None
    activate(roadmap, at)
    roadmap.retired_at = None
    session.add(roadmap)
    if previous is not None and (previous != at or was_retired):
        assert roadmap.id is not None
        session.add(
            RoadmapChange(
                roadmap_id=roadmap.id,
                item_id=None,
                item_label="",
                field="tracked_from",
                before=f"{previous.astimezone(tz):%d.%m.%Y %H:%M}"
                + (" (выведена из работы)" if was_retired else ""),
                after=f"{at.astimezone(tz):%d.%m.%Y %H:%M}",
                who=who,
                at=now,
            )
        )
    session.flush()


def is_running(roadmap: Roadmap | None) -> bool:
    """Tracked and not retired: a draft of its key updates it and keeps its start."""
    return roadmap is not None and roadmap.activated_at is not None and roadmap.retired_at is None


def activate_draft(
    session: Session,
    draft: RoadmapDraft,
    *,
    from_day: date | None,
    tz: tzinfo,
    who: str,
    now: datetime,
) -> Roadmap:
    """The draft becomes its roadmap (a known key is updated, its items matched by number,
    so their tasks and answers stay; what changed goes to the history). A new roadmap (or
    a retired one) is tracked from `from_day`, 00:00 district time, as `roadmap activate
    KEY --from`; a running one keeps its start, and what changed applies from today."""
    if draft.activated_at is not None:
        raise SetupError("этот черновик уже запущен")
    running = is_running(existing_roadmap(session, draft_file(draft).key))
    if not running and from_day is None:
        raise SetupError("укажите, с какого дня отслеживать дорожную карту")
    row = sync_with_history(session, draft_file(draft), who=who, now=now, tz=tz)
    if not running:
        assert from_day is not None
        at = datetime.combine(from_day, time(0, 0), tzinfo=tz)
        restart_tracking(session, row, at, who=who, now=now, tz=tz)
    draft.roadmap_id = row.id
    draft.activated_at = now
    session.add(draft)
    session.flush()
    return row


# --- an activated roadmap -------------------------------------------------------------


def item_spec(item: RoadmapItem) -> ItemSpec:
    return ItemSpec(
        number=item.number,
        label=item.label,
        slug=item.slug,
        section=item.section,
        title=item.title,
        schedule_text=item.schedule_text,
        schedule=item.schedule,
        needs_dates=item.needs_dates,
        needs_dates_reason=item.needs_dates_reason,
        responsible=item.responsible,
        assignees=item.assignee_rule,
        expected_result=item.expected_result,
        evidence=item.evidence,
        owner=Owner(name=item.owner_name, email=item.owner_email),
    )


def _write(item: RoadmapItem, spec: ItemSpec) -> None:
    item.schedule_text = spec.schedule_text
    item.schedule = spec.schedule
    item.needs_dates = spec.needs_dates
    item.needs_dates_reason = spec.needs_dates_reason
    item.assignees = spec.assignees.model_dump(mode="json")
    item.evidence_spec = spec.evidence.model_dump(mode="json")
    item.owner_name = spec.owner.name
    item.owner_email = spec.owner.email


def _record(
    session: Session,
    roadmap: Roadmap,
    item: RoadmapItem,
    before: ItemSpec,
    after: ItemSpec,
    *,
    who: str,
    now: datetime,
    today: date,
) -> list[RoadmapChange]:
    assert roadmap.id is not None
    rows = [
        RoadmapChange(
            roadmap_id=roadmap.id,
            item_id=item.id,
            item_label=item.label,
            field=name,
            before=old,
            after=new,
            who=who,
            at=now,
        )
        for name, old, new in changes(before, after)
    ]
    if before.schedule != after.schedule:
        # the new schedule opens what falls due from today; what is open stays open
        item.schedule_from = today
        session.add(item)
    session.add_all(rows)
    return rows


def edit_item(
    session: Session,
    roadmap: Roadmap,
    label: str,
    form: ItemForm,
    *,
    who: str,
    now: datetime,
    tz: tzinfo,
) -> list[RoadmapChange]:
    """Apply an item's form to a roadmap in the database; returns the history rows
    written (none when nothing changed). ItemFormError when a field is wrong. Occurrences,
    tasks and answers are never touched."""
    try:
        item = item_by_label(session, roadmap, label)
    except LookupError as exc:
        raise SetupError(str(exc)) from None
    before = item_spec(item)
    after = apply_form(before, form)
    _write(item, after)
    session.add(item)
    rows = _record(
        session, roadmap, item, before, after, who=who, now=now, today=now.astimezone(tz).date()
    )
    session.flush()
    return rows


def roadmap_for_setup(session: Session, key: str) -> Roadmap:
    try:
        return roadmap_by_key(session, key)
    except LookupError as exc:
        raise SetupError(str(exc)) from None


def history(session: Session, roadmap: Roadmap) -> list[RoadmapChange]:
    """A roadmap's changes, newest first."""
    return list(
        session.exec(
            select(RoadmapChange)
            .where(RoadmapChange.roadmap_id == roadmap.id)
            .order_by(col(RoadmapChange.at).desc(), col(RoadmapChange.id).desc())
        )
    )


def change_out(change: RoadmapChange) -> dict[str, Any]:
    return {
        "item": change.item_label,
        "field": change.field,
        "before": change.before,
        "after": change.after,
        "who": change.who,
        "at": change.at,
    }

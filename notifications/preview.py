"""The first emails a person will get from a roadmap, rendered with the real templates
before anything runs: nothing is sent, queued or written (no task, link or outgoing row).

For one organisation (or the centre's own tasks) each item whose tasks it gets yields its
first window from the day tracking starts; the announcement goes out the day the window
opens (the activation day for one already open then), one email per recipient and day: a
single task's "opened" email, several tasks a digest, as the outbox writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from config.settings import Settings
from domain.enums import NoticeKind, Role
from domain.organisations import Organisation
from domain.roadmap_file import ItemSpec, RoadmapFile
from domain.roadmap_setup import first_windows
from notifications.context import TaskView
from notifications.render import RenderedEmail, render
from notifications.reply import task_reference

PREVIEW_DAYS = 3  # the first days with mail a preview shows


@dataclass(frozen=True)
class PreviewEntry:
    """What the digest template reads of one task (like the outbox's entries)."""

    task: TaskView
    kind: str = NoticeKind.opened.value
    step: int = 0
    reason: str = ""
    fields: tuple[str, ...] = ()
    days_before: int = 0
    days_overdue: int = 0
    earlier_chases: int = 0
    version: int = 0


@dataclass(frozen=True)
class PreviewEmail:
    on_day: date
    to: str
    cc: tuple[str, ...]
    email: RenderedEmail
    items: list[str]  # the items' numbers


def _gets(spec: ItemSpec, org: Organisation | None) -> Role | None:
    rule = spec.assignees
    if org is None:
        return Role.centre if rule.centre else None
    if rule.organisations is None or not org.active or org.kind not in rule.kinds:
        return None
    return rule.organisations


def _recipients(
    role: Role, spec: ItemSpec, org: Organisation | None, settings: Settings
) -> tuple[str, tuple[str, ...], str]:
    """(to, cc, name) as domain.recipients.task_recipients decides them."""
    if role is Role.centre or org is None:
        return spec.owner.email or settings.centre_email, (), spec.owner.name
    if role is Role.curator and org.curator_email:
        head = org.head_email
        cc = (head,) if head and head.lower() != org.curator_email.lower() else ()
        return org.curator_email, cc, org.curator_name
    return org.head_email, (), org.head_name


def first_emails(
    file: RoadmapFile,
    *,
    organisation: Organisation | None,
    tracked_from: date,
    settings: Settings,
    days: int = PREVIEW_DAYS,
) -> list[PreviewEmail]:
    """The announcements of the first `days` days on which `organisation` (None: the
    centre) gets mail from the roadmap, in the order they would go out."""
    link = f"{settings.portal_url.rstrip('/')}/t/…"
    groups: dict[tuple[date, str], list[tuple[ItemSpec, TaskView, tuple[str, ...], str]]] = {}
    for spec in file.items:
        role = _gets(spec, organisation)
        if role is None:
            continue
        windows = first_windows(spec, start=file.order_date, tracked_from=tracked_from, count=1)
        if not windows:
            continue
        window = windows[0]
        on_day = max(window.opens, tracked_from)
        to, cc, name = _recipients(role, spec, organisation, settings)
        view = TaskView(
            task_id=0,
            item_number=spec.label,
            item_title=spec.title,
            roadmap_title=file.title,
            expected_result=spec.expected_result,
            evidence_labels=[f.label for f in spec.evidence.fields],
            organisation=organisation.name if organisation else settings.centre_name,
            organisation_id=organisation.id if organisation else None,
            due=window.due,
            continuous=window.continuous,
            status="открыта",
            link=link,
            owner_name=spec.owner.name,
            reference=task_reference(spec.number, 0),
        )
        groups.setdefault((on_day, to), []).append((spec, view, cc, name))
    chosen_days = sorted({day for day, _ in groups})[:days]
    emails: list[PreviewEmail] = []
    for (on_day, to), rows in sorted(groups.items()):
        if on_day not in chosen_days:
            continue
        emails.append(_render(on_day, to, rows, settings))
    return emails


def _render(
    on_day: date,
    to: str,
    rows: Sequence[tuple[ItemSpec, TaskView, tuple[str, ...], str]],
    settings: Settings,
) -> PreviewEmail:
    name = next((n for _, _, _, n in rows if n), "")
    context: dict[str, object] = {
        "centre_name": settings.centre_name,
        "centre_email": settings.centre_email,
        "portal_url": settings.portal_url,
        "recipient_name": name,
        "on_day": on_day,
        "more": [],
        "more_total": 0,
        "more_link": "",
    }
    cc = tuple(dict.fromkeys(addr for _, _, row_cc, _ in rows for addr in row_cc))
    if len(rows) == 1:
        view = rows[0][1]
        context.update(
            task=view,
            step=0,
            days_before=0,
            days_overdue=0,
            earlier_chases=0,
            reason="",
            version=0,
            fields=[],
            submitted_at="",
            submitted_by="",
            last_entry=None,
        )
        email = render(NoticeKind.opened.value, context)
        email = RenderedEmail(f"{email.subject} [{view.reference}]", email.text, email.html)
    else:
        context.update(
            entries=[PreviewEntry(task=view) for _, view, _, _ in rows],
            org_links=[],
            has_calendar=any(view.due >= on_day for _, view, _, _ in rows),
        )
        email = render("digest", context)
    return PreviewEmail(on_day, to, cc, email, [spec.label for spec, _, _, _ in rows])

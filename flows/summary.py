"""The yearly summary: written at the end of a cycle, stored, mailed to the centre."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from sqlmodel import Session, select

from domain.access import SUMMARY_INTERIM, SUMMARY_YEARLY, StoredSummary
from domain.cycles import Cycle, academic_year_of, first_cycle
from domain.db import session_scope
from domain.roadmap import Roadmap
from domain.roadmap_file import slug_part
from domain.roadmaps import activation_day, choose_roadmap, running_roadmaps, tracked_since
from domain.summary import build_summary
from flows.context import local_day, moment, runtime
from notifications.mime import Attachment, mail_domain
from notifications.outbox import queue_email
from notifications.render import render
from reports import write_all

ATTACH = ("docx", "xlsx")
MIME = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def finished_cycle(at_day: date) -> Cycle:
    """The latest cycle that has ended by `at_day` (from 1 Sep 2023 on: 2022/2023)."""
    return Cycle(academic_year_of(at_day).first - 1)


def store_summary(
    *, session: Session, roadmap: Roadmap, cycle: Cycle, as_of: date, at: datetime, directory: Path
) -> StoredSummary:
    """One row per (roadmap, cycle, kind): written again, it is replaced, not added."""
    kind = SUMMARY_YEARLY if as_of >= cycle.ends else SUMMARY_INTERIM
    row = session.exec(
        select(StoredSummary).where(
            StoredSummary.roadmap_id == roadmap.id,
            StoredSummary.cycle == cycle.name,
            StoredSummary.kind == kind,
        )
    ).first() or StoredSummary(
        roadmap_id=roadmap.id, cycle=cycle.name, kind=kind, created_at=at, directory=""
    )
    row.as_of = as_of
    row.created_at = at
    row.directory = str(directory)
    session.add(row)
    return row


@task(retries=1, retry_delay_seconds=10)
def write_summary(
    cycle_name: str, at: datetime, out_dir: str | None = None, roadmap_key: str | None = None
) -> dict[str, str]:
    settings, engine = runtime()
    cycle = Cycle.parse(cycle_name)
    as_of = min(local_day(at, settings), cycle.ends)
    with session_scope(engine) as session:
        roadmap = choose_roadmap(session, roadmap_key)
        activated = activation_day(roadmap, settings.tz)
        if cycle < first_cycle(roadmap.order_date) or (
            activated is not None and cycle.ends < activated
        ):
            return {}  # before the roadmap began, or before tracking started: nothing to report
        cycle_slug = cycle.name.replace("/", "-")
        directory = (
            Path(out_dir)
            if out_dir
            else settings.var_dir / "summaries" / slug_part(roadmap.key) / cycle_slug
        )
        summary = build_summary(
            session=session,
            cycle=cycle,
            roadmap_start=roadmap.order_date,
            as_of=as_of,
            tz=settings.tz,
            roadmap_id=roadmap.id,
            tracked_since=tracked_since(roadmap, cycle.span(roadmap.order_date)[0], settings.tz),
        )
        files = write_all(summary, directory, stem=f"summary-{cycle_slug}")
        store_summary(
            session=session, roadmap=roadmap, cycle=cycle, as_of=as_of, at=at, directory=directory
        )
        attached = [files[f] for f in ATTACH if f in files]
        rendered = render(
            "summary",
            {
                "summary": summary,
                "cycle": cycle.name,
                "as_of": as_of,
                "files": files,
                "attachments": [p.name for p in attached],
                "highlights": list(summary.text),
                "centre_name": settings.centre_name,
                "centre_email": settings.centre_email,
            },
        )
        queue_email(
            session=session,
            kind="summary",
            to=settings.centre_email,
            subject=rendered.subject,
            text_body=rendered.text,
            html_body=rendered.html,
            attachments=[
                Attachment(p.name, MIME[p.suffix.lstrip(".")], p.read_bytes()) for p in attached
            ],
            message_id=(
                f"<summary-{slug_part(roadmap.key)}-{cycle.first}-{as_of:%Y%m%d}"
                f"@{mail_domain(settings)}>"
            ),
            now=at,
        )
    markdown = files["md"].read_text(encoding="utf-8")
    create_markdown_artifact(
        key=f"summary-{slug_part(roadmap.key)}-{cycle.first}-{cycle.first + 1}",
        markdown=markdown,
        description=(
            f"Аналитическая справка за {cycle.name} учебный год ({roadmap.key}), "
            f"на {as_of:%d.%m.%Y}"
        ),
    )
    return {fmt: str(path) for fmt, path in files.items()}


@flow(name="summary", flow_run_name="summary · {cycle}")
def summary_flow(
    cycle: str | None = None,
    at: datetime | None = None,
    out_dir: str | None = None,
    roadmap: str | None = None,
) -> dict[str, str]:
    """Write the summary of `cycle` (default: the one that has just ended) for the
    roadmap `roadmap` (its key), or for every running roadmap, each its own."""
    when = moment(at)
    settings, engine = runtime()
    name = cycle or finished_cycle(local_day(when, settings)).name
    if roadmap is not None:
        return write_summary(name, when, out_dir, roadmap)
    with Session(engine) as session:
        keys = [r.key for r in running_roadmaps(session)]
    files: dict[str, str] = {}
    for key in keys:
        target = str(Path(out_dir) / slug_part(key)) if out_dir and len(keys) > 1 else out_dir
        written = write_summary(name, when, target, key)
        files.update({fmt if len(keys) == 1 else f"{key}:{fmt}": p for fmt, p in written.items()})
    return files

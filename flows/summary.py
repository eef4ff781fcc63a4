"""The yearly summary: written at the end of a cycle, stored, mailed to the centre."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from sqlmodel import Session

from config.settings import Settings
from domain.access import SUMMARY_INTERIM, SUMMARY_YEARLY
from domain.combined import build_combined, reports_cycle
from domain.cycles import Cycle, academic_year_of
from domain.db import session_scope
from domain.roadmap import Roadmap
from domain.roadmap_file import slug_part
from domain.roadmaps import choose_roadmap, running_roadmaps, tracked_since
from domain.stored_summaries import SUMMARY_COMBINED, SummaryFile, store_summary
from domain.summary import YearlySummary, build_summary
from flows.context import local_day, moment, runtime
from notifications.mime import Attachment, mail_domain
from notifications.outbox import queue_email
from notifications.render import render
from reports.combined import render_combined_all
from reports.write import Format, render_all, write_files

ATTACH = ("docx", "xlsx")
MIME = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def finished_cycle(at_day: date) -> Cycle:
    """The latest cycle that has ended by `at_day` (from 1 Sep 2023 on: 2022/2023)."""
    return Cycle(academic_year_of(at_day).first - 1)


def summary_kind(cycle: Cycle, as_of: date) -> str:
    return SUMMARY_YEARLY if as_of >= cycle.ends else SUMMARY_INTERIM


def stored_files(rendered: Mapping[Format, bytes], stem: str) -> dict[str, SummaryFile]:
    return {str(fmt): SummaryFile(f"{stem}.{fmt}", data) for fmt, data in rendered.items()}


def mail_summary(
    *,
    session: Session,
    settings: Settings,
    summary: YearlySummary,
    cycle: Cycle,
    as_of: date,
    at: datetime,
    files: Mapping[str, SummaryFile],
    message_key: str,
) -> None:
    """Queue the summary to the centre with its Word and Excel files attached."""
    attached = [files[f] for f in ATTACH if f in files]
    rendered = render(
        "summary",
        {
            "summary": summary,
            "cycle": cycle.name,
            "as_of": as_of,
            "files": [f.file_name for f in files.values()],
            "link": f"{settings.portal_url.rstrip('/')}/admin/summaries",
            "attachments": [f.file_name for f in attached],
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
            Attachment(f.file_name, MIME[f.file_name.rsplit(".", 1)[1]], f.content)
            for f in attached
        ],
        message_id=f"<summary-{message_key}-{cycle.first}-{as_of:%Y%m%d}@{mail_domain(settings)}>",
        now=at,
    )


def _written(files: Mapping[str, SummaryFile], out_dir: str | None, stem: str) -> dict[str, str]:
    """Where the files are: copies in `out_dir` when asked for, else their names in the
    database (`stored_summary_file`)."""
    if not out_dir:
        return {fmt: f"stored_summary_file:{file.file_name}" for fmt, file in files.items()}
    directory = Path(out_dir)
    paths = write_files({fmt: f.content for fmt, f in files.items()}, directory, stem)
    return {fmt: str(path) for fmt, path in paths.items()}


@task(retries=1, retry_delay_seconds=10)
def write_summary(
    cycle_name: str, at: datetime, out_dir: str | None = None, roadmap_key: str | None = None
) -> dict[str, str]:
    """Write, store (replacing) and mail one roadmap's summary of `cycle_name`; `out_dir`
    also gets a copy of its files. Returns {format: path or stored name}."""
    settings, engine = runtime()
    cycle = Cycle.parse(cycle_name)
    as_of = min(local_day(at, settings), cycle.ends)
    with session_scope(engine) as session:
        roadmap = choose_roadmap(session, roadmap_key)
        if not reported(roadmap, cycle, settings.tz):
            return {}  # before the roadmap began, or before tracking started: nothing to report
        cycle_slug = cycle.name.replace("/", "-")
        summary = build_summary(
            session=session,
            cycle=cycle,
            roadmap_start=roadmap.order_date,
            as_of=as_of,
            tz=settings.tz,
            roadmap_id=roadmap.id,
            tracked_since=tracked_since(roadmap, cycle.span(roadmap.order_date)[0], settings.tz),
        )
        stem = f"summary-{cycle_slug}"
        files = stored_files(render_all(summary), stem)
        store_summary(
            session,
            roadmap_id=roadmap.id,
            cycle=cycle.name,
            kind=summary_kind(cycle, as_of),
            as_of=as_of,
            at=at,
            files=files,
        )
        mail_summary(
            session=session,
            settings=settings,
            summary=summary,
            cycle=cycle,
            as_of=as_of,
            at=at,
            files=files,
            message_key=slug_part(roadmap.key),
        )
    create_markdown_artifact(
        key=f"summary-{slug_part(roadmap.key)}-{cycle.first}-{cycle.first + 1}",
        markdown=files["md"].content.decode("utf-8"),
        description=(
            f"Аналитическая справка за {cycle.name} учебный год ({roadmap.key}), "
            f"на {as_of:%d.%m.%Y}"
        ),
    )
    return _written(files, out_dir, stem)


def reported(roadmap: Roadmap, cycle: Cycle, tz: ZoneInfo) -> bool:
    """False for a cycle before the roadmap's first or one that ended before tracking."""
    return reports_cycle(roadmap, cycle, tz)


@task(retries=1, retry_delay_seconds=10)
def write_combined_summary(
    cycle_name: str, at: datetime, out_dir: str | None = None
) -> dict[str, str]:
    """The one report of every roadmap of `cycle_name` (roadmaps activated after the
    cycle's end are left out), stored as kind `combined` (one per cycle, replaced)."""
    settings, engine = runtime()
    cycle = Cycle.parse(cycle_name)
    as_of = min(local_day(at, settings), cycle.ends)
    with session_scope(engine) as session:
        combined = build_combined(session=session, cycle=cycle, as_of=as_of, tz=settings.tz)
        if len(combined.parts) < 2:
            return {}  # one roadmap's own report says it all
        stem = f"summary-all-{cycle.name.replace('/', '-')}"
        files = stored_files(render_combined_all(combined), stem)
        store_summary(
            session,
            roadmap_id=None,
            cycle=cycle.name,
            kind=SUMMARY_COMBINED,
            as_of=as_of,
            at=at,
            files=files,
        )
    create_markdown_artifact(
        key=f"summary-all-{cycle.first}-{cycle.first + 1}",
        markdown=files["md"].content.decode("utf-8"),
        description=f"Сводная справка по всем дорожным картам за {cycle.name}, на {as_of:%d.%m.%Y}",
    )
    return _written(files, out_dir, stem)


@flow(name="summary", flow_run_name="summary · {cycle}", persist_result=False)
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
    if len(keys) > 1:
        combined = write_combined_summary(name, when, out_dir)
        files.update({f"{SUMMARY_COMBINED}:{fmt}": p for fmt, p in combined.items()})
    return files

"""The yearly summary: written at the end of a cycle, stored, mailed to the centre."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from domain.access import StoredSummary
from domain.cycles import Cycle, academic_year_of, first_cycle
from domain.db import session_scope
from domain.roadmap_file import current_roadmap
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


@task(retries=1, retry_delay_seconds=10)
def write_summary(cycle_name: str, at: datetime, out_dir: str | None = None) -> dict[str, str]:
    settings, engine = runtime()
    cycle = Cycle.parse(cycle_name)
    as_of = min(local_day(at, settings), cycle.ends)
    directory = (
        Path(out_dir) if out_dir else settings.var_dir / "summaries" / cycle.name.replace("/", "-")
    )
    with session_scope(engine) as session:
        roadmap = current_roadmap(session)
        if roadmap is None:
            raise LookupError("no roadmap loaded: run `roadmap import-roadmap` first")
        if cycle < first_cycle(roadmap.order_date):
            return {}  # before the roadmap began: nothing to report
        summary = build_summary(
            session=session,
            cycle=cycle,
            roadmap_start=roadmap.order_date,
            as_of=as_of,
            tz=settings.tz,
            roadmap_id=roadmap.id,
        )
        files = write_all(summary, directory, stem=f"summary-{cycle.name.replace('/', '-')}")
        session.add(StoredSummary(cycle=cycle.name, created_at=at, directory=str(directory)))
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
            message_id=f"<summary-{cycle.first}-{as_of:%Y%m%d}@{mail_domain(settings)}>",
            now=at,
        )
    markdown = files["md"].read_text(encoding="utf-8")
    create_markdown_artifact(
        key=f"summary-{cycle.first}-{cycle.first + 1}",
        markdown=markdown,
        description=f"Аналитическая справка за {cycle.name} учебный год",
    )
    return {fmt: str(path) for fmt, path in files.items()}


@flow(name="summary", flow_run_name="summary · {cycle}")
def summary_flow(
    cycle: str | None = None, at: datetime | None = None, out_dir: str | None = None
) -> dict[str, str]:
    """Write the summary of `cycle` (default: the one that has just ended)."""
    when = moment(at)
    settings, _ = runtime()
    name = cycle or finished_cycle(local_day(when, settings)).name
    return write_summary(name, when, out_dir)

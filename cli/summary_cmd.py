"""`roadmap summary`: the yearly summary (аналитическая справка) as md, html, docx or xlsx."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from sqlmodel import col, select

from cli.common import fail, no_traceback, parse_date, settings_or_exit
from config.runtime import open_engine
from domain.cycles import Cycle, CycleError, first_cycle
from domain.db import session_scope
from domain.roadmap import Roadmap
from domain.summary import build_summary, format_share_ru
from reports.write import FORMATS, Format, format_for, write_summary

console = Console(highlight=False)
DEFAULT_FORMAT: Format = "docx"


def _format(fmt: str | None, output: Path | None) -> Format:
    if fmt is not None:
        wanted = fmt.strip().lower().lstrip(".")
        for known in FORMATS:
            if wanted == known:
                return known
        raise fail(f"--format: {fmt!r} is not a summary format; use {'|'.join(FORMATS)}", 2)
    if output is None:
        return DEFAULT_FORMAT
    inferred = format_for(output)
    if inferred is None:
        raise fail(
            f"-o {output}: cannot tell the format from the extension; name the file "
            f".md, .html, .docx or .xlsx, or pass --format {'|'.join(FORMATS)}",
            2,
        )
    return inferred


def register(app: typer.Typer) -> None:
    """Add `roadmap summary`."""

    @app.command("summary")
    @no_traceback
    def summary(
        cycle: str = typer.Option(
            ..., "--cycle", help="Academic year of the summary, e.g. 2022/2023."
        ),
        fmt: str | None = typer.Option(
            None,
            "--format",
            "-f",
            help="md, html, docx or xlsx (default: from -o's extension, else docx).",
        ),
        output: Path | None = typer.Option(
            None,
            "--output",
            "-o",
            help="File to write (default: summary-<cycle>.<format> in the current folder).",
        ),
        as_of: str | None = typer.Option(
            None,
            "--as-of",
            help="Count tasks as overdue as of this date, YYYY-MM-DD (default: today).",
        ),
        roadmap_code: str | None = typer.Option(
            None, "--roadmap", help="Roadmap code, when the database holds several."
        ),
    ) -> None:
        """Write the yearly summary (аналитическая справка) of one cycle."""
        try:
            wanted = Cycle.parse(cycle)
        except CycleError as exc:
            raise fail(f"--cycle: {exc}", 2) from None
        chosen = _format(fmt, output)
        path = output or Path(f"summary-{wanted.name.replace('/', '-')}.{chosen}")
        settings = settings_or_exit()
        day = parse_date(as_of, "--as-of") if as_of else datetime.now(settings.tz).date()

        engine = open_engine(settings)
        try:
            with session_scope(engine) as session:
                query = select(Roadmap).order_by(col(Roadmap.id))
                if roadmap_code:
                    query = query.where(Roadmap.code == roadmap_code)
                roadmaps = list(session.exec(query))
                if not roadmaps:
                    if roadmap_code:
                        raise fail(f"--roadmap: no roadmap with code {roadmap_code!r}", 2)
                    raise fail(
                        "the database holds no roadmap yet: import one with "
                        "`roadmap import-roadmap FILE` or set ROADMAP_ROADMAP_FILE",
                        1,
                    )
                if len(roadmaps) > 1:
                    codes = ", ".join(r.code for r in roadmaps)
                    raise fail(f"the database holds several roadmaps ({codes}); pass --roadmap", 2)
                roadmap = roadmaps[0]
                first = first_cycle(roadmap.order_date)
                if wanted < first:
                    raise fail(
                        f"--cycle: {wanted.name} is before the roadmap's first cycle "
                        f"{first.name} (order of {roadmap.order_date:%d.%m.%Y})",
                        2,
                    )
                result = build_summary(
                    session=session,
                    cycle=wanted,
                    roadmap_start=roadmap.order_date,
                    as_of=day,
                    tz=settings.tz,
                    roadmap_id=roadmap.id,
                )
        finally:
            engine.dispose()

        write_summary(result, chosen, path)
        counts = result.counts
        console.print(f"wrote {path} ({chosen})")
        console.print(
            f"cycle {result.cycle}, {result.period_label}, as of {day:%d.%m.%Y}: "
            f"{len(result.items)} items, {result.organisations_involved} organisations, "
            f"{counts.asked} tasks; on time {counts.on_time} "
            f"({format_share_ru(counts.on_time_share)}), late {counts.late}, "
            f"overdue {counts.overdue}, in progress {counts.in_progress}"
        )

"""`roadmap summary`: the yearly summary (аналитическая справка) as md, html, docx or xlsx.

Messages are in Russian: the centre's administrators run this command.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from cli.common import fail, no_traceback, parse_date, settings_or_exit
from config.runtime import open_engine
from config.settings import Settings
from domain.cycles import Cycle, CycleError, first_cycle
from domain.db import session_scope
from domain.roadmaps import (
    NoRoadmap,
    RoadmapChoiceError,
    activation_day,
    choose_roadmap,
    tracked_since,
)
from domain.summary import (
    ITEMS,
    ORGANISATIONS,
    TASKS,
    build_summary,
    count_ru,
    format_share_ru,
)
from reports.write import (
    FORMATS,
    Format,
    format_for,
    render_all,
    write_file,
    write_files,
    write_summary,
)

console = Console(highlight=False)
DEFAULT_FORMAT: Format = "docx"


def _format(fmt: str | None, output: Path | None) -> Format:
    if fmt is not None:
        wanted = fmt.strip().lower().lstrip(".")
        for known in FORMATS:
            if wanted == known:
                return known
        raise fail(
            f"--format: {fmt!r} — неизвестный формат справки; укажите {'|'.join(FORMATS)}", 2
        )
    if output is None:
        return DEFAULT_FORMAT
    inferred = format_for(output)
    if inferred is None:
        raise fail(
            f"-o {output}: по расширению не понять формат; назовите файл "
            f".md, .html, .docx или .xlsx либо укажите --format {'|'.join(FORMATS)}",
            2,
        )
    return inferred


def _is_folder(output: Path) -> bool:
    """`-o DIR` (an existing folder, or a name without an extension): every format into
    it, each `summary-<cycle>.<format>`."""
    return output.is_dir() or not output.suffix


def _combined(
    settings: Settings,
    cycle: Cycle,
    day: date,
    path: Path,
    chosen: Format,
    to_folder: bool,
    stem: str,
) -> None:
    """`--all-roadmaps`: one report of every roadmap that reports the cycle."""
    from domain.combined import build_combined
    from reports.combined import render_combined, render_combined_all

    engine = open_engine(settings)
    try:
        with session_scope(engine) as session:
            combined = build_combined(session=session, cycle=cycle, as_of=day, tz=settings.tz)
    finally:
        engine.dispose()
    if not combined.parts:
        raise fail(
            f"--all-roadmaps: за {cycle.name} учебный год нет дорожных карт для справки "
            "(ни одна не начата или все включены после конца года)",
            1,
        )
    try:
        if to_folder:
            written = write_files(
                {str(f): data for f, data in render_combined_all(combined).items()}, path, stem
            )
        else:
            written = {chosen: write_file(path, render_combined(combined, chosen))}
    except OSError as exc:
        raise fail(
            f"не удаётся записать справку в {path}: {exc.strerror or exc}; укажите другой файл в -o"
        ) from None
    kind = "Промежуточная сводная справка" if combined.interim else "Сводная справка"
    for written_fmt, written_path in written.items():
        console.print(f"{kind} записана: {escape(str(written_path))} ({written_fmt})")
    c = combined.counts
    console.print(
        f"Учебный год {combined.cycle}, на дату {day:%d.%m.%Y}: дорожных карт "
        f"{len(combined.parts)}, {count_ru(len(combined.organisations), ORGANISATIONS)}, "
        f"{count_ru(c.asked, TASKS)}; принято в срок {c.on_time} "
        f"({format_share_ru(c.on_time_share)}), принято с опозданием {c.late}, "
        f"не сдано {c.missing}"
    )


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
            help=(
                "File to write (default: summary-<cycle>.<format> in the current folder); "
                "a folder gets all four formats."
            ),
        ),
        as_of: str | None = typer.Option(
            None,
            "--as-of",
            help=(
                "The report's date, YYYY-MM-DD (default: today): tasks due before it and "
                "not submitted are overdue; before the cycle's end the report is interim."
            ),
        ),
        roadmap_code: str | None = typer.Option(
            None, "--roadmap", help="Roadmap key, when the database holds several."
        ),
        all_roadmaps: bool = typer.Option(
            False,
            "--all-roadmaps",
            help="One combined report of every roadmap of the cycle (сводная справка).",
        ),
    ) -> None:
        """Write the yearly summary (аналитическая справка) of one cycle; -o DIR (a
        folder, or a name without an extension) writes all four formats into it."""
        try:
            wanted = Cycle.parse(cycle)
        except CycleError:
            raise fail(
                f"--cycle: {cycle!r} — не учебный год; укажите два года подряд, например 2022/2023",
                2,
            ) from None
        if all_roadmaps and roadmap_code:
            raise fail("--all-roadmaps и --roadmap: укажите что-то одно", 2)
        to_folder = output is not None and fmt is None and _is_folder(output)
        chosen = DEFAULT_FORMAT if to_folder else _format(fmt, output)
        slug = wanted.name.replace("/", "-")
        stem = f"summary-all-{slug}" if all_roadmaps else f"summary-{slug}"
        path = output or Path(f"{stem}.{chosen}")
        settings = settings_or_exit()
        day = parse_date(as_of, "--as-of") if as_of else datetime.now(settings.tz).date()
        if all_roadmaps:
            _combined(settings, wanted, day, path, chosen, to_folder, stem)
            return

        engine = open_engine(settings)
        try:
            with session_scope(engine) as session:
                try:
                    roadmap = choose_roadmap(session, roadmap_code)
                except NoRoadmap as exc:
                    raise fail(str(exc), 1) from None
                except RoadmapChoiceError as exc:
                    raise fail(f"--roadmap: {exc}", 2) from None
                first = first_cycle(roadmap.order_date)
                if wanted < first:
                    raise fail(
                        f"--cycle: {wanted.name} раньше первого учебного года дорожной карты "
                        f"{first.name} (приказ от {roadmap.order_date:%d.%m.%Y})",
                        2,
                    )
                activated = activation_day(roadmap, settings.tz)
                if activated is not None and wanted.ends < activated:
                    raise fail(
                        f"--cycle: {wanted.name} закончился до начала мониторинга дорожной "
                        f"карты {roadmap.key} ({activated:%d.%m.%Y}): за него справки нет",
                        2,
                    )
                period_start, _end = wanted.span(roadmap.order_date)
                if day < period_start:
                    raise fail(
                        f"--as-of: {day:%d.%m.%Y} раньше начала учебного года {wanted.name} "
                        f"({period_start:%d.%m.%Y}); укажите дату не раньше неё",
                        2,
                    )
                result = build_summary(
                    session=session,
                    cycle=wanted,
                    roadmap_start=roadmap.order_date,
                    as_of=day,
                    tz=settings.tz,
                    roadmap_id=roadmap.id,
                    tracked_since=tracked_since(
                        roadmap, wanted.span(roadmap.order_date)[0], settings.tz
                    ),
                )
        finally:
            engine.dispose()

        try:
            if to_folder:
                written = write_files(
                    {str(f): data for f, data in render_all(result).items()}, path, stem
                )
            else:
                written = {chosen: write_summary(result, chosen, path)}
        except OSError as exc:
            raise fail(
                f"не удаётся записать справку в {path}: {exc.strerror or exc}; "
                "укажите другой файл в -o"
            ) from None
        counts = result.counts
        kind = "Промежуточная справка" if result.interim else "Справка"
        for written_fmt, written_path in written.items():
            console.print(f"{kind} записана: {escape(str(written_path))} ({written_fmt})")
        console.print(
            f"Учебный год {result.cycle} ({result.period_label}), на дату {day:%d.%m.%Y}: "
            f"{count_ru(len(result.items), ITEMS)}, "
            f"{count_ru(result.organisations_involved, ORGANISATIONS)}, "
            f"{count_ru(counts.asked, TASKS)}; принято в срок {counts.on_time} "
            f"({format_share_ru(counts.on_time_share)}), принято с опозданием {counts.late}, "
            f"просрочено {counts.overdue}, в работе {counts.in_progress}"
        )

"""The annual cycle: `tick`, `serve`, `tasks list`, `demo`.

Prefect is imported inside the commands: `demo` points PREFECT_HOME at its own folder
before Prefect reads its settings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import Session, col, select

from cli.common import fail, no_traceback, parse_instant, settings_or_exit
from config.runtime import open_engine
from domain.db import session_scope
from domain.enums import TaskStatus
from domain.organisations import Organisation
from domain.progress import STATUS_LABELS
from domain.roadmap import RoadmapItem
from domain.roadmaps import (
    RoadmapChoiceError,
    activate_if_new,
    roadmaps_meant,
    running_roadmaps,
)
from domain.tasks import Occurrence, Task

console = Console()
tasks_app = typer.Typer(help="Inspect tasks.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("tick")(tick)
    app.command("serve")(serve)
    app.command("demo")(demo)
    app.add_typer(tasks_app, name="tasks")


def _quiet_prefect() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    # The temporary server can take longer than Prefect's 20 s to start on a busy machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")


@no_traceback
def tick(
    at: Annotated[
        str,
        typer.Option(
            "--at", help="Instant to catch up to (YYYY-MM-DD[THH:MM]), district time; default now"
        ),
    ] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Run everything due up to an instant: open, remind, chase, deliver, summarise.

    Idempotent: running it twice for the same instant sends nothing new."""
    settings = settings_or_exit()
    when = parse_instant(at, settings) if at else datetime.now(UTC)
    open_engine(settings)
    _quiet_prefect()
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.tick import tick_flow

    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        result = tick_flow(when)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, default=str, indent=2))
        return
    local = when.astimezone(settings.tz)
    console.print(f"[bold]Шаг цикла[/bold] на {local:%d.%m.%Y %H:%M} ({settings.timezone})")
    for number, opened in result["opened"].items():
        if not opened["occurrences"]:
            continue
        windows = ", ".join(f"{o['opens']} – {o['due']}" for o in opened["occurrences"])
        console.print(f"  мероприятие {number}: открыто ({windows}), задач: {opened['tasks']}")
    notices = {KIND_LABELS.get(k, k): v for k, v in result["notices"].items() if k != "emails"}
    owed = ", ".join(f"{k}: {v}" for k, v in notices.items()) or "нет"
    console.print(f"  уведомления: {owed}; писем в очереди: {result['notices'].get('emails', 0)}")
    delivered = result["delivered"]
    console.print(
        f"  доставка: отправлено {delivered.get('sent', 0)}, "
        f"записано в файлы {delivered.get('written_to_files', 0)}, "
        f"отложено {delivered.get('retried', 0)}, не доставлено {delivered.get('failed', 0)}"
    )
    from flows.mailing import SEND_FROM

    if result["notices"].get("emails", 0) and local.time() < SEND_FROM:
        console.print(
            f"  письма дня уйдут не раньше {SEND_FROM:%H:%M}: запустите tick после этого "
            "времени (roadmap serve отправит их сам)"
        )
    if result.get("artifacts_republished"):
        console.print(
            f"  артефакты Prefect обновлены для мероприятий: {result['artifacts_republished']}"
        )
    for cycle in result["summaries"]:
        console.print(f"  аналитическая справка за {cycle} записана")


KIND_LABELS = {
    "opened": "новые задачи",
    "reminder": "напоминания",
    "chase": "просрочки",
    "escalation": "эскалации",
    "nudge": "записи в журнал",
}


def _start_prefect_server(settings_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """A real Prefect server for the UI when PREFECT_API_URL is unset."""
    env = dict(os.environ)
    env.setdefault("PREFECT_SERVER_SERVICES_SCHEDULER_MAX_SCHEDULED_TIME", "P400D")
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    log = (settings_dir / "prefect-server.log").open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"сервер Prefect завершился при запуске; см. {settings_dir / 'prefect-server.log'}"
            )
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(1)
    proc.terminate()
    raise RuntimeError("сервер Prefect не ответил за 120 с; см. prefect-server.log")


@no_traceback
def serve(
    portal: Annotated[bool, typer.Option(help="Run the answer portal beside the flows")] = True,
    host: Annotated[str, typer.Option(help="Portal host")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Portal port")] = 8080,
    prefect_port: Annotated[
        int,
        typer.Option(help="Port of the local Prefect server started when PREFECT_API_URL is unset"),
    ] = 4200,
    list_only: Annotated[bool, typer.Option("--list", help="Only print the deployments")] = False,
) -> None:
    """Register and serve one deployment per roadmap item plus chase, outbox, summary."""
    settings = settings_or_exit()
    engine = open_engine(settings)
    _quiet_prefect()
    from flows.schedules import describe
    from flows.serve import build_deployments

    now = datetime.now(UTC)
    today = now.astimezone(settings.tz).date()
    if not list_only:
        # tracking starts the first time this installation runs a roadmap
        with session_scope(engine) as session:
            for roadmap in activate_if_new(running_roadmaps(session), now):
                session.add(roadmap)
                console.print(
                    f"дорожная карта {roadmap.key}: отслеживание начато "
                    f"{now.astimezone(settings.tz):%d.%m.%Y %H:%M}"
                )
    with Session(engine) as session:
        deployments = build_deployments(session=session, settings=settings, today=today)
    table = Table("развёртывание", "расписание", "примечание")
    for d in deployments:
        schedules = ", ".join(describe(s) for s in (d.schedules or [])) or "—"
        table.add_row(d.name, schedules, (d.description or "")[:70])
    console.print(table)
    if list_only:
        return
    server = None
    if not os.environ.get("PREFECT_API_URL"):
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        console.print(f"запуск локального сервера Prefect на 127.0.0.1:{prefect_port} …")
        server = _start_prefect_server(settings.var_dir, prefect_port)
        os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{prefect_port}/api"
        console.print(f"интерфейс Prefect: http://127.0.0.1:{prefect_port}")
    from config.logs import configure_runner_logging

    configure_runner_logging(settings)  # the portal's lines, the flow runs' too
    if portal:
        import uvicorn

        from portal.app import create_app

        config = uvicorn.Config(
            create_app(settings, engine),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,  # the portal logs requests itself, link tokens masked
        )
        threading.Thread(target=uvicorn.Server(config).run, daemon=True).start()
        console.print(
            f"страница ответов: http://{host}:{port} (ссылки в письмах: {settings.portal_url})"
        )
    from prefect import serve as prefect_serve

    try:
        # stopping one serve must not pause the deployments other machines run
        prefect_serve(*deployments, pause_on_shutdown=False, print_starting_message=True)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)


@tasks_app.command("list")
@no_traceback
def tasks_list(
    item: Annotated[str | None, typer.Option(help="Only this item number (as written)")] = None,
    roadmap: Annotated[
        str | None, typer.Option("--roadmap", help="Only this roadmap (its key)")
    ] = None,
    status: Annotated[TaskStatus | None, typer.Option(help="Only this status")] = None,
    cycle: Annotated[str | None, typer.Option(help="Only this cycle, e.g. 2022/2023")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Print tasks for inspection."""
    settings = settings_or_exit()
    engine = open_engine(settings)
    with Session(engine) as session:
        try:
            meant = roadmaps_meant(session, roadmap)
        except RoadmapChoiceError as exc:
            raise fail(f"--roadmap: {exc}", 2) from None
        keys = {r.id: r.key for r in meant}
        query = (
            select(Task, Occurrence, RoadmapItem, Organisation)
            .join(Occurrence, col(Occurrence.id) == Task.occurrence_id)
            .join(RoadmapItem, col(RoadmapItem.id) == Task.item_id)
            .join(Organisation, col(Organisation.id) == Task.organisation_id, isouter=True)
            .where(col(RoadmapItem.roadmap_id).in_(list(keys)))
            .order_by(
                col(RoadmapItem.roadmap_id),
                col(RoadmapItem.number),
                col(Occurrence.opens),
                col(Task.id),
            )
        )
        if item is not None:
            query = query.where(RoadmapItem.label == item.strip().rstrip("."))
        if status is not None:
            query = query.where(Task.status == status)
        if cycle is not None:
            query = query.where(Occurrence.cycle == cycle)
        rows = session.exec(query).all()
    data: list[dict[str, Any]] = [
        {
            "id": t.id,
            "roadmap": keys[i.roadmap_id],
            "item": i.label,
            "cycle": o.cycle,
            "opens": o.opens.isoformat(),
            "due": t.due.isoformat(),
            "organisation": org.name if org else None,
            "role": t.role.value,
            "status": t.status.value,
            "submitted_at": (  # the instant in the district's time, with its offset
                t.submitted_at.astimezone(settings.tz).isoformat() if t.submitted_at else None
            ),
        }
        for t, o, i, org in rows
    ]
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    several = len(keys) > 1
    table = Table("№ задачи", "мероприятие", "год", "срок", "организация", "статус")
    for row in data:
        table.add_row(
            str(row["id"]),
            f"{row['roadmap']} / {row['item']}" if several else str(row["item"]),
            row["cycle"],
            row["due"],
            row["organisation"] or "центр",
            STATUS_LABELS[TaskStatus(row["status"])],
        )
    console.print(table)
    console.print(f"задач: {len(data)}")


@no_traceback
def demo(
    out: Annotated[Path, typer.Option(help="Folder for everything the demo writes")] = Path(
        "var/demo"
    ),
    seed: Annotated[int, typer.Option(help="Seed of the simulated heads' behaviour")] = 2022,
) -> None:
    """The main job: the whole first cycle (08.04.2022 – 31.08.2023) for a demo district,
    with a simulated clock, a real local SMTP server and simulated heads answering."""
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ["PREFECT_HOME"] = str(out / "prefect")
    _quiet_prefect()
    from flows.demo import print_result, run_demo

    try:
        # PREFECT_API_URL set: the runs go to that server (watch them live in its UI)
        result = run_demo(
            out=out,
            seed=seed,
            console=console,
            own_prefect_server="PREFECT_API_URL" not in os.environ,
        )
    except Exception as exc:
        if os.environ.get("ROADMAP_DEBUG"):
            raise
        raise fail(f"демонстрация остановилась: {type(exc).__name__}: {exc}") from None
    print_result(result, console=console)

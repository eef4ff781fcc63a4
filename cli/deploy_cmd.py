"""Production on several machines: `deploy --pool` and `worker --pool`.

Prefect is imported inside the commands, as in cycle_cmd: `demo` points PREFECT_HOME at
its own folder before Prefect reads its settings.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlmodel import Session

from cli.common import fail, no_traceback, settings_or_exit
from config.runtime import open_engine
from domain.db import session_scope
from domain.roadmaps import activate_if_new, running_roadmaps

console = Console()


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy)
    app.command("worker")(worker)


def _prefect_api_or_exit() -> str:
    """Several machines need one Prefect server: without PREFECT_API_URL a process would
    start a private temporary one that no other machine sees."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise fail(
            "PREFECT_API_URL не задан: укажите адрес общего сервера Prefect, например "
            "export PREFECT_API_URL=http://prefect.local:4200/api "
            "(сервер: prefect server start, см. README, раздел «Several machines: a work pool "
            "and workers»)",
            2,
        )
    import httpx

    try:
        httpx.get(str(url).rstrip("/") + "/health", timeout=10).raise_for_status()
    except httpx.HTTPError as exc:
        raise fail(
            f"сервер Prefect {url} не отвечает ({exc}): проверьте PREFECT_API_URL и что "
            "сервер запущен (prefect server start)"
        ) from None
    return str(url)


@no_traceback
def deploy(
    pool: Annotated[str, typer.Option("--pool", help="Prefect work pool (created if missing)")],
) -> None:
    """Register every deployment (items of every running roadmap, daily chase, outbox,
    summary, catch-up) on a Prefect process work pool with its schedules; workers run them."""
    settings = settings_or_exit()
    api = _prefect_api_or_exit()
    engine = open_engine(settings)
    from flows.pool import PoolError, deploy_to_pool
    from flows.schedules import describe
    from flows.serve import build_deployments

    now = datetime.now(UTC)
    with session_scope(engine) as session:
        for roadmap in activate_if_new(running_roadmaps(session), now):
            session.add(roadmap)
            console.print(
                f"дорожная карта {roadmap.key}: отслеживание начато "
                f"{now.astimezone(settings.tz):%d.%m.%Y %H:%M}"
            )
    with Session(engine) as session:
        try:
            deployments = build_deployments(
                session=session, settings=settings, today=now.astimezone(settings.tz).date()
            )
        except LookupError as exc:
            raise fail(str(exc)) from None
    try:
        result = asyncio.run(deploy_to_pool(pool, deployments))
    except PoolError as exc:
        raise fail(str(exc)) from None
    if result.pool_created:
        console.print(f"рабочий пул «{pool}» создан (тип process)")
    for d in deployments:
        schedules = ", ".join(describe(s) for s in (d.schedules or [])) or "по запросу"
        console.print(f"  {d.name}: {schedules}", highlight=False)
    for name in result.removed:
        console.print(f"  {name}: удалено (его больше нет в базе)", highlight=False)
    console.print(
        f"развёртываний в пуле «{pool}»: {len(result.applied)} (сервер {api}); "
        f"запустите исполнителей: roadmap worker --pool {pool}"
    )


@no_traceback
def worker(
    pool: Annotated[str, typer.Option("--pool", help="Prefect work pool to take runs from")],
    name: Annotated[
        str | None, typer.Option(help="Worker name shown in the Prefect UI (default: random)")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most this many flow runs at a time")
    ] = None,
    grace: Annotated[
        float,
        typer.Option(
            min=0,
            help="On SIGTERM, seconds to let running flows finish before handing them back",
        ),
    ] = 600.0,
) -> None:
    """Run the pool's flows on this machine with this installation's settings.

    SIGTERM (systemctl stop) or Ctrl+C: no new runs are taken, running flows finish
    (or after --grace seconds go back to the pool for another worker); nothing is paused."""
    settings = settings_or_exit()
    _prefect_api_or_exit()
    open_engine(settings)  # the schema is current before any flow touches it
    os.environ.setdefault("PREFECT_RUNNER_AUTO_INSTALL_DEPENDENCIES", "false")
    from config.logs import configure_runner_logging
    from config.settings import LogFormat
    from flows.pool import PoolError, run_worker

    # the worker's own lines (Prefect's and ours) in the installation's format, scrubbed;
    # its flow runs' processes do the same (flows/context.py)
    configure_runner_logging(settings)
    log = logging.getLogger("roadmap.worker")

    def printer(message: str) -> None:
        if settings.log_format is LogFormat.json:
            log.info(message)
        else:
            console.print(message, highlight=False, soft_wrap=True)  # one line each

    try:
        stop = asyncio.run(
            run_worker(
                pool=pool,
                name=name,
                limit=limit,
                grace_seconds=grace,
                working_dir=Path.cwd(),
                printer=printer,
            )
        )
    except PoolError as exc:
        raise fail(str(exc)) from None
    if stop.finished:
        printer("исполнитель остановлен; все его запуски завершены")
    else:
        printer(f"исполнитель остановлен; переданы другим исполнителям: {len(stop.handed_back)}")

"""`roadmap deploy --pool` and `roadmap worker --pool` against a real Prefect server on
PostgreSQL: two workers share the pool, stopping one lets its run finish, nothing pauses,
mail goes out once."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session, col, func, select

from domain.calendar import RUSSIAN_CALENDAR
from domain.db import make_engine
from domain.emails import Notice, OutgoingEmail
from domain.enums import EmailStatus
from flows.pool import module_entrypoint
from notifications.sink import free_port
from tests.conftest import ROOT, scratch_database
from tests.smtp import SmtpSink

pytestmark = [pytest.mark.prefect, pytest.mark.postgres]

POOL = "centre"
STARTED = time.monotonic()


def stage(name: str) -> None:
    print(f"{time.monotonic() - STARTED:7.1f} s  {name}", flush=True)


T = TypeVar("T")


class Server:
    def __init__(self, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.api = f"http://127.0.0.1:{port}/api"
        self.proc = proc
        self.log = log

    def wait_healthy(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.api}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"Prefect server not healthy in {timeout:.0f} s"
            time.sleep(0.5)

    def call(self, make: Callable[[Any], Any]) -> Any:
        """Run `await make(client)` against this server."""
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        async def go() -> Any:
            async with get_client() as client:
                return await make(client)

        with temporary_settings({PREFECT_API_URL: self.api}):
            return asyncio.run(go())


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[Server]:
    """`prefect server start` on a fresh PostgreSQL database, a free port, PREFECT_HOME in
    the test's folder."""
    url, drop = scratch_database("prefect_t")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-server"),
        PREFECT_API_DATABASE_CONNECTION_URL=url.replace(
            "postgresql+psycopg://", "postgresql+asyncpg://"
        ),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_SERVICES_SCHEDULER_MAX_SCHEDULED_TIME="P400D",
        PREFECT_SERVER_LOGGING_LEVEL="WARNING",
        PREFECT_UI_ENABLED="false",
    )
    log = tmp_path / "prefect-server.log"
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
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        yield Server(port, proc, log)  # starting; the test waits for it when it needs it
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        drop()


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 240) -> T:
    """Generous: on a loaded 2-core machine a flow run's process takes a minute to start."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def test_module_entrypoints_are_what_a_worker_imports() -> None:
    assert module_entrypoint("flows/items.py:item_flow", cwd=ROOT) == "flows.items.item_flow"
    assert module_entrypoint(str(ROOT / "flows/chase.py") + ":chase_flow") == (
        "flows.chase.chase_flow"
    )
    assert module_entrypoint("flows.outbox.outbox_flow") == "flows.outbox.outbox_flow"


def test_two_workers_share_the_pool_and_one_stops_gracefully(
    prefect_server: Server, tmp_path: Path
) -> None:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId
    from prefect.client.schemas.objects import StateType
    from prefect.states import Scheduled

    server = prefect_server
    final_states = {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}
    domain_url, drop_domain = scratch_database("roadmap_t")
    sink = SmtpSink().start()
    workers: list[subprocess.Popen[str]] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ROADMAP_"))}
    env.update(
        PREFECT_API_URL=server.api,
        PREFECT_HOME=str(tmp_path / "prefect-client"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_WORKER_QUERY_SECONDS="1",
        PREFECT_LOGGING_LEVEL="INFO",
        ROADMAP_DATABASE_URL=domain_url,
        ROADMAP_VAR_DIR=str(tmp_path / "var"),
        ROADMAP_SMTP_HOST="127.0.0.1",
        ROADMAP_SMTP_PORT=str(sink.port),
        ROADMAP_PORTAL_URL="http://127.0.0.1:8765",
    )

    def roadmap(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def start_worker(
        name: str, *options: str, extra: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cli.main",
                "worker",
                "--pool",
                POOL,
                "--name",
                name,
                *list(options),
            ],
            env=env | (extra or {}),
            cwd=ROOT,
            stdout=(tmp_path / f"{name}.log").open("w"),
            stderr=subprocess.STDOUT,
            text=True,
        )
        workers.append(proc)
        return proc

    def worker_log(name: str) -> str:
        return (tmp_path / f"{name}.log").read_text()

    async def deployments(client: Any) -> dict[str, Any]:
        return {d.name: d for d in await client.read_deployments()}

    def trigger(
        name: str, *, parameters: dict[str, Any] | None = None, at: datetime | None = None
    ) -> uuid.UUID:
        deployment = server.call(deployments)[name]

        async def create(client: Any) -> uuid.UUID:
            state: Any = Scheduled(scheduled_time=at) if at else None
            run = await client.create_flow_run_from_deployment(
                deployment.id, parameters=parameters, state=state
            )
            return run.id  # type: ignore[no-any-return]

        return server.call(create)  # type: ignore[no-any-return]

    def state_of(run_id: uuid.UUID) -> StateType:
        async def read(client: Any) -> StateType:
            return (await client.read_flow_run(run_id)).state.type  # type: ignore[no-any-return]

        return server.call(read)  # type: ignore[no-any-return]

    def holder_of(run_id: uuid.UUID) -> str | None:
        """The worker that took the run past Pending, once it is under way."""

        async def read(client: Any) -> str | None:
            run = await client.read_flow_run(run_id)
            if run.state.type not in {StateType.PENDING, StateType.RUNNING}:
                return None
            return run.labels.get("prefect.worker.name")  # type: ignore[no-any-return]

        return server.call(read)  # type: ignore[no-any-return]

    def finished(run_id: uuid.UUID, timeout: float = 240) -> StateType:
        def final() -> StateType | None:
            state = state_of(run_id)
            return state if state in final_states else None

        return wait_for(f"flow run {run_id} to finish", final, timeout)

    domain = make_engine(domain_url)

    def counts() -> tuple[int, int, int]:
        """(emails, of them sent, notices) in the domain database."""
        with Session(domain) as session:
            emails = session.exec(select(func.count()).select_from(OutgoingEmail)).one()
            notices = session.exec(select(func.count()).select_from(Notice)).one()
            done = session.exec(
                select(func.count())
                .select_from(OutgoingEmail)
                .where(col(OutgoingEmail.status) == EmailStatus.sent)
            ).one()
        return emails, done, notices

    # the chase and the outbox work for the next working morning: mail owed at night waits
    # for the morning, and this test may run at any hour
    tz = ZoneInfo("Europe/Moscow")
    day = datetime.now(tz).date() + timedelta(days=1)
    while not RUSSIAN_CALENDAR.is_working_day(day):
        day += timedelta(days=1)
    morning = datetime.combine(day, dt_time(10, 0), tzinfo=tz).isoformat()

    try:
        roadmap("orgs", "import", "config/demo/organisations.csv")
        stage("orgs imported")
        server.wait_healthy()
        stage("server healthy")
        deployed = roadmap("deploy", "--pool", POOL)
        stage("deployed")
        assert f"рабочий пул «{POOL}» создан" in deployed.stdout
        registered = server.call(deployments)
        items = [n for n in registered if n.startswith("item-")]
        assert len(items) == 17
        assert {"daily-chase", "outbox-delivery", "yearly-summary", "catch-up"} <= set(registered)
        for d in registered.values():
            assert d.work_pool_name == POOL and not d.paused, d.name
            assert ":" not in d.entrypoint and d.entrypoint.startswith("flows."), d.entrypoint
        chase_schedules = registered["daily-chase"].schedules
        assert chase_schedules
        assert all(s.schedule.timezone == "Europe/Moscow" for s in chase_schedules)

        started = {name: start_worker(name) for name in ("first", "second")}
        # The chase is held on a lock of the task table until its worker has been told
        # to stop, so that the stop meets a run under way however fast the run would be.
        holder = create_engine(domain_url)
        hold = holder.connect()
        held = hold.begin()
        hold.execute(text("LOCK TABLE task IN ACCESS EXCLUSIVE MODE"))
        chase = trigger("daily-chase", parameters={"at": morning})
        # whichever worker holds the chase is stopped while the run is under way. Both
        # workers may try to claim it ("submitting flow run" in both logs); the server
        # lets one through, and only that one labels the run with its name.
        busy = wait_for("a worker to take the daily chase", lambda: holder_of(chase))
        assert busy in started, busy
        other = "second" if busy == "first" else "first"
        stage(f"chase claimed by {busy}")
        started[busy].send_signal(signal.SIGTERM)
        wait_for(
            "the worker to stop taking runs",
            lambda: "новые запуски не принимаются" in worker_log(busy),
        )
        held.commit()  # the chase goes on and finishes; the worker waits for it
        hold.close()
        holder.dispose()
        assert started[busy].wait(timeout=300) == 0, worker_log(busy)
        stage(f"{busy} stopped")
        stopped = worker_log(busy)
        # (a scheduled outbox run, every 5 minutes, may be under way beside the chase)
        assert re.search(r"новые запуски не принимаются; выполняется: [1-9]", stopped), stopped
        assert "все его запуски завершены" in stopped, stopped
        # the run it had claimed finished rather than crashing or being dropped
        assert state_of(chase) == StateType.COMPLETED, stopped
        emails, done, notices = counts()
        assert emails > 0 and done == 0  # queued by the chase, for the outbox to send

        # the other worker takes what comes next: an item run now, and the outbox run
        # scheduled a few seconds ahead
        item = trigger("item-209-od-2022-13")
        outbox = trigger(
            "outbox-delivery",
            parameters={"at": morning},
            at=datetime.now(UTC) + timedelta(seconds=3),
        )
        assert finished(outbox) == StateType.COMPLETED, worker_log(other)
        assert finished(item) == StateType.COMPLETED, worker_log(other)
        assert started[other].poll() is None
        stage("item and outbox done")
        ran_other = worker_log(other)
        assert f"submitting flow run '{item}'" in ran_other
        assert f"submitting flow run '{outbox}'" in ran_other

        # every queued email went out, once
        assert counts() == (emails, emails, notices)
        assert len(sink.messages) == emails
        ids = [m.message["Message-ID"] for m in sink.messages]
        assert len(set(ids)) == len(ids) == emails
        # delivery again: everything is sent, nothing goes out twice
        assert finished(trigger("outbox-delivery", parameters={"at": morning})) == (
            StateType.COMPLETED
        )
        assert counts() == (emails, emails, notices)
        assert len(sink.messages) == emails
        stage("mail once checked")

        # stopping a worker paused nothing: every deployment keeps its schedules and the
        # scheduler keeps queueing runs for the pool
        after = server.call(deployments)
        assert set(after) == set(registered)
        for name, d in after.items():
            assert not d.paused, name
            assert len(d.schedules) == len(registered[name].schedules), name
            assert all(s.active for s in d.schedules), name

        async def upcoming(client: Any) -> int:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    deployment_id=FlowRunFilterDeploymentId(any_=[after["daily-chase"].id])
                )
            )
            return sum(1 for r in runs if r.state.type == StateType.SCHEDULED)

        assert wait_for("scheduled daily-chase runs", lambda: server.call(upcoming), 60) > 0
        stage("scheduled runs seen")

        # a worker told not to wait (--grace 0) hands its running flow back to the pool,
        # and the next worker runs it to the end. The chase is held inside its run on the
        # task table's lock again, so that it cannot finish before the worker stops it.
        started[other].send_signal(signal.SIGTERM)
        hasty = start_worker("hasty", "--grace", "0")
        assert started[other].wait(timeout=60) == 0, worker_log(other)
        lock = domain.connect()
        locked = lock.begin()
        lock.execute(text("LOCK TABLE task IN ACCESS EXCLUSIVE MODE"))
        again = trigger("daily-chase", parameters={"at": morning})
        wait_for(
            "the hasty worker to run the chase",
            lambda: state_of(again) == StateType.RUNNING,
            timeout=240,
        )
        stage("hasty worker running the chase")
        hasty.send_signal(signal.SIGTERM)
        # (with ROADMAP_LOG_FORMAT=json: its own and its flow runs' lines are JSON)
        last = start_worker("last", extra={"ROADMAP_LOG_FORMAT": "json"})
        assert hasty.wait(timeout=90) == 0, worker_log("hasty")
        # the chase among them (a scheduled outbox run may have been taken too)
        handed = re.search(
            r"переданы другим исполнителям: [1-9]\d* \(([^)]*)\)", worker_log("hasty")
        )
        assert handed and str(again) in handed[1].split(", "), worker_log("hasty")
        locked.rollback()
        lock.close()
        assert finished(again, timeout=300) == StateType.COMPLETED, worker_log("last")
        stage("handed-back run completed by another worker")
        last.send_signal(signal.SIGTERM)
        assert last.wait(timeout=60) == 0, worker_log("last")
        lines = [json.loads(line) for line in worker_log("last").splitlines() if line.strip()]
        messages = [str(line.get("message") or line.get("msg")) for line in lines]
        assert f"Worker 'last' submitting flow run '{again}'" in messages
        assert any(m.startswith("Beginning flow run 'chase") for m in messages), messages
        assert "исполнитель остановлен; все его запуски завершены" in messages
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        sink.stop()
        domain.dispose()
        drop_domain()

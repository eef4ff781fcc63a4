"""A Prefect process work pool: `roadmap deploy --pool` registers the deployments there,
`roadmap worker --pool` runs them.

Deployments point at the flows by module path (`flows.items.item_flow`), so a worker on
any machine with this package installed imports them; no image, no code upload. A worker
runs each flow in a subprocess in its own working directory with its own environment, so
the flows see that machine's ROADMAP_* settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import anyio.abc
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import (
    WorkPoolFilter,
    WorkPoolFilterName,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import ObjectNotFound
from prefect.states import Scheduled
from prefect.utilities.dispatch import register_type
from prefect.workers.process import (
    ProcessJobConfiguration,
    ProcessWorker,
    ProcessWorkerResult,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POOL_TYPE = ProcessWorker.type
ROADMAP_TAG = "roadmap"


class PoolError(Exception):
    """A work pool that cannot be used; the message says what to do."""


def module_entrypoint(entrypoint: str, *, cwd: Path | None = None) -> str:
    """`flows/items.py:item_flow` (a file path relative to the current directory, as
    `Flow.to_deployment` writes it) as the module path `flows.items.item_flow`, which a
    worker imports from the installed package wherever it runs."""
    if ":" not in entrypoint:
        return entrypoint  # already a module path
    file, _, name = entrypoint.rpartition(":")
    path = ((cwd or Path.cwd()) / file).resolve()
    try:
        relative = path.relative_to(PROJECT_ROOT)
    except ValueError:
        raise PoolError(
            f"поток {name} лежит вне проекта ({path}): исполнитель не сможет его загрузить"
        ) from None
    return ".".join((*relative.with_suffix("").parts, name))


def for_pool(deployments: Sequence[RunnerDeployment]) -> list[RunnerDeployment]:
    """The deployments `build_deployments` makes for `serve`, pointed at module paths."""
    out: list[RunnerDeployment] = []
    for deployment in deployments:
        if deployment.entrypoint is None:
            raise PoolError(f"у развёртывания {deployment.name} нет точки входа (entrypoint)")
        copy = deployment.model_copy(deep=True)
        copy.entrypoint = module_entrypoint(deployment.entrypoint)
        out.append(copy)
    return out


@dataclass
class DeployResult:
    pool_created: bool
    applied: list[str]
    removed: list[str] = field(default_factory=list)


async def ensure_pool(name: str) -> bool:
    """Create the process pool `name` if it does not exist; True when created."""
    async with get_client() as client:
        try:
            pool = await client.read_work_pool(name)
        except ObjectNotFound:
            await client.create_work_pool(
                WorkPoolCreate(
                    name=name,
                    type=POOL_TYPE,
                    base_job_template=ProcessWorker.get_default_base_job_template(),
                ),
            )
            return True
    if pool.type != POOL_TYPE:
        raise PoolError(
            f"рабочий пул «{name}» типа {pool.type}, а нужен {POOL_TYPE}: выберите другое имя "
            f"или создайте пул заново: prefect work-pool create {name} --type {POOL_TYPE}"
        )
    return False


async def deploy_to_pool(pool: str, deployments: Sequence[RunnerDeployment]) -> DeployResult:
    """Register every deployment on the pool with its schedules, unpaused. Deployments of
    this project left on the pool from an earlier deploy (a retired roadmap, a removed
    item) are deleted, so that the pool runs what the database says."""
    created = await ensure_pool(pool)
    applied: list[str] = []
    for deployment in for_pool(deployments):
        deployment.paused = False
        await deployment.aapply(work_pool_name=pool)
        applied.append(deployment.name)
    removed: list[str] = []
    wanted = {(d.flow_name, d.name) for d in deployments}
    async with get_client() as client:
        on_pool = await client.read_deployments(
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[pool])),
        )
        flows = {d.flow_id for d in on_pool}
        names = {f: (await client.read_flow(f)).name for f in flows}
        for existing in on_pool:
            if ROADMAP_TAG not in (existing.tags or []):
                continue
            if (names[existing.flow_id], existing.name) not in wanted:
                await client.delete_deployment(existing.id)
                removed.append(existing.name)
    return DeployResult(pool_created=created, applied=applied, removed=removed)


class _PidRecorder(anyio.abc.TaskStatus[int]):
    """Passes the flow run process's id on and remembers it."""

    def __init__(self, inner: anyio.abc.TaskStatus[int], record: Callable[[int], None]) -> None:
        self._inner = inner
        self._record = record

    def started(self, value: int | None = None) -> None:
        if value is not None:
            self._record(value)
        self._inner.started(value)  # type: ignore[arg-type]


# Subclassing a worker registers it under its pool type, `process`, in place of
# ProcessWorker (with a warning); ProcessWorker is put back right after.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")

    class RoadmapWorker(ProcessWorker):
        """A process worker that can drain: once `drain()` is called it claims no new runs,
        and `busy` says how many it still runs. Flow runs start in `working_dir` (the
        directory `roadmap worker` was started in) unless the pool sets another."""

        def __init__(self, *args: Any, working_dir: Path, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._working_dir = working_dir
            self._draining = False
            self.running: dict[UUID, int | None] = {}
            self._handing_back: set[UUID] = set()

        def drain(self) -> None:
            self._draining = True

        @property
        def busy(self) -> int:
            return len(self.running.keys() | self._submitting_flow_run_ids)

        async def get_and_submit_flow_runs(self) -> list[FlowRun]:
            if self._draining:
                return []
            return await super().get_and_submit_flow_runs()

        async def run(
            self,
            flow_run: FlowRun,
            configuration: ProcessJobConfiguration,
            task_status: anyio.abc.TaskStatus[int] | None = None,
        ) -> ProcessWorkerResult:
            if configuration.working_dir is None:
                configuration.working_dir = self._working_dir
            self.running[flow_run.id] = None

            def record(pid: int) -> None:
                self.running[flow_run.id] = pid

            status = _PidRecorder(task_status or anyio.TASK_STATUS_IGNORED, record)
            try:
                return await super().run(flow_run, configuration, status)
            finally:
                self.running.pop(flow_run.id, None)

        async def _propose_crashed_state(
            self, flow_run: FlowRun, message: str, client: PrefectClient | None = None
        ) -> None:
            if flow_run.id in self._handing_back:
                return  # stopped on purpose: it goes back to the pool, not to Crashed
            await super()._propose_crashed_state(flow_run, message, client)

        async def hand_back(self) -> list[UUID]:
            """Stop the runs still going and put them back on the pool as scheduled now,
            for another worker; our flows are catch-ups, so running one again is
            harmless. A run that completed meanwhile stays completed."""
            runs = dict(self.running)
            self._handing_back |= runs.keys()
            # Prefect's SIGTERM handler raises in whatever the run's process is doing; raised
            # inside a weakref callback or a __del__, it is swallowed and the run goes on. So
            # the signal is repeated while the process lives, and a process that outlives
            # the deadline is killed: a run goes back to the pool only once it has stopped.
            deadline = time.monotonic() + HAND_BACK_SECONDS
            next_signal = 0.0
            while self.running.keys() & runs.keys() and time.monotonic() < deadline:
                if time.monotonic() >= next_signal:
                    _signal_runs(runs, self.running, signal.SIGTERM)
                    next_signal = time.monotonic() + 1.0
                await asyncio.sleep(0.2)
            if self.running.keys() & runs.keys():
                _signal_runs(runs, self.running, signal.SIGKILL)
                kill_deadline = time.monotonic() + 10
                while self.running.keys() & runs.keys() and time.monotonic() < kill_deadline:
                    await asyncio.sleep(0.2)
            handed: list[UUID] = []
            async with get_client() as client:
                for run_id in runs:
                    state = (await client.read_flow_run(run_id)).state
                    if state is not None and state.type is StateType.COMPLETED:
                        continue
                    await client.set_flow_run_state(
                        run_id, Scheduled(name="AwaitingRetry"), force=True
                    )
                    handed.append(run_id)
            return handed

    register_type(ProcessWorker)


HAND_BACK_SECONDS = 30  # a run's process has this long to stop after SIGTERM, then is killed


def _signal_runs(runs: Iterable[UUID], running: dict[UUID, int | None], sig: int) -> None:
    """`sig` to the process group of each of `runs` still running."""
    for run_id in runs:
        pid = running.get(run_id)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)


@dataclass
class WorkerStop:
    finished: bool  # every run it had finished before it stopped
    handed_back: list[UUID]


async def run_worker(
    *,
    pool: str,
    name: str | None,
    limit: int | None,
    grace_seconds: float,
    working_dir: Path,
    printer: Callable[[str], None],
) -> WorkerStop:
    """Run a worker until SIGTERM or SIGINT. Then it takes no new runs and waits up to
    `grace_seconds` for its running flows to finish; what still runs is handed back to the
    pool (scheduled again, for another worker). A second signal hands back at once.
    Nothing is paused: the deployments keep their schedules for the other workers."""
    async with get_client() as client:
        try:
            found = await client.read_work_pool(pool)
        except ObjectNotFound:
            raise PoolError(
                f"рабочего пула «{pool}» нет: сначала выполните roadmap deploy --pool {pool}"
            ) from None
    if found.type != POOL_TYPE:
        raise PoolError(f"рабочий пул «{pool}» типа {found.type}, а нужен {POOL_TYPE}")
    worker = RoadmapWorker(
        work_pool_name=pool,
        name=name,
        limit=limit,
        create_pool_if_not_found=False,
        working_dir=working_dir,
    )
    loop = asyncio.get_running_loop()
    signals = 0
    stop = asyncio.Event()
    hurry = asyncio.Event()

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        (stop if signals == 1 else hurry).set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    started = asyncio.ensure_future(worker.start(printer=printer))
    waiting = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({started, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if started.done():
            started.result()  # the worker stopped by itself: raise its error
            return WorkerStop(finished=True, handed_back=[])
        worker.drain()
        printer(
            f"остановка: новые запуски не принимаются; выполняется: {worker.busy}, "
            f"ждём до {grace_seconds:.0f} с"
        )
        deadline = time.monotonic() + grace_seconds
        while worker.busy and time.monotonic() < deadline and not hurry.is_set():
            await asyncio.sleep(0.2)
        handed: list[UUID] = []
        if worker.busy:
            handed = await worker.hand_back()
            printer(
                f"не завершились и переданы другим исполнителям: {len(handed)} "
                f"({', '.join(str(run_id) for run_id in handed)})"
            )
        return WorkerStop(finished=not handed, handed_back=handed)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        waiting.cancel()
        if not started.done():
            started.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await started

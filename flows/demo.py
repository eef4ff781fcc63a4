"""`roadmap demo`: the first cycle of the demo district, with a simulated clock.

The engine runs through `tick` on every day something is owed (openings, reminders,
chases, escalations, nudges, mail waiting); simulated heads answer through the same
code path as the answer page (`services.answers.submit_answer`). Their behaviour is
seeded, and recorded in the result so that tests can check the summary against it.
"""

from __future__ import annotations

import os
import random
import shutil
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlmodel import Session, col, func, select

from config.runtime import cached_engine, open_engine
from config.settings import Settings, get_settings
from domain.calendar import RUSSIAN_CALENDAR
from domain.db import session_scope
from domain.emails import Notice, OutgoingEmail
from domain.enums import EmailStatus, EvidenceFieldKind, NoticeKind, Role
from domain.opening import item_schedule
from domain.org_import import decode_csv_bytes, parse_organisations_csv, upsert_organisations
from domain.organisations import Organisation
from domain.reminders import earliest_look, looks_due, owed_notices
from domain.roadmap import RoadmapItem
from domain.roadmaps import activate, choose_roadmap
from domain.tasks import Occurrence, Task
from flows.context import policy
from flows.temporary_server import TemporaryPrefectServer, flush_prefect_workers
from notifications.sink import MailFolderSinkProcess

DEMO_ORGS = Path(__file__).resolve().parent.parent / "config" / "demo" / "organisations.csv"
DEMO_END = date(2023, 8, 31)
CYCLE = "2022/2023"
TICK_AT = time(9, 0)
ANSWER_AT = time(14, 0)
EVENING = time(18, 0)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


class Behaviour(StrEnum):
    on_time = "on_time"  # answers on the day the opening email or the reminder arrives
    late = "late"  # answers on the day the first or second chase arrives
    never = "never"
    log = "log"  # a continuous task: entries in some quarters, or when nudged


@dataclass
class PlannedAnswer:
    """How a simulated head treats one task, and the days they answered it."""

    task_id: int
    item_number: int
    organisation: str | None
    behaviour: Behaviour
    trigger: str  # "opened", "reminder", "chase-1", "chase-2", "" (never / log)
    opens: date
    due: date
    diligence: float
    done: list[date] = field(default_factory=list)


@dataclass
class DemoResult:
    out: Path
    database: Path
    mail_dir: Path
    mail_count: int
    summary_files: dict[str, str]
    plans: list[PlannedAnswer]
    ticks: int
    prefect_home: Path
    seconds: float


def _instant(day: date, at: time, settings: Settings) -> datetime:
    return datetime.combine(day, at, tzinfo=settings.tz).astimezone(UTC)


def _quarter_of(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3


class Heads:
    """The simulated people. They act on the mail they get, as real heads do: each
    organisation has a diligence; each task a behaviour drawn from it when it opens."""

    def __init__(self, seed: int, organisations: list[Organisation], reminder_before: int) -> None:
        self.rng = random.Random(seed)
        self.reminder_before = reminder_before
        self.diligence = {o.id: self.rng.uniform(0.55, 0.97) for o in organisations}
        self.plans: dict[int, PlannedAnswer] = {}

    def plan(
        self,
        task: Task,
        occurrence: Occurrence,
        item: RoadmapItem,
        org: Organisation | None,
        opened_on: date,
    ) -> PlannedAnswer:
        assert task.id is not None
        p = 0.97 if org is None else self.diligence[task.organisation_id]
        name = org.name if org else None
        if occurrence.continuous:
            behaviour, trigger = Behaviour.log, ""
        elif org is None:
            behaviour, trigger = Behaviour.on_time, "opened"
        else:
            roll = self.rng.random()
            if roll < p * 0.8:
                reminder_day = RUSSIAN_CALENDAR.add_working_days(task.due, -self.reminder_before)
                reminded = opened_on < reminder_day
                trigger = "reminder" if reminded and self.rng.random() < 0.5 else "opened"
                behaviour = Behaviour.on_time
            elif roll < p:
                behaviour, trigger = Behaviour.late, f"chase-{self.rng.randint(1, 2)}"
            else:
                behaviour, trigger = Behaviour.never, ""
        plan = PlannedAnswer(
            task.id, item.number, name, behaviour, trigger, occurrence.opens, task.due, p
        )
        self.plans[task.id] = plan
        return plan

    def answers_today(
        self, day: date, mail: dict[int, list[tuple[NoticeKind, int]]]
    ) -> list[PlannedAnswer]:
        """The tasks answered today, given the notices each task's people got today."""
        chosen = []
        for task_id, plan in self.plans.items():
            got = mail.get(task_id, [])
            if plan.behaviour is Behaviour.log:
                if not plan.opens <= day <= plan.due:
                    continue  # a log takes entries while its year runs
                p = plan.diligence
                this_quarter = any(_quarter_of(d) == _quarter_of(day) for d in plan.done)
                nudged = any(kind is NoticeKind.nudge for kind, _ in got)
                if (nudged and self.rng.random() < 0.8) or (
                    not this_quarter and self.rng.random() < 0.12 * p
                ):
                    chosen.append(plan)
            elif not plan.done and plan.trigger:
                triggers = {
                    "opened"
                    if kind is NoticeKind.opened
                    else "reminder"
                    if kind is NoticeKind.reminder
                    else f"chase-{step % 10}"
                    if kind is NoticeKind.chase
                    else ""
                    for kind, step in got
                }
                if plan.trigger in triggers:
                    chosen.append(plan)
        return chosen


def sample_answer(
    item: RoadmapItem, org: Organisation | None, day: date, rng: random.Random
) -> tuple[dict[str, str], list[Any]]:
    """A plausible answer to an item's evidence form, as a head would type it."""
    from services.answers import UploadedFile

    values: dict[str, str] = {}
    files: list[UploadedFile] = []
    for spec in item.evidence.fields:
        if spec.kind is EvidenceFieldKind.number:
            values[spec.name] = str(rng.randint(1, 9))
        elif spec.kind is EvidenceFieldKind.date:
            values[spec.name] = day.strftime("%d.%m.%Y")
        elif spec.kind is EvidenceFieldKind.url:
            values[spec.name] = f"https://org{org.id if org else 0}.levokumskoe.example/mentor"
        elif spec.kind is EvidenceFieldKind.file:
            if spec.required or rng.random() < 0.5:
                files.append(UploadedFile(spec.name, f"{spec.name}.pdf", PDF, "application/pdf"))
        elif spec.required or rng.random() < 0.3:
            values[spec.name] = (
                f"Выполнено {day:%d.%m.%Y}: {item.title[:60].lower()}"
                if spec.kind is EvidenceFieldKind.long_text
                else f"№ {rng.randint(10, 99)}"
            )
    return values, files


def _reset(out: Path, *, own_prefect_server: bool) -> None:
    """Start afresh: the demo's database and files, and, when the demo runs its own
    Prefect server on its own folder's database (as `roadmap demo` does), Prefect's
    history too, so the UI shows this run's flow runs and artifacts only (the server then
    starts from the installation's migrated copy)."""
    for name in ("roadmap.db", "roadmap.db-wal", "roadmap.db-shm"):
        (out / name).unlink(missing_ok=True)
    for name in ("mail", "outbox", "summary", "summaries", "uploads"):
        shutil.rmtree(out / name, ignore_errors=True)
    home = os.environ.get("PREFECT_HOME")
    if own_prefect_server and home and Path(home).resolve() == (out / "prefect").resolve():
        shutil.rmtree(out / "prefect", ignore_errors=True)


def _configure(out: Path, sink: MailFolderSinkProcess) -> Settings:
    os.environ.update(
        {
            "ROADMAP_DATABASE_URL": f"sqlite:///{(out / 'roadmap.db').as_posix()}",
            "ROADMAP_VAR_DIR": str(out),
            "ROADMAP_SMTP_HOST": sink.host,
            "ROADMAP_SMTP_PORT": str(sink.port),
            "ROADMAP_SMTP_TLS": "none",
        }
    )
    for var in ("ROADMAP_SMTP_USERNAME", "ROADMAP_SMTP_PASSWORD"):
        os.environ.pop(var, None)
    get_settings.cache_clear()
    cached_engine.cache_clear()
    return get_settings()


class Lookout:
    """Whether a tick at 09:00 on a day has anything to do: a window opening, mail
    waiting, or a notice owed. Days without are skipped (the demo jumps to the next
    instant at which anything is owed). Whether a notice is owed is the engine's own
    answer: the indexed `next_notice_on` read (`looks_due`), then, for the tasks it
    finds, `owed_notices` itself; when that owes nothing, the next looks it computed are
    committed, exactly as the day's tick would have, and the tick is skipped."""

    def __init__(self, session: Session, settings: Settings, start: date, end: date) -> None:
        self.settings = settings
        self.rules = policy(settings)
        self.opening_days: set[date] = set()
        for item in session.exec(select(RoadmapItem)).all():
            if not item.needs_dates:
                windows = item_schedule(item).occurrences(start, end)
                self.opening_days.update(w.opens for w in windows)

    def has_work(self, session: Session, day: date) -> bool:
        if day in self.opening_days:
            return True
        next_mail = session.exec(
            select(func.min(OutgoingEmail.next_attempt_at)).where(
                col(OutgoingEmail.status).in_([EmailStatus.queued, EmailStatus.retry])
            )
        ).one()
        if next_mail is not None and next_mail <= _instant(day, TICK_AT, self.settings):
            return True
        if not looks_due(session, day):
            return False
        owed = owed_notices(
            session=session,
            today=day,
            policy=self.rules,
            centre_email=self.settings.centre_email,
            tz=self.settings.tz,
        )
        if owed:
            session.rollback()  # the tick looks again and sends them
            return True
        session.commit()
        return False

    def quiet_until(self, session: Session, after: date) -> date:
        """The first day from `after` that may have work: nothing happens on the days
        before it (no opening, no mail due, no task due a look), so the simulation does
        not ask about each of them. The same indexed reads as `has_work`."""
        candidates = [d for d in self.opening_days if d >= after]
        next_mail = session.exec(
            select(func.min(OutgoingEmail.next_attempt_at)).where(
                col(OutgoingEmail.status).in_([EmailStatus.queued, EmailStatus.retry])
            )
        ).one()
        if next_mail is not None:
            local = next_mail.astimezone(self.settings.tz)
            mail_day = local.date() if local.time() <= TICK_AT else local.date() + timedelta(1)
            candidates.append(max(mail_day, after))
        look = earliest_look(session, after)
        if look is not None:
            candidates.append(look)
        return min(candidates, default=date.max)


def _plan_new_tasks(session: Session, heads: Heads, settings: Settings) -> None:
    rows = session.exec(
        select(Task, Occurrence, RoadmapItem)
        .join(Occurrence, col(Occurrence.id) == Task.occurrence_id)
        .join(RoadmapItem, col(RoadmapItem.id) == Task.item_id)
        .where(col(Task.id).not_in(list(heads.plans) or [0]))
        .order_by(col(Task.id))
    ).all()
    orgs = {o.id: o for o in session.exec(select(Organisation)).all()}
    for task, occurrence, item in rows:
        org = orgs.get(task.organisation_id) if task.organisation_id else None
        heads.plan(task, occurrence, item, org, task.opened_at.astimezone(settings.tz).date())


def _mail_of_the_day(session: Session, day: date) -> dict[int, list[tuple[NoticeKind, int]]]:
    got: dict[int, list[tuple[NoticeKind, int]]] = {}
    for task_id, kind, step in session.exec(
        select(Notice.task_id, Notice.kind, Notice.step).where(Notice.on_day == day)
    ).all():
        got.setdefault(task_id, []).append((NoticeKind(kind), step))
    return got


def _answer(day: date, heads: Heads, settings: Settings) -> int:
    """Simulated heads answer at 14:00 through the answer page's own code path."""
    from services.answers import submit_answer
    from services.reviews import accept_task

    now = _instant(day, ANSWER_AT, settings)
    engine = cached_engine(settings.effective_database_url)
    with session_scope(engine) as session:
        due_today = heads.answers_today(day, _mail_of_the_day(session, day))
        if not due_today:
            return 0
        orgs = {o.id: o for o in session.exec(select(Organisation)).all()}
        for plan in due_today:
            task = session.get(Task, plan.task_id)
            assert task is not None
            item = session.get(RoadmapItem, task.item_id)
            assert item is not None
            org = orgs.get(task.organisation_id) if task.organisation_id else None
            values, files = sample_answer(item, org, day, heads.rng)
            by = (
                settings.centre_email
                if org is None
                else (
                    org.curator_email
                    if task.role is Role.curator and org.curator_email
                    else org.head_email
                )
            )
            submit_answer(
                session=session,
                task=task,
                values=values,
                files=files,
                by=by,
                settings=settings,
                now=now,
            )
            if plan.behaviour is not Behaviour.log:
                accept_task(
                    session=session,
                    task=task,
                    admin_email=settings.centre_email,
                    now=now + timedelta(hours=2),
                )
            plan.done.append(day)
    return len(due_today)


def run_demo(
    *, out: Path, seed: int, console: Console, own_prefect_server: bool = True
) -> DemoResult:
    """The whole first cycle. With `own_prefect_server` the demo starts a temporary
    Prefect server of its own at once (it boots while the district is set up);
    otherwise the runs go to the Prefect API already configured (PREFECT_API_URL, a
    test harness)."""
    started = datetime.now(UTC)
    _reset(out, own_prefect_server=own_prefect_server)
    prefect_server = TemporaryPrefectServer() if own_prefect_server else None
    with (
        prefect_server or nullcontext(),
        MailFolderSinkProcess(out / "mail") as sink,
    ):
        from prefect.context import SyncClientContext
        from prefect.settings import (
            PREFECT_API_URL,
            PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
            temporary_settings,
        )

        from flows.chase import chase_flow
        from flows.outbox import outbox_flow
        from flows.summary import summary_flow
        from flows.tick import tick_flow

        settings = _configure(out, sink)
        engine = open_engine(settings)
        rows, errors = parse_organisations_csv(decode_csv_bytes(DEMO_ORGS.read_bytes()))
        if errors:
            raise ValueError(f"{DEMO_ORGS}: {errors[0]}")
        with session_scope(engine) as session:
            upsert_organisations(session=session, rows=rows, now=started)
            roadmap = choose_roadmap(session, None)
            # the demo tracks its district from the order date on
            activate(roadmap, datetime.combine(roadmap.order_date, time(0, 0), tzinfo=settings.tz))
            session.add(roadmap)
            organisations = list(session.exec(select(Organisation)).all())
        heads = Heads(seed, organisations, settings.reminder_working_days_before)
        with Session(engine) as session:
            lookout = Lookout(session, settings, roadmap.order_date, DEMO_END)
        engine = cached_engine(settings.effective_database_url)
        days = [
            roadmap.order_date + timedelta(days=n)
            for n in range((DEMO_END - roadmap.order_date).days + 1)
        ]
        console.print("[bold]roadmap demo[/bold]: запуск Prefect (временный локальный сервер) …")
        api = {PREFECT_API_URL: prefect_server.wait_ready()} if prefect_server else {}

        def simulate() -> tuple[int, dict[str, str]]:
            ticks = deliveries = mails = 0
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} дн."),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                console=console,
                transient=False,
                refresh_per_second=2,  # redrawing holds the interpreter the runs need
            ) as progress:
                bar = progress.add_task("симуляция", total=len(days), info="")
                quiet_until = days[0]
                for day in days:
                    work = False
                    if day >= quiet_until:
                        with Session(engine) as session:
                            work = lookout.has_work(session, day)
                            if not work:
                                quiet_until = lookout.quiet_until(session, day + timedelta(1))
                    if work:
                        # nobody watches the dashboard mid-simulation: the last chase
                        # publishes every item's artifacts once, at the end
                        tick_flow(
                            _instant(day, TICK_AT, settings), summarise=False, republish=False
                        )
                        ticks += 1
                        with Session(engine) as session:
                            _plan_new_tasks(session, heads, settings)
                        if _answer(day, heads, settings):
                            # the receipts leave with the outbox run, as in production
                            outbox_flow(_instant(day, EVENING, settings), republish=False)
                            deliveries += 1
                        mails = sink.count  # a directory listing: only when mail may have come
                    progress.update(
                        bar,
                        advance=1,
                        description=f"{day:%d.%m.%Y}",
                        info=f"tick: {ticks}, писем: {mails}",
                    )
            console.print("панель мониторинга и аналитическая справка …")
            end = _instant(DEMO_END, EVENING, settings)
            chase_flow(end)
            files = summary_flow(CYCLE, end, str(out / "summary"))
            tick_flow(end + timedelta(minutes=5), summarise=False, republish=False)
            return ticks + 1, files

        # One API client (and its kept-alive connection) for every run of the simulation,
        # rather than a new client, TLS context and connection per flow run.
        with (
            temporary_settings({**api, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
            SyncClientContext.get_or_create(),
        ):
            flush_prefect_workers()  # a worker started for another server is not reused
            try:
                ticks, files = simulate()
            finally:
                flush_prefect_workers()
        mail_count = sink.count
    return DemoResult(
        out=out,
        database=out / "roadmap.db",
        mail_dir=out / "mail",
        mail_count=mail_count,
        summary_files=files,
        plans=list(heads.plans.values()),
        ticks=ticks,
        prefect_home=Path(os.environ.get("PREFECT_HOME", "~/.prefect")),
        seconds=(datetime.now(UTC) - started).total_seconds(),
    )


BEHAVIOUR_LABELS = {
    Behaviour.on_time: "в срок",
    Behaviour.late: "после напоминаний о просрочке",
    Behaviour.never: "не ответили",
    Behaviour.log: "журналы (постоянные мероприятия)",
}


def print_result(result: DemoResult, *, console: Console) -> None:
    counts = Counter(plan.behaviour for plan in result.plans)
    behaviours = ", ".join(f"{BEHAVIOUR_LABELS[b]}: {n}" for b, n in counts.items())
    files = "\n".join(f"  {fmt}: {path}" for fmt, path in sorted(result.summary_files.items()))
    console.print(
        Panel.fit(
            f"[bold]Демонстрация завершена[/bold] за {result.seconds:.0f} с: "
            f"08.04.2022 – 31.08.2023, шагов цикла (tick): {result.ticks}\n"
            f"задач: {len(result.plans)} ({behaviours})\n"
            f"писем принял локальный SMTP-сервер: {result.mail_count}, они в {result.mail_dir}\n"
            f"аналитическая справка:\n{files}\n"
            f"база данных: {result.database}\n"
            f"задачи: ROADMAP_DATABASE_URL=sqlite:///{result.database} ./run tasks list\n"
            f"запуски и артефакты в интерфейсе Prefect:\n"
            f"  PREFECT_HOME={result.prefect_home} .venv/bin/prefect server start\n"
            f"  затем откройте http://127.0.0.1:4200",
            title="roadmap demo",
        )
    )

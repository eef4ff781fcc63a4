"""`GET /healthz`: is the database reachable, is its schema current, is mail moving.

JSON for monitoring; 200 when all is well, 503 otherwise, with the problems in Russian.
Nothing secret is shown (no URLs, no passwords, no addresses).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, func, text
from sqlmodel import Session, col, select

from domain.emails import OutboxRun, OutgoingEmail
from domain.enums import EmailStatus
from services.undelivered import not_resent

router = APIRouter(tags=["health"])

# The outbox runs every few minutes and works until nothing is due: mail due for longer
# than this means no deliverer is running (or none keeps up).
MAIL_STUCK_AFTER = timedelta(minutes=30)


def schema_heads(engine: Engine) -> tuple[set[str], set[str]]:
    """(the database's migration revisions, the newest ones the code has)."""
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from domain.db import alembic_config

    script = ScriptDirectory.from_config(
        alembic_config(engine.url.render_as_string(hide_password=False))
    )
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current, set(script.get_heads())


def unreachable_reason(exc: BaseException, engine: Engine, *, named: bool) -> str:
    """Why the database cannot be reached, in Russian, from the driver's message; with
    `named` (for `roadmap check`, read by the administrator) it names the server, the
    user and the database, never the password; without (for /healthz) it names nothing."""
    message = str(getattr(exc, "orig", None) or exc)
    url = engine.url
    where = f" {url.host}:{url.port or 5432}" if named and url.host else ""
    if "password authentication failed" in message or "no password supplied" in message:
        user = f" «{url.username}»" if named and url.username else ""
        return f"сервер{where} не принял пользователя{user} или его пароль"
    if "does not exist" in message and "database" in message:
        name = f" «{url.database}»" if named and url.database else ""
        return f"базы данных{name} на сервере{where} нет"
    if "Connection refused" in message:
        return f"сервер{where} не принимает соединения (не запущен или другой порт)"
    if "resolve host" in message or "translate host name" in message:
        host = f" «{url.host}»" if named and url.host else ""
        return f"сервер{host} не найден (нет такого имени в DNS)"
    if "timeout" in message.lower():
        return f"сервер{where} не ответил вовремя"
    if "unable to open database file" in message:
        path = f" {url.database}" if named and url.database else ""
        return f"не удаётся открыть или создать файл базы{path}"
    return f"{type(exc).__name__}"


def database_problems(engine: Engine, *, named: bool = False) -> tuple[list[str], dict[str, Any]]:
    """What is wrong with the database (in Russian) and what was found; `named`: see
    `unreachable_reason`."""
    found: dict[str, Any] = {"reachable": False}
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        reason = unreachable_reason(exc, engine, named=named)
        return [f"база данных недоступна: {reason}; проверьте ROADMAP_DATABASE_URL"], found
    found["reachable"] = True
    current, heads = schema_heads(engine)
    found["schema"] = {"current": sorted(current), "newest": sorted(heads)}
    if current != heads:
        return [
            "схема базы данных не последней версии "
            f"({', '.join(sorted(current)) or 'пустая'} вместо {', '.join(sorted(heads))}): "
            "запустите любую команду roadmap (например, roadmap orgs list): она обновит схему"
        ], found
    return [], found


def outbox_status(engine: Engine, now: datetime) -> dict[str, Any]:
    with Session(engine) as session:
        last = session.exec(
            select(OutboxRun).order_by(col(OutboxRun.finished_at).desc()).limit(1)
        ).first()
        counts = dict(
            session.exec(
                select(OutgoingEmail.status, func.count())
                .where(
                    col(OutgoingEmail.status).in_([EmailStatus.retry, EmailStatus.failed]),
                    not_resent(),  # a failure the centre fixed and resent is over
                )
                .group_by(OutgoingEmail.status)
            ).all()
        )
        due, oldest = session.exec(
            select(func.count(), func.min(OutgoingEmail.next_attempt_at))
            .select_from(OutgoingEmail)
            .where(
                col(OutgoingEmail.status).in_([EmailStatus.queued, EmailStatus.retry]),
                col(OutgoingEmail.next_attempt_at) <= now,
            )
        ).one()
    status: dict[str, Any] = {
        "last_run": None,
        "in_retry": int(counts.get(EmailStatus.retry, 0)),
        "failed": int(counts.get(EmailStatus.failed, 0)),
        "due_now": int(due),
        # how long the longest-waiting due message has been due (0: none is due)
        "waiting_seconds": _seconds_since(oldest, now),
    }
    if last is not None:
        status["last_run"] = {
            "finished_at": last.finished_at.isoformat(),
            "age_seconds": max(0, round((now - last.finished_at).total_seconds())),
            "sent": last.sent,
            "retried": last.retried,
            "failed": last.failed,
            "written_to_files": last.written_to_files,
            "problem": last.problem,
        }
    return status


def _seconds_since(moment: datetime | None, now: datetime) -> int:
    if moment is None:
        return 0
    if moment.tzinfo is None:  # SQLite hands back naive UTC through an aggregate
        moment = moment.replace(tzinfo=UTC)
    return max(0, round((now - moment).total_seconds()))


def health(engine: Engine, now: datetime) -> tuple[bool, dict[str, Any]]:
    problems, database = database_problems(engine)
    body: dict[str, Any] = {"database": database}
    if database.get("reachable") and not problems:
        outbox = outbox_status(engine, now)
        body["outbox"] = outbox
        last = outbox["last_run"]
        if last is not None and last["problem"]:
            problems.append(f"последняя доставка почты не удалась: {last['problem']}")
        elif outbox["waiting_seconds"] > MAIL_STUCK_AFTER.total_seconds():
            problems.append(_stuck(outbox))
    body["ok"] = not problems
    body["problems"] = problems
    return not problems, body


def _stuck(outbox: dict[str, Any]) -> str:
    minutes = outbox["waiting_seconds"] // 60
    last = outbox["last_run"]
    since = (
        f"последняя доставка закончилась {last['age_seconds'] // 60} мин назад"
        if last is not None
        else "доставка ещё ни разу не запускалась"
    )
    return (
        f"письма ждут отправки {minutes} мин (сейчас к отправке: {outbox['due_now']}); "
        f"{since}: проверьте, что работает roadmap serve или воркер (roadmap worker)"
    )


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    portal = request.app.state.portal
    ok, body = health(portal.engine, portal.now())
    return JSONResponse(body, status_code=200 if ok else 503)

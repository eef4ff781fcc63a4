"""A mail server that keeps refusing connections: a wrong host or port, not a restart.

One refused connection is a temporary failure (the relay is restarting); when every
outbox run in a row has been refused for `REFUSED_RUNS` runs or for `REFUSED_FOR`, the
run ends Failed with a reason naming ROADMAP_SMTP_HOST and ROADMAP_SMTP_PORT (and
`/healthz` shows it). Runs that had nothing to send do not break the streak; a run that
reached the server does."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from config.settings import Settings
from domain.emails import OutboxRun
from domain.formatting import local_time

REFUSED_RUNS = 3  # this run and the two before it
REFUSED_FOR = timedelta(minutes=30)
LOOK_BACK = 200  # runs read back at most


def refused_connection(exc: BaseException) -> bool:
    """True when connecting failed because nothing listens there (ECONNREFUSED)."""
    causes = [exc, exc.__cause__, exc.__context__]
    return any(isinstance(c, ConnectionRefusedError) for c in causes)


def refusal_problem(session: Session, settings: Settings, started: datetime) -> str:
    """The reason to fail this run (whose connections were all refused), or "" while the
    streak is still short enough to be a server restarting."""
    runs = 1
    since = started
    earlier = session.exec(
        select(OutboxRun)
        .where(col(OutboxRun.started_at) < started)
        .order_by(col(OutboxRun.started_at).desc())
        .limit(LOOK_BACK)
    ).all()
    for run in earlier:
        if run.connection_refused:
            runs += 1
            since = run.started_at
        elif run.sent or run.retried or run.failed or run.written_to_files or run.problem:
            break  # the server answered (or something else went wrong): the streak ends
    if runs < REFUSED_RUNS and started - since < REFUSED_FOR:
        return ""
    return (
        f"почтовый сервер {settings.smtp_host}:{settings.smtp_port} отказывает в соединении "
        f"при каждой отправке с {local_time(since, settings.tz)} (запусков подряд: {runs}): "
        "проверьте ROADMAP_SMTP_HOST и ROADMAP_SMTP_PORT"
    )

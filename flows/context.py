"""What every flow needs: settings, the database, the district's date.

Every flow is declared with `persist_result=False`: what a run did is in our own tables,
and Prefect then need not ask its server for a result store on every run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy import Engine

from config.logs import configure_logging
from config.runtime import cached_engine
from config.settings import LogFormat, Settings, SettingsError, get_settings, load_settings
from domain.reminders import Policy


def runtime() -> tuple[Settings, Engine]:
    settings = get_settings()
    _logs_configured(settings)
    return settings, cached_engine(settings.effective_database_url)


_configured: list[Settings] = []


def _logs_configured(settings: Settings) -> None:
    """Once per process and settings: text or JSON lines, scrubbed of secrets."""
    if not _configured or _configured[0] is not settings:
        configure_logging(settings)
        _configured[:] = [settings]


def _json_logs_from_the_start() -> None:
    """With ROADMAP_LOG_FORMAT=json, a flow run's process (a worker's subprocess, `serve`)
    writes JSON from its first line: Prefect's "Beginning flow run" comes before the flow
    reads its settings, and this module is imported when the flow is loaded."""
    try:
        settings = load_settings()
    except SettingsError:
        return  # reported when the flow reads its settings
    if settings.log_format is LogFormat.json:
        _logs_configured(settings)


_json_logs_from_the_start()


def moment(at: datetime | None) -> datetime:
    """The instant a run works for: the given one (catch-up, simulation) or now."""
    if at is None:
        return datetime.now(UTC)
    if at.tzinfo is None:
        raise ValueError("`at` must carry a time zone")
    return at.astimezone(UTC)


def local_day(at: datetime, settings: Settings) -> date:
    return at.astimezone(settings.tz).date()


def policy(settings: Settings) -> Policy:
    return Policy(
        reminder_before=settings.reminder_working_days_before,
        chase_after=tuple(settings.chase_working_days_after),
        escalate_after_chase=settings.escalate_after_chase,
    )


def run_name(prefix: str) -> Callable[[], str]:
    """A flow-run name like `tick · 31.08.2023 18:05` (district time) from the run's `at`."""

    def name() -> str:
        from prefect.runtime import flow_run

        at = (flow_run.parameters or {}).get("at") or flow_run.scheduled_start_time
        if not isinstance(at, datetime):
            return prefix
        try:
            settings = get_settings()
            return f"{prefix} · {moment(at).astimezone(settings.tz):%d.%m.%Y %H:%M}"
        except Exception:  # a name must never fail a run
            return prefix

    return name

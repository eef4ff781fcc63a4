"""`roadmap check`: are the settings, the database, Prefect and the mail server usable?

Changes nothing (it does not even upgrade the schema); says in Russian what is wrong and
which variable to fix; exit 1 when anything is.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

import typer
from rich.console import Console

from cli.common import err_console
from config.settings import Settings, SettingsError, load_settings

console = Console()


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def check_database(settings: Settings) -> Check:
    from domain.db import make_engine
    from portal.health import database_problems

    try:
        engine = make_engine(settings.effective_database_url)
    except OSError as exc:  # SQLite: the file's folder cannot be made
        return Check(
            "база данных",
            False,
            f"не удаётся создать папку {exc.filename} для файла базы: "
            "проверьте ROADMAP_DATABASE_URL (или ROADMAP_VAR_DIR)",
        )
    try:
        problems, found = database_problems(engine, named=True)
    finally:
        engine.dispose()
    if problems:
        # An old schema is upgraded by the next command: worth saying, not a failure.
        ok = bool(found.get("reachable"))
        return Check("база данных", ok, "; ".join(problems))
    return Check("база данных", True, f"доступна, схема {', '.join(found['schema']['current'])}")


def check_prefect() -> Check | None:
    url = os.environ.get("PREFECT_API_URL", "").strip()
    if not url:
        return None
    import httpx

    try:
        response = httpx.get(url.rstrip("/") + "/health", timeout=5)
    except httpx.HTTPError as exc:
        return Check(
            "Prefect", False, f"сервер Prefect не отвечает ({exc}): проверьте PREFECT_API_URL"
        )
    if response.status_code != 200:
        return Check(
            "Prefect",
            False,
            f"сервер Prefect ответил {response.status_code}: проверьте PREFECT_API_URL",
        )
    return Check("Prefect", True, "сервер отвечает")


async def _smtp_login(settings: Settings) -> None:
    from notifications.delivery import SmtpConnection

    client = SmtpConnection(settings)._new_client()
    await client.connect()  # greeting, EHLO, STARTTLS and login, as configured
    try:
        await client.noop()
    finally:
        await client.quit()


def check_smtp(settings: Settings) -> Check:
    if not settings.email_enabled:
        return Check(
            "почта",
            True,
            f"ROADMAP_SMTP_HOST не задан: письма пишутся файлами в {settings.outbox_dir}",
        )
    from notifications.delivery import classify, config_problem

    where = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        asyncio.run(_smtp_login(settings))
    except Exception as exc:
        reason = config_problem(exc, settings) or (
            f"не удалось подключиться к {where}: {classify(exc).detail}; проверьте "
            "ROADMAP_SMTP_HOST и ROADMAP_SMTP_PORT (и что сервер запущен)"
        )
        return Check("почта", False, reason)
    steps = ["соединение"]
    if settings.smtp_tls.value != "none":
        steps.append(f"TLS ({settings.smtp_tls.value})")
    if settings.smtp_username:
        steps.append("вход")
    return Check("почта", True, f"{where}: " + ", ".join(steps) + " — в порядке")


def run_checks(settings: Settings) -> list[Check]:
    checks = [check_database(settings)]
    prefect = check_prefect()
    if prefect is not None:
        checks.append(prefect)
    checks.append(check_smtp(settings))
    return checks


def check() -> None:
    """Check the settings, the database, the Prefect API (if PREFECT_API_URL is set) and
    the SMTP server (greeting, STARTTLS, login); exit 1 if anything is wrong."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        err_console.print(f"[red]✗ настройки:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    console.print("[green]✓[/green] настройки: прочитаны", highlight=False)
    checks = run_checks(settings)
    for item in checks:
        mark = "[green]✓[/green]" if item.ok else "[red]✗[/red]"
        line = f"{mark} {item.name}: {item.detail}"
        (console if item.ok else err_console).print(line, highlight=False, soft_wrap=True)
    if not all(item.ok for item in checks):
        raise typer.Exit(1)
    console.print("Всё в порядке.", highlight=False)


def register(app: typer.Typer) -> None:
    """Add `check`."""
    app.command(name="check")(check)

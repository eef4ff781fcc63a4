"""Helpers shared by commands: settings errors as messages, never tracebacks."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import wraps
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from config.settings import Settings, SettingsError, get_settings

P = ParamSpec("P")
R = TypeVar("R")

err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[red]ошибка:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        raise fail(str(exc), 2) from None


def parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option}: «{value}» — не дата; укажите ГГГГ-ММ-ДД (YYYY-MM-DD)", 2) from None


def parse_instant(value: str, settings: Settings) -> datetime:
    """A date or datetime; naive values are in the district's time zone."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise fail(
            f"--at: «{value}» — не дата и время; укажите YYYY-MM-DD или YYYY-MM-DDTHH:MM", 2
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=settings.tz)
    return moment.astimezone(UTC)


def no_traceback(func: Callable[P, R]) -> Callable[P, R]:
    """Turn unexpected errors into one readable line (details with ROADMAP_DEBUG=1)."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except SettingsError as exc:
            raise fail(str(exc), 2) from None
        except Exception as exc:
            import os

            if os.environ.get("ROADMAP_DEBUG"):
                raise
            err_console.print(
                f"[red]ошибка:[/red] {type(exc).__name__}: {exc} "
                "(подробности: запустите с ROADMAP_DEBUG=1)",
                highlight=False,
                soft_wrap=True,
            )
            sys.exit(1)

    return wrapper

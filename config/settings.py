"""Settings: every `ROADMAP_` environment variable (or `.env` entry) in one place."""

from __future__ import annotations

import ipaddress
from email.utils import parseaddr
from enum import StrEnum
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from domain.calendar import RUSSIAN_CALENDAR, load_working_days

DEV_SECRET_KEY = "development-only-secret-change-me"
ASYNC_DRIVERS = ("asyncpg", "aiosqlite", "psycopg_async", "aiomysql", "asyncmy")
# The databases the engine runs on and the synchronous drivers it ships with.
SYNC_DRIVERS = {"postgresql": ("psycopg",), "sqlite": ("pysqlite",)}


class Environment(StrEnum):
    development = "development"
    production = "production"


class LogFormat(StrEnum):
    text = "text"
    json = "json"  # one JSON object a line, for a log collector


class SmtpSecurity(StrEnum):
    none = "none"
    starttls = "starttls"
    tls = "tls"


class SettingsError(Exception):
    """A bad setting; the message names the variable and what to do."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ROADMAP_", env_file=".env", extra="ignore", validate_default=True
    )

    environment: Environment = Environment.development
    log_format: LogFormat = LogFormat.text  # ROADMAP_LOG_FORMAT: text or json (JSON lines)
    var_dir: Path = Path("var")
    database_url: str = ""  # empty: SQLite file `roadmap.db` under var_dir
    roadmap_file: Path = Path(__file__).resolve().parent / "roadmap.yaml"
    timezone: str = "Europe/Moscow"

    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: SmtpSecurity = SmtpSecurity.none
    smtp_timeout: float = Field(default=30.0, gt=0)
    smtp_concurrency: int = Field(default=4, ge=1, le=64)
    # How long a claim on outbox rows holds unless its deliverer renews it (it does,
    # every third of it, while it sends); unset rate = as fast as the server takes it.
    smtp_lease_seconds: float = Field(default=120.0, gt=0)
    smtp_rate_per_second: float | None = Field(default=None, gt=0)
    # A scheduled outbox run stops claiming after this long and leaves the rest to the
    # next run (`tick` delivers everything due).
    outbox_time_budget_seconds: float = Field(default=240.0, gt=0)
    # Mail still being retried this long after it was queued counts as not arrived: the
    # overview and "Недоставленные письма" show it beside the permanent failures.
    mail_deferred_hours: float = Field(default=6.0, gt=0)
    mail_from: str = "Методический центр <roadmap@imcso-levokumskoe.example>"
    centre_email: str = "imcso@levokumskoe.example"
    centre_name: str = "МКУ «ИМЦСО ЛМО СК»"
    # how an imported order may also name the centre; a roadmap file's `centre` overrides
    centre_short_name: str = "ИМЦСО"
    centre_aliases: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["методический центр"]
    )  # ROADMAP_CENTRE_ALIASES: comma-separated
    centre_address: str = ""

    portal_url: str = "http://127.0.0.1:8080"
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    link_days_after_due: int = Field(default=60, ge=1)

    reminder_working_days_before: int = Field(default=3, ge=0)
    chase_working_days_after: list[int] = Field(default_factory=lambda: [1, 5, 10])
    escalate_after_chase: int = Field(default=2, ge=1)
    revision_working_days: int = Field(default=10, ge=1)

    upload_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)

    # Transferred working days (working Saturdays) beyond the shipped
    # domain/data/working_saturdays.txt; same format.
    working_saturdays_file: Path | None = None
    # answers by email reply (notifications/imap.py, flows/inbox.py)
    imap_host: str | None = None
    imap_port: int = Field(default=143, ge=1, le=65535)
    imap_username: str | None = None
    imap_password: SecretStr | None = None
    imap_tls: SmtpSecurity = SmtpSecurity.none
    imap_mailbox: str = "INBOX"
    imap_processed_mailbox: str | None = None  # unset: processed messages are only flagged
    imap_timeout: float = Field(default=60.0, gt=0)
    reply_address: str | None = None  # e.g. otvet+{token}@centre.example
    inbox_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"неизвестный часовой пояс {value!r}; укажите имя вроде Europe/Moscow"
            ) from exc
        return value

    @field_validator("centre_aliases", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("chase_working_days_after")
    @classmethod
    def _increasing(cls, value: list[int]) -> list[int]:
        if not value or any(b <= a for a, b in pairwise(value)) or value[0] < 1:
            raise ValueError("укажите возрастающие числа рабочих дней, например [1,5,10]")
        return value

    @field_validator("working_saturdays_file")
    @classmethod
    def _working_saturdays(cls, value: Path | None) -> Path | None:
        if value is not None:
            load_working_days(value)  # a bad line is reported now, with its number
        return value

    @field_validator("database_url")
    @classmethod
    def _sync_database_url(cls, value: str) -> str:
        """The engine talks to the database synchronously: psycopg 3 or SQLite's own."""
        if not value:
            return value
        scheme = value.partition("://")[0].lower() if "://" in value else ""
        right = "postgresql+psycopg://user:pass@host/db (или sqlite:///path/roadmap.db)"
        if not scheme:
            raise ValueError(f"это не адрес базы данных; нужна такая форма: {right}")
        if scheme in ("postgres", "postgres+psycopg"):
            raise ValueError(f"схему {scheme}:// SQLAlchemy не знает; нужна такая: {right}")
        database, _, driver = scheme.partition("+")
        if driver in ASYNC_DRIVERS:
            raise ValueError(
                f"{scheme}:// — асинхронный драйвер (он для собственного сервера Prefect, "
                f"PREFECT_API_DATABASE_CONNECTION_URL); нужна такая: {right}"
            )
        if database not in SYNC_DRIVERS:
            raise ValueError(
                f"база {database} не поддерживается (только PostgreSQL и SQLite); "
                f"нужна такая: {right}"
            )
        if driver and driver not in SYNC_DRIVERS[database]:
            raise ValueError(
                f"драйвер {driver} не поддерживается (с PostgreSQL работает psycopg 3); "
                f"нужна такая: {right}"
            )
        return value

    @field_validator("portal_url")
    @classmethod
    def _portal_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                "адрес должен начинаться с http:// или https://, например https://roadmap.example"
            )
        return value.rstrip("/")

    @field_validator("reply_address")
    @classmethod
    def _reply_address(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        local, _, domain = value.partition("@")
        if "{token}" not in local or not domain or "{" in domain or local.count("{token}") != 1:
            raise ValueError(
                "нужен адрес с {token} до знака @, например otvet+{token}@centre.example "
                "(адреса с плюсом на почтовом ящике центра)"
            )
        return value

    @model_validator(mode="after")
    def _production_secrets(self) -> Settings:
        if self.environment is Environment.production:
            key = self.secret_key.get_secret_value()
            if key == DEV_SECRET_KEY or len(key) < 32:
                raise ValueError(
                    "в рабочей установке ROADMAP_SECRET_KEY должен быть случайной строкой "
                    "не короче 32 символов (python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))')"
                )
            if not self.database_url:
                raise ValueError("в рабочей установке нужно задать ROADMAP_DATABASE_URL")
            problems = _unreachable_in_production(self)
            if problems:
                raise ValueError("\n  ".join(problems))
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'roadmap.db').as_posix()}"

    @property
    def email_enabled(self) -> bool:
        """True when a real SMTP server is configured; otherwise mail goes to .eml files."""
        return bool(self.smtp_host)

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"

    @property
    def uploads_dir(self) -> Path:
        return self.var_dir / "uploads"


# Reserved for documentation (RFC 2606/6761): mail there reaches nobody.
_PLACEHOLDER_DOMAINS = ("example", "example.com", "example.net", "example.org", "invalid", "test")


def _placeholder_domain(host: str) -> bool:
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in _PLACEHOLDER_DOMAINS)


def _local_host(host: str) -> bool:
    """localhost, a loopback address (127.0.0.0/8, ::1) or an unspecified one (0.0.0.0, ::)."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def _unreachable_in_production(settings: Settings) -> list[str]:
    """What would keep the mail and the links from reaching anybody, one line per variable."""
    problems: list[str] = []
    host = urlsplit(settings.portal_url).hostname or ""
    if not host:
        problems.append(
            f"в ROADMAP_PORTAL_URL {settings.portal_url!r} нет имени сервера; укажите "
            "публичный адрес портала, например https://roadmap.imcso-levokumskoe.ru"
        )
    elif _local_host(host):
        problems.append(
            f"ROADMAP_PORTAL_URL {settings.portal_url!r} — адрес этой же машины (loopback): "
            "ссылки в письмах ничего не откроют на компьютерах руководителей; укажите "
            "публичный адрес портала, например https://roadmap.imcso-levokumskoe.ru"
        )
    elif _placeholder_domain(host):
        problems.append(
            f"ROADMAP_PORTAL_URL {settings.portal_url!r} — в зарезервированном домене для "
            "примеров (example); укажите публичный адрес портала"
        )
    for variable, value in (
        ("ROADMAP_MAIL_FROM", settings.mail_from),
        ("ROADMAP_CENTRE_EMAIL", settings.centre_email),
    ):
        address = parseaddr(value)[1]
        domain = address.rpartition("@")[2]
        if "@" not in address or not domain:
            problems.append(f"{variable} {value!r} — не адрес электронной почты; укажите настоящий")
        elif _placeholder_domain(domain) or _local_host(domain):
            problems.append(
                f"{variable} {value!r} — адрес-заглушка в домене {domain}: туда письма никто "
                "не получит; укажите настоящий адрес центра"
            )
    return problems


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's error into one readable message per variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "settings"
            name = f"ROADMAP_{field.upper()}" if err["loc"] else "settings"
            message = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"{name}: {message}")
        raise SettingsError("ошибка в настройках:\n  " + "\n  ".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = load_settings()
    # The process-wide production calendar takes the administrator's working days.
    local = settings.working_saturdays_file
    RUSSIAN_CALENDAR.use_local_working_days(load_working_days(local) if local else ())
    return settings

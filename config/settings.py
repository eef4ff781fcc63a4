"""Settings: every `ROADMAP_` environment variable (or `.env` entry) in one place."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "development-only-secret-change-me"


class Environment(StrEnum):
    development = "development"
    production = "production"


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
    mail_from: str = "Методический центр <roadmap@imcso-levokumskoe.example>"
    centre_email: str = "imcso@levokumskoe.example"
    centre_name: str = "МКУ «ИМЦСО ЛМО СК»"

    portal_url: str = "http://127.0.0.1:8080"
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    link_days_after_due: int = Field(default=60, ge=1)

    reminder_working_days_before: int = Field(default=3, ge=0)
    chase_working_days_after: list[int] = Field(default_factory=lambda: [1, 5, 10])
    escalate_after_chase: int = Field(default=2, ge=1)
    revision_working_days: int = Field(default=10, ge=1)

    upload_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use a name like Europe/Moscow") from exc
        return value

    @field_validator("chase_working_days_after")
    @classmethod
    def _increasing(cls, value: list[int]) -> list[int]:
        if not value or any(b <= a for a, b in pairwise(value)) or value[0] < 1:
            raise ValueError("give increasing working-day counts, e.g. [1,5,10]")
        return value

    @field_validator("portal_url")
    @classmethod
    def _portal_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://, e.g. https://roadmap.example")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _production_secrets(self) -> Settings:
        if self.environment is Environment.production:
            key = self.secret_key.get_secret_value()
            if key == DEV_SECRET_KEY or len(key) < 32:
                raise ValueError(
                    "ROADMAP_SECRET_KEY must be set to a random string of at least 32 "
                    "characters in production (python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))')"
                )
            if not self.database_url:
                raise ValueError("ROADMAP_DATABASE_URL must be set in production")
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


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's error into one readable message per variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "settings"
            name = f"ROADMAP_{field.upper()}" if err["loc"] else "settings"
            lines.append(f"{name}: {err['msg']}")
        raise SettingsError("bad configuration:\n  " + "\n  ".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()

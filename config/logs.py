"""Logs of the flows and the portal: plain text or JSON lines (ROADMAP_LOG_FORMAT), and
never a secret. Answer links carry their token in the path (`/t/<token>`, `/o/<token>`):
every line is scrubbed of those, of query strings in logged paths, and of the passwords
and keys the settings hold."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from config.settings import LogFormat, Settings

ACCESS_LOGGER = "roadmap.access"
OUR_LOGGERS = (
    "roadmap",
    "cli",
    "flows",
    "notifications",
    "portal",
    "services",
    "reports",
    "uvicorn.error",
)
MASK = "***"
# a personal link's token: /t/<token>, /o/<token> (and anything after it in that segment)
_LINK_TOKEN = re.compile(r"/([to])/[^/\s?#\"']+")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def mask_path(path: str, query: str = "") -> str:
    """A request path fit for a log: link tokens masked, the query string replaced by a
    mark that there was one (answer links and forms may carry secrets there)."""
    masked = _LINK_TOKEN.sub(lambda m: f"/{m[1]}/{MASK}", path)
    return masked + (f"?{MASK}" if query else "")


class Redactor(logging.Filter):
    """Replaces link tokens and the settings' secrets in every record's text."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return _LINK_TOKEN.sub(lambda m: f"/{m[1]}/{MASK}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = self.scrub(text)
        if clean != text or record.args:
            record.msg, record.args = clean, None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self.scrub(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, and the record's
    extra fields (an access line's method, path, status, duration_ms, client)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, ensure_ascii=False)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time (a test's capture, a redirect)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def secrets_of(settings: Settings) -> list[str]:
    values = [settings.secret_key.get_secret_value()]
    for secret in (settings.smtp_password, settings.imap_password):
        if secret is not None:
            values.append(secret.get_secret_value())
    return values


def formatter_for(settings: Settings) -> logging.Formatter:
    if settings.log_format is LogFormat.json:
        return JsonFormatter()
    return logging.Formatter(TEXT_FORMAT)


# loggers Prefect's logging configuration gives their own console handlers
PREFECT_CONSOLES = ("prefect", "prefect.flow_runs", "prefect.task_runs", "uvicorn", "fastapi")


def _console(handler: logging.Handler) -> bool:
    return isinstance(handler, logging.StreamHandler) and not isinstance(
        handler, logging.FileHandler
    )


def configure_logging(settings: Settings, level: int = logging.INFO) -> logging.Handler:
    """Every console line of this process in the chosen format, scrubbed of secrets.

    Prefect configures a console handler on the root logger (and on a few of its own);
    those are reused (JSON formatter when asked for, plus the scrubbing), so no line is
    printed twice. Without one, our own handler goes on the root logger. Again with new
    settings, the previous set-up is replaced. Returns the root's console handler."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_roadmap", False)]:
        root.removeHandler(old)
    redactor = Redactor(secrets_of(settings))
    consoles = [h for h in root.handlers if _console(h)]
    if not consoles:
        handler: logging.Handler = StderrHandler()
        handler._roadmap = True  # type: ignore[attr-defined]
        handler.setFormatter(formatter_for(settings))
        root.addHandler(handler)
        consoles = [handler]
    touched = list(root.handlers)
    for name in PREFECT_CONSOLES:
        touched += logging.getLogger(name).handlers
    for each in touched:
        for f in [f for f in each.filters if isinstance(f, Redactor)]:
            each.removeFilter(f)
        each.addFilter(redactor)  # the API handler too: flow logs sent to Prefect
        if _console(each):
            if settings.log_format is LogFormat.json:
                if not isinstance(each.formatter, JsonFormatter):
                    each._roadmap_text = each.formatter  # type: ignore[attr-defined]
                each.setFormatter(JsonFormatter())
            elif isinstance(each.formatter, JsonFormatter):
                each.setFormatter(getattr(each, "_roadmap_text", None) or formatter_for(settings))
    # our packages at `level`; other libraries keep the root's (WARNING): no line per
    # HTTP request of the Prefect client
    for name in OUR_LOGGERS:
        logging.getLogger(name).setLevel(level)
    return consoles[0]


def configure_runner_logging(settings: Settings) -> logging.Handler:
    """`configure_logging` for a process that starts flow runs as subprocesses (`worker`,
    `serve`): with JSON, those processes' first lines, logged before they load our code
    (flows/context.py), are Prefect's own JSON, through the inherited environment."""
    if settings.log_format is LogFormat.json:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_FORMATTER", "json")
    return configure_logging(settings)


def reset_logging() -> None:
    """Undo configure_logging (tests): our handler gone, Prefect's as they were."""
    root = logging.getLogger()
    touched = list(root.handlers)
    for name in PREFECT_CONSOLES:
        touched += logging.getLogger(name).handlers
    for each in touched:
        if getattr(each, "_roadmap", False):
            root.removeHandler(each)
            continue
        for f in [f for f in each.filters if isinstance(f, Redactor)]:
            each.removeFilter(f)
        if isinstance(each.formatter, JsonFormatter):
            each.setFormatter(getattr(each, "_roadmap_text", None))

"""Rendering emails: each kind is three Jinja2 templates (subject, plain text, HTML).

HTML templates are autoescaped, so anything a person typed (evidence, reasons, names)
comes out as text. Plain-text templates are not escaped: they are never shown as HTML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

from domain.formatting import ru_date

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

KINDS = (
    "opened",
    "reminder",
    "chase",
    "escalation",
    "nudge",
    "receipt",
    "returned",
    "digest",
    "delivery_failure",
    "summary",
    "inbox_reply",
    "queue_failure",
)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def ru_plural(count: int, one: str, few: str, many: str) -> str:
    """`count` with the Russian plural form: 1 день, 2 дня, 5 дней, 21 день."""
    n = abs(count)
    if n % 10 == 1 and n % 100 != 11:
        word = one
    elif 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        word = few
    else:
        word = many
    return f"{count} {word}"


def working_days(count: int) -> str:
    return ru_plural(count, "рабочий день", "рабочих дня", "рабочих дней")


def shorten(text: str, limit: int = 80) -> str:
    """One line, at most `limit` characters, cut at a word with an ellipsis."""
    flat = " ".join(str(text).split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,.;:—-")
    return cut + "…"


def basename(value: object) -> str:
    """A file's name from a path (or the string as it is)."""
    return value.name if isinstance(value, PurePath) else str(value).rsplit("/", 1)[-1]


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=lambda name: name is not None and name.endswith(".html"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["ru_date"] = ru_date
    env.filters["working_days"] = working_days
    env.filters["shorten"] = shorten
    env.filters["basename"] = basename
    env.globals["ru_plural"] = ru_plural
    from notifications.context import greeting  # context imports this module

    env.filters["greeting"] = greeting
    return env


def _clean_text(text: str) -> str:
    """Trailing spaces off, at most one blank line in a row, one final newline."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    out: list[str] = []
    for line in lines:
        if line == "" and out and out[-1] == "":
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def render(kind: str, context: Mapping[str, Any]) -> RenderedEmail:
    """Render email `kind` (one of KINDS) with `context`.

    A missing context value is an error (StrictUndefined), never an empty string.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown email kind {kind!r}; expected one of {', '.join(KINDS)}")
    env = environment()
    try:
        subject_t = env.get_template(f"{kind}/subject.txt")
        text_t = env.get_template(f"{kind}/body.txt")
        html_t = env.get_template(f"{kind}/body.html")
    except TemplateNotFound as exc:
        raise ValueError(f"email kind {kind!r} has no template {exc.name}") from None
    ctx = dict(context)
    subject = " ".join(subject_t.render(ctx).split())
    return RenderedEmail(
        subject=subject,
        text=_clean_text(text_t.render(ctx)),
        html=html_t.render(ctx).strip() + "\n",
    )

"""An organisation's deputy: who acts for the head from one district day to another.

While a deputy holds (on the day a message is queued, both ends inclusive), the
organisation's task emails go to the deputy with the head in copy; escalations still go
up the head's ladder. Every change of the deputy is a `DeputyChange` row: who set it,
when, what it was before and after. Pure rules: the day is passed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from domain.organisations import Organisation
from domain.types import UTCDateTime

DEPUTY_ROLE = "deputy"  # an AccessLink's recipient_role for a link mailed to a deputy
DEPUTY_LABEL = "заместитель"
NAME_MAX = 200

# who made a change
BY_HEAD = "head"
BY_CENTRE = "centre"
BY_CLI = "cli"

BY_LABELS = {
    BY_HEAD: "руководитель",
    BY_CENTRE: "методический центр",
    BY_CLI: "администратор (командная строка)",
}


class DeputyChange(SQLModel, table=True):
    """One change of an organisation's deputy (set, changed or cleared)."""

    __tablename__ = "deputy_change"

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime)
    by: str = Field(max_length=16)  # BY_HEAD, BY_CENTRE or BY_CLI
    actor: str = Field(default="", max_length=254)  # the head's or administrator's email
    before: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    after: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


@dataclass(frozen=True)
class Deputy:
    """A deputy as the head (or the centre) names one."""

    name: str
    email: str
    from_day: date
    until_day: date

    def as_row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "email": self.email,
            "from": self.from_day.isoformat(),
            "until": self.until_day.isoformat(),
        }


class DeputyError(ValueError):
    """Bad deputy input; `errors` maps a field (name, email, from, until) to Russian text."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(self.errors.values()))


def deputy_of(org: Organisation) -> Deputy | None:
    """The deputy recorded on the organisation (whether or not the period holds)."""
    if not org.deputy_email or org.deputy_from is None or org.deputy_until is None:
        return None
    return Deputy(org.deputy_name, org.deputy_email, org.deputy_from, org.deputy_until)


def deputy_holds(org: Organisation | None, day: date) -> bool:
    """True when the organisation has a deputy on `day` (both ends inclusive)."""
    deputy = None if org is None else deputy_of(org)
    return deputy is not None and deputy.from_day <= day <= deputy.until_day


def holding_deputy(org: Organisation | None, day: date) -> Deputy | None:
    return deputy_of(org) if org is not None and deputy_holds(org, day) else None


def is_deputy_address(org: Organisation | None, address: str) -> bool:
    """Whether `address` is the deputy recorded on the organisation (any day)."""
    return (
        org is not None
        and bool(org.deputy_email)
        and org.deputy_email.strip().lower() == address.strip().lower()
    )


def _looks_like_email(text: str) -> bool:
    if text.count("@") != 1 or any(c.isspace() or ord(c) < 32 for c in text):
        return False
    local, domain = text.split("@")
    return bool(local) and "." in domain and not domain.startswith(".") and not domain.endswith(".")


def validate_deputy(
    org: Organisation,
    *,
    name: str,
    email: str,
    from_day: date | None,
    until_day: date | None,
) -> Deputy:
    """A deputy from a form's (or the command line's) values; DeputyError names every
    field that is wrong, in Russian, with what to do."""
    errors: dict[str, str] = {}
    name = " ".join(name.split())
    email = email.strip()
    if not name:
        errors["name"] = "Укажите фамилию, имя и отчество заместителя."
    elif len(name) > NAME_MAX:
        errors["name"] = f"Слишком длинное имя: не больше {NAME_MAX} знаков."
    if not email:
        errors["email"] = "Укажите адрес электронной почты заместителя."
    elif len(email) > 254 or not _looks_like_email(email):
        errors["email"] = (
            f"«{email}» не похож на адрес электронной почты: укажите его в виде "
            "name@school.example."
        )
    elif email.lower() == org.head_email.strip().lower():
        errors["email"] = "Это адрес самого руководителя: укажите адрес заместителя."
    elif org.curator_email and email.lower() == org.curator_email.strip().lower():
        errors["email"] = (
            "Это адрес куратора организации: ему и так приходят его задачи; укажите адрес "
            "заместителя руководителя."
        )
    if from_day is None:
        errors["from"] = "Укажите, с какого дня действует заместитель (ДД.ММ.ГГГГ)."
    if until_day is None:
        errors["until"] = "Укажите, по какой день действует заместитель (ДД.ММ.ГГГГ)."
    if from_day is not None and until_day is not None and from_day > until_day:
        errors["until"] = (
            f"Последний день ({until_day:%d.%m.%Y}) раньше первого ({from_day:%d.%m.%Y}): "
            "укажите «по» не раньше, чем «с»."
        )
    if errors:
        raise DeputyError(errors)
    assert from_day is not None and until_day is not None
    return Deputy(name, email, from_day, until_day)


_DAY_RU = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_DAY_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def parse_day(text: str) -> date | None:
    """ДД.ММ.ГГГГ or ГГГГ-ММ-ДД (a date input's value); None when neither or no real day."""
    raw = text.strip()
    if m := _DAY_RU.match(raw):
        day, month, year = int(m[1]), int(m[2]), int(m[3])
    elif m := _DAY_ISO.match(raw):
        year, month, day = int(m[1]), int(m[2]), int(m[3])
    else:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def read_deputy(
    org: Organisation, *, name: str, email: str, from_text: str, until_text: str
) -> Deputy:
    """A deputy from text (a form, the command line): the dates as ДД.ММ.ГГГГ or
    ГГГГ-ММ-ДД. DeputyError lists every problem, the unreadable dates included."""
    from_day, until_day = parse_day(from_text), parse_day(until_text)
    errors: dict[str, str] = {}
    try:
        deputy = validate_deputy(
            org, name=name, email=email, from_day=from_day, until_day=until_day
        )
    except DeputyError as exc:
        errors = exc.errors
    else:
        return deputy
    for key, text, day in (("from", from_text, from_day), ("until", until_text, until_day)):
        if text.strip() and day is None:
            errors[key] = (
                f"«{text.strip()}» не дата: укажите её в виде ДД.ММ.ГГГГ, например 01.10.2022."
            )
    raise DeputyError(errors)


def answered_as(name: str) -> str:
    """What an answer's history says when a deputy gave it."""
    return f"ответил(а): {name}, {DEPUTY_LABEL}" if name else f"ответил(а): {DEPUTY_LABEL}"

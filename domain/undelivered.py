"""Mail that did not arrive: which contact field an address came from, and the record of
each fix of an address by the centre (who, when, before -> after, how many resent)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from domain.organisations import Organisation
from domain.types import UTCDateTime

# The contact fields of an organisation mail goes to, in the order they are looked at,
# with their Russian names. A field the model does not have (a deputy's, on an
# installation without deputies) is skipped.
ADDRESS_FIELDS: tuple[tuple[str, str], ...] = (
    ("head_email", "руководитель"),
    ("curator_email", "куратор"),
    ("deputy_email", "заместитель"),
)
FIELD_LABELS = dict(ADDRESS_FIELDS)


def same_address(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


def fields_with(org: Organisation, address: str) -> list[str]:
    """The organisation's contact fields holding `address` (case does not matter)."""
    found: list[str] = []
    for name, _label in ADDRESS_FIELDS:
        value = getattr(org, name, None)
        if isinstance(value, str) and value and same_address(value, address):
            found.append(name)
    return found


def person_of(org: Organisation, field: str) -> str:
    """The name kept beside an address field ("" when the model has none)."""
    value = getattr(org, field.removesuffix("_email") + "_name", "")
    return value if isinstance(value, str) else ""


class AddressCorrection(SQLModel, table=True):
    """The centre fixed an address mail bounced from and resent what had not arrived."""

    __tablename__ = "address_correction"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=254)  # the administrator's email
    email_id: int = Field(foreign_key="outgoing_email.id", index=True)  # the row acted on
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    field: str = Field(default="", max_length=32)  # "" when no record held the address
    old_address: str = Field(max_length=254)
    new_address: str = Field(max_length=254)
    resent: int = 0  # how many undelivered messages were queued again to the new address

"""Email replies read from the centre's mailbox: one row per message, processed once."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from domain.types import UTCDateTime


class InboundStatus(StrEnum):
    answered = "answered"  # applied as the task's answer (every task it named)
    partial = "partial"  # matched and allowed, but fields are missing: the task stays open
    review = "review"  # waits for the centre: accept as the answer of a task, or discard
    accepted = "accepted"  # the centre accepted it from the review list
    discarded = "discarded"  # the centre discarded it
    ignored = "ignored"  # an auto-reply or a bounce: never an answer, never answered
    refused = "refused"  # over the size limit; the sender was told


REVIEW_OPEN = (InboundStatus.review,)


class InboundMessage(SQLModel, table=True):
    """A message read over IMAP. `message_key` (the Message-ID, or a hash of the message
    when it has none) is unique, so a message is processed once however often it is read;
    (mailbox, uid_validity, uid) says where the server keeps it."""

    __tablename__ = "inbound_message"
    __table_args__ = (UniqueConstraint("mailbox", "uid_validity", "uid"),)

    id: int | None = Field(default=None, primary_key=True)
    message_key: str = Field(unique=True, max_length=255)
    mailbox: str = Field(max_length=255)
    uid_validity: int = Field(sa_type=BigInteger)
    uid: int = Field(sa_type=BigInteger)
    received_at: datetime = Field(sa_type=UTCDateTime, index=True)
    from_addr: str = Field(default="", max_length=254)
    subject: str = ""
    size: int = 0
    status: str = Field(max_length=16, index=True)  # an InboundStatus
    reason: str = ""  # why it waits for review (or was ignored, refused), in Russian
    task_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    outcomes: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )  # [{"task_id", "outcome", "version"?, "missing"?}]
    raw: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    reviewed_by: str = ""
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

"""Outgoing email (the outbox) and the notices that caused each message."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from domain.enums import EmailStatus, NoticeKind
from domain.types import UTCDateTime


class OutgoingEmail(SQLModel, table=True):
    """One row per message, written in the transaction that made it owed."""

    __tablename__ = "outgoing_email"
    __table_args__ = (
        # What a deliverer's claim asks (due, not under a live lease; lapsed leases),
        # answered from the index alone: the rows themselves carry the message bodies.
        Index(
            "ix_outgoing_email_due", "status", "claimed_until", "sending_since", "next_attempt_at"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(unique=True, max_length=255)
    kind: str = Field(max_length=32)  # a NoticeKind, "digest", "summary", "delivery_failure"
    to_addr: str = Field(index=True, max_length=254)
    cc_addrs: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    subject: str
    text_body: str
    html_body: str
    attachments: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )  # [{"filename", "content_type", "content_b64"}]
    status: EmailStatus = Field(default=EmailStatus.queued, index=True)
    attempts: int = 0
    created_at: datetime = Field(sa_type=UTCDateTime)
    next_attempt_at: datetime = Field(sa_type=UTCDateTime, index=True)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Which deliverer holds the claim (renewed while it sends), and when its SMTP
    # transaction for this row began: a lapsed claim with a transaction begun is
    # reconciled, never sent again.
    claim_token: str | None = Field(default=None, max_length=36)
    sending_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str = ""
    reply_to: str = Field(default="", max_length=254)  # empty: the centre's address
    # A message the centre sent again to a fixed address (services.undelivered): the row
    # it replaces, and the first row of that chain (whose Notice rows name its tasks).
    resent_from_id: int | None = Field(default=None, foreign_key="outgoing_email.id", index=True)
    origin_id: int | None = Field(default=None, foreign_key="outgoing_email.id", index=True)


class Notice(SQLModel, table=True):
    """That (task, kind, step) was told to someone; unique, so never twice."""

    __table_args__ = (UniqueConstraint("task_id", "kind", "step"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    kind: NoticeKind
    step: int = 0
    on_day: date  # the working day it was owed on
    recipient: str = Field(max_length=254)
    email_id: int = Field(foreign_key="outgoing_email.id", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)


class OutboxRun(SQLModel, table=True):
    """One delivery run and what it did (the health check shows the last one's age)."""

    __tablename__ = "outbox_run"

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(sa_type=UTCDateTime, index=True)
    finished_at: datetime = Field(sa_type=UTCDateTime)
    sent: int = 0
    retried: int = 0
    failed: int = 0
    written_to_files: int = 0
    problem: str = ""  # a configuration problem that stopped all mail, in Russian
    # the SMTP server refused the connection and nothing was sent: once is a server that
    # is restarting; several runs in a row are a wrong host or port (delivery.py)
    connection_refused: bool = False

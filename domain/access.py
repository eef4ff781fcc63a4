"""Personal answer links and the centre's administrator accounts."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from domain.types import UTCDateTime


class AccessLink(SQLModel, table=True):
    """A personal link: to one task (and its recipient) or to an organisation's page."""

    __tablename__ = "access_link"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int | None = Field(default=None, foreign_key="task.id", index=True)
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    recipient: str = Field(max_length=254)
    # "deputy" for a link mailed to the organisation's deputy (domain.deputies), who is
    # then named as the one who answered; "" for the head, curator or centre
    recipient_role: str = Field(default="", max_length=16)
    recipient_name: str = Field(default="", max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AdminUser(SQLModel, table=True):
    __tablename__ = "admin_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, max_length=254)
    name: str = ""
    password_hash: str
    active: bool = True
    created_at: datetime = Field(sa_type=UTCDateTime)


SUMMARY_YEARLY = "yearly"  # after the cycle ended
SUMMARY_INTERIM = "interim"  # for the cycle in progress


class StoredSummary(SQLModel, table=True):
    """A summary the summary flow produced, one per (roadmap, cycle, kind): writing it
    again replaces the row (and its files), never adds one. The combined report of all
    roadmaps has no roadmap (one per (cycle, kind)). Its files are `stored_summary_file`
    rows (domain/stored_summaries.py), in the database, so every machine sees them."""

    __tablename__ = "stored_summary"
    __table_args__ = (
        UniqueConstraint("roadmap_id", "cycle", "kind"),
        # NULLs are distinct in a unique constraint: the combined report's own index
        Index(
            "uq_stored_summary_all_roadmaps",
            "cycle",
            "kind",
            unique=True,
            sqlite_where=text("roadmap_id IS NULL"),
            postgresql_where=text("roadmap_id IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    roadmap_id: int | None = Field(default=None, foreign_key="roadmap.id", index=True)
    cycle: str = Field(index=True, max_length=9)
    kind: str = Field(default=SUMMARY_YEARLY, max_length=16)
    as_of: date | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    # why the row has no files (an upgrade found none where an earlier release wrote them)
    note: str = ""


class AdminSessionRecord(SQLModel, table=True):
    """A signed-in administrator's session; the cookie carries only its random key.

    `key_hash` is the SHA-256 of that key, so a copy of the table opens no session.
    Logout, a new password and deactivation set `ended_at`, which ends it at once."""

    __tablename__ = "admin_session"

    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(unique=True, max_length=64)
    admin_id: int = Field(foreign_key="admin_user.id", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginAttempt(SQLModel, table=True):
    """One try at the administrator's password (the login form or HTTP Basic)."""

    __tablename__ = "login_attempt"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    email: str = Field(max_length=254, index=True)
    address: str = Field(max_length=64, index=True)
    succeeded: bool = False


class ApiToken(SQLModel, table=True):
    """A personal API token of an administrator (`roadmap admin token EMAIL`), sent as
    `Authorization: Bearer …`. Only its SHA-256 is kept; revoking sets `revoked_at`."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    admin_id: int = Field(foreign_key="admin_user.id", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ArtifactPublish(SQLModel, table=True):
    """When an item's Prefect artifacts were last published, and the latest task change
    (`task.updated_at`) they showed: an item with a later change is stale."""

    __tablename__ = "artifact_publish"

    item_id: int = Field(foreign_key="roadmap_item.id", primary_key=True)
    published_at: datetime = Field(sa_type=UTCDateTime)
    changes_upto: datetime | None = Field(default=None, sa_type=UTCDateTime)

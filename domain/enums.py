"""State and kind values: string enums, never bare strings."""

from __future__ import annotations

from enum import StrEnum


class OrgKind(StrEnum):
    school = "school"
    kindergarten = "kindergarten"
    extra = "extra"


class Role(StrEnum):
    """Who in an organisation receives its task."""

    head = "head"
    curator = "curator"
    centre = "centre"


class TaskStatus(StrEnum):
    open = "open"  # waiting for the answer
    submitted = "submitted"  # answered, waiting for the centre's review
    accepted = "accepted"  # reviewed and accepted by the centre
    returned = "returned"  # sent back for revision with a new due date


class TaskEventKind(StrEnum):
    opened = "opened"
    reminded = "reminded"
    chased = "chased"
    escalated = "escalated"
    nudged = "nudged"
    submitted = "submitted"
    accepted = "accepted"
    returned = "returned"
    link_revoked = "link_revoked"


class NoticeKind(StrEnum):
    """What an email says about one task; (task, kind, step) is unique."""

    opened = "opened"
    reminder = "reminder"
    chase = "chase"
    escalation = "escalation"
    nudge = "nudge"  # continuous task: a quarter passed with no entry
    receipt = "receipt"
    returned = "returned"


class EmailStatus(StrEnum):
    queued = "queued"
    sending = "sending"
    sent = "sent"
    retry = "retry"  # temporary failure, next_attempt_at says when
    failed = "failed"  # permanent failure, last_error says why


class EvidenceFieldKind(StrEnum):
    text = "text"
    long_text = "long_text"
    url = "url"
    number = "number"
    date = "date"
    file = "file"

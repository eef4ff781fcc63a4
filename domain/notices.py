"""What the rules decide is owed to someone; notifications turn it into email rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from domain.enums import NoticeKind


@dataclass(frozen=True)
class OwedNotice:
    """`kind` number `step` about task `task_id` is owed to `recipient` on `on_day`.

    (task_id, kind, step) is unique for ever: once a Notice row exists for it,
    it is never owed again. Notices owed to one recipient on one day go as one email.
    """

    task_id: int
    kind: NoticeKind
    step: int
    on_day: date
    recipient: str
    cc: tuple[str, ...] = ()

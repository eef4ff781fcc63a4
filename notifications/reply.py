"""How a reply finds its task: a per-task reply address and a reference in the subject.

Every task email carries its own reply address (plus-addressing on the centre's mailbox,
`ROADMAP_REPLY_ADDRESS=otvet+{token}@…`) and a short reference in its subject
(`[ДК-13-204]`: item 13, task 204). The token is signed with the secret key, so a reply
that carries it comes from someone who received the task's email.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from config.settings import Settings

REFERENCE_PREFIX = "ДК"
_SIG_LEN = 10
_TOKEN = re.compile(r"^(\d{1,12})-([0-9a-f]{" + str(_SIG_LEN) + r"})$")
# [ДК-13-204], ДК-13-204, дк 13-204; Latin look-alikes of Д and К are not expected
_REFERENCE = re.compile(
    r"\[?\s*ДК\s*[-–—‑ ]\s*(\d{1,3})\s*[-–—‑]\s*(\d{1,12})\s*\]?", re.IGNORECASE
)


@dataclass(frozen=True)
class Reference:
    """A task reference found in text: where it starts and ends, and what it names."""

    item_number: int
    task_id: int
    start: int
    end: int


def task_reference(item_number: int, task_id: int) -> str:
    """`ДК-13-204`: the short reference of a task in subjects and digests."""
    return f"{REFERENCE_PREFIX}-{item_number}-{task_id}"


def find_references(text: str) -> list[Reference]:
    """Every task reference in `text`, in order."""
    return [Reference(int(m[1]), int(m[2]), m.start(), m.end()) for m in _REFERENCE.finditer(text)]


def _signature(task_id: int, settings: Settings) -> str:
    key = settings.secret_key.get_secret_value().encode("utf-8")
    digest = hmac.new(key, f"roadmap.reply.v1:{task_id}".encode("ascii"), hashlib.sha256)
    return digest.hexdigest()[:_SIG_LEN]


def reply_token(task_id: int, settings: Settings) -> str:
    return f"{task_id}-{_signature(task_id, settings)}"


def task_of_token(token: str, settings: Settings) -> int | None:
    """The task a reply token names, or None when it is malformed or not ours."""
    m = _TOKEN.match(token.strip().lower())
    if m is None:
        return None
    task_id = int(m[1])
    if not hmac.compare_digest(m[2], _signature(task_id, settings)):
        return None
    return task_id


def reply_address(settings: Settings, task_id: int | None) -> str | None:
    """The Reply-To of a task's email (None without ROADMAP_REPLY_ADDRESS); with no task
    (a digest), the mailbox without a token: `otvet@…` for `otvet+{token}@…`."""
    pattern = settings.reply_address
    if pattern is None:
        return None
    if task_id is not None:
        return pattern.replace("{token}", reply_token(task_id, settings))
    local, _, domain = pattern.partition("@")
    bare = local.replace("{token}", "").strip("+-._") or "otvet"
    return f"{bare}@{domain}"


def _address_pattern(settings: Settings) -> re.Pattern[str] | None:
    pattern = settings.reply_address
    if pattern is None:
        return None
    before, _, after = pattern.partition("{token}")
    return re.compile(
        re.escape(before) + r"([0-9]{1,12}-[0-9a-f]+)" + re.escape(after), re.IGNORECASE
    )


def tasks_of_addresses(addresses: list[str], settings: Settings) -> list[int]:
    """The tasks whose (valid) reply tokens appear among the recipient addresses."""
    regex = _address_pattern(settings)
    if regex is None:
        return []
    found: list[int] = []
    for addr in addresses:
        m = regex.fullmatch(addr.strip())
        if m is None:
            continue
        task_id = task_of_token(m[1], settings)
        if task_id is not None and task_id not in found:
            found.append(task_id)
    return found

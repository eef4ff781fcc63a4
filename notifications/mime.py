"""Attachments and the MIME message built from an outbox row."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email import encoders
from email.charset import Charset
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any, Protocol

from config.settings import Settings

# SMTP forbids lines over 998 octets; 8bit text is used only when every line fits.
_MAX_8BIT_LINE = 900


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes

    def to_row(self) -> dict[str, str]:
        """The JSON form stored in OutgoingEmail.attachments."""
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "content_b64": base64.b64encode(self.content).decode("ascii"),
        }

    @classmethod
    def from_row(cls, row: dict[str, Any], *, email_id: int | None = None) -> Attachment:
        where = f"outgoing email {email_id}" if email_id is not None else "attachment"
        try:
            filename = str(row["filename"])
            content_type = str(row.get("content_type") or "application/octet-stream")
            content = base64.b64decode(str(row["content_b64"]), validate=True)
        except KeyError as exc:
            raise ValueError(f"{where}: attachment without {exc.args[0]!r}") from None
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"{where}: attachment {row.get('filename')!r}: {exc}") from None
        if "/" not in content_type:
            raise ValueError(f"{where}: attachment {filename!r}: bad type {content_type!r}")
        return cls(filename=filename, content_type=content_type, content=content)


class MessageRow(Protocol):
    """What a message is built from: an outbox row (`domain.emails.OutgoingEmail`), or
    the plain copy of one a deliverer claimed (`notifications.delivery.ClaimedEmail`)."""

    @property
    def id(self) -> int | None: ...
    @property
    def message_id(self) -> str: ...
    @property
    def to_addr(self) -> str: ...
    @property
    def cc_addrs(self) -> Sequence[str]: ...
    @property
    def reply_to(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def text_body(self) -> str: ...
    @property
    def html_body(self) -> str: ...
    @property
    def attachments(self) -> Sequence[dict[str, Any]]: ...


def address_of(mailbox: str) -> str:
    """The bare address of 'Name <addr@host>' (or of a bare address)."""
    addr = parseaddr(mailbox)[1]
    if "@" not in addr:
        raise ValueError(f"not an email address: {mailbox!r}")
    return addr


def mail_domain(settings: Settings) -> str:
    """The domain of ROADMAP_MAIL_FROM, used in Message-IDs and calendar UIDs."""
    try:
        return address_of(settings.mail_from).rsplit("@", 1)[1].lower()
    except ValueError:
        raise ValueError(
            f"ROADMAP_MAIL_FROM {settings.mail_from!r} has no address; "
            "use a form like 'Центр <roadmap@example.org>'"
        ) from None


def _text_cte(text: str) -> str | None:
    """8bit keeps .eml files readable as they are; long lines fall back to the default."""
    if all(len(line.encode("utf-8")) <= _MAX_8BIT_LINE for line in text.splitlines()):
        return "8bit"
    return None


def _text_part(text: str, subtype: str, readable: bool) -> MIMEText:
    charset = Charset("utf-8")
    if readable and _text_cte(text) == "8bit":
        charset.body_encoding = None  # type: ignore[assignment]  # 8bit: .eml reads as is
    return MIMEText(text, subtype, charset)  # type: ignore[arg-type]


def _attachment_part(content_type: str) -> MIMEBase:
    """An empty part of this type, its parameters kept (text/calendar; method=PUBLISH)."""
    kind, *params = (piece.strip() for piece in content_type.split(";"))
    maintype, subtype = kind.split("/", 1)
    part = MIMEBase(maintype, subtype)
    for param in params:
        key, sep, value = param.partition("=")
        if sep and key.strip():
            part.set_param(key.strip().lower(), value.strip().strip('"'))
    return part


def _address(mailbox: str) -> str:
    name, addr = parseaddr(mailbox)
    return formataddr((name, addr), charset="utf-8") if name else addr


def build_message(
    row: MessageRow, *, settings: Settings, now: datetime, readable: bool = False
) -> Message:
    """multipart/alternative (text + HTML), wrapped in multipart/mixed with attachments.

    Built with the email package's classic (compat32) classes: its headers are encoded
    once here, which is several times cheaper than the modern policy's header folding
    and matters when thousands of messages leave in one run. `readable` writes the text
    parts as 8-bit UTF-8 (for .eml files a person opens); otherwise base64.
    """
    body = MIMEMultipart("alternative")
    body.attach(_text_part(row.text_body, "plain", readable))
    body.attach(_text_part(row.html_body, "html", readable))
    if row.attachments:
        msg: Message = MIMEMultipart("mixed")
        msg.attach(body)
        for data in row.attachments:
            att = Attachment.from_row(data, email_id=row.id)
            part = _attachment_part(att.content_type)
            part.set_payload(att.content)
            encoders.encode_base64(part)
            filename: str | tuple[str, str, str] = att.filename
            if not att.filename.isascii():
                filename = ("utf-8", "", att.filename)
            part.add_header("Content-Disposition", "attachment", filename=filename)
            msg.attach(part)
    else:
        msg = body
    msg["Message-ID"] = row.message_id
    msg["Date"] = format_datetime(now)
    msg["From"] = _address(settings.mail_from)
    msg["To"] = row.to_addr
    if row.cc_addrs:
        msg["Cc"] = ", ".join(row.cc_addrs)
    msg["Subject"] = Header(row.subject, "utf-8")  # type: ignore[assignment]
    # Nobody reads the sending mailbox: replies go to the centre. (A malformed
    # ROADMAP_CENTRE_EMAIL must not stop the mail: the header is then left out.)
    reply_to = row.reply_to or parseaddr(settings.centre_email)[1]
    if "@" in reply_to:
        msg["Reply-To"] = reply_to
    msg["Auto-Submitted"] = "auto-generated"
    return msg


def safe_filename_part(value: str, limit: int = 80) -> str:
    """Letters, digits, dots, dashes and underscores only (for outbox file names)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", value).strip("._-")
    return cleaned[:limit] or "message"

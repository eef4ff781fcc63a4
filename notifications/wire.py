"""The bytes of an outbox row on the wire, written directly.

The same message as `notifications.mime.build_message` (multipart/alternative text +
HTML, wrapped in multipart/mixed with attachments, base64 bodies, encoded headers), but
serialised by hand: the email package's generator costs more than a millisecond a
message, which is most of the CPU a delivery run has at the wire's speed.
"""

from __future__ import annotations

import binascii
import os
from datetime import datetime
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache
from urllib.parse import quote

from config.settings import Settings
from notifications.mime import Attachment, MessageRow

CRLF = b"\r\n"


def _header(value: str) -> str:
    """The value as is when ASCII, else RFC 2047 base64 words of at most 45 octets
    (never splitting a character), folded one word a line."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"a header value may not contain a line break: {value!r}")
    if value.isascii():
        return value
    data = value.encode("utf-8")
    words: list[str] = []
    start, size = 0, len(data)
    while start < size:
        end = min(start + 45, size)
        while end < size and data[end] & 0xC0 == 0x80:  # a UTF-8 continuation byte
            end -= 1
        words.append(_word(data[start:end]))
        start = end
    return "\r\n ".join(words)


def _word(data: bytes) -> str:
    return "=?utf-8?b?" + binascii.b2a_base64(data, newline=False).decode("ascii") + "?="


def _address(mailbox: str) -> str:
    name, addr = parseaddr(mailbox)
    return formataddr((name, addr), charset="utf-8") if name else addr


@lru_cache(maxsize=8)
def _fixed_headers(mail_from: str) -> bytes:
    """From and Auto-Submitted: the same for every message of a run."""
    lines = [f"From: {_header(_address(mail_from))}", "Auto-Submitted: auto-generated"]
    return CRLF.join(line.encode("ascii") for line in lines)


@lru_cache(maxsize=8)
def _date(now: datetime) -> bytes:
    """The Date header: a run stamps all its messages with its `now`."""
    return f"Date: {format_datetime(now)}".encode("ascii")


@lru_cache(maxsize=8)
def _centre_reply_to(centre_email: str) -> str:
    return parseaddr(centre_email)[1]


def _reply_to(row: MessageRow, centre_email: str) -> bytes | None:
    """The task's own reply address (answers by email) or the centre's, as in
    notifications.mime; a malformed centre address leaves the header out."""
    reply_to = row.reply_to or _centre_reply_to(centre_email)
    return f"Reply-To: {_header(reply_to)}".encode("ascii") if "@" in reply_to else None


def _base64_lines(data: bytes) -> bytes:
    """base64 in lines of 76 characters (57 bytes each), CRLF after every line."""
    if not data:
        return CRLF
    encoded = binascii.b2a_base64(data, newline=False)
    return CRLF.join([encoded[i : i + 76] for i in range(0, len(encoded), 76)]) + CRLF


def _part(headers: list[str], data: bytes) -> bytes:
    head = CRLF.join(h.encode("ascii") for h in headers)
    return head + CRLF + CRLF + _base64_lines(data)


def _text(body: str, subtype: str) -> bytes:
    return _part(
        [
            f'Content-Type: text/{subtype}; charset="utf-8"',
            "MIME-Version: 1.0",
            "Content-Transfer-Encoding: base64",
        ],
        body.encode("utf-8"),
    )


def _attachment(att: Attachment) -> bytes:
    # the full type with its parameters (text/calendar; method=PUBLISH; charset=UTF-8)
    content_type = "; ".join(p.strip() for p in att.content_type.split(";") if p.strip())
    if att.filename.isascii() and '"' not in att.filename and "\\" not in att.filename:
        disposition = f'attachment; filename="{_header(att.filename)}"'
    else:
        disposition = f"attachment; filename*=utf-8''{quote(att.filename, safe='')}"
    return _part(
        [
            f"Content-Type: {_header(content_type)}",
            "MIME-Version: 1.0",
            "Content-Transfer-Encoding: base64",
            f"Content-Disposition: {disposition}",
        ],
        att.content,
    )


def _multipart(subtype: str, parts: list[bytes], headers: list[bytes]) -> bytes:
    boundary = f"===============b{os.urandom(16).hex()}=="
    out = [
        f'Content-Type: multipart/{subtype}; boundary="{boundary}"'.encode("ascii"),
        b"MIME-Version: 1.0",
        *headers,
        b"",
    ]
    for part in parts:
        out.append(f"--{boundary}".encode("ascii"))
        out.append(part)
    out.append(f"--{boundary}--".encode("ascii"))
    return CRLF.join(out) + CRLF


def message_bytes(row: MessageRow, *, settings: Settings, now: datetime) -> bytes:
    """The message for `row`, CRLF line ends, ready for SMTP DATA. ValueError for a row
    that cannot be sent (a broken attachment, a line break in a header)."""
    headers = [
        f"Message-ID: {_header(row.message_id)}".encode("ascii"),
        _date(now),
        _fixed_headers(settings.mail_from),
        f"To: {_header(row.to_addr)}".encode("ascii"),
    ]
    reply_to = _reply_to(row, settings.centre_email)
    if reply_to is not None:
        headers.append(reply_to)
    if row.cc_addrs:
        headers.append(f"Cc: {_header(', '.join(row.cc_addrs))}".encode("ascii"))
    headers.append(f"Subject: {_header(row.subject)}".encode("ascii"))
    body = [_text(row.text_body, "plain"), _text(row.html_body, "html")]
    if not row.attachments:
        return _multipart("alternative", body, headers)
    attachments = [
        _attachment(Attachment.from_row(data, email_id=row.id)) for data in row.attachments
    ]
    inner = _multipart("alternative", body, [])
    return _multipart("mixed", [inner, *attachments], headers)

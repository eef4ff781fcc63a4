"""A real SMTP server on loopback (aiosmtpd) that tests read messages from."""

from __future__ import annotations

import email
import email.policy
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from notifications.sink import free_port


@dataclass
class CaughtMessage:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def to(self) -> str:
        return str(self.message["To"])

    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else ""

    def attachments(self) -> list[EmailMessage]:
        return list(self.message.iter_attachments())


@dataclass
class SinkHandler:
    """Stores every accepted message; `fail_with` maps a recipient to an SMTP reply
    such as "451 4.3.0 try later" or "550 5.1.1 no such user" (kept until cleared)."""

    messages: list[CaughtMessage] = field(default_factory=list)
    fail_with: dict[str, str] = field(default_factory=dict)
    fail_times: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        with self.lock:
            reply = self.fail_with.get(address.lower())
            if reply is not None:
                left = self.fail_times.get(address.lower())
                if left is not None:
                    if left <= 1:
                        self.fail_with.pop(address.lower())
                        self.fail_times.pop(address.lower())
                    else:
                        self.fail_times[address.lower()] = left - 1
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        with self.lock:
            self.messages.append(
                CaughtMessage(str(envelope.mail_from), list(envelope.rcpt_tos), msg)
            )
        return "250 Message accepted"

    def to(self, address: str) -> list[CaughtMessage]:
        with self.lock:
            return [m for m in self.messages if address.lower() in [r.lower() for r in m.rcpt_tos]]

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()


class SmtpSink:
    """`with SmtpSink() as sink:` runs a server on 127.0.0.1 and a free port."""

    def __init__(self) -> None:
        self.handler = SinkHandler()
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=free_port())

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def messages(self) -> list[CaughtMessage]:
        return self.handler.messages

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

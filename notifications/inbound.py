"""Reading an email reply: MIME, encodings, HTML, quoted history, signatures, and the
evidence in it. Plain functions over bytes and text; no IMAP, no database."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

from config.settings import Settings
from domain.enums import EvidenceFieldKind
from domain.roadmap import EvidenceField
from notifications.reply import Reference, find_references
from services.answers import (
    FILES_PER_FIELD,
    LONG_TEXT_MAX,
    TEXT_MAX,
    UploadedFile,
    check_file,
)

# Charsets tried when a part declares none, or a wrong one: what Russian clients send.
_FALLBACK_CHARSETS = ("utf-8", "cp1251", "koi8-r")


@dataclass(frozen=True)
class InboundAttachment:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class ParsedReply:
    message_id: str  # the Message-ID header, "" when missing
    key: str  # the Message-ID, or a hash of the message when it has none
    from_addr: str  # bare, lower case
    recipients: tuple[str, ...]  # To, Cc, Delivered-To, X-Original-To: bare, lower case
    subject: str
    in_reply_to: tuple[str, ...]  # In-Reply-To then References, newest first
    text: str  # the whole body as text (HTML converted)
    new_text: str  # the reply's own text: quoted history and signature stripped
    attachments: tuple[InboundAttachment, ...]
    auto: str  # why this is an auto-reply or a bounce (Russian), "" when it is not


# --- MIME ---------------------------------------------------------------------------------


def decode_bytes(payload: bytes, charset: str | None) -> str:
    """Text in the declared charset, else the first of UTF-8, cp1251, KOI8-R that fits."""
    tried: list[str] = []
    if charset:
        tried.append(charset)
    tried += [c for c in _FALLBACK_CHARSETS if c != (charset or "").lower()]
    for name in tried:
        try:
            return payload.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("utf-8", errors="replace")


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return decode_bytes(payload, part.get_content_charset())


def _message_ids(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(re.findall(r"<[^<>\s]+>", str(value)))


_ANGLE_ADDRESS = re.compile(r"<([^<>@\s]+@[^<>\s]+)>")


def _addresses(msg: Message, *names: str) -> list[str]:
    found: list[str] = []
    for name in names:
        for value in msg.get_all(name) or []:
            parsed = getattr(value, "addresses", None)
            addrs = [a.addr_spec for a in parsed] if parsed else []
            if not any("@" in a and " " not in a for a in addrs):
                text = str(value)
                addrs = _ANGLE_ADDRESS.findall(text) or [a for _, a in getaddresses([text])]
            found += [a.strip().lower() for a in addrs if "@" in a and " " not in a.strip()]
    return found


def auto_reason(msg: Message) -> str:
    """Why `msg` is an auto-reply or a delivery report, in Russian; "" for a person's mail."""
    auto_submitted = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"автоматическое письмо (Auto-Submitted: {auto_submitted})"
    for header in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if msg.get(header) is not None:
            return f"автоответ ({header})"
    precedence = str(msg.get("Precedence", "")).strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"массовое или автоматическое письмо (Precedence: {precedence})"
    if msg.get_content_type() == "multipart/report" or any(
        p.get_content_type() in ("message/delivery-status", "message/disposition-notification")
        for p in msg.walk()
    ):
        return "отчёт о доставке (DSN)"
    sender = parseaddr(str(msg.get("From", "")))[1].lower()
    if sender.split("@", 1)[0] in ("mailer-daemon", "postmaster"):
        return f"отчёт о доставке (от {sender})"
    if str(msg.get("Return-Path", "")).strip() == "<>":
        return "отчёт о доставке (пустой Return-Path)"
    subject = str(msg.get("Subject", "")).strip().lower()
    if subject.startswith(("автоответ", "auto:", "automatic reply", "out of office")):
        return "автоответ (по теме письма)"
    return ""


# An image shown inside the message (inline, or referenced by Content-ID) smaller than
# this is taken for a logo or a signature picture; a larger JPEG or PNG is a photo the
# head put into the text (Apple Mail and phones place photos inline) and is kept.
SIGNATURE_IMAGE_MAX = 100 * 1024
_PHOTO_TYPES = ("image/jpeg", "image/png")


def _is_signature_image(part: Message) -> bool:
    if part.get_content_maintype() != "image" or (
        part.get_content_disposition() != "inline" and part.get("Content-ID") is None
    ):
        return False
    payload = part.get_payload(decode=True)
    size = len(payload) if isinstance(payload, bytes) else 0
    return part.get_content_type() not in _PHOTO_TYPES or size < SIGNATURE_IMAGE_MAX


def parse_reply(raw: bytes) -> ParsedReply:
    """Read a message as it came from the server."""
    msg = _parse(raw)
    plain: list[str] = []
    html: list[str] = []
    attachments: list[InboundAttachment] = []
    for part in _leaves(msg):
        ctype = part.get_content_type()
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            (plain if ctype == "text/plain" else html).append(_part_text(part))
            continue
        if _is_signature_image(part):
            continue
        if filename or disposition == "attachment":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                attachments.append(
                    InboundAttachment(
                        filename=filename or "вложение", content_type=ctype, content=payload
                    )
                )
    # a client that sends an empty plain part beside the HTML one: the HTML is the text
    text = "\n".join(plain) if any(p.strip() for p in plain) else ""
    if not text.strip() and html:
        text = "\n".join(html_to_text(h) for h in html)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    message_id = (_message_ids(msg.get("Message-ID")) or ("",))[0]
    key = message_id or f"<sha256-{hashlib.sha256(raw).hexdigest()[:40]}@inbound.invalid>"
    references = _message_ids(msg.get("In-Reply-To")) + tuple(
        reversed(_message_ids(msg.get("References")))
    )
    return ParsedReply(
        message_id=message_id,
        key=key[:255],
        from_addr=(_addresses(msg, "From") or [""])[0],
        recipients=tuple(_addresses(msg, "To", "Cc", "Delivered-To", "X-Original-To")),
        subject=" ".join(str(msg.get("Subject", "")).split()),
        in_reply_to=tuple(dict.fromkeys(references)),
        text=text,
        new_text=strip_quoted(text),
        attachments=tuple(attachments),
        auto=auto_reason(msg),
    )


def _parse(raw: bytes) -> EmailMessage:
    from email import message_from_bytes

    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def parse_headers(raw: bytes) -> tuple[str, str, str]:
    """(key, from, subject) of a message read only as far as its headers."""
    msg = _parse(raw)
    message_id = (_message_ids(msg.get("Message-ID")) or ("",))[0]
    key = message_id or f"<sha256-{hashlib.sha256(raw).hexdigest()[:40]}@inbound.invalid>"
    return key[:255], (_addresses(msg, "From") or [""])[0], str(msg.get("Subject", ""))


def header_auto_reason(raw_headers: bytes) -> str:
    return auto_reason(_parse(raw_headers))


def _leaves(msg: Message) -> list[Message]:
    """The leaf parts, not descending into attached messages (a forwarded or quoted mail)."""
    if msg.is_multipart():
        out: list[Message] = []
        payload = msg.get_payload()
        assert isinstance(payload, list)
        for sub in payload:
            if isinstance(sub, Message):
                out += _leaves(sub)
        return out
    if msg.get_content_maintype() == "message":
        return []
    return [msg]


# --- HTML ---------------------------------------------------------------------------------

_BLOCKS = frozenset(
    [
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "ul",
        "ol",
        "pre",
        "hr",
        "section",
        "article",
        "header",
        "footer",
    ]
)
_SKIP = frozenset({"script", "style", "head", "title"})
_QUOTE_CLASSES = ("gmail_quote", "moz-cite-prefix", "yahoo_quoted", "divrplyfwdmsg")


# where the HTML breaks a line: <br>, a block's edge (<div>: one line each, as Gmail
# writes them), a paragraph's end (<p>: a blank line after); the source's own line breaks
# between such marks are layout, not text
_BR, _BLOCK, _PARAGRAPH = "\x02", "\x00", "\x01"
_BREAKS = re.compile(r"[\s\x00\x01\x02]*[\x00\x01\x02][\s\x00\x01\x02]*")


def _breaks(m: re.Match[str]) -> str:
    run = m.group(0)
    count = run.count(_BR) + (1 if _BLOCK in run or _PARAGRAPH in run else 0)
    return "\n" * max(count, 2 if _PARAGRAPH in run else 1)


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.quote_depth = 0
        self.stack: list[tuple[str, bool]] = []  # (tag, opened a quote)
        self.href: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        quote = tag == "blockquote" or any(c in (values.get("class") or "") for c in _QUOTE_CLASSES)
        if tag in ("br", "hr", "img", "meta", "link", "input"):
            if tag in ("br", "hr"):
                self.out.append(_BR)
            return
        self.stack.append((tag, quote))
        if tag in _SKIP:
            self.skip += 1
        if quote:
            self.quote_depth += 1
        if tag in _BLOCKS:
            self.out.append(_BLOCK)
        if tag == "a":
            self.href.append(values.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            open_tag, quote = self.stack.pop()
            if open_tag in _SKIP:
                self.skip -= 1
            if quote:
                self.quote_depth -= 1
            if open_tag == "a" and self.href:
                href = self.href.pop()
                if href.startswith(("http://", "https://")) and not self.skip:
                    tail = "".join(self.out[-3:])
                    if href not in tail:
                        self.out.append(f" ({href})")
            if open_tag in _BLOCKS:
                self.out.append(_PARAGRAPH if open_tag == "p" else _BLOCK)
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.quote_depth:
            # quoted history: kept as '>' lines, which the quote stripping removes
            lines = data.split("\n")
            self.out.append("\n".join(f"> {line}" if line.strip() else line for line in lines))
            return
        self.out.append(data)


def html_to_text(html: str) -> str:
    parser = _TextOf()
    parser.feed(html)
    parser.close()
    text = _BREAKS.sub(_breaks, "".join(parser.out)).replace("\xa0", " ")
    lines = [
        " ".join(line.split()) if not line.lstrip().startswith(">") else line.strip()
        for line in text.split("\n")
    ]
    out: list[str] = []
    for line in lines:
        if not line and out and not out[-1]:
            continue
        out.append(line)
    return "\n".join(out).strip()


# --- quoted history and signatures ----------------------------------------------------------

_SEPARATOR = re.compile(
    r"^[-_=*\s]{2,}\s*(original message|исходное сообщение|пересылаемое сообщение|"
    r"forwarded message|перенаправленное сообщение|переадресованное сообщение)\s*[-_=*\s]*$",
    re.IGNORECASE,
)
_OUTLOOK_RULE = re.compile(r"^_{8,}$")
_ATTRIBUTION = re.compile(
    r"(пишет|написал|написала|написал\(а\)|wrote|schrieb)\s*:\s*$", re.IGNORECASE
)
_DATED_ADDRESS = re.compile(r"\d{1,2}:\d{2}.*@.*:\s*$")
_HEADER_FROM = re.compile(r"^(from|от|от кого)\s*:\s*\S", re.IGNORECASE)
_HEADER_NEXT = re.compile(
    r"^(sent|date|to|subject|отправлено|дата|кому|тема|cc|копия)\s*:", re.IGNORECASE
)
# the date or time an attribution begins with ("пн, 5 мая 2025 г. в 10:00, …")
_STAMP = re.compile(r"\d{1,2}:\d{2}|\b(?:19|20)\d{2}\b")
_SIGNOFF = re.compile(
    r"^(с уважением|с наилучшими пожеланиями|best regards|kind regards|regards|"
    r"отправлено (с|из)\b|sent from my|получено с помощью|--\s*$)",
    re.IGNORECASE,
)


def _starts_history(lines: Sequence[str], i: int) -> bool:
    line = lines[i].strip()
    if _SEPARATOR.match(line) or _OUTLOOK_RULE.match(line):
        return True
    if _ATTRIBUTION.search(line) or _DATED_ADDRESS.search(line):
        return True
    if i + 1 < len(lines) and line and _STAMP.search(line) and not line.endswith(":"):
        after = lines[i + 1].strip()
        joined = f"{line} {after}"
        if (_ATTRIBUTION.search(joined) or _DATED_ADDRESS.search(joined)) and not (
            _ATTRIBUTION.search(after) or _DATED_ADDRESS.search(after)
        ):
            # an attribution a client wrapped onto two lines (the second ends with ':'); a
            # whole attribution on the next line leaves this line (the reply's own) alone
            return True
    if _HEADER_FROM.match(line):
        following = [lines[j].strip() for j in range(i + 1, min(i + 5, len(lines)))]
        return any(_HEADER_NEXT.match(f) for f in following)
    return False


def strip_quoted(text: str) -> str:
    """The reply's own text: up to the quoted history or the signature, without '>' lines."""
    lines = text.replace("\r\n", "\n").split("\n")
    out: list[str] = []
    for i, raw_line in enumerate(lines):
        line = raw_line.rstrip()
        if line.lstrip().startswith(">"):
            continue
        if line == "--" or line == "-- " or raw_line == "-- ":
            break
        if _starts_history(lines, i) or _SIGNOFF.match(line.strip()):
            break
        out.append(line)
    while out and not out[-1].strip():
        out.pop()
    while out and not out[0].strip():
        out.pop(0)
    return "\n".join(out)


_URL = re.compile(r"https?://[^\s<>\"'()\[\]{}]+", re.IGNORECASE)


def find_links(text: str) -> list[str]:
    links: list[str] = []
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(".,;:!?»")
        if url not in links:
            links.append(url)
    return links


def split_by_references(text: str) -> list[tuple[Reference, str]]:
    """A digest reply cut at each task reference the head wrote: (reference, its text)."""
    refs = find_references(text)
    parts: list[tuple[Reference, str]] = []
    for n, ref in enumerate(refs):
        end = refs[n + 1].start if n + 1 < len(refs) else len(text)
        parts.append((ref, text[ref.end : end].strip(" \t\n:—–-.")))
    return parts


# --- evidence ----------------------------------------------------------------------------

_STOP_WORDS = frozenset(
    [
        "количество",
        "кол",
        "во",
        "колво",
        "число",
        "всего",
        "из",
        "них",
        "том",
        "в",
        "на",
        "по",
        "и",
        "или",
        "для",
        "ссылка",
    ]
)
_WORD = re.compile(r"[0-9A-Za-zА-Яа-яЁё]+")
_KEY_VALUE = re.compile(
    r"^\s*[-•*]?\s*(?P<key>[^:=\n]{2,120}?)\s*(?::|=|\s[—–-]\s)\s*(?P<value>.*)$"
)
_NUMBER_AFTER = re.compile(r"^\s*[-•*]?\s*(?P<key>[^\d:=\n]{2,120}?)\s*(?P<value>\d[\d \u00a0]*)")
_INTEGER = re.compile(r"\d(?:[\d\u00a0 ]*\d)?")
_DATE = re.compile(r"\b\d{1,2}\.\d{1,2}\.\d{4}\b")


def _words(text: str) -> list[str]:
    return [
        w.lower().replace("ё", "е")
        for w in _WORD.findall(text)
        if len(w) >= 3 and w.lower() not in _STOP_WORDS
    ]


def _same_word(a: str, b: str) -> bool:
    """Russian forms of one word: a long common beginning (наставников ~ наставники)."""
    common = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common += 1
    return common >= max(4, min(len(a), len(b)) - 3)


def label_score(key: str, label: str) -> float:
    """How well a phrase the head wrote before a value names a field's label: the share
    of the label's words named by the phrase's last words ("Приказ издан. Дата приказа"
    names "Дата приказа"), 0 when its last word is not in the label."""
    key_words, label_words = _words(key), _words(label)
    if not key_words or not label_words:
        return 0.0
    for start in range(len(key_words)):
        tail = key_words[start:]
        if all(any(_same_word(k, w) for w in label_words) for k in tail):
            named = sum(1 for w in label_words if any(_same_word(k, w) for k in tail))
            return named / len(label_words)
    return 0.0


@dataclass
class Extraction:
    """What a reply gives an item's answer fields."""

    values: dict[str, str] = field(default_factory=dict)  # field name -> raw value
    files: list[UploadedFile] = field(default_factory=list)
    received: list[tuple[str, str]] = field(default_factory=list)  # (label, shown value)
    missing: list[str] = field(default_factory=list)  # labels of required fields not found
    refused: list[str] = field(default_factory=list)  # why an attachment was not taken
    body_field: str = ""  # the text field the reply's whole text went to ("" when none)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.refused


def _labelled(lines: Sequence[str], spec: EvidenceField, pattern: re.Pattern[str]) -> str | None:
    best: tuple[float, str] | None = None
    for line in lines:
        m = pattern.match(line)
        if m is None:
            continue
        score = label_score(m["key"], spec.label) or label_score(m["key"], spec.name)
        if score > 0 and (best is None or score > best[0]):
            best = (score, m["value"].strip())
    return None if best is None else best[1]


def _best_field_for(key: str, fields: Sequence[EvidenceField]) -> EvidenceField | None:
    scored = [(label_score(key, f.label), f) for f in fields]
    scored = [(s, f) for s, f in scored if s > 0]
    return max(scored, key=lambda pair: pair[0])[1] if scored else None


# "наставников: 12, наставляемых — 15": a comma or semicolon followed by another label
# and its number starts another field's value on the same line
_NEXT_LABELLED = re.compile(r"[,;]\s+(?=[^\W\d_][^,;:=\n\d]{1,118}?\s*(?::|=|\s[—–-]\s|\s)\s*\d)")


def clauses(text: str) -> list[str]:
    """The reply's non-empty lines, each cut where another labelled number begins."""
    out: list[str] = []
    for line in text.split("\n"):
        if line.strip():
            out += [c for c in _NEXT_LABELLED.split(line) if c.strip()]
    return out


def extract_answer(
    *,
    fields: Sequence[EvidenceField],
    text: str,
    attachments: Sequence[InboundAttachment],
    settings: Settings,
) -> Extraction:
    """The answer a reply gives: numbers, dates and short texts after their labels
    ("наставников: 12"), links for link fields, attachments for file fields, and the
    reply's text for the description; required fields it lacks are listed as missing."""
    out = Extraction()
    lines = clauses(text)
    value_fields = [f for f in fields if f.kind is not EvidenceFieldKind.file]
    links = find_links(text)
    used_links: set[str] = set()

    for spec in value_fields:
        # a line names this field only when this field is its best match
        own_lines = [
            line
            for line in lines
            if (m := _KEY_VALUE.match(line) or _NUMBER_AFTER.match(line)) is not None
            and _best_field_for(m["key"], value_fields) is spec
        ]
        value: str | None = None
        if spec.kind is EvidenceFieldKind.number:
            found = _labelled(own_lines, spec, _KEY_VALUE) or _labelled(
                own_lines, spec, _NUMBER_AFTER
            )
            if found and (number := _INTEGER.search(found)) and not _DATE.search(found):
                value = number.group(0)
        elif spec.kind is EvidenceFieldKind.date:
            found = _labelled(own_lines, spec, _KEY_VALUE)
            if found and (day := _DATE.search(found)):
                value = day.group(0)
        elif spec.kind is EvidenceFieldKind.url:
            found = _labelled(own_lines, spec, _KEY_VALUE)
            named = find_links(found or "")
            if named:
                value = named[0]
            else:
                value = next((link for link in links if link not in used_links), None)
            if value:
                used_links.add(value)
        else:
            value = _labelled(own_lines, spec, _KEY_VALUE)
        if value:
            out.values[spec.name] = value

    # the description: the reply's whole text, in the first text field nothing else filled
    body = text.strip()
    if body:
        text_fields = [
            f
            for f in value_fields
            if f.kind in (EvidenceFieldKind.long_text, EvidenceFieldKind.text)
            and f.name not in out.values
        ]
        text_fields.sort(key=lambda f: (f.kind is not EvidenceFieldKind.long_text, not f.required))
        if text_fields:
            spec = text_fields[0]
            out.values[spec.name] = body[: _text_limit(spec)]
            out.body_field = spec.name

    file_fields = [f for f in fields if f.kind is EvidenceFieldKind.file]
    for attachment in attachments:
        if not file_fields:
            out.refused.append(
                f"Файл «{attachment.filename}»: к этой задаче файлы не прикладываются."
            )
            continue
        upload = UploadedFile(
            field=file_fields[0].name,
            filename=attachment.filename,
            content=attachment.content,
            content_type=attachment.content_type,
        )
        problem = check_file(upload, settings)
        if problem is not None:
            out.refused.append(problem)
        else:
            _add_file(out, upload)
    _tally(fields, out)
    return out


def _text_limit(spec: EvidenceField) -> int:
    return LONG_TEXT_MAX if spec.kind is EvidenceFieldKind.long_text else TEXT_MAX


def _add_file(out: Extraction, upload: UploadedFile) -> None:
    if sum(1 for f in out.files if f.field == upload.field) >= FILES_PER_FIELD:
        out.refused.append(f"Файл «{upload.filename}»: не больше {FILES_PER_FIELD} файлов.")
    else:
        out.files.append(upload)


def _tally(fields: Sequence[EvidenceField], out: Extraction) -> None:
    """What was received and which required fields are still missing."""
    out.received.clear()
    out.missing.clear()
    for spec in fields:
        if spec.kind is EvidenceFieldKind.file:
            names = [f.filename for f in out.files if f.field == spec.name]
            if names:
                out.received.append((spec.label, "файлы: " + ", ".join(names)))
            elif spec.required:
                out.missing.append(spec.label)
        elif spec.name in out.values:
            shown = " ".join(out.values[spec.name].split())
            out.received.append((spec.label, shown if len(shown) <= 300 else shown[:299] + "…"))
        elif spec.required:
            out.missing.append(spec.label)


def merge_extractions(
    fields: Sequence[EvidenceField], earlier: Sequence[Extraction], latest: Extraction
) -> Extraction:
    """One answer from a reply that lacked fields and the replies that followed it: each
    later reply adds to what came before. A value a later reply names after its label
    replaces the earlier one; a later reply's text that went to the description is added
    to the description given before; files are added up (to the page's limit per field).
    Only the latest reply's refusals count: the earlier ones were told to the sender with
    their own receipts."""
    specs = {f.name: f for f in fields}
    out = Extraction(body_field=latest.body_field)
    for got in [*earlier, latest]:
        for name, value in got.values.items():
            before = out.values.get(name)
            if name == got.body_field and before and name in specs:
                if value not in before:
                    out.values[name] = f"{before}\n\n{value}"[: _text_limit(specs[name])]
            else:
                out.values[name] = value
        refused = len(out.refused)
        for upload in got.files:
            if not any(f.field == upload.field and f.content == upload.content for f in out.files):
                _add_file(out, upload)
        if got is not latest:
            del out.refused[refused:]
    out.refused += latest.refused
    _tally(fields, out)
    return out

"""Properties of the reply parser on generated mail: every Russian encoding in every
transfer encoding, quoted history in the shapes clients write it, numbers after labels,
digest replies cut at their references, and follow-up replies adding up."""

from __future__ import annotations

import html
from email.charset import BASE64, QP, Charset
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.enums import EvidenceFieldKind
from domain.roadmap import EvidenceField
from notifications.inbound import (
    SIGNATURE_IMAGE_MAX,
    InboundAttachment,
    extract_answer,
    html_to_text,
    merge_extractions,
    parse_reply,
    split_by_references,
    strip_quoted,
)
from notifications.reply import task_reference
from tests.conftest import make_settings

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
RUSSIAN = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
WORDS = [
    "наставников",
    "приказ",
    "издан",
    "база",
    "сформирована",
    "пары",
    "закреплены",
    "школа",
    "ответственный",
    "назначен",
    "в",
    "сентябре",
    "всё",
    "готово",
    "12",
    "2022",
    "№5",
    "(см.",
    "сайт)",
    "—",
    "и",
]
FIELDS = [
    EvidenceField(
        name="mentors", label="Количество наставников", kind=EvidenceFieldKind.number, required=True
    ),
    EvidenceField(
        name="mentees",
        label="Количество наставляемых",
        kind=EvidenceFieldKind.number,
        required=False,
    ),
    EvidenceField(name="order", label="Приказ (скан)", kind=EvidenceFieldKind.file, required=True),
    EvidenceField(
        name="comment", label="Комментарий", kind=EvidenceFieldKind.long_text, required=False
    ),
]

text_lines = st.lists(
    st.text(alphabet=RUSSIAN + "0123456789 .,:;!?-()", min_size=1, max_size=60).map(str.strip),
    min_size=1,
    max_size=6,
).map(lambda lines: [line for line in lines if line])
own_lines = st.lists(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(" ".join),
    min_size=1,
    max_size=5,
)


def _message(text: str, charset: str, transfer: str, subject: str) -> bytes:
    cs = Charset(charset)
    body = {"quoted-printable": QP, "base64": BASE64, "8bit": None}[transfer]
    cs.body_encoding = body  # type: ignore[assignment]
    cs.header_encoding = BASE64 if transfer == "base64" else QP
    msg = MIMEMultipart("mixed")
    msg.attach(MIMEText(text, "plain", cs))  # type: ignore[arg-type]
    pdf = MIMEApplication(PDF, "pdf")
    pdf.add_header("Content-Disposition", "attachment", filename=(charset, "", "приказ 5.pdf"))
    msg.attach(pdf)
    msg["From"] = Header("Иванова А. П.", cs).encode() + " <Head@School.example>"
    msg["To"] = "otvet@imcso.example"
    msg["Subject"] = Header(subject, cs).encode()
    msg["Message-ID"] = "<p1@school.example>"
    return msg.as_bytes()


@PROPS
@given(
    lines=text_lines,
    charset=st.sampled_from(["utf-8", "koi8-r", "cp1251", "windows-1251"]),
    transfer=st.sampled_from(["8bit", "quoted-printable", "base64"]),
)
def test_every_russian_encoding_reads_back(lines: list[str], charset: str, transfer: str) -> None:
    text = "\n".join(lines) or "Готово"
    reply = parse_reply(_message(text + "\n", charset, transfer, f"Re: {text[:40]}"))
    assert reply.text.strip() == text.strip()
    assert reply.subject == " ".join(f"Re: {text[:40]}".split())
    assert reply.from_addr == "head@school.example"
    assert [a.filename for a in reply.attachments] == ["приказ 5.pdf"]


ATTRIBUTIONS = [
    "пн, 5 мая 2025 г. в 10:00, Методический центр <roadmap@imcso.example>:",
    "пн, 5 мая 2025 г. в 10:00, Методический центр <roadmap@imcso.example> пишет:",
    "пн, 5 мая 2025 г. в 10:00, Методический центр <\nroadmap@imcso.example>:",
    '05.05.2025, 10:00, "Методический центр" <roadmap@imcso.example>:',
    "Понедельник, 5 мая 2025, 10:00 +03:00 от Методический центр <roadmap@imcso.example>:",
    "05.05.2025 10:00, Методический центр пишет:",
    "В пн, 5 мая 2025 г. в 10:00 Методический центр <roadmap@imcso.example> написал(а):",
    "On Mon, 5 May 2025 at 10:00, Centre <roadmap@imcso.example> wrote:",
    "-----Original Message-----\nFrom: Методический центр\nSent: Monday, May 5, 2025",
    "----- Исходное сообщение -----\nОт: Методический центр\nДата: 5 мая 2025",
    "-------- Пересылаемое сообщение --------",
    "________________________________\nОт: Методический центр <roadmap@imcso.example>\n"
    "Отправлено: 5 мая 2025 г. 10:00\nКому: head@school.example\nТема: Задача",
    "От: Методический центр <roadmap@imcso.example>\nДата: 5 мая 2025 г.\nТема: Задача",
]
SIGNATURES = ["", "\n-- \nИванова А. П.", "\nС уважением,\nИванова А. П.", "\nОтправлено с iPhone"]


@PROPS
@given(
    own=own_lines,
    attribution=st.sampled_from(ATTRIBUTIONS),
    signature=st.sampled_from(SIGNATURES),
    gap=st.sampled_from(["", "\n", "\n\n"]),
    quoted=text_lines,
    marked=st.booleans(),
)
def test_the_reply_is_its_own_text_whatever_the_client_quotes(
    own: list[str], attribution: str, signature: str, gap: str, quoted: list[str], marked: bool
) -> None:
    history = "\n".join(("> " if marked else "") + line for line in quoted)
    text = "\n".join(own) + signature + "\n" + gap + attribution + "\n" + history + "\n"
    assert strip_quoted(text) == "\n".join(own)


@PROPS
@given(own=own_lines, quoted=text_lines, attribution=st.sampled_from(ATTRIBUTIONS[:8]))
def test_an_html_reply_is_its_text_without_the_quote(
    own: list[str], quoted: list[str], attribution: str
) -> None:
    body = "".join(f"<div>{html.escape(line)}</div>" for line in own)
    cite = html.escape(attribution).replace("\n", "<br>")
    old = "".join(f"<p>{html.escape(line)}</p>" for line in quoted)
    page = (
        f"<html><head><style>div {{ color: red }}</style></head><body>{body}<br>"
        f"<div class='gmail_quote'><div>{cite}</div><blockquote>{old}</blockquote></div>"
        "</body></html>"
    )
    assert strip_quoted(html_to_text(page)) == "\n".join(own)
    msg = MIMEMultipart("alternative")
    msg.attach(MIMEText("", "plain", "utf-8"))  # a client's empty plain part
    msg.attach(MIMEText(page, "html", "utf-8"))
    assert parse_reply(msg.as_bytes()).new_text == "\n".join(own)


LABELS = ["Количество наставников", "наставников", "Число наставников", "Наставники", "НАСТАВНИКОВ"]
SEPARATORS = [": ", ":", " — ", " - ", " = ", " "]


@PROPS
@given(
    mentors=st.integers(0, 10**6),
    mentees=st.integers(0, 10**6),
    label=st.sampled_from(LABELS),
    sep=st.sampled_from(SEPARATORS),
    joiner=st.sampled_from(["\n", ", ", "; ", "\nи ещё\n"]),
    tail=st.sampled_from(["", ".", " человек", " чел."]),
    mentees_first=st.booleans(),
)
def test_numbers_after_their_labels(
    tmp_path_factory: pytest.TempPathFactory,
    mentors: int,
    mentees: int,
    label: str,
    sep: str,
    joiner: str,
    tail: str,
    mentees_first: bool,
) -> None:
    parts = [f"{label}{sep}{mentors}{tail}", f"наставляемых{sep}{mentees}{tail}"]
    if mentees_first:
        parts.reverse()
    text = joiner.join(parts)
    got = extract_answer(
        fields=FIELDS,
        text=text,
        attachments=[],
        settings=make_settings(tmp_path_factory.mktemp("s")),
    )
    assert got.values["mentors"] == str(mentors)
    assert got.values["mentees"] == str(mentees)
    assert got.values["comment"] == text


@PROPS
@given(
    segments=st.lists(
        st.tuples(st.integers(1, 300), st.integers(1, 10**9), own_lines.map("\n".join)),
        min_size=1,
        max_size=5,
    ),
    bracket=st.booleans(),
)
def test_a_digest_reply_is_cut_at_its_references(
    segments: list[tuple[int, int, str]], bracket: bool
) -> None:
    def ref(item: int, task: int) -> str:
        return f"[{task_reference(item, task)}]" if bracket else f"{task_reference(item, task)}:"

    text = "\n\n".join(f"{ref(i, t)} {body}" for i, t, body in segments)
    parts = split_by_references(text)
    assert [(r.item_number, r.task_id, body) for r, body in parts] == [
        (i, t, body.strip(" \t\n:—–-.")) for i, t, body in segments
    ]


@PROPS
@given(
    first=st.integers(0, 999),
    second=st.one_of(st.none(), st.integers(0, 999)),
    first_file=st.booleans(),
    second_file=st.booleans(),
    second_text=st.sampled_from(["", "Скан во вложении", "Готово"]),
)
def test_a_follow_up_adds_to_the_earlier_reply(
    tmp_path_factory: pytest.TempPathFactory,
    first: int,
    second: int | None,
    first_file: bool,
    second_file: bool,
    second_text: str,
) -> None:
    conf = make_settings(tmp_path_factory.mktemp("s"))
    one = extract_answer(
        fields=FIELDS,
        text=f"Наставников: {first}",
        attachments=[InboundAttachment("первый.pdf", "application/pdf", PDF)] if first_file else [],
        settings=conf,
    )
    two_text = "\n".join(
        t for t in (second_text, "" if second is None else f"наставников: {second}") if t
    )
    two = extract_answer(
        fields=FIELDS,
        text=two_text,
        attachments=[InboundAttachment("второй.pdf", "application/pdf", PDF + b"2")]
        if second_file
        else [],
        settings=conf,
    )
    got = merge_extractions(FIELDS, [one], two)
    assert got.values["mentors"] == str(first if second is None else second)
    names = [f.filename for f in got.files]
    assert names == [n for n, on in (("первый.pdf", first_file), ("второй.pdf", second_file)) if on]
    assert got.complete is (first_file or second_file)
    comment = got.values["comment"]
    assert comment.startswith(f"Наставников: {first}")
    assert comment.endswith(two_text)
    assert merge_extractions(FIELDS, [], one).values == one.values


def test_a_photo_placed_inline_is_an_attachment_a_logo_is_not(tmp_path: Path) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + b"\x11" * SIGNATURE_IMAGE_MAX
    msg = MIMEMultipart("related")
    msg.attach(MIMEText("<p>Приказ: <img src='cid:photo'></p><p><img src='cid:logo'></p>", "html"))
    photo = MIMEImage(jpeg, "jpeg")
    photo.add_header("Content-ID", "<photo>")
    photo.add_header("Content-Disposition", "inline", filename="IMG_0042.jpeg")
    msg.attach(photo)
    logo = MIMEImage(b"\x89PNG\r\n\x1a\n" + b"\x00" * 2000, "png")
    logo.add_header("Content-ID", "<logo>")
    logo.add_header("Content-Disposition", "inline", filename="image001.png")
    msg.attach(logo)
    banner = MIMEImage(b"GIF89a" + b"\x00" * (2 * SIGNATURE_IMAGE_MAX), "gif")
    banner.add_header("Content-ID", "<banner>")
    msg.attach(banner)
    reply = parse_reply(msg.as_bytes())
    assert [a.filename for a in reply.attachments] == ["IMG_0042.jpeg"]
    got = extract_answer(
        fields=FIELDS,
        text="наставников: 3",
        attachments=reply.attachments,
        settings=make_settings(tmp_path),
    )
    assert got.complete and [f.filename for f in got.files] == ["IMG_0042.jpeg"]

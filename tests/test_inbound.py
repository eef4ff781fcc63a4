"""Reading replies without a server: encodings, HTML, quoted history, signatures,
auto-replies, references, tokens and the evidence found in the text."""

from __future__ import annotations

from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import pytest

from domain.enums import EvidenceFieldKind
from domain.roadmap import EvidenceField
from notifications.inbound import (
    InboundAttachment,
    extract_answer,
    find_links,
    html_to_text,
    label_score,
    parse_reply,
    split_by_references,
    strip_quoted,
)
from notifications.reply import (
    find_references,
    reply_address,
    reply_token,
    task_of_token,
    task_reference,
    tasks_of_addresses,
)
from tests.conftest import make_settings

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

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
    EvidenceField(
        name="base", label="Список (база) наставников", kind=EvidenceFieldKind.file, required=True
    ),
    EvidenceField(
        name="page", label="Ссылка на страницу сайта", kind=EvidenceFieldKind.url, required=False
    ),
    EvidenceField(
        name="comment", label="Комментарий", kind=EvidenceFieldKind.long_text, required=False
    ),
]


def _raw(text: str, charset: str, cte: str = "8bit", **headers: str) -> bytes:
    body = text.encode(charset)
    head = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    return (
        f"From: head@school1.example\r\nTo: centre@imcso.example\r\nSubject: Re: x\r\n"
        f"Message-ID: <m1@school1.example>\r\nMIME-Version: 1.0\r\n{head}"
        f"Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    ).encode("ascii") + body


@pytest.mark.parametrize("charset", ["utf-8", "koi8-r", "cp1251", "windows-1251"])
def test_every_russian_charset_is_read_in_8bit_qp_and_base64(charset: str) -> None:
    text = "Приказ издан, наставников: 12.\n"
    assert "наставников: 12" in parse_reply(_raw(text, charset)).new_text
    for cte in ("quoted-printable", "base64"):
        msg = MIMEText(text, "plain", "koi8-r" if charset == "koi8-r" else charset)
        del msg["Content-Transfer-Encoding"]
        from email import charset as cs

        c = cs.Charset(charset)
        c.body_encoding = cs.QP if cte == "quoted-printable" else cs.BASE64
        msg = MIMEText(text, "plain", c)  # type: ignore[arg-type]
        msg["From"] = "head@school1.example"
        msg["Subject"] = "Re: задача"
        raw = msg.as_bytes()
        assert cte.encode() in raw
        reply = parse_reply(raw)
        assert reply.new_text == "Приказ издан, наставников: 12."
        assert reply.subject == "Re: задача"


def test_undeclared_cp1251_falls_back() -> None:
    raw = (
        b"From: a@b.example\r\nSubject: x\r\nContent-Type: text/plain\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + "Готово".encode("cp1251")
    )
    assert parse_reply(raw).new_text == "Готово"


def test_quoted_history_and_signatures_are_stripped() -> None:
    text = (
        "Приказ издан.\nНаставников: 12\n\nС уважением,\nИванова А. П.\n\n"
        "пн, 5 мая 2025 г. в 10:00, Методический центр <roadmap@imcso.example>:\n"
        "> Здравствуйте!\n> Ответьте по задаче\n"
    )
    assert strip_quoted(text) == "Приказ издан.\nНаставников: 12"
    assert strip_quoted("Готово\n-----Original Message-----\nFrom: x\nold") == "Готово"
    assert strip_quoted("Готово\n-- \nИванова") == "Готово"
    assert strip_quoted("Готово\n\nЦентр пишет:\n> old") == "Готово"
    assert strip_quoted("Готово\n\n5 мая 2025 г., в 10:00,\nЦентр <a@b.example>:\n> x") == "Готово"
    outlook = "Готово\n\nОт: Центр <a@b.example>\nОтправлено: 5 мая 2025 г.\nТема: x\n\nold"
    assert strip_quoted(outlook) == "Готово"
    assert strip_quoted("> только цитата\n> ещё") == ""
    assert strip_quoted("Готово\nОтправлено с iPhone") == "Готово"


def test_html_only_reply_is_text_without_the_quote() -> None:
    html = (
        "<html><head><style>p{color:red}</style></head><body>"
        "<div>Приказ издан&nbsp;&mdash; наставников: 12</div>"
        "<div>См. <a href='https://school1.example/news/5'>новость</a></div>"
        "<div class='gmail_quote'>пишет:<blockquote>старое письмо</blockquote></div>"
        "</body></html>"
    )
    text = html_to_text(html)
    assert "Приказ издан — наставников: 12" in text
    assert "https://school1.example/news/5" in text
    assert "color" not in text
    msg = MIMEText(html, "html", "utf-8")
    msg["From"] = "Иванова <Head@School1.example>"
    reply = parse_reply(msg.as_bytes())
    assert reply.from_addr == "head@school1.example"
    assert "старое" not in reply.new_text and "наставников: 12" in reply.new_text


def test_attachments_kept_and_signature_images_ignored() -> None:
    from email.mime.application import MIMEApplication
    from email.mime.image import MIMEImage

    msg = MIMEMultipart("mixed")
    msg.attach(MIMEText("Список во вложении", "plain", "utf-8"))
    pdf = MIMEApplication(PDF, "pdf")
    pdf.add_header("Content-Disposition", "attachment", filename=("utf-8", "", "база.pdf"))
    msg.attach(pdf)
    logo = MIMEImage(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "png")
    logo.add_header("Content-ID", "<logo>")
    logo.add_header("Content-Disposition", "inline", filename="logo.png")
    msg.attach(logo)
    reply = parse_reply(msg.as_bytes())
    assert [a.filename for a in reply.attachments] == ["база.pdf"]
    assert reply.attachments[0].content == PDF


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"Auto-Submitted": "auto-replied"}, "Auto-Submitted"),
        ({"X-Autoreply": "yes"}, "X-Autoreply"),
        ({"Precedence": "bulk"}, "Precedence"),
        ({"Return-Path": "<>"}, "Return-Path"),
    ],
)
def test_auto_replies_are_recognised(headers: dict[str, str], why: str) -> None:
    raw = _raw("Я в отпуске", "utf-8", **headers)
    assert why in parse_reply(raw).auto
    assert parse_reply(_raw("Готово", "utf-8", Auto_Submitted="no")).auto == ""


def test_bounce_is_a_delivery_report() -> None:
    msg = MIMEMultipart("report", report_type="delivery-status")
    msg["From"] = "MAILER-DAEMON@mx.example"
    msg.attach(MIMEText("Delivery failed", "plain"))
    assert "DSN" in parse_reply(msg.as_bytes()).auto


def test_references_and_digest_split() -> None:
    assert task_reference(13, 204) == "ДК-13-204"
    text = "[ДК-13-204] наставников: 12\nвсё сделано\n\nДК-5-210: приказ издан"
    refs = find_references(text)
    assert [(r.item_number, r.task_id) for r in refs] == [(13, 204), (5, 210)]
    parts = split_by_references(text)
    assert [(r.task_id, t) for r, t in parts] == [
        (204, "наставников: 12\nвсё сделано"),
        (210, "приказ издан"),
    ]


def test_reply_tokens_are_signed(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, reply_address="otvet+{token}@imcso.example")
    token = reply_token(42, settings)
    assert task_of_token(token, settings) == 42
    assert task_of_token("42-0000000000", settings) is None
    assert task_of_token("43-" + token.split("-")[1], settings) is None
    address = reply_address(settings, 42)
    assert address == f"otvet+{token}@imcso.example"
    assert reply_address(settings, None) == "otvet@imcso.example"
    assert tasks_of_addresses([address.upper(), "other@x.example"], settings) == [42]
    other = make_settings(
        tmp_path, reply_address="otvet+{token}@imcso.example", secret_key="x" * 40
    )
    assert tasks_of_addresses([address], other) == []
    with pytest.raises(ValueError, match="token"):
        make_settings(tmp_path, reply_address="otvet@imcso.example")


def test_labels_match_russian_word_forms() -> None:
    assert label_score("наставников", "Количество наставников") == 1.0
    assert label_score("Число наставников", "Количество наставников") == 1.0
    assert label_score("наставников", "Количество наставляемых") == 0.0
    assert label_score("участников", "Количество участников") == 1.0


def test_evidence_from_text_links_numbers_and_files(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    text = (
        "Наставники закреплены.\nНаставников: 12\nнаставляемых — 15\n"
        "Новость: https://school1.example/news/5."
    )
    got = extract_answer(
        fields=FIELDS,
        text=text,
        attachments=[InboundAttachment("база.pdf", "application/pdf", PDF)],
        settings=settings,
    )
    assert got.values["mentors"] == "12" and got.values["mentees"] == "15"
    assert got.values["page"] == "https://school1.example/news/5"
    assert got.values["comment"] == text
    assert [f.filename for f in got.files] == ["база.pdf"]
    assert got.complete and not got.missing
    assert find_links(text) == ["https://school1.example/news/5"]


def test_missing_fields_and_refused_files_are_listed(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    got = extract_answer(
        fields=FIELDS,
        text="Всё сделано",
        attachments=[InboundAttachment("вирус.exe", "application/octet-stream", b"MZ\x90")],
        settings=settings,
    )
    assert got.missing == ["Количество наставников", "Список (база) наставников"]
    assert len(got.refused) == 1 and "вирус.exe" in got.refused[0]
    assert ("Комментарий", "Всё сделано") in got.received
    assert not got.complete


def test_attachments_follow_the_pages_type_and_size_rules(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, upload_max_bytes=64 * 1024)
    big = InboundAttachment("большой.pdf", "application/pdf", PDF + b"0" * (64 * 1024))
    fake = InboundAttachment("скан.pdf", "application/pdf", b"MZ\x90 not a pdf")
    empty = InboundAttachment("пусто.pdf", "application/pdf", b"")
    fine = InboundAttachment("список.xlsx", "application/octet-stream", b"PK\x03\x04" + b"x" * 50)
    got = extract_answer(
        fields=FIELDS,
        text="Наставников: 3",
        attachments=[big, fake, empty, fine],
        settings=settings,
    )
    assert [f.filename for f in got.files] == ["список.xlsx"]
    assert len(got.refused) == 3 and not got.complete
    assert "слишком большой" in got.refused[0] and "не похож на файл PDF" in got.refused[1]
    assert "пуст" in got.refused[2]
    many = [InboundAttachment(f"{n}.pdf", "application/pdf", PDF) for n in range(11)]
    got = extract_answer(fields=FIELDS, text="Наставников: 3", attachments=many, settings=settings)
    assert len(got.files) == 10 and len(got.refused) == 1 and "не больше 10" in got.refused[0]

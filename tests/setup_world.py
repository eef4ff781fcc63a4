"""What the set-up tests share: an empty installation with an administrator, an order as
a Word file, text or CSV, and an organisations list with good and bad rows."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

import docx
from openpyxl import Workbook
from sqlalchemy import Engine
from sqlmodel import Session

from portal.auth import create_admin

ROOT = Path(__file__).resolve().parent.parent
SEED_ORDER = ROOT / "seed" / "roadmap-order-209-od-2022.txt"
NOW = datetime(2022, 8, 29, 7, 0, tzinfo=UTC)  # Monday 10:00 in Moscow
ADMIN_EMAIL = "metodist@imcso.example"
ADMIN_PASSWORD = "верный-пароль-2022"

HEADER = ["№ п/п", "Наименование мероприятия", "Сроки исполнения", "Ответственный исполнитель",
          "Результат"]  # fmt: skip
# A small order: item 2 waits for an external plan ("нужны даты"), item 3 names nobody
# the rules know (the centre's, "проверьте").
ROWS = [
    ["1", "Формирование базы наставников", "сентябрь 2022 г.",
     "руководители образовательных организаций", "Сформирована база наставников"],
    ["2", "Повышение квалификации наставников", "по плану СКИРО ПК и ПРО",
     "руководители образовательных организаций", "Повышение квалификации педагогов"],
    ["3", "Заседание экспертной комиссии", "октябрь 2022 г.", "члены экспертной комиссии",
     "Протокол заседания"],
    ["4", "Мониторинг реализации программ наставничества", "декабрь 2022 г.",
     "кураторы", "Аналитическая справка"],
]  # fmt: skip
HEADING = [
    "Приложение к приказу отдела образования от 08.04.2022 г. № 209-од",
    "Дорожная карта (план мероприятий) по наставничеству",
]


def add_admin(engine: Engine) -> None:
    with Session(engine) as s:
        create_admin(session=s, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, now=NOW)
        s.commit()


def order_docx(rows: list[list[str]] | None = None) -> bytes:
    """The small order (or these rows) as a Word document: heading paragraphs, then the
    table."""
    rows = ROWS if rows is None else rows
    document = docx.Document()
    document.add_paragraph(HEADING[0])
    document.add_paragraph().add_run(HEADING[1]).bold = True
    table = document.add_table(rows=1 + len(rows), cols=len(HEADER))
    for col, text in enumerate(HEADER):
        table.cell(0, col).text = text
    for row, cells in enumerate(rows, 1):
        for col, text in enumerate(cells):
            table.cell(row, col).text = text
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def order_csv() -> bytes:
    lines = [";".join(HEADER)] + [";".join(r) for r in ROWS]
    return ("\n".join(lines) + "\n").encode("utf-8")


ORG_HEADER = ["Наименование", "Краткое наименование", "Тип", "ФИО руководителя",
              "E-mail руководителя", "ФИО куратора", "E-mail куратора"]  # fmt: skip
ORGS = [
    ["МКОУ СОШ № 1", "СОШ № 1", "школа", "Иванова Анна Петровна", "sosh1@school.example",
     "Петрова Вера Сергеевна", "kurator1@school.example"],
    ["МКОУ СОШ № 2", "СОШ № 2", "школа", "Сидоров Пётр Ильич", "sosh2@school.example", "", ""],
    ["МКДОУ д/с № 3", "Д/с № 3", "детский сад", "Смирнова Ольга Ивановна", "ds3@kids.example",
     "", ""],
    ["МКОУ СОШ № 4", "СОШ № 4", "школа", "Кузнецов Иван", "не-адрес", "", ""],  # rejected
    ["МКОУ СОШ № 5", "", "школа", "Орлова Нина", "sosh5@school.example", "", ""],  # rejected
]  # fmt: skip


def organisations_xlsx() -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(ORG_HEADER)
    for row in ORGS:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csrf_of(page_text: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page_text)
    assert match is not None
    return match[1]

"""Organisation lists as districts keep them: .xlsx, UTF-16 and cp1251 CSV, Russian headers,
kinds told from names, broken rows rejected alone, `roadmap orgs deactivate`."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from cli import orgs_cmd
from cli.main import app
from config.settings import get_settings
from domain.enums import OrgKind, Role
from domain.org_import import (
    column_of,
    infer_kind,
    parse_organisations_csv,
    read_organisations,
    upsert_organisations,
)
from domain.organisations import Organisation
from domain.tasks import Task
from tests.test_models import seed_task_parts

NOW = datetime(2022, 4, 8, 7, 0, tzinfo=UTC)

RUSSIAN_HEADER = [
    "Наименование",
    "Краткое наименование",
    "Тип",
    "ФИО руководителя",
    "E-mail руководителя",
    "ФИО куратора",
    "E-mail куратора",
]
SCHOOL = [
    "МКОУ СОШ № 1 с. Левокумское",
    "СОШ № 1",
    "школа",
    "Иванова И. И.",
    "sosh1@levokumskoe.example",
    "Петрова П. П.",
    "kurator.sosh1@levokumskoe.example",
]
KINDERGARTEN = [
    "МКДОУ Детский сад № 2 «Ромашка»",
    "Д/с № 2",
    "ДОУ",
    "Сидорова С. С.",
    "ds2@levokumskoe.example",
    "",
    "",
]
EXTRA = [
    "МКУ ДО «Дом детского творчества»",
    "ДДТ",
    "доп. образование",
    "Рябова Р. Р.",
    "ddt@levokumskoe.example",
    "",
    "",
]


def xlsx_bytes(rows: Sequence[Sequence[object]], title: str = "Организации") -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def text_table(rows: list[list[str]], delimiter: str, newline: str = "\r\n") -> str:
    return newline.join(delimiter.join(cells) for cells in rows) + newline


# --- files -----------------------------------------------------------------------------


def test_an_xlsx_with_a_title_row_and_russian_headers_as_a_district_writes_them() -> None:
    header = [
        "№ п/п",
        "  НАИМЕНОВАНИЕ\u00a0 ",
        "Краткое  наименование",
        "тип",
        "ФИО руководителя",
        "Эл. почта руководителя",
        "ФИО\u00a0куратора",
        "Е-mail куратора:",  # a Cyrillic Е, as typed on a Russian keyboard
        "Адрес",
    ]
    data = xlsx_bytes(
        [
            ["Список образовательных организаций Левокумского округа на 2022/2023 уч. год"],
            [],
            header,
            [1, *SCHOOL, "с. Левокумское, ул. Ленина, 1"],
            [None] * 9,
            [2, *KINDERGARTEN, ""],
            [3, *EXTRA, None],
        ]
    )
    parsed = read_organisations(data, "организации.xlsx")
    assert parsed.errors == [] and not parsed.fatal
    assert [(r.line, r.short_name, r.kind) for r in parsed.rows] == [
        (4, "СОШ № 1", OrgKind.school),
        (6, "Д/с № 2", OrgKind.kindergarten),
        (7, "ДДТ", OrgKind.extra),
    ]
    school = parsed.rows[0]
    assert school.name == "МКОУ СОШ № 1 с. Левокумское"
    assert school.curator_email == "kurator.sosh1@levokumskoe.example"
    assert parsed.source == "Excel (.xlsx), лист «Организации»"
    assert "заголовок найден в строке 3; строки над ним пропущены" in parsed.warnings
    ignored = [w for w in parsed.warnings if w.startswith("столбцы не используются")]
    assert ignored == ["столбцы не используются и пропущены: «Адрес»"]  # not «№ п/п»


def test_an_xlsx_reads_the_sheet_with_the_list() -> None:
    book = openpyxl.Workbook()
    book.active.title = "Пояснения"
    book.active.append(["Заполните второй лист"])
    sheet = book.create_sheet("Данные")
    sheet.append([*RUSSIAN_HEADER, "Действует"])
    sheet.append([*SCHOOL, True])
    sheet.append([*KINDERGARTEN, "нет"])
    out = io.BytesIO()
    book.save(out)
    parsed = read_organisations(out.getvalue(), "list.xlsx")
    assert parsed.errors == []
    assert [(r.short_name, r.active) for r in parsed.rows] == [
        ("СОШ № 1", True),
        ("Д/с № 2", False),
    ]
    assert "листов в книге: 2; прочитан лист «Данные»" in parsed.warnings


def test_a_utf16_csv_as_excel_saves_unicode_text() -> None:
    text = text_table([RUSSIAN_HEADER, SCHOOL, KINDERGARTEN, EXTRA], "\t")
    data = text.encode("utf-16")  # with a BOM, little-endian: what Excel writes
    assert data[:2] == b"\xff\xfe"
    parsed = read_organisations(data, "orgs.txt")
    assert parsed.errors == []
    assert [r.kind for r in parsed.rows] == [OrgKind.school, OrgKind.kindergarten, OrgKind.extra]
    assert parsed.source == "CSV, UTF-16, разделитель — табуляция"
    # Without a BOM it is told by its zero bytes, also when every byte is valid UTF-8 too.
    parsed = read_organisations(text.encode("utf-16-le"), "orgs.txt")
    assert [r.line for r in parsed.rows] == [2, 3, 4] and parsed.errors == []
    plain = text_table([RUSSIAN_HEADER, [c.replace("№ ", "") for c in SCHOOL]], "\t")
    data = plain.encode("utf-16-be")
    data.decode("utf-8")  # would pass for UTF-8
    parsed = read_organisations(data, "orgs.txt")
    assert parsed.errors == [] and parsed.rows[0].name == "МКОУ СОШ 1 с. Левокумское"


def test_a_cp1251_csv_with_semicolons_and_russian_headers() -> None:
    header = ["наименование ", "КРАТКОЕ НАИМЕНОВАНИЕ", "Тип", "Руководитель", "Email"]
    header += ["Куратор", "e-mail куратора"]
    text = text_table([header, SCHOOL, KINDERGARTEN], ";")
    parsed = read_organisations(text.encode("cp1251"), "orgs.csv")
    assert parsed.errors == [] and parsed.warnings == []
    assert [r.head_name for r in parsed.rows] == ["Иванова И. И.", "Сидорова С. С."]
    assert parsed.rows[0].curator_name == "Петрова П. П."
    assert parsed.source == "CSV, Windows-1251, разделитель — точка с запятой"


def test_utf8_with_and_without_bom_and_any_delimiter() -> None:
    for delimiter in (",", ";", "\t"):
        quoted = [f'"{c}"' if "," in c else c for c in SCHOOL]
        text = text_table([RUSSIAN_HEADER, quoted], delimiter, "\n")
        for data in (text.encode("utf-8"), text.encode("utf-8-sig")):
            parsed = read_organisations(data, "orgs.csv")
            assert parsed.errors == [], (delimiter, parsed.errors)
            assert parsed.rows[0].name == "МКОУ СОШ № 1 с. Левокумское"


def test_a_csv_with_a_title_line_above_the_header() -> None:
    text = "Организации округа\n\n" + text_table([RUSSIAN_HEADER, SCHOOL], ";", "\n")
    rows, errors = parse_organisations_csv(text)
    assert errors == [] and [r.line for r in rows] == [4]


def test_a_header_repeated_on_every_printed_page_is_skipped() -> None:
    data = xlsx_bytes([RUSSIAN_HEADER, SCHOOL, [], RUSSIAN_HEADER, KINDERGARTEN])
    parsed = read_organisations(data, "o.xlsx")
    assert parsed.errors == [] and [r.line for r in parsed.rows] == [2, 5]


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("name", "name"),
        ("Short_Name", "short_name"),
        ("Полное наименование организации", "name"),
        ("Сокращённое наименование", "short_name"),
        ("Вид", "kind"),
        ("Директор", "head_name"),
        ("ФИО руководителя (полностью)", "head_name"),
        ("E-mail", "head_email"),
        ("Адрес электронной почты руководителя", "head_email"),
        ("Эл.почта куратора", "curator_email"),
        ("EMAIL  КУРАТОРА", "curator_email"),
        ("Куратор наставничества, ФИО", "curator_name"),
        ("Действует", "active"),
        ("Тип ОО", "kind"),
        ("Тип населённого пункта", None),
        ("Телефон руководителя", None),
        ("Должность руководителя", None),
        ("Адрес", None),
        ("", None),
    ],
)
def test_header_names_in_their_real_world_spellings(header: str, column: str | None) -> None:
    assert column_of(header) == column


def test_an_unreadable_header_rejects_the_file_with_both_spellings() -> None:
    parsed = read_organisations("Наименование;Тип\nМКОУ СОШ № 1;школа\n".encode(), "o.csv")
    assert parsed.fatal and parsed.rows == []
    reason = parsed.errors[0].reason
    assert "нет столбцов: short_name, head_name" in reason
    assert "«Краткое наименование»" in reason and "«ФИО руководителя»" in reason

    twice = [*RUSSIAN_HEADER, "Полное наименование"]
    parsed = read_organisations(text_table([twice, SCHOOL], ";").encode(), "o.csv")
    assert parsed.fatal
    assert "«Наименование» и «Полное наименование» оба похожи на name" in parsed.errors[0].reason


def test_files_that_are_not_tables_are_refused_with_what_to_do() -> None:
    xls = read_organisations(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "orgs.xls")
    assert xls.fatal and "сохраните как" in str(xls.errors[0])
    broken = read_organisations(b"PK\x03\x04 not really a zip", "orgs.xlsx")
    assert broken.fatal and "не читается как книга Excel" in str(broken.errors[0])
    empty = read_organisations(b"", "orgs.csv")
    assert empty.fatal and "файл пуст" in str(empty.errors[0])


# --- kinds from names ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("МБОУ СОШ № 3 с. Величаевское", OrgKind.school),
        ("МКОУ «ООШ № 12»", OrgKind.school),
        ("МБОУ «Гимназия № 1»", OrgKind.school),
        ("МКОУ лицей № 2", OrgKind.school),
        ("Начальная школа с. Бургун-Маджары", OrgKind.school),
        ("МКДОУ «Детский сад № 5 «Берёзка»", OrgKind.kindergarten),
        ("МБДОУ д/с № 7", OrgKind.kindergarten),
        ("МКДОУ № 14", OrgKind.kindergarten),
        ("МКУ ДО ДДТ", OrgKind.extra),
        ("МБУ ЦДО Левокумского округа", OrgKind.extra),
        ("МКУ ДО «ДЮСШ»", OrgKind.extra),
        ("Детско-юношеская спортивная школа", OrgKind.extra),
        ("МБУДО «Детская школа искусств»", OrgKind.extra),
    ],
)
def test_the_kind_is_told_from_the_name(name: str, kind: OrgKind) -> None:
    assert infer_kind(name) == (kind, "")


def test_without_a_kind_column_names_tell_it_and_unclear_ones_are_rejected() -> None:
    header = [c for c in RUSSIAN_HEADER if c != "Тип"]
    rows = [
        header,
        ["МБОУ СОШ № 3", "СОШ № 3", "Орлов", "s3@levokumskoe.example", "", ""],
        ["МКДОУ д/с № 4", "Д/с № 4", "Орлова", "d4@levokumskoe.example", "", ""],
        ["МКУ ЦДО", "ЦДО", "Сомов", "cdo@levokumskoe.example", "", ""],
        ["Управление образования", "УО", "Ким", "uo@levokumskoe.example", "", ""],
        ["Школа — детский сад № 9", "НШДС", "Лис", "n9@levokumskoe.example", "", ""],
    ]
    parsed = read_organisations(text_table(rows, ";").encode(), "o.csv")
    assert [(r.line, r.kind) for r in parsed.rows] == [
        (2, OrgKind.school),
        (3, OrgKind.kindergarten),
        (4, OrgKind.extra),
    ]
    reasons = {e.line: e.reason for e in parsed.errors}
    assert set(reasons) == {5, 6}
    assert "тип не определить по названию 'Управление образования'" in reasons[5]
    assert "добавьте столбец «Тип»" in reasons[5]
    assert "тип не ясен (школа и детский сад)" in reasons[6]
    assert any("тип определён по названию (школа: 1, детский сад: 1" in w for w in parsed.warnings)


# --- broken rows -----------------------------------------------------------------------


def test_control_characters_overlong_cells_and_bad_bytes_reject_only_their_rows() -> None:
    good = "МКОУ СОШ № 1;СОШ № 1;школа;Иванова;s1@levokumskoe.example;;"
    lines = [
        ";".join(RUSSIAN_HEADER),
        good,
        "МКОУ СОШ № 2;СОШ № 2;школа;Пет\x00рова;s2@levokumskoe.example;;",
        "МКОУ СОШ № 3" + "х" * 300 + ";СОШ № 3;школа;Сидоров;s3@levokumskoe.example;;",
        "МКОУ СОШ № 4;СОШ № 4;школа;Орлов\x1b[31m;s4@levokumskoe.example;;",
        "МКОУ СОШ № 5;СОШ № 5;школа;Ким;s5@levokumskoe.example, s55@levokumskoe.example;;",
        "МКОУ СОШ № 6;" + "y" * 200_000 + ";школа;Лис;s6@levokumskoe.example;;",
        "МКОУ СОШ № 7;СОШ № 7;школа;Рыбин;mailto:s7@levokumskoe.example;;",
    ]
    data = "\n".join(lines).encode("utf-8") + b"\n"
    parsed = read_organisations(data, "o.csv")
    assert [r.line for r in parsed.rows] == [2, 8]
    assert parsed.rows[1].head_email == "s7@levokumskoe.example"
    reasons = {e.line: e.reason for e in parsed.errors}
    assert set(reasons) == {3, 4, 5, 6, 7}
    assert "«ФИО руководителя»: недопустимый управляющий символ NUL" in reasons[3]
    assert "«Наименование»: слишком длинное значение (312 символов, допустимо 300)" in reasons[4]
    assert "управляющий символ U+001B" in reasons[5]
    assert "несколько адресов" in reasons[6]
    assert "слишком длинная ячейка" in reasons[7]


def test_a_broken_byte_in_a_utf8_file_rejects_its_row_not_the_file() -> None:
    good = text_table([RUSSIAN_HEADER, SCHOOL], ";", "\n").encode()
    broken = ";".join(KINDERGARTEN).encode().replace("Ромашка".encode(), b"\xff\xfe\xfa") + b"\n"
    parsed = read_organisations(good + broken, "o.csv")
    assert [r.line for r in parsed.rows] == [2]
    assert "нечитаемый символ" in parsed.errors[0].reason and parsed.errors[0].line == 3


# --- on both databases, through the command --------------------------------------------


@pytest.fixture
def cli_db(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setattr(orgs_cmd.console, "width", 200)
    monkeypatch.setenv("ROADMAP_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("ROADMAP_DEBUG", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def use_database(monkeypatch: pytest.MonkeyPatch, engine: Engine) -> None:
    monkeypatch.setenv("ROADMAP_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()


def nul_file(tmp_path: Path) -> Path:
    rows = [
        RUSSIAN_HEADER,
        SCHOOL,
        [*KINDERGARTEN[:3], "Сидорова\x00С. С.", *KINDERGARTEN[4:]],
        ["МКОУ СОШ № 8 " + "я" * 400, "СОШ № 8", "школа", "Ким", "s8@levokumskoe.example", "", ""],
        EXTRA,
    ]
    path = tmp_path / "организации.csv"
    path.write_bytes(text_table(rows, "\t").encode("utf-16"))
    return path


def check_nul_row_rejected_alone(engine: Engine, path: Path) -> None:
    result = CliRunner().invoke(app, ["orgs", "import", str(path)])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "строка 3: «ФИО руководителя»: недопустимый управляющий символ NUL" in output
    assert "строка 4: «Наименование»: слишком длинное значение" in output
    for leak in ("Traceback", "INSERT", "psycopg", "sqlite3", "SQL"):
        assert leak not in result.output
    with Session(engine) as session:
        names = sorted(o.short_name for o in session.exec(select(Organisation)))
    assert names == ["ДДТ", "СОШ № 1"]


def test_a_nul_cell_rejects_only_its_row_on_sqlite(
    cli_db: None, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(monkeypatch, engine)
    check_nul_row_rejected_alone(engine, nul_file(tmp_path))


@pytest.mark.postgres
def test_a_nul_cell_rejects_only_its_row_on_postgres(
    cli_db: None, pg_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(monkeypatch, pg_engine)
    check_nul_row_rejected_alone(pg_engine, nul_file(tmp_path))


@pytest.mark.postgres
def test_the_xlsx_rows_are_stored_as_read_on_postgres(pg_engine: Engine) -> None:
    data = xlsx_bytes([RUSSIAN_HEADER, SCHOOL, KINDERGARTEN, EXTRA])
    parsed = read_organisations(data, "o.xlsx")
    with Session(pg_engine) as session:
        counts = upsert_organisations(session=session, rows=parsed.rows, now=NOW)
        session.commit()
    assert counts.created == 3
    with Session(pg_engine) as session:
        stored = {o.short_name: o.kind for o in session.exec(select(Organisation))}
    assert stored == {
        "СОШ № 1": OrgKind.school,
        "Д/с № 2": OrgKind.kindergarten,
        "ДДТ": OrgKind.extra,
    }


def test_the_command_reads_xlsx_and_prints_its_warnings(
    cli_db: None, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(monkeypatch, engine)
    path = tmp_path / "orgs.xlsx"
    path.write_bytes(xlsx_bytes([["Список"], [*RUSSIAN_HEADER, "Телефон"], SCHOOL, EXTRA]))
    result = CliRunner().invoke(app, ["orgs", "import", str(path)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "orgs.xlsx: Excel (.xlsx), лист «Организации»" in output
    assert "внимание orgs.xlsx: столбцы не используются и пропущены: «Телефон»" in output
    listed = json.loads(CliRunner().invoke(app, ["orgs", "list", "--json"]).stdout)
    assert [o["kind"] for o in listed] == ["school", "extra"]


def test_the_command_refuses_an_old_excel_file_without_a_traceback(
    cli_db: None, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(monkeypatch, engine)
    path = tmp_path / "orgs.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512)
    result = CliRunner().invoke(app, ["orgs", "import", str(path)])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "старого формата Excel (.xls)" in output and "ничего не загружено" in output
    assert "Traceback" not in result.output


# --- deactivation ----------------------------------------------------------------------


def test_deactivate_takes_an_organisation_out_of_new_work_and_keeps_its_tasks(
    cli_db: None, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(monkeypatch, engine)
    with Session(engine) as session:
        item, occ, org = seed_task_parts(session)
        assert item.id is not None and occ.id is not None and org.id is not None
        session.add(
            Task(
                occurrence_id=occ.id,
                item_id=item.id,
                organisation_id=org.id,
                assignee_key=f"org:{org.id}",
                role=Role.head,
                due=occ.due,
                opened_at=NOW,
                updated_at=NOW,
            )
        )
        session.commit()
    runner = CliRunner()
    result = runner.invoke(app, ["orgs", "deactivate", "мкоу  сош №1"])  # another spelling
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "СОШ 1 выведена из работы: новых заданий не получит" in output
    assert "открытых заданий: 1" in output
    again = runner.invoke(app, ["orgs", "deactivate", "СОШ 1"])  # by the short name
    assert again.exit_code == 0 and "уже выведена из работы" in again.output
    with Session(engine) as session:
        stored = session.exec(select(Organisation)).one()
        assert stored.active is False and stored.updated_at is not None
        assert len(list(session.exec(select(Task)))) == 1  # the history stays
    listed = json.loads(runner.invoke(app, ["orgs", "list", "--json"]).stdout)
    assert listed[0]["active"] is False
    back = runner.invoke(app, ["orgs", "activate", str(listed[0]["id"])])
    assert back.exit_code == 0 and "снова действует" in back.output
    with Session(engine) as session:
        assert session.exec(select(Organisation)).one().active is True


def test_deactivate_names_what_it_cannot_find_or_tell_apart(
    cli_db: None, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(monkeypatch, engine)
    with Session(engine) as session:
        for number in (1, 2):
            session.add(
                Organisation(
                    name=f"МКОУ СОШ № {number}",
                    short_name="СОШ",
                    kind=OrgKind.school,
                    head_name="Кто-то",
                    head_email=f"s{number}@levokumskoe.example",
                )
            )
        session.commit()
    runner = CliRunner()
    missing = runner.invoke(app, ["orgs", "deactivate", "Лицей № 9"])
    assert missing.exit_code == 1
    assert "«Лицей № 9» не найдена" in " ".join(missing.output.split())
    both = runner.invoke(app, ["orgs", "deactivate", "сош"])
    assert both.exit_code == 1
    output = " ".join(both.output.split())
    assert "подходит нескольким организациям: МКОУ СОШ № 1 (id 1); МКОУ СОШ № 2 (id 2)" in output
    with Session(engine) as session:
        assert all(o.active for o in session.exec(select(Organisation)))


@pytest.mark.postgres
def test_a_database_that_cannot_be_opened_is_a_message_without_sql(
    cli_db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import postgres_url

    missing = postgres_url().rsplit("/", 1)[0] + "/roadmap_no_such_database"
    monkeypatch.setenv("ROADMAP_DATABASE_URL", missing)
    get_settings.cache_clear()
    path = tmp_path / "orgs.xlsx"
    path.write_bytes(xlsx_bytes([RUSSIAN_HEADER, SCHOOL]))
    result = CliRunner().invoke(app, ["orgs", "import", str(path)])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "не удаётся открыть базу данных (OperationalError)" in output
    assert "ROADMAP_DATABASE_URL" in output
    for leak in ("Traceback", "SELECT", "[SQL", "roadmap_no_such_database"):
        assert leak not in result.output

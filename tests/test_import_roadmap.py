"""Importing the order's roadmap (.txt, .docx, .csv) into the roadmap file."""

from __future__ import annotations

import csv
import json
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import docx
import pytest
from docx.shared import Pt
from typer.testing import CliRunner

from cli.main import app
from cli.roadmap_cmd import centre_of
from config.settings import get_settings, load_settings
from domain.enums import Role
from domain.roadmap import Centre
from domain.roadmap_file import RoadmapFile, dump_roadmap_file, load_roadmap_file
from domain.roadmap_import import (
    ImportResult,
    RoadmapImportError,
    read_text,
)
from domain.roadmap_import import import_roadmap as import_with

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seed" / "roadmap-order-209-od-2022.txt"
SHIPPED = ROOT / "config" / "roadmap.yaml"
HEADER = "№ п/п\tНаименование мероприятия\tСроки исполнения\tОтветственный исполнитель\tРезультат"
ORDER = "от 08.04.2022 г. № 209-од"
CENTRE = "МКУ «ИМЦСО ЛМО СК»"
HEADS = "руководители образовательных организаций"
DEMO_CENTRE = Centre(name=CENTRE, short_name="ИМЦСО", aliases=["методический центр"])
TODAY = date(2026, 12, 1)


def import_roadmap(path: Path, **options: object) -> ImportResult:
    """The import as the command runs it with the shipped settings' centre."""
    return import_with(path, centre=DEMO_CENTRE, today=TODAY, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def seed() -> RoadmapFile:
    return import_roadmap(SEED).roadmap


def text_file(tmp_path: Path, *rows: str, heading: str = f"{ORDER}\n\n**Дорожная карта**") -> Path:
    path = tmp_path / "roadmap.txt"
    path.write_text("\n".join([heading, "", HEADER, "1\t2\t3\t4\t5", *rows]) + "\n", "utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(RoadmapImportError) as caught:
        import_roadmap(path)
    return [str(p) for p in caught.value.problems]


def item_dumps(roadmap: RoadmapFile) -> list[dict[str, object]]:
    return [item.model_dump(mode="json") for item in roadmap.items]


# --- the seed ----------------------------------------------------------------------------


def test_the_seed_imports_to_17_items_in_4_sections(seed: RoadmapFile) -> None:
    assert [item.number for item in seed.items] == list(range(1, 18))
    sections = list(dict.fromkeys(item.section for item in seed.items))
    assert sections == [
        "Организационные мероприятия",
        "Методическое и информационно-аналитическое обеспечение",
        "Мониторинг и оценка результатов",
        "Организация работы в ОО",
    ]
    assert [i.number for i in seed.items if i.section == sections[2]] == [10]
    assert seed.key == "209-od-2022"
    assert seed.order_number == "209-од"
    assert seed.order_date == date(2022, 4, 8)
    assert seed.district == "Левокумский муниципальный округ"
    assert seed.title.startswith("Дорожная карта (план мероприятий) по реализации Положения")
    assert seed.title.endswith("муниципального округа Ставропольского края")


def test_items_broken_across_pages_are_whole(seed: RoadmapFile) -> None:
    items = {item.number: item for item in seed.items}
    assert items[5].title.endswith(
        "по реализации целевой модели наставничества в образовательных организациях "
        "(организация и проведение мастер-классов, творческих мастерских по передаче "
        "передового опыта наставников)."
    )
    assert items[5].expected_result.endswith(
        "Разработаны методические материалы для сопровождения наставнической деятельности."
    )
    assert items[10].title.endswith(
        "(в рамках мониторинга деятельности школьных методических служб"
    )
    assert items[10].schedule_text == "июль-август, ежегодно"
    assert items[16].title == (
        "Отчет наставников об итогах выполнения программы/плана наставничества"
    )
    assert items[16].schedule_text == "май ежегодно (в рамках ШМО)"
    assert items[16].expected_result == (
        "Проведение итогового мероприятия, пополнение методической копилки педагогических "
        "практик наставничества."
    )
    for item in seed.items:
        assert "  " not in item.title + item.schedule_text + item.expected_result


def test_the_seed_items_carry_schedule_assignees_evidence_and_owner(seed: RoadmapFile) -> None:
    items = {item.number: item for item in seed.items}
    assert items[1].slug == "item-1-formirovanie-bazy-nastavnikov"
    for item in seed.items:
        assert item.schedule, item.number
        assert item.evidence.fields[-1].name == "comment"
        assert (item.owner.name, item.owner.email) == ("", "")
        assert item.needs_dates == bool(item.needs_dates_reason)
    assert items[2].schedule["kind"] == "external"
    assert items[2].needs_dates and items[2].needs_dates_reason
    assert items[11].schedule["kind"] == "once"
    assert not items[11].needs_dates
    assert items[10].assignees.centre and items[10].assignees.organisations is None
    assert items[13].assignees.organisations is Role.head
    assert items[16].assignees.organisations is Role.curator
    assert items[13].evidence.field("mentees") is not None


def test_re_import_gives_the_same_bytes() -> None:
    first = dump_roadmap_file(import_roadmap(SEED).roadmap)
    second = dump_roadmap_file(import_roadmap(SEED).roadmap)
    assert first == second


def test_the_shipped_roadmap_is_the_import_of_the_seed(seed: RoadmapFile) -> None:
    assert SHIPPED.read_text(encoding="utf-8") == dump_roadmap_file(seed)
    assert load_roadmap_file(SHIPPED) == seed


def test_the_seed_is_read_with_the_settings_centre_written_into_the_file(
    seed: RoadmapFile,
) -> None:
    assert centre_of(load_settings()) == DEMO_CENTRE == seed.centre
    assert seed.responsible_rules[0].pattern == r"\bмку\W+имцсо\W+лмо\W+ск\b"
    assert {r.means for r in seed.responsible_rules} == {"centre", "heads", "curators"}
    assert not any(item.assignees.unmatched for item in seed.items)
    assert import_roadmap(SEED).warnings == []


# --- errors and warnings -----------------------------------------------------------------


def test_an_unreadable_schedule_is_a_warning_and_flags_the_item(tmp_path: Path) -> None:
    path = text_file(
        tmp_path,
        "<b>Раздел</b>\t\t\t\t",
        f"1.\tМероприятие\tкогда-нибудь потом\t{CENTRE}\tПроведено заседание",
    )
    result = import_roadmap(path)
    [warning] = result.warnings
    assert warning.where == "строка 8" and warning.column == "schedule"
    assert str(warning).startswith("строка 8, столбец «Сроки исполнения»: пункт 1: ")
    assert "когда-нибудь потом" in str(warning) and "помечен «нужны даты»" in str(warning)
    [item] = result.roadmap.items
    assert item.needs_dates and item.needs_dates_reason
    assert item.schedule_text == "когда-нибудь потом"


def test_only_unreadable_rows_are_errors(tmp_path: Path) -> None:
    path = text_file(
        tmp_path,
        f"1.\tПервое\tапрель, ежегодно\t{CENTRE}\tОтчёт",
        f"4.\tЧетвёртое\tапрель, ежегодно\t{CENTRE}",
        f"5.\tПятое\tапрель, ежегодно\t{CENTRE}\tОтчёт\tлишнее",
    )
    assert problems_of(path) == [
        "строка 8: неверное число столбцов: 4 через табуляцию, а в строке заголовков 5; "
        "уберите из текста ячеек табуляции и переносы строк",
        "строка 9: неверное число столбцов: 6 через табуляцию, а в строке заголовков 5; "
        "уберите из текста ячеек табуляции и переносы строк",
    ]


def test_row_warnings_name_the_line_and_the_column_and_keep_every_row(tmp_path: Path) -> None:
    path = text_file(
        tmp_path,
        "\tпродолжение без пункта\t\t\t",
        "<b>Раздел</b>\t\t\t\t",
        f"1.\tПервое\tапрель, ежегодно\t{CENTRE}\tОтчёт",
        f"первый\tВторое\tапрель, ежегодно\t{CENTRE}\tОтчёт",
        f"1\tТретье\tапрель, ежегодно\t{CENTRE}\tОтчёт",
        f"5.\t\tапрель, ежегодно\t{CENTRE}\tОтчёт",
        "6.\tШестое\t\t\tОтчёт",
        "7.\tСедьмое\tапрель, ежегодно\tродители\tОтчёт",
    )
    result = import_roadmap(path)
    assert [(w.where, w.column) for w in result.warnings] == [
        ("строка 7", "number"),
        ("строка 7", "schedule"),
        ("строка 7", "responsible"),
        ("строка 10", "number"),
        ("строка 11", "number"),
        ("строка 12", "title"),
        ("строка 13", "schedule"),
        ("строка 13", "responsible"),
        ("строка 14", "responsible"),
    ]
    texts = [str(w) for w in result.warnings]
    assert texts[0] == (
        "строка 7, столбец «№ п/п»: нет номера пункта; пункт сохранён под номером «1-2» (по "
        "порядку строк); впишите номер цифрами, например 4, 4.1 или 4а"
    )
    assert texts[2] == (
        "строка 7, столбец «Ответственный исполнитель»: пункт 1-2: ответственный исполнитель "
        "не указан; назначено центру, проверьте"
    )
    assert texts[3].startswith(
        "строка 10, столбец «№ п/п»: номер «первый» не читается как номер пункта; пункт "
        "сохранён под номером «3»"
    )
    assert texts[4] == (
        "строка 11, столбец «№ п/п»: номер 1 повторяется (он уже есть: строка 9); оба пункта "
        "сохранены, этот — под номером «1-3»; проверьте нумерацию"
    )
    assert texts[5] == (
        "строка 12, столбец «Наименование мероприятия»: пункт 5: наименование пусто; пункт "
        "сохранён как «Пункт 5»; впишите наименование мероприятия"
    )
    assert texts[6].startswith(
        "строка 13, столбец «Сроки исполнения»: пункт 6: срок не указан (пустая строка); "
        "пункт помечен «нужны даты»"
    )
    assert texts[8] == (
        "строка 14, столбец «Ответственный исполнитель»: пункт 7: «родители» — не центр, не "
        "руководители и не кураторы; назначено центру, проверьте (текст сохранён как есть; "
        "кому задания, меняется в assignees пункта или в responsible_rules файла дорожной "
        "карты)"
    )
    items = result.roadmap.items
    assert [(i.number, i.label) for i in items] == [
        (1, "1-2"),
        (2, "1"),
        (3, "3"),
        (4, "1-3"),
        (5, "5"),
        (6, "6"),
        (7, "7"),
    ]
    assert items[0].title == "продолжение без пункта" and items[0].section == ""
    assert items[3].title == "Третье" and items[3].slug == "item-1-3-trete"
    assert items[4].title == "Пункт 5"
    assert items[5].needs_dates and items[5].assignees.unmatched
    assert items[6].responsible == "родители" and items[6].assignees.centre


def test_a_file_without_the_table_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "letter.txt"
    path.write_text("Уважаемые коллеги!\nПросим представить отчёт.\n", "utf-8")
    [problem] = problems_of(path)
    assert problem.startswith("файл: таблица не найдена")
    assert "Сроки исполнения" in problem


def test_a_heading_without_title_or_order_date_is_a_warning(tmp_path: Path) -> None:
    path = text_file(tmp_path, f"1.\tПервое\tапрель, ежегодно\t{CENTRE}\tОтчёт", heading="")
    result = import_roadmap(path)
    assert [str(w) for w in result.warnings] == [
        "заголовок приказа: не найдено название (строка жирным шрифтом «Дорожная карта …» "
        "или «План …»); взято имя файла «roadmap»; укажите --title, чтобы задать другое",
        "заголовок приказа: не найдена дата приказа (строка вида «от 08.04.2022 г. № "
        "209-од»); начало дорожной карты — дата импорта 01.12.2026; укажите --order-date "
        "ГГГГ-ММ-ДД (и --order-number), чтобы задать дату приказа",
    ]
    roadmap = result.roadmap
    assert (roadmap.key, roadmap.title, roadmap.order_date) == ("roadmap", "roadmap", TODAY)
    given = import_roadmap(path, order_date=date(2023, 1, 9), order_number="5", title="План")
    assert given.warnings == []
    assert (given.roadmap.key, given.roadmap.order_date) == ("5-2023", date(2023, 1, 9))
    assert given.roadmap.title == "План"


def test_a_wrong_order_date_is_a_warning(tmp_path: Path) -> None:
    path = text_file(
        tmp_path,
        f"1.\tПервое\tапрель, ежегодно\t{CENTRE}\tОтчёт",
        heading="от 31.02.2022 г. № 7\n\n**Карта**",
    )
    [warning] = import_roadmap(path).warnings
    assert str(warning).startswith(
        "заголовок приказа: дата приказа 31.02.2022 не существует (исправьте её в "
        "заголовке); начало дорожной карты — дата импорта 01.12.2026"
    )
    assert import_roadmap(path).roadmap.key == "7-2026"


def test_missing_unknown_and_broken_files(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "nope.txt") == [
        f"файл: файл {tmp_path / 'nope.txt'} не найден; проверьте путь"
    ]
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    assert "это папка, а не файл" in problems_of(folder)[0]
    other = tmp_path / "roadmap.pdf"
    other.write_bytes(b"%PDF")
    assert problems_of(other) == ["файл: формат .pdf не поддерживается; нужен .txt, .docx или .csv"]
    broken = tmp_path / "roadmap.docx"
    broken.write_bytes(b"not a zip")
    unreadable = "файл: не удаётся прочитать roadmap.docx как документ Word (.docx)"
    assert problems_of(broken)[0].startswith(unreadable)
    assert "сохраните заново" in problems_of(broken)[0]
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("[Content_Types].xml", "<broken")
    assert problems_of(broken)[0].startswith(unreadable)
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("notes.txt", "not a document")
    assert problems_of(broken)[0].startswith(unreadable)


def test_the_table_reader_keeps_column_order_from_the_header() -> None:
    text = (
        f"{ORDER}\n**Карта**\n"
        "№ п/п\tРезультат\tНаименование мероприятия\tОтветственный исполнитель\tСроки исполнения\n"
        f"1.\tОтчёт\tПервое\t{CENTRE}\tапрель, ежегодно\n"
    )
    [item] = read_text(text).items
    assert item.cells["title"] == "Первое"
    assert item.cells["schedule"] == "апрель, ежегодно"


# --- .docx and .csv give the same items ----------------------------------------------------


def write_docx(path: Path, roadmap: RoadmapFile, *, merged_sections: bool = True) -> None:
    """The roadmap as a Word order: heading, bold title, the table with section rows and a
    page-broken item (5) whose second half is a row with an empty number."""
    document = docx.Document()
    for line in ("Приложение 2", "к приказу отдела образования", ORDER):
        document.add_paragraph(line)
    title = document.add_paragraph().add_run(roadmap.title)
    title.bold = True
    title.font.size = Pt(14)
    document.add_paragraph("")
    table = document.add_table(rows=0, cols=5)
    header = table.add_row().cells
    for cell, text in zip(header, HEADER.split("\t"), strict=True):
        cell.text = text
    for cell, text in zip(table.add_row().cells, "12345", strict=True):
        cell.text = text
    section = None
    for item in roadmap.items:
        if item.section != section:
            section = item.section
            row = table.add_row().cells
            if merged_sections:
                merged = row[0].merge(row[4])
                merged.text = section
            else:
                row[1].paragraphs[0].add_run(section).bold = True
        cells = table.add_row().cells
        values = [
            f"{item.number}.",
            item.title,
            item.schedule_text,
            item.responsible,
            item.expected_result,
        ]
        if item.number == 5:
            head, tail = item.title.split(" наставничества в образовательных", 1)
            values[1] = head
            rest = table.add_row().cells
            rest[1].text = "наставничества в образовательных" + tail
        for cell, text in zip(cells, values, strict=True):
            cell.text = text
    document.add_paragraph("Начальник отдела образования")
    document.save(str(path))


@pytest.mark.parametrize("merged_sections", [True, False])
def test_a_docx_gives_the_same_items(
    tmp_path: Path, seed: RoadmapFile, merged_sections: bool
) -> None:
    path = tmp_path / "roadmap.docx"
    write_docx(path, seed, merged_sections=merged_sections)
    result = import_roadmap(path)
    assert result.roadmap == seed
    assert result.where[1] == "таблица Word, строка 4"
    assert result.warnings == []


def test_a_docx_with_an_unreadable_heading_row_has_no_table(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_paragraph(ORDER)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Фамилия"
    path = tmp_path / "other.docx"
    document.save(str(path))
    [problem] = problems_of(path)
    assert problem.startswith("файл: таблица не найдена: нет строки заголовков таблицы Word")


def write_csv(path: Path, roadmap: RoadmapFile, *, russian: bool, delimiter: str) -> None:
    with path.open("w", encoding="utf-8-sig" if russian else "utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        if russian:
            writer.writerow(HEADER.split("\t"))
        else:
            writer.writerow(["number", "title", "schedule", "responsible", "result"])
        section = None
        for item in roadmap.items:
            if item.section != section:
                section = item.section
                writer.writerow(["", section, "", "", ""])
            writer.writerow(
                [
                    str(item.number),
                    item.title,
                    item.schedule_text,
                    item.responsible,
                    item.expected_result,
                ]
            )


def csv_meta(roadmap: RoadmapFile) -> dict[str, object]:
    return {
        "title": roadmap.title,
        "order_number": roadmap.order_number,
        "order_date": roadmap.order_date,
        "district": roadmap.district,
    }


@pytest.mark.parametrize(("russian", "delimiter"), [(False, ","), (True, ";")])
def test_a_csv_gives_the_same_items(
    tmp_path: Path, seed: RoadmapFile, russian: bool, delimiter: str
) -> None:
    path = tmp_path / "roadmap.csv"
    write_csv(path, seed, russian=russian, delimiter=delimiter)
    roadmap = import_roadmap(path, **csv_meta(seed)).roadmap
    assert roadmap == seed


def test_a_csv_with_a_section_column(tmp_path: Path, seed: RoadmapFile) -> None:
    path = tmp_path / "roadmap.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["number", "section", "title", "schedule", "responsible", "result"])
        for item in seed.items:
            writer.writerow(
                [
                    item.number,
                    item.section,
                    item.title,
                    item.schedule_text,
                    item.responsible,
                    item.expected_result,
                ]
            )
    roadmap = import_roadmap(path, **csv_meta(seed)).roadmap
    assert item_dumps(roadmap) == item_dumps(seed)


def test_csv_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "roadmap.csv"
    path.write_text(
        "number,title,schedule,responsible,result\n"
        f'1,"Первое\nс переносом",апрель,"{CENTRE}",Отчёт\n'
        f',,апрель,"{CENTRE}",Отчёт\n'
        "2,Второе,апрель\n",
        "utf-8",
    )
    assert problems_of(path) == [
        "строка 5: неверное число столбцов: 3, а в строке заголовков 5; проверьте "
        "разделители и кавычки в этой строке"
    ]
    path.write_text(path.read_text("utf-8").replace("2,Второе,апрель\n", ""), "utf-8")
    result = import_roadmap(path)
    assert [(i.label, i.title) for i in result.roadmap.items] == [
        ("1", "Первое с переносом"),
        ("2", "Пункт 2"),
    ]
    assert [w.where for w in result.warnings][2:] == ["строка 4", "строка 4"]


def test_a_csv_without_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "roadmap.csv"
    path.write_text("number,title,when\n1,Первое,апрель\n", "utf-8")
    problems = problems_of(path)
    assert problems[0].startswith("файл: таблица не найдена")
    assert problems[-1] == (
        "строка 1: нет столбцов: schedule («Сроки исполнения»); добавьте их в строку заголовков"
    )


def test_a_csv_with_only_title_and_schedule(tmp_path: Path) -> None:
    path = tmp_path / "plan.csv"
    path.write_text("Мероприятие;Срок;Примечание\nПервое;апрель, ежегодно;x\n", "utf-8")
    result = import_roadmap(path)
    warnings = [str(w) for w in result.warnings]
    assert [w.where for w in result.warnings] == ["заголовок приказа"] * 2 + ["строка 1"] * 4
    assert warnings[2].startswith("строка 1: столбец «Примечание» не распознан")
    assert warnings[3:] == [
        "строка 1: нет столбца «№ п/п»: пункты нумеруются по порядку строк; добавьте "
        "столбец, если он нужен",
        "строка 1: нет столбца «Ответственный исполнитель»: все пункты назначены центру, "
        "проверьте; добавьте столбец, если он нужен",
        "строка 1: нет столбца «Результат»: ожидаемый результат пуст, в ответе — свободный "
        "текст; добавьте столбец, если он нужен",
    ]
    [item] = result.roadmap.items
    assert (item.label, item.title, item.expected_result) == ("1", "Первое", "")
    assert item.assignees.centre and item.assignees.unmatched


# --- the command ---------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("ROADMAP_DATABASE_URL", f"sqlite:///{(tmp_path / 'cli.db').as_posix()}")
    monkeypatch.setenv("ROADMAP_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ROADMAP_ROADMAP_FILE", str(tmp_path / "default.yaml"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_the_command_writes_the_file_and_prints_a_summary(cli_env: Path) -> None:
    out = cli_env / "out" / "roadmap.yaml"
    result = CliRunner().invoke(app, ["import-roadmap", str(SEED), "-o", str(out)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "17 мероприятий в 4 разделах" in output
    assert "раздел 1: " in output and f"Записан файл {out}" in output
    for russian in ("кому задания", "постоянно", "руководители", "центр"):
        assert russian in output
    for english in ("items in", "section 1", "wrote", "who gets tasks", "heads", "centre"):
        assert english not in output
    assert out.read_text(encoding="utf-8") == SHIPPED.read_text(encoding="utf-8")
    again = CliRunner().invoke(app, ["import-roadmap", str(SEED), "-o", str(out)])
    assert again.exit_code == 0
    assert out.read_text(encoding="utf-8") == SHIPPED.read_text(encoding="utf-8")


def test_the_command_loads_the_roadmap_into_the_database_by_default(cli_env: Path) -> None:
    result = CliRunner().invoke(app, ["import-roadmap", str(SEED)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "Дорожная карта 209-od-2022 добавлена в базу: пунктов 17" in output
    assert "roadmap activate 209-od-2022 --from" in output
    assert not (cli_env / "default.yaml").exists()
    listed = CliRunner().invoke(app, ["roadmaps", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)
    assert (row["key"], row["items"], row["needs_dates"], row["activated_at"]) == (
        "209-od-2022",
        17,
        1,
        None,
    )
    again = CliRunner().invoke(app, ["import-roadmap", str(SEED)])
    assert "обновлена в базе (ответы и история сохранены)" in " ".join(again.output.split())
    assert len(json.loads(CliRunner().invoke(app, ["roadmaps", "list", "--json"]).stdout)) == 1


def test_the_command_reports_warnings_and_still_writes(cli_env: Path) -> None:
    path = text_file(cli_env, f"1.\tПервое\tкогда-нибудь потом\t{CENTRE}\tОтчёт")
    out = cli_env / "roadmap.yaml"
    result = CliRunner().invoke(app, ["import-roadmap", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "предупреждение: roadmap.txt, строка 7, столбец «Сроки исполнения»" in output
    assert "пункт 1: не удалось прочитать «когда» в сроке «когда-нибудь потом»" in output
    assert "помечен «нужны даты» — исправьте формулировку срока" in output
    assert load_roadmap_file(out).items[0].needs_dates


def test_the_command_writes_nothing_on_errors(cli_env: Path) -> None:
    path = text_file(cli_env, f"1\tПервое\tапрель, ежегодно\t{CENTRE}")
    out = cli_env / "roadmap.yaml"
    result = CliRunner().invoke(app, ["import-roadmap", str(path), "-o", str(out)])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "roadmap.txt, строка 7: неверное число столбцов: 4 через табуляцию" in output
    assert "1 ошибка в " in output and "файл не записан; исправьте" in output
    assert not out.exists()


def test_the_command_on_a_missing_or_broken_file_is_a_message(cli_env: Path) -> None:
    out = cli_env / "roadmap.yaml"
    missing = CliRunner().invoke(app, ["import-roadmap", str(cli_env / "x.docx"), "-o", str(out)])
    assert missing.exit_code == 1 and "файл не найден" in missing.output
    other = cli_env / "roadmap.pdf"
    other.write_bytes(b"%PDF")
    pdf = CliRunner().invoke(app, ["import-roadmap", str(other), "-o", str(out)])
    assert pdf.exit_code == 1
    assert "формат .pdf не поддерживается; нужен .txt, .docx или .csv" in pdf.output
    broken = cli_env / "broken.docx"
    broken.write_text("nonsense", "utf-8")
    result = CliRunner().invoke(app, ["import-roadmap", str(broken), "-o", str(out)])
    broken_output = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "broken.docx, файл: не удаётся прочитать broken.docx как документ Word" in (
        broken_output
    )
    assert "Traceback" not in result.output + missing.output + pdf.output


def test_the_command_reads_a_csv_with_the_order_given(cli_env: Path, seed: RoadmapFile) -> None:
    path = cli_env / "roadmap.csv"
    write_csv(path, seed, russian=False, delimiter=",")
    out = cli_env / "roadmap.yaml"
    args = ["import-roadmap", str(path), "-o", str(out), "--title", seed.title]
    args += ["--order-number", "209-од", "--order-date", "2022-04-08"]
    args += ["--district", seed.district]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == SHIPPED.read_text(encoding="utf-8")
    bad = CliRunner().invoke(app, ["import-roadmap", str(path), "--order-date", "8 April"])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output

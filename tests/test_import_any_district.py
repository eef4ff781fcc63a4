"""Any district's order imports: a Word and a CSV plan of another kind of organisation
(another centre's names, officials and committees as responsible parties, no title,
sub-items, a repeated number) import with warnings and every row kept."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import docx
import pytest
import yaml
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from cli.main import app
from config.settings import get_settings
from domain.enums import OrgKind, Role
from domain.organisations import Organisation
from domain.roadmap import Centre, ResponsibleMeaning, RoadmapItem
from domain.roadmap_file import dump_roadmap_file, load_roadmap_file, sync_roadmap
from domain.roadmap_import import ImportResult, RoadmapImportError, import_roadmap
from domain.tasks import Task
from services.opening import open_item

TODAY = date(2026, 12, 1)
CENTRE = Centre(
    name="МБУ ДО «Центр развития образования Зеленогорского района»",
    short_name="ЦРО",
    aliases=["Центр «Развитие»", "районный методический кабинет"],
    address="ул. Спортивная, 3, г. Зеленогорск",
)
LEVOKUMSKOE = Centre(name="МКУ «ИМЦСО ЛМО СК»", short_name="ИМЦСО")
SPORT = "отдел по физической культуре и спорту администрации Зеленогорского района"
DEPUTY = "первый заместитель главы администрации Зеленогорского района"

# (number as written, title, schedule, responsible, result), sections as (None, name)
PLAN: list[tuple[str | None, str, str, str, str]] = [
    (None, "I. Организационные мероприятия", "", "", ""),
    ("1.", "Утверждение положения о Спартакиаде школьников", "январь 2023 г.", DEPUTY, ""),
    (
        "1.1",
        "Формирование оргкомитета и судейской коллегии",
        "до 01.02.2023 г.",
        f"{SPORT}, ЦРО",
        "Приказ о составе оргкомитета",
    ),
    (
        "1.2",
        "Заявки команд образовательных организаций",
        "февраль 2023 г.",
        "руководители ОО/ДОУ",
        "Заявки от 12 школ",
    ),
    (None, "II. Проведение соревнований", "", "", ""),
    (
        "2.",
        "Муниципальный этап «Президентских состязаний»",
        "март-апрель 2023 г.",
        "члены оргкомитета",
        "Протоколы",
    ),
    (
        "3.",
        "Судейство соревнований",
        "апрель 2023 г.",
        "члены экспертной комиссии",
        "Итоговые протоколы",
    ),
    (
        "3.",
        "Фестиваль ГТО среди воспитанников детских садов",
        "май 2023 г.",
        "заведующие ДОУ, инструкторы по физической культуре",
        "Фото- и видеоотчёт",
    ),
    (
        "3а",
        "Методическое сопровождение учителей физической культуры",
        "ежеквартально",
        "Центр «Развитие», кураторы, наставники",
        "Проведено 4 семинара",
    ),
    (
        "4.",
        "Подведение итогов Спартакиады",
        "по согласованию",
        "директора школ",
        "Аналитическая справка",
    ),
]
ITEM_ROWS = [row for row in PLAN if row[0] is not None]
LABELS = ["1", "1.1", "1.2", "2", "3", "3-2", "3а", "4"]


def write_word_plan(path: Path, *, heading: bool = True) -> None:
    """Another district's Word plan: no title, other column headings, Roman section rows
    with an empty schedule, an order line with the month in words."""
    document = docx.Document()
    document.add_paragraph("Приложение к приказу отдела образования")
    if heading:
        document.add_paragraph("администрации Зеленогорского муниципального района")
        document.add_paragraph("№ 45-п от «12» января 2023 г.")
    document.add_paragraph("")
    table = document.add_table(rows=0, cols=5)
    for cell, text in zip(
        table.add_row().cells,
        ["№", "Мероприятие", "Срок", "Ответственные", "Ожидаемый результат"],
        strict=True,
    ):
        cell.text = text
    for number, title, schedule, responsible, result in PLAN:
        cells = table.add_row().cells
        values = [number or "", title, schedule, responsible, result]
        if number is None:
            values[0], values[1] = title.split(" ", 1)
        for cell, text in zip(cells, values, strict=True):
            cell.text = text
    document.add_paragraph("Начальник отдела образования  И. И. Петрова")
    document.save(str(path))


def write_csv_plan(path: Path) -> None:
    with path.open("w", encoding="cp1251", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["№ п/п", "Мероприятие", "Сроки", "Исполнители", "Результат"])
        for number, title, schedule, responsible, result in PLAN:
            if number is None:
                writer.writerow(["", title.split(" ", 1)[1], "", "", ""])
            else:
                writer.writerow([number, title, schedule, responsible, result])


def check_every_row_kept(result: ImportResult, where: list[str]) -> None:
    roadmap = result.roadmap
    assert [i.label for i in roadmap.items] == LABELS
    assert [i.number for i in roadmap.items] == list(range(1, 9))
    assert [
        (i.title, i.schedule_text, i.responsible, i.expected_result) for i in roadmap.items
    ] == [row[1:] for row in ITEM_ROWS]
    assert [result.where[n] for n in range(1, 9)] == where
    assert list(dict.fromkeys(i.section for i in roadmap.items)) == [
        "Организационные мероприятия",
        "Проведение соревнований",
    ]
    assert [i.slug for i in roadmap.items][:3] == [
        "item-1-utverzhdenie-polozheniya-o",
        "item-1-1-formirovanie-orgkomiteta-i",
        "item-1-2-zayavki-komand-obrazovatelnyh",
    ]
    assert roadmap.items[5].slug == "item-3-2-festival-gto-sredi"
    assert roadmap.items[6].slug == "item-3a-metodicheskoe-soprovozhdenie-uchiteley"
    # the roadmap file takes it all: unique labels, the centre and its rules
    assert load_roadmap_file_text(dump_roadmap_file(roadmap)) == roadmap


def load_roadmap_file_text(text: str) -> object:
    from domain.roadmap_file import RoadmapFile

    return RoadmapFile.model_validate(yaml.safe_load(text))


def check_assignees(result: ImportResult) -> None:
    items = {i.label: i for i in result.roadmap.items}
    rules = {label: i.assignees for label, i in items.items()}
    # officials, departments and committees: the centre's own task, flagged
    for label in ("1", "2", "3"):
        assert (rules[label].centre, rules[label].organisations) == (True, None), label
        assert rules[label].unmatched, label
    # the department beside the centre's short name: the centre, flagged for the department
    assert (rules["1.1"].centre, rules["1.1"].organisations, rules["1.1"].unmatched) == (
        True,
        None,
        True,
    )
    assert (rules["1.2"].centre, rules["1.2"].organisations) == (False, Role.head)
    assert rules["1.2"].kinds == [OrgKind.school, OrgKind.kindergarten, OrgKind.extra]
    # heads of kindergartens plus instructors nobody knows: heads [ДОУ] and the centre
    assert (rules["3-2"].centre, rules["3-2"].organisations) == (True, Role.head)
    assert rules["3-2"].kinds == [OrgKind.kindergarten] and rules["3-2"].unmatched
    # the centre's alias plus curators: the centre and curator tasks, nothing to check
    assert (rules["3а"].centre, rules["3а"].organisations, rules["3а"].unmatched) == (
        True,
        Role.curator,
        False,
    )
    assert (rules["4"].centre, rules["4"].organisations) == (False, Role.head)
    assert rules["4"].kinds == [OrgKind.school]
    assert items["1"].responsible == DEPUTY  # word for word


def responsible_warnings(result: ImportResult) -> list[str]:
    return [str(w) for w in result.warnings if w.column == "responsible"]


def check_warnings(result: ImportResult, rows: dict[str, str], late: list[str]) -> None:
    texts = [str(w) for w in result.warnings]
    assert texts[0] == (
        "заголовок приказа: не найдено название (строка жирным шрифтом «Дорожная карта …» "
        f"или «План …»); взято имя файла «{result.roadmap.title}»; укажите --title, чтобы "
        "задать другое"
    )
    assert (
        f"{rows['3-2']}, столбец «№ п/п»: номер 3 повторяется (он уже есть: {rows['3']}); "
        "оба пункта сохранены, этот — под номером «3-2»; проверьте нумерацию"
    ) in texts
    assert responsible_warnings(result) == [
        f"{rows['1']}, столбец «Ответственный исполнитель»: пункт 1: «{DEPUTY}» — не центр, "
        "не руководители и не кураторы; назначено центру, проверьте (текст сохранён как "
        "есть; кому задания, меняется в assignees пункта или в responsible_rules файла "
        "дорожной карты)",
        *[
            f"{rows[label]}, столбец «Ответственный исполнитель»: пункт {label}: {parts} — не "
            "центр, не руководители и не кураторы; назначено центру, проверьте (текст "
            "сохранён как есть; кому задания, меняется в assignees пункта или в "
            "responsible_rules файла дорожной карты)"
            for label, parts in [
                ("1.1", f"«{SPORT}»"),
                ("2", "«члены оргкомитета»"),
                ("3", "«члены экспертной комиссии»"),
                ("3-2", "«инструкторы по физической культуре»"),
            ]
        ],
    ]
    # "по согласованию" is an external plan: flagged "needs dates", as the seed's item 2;
    # a window that opened before the roadmap's start never opens: said, not guessed
    start = f"{result.roadmap.order_date:%d.%m.%Y}"
    schedules = [str(w) for w in result.warnings if w.column == "schedule"]
    assert schedules == [
        f"{rows[label]}, столбец «Сроки исполнения»: пункт {label}: по сроку «{row[2]}» нет "
        f"ни одного срока с начала дорожной карты {start} (окно открылось раньше или "
        "слишком далеко); задание не откроется — исправьте срок или дату начала (--order-date)"
        for label, row in zip(LABELS, ITEM_ROWS, strict=True)
        if label in late
    ]
    assert [i.label for i in result.roadmap.items if i.needs_dates] == ["4"]
    assert all(w.column != "title" for w in result.warnings)


def test_a_word_plan_of_another_district_imports_with_warnings(tmp_path: Path) -> None:
    path = tmp_path / "spartakiada-2023.docx"
    write_word_plan(path)
    result = import_roadmap(path, centre=CENTRE, today=TODAY)
    rows = [2, 3, 4, 6, 7, 8, 9, 10]
    where = [f"таблица Word, строка {n + 1}" for n in rows]
    check_every_row_kept(result, where)
    check_assignees(result)
    check_warnings(result, dict(zip(LABELS, where, strict=True)), late=["1"])
    roadmap = result.roadmap
    assert (roadmap.key, roadmap.order_number, roadmap.order_date) == (
        "45-p-2023",
        "45-п",
        date(2023, 1, 12),
    )
    assert roadmap.title == "spartakiada-2023"
    assert roadmap.district == "Зеленогорский муниципальный район"
    # the centre and the rules that read the column are in the file, editable
    assert roadmap.centre == CENTRE
    centre_patterns = [
        r.pattern for r in roadmap.responsible_rules if r.means is ResponsibleMeaning.centre
    ]
    assert centre_patterns == [
        r"\bмбу\W+до\W+центр\w*\W+развит\w*\W+образован\w*\W+зеленогорск\w*\W+район\w*\b",
        r"\bцро\b",
        r"\bцентр\w*\W+развит\w*\b",
        r"\bрайонн\w*\W+методическ\w*\W+кабинет\w*\b",
    ]
    assert "имцсо" not in dump_roadmap_file(roadmap)


def test_a_csv_plan_of_another_district_imports_with_warnings(tmp_path: Path) -> None:
    path = tmp_path / "plan_sport.csv"
    write_csv_plan(path)
    result = import_roadmap(path, centre=CENTRE, today=TODAY)
    where = [f"строка {n}" for n in (3, 4, 5, 7, 8, 9, 10, 11)]
    check_every_row_kept(result, where)
    check_assignees(result)
    # no order date: the start is today (2026), after every 2023 date of the plan
    check_warnings(result, dict(zip(LABELS, where, strict=True)), late=LABELS[:6])
    roadmap = result.roadmap
    # a CSV has no heading: the file's name and today, said in warnings
    assert (roadmap.key, roadmap.title, roadmap.order_date) == ("plan-sport", "plan_sport", TODAY)
    assert str(result.warnings[1]).startswith(
        "заголовок приказа: не найдена дата приказа (строка вида «от 08.04.2022 г. № "
        "209-од»); начало дорожной карты — дата импорта 01.12.2026; укажите --order-date"
    )
    given = import_roadmap(
        path,
        centre=CENTRE,
        today=TODAY,
        title="План Спартакиады",
        order_date=date(2023, 1, 12),
        order_number="45-п",
    )
    assert given.roadmap.items == roadmap.items
    assert (given.roadmap.key, given.roadmap.title) == ("45-p-2023", "План Спартакиады")
    assert [w.where for w in given.warnings][:1] != ["заголовок приказа"]


def test_another_centres_names_are_warnings_under_this_centre_never_errors(
    tmp_path: Path,
) -> None:
    path = tmp_path / "plan.docx"
    write_word_plan(path)
    result = import_roadmap(path, centre=LEVOKUMSKOE, today=TODAY)
    assert [i.label for i in result.roadmap.items] == LABELS
    alias = next(i for i in result.roadmap.items if i.label == "3а").assignees
    assert (alias.centre, alias.organisations, alias.unmatched) == (True, Role.curator, True)
    assert any("«Центр «Развитие»»" in w for w in responsible_warnings(result))


def test_word_auto_numbering_and_merged_responsible_cells(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_paragraph("План работы на 2023 год")
    table = document.add_table(rows=1, cols=4)
    headings = ["№", "Мероприятие", "Срок", "Ответственный"]
    for cell, text in zip(table.rows[0].cells, headings, strict=True):
        cell.text = text
    for title, schedule in [("Семинар", "март 2023"), ("Конкурс", "апрель 2023"), ("Отчёт", "май")]:
        cells = table.add_row().cells
        cells[0].paragraphs[0].style = "List Number"  # Word numbers it; the text is empty
        cells[1].text, cells[2].text = title, schedule
    merged = table.rows[1].cells[3].merge(table.rows[3].cells[3])
    merged.text = "члены методического совета"
    path = tmp_path / "plan.docx"
    document.save(str(path))
    result = import_roadmap(path, centre=CENTRE, today=TODAY)
    items = result.roadmap.items
    assert [(i.label, i.title) for i in items] == [
        ("1", "Семинар"),
        ("2", "Конкурс"),
        ("3", "Отчёт"),
    ]
    assert [i.responsible for i in items] == ["члены методического совета"] * 3
    assert result.roadmap.title == "План работы на 2023 год"
    texts = [str(w) for w in result.warnings]
    assert (
        "таблица Word, строка 1, столбец «№ п/п»: номера пунктов (3) проставлены автонумерацией "
        "Word: они взяты по порядку (1, 2, …); проверьте, что они совпадают с номерами в "
        "документе"
    ) in texts
    assert (
        "таблица Word, строка 1: нет столбца «Результат»: ожидаемый результат пуст, в ответе — "
        "свободный текст; добавьте столбец, если он нужен"
    ) in texts


def test_only_what_cannot_be_read_stops_the_import(tmp_path: Path) -> None:
    path = tmp_path / "plan.csv"
    path.write_text("№;Мероприятие;Ответственные\n1;Семинар;ЦРО\n", "utf-8")
    with pytest.raises(RoadmapImportError) as caught:
        import_roadmap(path, centre=CENTRE, today=TODAY)
    assert [str(p) for p in caught.value.problems][-1] == (
        "строка 1: нет столбцов: schedule («Сроки исполнения»); добавьте их в строку заголовков"
    )
    document = docx.Document()
    table = document.add_table(rows=2, cols=3)
    for cell, text in zip(table.rows[0].cells, ["№", "Мероприятие", "Ответственные"], strict=True):
        cell.text = text
    word = tmp_path / "plan.docx"
    document.save(str(word))
    with pytest.raises(RoadmapImportError) as no_schedule:
        import_roadmap(word, centre=CENTRE, today=TODAY)
    assert [str(p) for p in no_schedule.value.problems] == [
        "таблица Word, строка 1: в строке заголовков нет столбца «Сроки исполнения»: без "
        "него таблицу не прочитать; добавьте столбец (заголовок «Сроки исполнения» или "
        "«Срок», «Наименование мероприятия» или «Мероприятие»)"
    ]
    path.write_text("№;Мероприятие;Срок;Ответственные\n", "utf-8")
    with pytest.raises(RoadmapImportError) as empty:
        import_roadmap(path, centre=CENTRE, today=TODAY)
    assert [str(p) for p in empty.value.problems] == [
        "файл: в таблице нет ни одного пункта; добавьте строки мероприятий"
    ]


def test_the_imported_plan_opens_the_centres_and_the_organisations_tasks(
    tmp_path: Path, any_engine: Engine
) -> None:
    path = tmp_path / "spartakiada.docx"
    write_word_plan(path)
    roadmap = import_roadmap(path, centre=CENTRE, today=TODAY).roadmap
    now = datetime(2023, 5, 15, 7, tzinfo=UTC)
    with Session(any_engine) as session:
        session.add(
            Organisation(
                name="МБОУ СОШ № 1", short_name="СОШ № 1", kind=OrgKind.school,
                head_name="Иванова", head_email="school1@example.org",
            )
        )  # fmt: skip
        session.add(
            Organisation(
                name="МБДОУ детский сад № 2", short_name="Д/с № 2", kind=OrgKind.kindergarten,
                head_name="Петрова", head_email="ds2@example.org",
            )
        )  # fmt: skip
        sync_roadmap(session=session, roadmap=roadmap, now=now)
        session.commit()
        items = session.exec(select(RoadmapItem).order_by(col(RoadmapItem.number))).all()
        assert [i.label for i in items] == LABELS
        for item in items:
            for _ in range(2):  # a re-run opens nothing new
                open_item(
                    session=session,
                    item=item,
                    roadmap_start=roadmap.order_date,
                    now=now,
                    today=now.date(),
                )
        session.commit()
        labels = {i.id: i.label for i in items}
        orgs = {o.id: o.short_name for o in session.exec(select(Organisation))}
        tasks = sorted(
            (labels[t.item_id], t.role.value, orgs.get(t.organisation_id or 0, "центр"))
            for t in session.exec(select(Task))
        )
    assert tasks == [
        ("1.1", "centre", "центр"),  # до 01.02.2023: the department's task, the centre's
        ("1.2", "head", "Д/с № 2"),  # февраль 2023: heads of ОО/ДОУ
        ("1.2", "head", "СОШ № 1"),
        ("2", "centre", "центр"),  # март-апрель 2023: "члены оргкомитета"
        ("3", "centre", "центр"),  # апрель 2023: "члены экспертной комиссии"
        ("3-2", "centre", "центр"),  # май 2023: instructors (unknown) and heads of ДОУ
        ("3-2", "head", "Д/с № 2"),
        ("3а", "centre", "центр"),  # ежеквартально (Q2): the centre and curators
        ("3а", "curator", "Д/с № 2"),
        ("3а", "curator", "СОШ № 1"),
    ]  # 1 (январь 2023) opened before the order's date, 4 (по согласованию) needs dates


# --- the command, with the centre from the settings ---------------------------------------


@pytest.fixture
def district_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("ROADMAP_DATABASE_URL", f"sqlite:///{(tmp_path / 'cli.db').as_posix()}")
    monkeypatch.setenv("ROADMAP_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ROADMAP_ROADMAP_FILE", str(tmp_path / "default.yaml"))
    monkeypatch.setenv("ROADMAP_CENTRE_NAME", CENTRE.name)
    monkeypatch.setenv("ROADMAP_CENTRE_SHORT_NAME", CENTRE.short_name)
    monkeypatch.setenv("ROADMAP_CENTRE_ALIASES", ", ".join(CENTRE.aliases))
    monkeypatch.setenv("ROADMAP_CENTRE_ADDRESS", CENTRE.address)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_the_command_imports_another_districts_plan_into_the_database(district_env: Path) -> None:
    path = district_env / "spartakiada.docx"
    write_word_plan(path)
    result = CliRunner().invoke(app, ["import-roadmap", str(path)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "Дорожная карта 45-p-2023 добавлена в базу: пунктов 8" in output
    assert output.count("назначено центру, проверьте") == 5
    assert "предупреждение: spartakiada.docx, таблица Word, строка 9, столбец «№ п/п»: номер 3" in (
        output
    )
    assert "центр (проверьте)" in output and "3-2" in output
    assert "задания центру вместо неизвестных исполнителей: 1, 1.1, 2, 3, 3-2; проверьте" in output
    listed = json.loads(CliRunner().invoke(app, ["roadmaps", "list", "--json"]).stdout)
    assert [(r["key"], r["items"]) for r in listed] == [("45-p-2023", 8)]
    out = district_env / "export.yaml"
    exported = CliRunner().invoke(app, ["export", "45-p-2023", "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    roadmap = load_roadmap_file(out)
    assert [i.label for i in roadmap.items] == LABELS
    assert roadmap.centre == CENTRE


def test_an_administrators_rules_apply_on_the_next_import(district_env: Path) -> None:
    path = district_env / "spartakiada.docx"
    write_word_plan(path)
    out = district_env / "plan.yaml"
    first = CliRunner().invoke(app, ["import-roadmap", str(path), "-o", str(out)])
    assert first.exit_code == 0, first.output
    data = yaml.safe_load(out.read_text("utf-8"))
    # the administrator says: the organising committee is the schools' heads
    data["responsible_rules"].append({"pattern": r"оргкомитет", "means": "heads"})
    data["centre"]["aliases"].append("отдел по физической культуре")
    out.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    again = district_env / "again.yaml"
    second = CliRunner().invoke(
        app, ["import-roadmap", str(path), "-o", str(again), "--rules-from", str(out)]
    )
    assert second.exit_code == 0, second.output
    assert " ".join(second.output.split()).count("назначено центру, проверьте") == 3
    items = {i.label: i for i in load_roadmap_file(again).items}
    assert (items["2"].assignees.organisations, items["2"].assignees.unmatched) == (
        Role.head,
        False,
    )
    # the centre's new alias reads the department as the centre
    assert (items["1.1"].assignees.centre, items["1.1"].assignees.unmatched) == (True, False)
    broken = district_env / "broken.yaml"
    broken.write_text("key: x\n", "utf-8")
    bad = CliRunner().invoke(app, ["import-roadmap", str(path), "--rules-from", str(broken)])
    assert bad.exit_code == 1 and "--rules-from:" in bad.output

"""The organisations registry: CSV validation, upsert by name, `roadmap orgs` commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from cli import orgs_cmd
from cli.main import app
from config.settings import get_settings
from domain.enums import OrgKind, Role
from domain.opening import responsible_organisations
from domain.org_import import (
    COLUMNS,
    OrgRow,
    decode_csv_bytes,
    parse_organisations_csv,
    upsert_organisations,
)
from domain.organisations import Organisation
from domain.roadmap import AssigneeRule, RoadmapItem

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "config" / "demo" / "organisations.csv"
HEADER = ",".join(COLUMNS)
NOW = datetime(2022, 4, 8, 7, 0, tzinfo=UTC)
LATER = datetime(2022, 9, 1, 7, 0, tzinfo=UTC)

SCHOOL = "МКОУ СОШ № 1 с. Левокумское,СОШ № 1,school,Иванова И. И.,sosh1@levokumskoe.example,"
SCHOOL += "Петрова П. П.,kurator.sosh1@levokumskoe.example"
KINDERGARTEN = "МКДОУ Детский сад № 2 «Ромашка»,Д/с № 2,kindergarten,Сидорова С. С.,"
KINDERGARTEN += "ds2@levokumskoe.example,Орлова О. О.,kurator.ds2@levokumskoe.example"


def csv_text(*lines: str) -> str:
    return "\n".join([HEADER, *lines]) + "\n"


# --- parsing -------------------------------------------------------------------------


def test_it_reads_good_rows_with_their_line_numbers() -> None:
    rows, errors = parse_organisations_csv(csv_text(SCHOOL, KINDERGARTEN))
    assert errors == []
    assert [(r.line, r.name, r.kind) for r in rows] == [
        (2, "МКОУ СОШ № 1 с. Левокумское", OrgKind.school),
        (3, "МКДОУ Детский сад № 2 «Ромашка»", OrgKind.kindergarten),
    ]
    assert rows[0].curator_email == "kurator.sosh1@levokumskoe.example"


def test_it_rejects_bad_rows_and_keeps_the_good_ones() -> None:
    text = csv_text(
        SCHOOL,
        ",СОШ № 3,school,Кто-то,sosh3@levokumskoe.example,,",
        "МКОУ СОШ № 4,СОШ № 4,гимназия,Кто-то,sosh4@levokumskoe.example,,",
        "МКОУ СОШ № 5,СОШ № 5,school,Кто-то,not-an-email,,",
        "МКОУ СОШ № 6,СОШ № 6,school,Кто-то,sosh6@levokumskoe.example,Куратор,bad@@x",
        "мкоу сош № 1 с. левокумское,СОШ № 1,school,Кто-то,x@levokumskoe.example,,",
        KINDERGARTEN,
    )
    rows, errors = parse_organisations_csv(text)
    assert [r.line for r in rows] == [2, 8]
    reasons = {e.line: e.reason for e in errors}
    assert set(reasons) == {3, 4, 5, 6, 7}
    assert "не заполнен столбец name" in reasons[3]
    assert "kind: неизвестный тип 'гимназия'; укажите school" in reasons[4]
    assert "head_email: 'not-an-email' — неверный адрес" in reasons[5]
    assert "curator_email: 'bad@@x'" in reasons[6]
    assert "уже есть в строке 2" in reasons[7] and "оставьте одну" in reasons[7]
    assert str(errors[0]).startswith("строка 3: ")


def test_missing_columns_reject_the_whole_file() -> None:
    text = "name,short_name,kind,head_name\nМКОУ СОШ № 1,СОШ № 1,school,Иванова\n"
    rows, errors = parse_organisations_csv(text)
    assert rows == []
    assert len(errors) == 1 and errors[0].line == 1
    assert "нет столбцов: head_email, curator_name, curator_email" in errors[0].reason


def test_duplicates_in_a_file_ignore_case_spaces_quotes_and_number_signs() -> None:
    text = csv_text(
        SCHOOL,
        KINDERGARTEN,
        "МКОУ  сош №1 С. ЛЕВОКУМСКОЕ,СОШ № 1,school,Кто-то,x@levokumskoe.example,,",
        'мкдоу детский сад № 2 "Ромашка",Д/с № 2,kindergarten,Кто-то,y@levokumskoe.example,,',
    )
    rows, errors = parse_organisations_csv(text)
    assert [r.line for r in rows] == [2, 3]
    assert [(e.line, "уже есть в строке" in e.reason) for e in errors] == [(4, True), (5, True)]
    assert "строке 3" in errors[1].reason


def test_the_optional_active_column() -> None:
    header = HEADER + ",active"
    lines = [
        f"{header}",
        SCHOOL + ",нет",
        KINDERGARTEN + ",",
        "МКОУ СОШ № 3,СОШ № 3,school,Кто-то,s3@levokumskoe.example,,,0",
        "МКОУ СОШ № 4,СОШ № 4,school,Кто-то,s4@levokumskoe.example,,,Да",
        "МКОУ СОШ № 5,СОШ № 5,school,Кто-то,s5@levokumskoe.example,,,no",
        "МКОУ СОШ № 6,СОШ № 6,school,Кто-то,s6@levokumskoe.example,,,1",
        "МКОУ СОШ № 7,СОШ № 7,school,Кто-то,s7@levokumskoe.example,,,закрыта",
    ]
    rows, errors = parse_organisations_csv("\n".join(lines) + "\n")
    assert [(r.line, r.active) for r in rows] == [
        (2, False),
        (3, True),
        (4, False),
        (5, True),
        (6, False),
        (7, True),
    ]
    assert [e.line for e in errors] == [8]
    assert "active: 'закрыта'" in errors[0].reason and "да/нет" in errors[0].reason
    # Without the column every organisation is active (the demo file has none).
    rows, _ = parse_organisations_csv(csv_text(SCHOOL))
    assert rows[0].active


def test_excel_exports_with_bom_semicolons_and_russian_kinds() -> None:
    text = (
        "\ufeff" + HEADER.replace(",", ";") + "\r\n"
        "МКОУ СОШ № 1;СОШ № 1;Школа;Иванова;sosh1@levokumskoe.example;;\r\n"
        "МКДОУ Детский сад № 2;Д/с № 2;ДОУ;Сидорова;ds2@levokumskoe.example;;\r\n"
        "МКДОУ Детский сад № 3;Д/с № 3;детский сад;Орлова;ds3@levokumskoe.example;;\r\n"
        "МКУ ДО ДДТ;ДДТ;доп;Рябова;ddt@levokumskoe.example;;\r\n"
    )
    rows, errors = parse_organisations_csv(decode_csv_bytes(text.encode("utf-8")))
    assert errors == []
    assert [r.kind for r in rows] == [
        OrgKind.school,
        OrgKind.kindergarten,
        OrgKind.kindergarten,
        OrgKind.extra,
    ]
    assert rows[0].line == 2 and rows[3].line == 5


def test_windows_1251_files_are_read() -> None:
    data = csv_text(SCHOOL).encode("cp1251")
    rows, errors = parse_organisations_csv(decode_csv_bytes(data))
    assert errors == [] and rows[0].head_name == "Иванова И. И."


def test_quoted_cells_with_line_breaks_keep_the_next_line_number() -> None:
    text = csv_text(
        '"МКОУ СОШ № 1\nс. Левокумское",СОШ № 1,school,Иванова,sosh1@levokumskoe.example,,',
        "МКОУ СОШ № 2,СОШ № 2,школа,Петров,broken,,",
    )
    rows, errors = parse_organisations_csv(text)
    assert rows[0].name == "МКОУ СОШ № 1 с. Левокумское"
    assert [e.line for e in errors] == [4]


def test_the_demo_district_is_valid_and_complete() -> None:
    rows, errors = parse_organisations_csv(DEMO.read_text(encoding="utf-8"))
    assert errors == []
    kinds = [r.kind for r in rows]
    assert kinds.count(OrgKind.school) == 14
    assert kinds.count(OrgKind.kindergarten) == 14
    assert kinds.count(OrgKind.extra) == 2
    for row in rows:
        assert row.head_email.endswith(".example")
        if row.kind is not OrgKind.extra:
            assert row.curator_name and row.curator_email.endswith(".example")


# --- upsert on both databases --------------------------------------------------------


def test_upsert_creates_updates_and_leaves_unchanged(any_engine: Engine) -> None:
    rows, _ = parse_organisations_csv(csv_text(SCHOOL, KINDERGARTEN))
    with Session(any_engine) as session:
        counts = upsert_organisations(session=session, rows=rows, now=NOW)
        session.commit()
    assert (counts.created, counts.updated, counts.unchanged) == (2, 0, 0)

    changed = OrgRow(**{**rows[1].__dict__, "head_email": "new-head@levokumskoe.example"})
    with Session(any_engine) as session:
        counts = upsert_organisations(session=session, rows=[rows[0], changed], now=LATER)
        session.commit()
    assert (counts.created, counts.updated, counts.unchanged) == (0, 1, 1)
    assert counts.names["updated"] == ["МКДОУ Детский сад № 2 «Ромашка»"]

    with Session(any_engine) as session:
        orgs = {o.name: o for o in session.exec(select(Organisation))}
    assert len(orgs) == 2
    school = orgs["МКОУ СОШ № 1 с. Левокумское"]
    kindergarten = orgs["МКДОУ Детский сад № 2 «Ромашка»"]
    assert school.updated_at == NOW
    assert kindergarten.updated_at == LATER
    assert kindergarten.head_email == "new-head@levokumskoe.example"
    assert kindergarten.kind is OrgKind.kindergarten


def test_a_re_import_in_another_spelling_updates_instead_of_duplicating(
    any_engine: Engine,
) -> None:
    rows, _ = parse_organisations_csv(csv_text(SCHOOL, KINDERGARTEN))
    with Session(any_engine) as session:
        upsert_organisations(session=session, rows=rows, now=NOW)
        session.commit()
    respelled, errors = parse_organisations_csv(
        csv_text(
            SCHOOL.replace("МКОУ СОШ № 1 с. Левокумское", "мкоу сош  №1 с. левокумское"),
            KINDERGARTEN.replace("«Ромашка»", '"Ромашка"'),
        )
    )
    assert errors == []
    with Session(any_engine) as session:
        counts = upsert_organisations(session=session, rows=respelled, now=LATER)
        session.commit()
    assert (counts.created, counts.updated, counts.unchanged) == (0, 2, 0)
    with Session(any_engine) as session:
        orgs = list(session.exec(select(Organisation).order_by(col(Organisation.id))))
    assert [o.name for o in orgs] == [
        "мкоу сош №1 с. левокумское",
        'МКДОУ Детский сад № 2 "Ромашка"',
    ]
    assert all(o.updated_at == LATER for o in orgs)


def test_active_no_retires_an_organisation_and_yes_brings_it_back(any_engine: Engine) -> None:
    rows, _ = parse_organisations_csv(csv_text(SCHOOL, KINDERGARTEN))
    with Session(any_engine) as session:
        upsert_organisations(session=session, rows=rows, now=NOW)
        session.commit()
    retired, _ = parse_organisations_csv(
        "\n".join([HEADER + ",active", KINDERGARTEN.replace("«", '"').replace("»", '"') + ",нет"])
    )
    with Session(any_engine) as session:
        counts = upsert_organisations(session=session, rows=retired, now=LATER)
        session.commit()
    assert counts.names["deactivated"] == ['МКДОУ Детский сад № 2 "Ромашка"']
    assert counts.names["absent"] == ["МКОУ СОШ № 1 с. Левокумское"]  # left as it was
    assert counts.deactivated == 1
    with Session(any_engine) as session:
        orgs = {o.short_name: o for o in session.exec(select(Organisation))}
        assert len(orgs) == 2 and orgs["Д/с № 2"].active is False
        assert orgs["СОШ № 1"].active is True
        item = RoadmapItem(
            roadmap_id=1,
            number=1,
            slug="x",
            section="s",
            title="t",
            schedule_text="ежегодно",
            responsible="руководители ОО",
            assignees=AssigneeRule(organisations=Role.head).model_dump(mode="json"),
            expected_result="r",
        )
        assert [o.short_name for o in responsible_organisations(item, list(orgs.values()))] == [
            "СОШ № 1"
        ]

    with Session(any_engine) as session:
        counts = upsert_organisations(session=session, rows=rows, now=LATER)
        session.commit()
    assert counts.names["reactivated"] == ["МКДОУ Детский сад № 2 «Ромашка»"]
    with Session(any_engine) as session:
        assert all(o.active for o in session.exec(select(Organisation)))


def test_upsert_of_the_demo_district_twice_changes_nothing(any_engine: Engine) -> None:
    rows, _ = parse_organisations_csv(DEMO.read_text(encoding="utf-8"))
    with Session(any_engine) as session:
        first = upsert_organisations(session=session, rows=rows, now=NOW)
        session.commit()
    with Session(any_engine) as session:
        second = upsert_organisations(session=session, rows=rows, now=LATER)
        session.commit()
    assert first.created == 30
    assert (second.created, second.updated, second.unchanged) == (0, 0, 30)


# --- the commands --------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(orgs_cmd.console, "width", 200)  # tables without wrapped cells
    monkeypatch.setenv("ROADMAP_DATABASE_URL", f"sqlite:///{(tmp_path / 'cli.db').as_posix()}")
    monkeypatch.setenv("ROADMAP_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_orgs_import_and_list(cli_env: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["orgs", "import", str(DEMO)])
    assert result.exit_code == 0, result.output
    assert "30" in result.output

    again = runner.invoke(app, ["orgs", "import", str(DEMO)])
    assert again.exit_code == 0, again.output

    listed = runner.invoke(app, ["orgs", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.stdout)
    assert len(data) == 30
    first = data[0]
    assert set(first) == {"id", *COLUMNS, "active"}
    assert first["name"] == "МКОУ СОШ № 1 с. Левокумское"
    assert first["kind"] == "school"
    assert "Левокумское" in listed.output  # ensure_ascii=False: no \u escapes

    table = runner.invoke(app, ["orgs", "list"])
    assert table.exit_code == 0 and "Организации (30)" in table.output
    assert "руководитель" in table.output and "школа" in table.output


def test_orgs_import_reports_bad_rows_and_exits_1(cli_env: Path) -> None:
    path = cli_env / "orgs.csv"
    path.write_text(csv_text(SCHOOL, "МКОУ СОШ № 9,СОШ № 9,school,,sosh9@x.example,,"), "utf-8")
    result = CliRunner().invoke(app, ["orgs", "import", str(path)])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "отклонена orgs.csv, строка 3: не заполнен столбец head_name" in output
    assert "исправьте отклонённые строки и загрузите файл ещё раз" in output
    listed = CliRunner().invoke(app, ["orgs", "list", "--json"])
    assert [o["name"] for o in json.loads(listed.stdout)] == ["МКОУ СОШ № 1 с. Левокумское"]


def test_orgs_import_rejects_a_file_without_the_columns(cli_env: Path) -> None:
    path = cli_env / "orgs.csv"
    path.write_text("name;kind\nМКОУ СОШ № 1;school\n", "utf-8")
    result = CliRunner().invoke(app, ["orgs", "import", str(path)])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "нет столбцов: short_name" in output and "ничего не загружено" in output
    assert "Traceback" not in result.output


def test_orgs_import_of_a_missing_file_is_a_message(cli_env: Path) -> None:
    result = CliRunner().invoke(app, ["orgs", "import", str(cli_env / "nope.csv")])
    assert result.exit_code == 1
    assert "файл не найден" in " ".join(result.output.split())


def test_orgs_import_retires_with_active_no_and_names_the_absent(cli_env: Path) -> None:
    runner = CliRunner()
    first = cli_env / "orgs.csv"
    first.write_text(csv_text(SCHOOL, KINDERGARTEN), "utf-8")
    assert runner.invoke(app, ["orgs", "import", str(first)]).exit_code == 0
    retire = cli_env / "retire.csv"
    retire.write_text(HEADER + ",active\n" + KINDERGARTEN.upper() + ",нет\n", "utf-8")
    result = runner.invoke(app, ["orgs", "import", str(retire)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "Выведены из работы (новых заданий не получат): 1" in output
    assert "Нет в файле, остаются действующими: СОШ № 1" in output
    listed = json.loads(runner.invoke(app, ["orgs", "list", "--json"]).stdout)
    assert [(o["short_name"], o["active"]) for o in listed] == [
        ("СОШ № 1", True),
        ("Д/С № 2", False),
    ]
    assert "(не действует)" in runner.invoke(app, ["orgs", "list"]).output


def test_orgs_import_help_documents_the_active_column(cli_env: Path) -> None:
    result = CliRunner().invoke(app, ["orgs", "import", "--help"])
    assert result.exit_code == 0
    assert "active" in result.output and "да/нет" in result.output

"""What an answer carries: the "Результат" column read into an EvidenceSpec."""

from __future__ import annotations

import pytest

from domain.enums import EvidenceFieldKind as Kind
from domain.evidence_rules import evidence_spec

# (item, expected result as in the seed (continuations joined), field names before "comment")
SEED = [
    (
        1,
        "Сформирована актуальная база наставников для участия в программах наставничества",
        ["mentors", "mentors_file"],
    ),
    (2, "Повышение квалификации педагогических работников", ["trained"]),
    (3, "Консультирование по заявкам образовательных организаций", ["event_date", "participants"]),
    (4, "Информационные письма в образовательные организации", ["letters", "letters_file"]),
    (
        5,
        "Постоянно действующее сообщество (Совет наставников, Школа молодого учителя, Школа "
        "молодого воспитателя) Разработаны методические материалы для сопровождения "
        "наставнической деятельности.",
        ["event_date", "participants", "materials", "materials_file"],
    ),
    (
        6,
        "Создан специальный раздел на официальных сайтах ОО, ДОУ, МКУ «ИМЦСО ЛМО СК»",
        ["site_url"],
    ),
    (
        7,
        'Проведены консультации, "установочные сессии" наставников',
        ["event_date", "participants"],
    ),
    (
        8,
        "Заседание Школы молодого учителя, Заседание Школы молодого воспитателя",
        ["event_date", "participants"],
    ),
    (
        9,
        "Организован обмен опытом, распространены новые и эффективные практики наставничества",
        ["event_date", "participants", "practices"],
    ),
    (
        10,
        "Получены и проанализированы данные мониторинга (аналитическая справка)",
        ["report_file"],
    ),
    (
        11,
        "Утверждены локальные нормативные правовые документы образовательных организаций, "
        "назначены кураторы реализации программ наставничества",
        ["order_number", "order_date", "order_file", "curator_name"],
    ),
    (12, "Разработаны программы/планы наставничества", ["programme_file", "programmes"]),
    (
        13,
        "Сформирована база наставников и наставляемых; Изданы приказы о закреплении "
        "наставнических пар/групп",
        ["mentors", "mentees", "mentors_file", "pairs", "order_number", "order_date", "order_file"],
    ),
    (14, "Реализована программа/план наставничества", ["programme_file", "programmes"]),
    (
        15,
        "Сформирована система поддержки наставничества через профессиональное сообщество",
        ["event_date", "participants"],
    ),
    (
        16,
        "Проведение итогового мероприятия, пополнение методической копилки педагогических "
        "практик наставничества.",
        ["event_date", "participants", "materials", "materials_file", "practices"],
    ),
    (
        17,
        "Освещение мероприятий дорожной карты осуществляется на всех этапах на сайте "
        "образовательной организации и социальных сетях",
        ["site_url", "publications"],
    ),
]


@pytest.mark.parametrize(("number", "text", "names"), SEED)
def test_every_seed_item(number: int, text: str, names: list[str]) -> None:
    spec = evidence_spec(text)
    assert [f.name for f in spec.fields] == [*names, "comment"], number


def test_a_base_of_mentors_asks_for_numbers_and_an_optional_list() -> None:
    spec = evidence_spec("Сформирована база наставников и наставляемых")
    mentors, mentees, listing = (
        spec.field("mentors"),
        spec.field("mentees"),
        spec.field("mentors_file"),
    )
    assert mentors and mentors.kind is Kind.number and mentors.label == "Количество наставников"
    assert mentees and mentees.kind is Kind.number and mentees.label == "Количество наставляемых"
    assert listing and listing.kind is Kind.file and not listing.required


def test_an_order_asks_for_its_number_date_and_an_optional_scan() -> None:
    spec = evidence_spec("Издан приказ о назначении кураторов")
    number, when, scan = (
        spec.field("order_number"),
        spec.field("order_date"),
        spec.field("order_file"),
    )
    assert number and number.kind is Kind.text and number.label == "Номер приказа"
    assert when and when.kind is Kind.date and when.label == "Дата приказа"
    assert scan and scan.kind is Kind.file and not scan.required
    assert evidence_spec("Утверждены положение и другие документы").field("order_number")


def test_the_comment_is_last_and_optional() -> None:
    for _, text, _ in SEED:
        last = evidence_spec(text).fields[-1]
        assert (last.name, last.kind, last.required) == ("comment", Kind.long_text, False)


def test_number_fields_are_required_and_named_for_the_summary() -> None:
    numbers = {
        f.name for _, text, _ in SEED for f in evidence_spec(text).fields if f.kind is Kind.number
    }
    assert numbers == {
        "mentors",
        "mentees",
        "pairs",
        "programmes",
        "trained",
        "participants",
        "letters",
        "materials",
        "practices",
        "publications",
    }
    for _, text, _ in SEED:
        assert all(f.required for f in evidence_spec(text).fields if f.kind is Kind.number)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Проведён круглый стол", {"event_date", "participants"}),
        ("Проведены мастер-классы", {"event_date", "participants"}),
        ("Проведён муниципальный фестиваль", {"event_date", "participants"}),
        ("Обновлена страница на сайте школы", {"site_url"}),
        ("Пройдены курсы повышения квалификации", {"trained"}),
        ("Аналитическая справка по итогам года", {"report_file"}),
        ("Назначены кураторы", {"curator_name"}),
        ("Сформирован банк наставников", {"mentors", "mentors_file"}),
        ("Утверждена программа наставничества", {"programme_file", "programmes"}),
    ],
)
def test_keyword_rules_on_other_wordings(text: str, expected: set[str]) -> None:
    names = {f.name for f in evidence_spec(text).fields} - {"comment"}
    assert names == expected


def test_a_plan_of_events_is_not_an_event() -> None:
    names = {f.name for f in evidence_spec("Утверждён план мероприятий").fields}
    assert "event_date" not in names


def test_an_unrecognised_result_asks_what_was_done() -> None:
    spec = evidence_spec("Всё хорошо")
    assert [(f.name, f.kind, f.required) for f in spec.fields] == [
        ("summary", Kind.long_text, True),
        ("comment", Kind.long_text, False),
    ]
    assert evidence_spec("").fields[0].name == "summary"


def test_field_names_are_unique_and_the_spec_is_deterministic() -> None:
    text = "Проведено заседание, проведён семинар и фестиваль; база наставников; банк наставников"
    names = [f.name for f in evidence_spec(text).fields]
    assert len(names) == len(set(names))
    assert evidence_spec(text) == evidence_spec(text)

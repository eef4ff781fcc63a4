"""What an item's edit form means (domain.roadmap_setup), without a database."""

from __future__ import annotations

from datetime import date

import pytest

from domain.enums import EvidenceFieldKind
from domain.roadmap import EvidenceField, EvidenceSpec
from domain.roadmap_setup import (
    ItemFormError,
    parse_evidence_lines,
    parse_plan_dates,
    plan_phrase,
)
from domain.schedule import parse_schedule


def test_an_external_plans_dates_become_a_phrase_the_grammar_reads_as_them() -> None:
    windows = parse_plan_dates("20.03.2023\n15.10.2022; 01.03.2023 – 20.03.2023")
    assert windows == [
        (date(2022, 10, 15), date(2022, 10, 15)),
        (date(2023, 3, 1), date(2023, 3, 20)),
        (date(2023, 3, 20), date(2023, 3, 20)),
    ]
    phrase = plan_phrase("по плану СКИРО ПК и ПРО", windows)
    assert phrase.startswith("по плану СКИРО ПК и ПРО (15.10.2022, с 01.03.2023 по 20.03.2023")
    schedule = parse_schedule(phrase)
    assert not schedule.needs_dates
    dues = [w.due for w in schedule.occurrences(date(2022, 4, 8), date(2024, 1, 1))]
    assert dues == [date(2022, 10, 15), date(2023, 3, 20), date(2023, 3, 20)]  # two windows


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("15/10/2022", "строка 1: «15/10/2022» — не дата"),
        ("29.02.2023", "строка 1: «29.02.2023» — такой даты нет в календаре"),
        ("01.10.2022\n20.10.2022 – 01.10.2022", "строка 2: «20.10.2022 – 01.10.2022» — окно"),
    ],
)
def test_wrong_plan_dates_name_the_line(text: str, says: str) -> None:
    with pytest.raises(ItemFormError) as caught:
        parse_plan_dates(text)
    assert caught.value.errors["plan_dates"].startswith(says)


def test_evidence_lines_keep_a_fields_name_while_its_label_stays() -> None:
    current = EvidenceSpec(
        fields=[EvidenceField(name="mentors", label="Количество наставников", kind="number")]
    )
    spec = parse_evidence_lines(
        "Количество наставников; число\nСписок наставников; файл; необязательно", current
    )
    assert [(f.name, f.kind, f.required) for f in spec.fields] == [
        ("mentors", EvidenceFieldKind.number, True),
        ("spisok_nastavnikov", EvidenceFieldKind.file, False),
    ]
    with pytest.raises(ItemFormError) as caught:
        parse_evidence_lines("А; текст\nА; число", current)
    assert caught.value.errors["evidence"] == "строка 2: поле «А» уже есть; оставьте одно"

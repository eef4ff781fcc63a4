"""The schedule grammar: the order's 17 phrases, the wider family, errors, the command."""

from __future__ import annotations

import json
from datetime import date

import pytest
import typer
from typer.testing import CliRunner

from domain.calendar import WorkingCalendar
from domain.schedule import (
    Schedule,
    ScheduleKind,
    ScheduleParseError,
    Window,
    parse_schedule,
    read_schedule,
)

START = date(2022, 4, 8)  # the order's date
UNTIL = date(2024, 8, 31)


def d(text: str) -> date:
    day, month, year = (int(p) for p in text.split("."))
    return date(year, month, day)


def spans(phrase: str, start: date = START, until: date = UNTIL) -> list[tuple[date, date]]:
    return [(w.opens, w.due) for w in parse_schedule(phrase).occurrences(start, until)]


def ds(*pairs: tuple[str, str]) -> list[tuple[date, date]]:
    return [(d(a), d(b)) for a, b in pairs]


CONTINUOUS = ds(
    ("08.04.2022", "31.08.2022"), ("01.09.2022", "31.08.2023"), ("01.09.2023", "30.08.2024")
)

# The 17 rows of order No. 209-од, "Сроки исполнения", with start 08.04.2022.
SEED: list[tuple[int, str, ScheduleKind, list[tuple[date, date]]]] = [
    (
        1,
        "май-сентябрь 2022г., далее ежегодно",
        ScheduleKind.recurring,
        ds(
            ("01.05.2022", "30.09.2022"),
            ("01.05.2023", "29.09.2023"),  # 30.09.2023 is a Saturday
            ("01.05.2024", "30.09.2024"),
        ),
    ),
    (3, "постоянно", ScheduleKind.continuous, CONTINUOUS),
    (4, "постоянно", ScheduleKind.continuous, CONTINUOUS),
    (
        5,
        "Ежегодно в течение учебного года, по отдельному плану",
        ScheduleKind.recurring,
        ds(("01.09.2022", "31.05.2023"), ("01.09.2023", "31.05.2024")),
    ),
    (6, "постоянно", ScheduleKind.continuous, CONTINUOUS),
    (7, "август 2022 г.", ScheduleKind.once, ds(("01.08.2022", "31.08.2022"))),
    (
        8,
        "апрель, ежегодно",
        ScheduleKind.recurring,
        # 30.04.2023 is a Sunday; 29.04-30.04.2024 are days off in exchange for the
        # working Saturdays 27.04 and 02.11.2024, so April 2024 is due Saturday 27.04.
        ds(("01.04.2023", "28.04.2023"), ("01.04.2024", "27.04.2024")),
    ),
    (
        9,
        "март, ежегодно",
        ScheduleKind.recurring,
        ds(("01.03.2023", "31.03.2023"), ("01.03.2024", "29.03.2024")),
    ),
    (
        10,
        "июль-август, ежегодно",
        ScheduleKind.recurring,
        ds(
            ("01.07.2022", "31.08.2022"),
            ("01.07.2023", "31.08.2023"),
            ("01.07.2024", "30.08.2024"),
        ),
    ),
    (11, "до 01.05.2022 г.", ScheduleKind.once, ds(("08.04.2022", "29.04.2022"))),
    (12, "в течение всего периода реализации программ", ScheduleKind.continuous, CONTINUOUS),
    (
        13,
        "до 15.09.2022г., далее ежегодно",
        ScheduleKind.recurring,
        ds(("08.04.2022", "14.09.2022"), ("01.09.2023", "14.09.2023")),
    ),
    # A standing period named without a year recurs every such period of the span.
    (
        14,
        "в течение учебного года",
        ScheduleKind.recurring,
        ds(("01.09.2022", "31.05.2023"), ("01.09.2023", "31.05.2024")),
    ),
    (
        15,
        "ежеквартально",
        ScheduleKind.recurring,
        ds(
            ("01.07.2022", "30.09.2022"),
            ("01.10.2022", "30.12.2022"),
            ("01.01.2023", "31.03.2023"),
            ("01.04.2023", "30.06.2023"),
            ("01.07.2023", "29.09.2023"),
            ("01.10.2023", "29.12.2023"),
            ("01.01.2024", "29.03.2024"),
            ("01.04.2024", "28.06.2024"),
            ("01.07.2024", "30.09.2024"),
        ),
    ),
    (
        16,
        "май ежегодно (в рамках ШМО)",
        ScheduleKind.recurring,
        ds(
            ("01.05.2022", "31.05.2022"),
            ("01.05.2023", "31.05.2023"),
            ("01.05.2024", "31.05.2024"),
        ),
    ),
    (17, "постоянно", ScheduleKind.continuous, CONTINUOUS),
]


@pytest.mark.parametrize(("row", "phrase", "kind", "expected"), SEED, ids=[str(r[0]) for r in SEED])
def test_the_orders_phrases_yield_the_agreed_windows(row, phrase, kind, expected):
    schedule = parse_schedule(phrase)
    assert schedule.kind is kind
    assert schedule.needs_dates is False
    assert spans(phrase) == expected


def test_continuous_windows_are_marked_continuous():
    windows = parse_schedule("постоянно").occurrences(START, UNTIL)
    assert all(w.continuous for w in windows)
    assert not any(w.continuous for w in parse_schedule("март, ежегодно").occurrences(START, UNTIL))


def test_row_2_waits_for_the_external_plan():
    schedule = parse_schedule("ежегодно, по плану СКИРО ПК и ПРО")
    assert schedule.kind is ScheduleKind.external
    assert schedule.needs_dates is True
    assert schedule.note == "по плану СКИРО ПК и ПРО"
    assert schedule.reason is not None and "план" in schedule.reason
    assert schedule.occurrences(START, UNTIL) == []


def test_a_window_with_a_plan_keeps_the_plan_as_a_note():
    schedule = parse_schedule("Ежегодно в течение учебного года, по отдельному плану")
    assert schedule.note == "по отдельному плану"
    assert schedule.needs_dates is False


def test_a_parenthesis_without_dates_is_a_note():
    assert parse_schedule("май ежегодно (в рамках ШМО)").note == "в рамках ШМО"


def test_a_place_after_the_date_is_a_note():
    schedule = parse_schedule("12.10.2017, 10.00, МКОУ СОШ №1")
    assert schedule.note == "МКОУ СОШ №1"
    assert schedule.kind is ScheduleKind.once


def test_only_standing_periods_without_a_year_recur():
    """`в течение учебного года` is every academic year; a named month, range or date
    without a year or a recurrence word is still the first such on or after the start."""
    for phrase in ("ноябрь", "сентябрь-май", "до 10 марта", "12.10", "2022-2023 учебный год"):
        schedule = parse_schedule(phrase)
        assert schedule.kind is ScheduleKind.once, phrase
        assert len(schedule.occurrences(START, date(2030, 8, 31))) == 1, phrase
    yearly = parse_schedule("в течение учебного года").occurrences(START, date(2030, 8, 31))
    assert [w.opens for w in yearly] == [date(year, 9, 1) for year in range(2022, 2030)]
    assert all(w.due.month == 5 for w in yearly)


def test_item_14_keeps_one_window_in_the_first_cycle():
    """The 2021/2022 academic year opened before the order date, so the first cycle
    (08.04.2022 - 31.08.2023) holds the 2022/2023 window only."""
    assert spans("в течение учебного года", until=date(2023, 8, 31)) == ds(
        ("01.09.2022", "31.05.2023")
    )
    # A later start leaves out the year already under way, as for any explicit window.
    assert spans("в течение учебного года", start=date(2023, 10, 15)) == []
    assert spans(
        "в течение учебного года", start=date(2023, 10, 15), until=date(2025, 8, 31)
    ) == ds(("01.09.2024", "30.05.2025"))  # 31.05.2025 is a Saturday


def test_a_due_date_on_a_working_saturday_stays_there():
    # 02.11.2025 is a Sunday; Saturday 01.11.2025 is worked (for Monday 03.11.2025).
    assert spans("до 03.11.2025 г.", start=date(2025, 9, 1), until=date(2025, 12, 31)) == ds(
        ("01.09.2025", "01.11.2025")
    )
    # Without the transferred working day it would move to Friday 31.10.2025.
    plain = WorkingCalendar()
    windows = parse_schedule("до 03.11.2025 г.").occurrences(
        date(2025, 9, 1), date(2025, 12, 31), plain
    )
    assert [(w.opens, w.due) for w in windows] == ds(("01.09.2025", "31.10.2025"))


def test_the_first_cycle_holds_the_right_occurrences():
    """Start to 31.08.2023 (the first cycle) for the deadline rows."""
    first_cycle_end = date(2023, 8, 31)
    assert spans("до 15.09.2022г., далее ежегодно", until=first_cycle_end) == ds(
        ("08.04.2022", "14.09.2022")
    )
    assert spans("до 01.05.2022 г.", until=first_cycle_end) == ds(("08.04.2022", "29.04.2022"))


# --- the wider family --------------------------------------------------------------------

FAMILY: list[tuple[str, ScheduleKind, list[tuple[str, str]]]] = [
    # months and month ranges, with and without a year, in any grammatical case
    ("ноябрь", ScheduleKind.once, [("01.11.2022", "30.11.2022")]),
    ("в апреле", ScheduleKind.once, [("01.04.2023", "28.04.2023")]),
    ("в течение апреля 2023 г.", ScheduleKind.once, [("01.04.2023", "28.04.2023")]),
    ("сентябрь - октябрь 2023", ScheduleKind.once, [("01.09.2023", "31.10.2023")]),
    ("СЕНТЯБРЬ–ОКТЯБРЬ 2023 Г.", ScheduleKind.once, [("01.09.2023", "31.10.2023")]),
    ("октябрь 2022 – апрель 2023 г.", ScheduleKind.once, [("01.10.2022", "28.04.2023")]),
    ("октябрь – апрель 2023 г.", ScheduleKind.once, [("01.10.2022", "28.04.2023")]),
    ("декабрь 2022 — февраль 2023 гг.", ScheduleKind.once, [("01.12.2022", "28.02.2023")]),
    ("сентябрь-май", ScheduleKind.once, [("01.09.2022", "31.05.2023")]),
    ("с сентября по май", ScheduleKind.once, [("01.09.2022", "31.05.2023")]),
    ("с мая до конца сентября 2023", ScheduleKind.once, [("01.05.2023", "29.09.2023")]),
    (
        "Май , октябрь",
        ScheduleKind.once,
        [("01.05.2022", "31.05.2022"), ("01.10.2022", "31.10.2022")],
    ),
    (
        "май и октябрь, ежегодно",
        ScheduleKind.recurring,
        [
            ("01.05.2022", "31.05.2022"),
            ("01.10.2022", "31.10.2022"),
            ("01.05.2023", "31.05.2023"),
            ("01.10.2023", "31.10.2023"),
            ("01.05.2024", "31.05.2024"),
        ],
    ),
    ("апр. 2023 г.", ScheduleKind.once, [("01.04.2023", "28.04.2023")]),
    # deadlines
    ("до конца мая", ScheduleKind.once, [("08.04.2022", "31.05.2022")]),
    ("до 10 марта", ScheduleKind.once, [("08.04.2022", "09.03.2023")]),
    ("к 1 сентября 2022 года", ScheduleKind.once, [("08.04.2022", "31.08.2022")]),
    ("не позднее 10 марта 2023 г.", ScheduleKind.once, [("08.04.2022", "10.03.2023")]),
    ("в срок до 10 марта 2023 г.", ScheduleKind.once, [("08.04.2022", "09.03.2023")]),
    ("до конца 2023 года", ScheduleKind.once, [("08.04.2022", "29.12.2023")]),
    ("до конца учебного года", ScheduleKind.once, [("08.04.2022", "31.05.2022")]),
    (
        "до 10 марта, ежегодно",
        ScheduleKind.recurring,
        [("08.04.2022", "09.03.2023"), ("01.09.2023", "07.03.2024")],
    ),
    # `текущего года` names no year of its own: with `ежегодно` it is that date every year
    (
        "ежегодно до 20 апреля текущего года",
        ScheduleKind.recurring,
        [("08.04.2022", "19.04.2022"), ("01.09.2022", "19.04.2023"), ("01.09.2023", "19.04.2024")],
    ),
    (
        "до 20 апреля текущего года, ежегодно",
        ScheduleKind.recurring,
        [("08.04.2022", "19.04.2022"), ("01.09.2022", "19.04.2023"), ("01.09.2023", "19.04.2024")],
    ),
    ("до 20 апреля текущего года", ScheduleKind.once, [("08.04.2022", "19.04.2022")]),
    (
        "апрель текущего года, ежегодно",
        ScheduleKind.recurring,
        [("01.04.2023", "28.04.2023"), ("01.04.2024", "27.04.2024")],
    ),
    (
        "ежегодно до 1 сентября",
        ScheduleKind.recurring,
        [("08.04.2022", "31.08.2022"), ("01.09.2022", "31.08.2023"), ("01.09.2023", "30.08.2024")],
    ),
    # quarters: Roman numerals, digits, words, ranges, lists
    ("III кв.", ScheduleKind.once, [("01.07.2022", "30.09.2022")]),
    ("III квартал", ScheduleKind.once, [("01.07.2022", "30.09.2022")]),
    ("1 квартал", ScheduleKind.once, [("01.01.2023", "31.03.2023")]),
    ("в I квартале", ScheduleKind.once, [("01.01.2023", "31.03.2023")]),
    ("первый квартал 2023 г.", ScheduleKind.once, [("01.01.2023", "31.03.2023")]),
    ("II квартал 2024 г.", ScheduleKind.once, [("01.04.2024", "28.06.2024")]),
    ("I - II кв.", ScheduleKind.once, [("01.01.2023", "30.06.2023")]),
    ("II, IV кв.", ScheduleKind.once, [("01.10.2022", "30.12.2022"), ("01.04.2023", "30.06.2023")]),
    (
        "II, IV кв. 2023 г.",
        ScheduleKind.once,
        [("01.04.2023", "30.06.2023"), ("01.10.2023", "29.12.2023")],
    ),
    (
        "IV квартал, ежегодно",
        ScheduleKind.recurring,
        [("01.10.2022", "30.12.2022"), ("01.10.2023", "29.12.2023")],
    ),
    # days and day ranges
    (
        "3 марта, 17 марта, 14 апреля 2023 года",
        ScheduleKind.once,
        [("03.03.2023", "03.03.2023"), ("17.03.2023", "17.03.2023"), ("14.04.2023", "14.04.2023")],
    ),
    (
        "3, 17 марта 2023 г.",
        ScheduleKind.once,
        [("03.03.2023", "03.03.2023"), ("17.03.2023", "17.03.2023")],
    ),
    ("01.02 - 28.02.2023", ScheduleKind.once, [("01.02.2023", "28.02.2023")]),
    ("15 - 25.03.2023", ScheduleKind.once, [("15.03.2023", "24.03.2023")]),  # 25.03 is a Saturday
    ("1-15 марта 2023", ScheduleKind.once, [("01.03.2023", "15.03.2023")]),
    ("с 1 по 15 марта 2023 г.", ScheduleKind.once, [("01.03.2023", "15.03.2023")]),
    ("с 1 марта до 15 марта 2023", ScheduleKind.once, [("01.03.2023", "14.03.2023")]),
    ("12.10.2023", ScheduleKind.once, [("12.10.2023", "12.10.2023")]),
    ("12.10.23", ScheduleKind.once, [("12.10.2023", "12.10.2023")]),
    ("12.10.2023, 10.00, МКОУ СОШ №1", ScheduleKind.once, [("12.10.2023", "12.10.2023")]),
    ("12.10.2023 в 14:30", ScheduleKind.once, [("12.10.2023", "12.10.2023")]),
    # a one-day event on a day off stays on its day (04.11.2023 is a holiday, a Saturday)
    ("4 ноября 2023 г.", ScheduleKind.once, [("04.11.2023", "04.11.2023")]),
    (
        "01.02, ежегодно",
        ScheduleKind.recurring,
        [("01.02.2023", "01.02.2023"), ("01.02.2024", "01.02.2024")],
    ),
    # years and academic years
    ("2023 г.", ScheduleKind.once, [("01.01.2023", "29.12.2023")]),
    ("в течение 2023 года", ScheduleKind.once, [("01.01.2023", "29.12.2023")]),
    # 30-31.12.2024 are off; Saturday 28.12.2024 is worked in exchange
    ("2023-2024 гг.", ScheduleKind.once, [("01.01.2023", "28.12.2024")]),
    ("2022-2023 учебный год", ScheduleKind.once, [("01.09.2022", "31.05.2023")]),
    ("в течение 2023/24 учебного года", ScheduleKind.once, [("01.09.2023", "31.05.2024")]),
    ("2023-2024 уч. г.", ScheduleKind.once, [("01.09.2023", "31.05.2024")]),
    # a standing period without a year recurs every academic year of the span
    (
        "в течение всего учебного года",
        ScheduleKind.recurring,
        [("01.09.2022", "31.05.2023"), ("01.09.2023", "31.05.2024")],
    ),
    (
        "весь учебный год",
        ScheduleKind.recurring,
        [("01.09.2022", "31.05.2023"), ("01.09.2023", "31.05.2024")],
    ),
    (
        "в учебном году",
        ScheduleKind.recurring,
        [("01.09.2022", "31.05.2023"), ("01.09.2023", "31.05.2024")],
    ),
    (
        "в течение учебного года, по отдельному плану",
        ScheduleKind.recurring,
        [("01.09.2022", "31.05.2023"), ("01.09.2023", "31.05.2024")],
    ),
    (
        "каждый учебный год",
        ScheduleKind.recurring,
        [("01.09.2022", "31.05.2023"), ("01.09.2023", "31.05.2024")],
    ),
    # parentheses that speak of time are read; a named count must match the windows
    (
        "ежегодно (сентябрь)",
        ScheduleKind.recurring,
        [("01.09.2022", "30.09.2022"), ("01.09.2023", "29.09.2023")],
    ),
    (
        "2 раза в год (декабрь, май)",
        ScheduleKind.recurring,
        [
            ("01.05.2022", "31.05.2022"),
            ("01.12.2022", "30.12.2022"),
            ("01.05.2023", "31.05.2023"),
            ("01.12.2023", "29.12.2023"),
            ("01.05.2024", "31.05.2024"),
        ],
    ),
    ("Февраль, 2023", ScheduleKind.once, [("01.02.2023", "28.02.2023")]),
    (
        "ноябрь 2022 г., далее - ежегодно",
        ScheduleKind.recurring,
        [("01.11.2022", "30.11.2022"), ("01.11.2023", "30.11.2023")],
    ),
    (
        "ежегодно в течение учебного года…",
        ScheduleKind.recurring,
        [("01.09.2022", "31.05.2023"), ("01.09.2023", "31.05.2024")],
    ),
    ("[в рамках ШМО] март 2023 г.", ScheduleKind.once, [("01.03.2023", "31.03.2023")]),
    # continuous
    (
        "Постоянно",
        ScheduleKind.continuous,
        [("08.04.2022", "31.08.2022"), ("01.09.2022", "31.08.2023"), ("01.09.2023", "30.08.2024")],
    ),
    (
        "весь период",
        ScheduleKind.continuous,
        [("08.04.2022", "31.08.2022"), ("01.09.2022", "31.08.2023"), ("01.09.2023", "30.08.2024")],
    ),
    (
        "в течение года",
        ScheduleKind.continuous,
        [("08.04.2022", "31.08.2022"), ("01.09.2022", "31.08.2023"), ("01.09.2023", "30.08.2024")],
    ),
    (
        "в течение всего периода",
        ScheduleKind.continuous,
        [("08.04.2022", "31.08.2022"), ("01.09.2022", "31.08.2023"), ("01.09.2023", "30.08.2024")],
    ),
    (
        "по мере необходимости",
        ScheduleKind.continuous,
        [("08.04.2022", "31.08.2022"), ("01.09.2022", "31.08.2023"), ("01.09.2023", "30.08.2024")],
    ),
    ("с сентября 2023 г.", ScheduleKind.continuous, [("01.09.2023", "30.08.2024")]),
    (
        "с 2023 года",
        ScheduleKind.continuous,
        [("01.01.2023", "31.08.2023"), ("01.09.2023", "30.08.2024")],
    ),
    # recurrence words and their bounds
    (
        "начиная с 2023 года, ежегодно в мае",
        ScheduleKind.recurring,
        [("01.05.2023", "31.05.2023"), ("01.05.2024", "31.05.2024")],
    ),
    (
        "1 раз в год, в марте",
        ScheduleKind.recurring,
        [("01.03.2023", "31.03.2023"), ("01.03.2024", "29.03.2024")],
    ),
    (
        "ежеквартально в течение 2023 года",
        ScheduleKind.recurring,
        [
            ("01.01.2023", "31.03.2023"),
            ("01.04.2023", "30.06.2023"),
            ("01.07.2023", "29.09.2023"),
            ("01.10.2023", "29.12.2023"),
        ],
    ),
    (
        "ежемесячно, сентябрь - декабрь 2023 г.",
        ScheduleKind.recurring,
        [
            ("01.09.2023", "29.09.2023"),
            ("01.10.2023", "31.10.2023"),
            ("01.11.2023", "30.11.2023"),
            ("01.12.2023", "29.12.2023"),
        ],
    ),
    (
        "еженедельно в течение апреля 2023 г.",
        ScheduleKind.recurring,
        # weeks Monday-Sunday that start in April; the due Sunday moves to Friday
        [
            ("03.04.2023", "07.04.2023"),
            ("10.04.2023", "14.04.2023"),
            ("17.04.2023", "21.04.2023"),
            ("24.04.2023", "28.04.2023"),
        ],
    ),
    (
        "по средам в течение марта 2023 г.",
        ScheduleKind.recurring,
        [
            ("01.03.2023", "01.03.2023"),
            ("08.03.2023", "08.03.2023"),
            ("15.03.2023", "15.03.2023"),
            ("22.03.2023", "22.03.2023"),
            ("29.03.2023", "29.03.2023"),
        ],
    ),
]


@pytest.mark.parametrize(("phrase", "kind", "expected"), FAMILY, ids=[f[0] for f in FAMILY])
def test_the_wider_family(phrase, kind, expected):
    schedule = parse_schedule(phrase)
    assert schedule.kind is kind
    assert schedule.needs_dates is False
    assert spans(phrase) == ds(*expected)


def test_monthly_deadline_opens_on_the_first_and_is_due_the_day_before():
    windows = spans("до 10 числа каждого месяца", until=date(2022, 7, 31))
    # 09.04.2022 is a Saturday: due Friday 08.04, the start; 09.05.2022 is a holiday.
    assert windows == ds(
        ("08.04.2022", "08.04.2022"),
        ("01.05.2022", "06.05.2022"),
        ("01.06.2022", "09.06.2022"),
        ("01.07.2022", "08.07.2022"),
    )


def test_monthly_report_opens_on_the_first_of_the_following_month():
    phrase = "Ежемесячно до 5 числа месяца, следующего за отчётным"
    schedule = parse_schedule(phrase)
    assert schedule.kind is ScheduleKind.recurring
    # The April report is due 04.05.2022 (the 4th), opening 01.05; June's is due 04.07.
    assert spans(phrase, until=date(2022, 7, 31)) == ds(
        ("01.05.2022", "04.05.2022"),
        ("01.06.2022", "03.06.2022"),
        ("01.07.2022", "04.07.2022"),
    )


def test_quarterly_report_after_the_quarter():
    phrase = "ежеквартально до 10 числа месяца, следующего за отчетным кварталом"
    assert spans(phrase, start=date(2023, 1, 1), until=date(2023, 12, 31)) == ds(
        ("01.01.2023", "09.01.2023"),
        ("01.04.2023", "07.04.2023"),
        ("01.07.2023", "07.07.2023"),
        ("01.10.2023", "09.10.2023"),
    )


def test_monthly_windows_and_days():
    assert spans("ежемесячно", until=date(2022, 6, 30)) == ds(
        ("01.05.2022", "31.05.2022"), ("01.06.2022", "30.06.2022")
    )
    assert spans("10 числа каждого месяца", until=date(2022, 6, 30)) == ds(
        ("10.04.2022", "10.04.2022"), ("10.05.2022", "10.05.2022"), ("10.06.2022", "10.06.2022")
    )
    assert spans("с 1 по 10 число каждого месяца", until=date(2022, 6, 30)) == ds(
        ("01.05.2022", "06.05.2022"), ("01.06.2022", "10.06.2022")
    )


def test_weekly_is_monday_to_sunday_due_on_the_last_working_day():
    assert spans("еженедельно", until=date(2022, 4, 30)) == ds(
        ("11.04.2022", "15.04.2022"), ("18.04.2022", "22.04.2022"), ("25.04.2022", "29.04.2022")
    )
    # 02.01-08.01.2023 are all holidays: the due date stays on the Sunday rather than
    # falling before the week opens.
    assert spans("еженедельно", start=date(2023, 1, 1), until=date(2023, 1, 9)) == ds(
        ("02.01.2023", "08.01.2023"), ("09.01.2023", "13.01.2023")
    )


@pytest.mark.parametrize(
    ("phrase", "note"),
    [
        ("по отдельному плану", "по отдельному плану"),
        ("по графику проведения олимпиад", "по графику проведения олимпиад"),
        ("согласно плану работы РМО", "согласно плану работы РМО"),
        ("в соответствии с графиком МО", "в соответствии с графиком МО"),
        ("по согласованию", "по согласованию"),
        ("в установленные сроки", "в установленные сроки"),
        ("ежегодно, по плану-графику СКИРО", "по плану-графику СКИРО"),
    ],
)
def test_external_plans(phrase, note):
    schedule = parse_schedule(phrase)
    assert schedule.kind is ScheduleKind.external
    assert schedule.needs_dates is True
    assert schedule.note == note
    assert schedule.occurrences(START, UNTIL) == []


@pytest.mark.parametrize(
    "phrase",
    [
        "постоянно¹",
        "постоянно*",
        "постоянно 1)",
        "постоянно\u00a0",
        "\u00a0 ПОСТОЯННО ",
    ],
)
def test_footnote_marks_and_odd_spaces_are_ignored(phrase):
    assert parse_schedule(phrase).kind is ScheduleKind.continuous


def test_spacing_case_and_dashes_do_not_matter():
    expected = spans("май-сентябрь 2022г., далее ежегодно")
    for variant in (
        "Май – сентябрь 2022 г., далее ежегодно",
        "МАЙ—СЕНТЯБРЬ 2022 Г. , ДАЛЕЕ - ЕЖЕГОДНО",
        "май\u00a0-\u00a0сентябрь  2022 года,   далее ежегодно",
    ):
        assert spans(variant) == expected


@pytest.mark.parametrize(
    ("phrase", "word"),
    [
        ("апрель кроме 2023 года", "кроме"),
        ("31.02.2022", "31.02.2022"),
        ("29.02.2023", "29.02.2023"),
        ("ежегодно", "ежегодно"),
        ("в конце мая", "конце"),
        ("2 раза в год", "2 раза"),
        ("2 раза в год: май", "2 раза"),
        ("3 раза в месяц", "3 раза"),
        ("10 числа", "10"),
        ("МКОУ СОШ №1, 12.10.2017", "мкоу"),
        ("12.10.2017, на следующий день", "следующий"),
        ("I полугодие", "полугодие"),
        ("V кв.", "v"),
        ("5 квартал", "5"),
        ("32 марта", "32"),
        ("далее", "далее"),
        ("апрель, далее", "далее"),
        ("до", "до"),
        ("май 01.02", "01.02"),
        ("по 10 число", "10"),
        ("ежемесячно, ежеквартально", "разные периоды"),
        ("постоянно, май", "май"),
        ("13.13.2022", "13.13"),
        ("октябрь 2023 - апрель 2022", "апрель"),
        ("май %", "%"),
        ("в течение текущего учебного года", "текущего"),
        ("до конца текущего учебного года", "текущего"),
        ("текущего года", "текущего"),
        ("ежегодно в течение текущего года", "текущего"),
    ],
)
def test_unreadable_phrases_say_which_word(phrase, word):
    with pytest.raises(ScheduleParseError) as caught:
        parse_schedule(phrase)
    assert word.lower() in caught.value.reason.lower()


@pytest.mark.parametrize("phrase", ["", "   ", "\u00a0", "—", ",", "()"])
def test_empty_phrases_are_errors(phrase):
    with pytest.raises(ScheduleParseError):
        parse_schedule(phrase)


def test_read_schedule_flags_an_unreadable_phrase():
    schedule = read_schedule("апрель кроме 2023 года")
    assert schedule.kind is None
    assert schedule.needs_dates is True
    assert schedule.reason is not None and "кроме" in schedule.reason
    assert schedule.occurrences(START, UNTIL) == []


def test_unreadable_constructor():
    schedule = Schedule.unreadable("что-то", "не прочитано")
    assert (schedule.kind, schedule.needs_dates, schedule.reason) == (None, True, "не прочитано")


@pytest.mark.parametrize("phrase", [p for _, p, _, _ in SEED] + [f[0] for f in FAMILY])
def test_json_round_trip(phrase):
    schedule = parse_schedule(phrase)
    again = Schedule.model_validate(json.loads(json.dumps(schedule.model_dump(mode="json"))))
    assert again == schedule
    assert again.occurrences(START, UNTIL) == schedule.occurrences(START, UNTIL)


def test_a_window_opening_before_the_span_is_left_out():
    assert spans("апрель, ежегодно", until=date(2023, 3, 31)) == []
    assert spans("апрель, ежегодно", start=date(2022, 4, 1), until=date(2022, 4, 30)) == ds(
        ("01.04.2022", "29.04.2022")
    )


def test_a_later_span_clips_continuous_and_deadline_windows():
    start = date(2023, 10, 15)
    assert spans("постоянно", start=start, until=date(2024, 8, 31)) == ds(
        ("15.10.2023", "30.08.2024")
    )
    assert spans("до 10 марта, ежегодно", start=start, until=date(2024, 8, 31)) == ds(
        ("15.10.2023", "07.03.2024")
    )


def test_an_extra_day_off_moves_the_due_date():
    calendar = WorkingCalendar(extra_days_off=frozenset({date(2023, 4, 28)}))
    windows = parse_schedule("апрель 2023 г.").occurrences(START, UNTIL, calendar)
    assert windows == [Window(opens=date(2023, 4, 1), due=date(2023, 4, 27))]


def test_until_before_start_yields_nothing():
    assert parse_schedule("постоянно").occurrences(UNTIL, START) == []


@pytest.mark.parametrize("phrase", ["ежемесячно", "до 10 марта, ежегодно", "постоянно", "май"])
def test_dates_far_outside_any_roadmap_are_safe(phrase):
    schedule = parse_schedule(phrase)
    assert schedule.occurrences(date.min, date(1, 12, 31)) == []
    assert schedule.occurrences(date(9999, 1, 1), date.max) == []


# --- the command -------------------------------------------------------------------------


def _app() -> typer.Typer:
    from cli.main import app

    return app


runner = CliRunner()


def run(*args: str):
    return runner.invoke(_app(), ["schedule", *args])


def test_command_prints_json_occurrences():
    result = run("апрель, ежегодно", "--from", "2022-04-08", "--until", "2024-08-31", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == {
        "phrase": "апрель, ежегодно",
        "kind": "recurring",
        "needs_dates": False,
        "reason": None,
        "occurrences": [
            {"opens": "2023-04-01", "due": "2023-04-28"},
            {"opens": "2024-04-01", "due": "2024-04-27"},
        ],
    }
    assert "апрель" in result.stdout  # not escaped


def test_command_external_plan_exits_zero():
    result = run("ежегодно, по плану СКИРО ПК и ПРО", "--from", "2022-04-08", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["kind"] == "external"
    assert data["needs_dates"] is True
    assert data["occurrences"] == []
    assert data["reason"]


def test_command_unreadable_phrase_exits_2_with_json():
    result = run("апрель кроме мая", "--from", "2022-04-08", "--json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["kind"] is None
    assert data["needs_dates"] is True
    assert "кроме" in data["reason"]
    assert data["occurrences"] == []


def test_command_unreadable_phrase_exits_2_with_a_message():
    result = run("апрель кроме мая", "--from", "2022-04-08")
    assert result.exit_code == 2
    assert "кроме" in result.stderr
    assert "Traceback" not in result.output


def test_command_table():
    result = run("до 15.09.2022г., далее ежегодно", "--from", "2022-04-08", "--until", "2024-08-31")
    assert result.exit_code == 0, result.output
    assert "08.04.2022" in result.stdout
    assert "14.09.2023" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("--from", "2022-13-01"),
        ("--from", "вчера"),
        ("--until", "2022-02-30"),
        ("--from", "2024-01-01", "--until", "2023-01-01"),
    ],
)
def test_command_bad_dates_exit_2(args):
    result = run("постоянно", *args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.stderr.strip()


def test_command_defaults_to_a_year_from_today():
    result = run("еженедельно", "--json")
    assert result.exit_code == 0
    occurrences = json.loads(result.stdout)["occurrences"]
    assert 51 <= len(occurrences) <= 53
    today = date.today()
    assert all(date.fromisoformat(o["opens"]) >= today for o in occurrences)

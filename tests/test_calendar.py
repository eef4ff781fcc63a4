"""The production calendar: holidays from `holidays`, working Saturdays from the data file."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.settings import SettingsError, get_settings
from domain.calendar import (
    RUSSIAN_CALENDAR,
    WORKING_SATURDAYS_FILE,
    CalendarFileError,
    WorkingCalendar,
    load_working_days,
    parse_working_days,
)
from domain.enums import NoticeKind, Role, TaskStatus
from domain.reminders import Policy, TaskView, look_days, owed_steps

SHIPPED = load_working_days(WORKING_SATURDAYS_FILE)


def test_the_shipped_file_lists_the_known_working_saturdays() -> None:
    assert {
        date(2022, 3, 5),
        date(2024, 4, 27),
        date(2024, 11, 2),
        date(2024, 12, 28),
        date(2025, 11, 1),
    } <= SHIPPED
    # 2023 and 2026 had no working Saturdays.
    assert not {d for d in SHIPPED if d.year in (2023, 2026)}
    assert all(d.weekday() == 5 for d in SHIPPED)


_SUBSTITUTED = re.compile(r"substituted from (\d{2})/(\d{2})/(\d{4})")


def _transferred_working_days(year: int) -> set[date]:
    """The weekend days the `holidays` package names as the source of a transferred day
    off ("Day off (substituted from 04/27/2024)") that are not holidays themselves:
    exactly the days worked instead."""
    calendar = holidays.country_holidays("RU", years=[year - 1, year, year + 1])
    found: set[date] = set()
    for name in calendar.values():
        for month, day, source_year in _SUBSTITUTED.findall(name):
            source = date(int(source_year), int(month), int(day))
            if source.year == year and source not in calendar and source.weekday() >= 5:
                found.add(source)
    return found


@pytest.mark.parametrize("year", range(2022, 2028))
def test_the_shipped_file_agrees_with_the_transfers_in_holidays(year: int) -> None:
    """Every day off `holidays` says was moved from a Saturday has that Saturday in our
    file, and the file lists nothing else for the year."""
    assert {d for d in SHIPPED if d.year == year} == _transferred_working_days(year)


def test_a_working_saturday_is_a_working_day() -> None:
    assert RUSSIAN_CALENDAR.is_working_day(date(2024, 4, 27))
    assert not RUSSIAN_CALENDAR.is_working_day(date(2024, 4, 29))  # the day off for it
    assert not RUSSIAN_CALENDAR.is_working_day(date(2024, 5, 4))  # an ordinary Saturday
    assert not RUSSIAN_CALENDAR.is_working_day(date(2024, 4, 28))  # Sunday
    assert not WorkingCalendar().is_working_day(date(2024, 4, 27))  # without the file


def test_working_day_arithmetic_counts_the_working_saturday() -> None:
    friday = date(2024, 4, 26)
    assert RUSSIAN_CALENDAR.add_working_days(friday, 1) == date(2024, 4, 27)
    # 27.04 (Sat), 02.05, 03.05 (29.04-01.05 are off)
    assert RUSSIAN_CALENDAR.add_working_days(friday, 3) == date(2024, 5, 3)
    assert RUSSIAN_CALENDAR.working_days_between(friday, date(2024, 5, 2)) == 2
    assert RUSSIAN_CALENDAR.on_or_before(date(2024, 4, 28)) == date(2024, 4, 27)
    assert RUSSIAN_CALENDAR.on_or_after(date(2024, 12, 28)) == date(2024, 12, 28)
    assert RUSSIAN_CALENDAR.working_weekends(date(2024, 1, 1), date(2024, 12, 31)) == [
        date(2024, 4, 27),
        date(2024, 11, 2),
        date(2024, 12, 28),
    ]


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=date(2021, 1, 1), max_value=date(2028, 12, 31)))
def test_the_file_only_ever_turns_a_day_off_into_a_working_day(day: date) -> None:
    plain = WorkingCalendar()
    assert RUSSIAN_CALENDAR.is_working_day(day) == (day in SHIPPED or plain.is_working_day(day))
    if day in SHIPPED:
        assert not plain.is_working_day(day)  # a listed day is one `holidays` calls off


def test_an_extra_day_off_wins_over_a_working_saturday() -> None:
    saturday = date(2024, 4, 27)
    calendar = WorkingCalendar(extra_days_off=frozenset({saturday}), working_weekends=SHIPPED)
    assert not calendar.is_working_day(saturday)
    assert calendar.working_weekends(saturday, saturday) == []


def test_the_daily_chase_owes_notices_on_a_working_saturday() -> None:
    """A task due Friday 26.04.2024 is chased one working day later: Saturday 27.04."""
    policy = Policy(reminder_before=3, chase_after=(1, 5, 10), escalate_after_chase=2)
    task = TaskView(
        status=TaskStatus.open,
        role=Role.head,
        due=date(2024, 4, 26),
        opened_on=date(2024, 4, 1),
        revision=0,
        continuous=False,
        occurrence_opens=date(2024, 4, 1),
    )
    saturday = date(2024, 4, 27)
    sent = {(NoticeKind.opened, 0), (NoticeKind.reminder, 0)}
    owed = owed_steps(
        task, sent=sent, entry_days=[], today=saturday, policy=policy, calendar=RUSSIAN_CALENDAR
    )
    assert owed == [(NoticeKind.chase, 1)]
    assert saturday in look_days(task, policy=policy, calendar=RUSSIAN_CALENDAR)
    plain = owed_steps(
        task, sent=sent, entry_days=[], today=saturday, policy=policy, calendar=WorkingCalendar()
    )
    assert plain == []


# --- the file format ------------------------------------------------------------------------


def test_the_format_takes_both_date_styles_comments_and_blank_lines() -> None:
    text = "# header\n\n27.04.2024  # for 29.04\n2024-11-02\n   \n28.12.2024\n"
    assert parse_working_days(text, "f.txt") == {
        date(2024, 4, 27),
        date(2024, 11, 2),
        date(2024, 12, 28),
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("27.04.2024\n31.02.2024\n", ["f.txt, строка 2", "31.02.2024", "не дата"]),
        ("# x\nсуббота\n", ["строка 2", "суббота", "ДД.ММ.ГГГГ"]),
        ("27.04.2024, 02.11.2024\n", ["строка 1", "одну дату в строке"]),
        ("26.04.2024\n", ["строка 1", "26.04.2024", "пятница", "будний день"]),
    ],
)
def test_a_bad_line_is_named_with_the_fix(text: str, expected: list[str]) -> None:
    with pytest.raises(CalendarFileError) as caught:
        parse_working_days(text, "f.txt")
    for part in expected:
        assert part in str(caught.value)


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CalendarFileError, match="не найден"):
        load_working_days(tmp_path / "absent.txt")


# --- the administrator's file -----------------------------------------------------------


@pytest.fixture
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.delenv("ROADMAP_WORKING_SATURDAYS_FILE", raising=False)
    get_settings.cache_clear()
    get_settings()  # back to the shipped days only
    get_settings.cache_clear()


def test_the_administrators_file_extends_the_calendar(
    tmp_path: Path, fresh_settings: pytest.MonkeyPatch
) -> None:
    extra = date(2028, 9, 16)  # a Saturday
    assert not RUSSIAN_CALENDAR.is_working_day(extra)
    path = tmp_path / "ours.txt"
    path.write_text("# Рабочие субботы района\n16.09.2028\n", encoding="utf-8")
    fresh_settings.setenv("ROADMAP_WORKING_SATURDAYS_FILE", str(path))
    assert get_settings().working_saturdays_file == path
    assert RUSSIAN_CALENDAR.is_working_day(extra)
    assert RUSSIAN_CALENDAR.is_working_day(date(2024, 4, 27))  # the shipped ones stay

    fresh_settings.delenv("ROADMAP_WORKING_SATURDAYS_FILE")
    get_settings.cache_clear()
    assert get_settings().working_saturdays_file is None
    assert not RUSSIAN_CALENDAR.is_working_day(extra)
    assert RUSSIAN_CALENDAR.is_working_day(date(2024, 4, 27))


def test_a_bad_administrators_file_is_a_settings_error(
    tmp_path: Path, fresh_settings: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ours.txt"
    path.write_text("16.09.2028\n15.09.2028\n", encoding="utf-8")
    fresh_settings.setenv("ROADMAP_WORKING_SATURDAYS_FILE", str(path))
    with pytest.raises(SettingsError) as caught:
        get_settings()
    message = str(caught.value)
    assert "ROADMAP_WORKING_SATURDAYS_FILE" in message
    assert "строка 2" in message and "15.09.2028" in message and "пятница" in message
    fresh_settings.setenv("ROADMAP_WORKING_SATURDAYS_FILE", str(tmp_path / "absent.txt"))
    with pytest.raises(SettingsError, match="не найден"):
        get_settings()


def test_the_schedule_command_uses_the_administrators_file(
    tmp_path: Path, fresh_settings: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    args = ["schedule", "до 18.09.2028", "--from", "2028-09-01", "--until", "2028-09-30", "--json"]
    before = CliRunner().invoke(app, args)
    assert before.exit_code == 0, before.output
    # 17.09.2028 is a Sunday: due Friday 15.09 ...
    assert json.loads(before.stdout)["occurrences"][0]["due"] == "2028-09-15"
    path = tmp_path / "ours.txt"
    path.write_text("16.09.2028\n", encoding="utf-8")
    fresh_settings.setenv("ROADMAP_WORKING_SATURDAYS_FILE", str(path))
    get_settings.cache_clear()
    after = CliRunner().invoke(app, args)
    assert after.exit_code == 0, after.output
    # ... or Saturday 16.09 once the district works that day
    assert json.loads(after.stdout)["occurrences"][0]["due"] == "2028-09-16"

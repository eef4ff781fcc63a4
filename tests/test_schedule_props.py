"""Properties of the schedule grammar on arbitrary text and on its own vocabulary."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.calendar import RUSSIAN_CALENDAR
from domain.schedule import Schedule, ScheduleKind, ScheduleParseError, parse_schedule
from domain.schedule_rules import month_length

PROPS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VOCABULARY = [
    "январь",
    "февраля",
    "марте",
    "апрель",
    "мая",
    "май",
    "июнь",
    "июля",
    "августе",
    "сентябрь",
    "октября",
    "ноябрь",
    "декабре",
    "апр.",
    "ежегодно",
    "далее",
    "ежеквартально",
    "ежемесячно",
    "еженедельно",
    "каждого",
    "месяца",
    "года",
    "год",
    "г.",
    "гг.",
    "кв.",
    "квартал",
    "I",
    "II",
    "III",
    "IV",
    "до",
    "с",
    "по",
    "в",
    "во",
    "течение",
    "учебного",
    "учебный",
    "текущего",
    "всего",
    "периода",
    "реализации",
    "постоянно",
    "весь",
    "период",
    "плану",
    "графику",
    "отдельному",
    "числа",
    "следующего",
    "за",
    "отчетным",
    "не",
    "позднее",
    "конца",
    "начала",
    "раз",
    "средам",
    "каждую",
    "неделю",
    "и",
    ",",
    ";",
    "-",
    "–",
    "—",
    "(",
    ")",
    "1)",
    "*",
    "¹",
    "№",
    "\u00a0",
    "2019",
    "2022",
    "2023",
    "2024",
    "1",
    "3",
    "10",
    "15",
    "29",
    "31",
    "01.02",
    "15.09.2022",
    "29.02.2024",
    "31.02.2023",
    "12.10.2017",
    "10.00",
    "14:30",
    "2022/23",
    "СОШ",
    "МКОУ",
    "кроме",
    "полугодие",
    "x",
    "%",
    "0",
]

phrases_from_vocabulary = st.lists(
    st.sampled_from(VOCABULARY) | st.text(max_size=3), min_size=1, max_size=8
).map(" ".join)

spans = st.tuples(
    st.dates(min_value=date(2015, 1, 1), max_value=date(2030, 12, 31)),
    st.integers(min_value=0, max_value=3 * 366),
).map(lambda pair: (pair[0], pair[0] + timedelta(days=pair[1])))


def check(text: str, span: tuple[date, date]) -> None:
    try:
        schedule = parse_schedule(text)
    except ScheduleParseError as exc:
        assert exc.reason
        return
    assert schedule.kind is not None
    assert Schedule.model_validate(schedule.model_dump(mode="json")) == schedule
    start, until = span
    windows = schedule.occurrences(start, until)
    assert windows == sorted(windows)
    assert len(set(windows)) == len(windows)
    if schedule.kind is ScheduleKind.external:
        assert schedule.needs_dates and windows == []
        return
    assert not schedule.needs_dates
    for window in windows:
        # Every window opens inside the span (clipped ones open exactly at its start),
        # and the working-day shift never puts the due date before the opening.
        assert start <= window.opens <= until
        assert window.opens <= window.due
        assert window.continuous == (schedule.kind is ScheduleKind.continuous)


@PROPS
@given(st.text(max_size=60), spans)
def test_any_text_parses_or_raises_only_a_parse_error(text, span):
    check(text, span)


@PROPS
@given(phrases_from_vocabulary, spans)
def test_the_grammars_own_words_mixed_with_junk(text, span):
    check(text, span)


@PROPS
@given(
    st.sampled_from(
        [
            "май-сентябрь 2022г., далее ежегодно",
            "до 15.09.2022г., далее ежегодно",
            "апрель, ежегодно",
            "постоянно",
            "ежеквартально",
            "Ежемесячно до 5 числа месяца, следующего за отчётным",
            "еженедельно",
            "в течение учебного года",
            "в течение всего учебного года",
            "ежегодно до 20 апреля текущего года",
            "до 10 марта",
            "II, IV кв.",
        ]
    ),
    spans,
)
def test_known_phrases_on_any_span(text, span):
    check(text, span)


@PROPS
@given(spans, st.dates(min_value=date(2015, 1, 1), max_value=date(2030, 12, 31)))
def test_a_span_split_in_two_keeps_explicit_windows(span, cut):
    """Windows of an explicit yearly phrase in [a, b] are those in [a, c) plus [c, b]."""
    start, until = span
    if not start < cut <= until:
        cut = start + (until - start) / 2 if until > start else start
    schedule = parse_schedule("май-сентябрь 2022г., далее ежегодно")
    whole = schedule.occurrences(start, until)
    parts = schedule.occurrences(start, cut - timedelta(days=1)) + schedule.occurrences(cut, until)
    assert whole == sorted(set(parts)) or start == cut


@PROPS
@given(
    st.sampled_from(["январь", "марте", "мая", "сентябрь", "декабре"]),
    st.integers(min_value=2016, max_value=2028),
    st.sampled_from(["г.", "г", "года", "", "гг."]),
    st.sampled_from([" ", "  ", "\u00a0", "\t"]),
)
def test_a_month_with_a_year_is_that_month(month_word, year, mark, space):
    schedule = parse_schedule(f"{month_word}{space}{year}{space}{mark}")
    windows = schedule.occurrences(date(year, 1, 1), date(year, 12, 31))
    assert schedule.kind is ScheduleKind.once
    assert len(windows) == 1
    assert windows[0].opens.day == 1 and windows[0].opens.year == year
    assert windows[0].due.month == windows[0].opens.month


@PROPS
@given(spans, st.sampled_from(["в течение учебного года", "в течение всего учебного года"]))
def test_a_standing_academic_year_recurs_every_year_of_any_span(span, phrase):
    """One window for every 1 September inside the span, due 31 May (a working day)."""
    start, until = span
    windows = parse_schedule(phrase).occurrences(start, until)
    first_days = [date(y, 9, 1) for y in range(start.year, until.year + 1)]
    assert [w.opens for w in windows] == [d for d in first_days if start <= d <= until]
    for window in windows:
        assert window.due == RUSSIAN_CALENDAR.on_or_before(date(window.opens.year + 1, 5, 31))


@PROPS
@given(
    spans,
    st.integers(min_value=1, max_value=12),
    st.integers(min_value=1, max_value=31),
    st.sampled_from(["ежегодно до {d} {m} текущего года", "до {d} {m} текущего года, ежегодно"]),
)
def test_the_current_year_with_every_year_is_that_date_every_year(span, month, day, shape):
    """`ежегодно до 20 апреля текущего года` reads as `ежегодно до 20 апреля`."""
    months = ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа"]
    months += ["сентября", "октября", "ноября", "декабря"]
    day = min(day, month_length(2001, month))
    start, until = span
    phrase = shape.format(d=day, m=months[month - 1])
    schedule = parse_schedule(phrase)
    plain = parse_schedule(f"ежегодно до {day} {months[month - 1]}")
    assert schedule.kind is ScheduleKind.recurring
    assert schedule.rules == plain.rules
    windows = schedule.occurrences(start, until)
    assert windows == plain.occurrences(start, until)
    assert all(w.due.month in (month, month - 1 or 12) for w in windows)

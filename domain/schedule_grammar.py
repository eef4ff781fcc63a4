"""The grammar of Russian schedule phrases (сроки исполнения).

Three passes over the tokens of `schedule_lexer`:

1. words: every word gets a class from a small lexicon (months in all cases, quarter
   marks, Roman numerals, year marks, recurrence words, prepositions...); multi-word
   expressions (`в течение всего периода ...`, `по отдельному плану`, `следующего за
   отчётным`, `каждого месяца`, `1 раз в год`) become one element; a parenthesis or a
   comma-separated tail with no word about time (a place, `в рамках ШМО`) becomes a note;
   times of day are dropped.
2. atoms: `N месяц [год]`, `месяц [год]`, `N кв. [год]`, `ДД.ММ[.ГГГГ]`, `ГГГГ г.`,
   `учебный год`, `N числа`, bare numbers; joined by `-`, `с ... по ...`, `до ...`,
   lists with `,`/`и`. Missing months and years are filled from the right
   (`3, 17 марта 2015`, `сентябрь - октябрь 2019`), keeping lists in time order
   (`октябрь - апрель 2022` starts in October 2021).
3. meaning: the atoms and recurrence words become rules (`schedule_rules`). A
   standing period named without a year (`в течение (всего) учебного года`, `учебный
   год`) recurs every academic year, as continuous items do (`в течение года` is
   continuous); a month, range or date without a year or a recurrence word is once.
   `текущего года` after a date names no year of its own (`ежегодно до 20 апреля
   текущего года`: that date every year); `текущего учебного года` is refused.

Anything the lexicon does not know, inside a part of the phrase that speaks of time,
stops the parse with a `ScheduleParseError` that quotes the word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from domain.schedule_lexer import Token, tokenize
from domain.schedule_rules import (
    ContinuousRule,
    DeadlineRule,
    PeriodicRule,
    Rule,
    ScheduleParseError,
    SpanRule,
    month_length,
)

# --- the lexicon -------------------------------------------------------------------------

_MONTHS: list[tuple[int, str]] = [
    (1, r"январ(ь|я|е|ю|ем|и)|янв"),
    (2, r"феврал(ь|я|е|ю|ем|и)|фев|февр"),
    (3, r"март(а|е|у|ом)?|мар"),
    (4, r"апрел(ь|я|е|ю|ем|и)|апр"),
    (5, r"ма(й|я|е|ю|ем)"),
    (6, r"июн(ь|я|е|ю|ем)|июн"),
    (7, r"июл(ь|я|е|ю|ем)|июл"),
    (8, r"август(а|е|у|ом)?|авг"),
    (9, r"сентябр(ь|я|е|ю|ем)|сен|сент"),
    (10, r"октябр(ь|я|е|ю|ем)|окт"),
    (11, r"ноябр(ь|я|е|ю|ем)|ноя|нояб"),
    (12, r"декабр(ь|я|е|ю|ем)|дек"),
]
_MONTH_RES = [(m, re.compile(f"(?:{p})")) for m, p in _MONTHS]

_WEEKDAYS: list[tuple[int, str]] = [
    (0, r"понедельник(а|у|ом|е|ам|и)?"),
    (1, r"вторник(а|у|ом|е|ам|и)?"),
    (2, r"сред(а|у|ы|ам|е)"),
    (3, r"четверг(а|у|ом|е|ам|и)?"),
    (4, r"пятниц(а|у|ы|ам|е)"),
    (5, r"суббот(а|у|ы|ам|е)"),
    (6, r"воскресень(е|я|ю|ям)"),
]
_WEEKDAY_RES = [(d, re.compile(p)) for d, p in _WEEKDAYS]

_ORDINALS: list[tuple[int, str]] = [
    (1, r"перв(ый|ого|ом|ая|ую|ое|ой)"),
    (2, r"втор(ой|ого|ом|ая|ую|ое)"),
    (3, r"трет(ий|ьего|ьем|ья|ью|ье|ьей)"),
    (4, r"четверт(ый|ого|ом|ая|ую|ое|ой)"),
]
_ORDINAL_RES = [(n, re.compile(p)) for n, p in _ORDINALS]

_WORDS: dict[str, str] = {
    "QMARK": "кв квартал квартала квартале кварталы кварталов кварталах кварталом кварталу кварт",
    "YMARK": "г гг год года году годы годов годах годом",
    "ACAD_ADJ": "учебный учебного учебном учебному учебным учебные учебных уч",
    "EVERY": "каждый каждого каждую каждом каждое каждая каждой каждые каждых",
    "MONTHWORD": "месяц месяца месяце месяцем месяцу месяцы мес",
    "WEEKWORD": "неделя недели неделю неделе неделей",
    "RAZ": "раз раза",
    "CONT": "постоянно систематически непрерывно ежедневно круглогодично круглогодичный",
    "THEN": "далее затем впоследствии потом дальнейшем",
    "IN": "в во на течение течении протяжении период",
    "AND": "и а также",
    "UNTIL": "до к ко",
    "NE": "не",
    "LATE": "позднее позже",
    "FROM": "с со начиная",
    "PO": "по",
    "DOM": "число числа чисел числам числу",
    "EDGE_END": "конца концу конец",
    "EDGE_START": "начала началу",
    "FOLLOW": "следующего следующем следующий следующему следующим",
    "ZA": "за",
    "REPORT": "отчетным отчетного отчетный отчетном отчетному",
    "PERIOD": "периода срок срока сроки сроков",
    "ALL": "весь всего всей всем вся",
    "REAL": "реализации действия работы",
    "TIMEWORD": "ч час часа часов мин минут",
    "PLAN": "план плана плану планом графику график графика графиком расписанию расписанием "
    "расписания планам графикам",
    "PLAN_ADJ": "отдельному отдельным отдельного утвержденному утвержденным особому единому "
    "индивидуальному собственному",
    "SOGL": "согласно",
    "SOOTV": "соответствии",
    "AGREE": "согласованию",
    "SET": "установленные установленный установленным установленных",
    "NEED": "необходимости потребности",
    "MERE": "мере",
    "REQ": "запросу запросам заявкам заявке запросов заявок обращениям обращению поступления",
    "RAMKI": "рамках",
    "BAZE": "базе",
    "CURRENT": "текущий текущего текущем текущему текущим текущая текущей",
}
_WORD_KIND = {word: kind for kind, words in _WORDS.items() for word in words.split()}
# Where only a recurrence word fits (`ежегодно`, `ежегодный`, `ежеквартально` ...).
_REC_RES = [
    ("year", re.compile(r"ежегодн\w*")),
    ("quarter", re.compile(r"ежекварталь?н\w*")),
    ("month", re.compile(r"ежемесячн\w*")),
    ("week", re.compile(r"еженедельн\w*")),
]

# Words that make a part of a phrase speak about time; a comma-separated part with none of
# them (a place, a body) may follow the dates and is kept as a note.
_TEMPORAL = {
    "DATE",
    "DM",
    "MONTH",
    "QMARK",
    "ACAD_ADJ",
    "REC",
    "EVERY",
    "CONT",
    "DOM",
    "WEEKDAY",
    "PLAN",
    "AGREE",
    "NEED",
    "REQ",
    "MONTHWORD",
    "WEEKWORD",
    "RAZ",
    "FOLLOW",
    "YEAR",
}


@dataclass
class _Lex:
    kind: str
    token: Token
    value: tuple[int, ...] = ()


def _classify(token: Token) -> _Lex:
    text = token.text
    if token.kind == "num":
        number = token.value[0]
        if token.digits == 4 and 1900 <= number <= 2100:
            return _Lex("YEAR", token, (number,))
        return _Lex("NUM", token, (number,))
    if token.kind == "date":
        return _Lex("DATE", token, token.value)
    if token.kind == "dm":
        day, month = token.value
        if 1 <= month <= 12 and 1 <= day <= 31:
            return _Lex("DM", token, token.value)
        if day < 24 and month < 60:
            return _Lex("TIME", token)
        raise ScheduleParseError(f"«{text}» не похоже ни на дату, ни на время")
    if token.kind == "time":
        return _Lex("TIME", token)
    if token.kind == "punct":
        kinds = {
            ",": "SEP",
            ";": "SEP",
            ".": "DOT",
            "-": "DASH",
            "/": "SLASH",
            "(": "LP",
            ")": "RP",
            ":": "COLON",
            "№": "NUMSIGN",
        }
        return _Lex(kinds[text], token)
    if text in ("i", "ii", "iii", "iv"):
        return _Lex("ROMAN", token, ({"i": 1, "ii": 2, "iii": 3, "iv": 4}[text],))
    for month, regex in _MONTH_RES:
        if regex.fullmatch(text):
            return _Lex("MONTH", token, (month,))
    for unit_index, (_unit, regex) in enumerate(_REC_RES):
        if regex.fullmatch(text):
            return _Lex("REC", token, (unit_index,))
    for day, regex in _WEEKDAY_RES:
        if regex.fullmatch(text):
            return _Lex("WEEKDAY", token, (day,))
    for number, regex in _ORDINAL_RES:
        if regex.fullmatch(text):
            return _Lex("ROMAN", token, (number,))
    return _Lex(_WORD_KIND.get(text, "UNKNOWN"), token)


_REC_UNITS: tuple[Literal["year", "quarter", "month", "week"], ...] = (
    "year",
    "quarter",
    "month",
    "week",
)


# --- pass 1: elements ----------------------------------------------------------------------


@dataclass
class _El:
    kind: str
    lex: _Lex
    value: tuple[int, ...] = ()
    flag: str = ""  # UNTIL: "incl"/"excl" + edge; FOLLOWING: unit; REC: unit


@dataclass
class _Phrase:
    """What pass 1 found besides the elements."""

    notes: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    continuous: bool = False
    times: tuple[int, str] | None = None  # `2 раза в год`: how many windows must be named


def _fail_word(lex: _Lex, phrase: str, why: str = "") -> ScheduleParseError:
    word = phrase[lex.token.start : lex.token.end]
    return ScheduleParseError(
        f"не удалось прочитать «{word}» в сроке «{phrase.strip()}»" + (f": {why}" if why else "")
    )


class _Words:
    """Pass 1: lexicon classes to elements."""

    def __init__(self, phrase: str) -> None:
        self.phrase = phrase
        lexes = [_classify(t) for t in tokenize(phrase)]
        lexes = [x for x in lexes if x.kind not in ("DOT", "COLON")]
        self.found = _Phrase()
        self.items = self._parentheses(lexes)
        self.segment_of: list[int] = []
        segment = 0
        for item in self.items:
            if item.kind == "SEP":
                segment += 1
            self.segment_of.append(segment)
        self.temporal_segments = {
            self.segment_of[i] for i, item in enumerate(self.items) if item.kind in _TEMPORAL
        }

    def _quote(self, first: _Lex, last: _Lex) -> str:
        return " ".join(self.phrase[first.token.start : last.token.end].split())

    def _parentheses(self, lexes: list[_Lex]) -> list[_Lex]:
        """A parenthesis about time is read as part of the phrase; any other is a note."""
        out: list[_Lex] = []
        index = 0
        while index < len(lexes):
            lex = lexes[index]
            if lex.kind == "RP":
                index += 1
                continue
            if lex.kind != "LP":
                out.append(lex)
                index += 1
                continue
            end = index + 1
            depth = 1
            while end < len(lexes) and depth:
                depth += {"LP": 1, "RP": -1}.get(lexes[end].kind, 0)
                end += 1
            inner = [x for x in lexes[index + 1 : end] if x.kind not in ("LP", "RP")]
            if any(x.kind in _TEMPORAL for x in inner):
                out.append(_Lex("SEP", lex.token))
                out.extend(inner)
                out.append(_Lex("SEP", lexes[end - 1].token))
            elif inner:
                self.found.notes.append(self._quote(inner[0], inner[-1]))
            index = end
        return out

    def _kind(self, index: int) -> str:
        return self.items[index].kind if index < len(self.items) else "END"

    def _text(self, index: int) -> str:
        return self.items[index].token.text if index < len(self.items) else ""

    def _segment_end(self, index: int) -> int:
        while index < len(self.items) and self.items[index].kind != "SEP":
            index += 1
        return index

    def _match(self, index: int, *steps: str) -> int | None:
        """Match a sequence of steps ("KIND", "KIND:text|text", a trailing "?" = optional);
        the index after the match, or None."""
        for step in steps:
            optional = step.endswith("?")
            spec = step.rstrip("?")
            kind, _, texts = spec.partition(":")
            ok = self._kind(index) == kind and (not texts or self._text(index) in texts.split("|"))
            if ok:
                index += 1
            elif not optional:
                return None
        return index

    def elements(self) -> list[_El]:
        out: list[_El] = []
        items = self.items
        index = 0
        while index < len(items):
            lex = items[index]
            # `в срок до 10 марта`: "in the term" says nothing; `в установленные сроки` alone
            # defers to someone else's dates.
            after = self._match(index, "IN:в", "SET?", "PERIOD:срок|сроки")
            if after is not None:
                if self._kind(after) in _ATOM_START | {"UNTIL", "FROM", "PO", "NE"}:
                    index = after
                else:
                    end = self._segment_end(after)
                    self.found.external.append(self._quote(lex, items[end - 1]))
                    index = end
                continue
            # A plan, a body or a place named with its tail: a note, not dates.
            for steps, target in _TAIL_PHRASES:
                after = self._match(index, *steps)
                if after is not None:
                    end = self._segment_end(after)
                    quote = self._quote(lex, items[end - 1])
                    if target == "external":
                        self.found.external.append(quote)
                    elif target == "continuous":
                        self.found.continuous = True
                        out.append(_El("CONT", lex))
                    else:
                        self.found.notes.append(quote)
                    index = end
                    break
            else:
                index = self._element(index, out)
                continue
        return _drop_times(out)

    def _element(self, index: int, out: list[_El]) -> int:
        items = self.items
        lex = items[index]
        kind = lex.kind
        # `в течение (всего) года`, `весь год`: the whole period, continuous.
        after = self._match(
            index, "IN:в|на?", "IN:течение|течении|протяжении", "ALL?", "YMARK:год|года|году"
        )
        if after is None:
            after = self._match(index, "ALL", "YMARK:год|года")
        if after is not None and self._kind(after) not in ("YEAR", "NUM"):
            out.append(_El("CONT", lex))
            self.found.continuous = True
            return after
        # `до 20 апреля текущего года`: the date's own year, that is, no year named.
        if kind == "CURRENT":
            if self._kind(index + 1) != "YMARK":
                raise _fail_word(
                    lex, self.phrase, "укажите годы (напр. «2022/2023 учебный год») или «ежегодно»"
                )
            if not out or out[-1].kind not in ("MONTH", "DM", "QMARK"):
                raise _fail_word(lex, self.phrase, "ожидалась дата перед «текущего года»")
            return index + 2
        # `в течение всего учебного года`, `весь учебный год`: the academic year.
        if kind == "ALL" and self._kind(index + 1) == "ACAD_ADJ":
            return index + 1
        if kind == "ACAD_ADJ":
            after = self._match(index + 1, "YMARK")
            if after is None:
                raise _fail_word(lex, self.phrase, "ожидалось «учебный год»")
            out.append(_El("ACAD", lex))
            return after
        if kind == "EVERY":
            return self._every(index, out)
        if kind == "RAZ" or (kind == "NUM" and self._kind(index + 1) == "RAZ"):
            return self._times_per(index, out)
        if kind == "REC":
            out.append(_El("REC", lex, flag=_REC_UNITS[lex.value[0]]))
            return index + 1
        if kind == "UNTIL":
            if self._kind(index + 1) == "EDGE_END":
                out.append(_El("UNTIL", lex, flag="incl-end"))
                return index + 2
            if self._kind(index + 1) == "EDGE_START":
                out.append(_El("UNTIL", lex, flag="excl-start"))
                return index + 2
            out.append(_El("UNTIL", lex, flag="excl"))
            return index + 1
        if kind == "NE":
            if self._kind(index + 1) != "LATE":
                raise _fail_word(lex, self.phrase)
            out.append(_El("UNTIL", lex, flag="incl"))
            return index + 2
        if kind == "FOLLOW":
            after = self._match(index + 1, "ZA", "REPORT")
            if after is None:
                raise _fail_word(lex, self.phrase, "ожидалось «следующего за отчётным»")
            unit = ""
            if self._kind(after) == "QMARK":
                unit = "quarter"
                after += 1
            elif self._kind(after) in ("MONTHWORD", "PERIOD"):
                after += 1
            out.append(_El("FOLLOWING", lex, flag=unit))
            return after
        if kind == "NUM" and self._kind(index + 1) == "TIMEWORD":
            out.append(_El("TIME", lex))
            return index + 2
        if kind == "TIME":
            out.append(_El("TIME", lex))
            return index + 2 if self._kind(index + 1) == "TIMEWORD" else index + 1
        if kind == "NUMSIGN" or kind == "UNKNOWN" or kind in _STRAY:
            return self._unknown(index, out)
        if kind == "SEP":
            out.append(_El("AND", lex))
            return index + 1
        out.append(_El(kind, lex, lex.value))
        return index + 1

    def _every(self, index: int, out: list[_El]) -> int:
        lex = self.items[index]
        nxt = self._kind(index + 1)
        if nxt == "YMARK":
            out.append(_El("REC", lex, flag="year"))
            return index + 2
        if nxt == "ACAD_ADJ" and self._kind(index + 2) == "YMARK":
            out.append(_El("REC", lex, flag="year"))
            out.append(_El("ACAD", self.items[index + 1]))
            return index + 3
        units = {"MONTHWORD": "month", "QMARK": "quarter", "WEEKWORD": "week"}
        if nxt in units:
            out.append(_El("REC", lex, flag=units[nxt]))
            return index + 2
        if nxt == "WEEKDAY":
            out.append(_El("IN", lex))  # `каждый вторник`: the weekday says it
            return index + 1
        raise _fail_word(lex, self.phrase, "каждый — что?")

    def _times_per(self, index: int, out: list[_El]) -> int:
        lex = self.items[index]
        start = index
        count = 1
        if lex.kind == "NUM":
            count = lex.value[0]
            index += 1
        index += 1
        after = self._match(index, "IN")
        index = after if after is not None else index
        units = {"YMARK": "year", "MONTHWORD": "month", "QMARK": "quarter", "WEEKWORD": "week"}
        nxt = self._kind(index)
        if count != 1:
            # `2 раза в год (декабрь, май)`: the times must be named, one window each.
            if nxt not in ("YMARK", "ACAD_ADJ"):
                raise ScheduleParseError(
                    f"«{self._quote(lex, self.items[min(index, len(self.items) - 1)])}»: "
                    "сроки каждого раза "
                    f"не названы; укажите даты"
                )
            self.found.times = (count, self._quote(lex, self.items[index]))
        if nxt == "ACAD_ADJ" and self._kind(index + 1) == "YMARK":
            out.append(_El("REC", self.items[start], flag="year"))
            return index + 2
        if nxt in units:
            out.append(_El("REC", self.items[start], flag=units[nxt]))
            return index + 1
        raise _fail_word(self.items[start], self.phrase, "раз в какой период?")

    def _unknown(self, index: int, out: list[_El]) -> int:
        """An unknown word: a tail note (a place after the dates) or an error."""
        lex = self.items[index]
        segment = self.segment_of[index]
        earlier = any(s < segment for s in self.temporal_segments)
        kinds = {item.kind for i, item in enumerate(self.items) if self.segment_of[i] == segment}
        if segment in self.temporal_segments or not earlier or not kinds <= _TAIL_KINDS:
            raise _fail_word(lex, self.phrase)
        while out and out[-1].lex is not None and self._segment_of_lex(out[-1].lex) == segment:
            out.pop()
        first = index
        while first > 0 and self.segment_of[first - 1] == segment:
            first -= 1
        end = self._segment_end(index)
        first_lex = self.items[first] if self.items[first].kind != "SEP" else self.items[first + 1]
        self.found.notes.append(self._quote(first_lex, self.items[end - 1]))
        return end

    def _segment_of_lex(self, lex: _Lex) -> int:
        for index, item in enumerate(self.items):
            if item is lex:
                return self.segment_of[index]
        return -1


# What a place or a time after the dates may be made of (`МКОУ СОШ №1, г. Левокумское`).
_TAIL_KINDS = {
    "UNKNOWN",
    "NUMSIGN",
    "NUM",
    "ROMAN",
    "IN",
    "FROM",
    "YMARK",
    "TIME",
    "TIMEWORD",
    "DASH",
    "SLASH",
    "PO",
    "SEP",
    "AND",
}

_STRAY = {
    "EDGE_END",
    "EDGE_START",
    "ZA",
    "REPORT",
    "PERIOD",
    "ALL",
    "REAL",
    "TIMEWORD",
    "PLAN",
    "PLAN_ADJ",
    "SOGL",
    "SOOTV",
    "AGREE",
    "SET",
    "NEED",
    "MERE",
    "REQ",
    "RAMKI",
    "BAZE",
    "LATE",
    "WEEKWORD",
}

# Expressions that take the rest of their comma-separated part with them.
_TAIL_PHRASES: list[tuple[tuple[str, ...], str]] = [
    (("PO", "PLAN_ADJ?", "PLAN"), "external"),
    (("SOGL", "PLAN_ADJ?", "PLAN"), "external"),
    (("IN:в", "SOOTV", "FROM:с", "PLAN_ADJ?", "PLAN"), "external"),
    (("PO", "AGREE"), "external"),
    (("IN:в|на?", "IN:течение|течении|протяжении", "ALL?", "PERIOD"), "continuous"),
    (("IN:в|на?", "IN:течение|течении|протяжении", "ALL?", "IN:период"), "continuous"),
    (("ALL", "IN:период"), "continuous"),
    (("ALL", "PERIOD:срок"), "continuous"),
    (("PO", "MERE?", "NEED"), "continuous"),
    (("PO", "MERE?", "REQ"), "continuous"),
    (("IN:в", "RAMKI"), "note"),
    (("IN:на", "BAZE"), "note"),
]


def _drop_times(elements: list[_El]) -> list[_El]:
    """Times of day say nothing about the window: drop them with their prepositions."""
    out: list[_El] = []
    for el in elements:
        if el.kind == "TIME":
            while out and out[-1].kind in ("IN", "FROM", "UNTIL", "PO", "DASH"):
                out.pop()
            continue
        out.append(el)
    return out


# --- pass 2: atoms and expressions ----------------------------------------------------------

_AtomUnit = Literal["day", "month", "quarter", "year", "academic", "dom", "bare"]


@dataclass
class _Atom:
    unit: _AtomUnit
    value: int
    lex: _Lex
    month: int | None = None
    year: int | None = None
    roman: bool = False

    def first(self) -> tuple[int, int]:
        """(month, day) of the first day."""
        if self.unit == "day":
            assert self.month is not None
            return self.month, self.value
        if self.unit == "month":
            return self.value, 1
        if self.unit == "quarter":
            return 3 * self.value - 2, 1
        if self.unit == "academic":
            return 9, 1
        return 1, 1

    def last(self) -> tuple[int, int | None, int]:
        """(month, day or None for the month's end, years after the atom's year)."""
        if self.unit == "day":
            assert self.month is not None
            return self.month, self.value, 0
        if self.unit == "month":
            return self.value, None, 0
        if self.unit == "quarter":
            return 3 * self.value, None, 0
        if self.unit == "academic":
            return 5, None, 1
        return 12, None, 0


@dataclass
class _Expr:
    mode: Literal["window", "range", "deadline", "from"]
    first: _Atom
    last: _Atom | None = None
    inclusive: bool = False
    edge: str = ""
    exclusive_end: bool = False


_ATOM_START = {"NUM", "YEAR", "DATE", "DM", "MONTH", "ROMAN", "ACAD"}


@dataclass
class _Reading:
    exprs: list[_Expr] = field(default_factory=list)
    atoms: list[_Atom] = field(default_factory=list)
    recurrences: list[tuple[str, _El]] = field(default_factory=list)
    weekdays: list[int] = field(default_factory=list)
    following: _El | None = None
    continuous: bool = False


class _Grammar:
    """Pass 2: elements to expressions over atoms."""

    def __init__(self, phrase: str, elements: list[_El]) -> None:
        self.phrase = phrase
        self.els = elements
        self.read = _Reading()

    def fail(self, el: _El, why: str = "") -> ScheduleParseError:
        return _fail_word(el.lex, self.phrase, why)

    def kind(self, index: int) -> str:
        if index < 0:
            return "START"
        return self.els[index].kind if index < len(self.els) else "END"

    def _check_order(self) -> None:
        """Prepositions need what they govern; `далее` needs a recurrence word."""
        for index, el in enumerate(self.els):
            nxt = self.kind(index + 1)
            if el.kind == "IN" and nxt not in _ATOM_START | {"IN", "FROM", "WEEKDAY", "UNTIL"}:
                raise self.fail(el, "после него ожидался срок")
            if el.kind == "THEN":
                ahead = index + 1
                while self.kind(ahead) in ("DASH", "AND"):
                    ahead += 1
                if self.kind(ahead) != "REC":
                    raise self.fail(el, "ожидалось «далее ежегодно» (или другое повторение)")
            if el.kind == "WEEKDAY" and (
                index == 0 or self.els[index - 1].kind not in ("PO", "IN")
            ):
                raise self.fail(el, "ожидалось «по средам», «в среду» или «каждую среду»")

    def run(self) -> _Reading:
        self._check_order()
        pending: _El | None = None
        need_separator: _El | None = None
        index = 0
        while index < len(self.els):
            el = self.els[index]
            kind = el.kind
            if kind in _ATOM_START:
                if need_separator is not None:
                    raise self.fail(el, "между сроками нужна запятая или «и»")
                index = self._expression(index, pending)
                pending = None
                need_separator = el
                continue
            if kind == "AND":
                need_separator = None
            if kind == "DASH" and not (
                self.kind(index - 1) == "THEN" or self.kind(index + 1) in ("REC", "THEN", "CONT")
            ):
                raise self.fail(el, "тире без второй даты")
            if (
                pending is not None
                and kind in ("FROM", "UNTIL", "PO", "IN")
                and pending.kind == kind
            ):
                index += 1
                continue
            if pending is not None and kind not in ("IN",):
                raise self.fail(pending, "после него ожидалась дата")
            if kind == "REC":
                self.read.recurrences.append((el.flag, el))
            elif kind == "WEEKDAY":
                self.read.weekdays.append(el.value[0])
            elif kind == "CONT":
                self.read.continuous = True
            elif kind == "FOLLOWING":
                self.read.following = el
            elif kind in ("UNTIL", "FROM", "PO"):
                if kind == "PO" and self.kind(index + 1) == "WEEKDAY":
                    index += 1
                    continue
                pending = el
            elif kind in ("THEN", "IN", "AND", "DASH"):
                pass
            else:
                raise self.fail(el)
            index += 1
        if pending is not None:
            raise self.fail(pending, "после него ожидалась дата")
        return self.read

    def _expression(self, index: int, pending: _El | None) -> int:
        first, index = self._atom(index)
        if pending is not None and pending.kind == "UNTIL":
            inclusive = pending.flag.startswith("incl")
            edge = pending.flag.partition("-")[2]
            self.read.exprs.append(_Expr("deadline", first, inclusive=inclusive, edge=edge))
            return index
        if pending is not None and pending.kind == "PO":
            self.read.exprs.append(_Expr("deadline", first, inclusive=True))
            return index
        joiner = self.kind(index)
        ranged = joiner in ("DASH", "SLASH") or (
            pending is not None and joiner in ("PO", "UNTIL") and self.els[index].flag != "incl"
        )
        if ranged and self.kind(index + 1) in _ATOM_START:
            exclusive = joiner == "UNTIL" and self.els[index].flag != "incl-end"
            last, index = self._atom(index + 1, after=first)
            if first.unit == "year" and last.unit == "year" and self.kind(index) == "ACAD":
                if last.value != first.value + 1:
                    raise _fail_word(last.lex, self.phrase, "учебный год — два года подряд")
                first = _Atom("academic", first.value, first.lex, year=first.value)
                self.read.atoms.append(first)
                self.read.exprs.append(_Expr("window", first))
                return index + 1
            self.read.atoms.extend([first, last])
            self.read.exprs.append(_Expr("range", first, last, exclusive_end=exclusive))
            return index
        self.read.atoms.append(first)
        mode: Literal["window", "from"] = "from" if pending is not None else "window"
        self.read.exprs.append(_Expr(mode, first))
        return index

    def _year_after(self, index: int) -> tuple[int | None, int]:
        """An optional `2022 г.` after an atom."""
        if self.kind(index) == "YEAR":
            year = self.els[index].value[0]
            index += 1
            while self.kind(index) == "YMARK":
                index += 1
            return year, index
        return None, index

    def _atom(self, index: int, after: _Atom | None = None) -> tuple[_Atom, int]:
        el = self.els[index]
        kind = el.kind
        nxt = self.kind(index + 1)
        if kind == "DATE":
            day, month, full_year = el.value
            if full_year < 100:
                full_year += 2000
            _check_day(day, month, full_year, el, self.phrase)
            atom = _Atom("day", day, el.lex, month=month, year=full_year)
            return atom, _skip(self, index + 1)
        if kind == "DM":
            day, month = el.value
            _check_day(day, month, None, el, self.phrase)
            year, index = self._year_after(index + 1)
            if year is not None:
                _check_day(day, month, year, el, self.phrase)
            return _Atom("day", day, el.lex, month=month, year=year), index
        if kind == "MONTH":
            year, end = self._year_after(index + 1)
            if year is None and nxt == "AND" and self.kind(index + 2) == "YEAR":
                year, end = self._year_after(index + 2)
            return _Atom("month", el.value[0], el.lex, year=year), end
        if kind == "ACAD":
            atom = _Atom("academic", 0, el.lex)  # the year, if any, follows
            index += 1
            if self.kind(index) == "YEAR" and self.kind(index + 1) in ("DASH", "SLASH"):
                first_year = self.els[index].value[0]
                second = self._year_number(index + 2, first_year)
                if second != first_year + 1:
                    raise self.fail(self.els[index], "учебный год — два года подряд")
                atom.year = first_year
                index += 3
                while self.kind(index) == "YMARK":
                    index += 1
            return atom, index
        if kind == "YEAR":
            bare_year = el.value[0]
            index += 1
            while self.kind(index) == "YMARK":
                index += 1
            if (
                after is None
                and self.kind(index) in ("DASH", "SLASH")
                and self.kind(index + 1) == "NUM"
                and self.els[index + 1].lex.token.digits == 2
            ):
                # `2022/23 учебный год`
                second = self._year_number(index + 1, bare_year)
                if second == bare_year + 1 and self.kind(index + 2) in ("ACAD", "YMARK"):
                    end = index + 2
                    while self.kind(end) == "YMARK":
                        end += 1
                    if self.kind(end) == "ACAD":
                        atom = _Atom("academic", bare_year, el.lex, year=bare_year)
                        return atom, end + 1
            return _Atom("year", bare_year, el.lex, year=bare_year), index
        if kind == "NUM" and after is not None and after.unit == "year":
            end_year = self._year_number(index, after.value)
            end = index + 1
            while self.kind(end) == "YMARK":
                end += 1
            return _Atom("year", end_year, el.lex, year=end_year), end
        if kind in ("NUM", "ROMAN"):
            number = el.value[0]
            roman = kind == "ROMAN"
            if nxt == "QMARK":
                if not 1 <= number <= 4:
                    raise self.fail(el, "кварталов всего четыре")
                year, end = self._year_after(index + 2)
                return _Atom("quarter", number, el.lex, year=year), end
            if roman:
                return _Atom("bare", number, el.lex, roman=True), index + 1
            if not 1 <= number <= 31:
                raise self.fail(el, "такого числа месяца нет")
            if nxt == "MONTH":
                month = self.els[index + 1].value[0]
                _check_day(number, month, None, el, self.phrase)
                year, end = self._year_after(index + 2)
                if year is not None:
                    _check_day(number, month, year, el, self.phrase)
                return _Atom("day", number, el.lex, month=month, year=year), end
            if nxt == "DOM":
                end = index + 2
                atom = _Atom("dom", number, el.lex)
                if self.kind(end) == "MONTHWORD":  # `5 числа месяца`: of a month, each time
                    atom.month = 0
                    end += 1
                return atom, end
            return _Atom("bare", number, el.lex), index + 1
        raise self.fail(el)

    def _year_number(self, index: int, first_year: int) -> int:
        el = self.els[index]
        if el.kind == "YEAR":
            return el.value[0]
        if el.kind == "NUM" and el.lex.token.digits == 2:
            return first_year // 100 * 100 + el.value[0]
        raise self.fail(el, "ожидался год")


def _skip(grammar: _Grammar, index: int) -> int:
    while grammar.kind(index) == "YMARK":
        index += 1
    return index


def _check_day(day: int, month: int, year: int | None, el: _El, phrase: str) -> None:
    if not 1 <= month <= 12:
        raise _fail_word(el.lex, phrase, f"месяца {month} нет")
    if not 1 <= day <= month_length(year or 2000, month):
        raise _fail_word(el.lex, phrase, "такой даты нет")
    if year is not None and not 1900 <= year <= 2100:
        raise _fail_word(el.lex, phrase, "год вне 1900-2100")


# --- pass 3: filling in and meaning ---------------------------------------------------------


def _fill(reading: _Reading, phrase: str) -> None:
    """Bare numbers take their unit, days their month, atoms their year from the right."""
    atoms = reading.atoms
    concrete: _Atom | None = None
    for atom in reversed(atoms):
        if atom.unit == "bare":
            if concrete is None:
                raise _fail_word(atom.lex, phrase, "непонятно, к чему относится число")
            if concrete.unit == "quarter" and 1 <= atom.value <= 4:
                atom.unit = "quarter"
            elif atom.roman:
                raise _fail_word(atom.lex, phrase, "римская цифра без «кв.»")
            elif concrete.unit == "day":
                atom.unit, atom.month = "day", concrete.month
                assert atom.month is not None
                if atom.value > month_length(2000, atom.month):
                    raise _fail_word(atom.lex, phrase, "такой даты нет")
            elif concrete.unit == "dom":
                atom.unit = "dom"
            else:
                raise _fail_word(atom.lex, phrase, "непонятно, к чему относится число")
        else:
            concrete = atom
    carry: _Atom | None = None
    for atom in reversed(atoms):
        if atom.unit in ("day", "month", "quarter") and atom.year is None and carry is not None:
            assert carry.year is not None
            atom.year = carry.year - (1 if atom.first() > carry.first() else 0)
        if atom.unit in ("day", "month", "quarter", "year") and atom.year is not None:
            carry = atom
    for expr in reading.exprs:
        if expr.mode == "range" and expr.last is not None:
            first, last = expr.first, expr.last
            if last.year is None and first.year is not None:
                m, d, _ = last.last()
                last.year = first.year + (1 if (m, d or 31) < first.first() else 0)
        if any(a.unit == "year" and a.year is not None and a.year != a.value for a in atoms):
            raise ScheduleParseError("внутренняя ошибка: год")


def _span(expr: _Expr, phrase: str, yearly: bool) -> SpanRule:
    first = expr.first
    last = expr.last or expr.first
    start_month, start_day = first.first()
    if expr.exclusive_end:
        end_month, end_day, extra = _day_before(last)
    else:
        end_month, end_day, extra = last.last()
    if first.year is not None and last.year is not None:
        later = last.year + extra - first.year
        start = date(first.year, start_month, start_day)
        end_year = first.year + later
        end = date(end_year, end_month, end_day or month_length(end_year, end_month))
        if later < 0 or end < start:
            raise _fail_word(last.lex, phrase, "конец периода раньше его начала")
    else:
        later = extra
        if later == 0 and (end_month, end_day or 31) < (start_month, start_day):
            later = 1
    if yearly and later > 1:
        raise _fail_word(last.lex, phrase, "период дольше года не может повторяться ежегодно")
    return SpanRule(
        start_month=start_month,
        start_day=start_day,
        end_month=end_month,
        end_day=end_day,
        end_years_later=later,
        year=first.year,
        yearly=yearly,
    )


def _day_before(atom: _Atom) -> tuple[int, int | None, int]:
    """The day before an atom's first day as (month, day or None, year offset)."""
    month, day = atom.first()
    if atom.unit == "academic":
        return 8, None, 1
    if day > 1:
        return month, day - 1, 0
    if month > 1:
        return month - 1, None, 0
    return 12, None, -1


def _deadline(expr: _Expr, phrase: str, yearly: bool) -> DeadlineRule:
    atom = expr.first
    if atom.unit in ("dom", "bare"):
        raise _fail_word(atom.lex, phrase, "непонятно, какого месяца")
    offset = 0
    day: int | None
    if expr.edge == "end" or (expr.inclusive and atom.unit != "day"):
        month, day, offset = atom.last()
        inclusive = True
    elif expr.edge == "start" or atom.unit != "day":
        month, day = atom.first()
        inclusive = False
    else:
        month, day = atom.first()
        inclusive = expr.inclusive
    year = None if atom.year is None else atom.year + offset
    return DeadlineRule(month=month, day=day, inclusive=inclusive, year=year, yearly=yearly)


def build(phrase: str) -> tuple[list[Rule], list[str], list[str], bool]:
    """Rules, notes, external plans named, and whether the phrase repeats."""
    words = _Words(phrase)
    elements = words.elements()
    reading = _Grammar(phrase, elements).run()
    _fill(reading, phrase)
    found = words.found

    units = {unit for unit, _ in reading.recurrences}
    if reading.weekdays:
        units.add("week")
    periodic = sorted(units - {"year"})
    if len(periodic) > 1:
        raise ScheduleParseError(
            f"в сроке «{phrase.strip()}» названы разные периоды повторения: " + ", ".join(periodic)
        )
    yearly = "year" in units
    doms = [e for e in reading.exprs if e.first.unit == "dom"]
    unit = periodic[0] if periodic else None
    if unit is None and (reading.following is not None or any(e.first.month == 0 for e in doms)):
        unit = "month"  # `до 5 числа месяца, следующего за отчётным`
    if unit is None and doms:
        raise _fail_word(doms[0].first.lex, phrase, "какого месяца? (напр. «каждого месяца»)")
    rules: list[Rule] = []

    if reading.continuous or found.continuous:
        rules.append(_continuous(reading, phrase))
        return rules, found.notes, found.external, True

    if unit is not None:
        rules.append(_periodic(unit, reading, phrase))
        return rules, found.notes, found.external, True

    first_year: int | None = None
    exprs = list(reading.exprs)
    starts = [e for e in exprs if e.mode == "from"]
    if starts:
        windows = [e for e in exprs if e.mode != "from"]
        if not windows:
            rules.append(_continuous(reading, phrase))
            return rules, found.notes, found.external, True
        for expr in starts:
            if expr.first.unit != "year" or len(starts) > 1:
                raise _fail_word(expr.first.lex, phrase, "«с» без конца периода")
            first_year = expr.first.value
        yearly = True
        exprs = windows
    standing = False
    for expr in exprs:
        # A standing period named without a year (`в течение учебного года`) recurs every
        # such period, as continuous items do; a named month or date stays once only.
        every = expr.mode == "window" and expr.first.unit == "academic" and expr.first.year is None
        standing = standing or every
        rule = _deadline(expr, phrase, yearly) if expr.mode == "deadline" else None
        span = _span(expr, phrase, yearly or every) if rule is None else None
        chosen: DeadlineRule | SpanRule | None = rule or span
        assert chosen is not None
        if first_year is not None and chosen.year is None:
            chosen = chosen.model_copy(update={"year": first_year})
        rules.append(chosen)
    if found.times is not None and len(rules) != found.times[0] and (rules or not found.external):
        count, quote = found.times
        raise ScheduleParseError(
            f"«{quote}»: названо сроков {len(rules)}, а нужно {count}; укажите каждый срок"
        )
    if not rules and not found.external:
        if reading.recurrences:
            word = reading.recurrences[0][1]
            raise _fail_word(word.lex, phrase, "не сказано, когда (месяц, дата или план)")
        raise ScheduleParseError(f"в сроке «{phrase.strip()}» нет ни даты, ни периода")
    return rules, found.notes, found.external, yearly or standing


def _continuous(reading: _Reading, phrase: str) -> ContinuousRule:
    since: _Atom | None = None
    for expr in reading.exprs:
        if expr.mode != "from" or since is not None:
            raise _fail_word(
                expr.first.lex, phrase, "постоянная работа не совмещается с отдельными сроками"
            )
        since = expr.first
    if since is None:
        return ContinuousRule()
    if since.unit in ("dom", "bare"):
        raise _fail_word(since.lex, phrase, "непонятно, с какого месяца")
    month, day = since.first()
    return ContinuousRule(since_month=month, since_day=day, since_year=since.year)


def _periodic(unit: str, reading: _Reading, phrase: str) -> PeriodicRule:
    fields: dict[str, object] = {"unit": unit}
    bounds: list[SpanRule] = []
    following = reading.following
    if following is not None:
        if following.flag and following.flag != unit:
            raise _fail_word(following.lex, phrase, "отчётный период не совпадает с повторением")
        fields["following"] = True
    for expr in reading.exprs:
        atom = expr.first
        if atom.unit == "dom":
            if "deadline_day" in fields or "first_day" in fields:
                raise _fail_word(atom.lex, phrase, "несколько чисел месяца")
            if expr.mode == "deadline":
                if unit == "quarter" and following is None:
                    raise _fail_word(
                        atom.lex,
                        phrase,
                        "какого месяца квартала? (напр. «месяца, следующего "
                        "за отчётным кварталом»)",
                    )
                if unit == "week":
                    raise _fail_word(atom.lex, phrase, "число месяца при еженедельном сроке")
                fields["deadline_day"] = atom.value
                fields["inclusive"] = expr.inclusive
                continue
            if unit != "month":
                raise _fail_word(atom.lex, phrase, "число месяца без месяца")
            last = expr.last if expr.mode == "range" else atom
            if last is None or last.unit != "dom":
                raise _fail_word(atom.lex, phrase)
            last_day = last.value - 1 if expr.exclusive_end else last.value
            fields["first_day"], fields["last_day"] = atom.value, last_day
            if last_day < atom.value:
                raise _fail_word(last.lex, phrase, "конец периода раньше его начала")
            continue
        if expr.mode == "deadline":
            raise _fail_word(atom.lex, phrase, "срок «до» при повторении: укажите «N числа»")
        if expr.mode == "from":
            raise _fail_word(atom.lex, phrase, "«с» без конца периода")
        bounds.append(_span(expr, phrase, yearly=False))
    if following is not None and "deadline_day" not in fields:
        raise _fail_word(following.lex, phrase, "не назван срок («до N числа»)")
    if reading.weekdays:
        if unit != "week" or len(set(reading.weekdays)) > 1:
            raise ScheduleParseError(
                f"в сроке «{phrase.strip()}»: один день недели при еженедельном повторении"
            )
        fields["weekday"] = reading.weekdays[0]
    fields["within"] = tuple(bounds)
    return PeriodicRule.model_validate(fields)


__all__ = ["build"]

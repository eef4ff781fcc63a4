"""What an answer must carry: the "Результат" column read into an EvidenceSpec.

Keyword rules on word stems, so that any roadmap's expected results get a spec,
not only the seed's. Each rule adds fields; a field name appears once, in the
order of the rules; an optional free comment always comes last. Number fields are
what the yearly summary adds up across the district, so their names are stable:

| name | meaning |
|---|---|
| `mentors`, `mentees` | mentors / mentees in the base (bank) |
| `pairs` | mentoring pairs or groups fixed by order |
| `programmes` | mentoring programmes / plans |
| `trained` | teachers who completed further training |
| `participants` | participants of the event or meeting |
| `letters` | information letters sent |
| `materials` | methodological materials prepared |
| `practices` | practices presented or collected |
| `publications` | publications on sites and social networks |

An administrator may edit the generated spec in the roadmap file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from domain.enums import EvidenceFieldKind as Kind
from domain.roadmap import EvidenceField, EvidenceSpec


def _normalise(text: str) -> str:
    return " ".join(text.lower().replace("ё", "е").split())


def _words(text: str) -> list[str]:
    return re.findall(r"[0-9a-zа-я]+", text)


@dataclass(frozen=True)
class _Rule:
    matches: Callable[[str, list[str]], bool]
    fields: tuple[EvidenceField, ...]


def _stems(*stems: str) -> Callable[[str, list[str]], bool]:
    """True when a word starts with one of the stems."""

    def check(_text: str, words: list[str]) -> bool:
        return any(w.startswith(stems) for w in words)

    return check


def _pattern(regex: str) -> Callable[[str, list[str]], bool]:
    compiled = re.compile(regex)

    def check(text: str, _words: list[str]) -> bool:
        return compiled.search(text) is not None

    return check


def _event(text: str, words: list[str]) -> bool:
    """Events, meetings, consultations, communities; "освещение мероприятий" (covering
    events on a site) and "план мероприятий" (a plan) are not events themselves."""
    stems = (
        "заседани",
        "консультац",
        "консультир",
        "фестивал",
        "сообществ",
        "семинар",
        "конференц",
        "вебинар",
        "совещани",
        "конкурс",
        "установочн",
    )
    if any(w.startswith(stems) for w in words):
        return True
    if re.search(r"кругл\w*\s+стол|мастер-класс|обмен\w*\s+опыт", text):
        return True
    for before, word in zip(["", *words], words, strict=False):
        if word.startswith("мероприят") and not before.startswith(("освещ", "план")):
            return True
    return False


def _field(
    name: str, label: str, kind: Kind, *, required: bool = True, help: str | None = None
) -> EvidenceField:
    return EvidenceField(name=name, label=label, kind=kind, required=required, help=help)


_BASE = (r"\b(баз|банк)\w*\s+(\w+\s+)?наставник", r"\b(баз|банк)\w*\s+(\w+\s+)?наставляем")

_RULES: tuple[_Rule, ...] = (
    _Rule(
        _pattern("|".join(_BASE)),
        (_field("mentors", "Количество наставников", Kind.number),),
    ),
    _Rule(
        _pattern(r"\b(баз|банк)\w*[^.;]*наставляем"),
        (_field("mentees", "Количество наставляемых", Kind.number),),
    ),
    _Rule(
        _pattern("|".join(_BASE)),
        (_field("mentors_file", "Список (база) наставников", Kind.file, required=False),),
    ),
    _Rule(
        _pattern(r"наставническ\w*\s+(пар|групп)|\bпар\w*\s*/\s*групп"),
        (_field("pairs", "Количество наставнических пар/групп", Kind.number),),
    ),
    _Rule(
        _pattern(r"\bприказ|\bутвержд\w*.*\bдокумент|\bлокальн\w*\s+(нормативн|акт)"),
        (
            _field("order_number", "Номер приказа", Kind.text),
            _field("order_date", "Дата приказа", Kind.date),
            _field("order_file", "Скан документа", Kind.file, required=False),
        ),
    ),
    _Rule(
        _pattern(r"\bназначен\w*\s+куратор"),
        (_field("curator_name", "ФИО куратора", Kind.text),),
    ),
    _Rule(
        _pattern(
            r"программ\w*\s*/\s*план\w*|\bплан\w*\s*/\s*программ"
            r"|\b(разработ|утвержд)\w*\s+(\w+\s+)?программ\w*\s+наставничеств"
        ),
        (
            _field("programme_file", "Программа/план наставничества", Kind.file),
            _field("programmes", "Количество программ/планов", Kind.number),
        ),
    ),
    _Rule(
        _stems("сайт", "раздел", "страниц"),
        (_field("site_url", "Ссылка на страницу сайта", Kind.url),),
    ),
    _Rule(
        _pattern(r"\bосвещ|\bпубликац|\bсоциальн\w*\s+сет|\bсми\b"),
        (_field("publications", "Количество публикаций", Kind.number),),
    ),
    _Rule(
        _pattern(r"\bинформационн\w*\s+письм|\bписьм"),
        (
            _field("letters", "Количество информационных писем", Kind.number),
            _field("letters_file", "Письма (сканы)", Kind.file, required=False),
        ),
    ),
    _Rule(
        _event,
        (
            _field("event_date", "Дата проведения", Kind.date),
            _field("participants", "Количество участников", Kind.number),
        ),
    ),
    _Rule(
        _pattern(r"повышени\w*\s+квалификац|\bкурс\w*\s+повышени|\bобучени\w*\s+педагог"),
        (_field("trained", "Количество педагогов, прошедших обучение", Kind.number),),
    ),
    _Rule(
        _pattern(r"методическ\w*\s+(материал|разработ|рекомендац|копилк)"),
        (
            _field("materials", "Количество методических материалов", Kind.number),
            _field("materials_file", "Методические материалы", Kind.file, required=False),
        ),
    ),
    _Rule(
        _stems("практик"),
        (_field("practices", "Количество представленных практик", Kind.number),),
    ),
    _Rule(
        _pattern(r"\bмониторинг|\bаналитическ\w*\s+справк|\bанализ|\bотчет"),
        (_field("report_file", "Аналитическая справка (отчёт)", Kind.file),),
    ),
)

_SUMMARY = _field("summary", "Что сделано", Kind.long_text)
_COMMENT = _field("comment", "Комментарий", Kind.long_text, required=False)


def evidence_spec(expected_result: str) -> EvidenceSpec:
    """The fields an answer to an item carries, derived from its expected result.

    When no rule matches, the answer is a required free text "Что сделано"."""
    text = _normalise(expected_result)
    words = _words(text)
    fields: list[EvidenceField] = []
    for rule in _RULES:
        if rule.matches(text, words):
            for field in rule.fields:
                if all(f.name != field.name for f in fields):
                    fields.append(field.model_copy())
    if not fields:
        fields.append(_SUMMARY.model_copy())
    fields.append(_COMMENT.model_copy())
    return EvidenceSpec(fields=fields)

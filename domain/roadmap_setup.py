"""Setting a roadmap up without YAML: what an item's edit form means, what an item will
do (its first due dates, who gets a task, what is still wrong), and what changed.

Pure functions over `ItemSpec` (domain.roadmap_file), the same shape for a draft and for
an activated roadmap; the database side is services.roadmap_setup's. Every message is
Russian and names the field and what to write.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from pydantic import ValidationError

from domain.assignees import describe_rule
from domain.enums import EvidenceFieldKind, OrgKind, Role
from domain.roadmap import AssigneeRule, EvidenceField, EvidenceSpec
from domain.roadmap_file import KEY_PATTERN, ItemSpec, Owner, RoadmapFile, slug_part
from domain.schedule import Schedule, ScheduleParseError, Window, parse_schedule, read_schedule

LOOK_AHEAD_DAYS = 3 * 366  # as far as a preview looks for an item's first due dates
FIRST_SHOWN = 3  # first due dates a preview lists
MAX_PLAN_DATES = 60
MAX_EVIDENCE_FIELDS = 30
MAX_NAME = 200
MAX_SCHEDULE = 500

# The fields of an item an administrator edits, as the history names them.
FIELD_LABELS: dict[str, str] = {
    "schedule_text": "Срок",
    "owner": "Ответственный в центре",
    "assignees": "Кто получает задачу",
    "evidence": "Поля ответа",
}

KIND_WORDS: dict[EvidenceFieldKind, str] = {
    EvidenceFieldKind.text: "текст",
    EvidenceFieldKind.long_text: "длинный текст",
    EvidenceFieldKind.url: "ссылка",
    EvidenceFieldKind.number: "число",
    EvidenceFieldKind.date: "дата",
    EvidenceFieldKind.file: "файл",
}
_KINDS_BY_WORD: dict[str, EvidenceFieldKind] = {
    **{word: kind for kind, word in KIND_WORDS.items()},
    **{kind.value: kind for kind in EvidenceFieldKind},
    "строка": EvidenceFieldKind.text,
    "текст длинный": EvidenceFieldKind.long_text,
    "url": EvidenceFieldKind.url,
    "количество": EvidenceFieldKind.number,
}
_REQUIRED_WORDS = {"": True, "обязательно": True, "обязательное": True, "да": True}
_OPTIONAL_WORDS = {"необязательно", "необязательное", "нет", "по желанию"}

ROLE_CHOICES: dict[str, str] = {
    "": "никто из организаций",
    Role.head.value: "руководители",
    Role.curator.value: "кураторы (руководитель в копии)",
}


class ItemFormError(ValueError):
    """The form cannot be saved: Russian messages by field name."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = dict(errors)


@dataclass
class ItemForm:
    """An item's edit form as posted: plain strings, checked by `apply_form`."""

    schedule_text: str = ""
    plan_dates: str = ""  # dates of an external plan, one a line
    owner_name: str = ""
    owner_email: str = ""
    centre: bool = False
    organisations: str = ""  # "", "head" or "curator"
    kinds: list[str] = field(default_factory=list)
    evidence: str = ""  # one field a line: "Подпись; тип; обязательно"


def evidence_lines(spec: EvidenceSpec) -> str:
    lines = []
    for f in spec.fields:
        lines.append(
            f"{f.label}; {KIND_WORDS[f.kind]}; {'обязательно' if f.required else 'необязательно'}"
        )
    return "\n".join(lines)


def form_of(spec: ItemSpec) -> ItemForm:
    """The form filled with an item as it is."""
    rule = spec.assignees
    return ItemForm(
        schedule_text=spec.schedule_text,
        owner_name=spec.owner.name,
        owner_email=spec.owner.email,
        centre=rule.centre,
        organisations=rule.organisations.value if rule.organisations else "",
        kinds=[k.value for k in rule.kinds],
        evidence=evidence_lines(spec.evidence),
    )


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_RANGE = re.compile(r"^(?:с\s+)?(\S+)\s*(?:[-–—]|по)\s*(\S+)$")
DATE_HINT = (
    "пишите даты как ДД.ММ.ГГГГ, по одной на строке; окно сроков — две даты через тире "
    "(01.10.2022 – 15.10.2022)"
)


def _one_date(text: str, line: int) -> date:
    found = _DATE.match(text.strip().rstrip("."))
    if not found:
        raise ItemFormError({"plan_dates": f"строка {line}: «{text}» — не дата; {DATE_HINT}"})
    day, month, year = (int(g) for g in found.groups())
    try:
        return date(year, month, day)
    except ValueError:
        raise ItemFormError(
            {"plan_dates": f"строка {line}: «{text}» — такой даты нет в календаре; проверьте"}
        ) from None


def parse_plan_dates(text: str) -> list[tuple[date, date]]:
    """The windows of an external plan: "ДД.ММ.ГГГГ" (that day) or
    "ДД.ММ.ГГГГ – ДД.ММ.ГГГГ" (from, until), one a line (commas and semicolons too)."""
    windows: list[tuple[date, date]] = []
    lines = [part.strip() for part in re.split(r"[\n;,]+", text) if part.strip()]
    if len(lines) > MAX_PLAN_DATES:
        raise ItemFormError(
            {"plan_dates": f"не больше {MAX_PLAN_DATES} дат; оставьте нужные ближайшие"}
        )
    for number, part in enumerate(lines, 1):
        ranged = _RANGE.match(part)
        if ranged and not _DATE.match(part):
            start, end = _one_date(ranged[1], number), _one_date(ranged[2], number)
            if end < start:
                raise ItemFormError(
                    {
                        "plan_dates": f"строка {number}: «{part}» — окно кончается раньше, "
                        "чем начинается; поменяйте даты местами"
                    }
                )
            windows.append((start, end))
        else:
            day = _one_date(part, number)
            windows.append((day, day))
    return sorted(set(windows))


def plan_phrase(base: str, windows: Sequence[tuple[date, date]]) -> str:
    """A schedule phrase the grammar reads as exactly these windows, keeping the plan's
    own wording ("по плану Минпросвещения (15.10.2022, 20.03.2023)") when it can."""
    parts = [f"{a:%d.%m.%Y}" if a == b else f"с {a:%d.%m.%Y} по {b:%d.%m.%Y}" for a, b in windows]
    plain = ", ".join(parts)
    base = base.strip()
    if base:
        try:
            kept = parse_schedule(f"{base} ({plain})")
            wanted = parse_schedule(plain)
        except ScheduleParseError:
            return plain
        if not kept.needs_dates and kept.rules == wanted.rules:
            return f"{base} ({plain})"
    return plain


def _schedule(spec: ItemSpec, form: ItemForm, errors: dict[str, str]) -> dict[str, object]:
    text = " ".join(form.schedule_text.split())
    if form.plan_dates.strip():
        try:
            windows = parse_plan_dates(form.plan_dates)
        except ItemFormError as exc:
            errors.update(exc.errors)
            return {}
        base = text
        try:
            if base and not parse_schedule(base).needs_dates:
                base = ""  # a readable phrase is replaced by the plan's dates
        except ScheduleParseError:
            base = ""
        text = plan_phrase(base, windows)
    if not text:
        errors["schedule_text"] = (
            "впишите срок (например «ноябрь 2022 г.», «до 15.10.2022», «ежегодно, апрель») "
            "или даты внешнего плана"
        )
        return {}
    if len(text) > MAX_SCHEDULE:
        errors["schedule_text"] = f"срок длиннее {MAX_SCHEDULE} символов; сократите его"
        return {}
    if text == spec.schedule_text and spec.schedule.get("phrase") == text:
        return {}  # unchanged, even when it still needs dates
    try:
        schedule = parse_schedule(text)
    except ScheduleParseError as exc:
        errors["schedule_text"] = (
            f"срок «{text}» не читается: {exc.reason}. Исправьте формулировку или впишите "
            "даты внешнего плана в поле ниже"
        )
        return {}
    return {
        "schedule_text": text,
        "schedule": schedule.model_dump(mode="json"),
        "needs_dates": schedule.needs_dates,
        "needs_dates_reason": schedule.reason if schedule.needs_dates else None,
    }


def _owner(form: ItemForm, errors: dict[str, str]) -> Owner | None:
    name = " ".join(form.owner_name.split())
    if len(name) > MAX_NAME:
        errors["owner_name"] = f"имя длиннее {MAX_NAME} символов; сократите его"
    elif _CONTROL.search(form.owner_name.replace("\n", " ")):
        errors["owner_name"] = "в имени есть служебные символы; впишите имя заново"
    try:
        owner = Owner(name=name, email=form.owner_email.strip())
    except ValidationError as exc:
        errors["owner_email"] = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        return None
    return None if "owner_name" in errors else owner


def _assignees(form: ItemForm, errors: dict[str, str]) -> AssigneeRule | None:
    if form.organisations not in ROLE_CHOICES:
        errors["assignees"] = "выберите, кто из организаций получает задачу"
        return None
    role = Role(form.organisations) if form.organisations else None
    kinds = [k for k in OrgKind if k.value in form.kinds]
    if role is None and not form.centre:
        errors["assignees"] = (
            "задачу никто не получит: отметьте центр или выберите руководителей или кураторов"
        )
        return None
    if role is not None and not kinds:
        errors["assignees"] = "отметьте хотя бы один тип организаций, которые получают задачу"
        return None
    rule = AssigneeRule(centre=form.centre, organisations=role, unmatched=False)
    if role is not None:
        rule.kinds = kinds
    return rule


def parse_evidence_lines(text: str, current: EvidenceSpec) -> EvidenceSpec:
    """The answer's fields from lines "Подпись; тип; обязательно|необязательно" (type and
    the last part may be left out: text, required). A field keeps its stored name when its
    label is unchanged, so answers already given keep their values."""
    names = {f.label: f.name for f in current.fields}
    fields: list[EvidenceField] = []
    used: set[str] = set()
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise ItemFormError(
            {"evidence": "нужно хотя бы одно поле ответа, например «Что сделано; длинный текст»"}
        )
    if len(lines) > MAX_EVIDENCE_FIELDS:
        raise ItemFormError({"evidence": f"не больше {MAX_EVIDENCE_FIELDS} полей ответа"})
    for number, line in lines:
        parts = [p.strip() for p in re.split(r"[;|]", line)]
        label = " ".join(parts[0].split())
        if not label:
            raise ItemFormError({"evidence": f"строка {number}: нет подписи поля"})
        if len(label) > MAX_NAME:
            raise ItemFormError(
                {"evidence": f"строка {number}: подпись длиннее {MAX_NAME} символов"}
            )
        if label in {f.label for f in fields}:
            raise ItemFormError(
                {"evidence": f"строка {number}: поле «{label}» уже есть; оставьте одно"}
            )
        word = " ".join(parts[1].lower().split()) if len(parts) > 1 else ""
        kind = _KINDS_BY_WORD.get(word or "текст")
        if kind is None:
            known = ", ".join(KIND_WORDS.values())
            raise ItemFormError(
                {
                    "evidence": f"строка {number}: тип «{parts[1]}» не известен; пишите один из: "
                    f"{known}"
                }
            )
        flag = " ".join(parts[2].lower().split()) if len(parts) > 2 else ""
        if flag in _REQUIRED_WORDS:
            required = True
        elif flag in _OPTIONAL_WORDS:
            required = False
        else:
            raise ItemFormError(
                {
                    "evidence": f"строка {number}: «{parts[2]}» — пишите «обязательно» или "
                    "«необязательно»"
                }
            )
        name = names.get(label) or slug_part(label).replace("-", "_")[:40] or f"field_{number}"
        base, suffix = name, 2
        while name in used:
            name, suffix = f"{base}_{suffix}", suffix + 1
        used.add(name)
        fields.append(EvidenceField(name=name, label=label, kind=kind, required=required))
    return EvidenceSpec(fields=fields)


def apply_form(spec: ItemSpec, form: ItemForm) -> ItemSpec:
    """The item with the form's values, or ItemFormError with every field's problem."""
    errors: dict[str, str] = {}
    update: dict[str, object] = dict(_schedule(spec, form, errors))
    owner = _owner(form, errors)
    rule = _assignees(form, errors)
    try:
        evidence = parse_evidence_lines(form.evidence, spec.evidence)
    except ItemFormError as exc:
        errors.update(exc.errors)
    if errors:
        raise ItemFormError(errors)
    assert owner is not None and rule is not None
    update.update(owner=owner, assignees=rule, evidence=evidence)
    return spec.model_copy(update=update)


# --- what an item will do -------------------------------------------------------------


@dataclass(frozen=True)
class ItemPreview:
    label: str
    title: str
    section: str
    schedule_text: str
    first: list[Window]  # the first due windows from the day tracking starts
    needs_dates: bool
    owner: str
    who: str  # describe_rule
    organisations: int  # how many organisations get a task (active, of the kinds)
    centre: bool
    evidence: list[str]
    issues: list[str]  # what still needs fixing, Russian
    open_columns: frozenset[str]  # source columns with an open issue: schedule, responsible


def owner_text(owner: Owner) -> str:
    if owner.name and owner.email:
        return f"{owner.name} <{owner.email}>"
    return owner.name or owner.email


def evidence_text(spec: EvidenceSpec) -> list[str]:
    return [
        f"{f.label} ({KIND_WORDS[f.kind]}{'' if f.required else ', необязательно'})"
        for f in spec.fields
    ]


def first_windows(
    spec: ItemSpec, *, start: date, tracked_from: date, count: int = FIRST_SHOWN
) -> list[Window]:
    """The item's first windows due on or after `tracked_from` (the roadmap's span
    begins at `start`, its order date)."""
    if spec.needs_dates:
        return []
    if spec.schedule.get("phrase") == spec.schedule_text:
        schedule = Schedule.model_validate(spec.schedule)
    else:  # a text edited by hand is read again, as sync_roadmap does
        schedule = read_schedule(spec.schedule_text)
    windows = schedule.occurrences(start, tracked_from + timedelta(days=LOOK_AHEAD_DAYS))
    return [w for w in windows if w.due >= tracked_from][:count]


def preview_item(
    spec: ItemSpec,
    *,
    start: date,
    tracked_from: date,
    org_counts: Mapping[OrgKind, int],
) -> ItemPreview:
    rule = spec.assignees
    first = first_windows(spec, start=start, tracked_from=tracked_from)
    orgs = sum(org_counts.get(k, 0) for k in rule.kinds) if rule.organisations else 0
    issues: list[str] = []
    columns: set[str] = set()
    if spec.needs_dates:
        issues.append(f"нужны даты: {spec.needs_dates_reason or 'срок не читается'}")
        columns.add("schedule")
    elif not first:
        issues.append(
            f"по сроку «{spec.schedule_text}» нет ни одного срока с {tracked_from:%d.%m.%Y}: "
            "задание не откроется; исправьте срок"
        )
        columns.add("schedule")
    if rule.unmatched:
        issues.append(
            f"«{spec.responsible}» — не центр, не руководители и не кураторы: назначено "
            "центру, проверьте, кто получает задачу"
        )
        columns.add("responsible")
    if rule.organisations is not None and orgs == 0:
        issues.append("нет действующих организаций этих типов: загрузите список организаций")
    return ItemPreview(
        label=spec.label,
        title=spec.title,
        section=spec.section,
        schedule_text=spec.schedule_text,
        first=first,
        needs_dates=spec.needs_dates,
        owner=owner_text(spec.owner),
        who=describe_rule(rule),
        organisations=orgs,
        centre=rule.centre,
        evidence=evidence_text(spec.evidence),
        issues=issues,
        open_columns=frozenset(columns),
    )


# --- what changed ---------------------------------------------------------------------


def snapshot(spec: ItemSpec) -> dict[str, str]:
    """An item's editable fields as people read them (the history's before and after)."""
    return {
        "schedule_text": spec.schedule_text,
        "owner": owner_text(spec.owner) or "—",
        "assignees": describe_rule(spec.assignees),
        "evidence": "; ".join(evidence_text(spec.evidence)),
    }


# What a re-loaded order or roadmap file changes besides the editable fields: an item's
# wording, an item added or taken out, the roadmap's heading and since when it is tracked.
# Every one of them is a history row too (an item's changes name the item; the roadmap's
# own have an empty item label).
HISTORY_LABELS: dict[str, str] = {
    **FIELD_LABELS,
    "title": "Наименование",
    "section": "Раздел",
    "expected_result": "Ожидаемый результат",
    "responsible": "Ответственный по приказу",
    "added": "Пункт добавлен",
    "withdrawn": "Пункт исключён",
    "roadmap_title": "Название дорожной карты",
    "order_number": "Номер приказа",
    "order_date": "Дата приказа",
    "tracked_from": "Отслеживается с",
}
_WORDING = ("title", "section", "expected_result", "responsible")


def changes(before: ItemSpec, after: ItemSpec) -> list[tuple[str, str, str]]:
    """(field, before, after) for every field that differs: the editable ones, then the
    item's wording (which only a re-loaded order or file changes)."""
    old, new = snapshot(before), snapshot(after)
    edited = [(name, old[name], new[name]) for name in FIELD_LABELS if old[name] != new[name]]
    return edited + [
        (name, getattr(before, name), getattr(after, name))
        for name in _WORDING
        if getattr(before, name) != getattr(after, name)
    ]


def item_line(spec: ItemSpec) -> str:
    """ "3. Заседание экспертной комиссии": an item added or taken out, in the history."""
    return f"{spec.label}. {spec.title}"


def heading_changes(before: RoadmapFile, after: RoadmapFile) -> list[tuple[str, str, str]]:
    """(field, before, after) for the roadmap's title, order number and order date."""
    pairs = [
        ("roadmap_title", before.title, after.title),
        ("order_number", before.order_number or "—", after.order_number or "—"),
        ("order_date", f"{before.order_date:%d.%m.%Y}", f"{after.order_date:%d.%m.%Y}"),
    ]
    return [(name, old, new) for name, old, new in pairs if old != new]


# --- the roadmap's heading --------------------------------------------------------------


def read_day(text: str) -> date | None:
    """ДД.ММ.ГГГГ or ГГГГ-ММ-ДД (a date input's value); None if neither."""
    text = text.strip()
    found = re.match(r"^(\d{4})-(\d{2})-(\d{2})$", text)
    dotted = re.match(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$", text)
    try:
        if found:
            return date(int(found[1]), int(found[2]), int(found[3]))
        if dotted:
            return date(int(dotted[3]), int(dotted[2]), int(dotted[1]))
    except ValueError:
        return None
    return None


def apply_heading(
    file: RoadmapFile, *, key: str, title: str, order_number: str, order_date: str
) -> RoadmapFile:
    """The draft's key, title, order number and date from its form (ItemFormError)."""
    errors: dict[str, str] = {}
    key = key.strip().lower()
    if not KEY_PATTERN.match(key):
        errors["key"] = (
            "ключ — латинские строчные буквы, цифры и дефисы, до 63 символов, например 209-od-2022"
        )
    title = " ".join(title.split())
    if not title or len(title) > 300:
        errors["title"] = "впишите название дорожной карты (не длиннее 300 символов)"
    number = " ".join(order_number.split())
    if len(number) > 60:
        errors["order_number"] = "номер приказа длиннее 60 символов; сократите его"
    day = read_day(order_date)
    if day is None:
        errors["order_date"] = "укажите дату приказа в виде ДД.ММ.ГГГГ"
    if errors:
        raise ItemFormError(errors)
    assert day is not None
    return file.model_copy(
        update={"key": key, "title": title, "order_number": number, "order_date": day}
    )

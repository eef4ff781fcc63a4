"""Who gets a task: the "Ответственный исполнитель" column read into an AssigneeRule.

The column is a comma-separated list of parties. Each part is recognised by word
stems, case-insensitively:

- the district centre (МКУ «ИМЦСО ЛМО СК», "методический центр") → `centre=True`;
- heads of organisations ("руководители ОО", "руководители образовательных
  организаций", "директора", "заведующие") → tasks to each organisation's head;
- curators, mentors, young teachers ("Кураторы", "наставники", "молодые педагоги")
  → tasks to each organisation's curator (the mailer copies the head).

Heads and curators named together give curator tasks: the head is in copy anyway,
so both are reached. Naming only kindergartens (ДОУ, детские сады) or only schools
narrows `kinds`; otherwise every kind of organisation gets the task. A part that
matches nothing is an error: the import never guesses who is responsible. Error
texts and `describe_rule` are Russian: centre staff read them as they are.
"""

from __future__ import annotations

import re

from domain.enums import OrgKind, Role
from domain.roadmap import AssigneeRule


class AssigneeError(ValueError):
    """The responsible text names a party the rules do not know (the message is Russian)."""


# Kinds of organisations as a list of recipients: "[школы, детские сады]".
KINDS_PLURAL: dict[OrgKind, str] = {
    OrgKind.school: "школы",
    OrgKind.kindergarten: "детские сады",
    OrgKind.extra: "доп. образование",
}


_CENTRE = re.compile(r"имцсо|\bимц\b|методическ\w*\s+центр")
_HEAD = re.compile(r"\bруководител|\bдиректор|\bзаведующ|\bадминистрац\w*\s+(оо|образоват)")
_CURATOR = re.compile(
    r"\bкуратор|\bнаставник|\bнаставляем|\bмолод\w*\s+(педагог|специалист|учител|воспитател)"
)
_KINDERGARTEN = re.compile(r"\bдоу\b|\bдетск\w*\s+сад|\bдошкольн")
_SCHOOL = re.compile(r"\bшкол|\bобщеобразовательн|\bсош\b|\bоош\b")


def _normalise(text: str) -> str:
    text = text.lower().replace("ё", "е")
    return " ".join(text.split())


def assignee_rule(responsible: str) -> AssigneeRule:
    """The rule for one "responsible" cell; raises AssigneeError for unknown parties."""
    text = _normalise(responsible)
    parts = [p.strip(" .;") for p in re.split(r"[,;]", text)]
    parts = [p for p in parts if p]
    if not parts:
        raise AssigneeError("ответственный исполнитель не указан; впишите, кто выполняет пункт")
    centre = False
    head = False
    curator = False
    kinds: set[OrgKind] = set()
    for part in parts:
        is_centre = bool(_CENTRE.search(part))
        is_head = bool(_HEAD.search(part))
        is_curator = bool(_CURATOR.search(part))
        if not (is_centre or is_head or is_curator):
            raise AssigneeError(
                f"не удаётся понять, кто исполнитель: «{part}»; укажите центр "
                "(МКУ «ИМЦСО ЛМО СК»), руководителей (руководители ОО) или кураторов "
                "(кураторы, наставники)"
            )
        centre = centre or is_centre
        head = head or is_head
        curator = curator or is_curator
        if is_head or is_curator:
            if _KINDERGARTEN.search(part):
                kinds.add(OrgKind.kindergarten)
            if _SCHOOL.search(part):
                kinds.add(OrgKind.school)
    role: Role | None = Role.curator if curator else Role.head if head else None
    rule = AssigneeRule(centre=centre, organisations=role)
    if role is not None and kinds:
        rule.kinds = [k for k in OrgKind if k in kinds]
    return rule


def describe_rule(rule: AssigneeRule) -> str:
    """Who gets tasks, in Russian: "центр + кураторы (руководитель в копии) [школы]".

    The kinds in brackets appear only when the rule does not cover every kind."""
    who: list[str] = []
    if rule.centre:
        who.append("центр")
    if rule.organisations is Role.head:
        who.append("руководители")
    elif rule.organisations is Role.curator:
        who.append("кураторы (руководитель в копии)")
    text = " + ".join(who) or "никто"
    if rule.organisations is not None and set(rule.kinds) != set(OrgKind):
        text += " [" + ", ".join(KINDS_PLURAL[k] for k in rule.kinds) + "]"
    return text

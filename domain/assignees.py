"""Who gets a task: the "Ответственный исполнитель" column read into an AssigneeRule.

The column is a comma- or semicolon-separated list of parties. Each part is matched
against the responsible rules (`ResponsibleRule`: a regular expression, searched
case-insensitively with "ё" read as "е", and what it means):

- the centre's names (its name, short name and aliases, from the settings or the
  roadmap file's `centre`; never from code) → `centre=True`;
- heads of organisations ("руководители ОО/ДОУ/школ", "директора", "заведующие") →
  one task per organisation, to its head;
- curators, mentors, young teachers ("кураторы", "наставники", "молодые педагоги")
  → one task per organisation, to its curator (the mailer copies the head).

Heads and curators named together give curator tasks: the head is in copy anyway,
so both are reached. Naming only kindergartens (ДОУ, детские сады) or only schools
narrows `kinds`; otherwise every kind of organisation gets the task.

A part no rule matches (a department, an official, "оргкомитет", "члены экспертной
комиссии"), or an empty cell, is the centre's own task: `centre=True`,
`unmatched=True`, the responsible text kept word for word; the import reports it as
a warning ("назначено центру, проверьте"), never an error.

The import writes the effective rules into the roadmap file (`responsible_rules`)
so that an administrator sees them; editing them (or the centre's names) there and
importing again with `--rules-from FILE.yaml` applies them to every item, and
editing an item's `assignees` in the file changes who gets that item's tasks. Texts for people
(`describe_rule`, errors) are Russian.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from domain.enums import OrgKind, Role
from domain.roadmap import AssigneeRule, Centre, ResponsibleMeaning, ResponsibleRule


class AssigneeError(ValueError):
    """A responsible rule cannot be used (a broken pattern); the message is Russian."""


# Kinds of organisations as a list of recipients: "[школы, детские сады]".
KINDS_PLURAL: dict[OrgKind, str] = {
    OrgKind.school: "школы",
    OrgKind.kindergarten: "детские сады",
    OrgKind.extra: "доп. образование",
}

_ORGS = (
    r"(оо|оу|доу|школ|образовательн|общеобразовательн|дошкольн|детск"
    r"|сош|оош|мбоу|мкоу|мбдоу|мкдоу)"
)
_NOT_ORGS = r"(?!\s+(отдел|управлен|комитет|департамент|структурн|муниципальн|администрац))"

# The built-in rules for heads and curators; the centre's own come from its names.
BUILT_IN_RULES: tuple[ResponsibleRule, ...] = (
    ResponsibleRule(
        pattern=rf"\b(руководител|директор|заведующ)\w*\s+{_ORGS}", means=ResponsibleMeaning.heads
    ),
    ResponsibleRule(
        pattern=rf"\b(руководители|директора|заведующие){_NOT_ORGS}\b",
        means=ResponsibleMeaning.heads,
    ),
    ResponsibleRule(
        pattern=r"\bадминистрац\w*\s+(оо|оу|доу|школ|образовательн)",
        means=ResponsibleMeaning.heads,
    ),
    ResponsibleRule(
        pattern=r"^((обще|дошкольные\s+)?образовательные\s+организации|оо|оу|доу|школы)$",
        means=ResponsibleMeaning.heads,
    ),
    ResponsibleRule(pattern=r"\bкуратор", means=ResponsibleMeaning.curators),
    ResponsibleRule(pattern=r"\bнаставник", means=ResponsibleMeaning.curators),
    ResponsibleRule(pattern=r"\bнаставляем", means=ResponsibleMeaning.curators),
    ResponsibleRule(
        pattern=r"\bмолод\w*\s+(педагог|специалист|учител|воспитател)",
        means=ResponsibleMeaning.curators,
    ),
)

_KINDERGARTEN = re.compile(r"\bдоу\b|\bдетск\w*\s+сад|\bдошкольн")
_SCHOOL = re.compile(r"\bшкол|\bобщеобразовательн|\bсош\b|\bоош\b")
_EVERY_KIND = re.compile(r"\bоо\b|\bоу\b")
_KIND_WORDS = ((OrgKind.kindergarten, _KINDERGARTEN), (OrgKind.school, _SCHOOL))
# Case endings of Russian nouns and adjectives, longest first: a name's word matches
# in any case ("Зеленогорский район" and "Зеленогорского района").
_ENDINGS = (
    "ого", "его", "ому", "ему", "ыми", "ими", "ами", "ями", "ией",
    "ий", "ый", "ой", "ая", "яя", "ое", "ее", "ые", "ие", "ых", "их", "ым", "им", "ам", "ям",
    "ах", "ях", "ом", "ем", "ов", "ев", "ия", "ии", "ию",
    "а", "я", "о", "е", "и", "ы", "у", "ю", "ь", "й",
)  # fmt: skip
_SPLIT = re.compile(r"[,;]")


def normalise(text: str) -> str:
    """Lower case, "ё" as "е", single spaces: what the rules' patterns are searched in."""
    return " ".join(text.lower().replace("ё", "е").split())


def _word_pattern(word: str) -> str:
    """An abbreviation ("ИМЦСО") exactly; a word of four letters or more with any
    ending, so that orders may decline it ("методического центра")."""
    lower = normalise(word)
    if word.isupper() or len(lower) < 4 or not lower.isalpha():
        return re.escape(lower)
    ending = next((e for e in _ENDINGS if lower.endswith(e) and len(lower) - len(e) >= 4), "")
    stem = lower[: len(lower) - len(ending)]
    return re.escape(stem) + r"\w*"


def name_pattern(name: str) -> str | None:
    """A pattern for one of the centre's names: its words in order, any punctuation or
    quotes between them ("МКУ «ИМЦСО ЛМО СК»" → `\\bмку\\W+имцсо\\W+лмо\\W+ск\\b`)."""
    words = re.findall(r"\w+", name)
    if not words:
        return None
    return r"\b" + r"\W+".join(_word_pattern(w) for w in words) + r"\b"


def centre_rules(centre: Centre) -> list[ResponsibleRule]:
    """One rule per distinct name of the centre (name, short name, aliases)."""
    rules: list[ResponsibleRule] = []
    for name in (centre.name, centre.short_name, *centre.aliases):
        pattern = name_pattern(name)
        if pattern is not None and all(r.pattern != pattern for r in rules):
            rules.append(ResponsibleRule(pattern=pattern, means=ResponsibleMeaning.centre))
    return rules


def effective_rules(centre: Centre, rules: Sequence[ResponsibleRule] = ()) -> list[ResponsibleRule]:
    """The rules a roadmap uses: the centre's names (always: its names are edited in the
    `centre`, not here), then its own rules when it has any (an administrator's edit),
    else the built-in ones."""
    own = list(rules) or list(BUILT_IN_RULES)
    return [*(r for r in centre_rules(centre) if r not in own), *own]


@dataclass(frozen=True)
class CompiledRules:
    rules: tuple[tuple[re.Pattern[str], ResponsibleMeaning], ...]

    @classmethod
    def of(cls, rules: Sequence[ResponsibleRule]) -> CompiledRules:
        compiled: list[tuple[re.Pattern[str], ResponsibleMeaning]] = []
        for index, rule in enumerate(rules, 1):
            try:
                pattern = re.compile(rule.pattern.replace("ё", "е"), re.IGNORECASE)
                compiled.append((pattern, rule.means))
            except re.error as exc:
                raise AssigneeError(
                    f"правило {index} в responsible_rules: шаблон «{rule.pattern}» не "
                    f"читается как регулярное выражение ({exc}); исправьте его"
                ) from None
        return cls(tuple(compiled))

    def meanings(self, part: str) -> set[ResponsibleMeaning]:
        text = normalise(part)
        return {means for pattern, means in self.rules if pattern.search(text)}


@dataclass(frozen=True)
class Reading:
    """A responsible cell read: the rule, and the parts no rule knew (as written)."""

    rule: AssigneeRule
    unmatched: list[str] = field(default_factory=list)
    empty: bool = False


def read_responsible(responsible: str, rules: Sequence[ResponsibleRule] | CompiledRules) -> Reading:
    """Read one "responsible" cell with `rules` (see `effective_rules`); never raises for
    the text: unknown parties and an empty cell go to the centre, flagged `unmatched`."""
    compiled = rules if isinstance(rules, CompiledRules) else CompiledRules.of(rules)
    parts = [p.strip(" .;\t") for p in _SPLIT.split(" ".join(responsible.split()))]
    parts = [p for p in parts if p]
    if not parts:
        return Reading(AssigneeRule(centre=True, unmatched=True), empty=True)
    centre = head = curator = False
    unmatched: list[str] = []
    kinds: set[OrgKind] = set()
    for part in parts:
        meanings = compiled.meanings(part)
        if not meanings:
            unmatched.append(part)
            continue
        centre = centre or ResponsibleMeaning.centre in meanings
        is_head = ResponsibleMeaning.heads in meanings
        is_curator = ResponsibleMeaning.curators in meanings
        head = head or is_head
        curator = curator or is_curator
        if is_head or is_curator:
            text = normalise(part)
            named = {kind for kind, words in _KIND_WORDS if words.search(text)}
            if _EVERY_KIND.search(text):  # "ОО/ДОУ": every organisation
                named = set(OrgKind)
            kinds |= named or set(OrgKind)  # a part naming no kind covers every kind
    role: Role | None = Role.curator if curator else Role.head if head else None
    rule = AssigneeRule(
        centre=centre or bool(unmatched), organisations=role, unmatched=bool(unmatched)
    )
    if role is not None and kinds:
        rule.kinds = [k for k in OrgKind if k in kinds]
    return Reading(rule, unmatched)


def assignee_rule(
    responsible: str, rules: Sequence[ResponsibleRule] | CompiledRules
) -> AssigneeRule:
    """The rule for one "responsible" cell (see `read_responsible`)."""
    return read_responsible(responsible, rules).rule


def describe_rule(rule: AssigneeRule) -> str:
    """Who gets tasks, in Russian: "центр + кураторы (руководитель в копии) [школы]".

    The kinds in brackets appear only when the rule does not cover every kind."""
    who: list[str] = []
    if rule.centre:
        who.append("центр (проверьте)" if rule.unmatched else "центр")
    if rule.organisations is Role.head:
        who.append("руководители")
    elif rule.organisations is Role.curator:
        who.append("кураторы (руководитель в копии)")
    text = " + ".join(who) or "никто"
    if rule.organisations is not None and set(rule.kinds) != set(OrgKind):
        text += " [" + ", ".join(KINDS_PLURAL[k] for k in rule.kinds) + "]"
    return text

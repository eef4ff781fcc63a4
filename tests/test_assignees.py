"""Who gets a task: the "Ответственный исполнитель" column read into an AssigneeRule."""

from __future__ import annotations

import pytest

from domain.assignees import (
    BUILT_IN_RULES,
    AssigneeError,
    centre_rules,
    describe_rule,
    effective_rules,
    name_pattern,
    read_responsible,
)
from domain.assignees import assignee_rule as assignee_rule_with
from domain.enums import OrgKind, Role
from domain.roadmap import AssigneeRule, Centre, ResponsibleMeaning, ResponsibleRule

CENTRE = "МКУ «ИМЦСО ЛМО СК»"
# the shipped demo settings' centre (config/settings.py)
DEMO_CENTRE = Centre(name=CENTRE, short_name="ИМЦСО", aliases=["методический центр"])
RULES = effective_rules(DEMO_CENTRE)


def assignee_rule(text: str) -> AssigneeRule:
    return assignee_rule_with(text, RULES)


HEADS = "руководители образовательных организаций"
CURATORS_LONG = (
    "Наставники, кураторы по реализации программ наставничества в образовательных организациях"
)

# (item number, responsible text exactly as in the seed, centre, organisations)
SEED = [
    (1, CENTRE, True, None),
    (2, CENTRE, True, None),
    (3, CENTRE, True, None),
    (4, CENTRE, True, None),
    (5, CENTRE, True, None),
    (6, f"{CENTRE}, {HEADS}", True, Role.head),
    (7, f"{CENTRE}, кураторы, наставники", True, Role.curator),
    (8, f"{CENTRE}, наставники, молодые педагоги", True, Role.curator),
    (9, f"{CENTRE}, кураторы, наставники", True, Role.curator),
    (10, f"{CENTRE},", True, None),
    (11, HEADS, False, Role.head),
    (12, HEADS, False, Role.head),
    (13, HEADS, False, Role.head),
    (14, CURATORS_LONG, False, Role.curator),
    (15, "Кураторы, наставники", False, Role.curator),
    (16, "Кураторы, наставники", False, Role.curator),
    (17, "Кураторы", False, Role.curator),
]


@pytest.mark.parametrize(("number", "text", "centre", "role"), SEED)
def test_every_seed_value(number: int, text: str, centre: bool, role: Role | None) -> None:
    rule = assignee_rule(text)
    assert (rule.centre, rule.organisations) == (centre, role), number
    assert rule.kinds == [OrgKind.school, OrgKind.kindergarten, OrgKind.extra]


@pytest.mark.parametrize(
    ("text", "centre", "role"),
    [
        ("руководители ОО", False, Role.head),
        ("Руководители ОО.", False, Role.head),
        ("РУКОВОДИТЕЛИ ОБРАЗОВАТЕЛЬНЫХ ОРГАНИЗАЦИЙ", False, Role.head),
        ("директора школ", False, Role.head),
        ("МКУ «ИМЦСО ЛМО СК», руководители ОО", True, Role.head),
        ("МКУ «ИМЦСО ЛМО СК»; кураторы", True, Role.curator),
        ("Наставники", False, Role.curator),
        ("наставники, молодые педагоги", False, Role.curator),
        ("молодые специалисты", False, Role.curator),
        ("куратор", False, Role.curator),
        ("руководители ОО, кураторы", False, Role.curator),
        ("методический центр", True, None),
        ("методического центра", True, None),
        ("ИМЦСО", True, None),
        ("ОО", False, Role.head),
        ("образовательные организации", False, Role.head),
        ("заведующие", False, Role.head),
        ("педагоги-наставники", False, Role.curator),
        ("  МКУ  «ИМЦСО ЛМО СК»  ", True, None),
    ],
)
def test_variants(text: str, centre: bool, role: Role | None) -> None:
    rule = assignee_rule(text)
    assert (rule.centre, rule.organisations) == (centre, role)


def test_kindergartens_only_when_the_text_says_so() -> None:
    assert assignee_rule("руководители ДОУ").kinds == [OrgKind.kindergarten]
    assert assignee_rule("заведующие детскими садами").kinds == [OrgKind.kindergarten]
    assert assignee_rule("директора общеобразовательных организаций").kinds == [OrgKind.school]
    assert assignee_rule("руководители школ и ДОУ").kinds == [
        OrgKind.school,
        OrgKind.kindergarten,
    ]
    every = [OrgKind.school, OrgKind.kindergarten, OrgKind.extra]
    assert assignee_rule("руководители ОО/ДОУ").kinds == every
    assert assignee_rule("заведующие ДОУ, руководители").kinds == every


@pytest.mark.parametrize(
    ("text", "unmatched"),
    [
        ("отдел образования", ["отдел образования"]),
        ("МКУ «ИМЦСО ЛМО СК», родители", ["родители"]),
        ("все участники", ["все участники"]),
        (
            "члены оргкомитета; члены экспертной комиссии",
            ["члены оргкомитета", "члены экспертной комиссии"],
        ),
        ("Первый заместитель главы администрации", ["Первый заместитель главы администрации"]),
        (
            "руководитель отдела по физической культуре",
            ["руководитель отдела по физической культуре"],
        ),
    ],
)
def test_unknown_parties_are_the_centres_task_kept_word_for_word(
    text: str, unmatched: list[str]
) -> None:
    reading = read_responsible(text, RULES)
    assert reading.unmatched == unmatched and not reading.empty
    assert reading.rule.centre and reading.rule.unmatched
    assert reading.rule.organisations is None


def test_an_unknown_party_beside_heads_keeps_the_heads() -> None:
    reading = read_responsible("руководители ОО, отдел по физической культуре", RULES)
    assert reading.unmatched == ["отдел по физической культуре"]
    assert (reading.rule.centre, reading.rule.organisations) == (True, Role.head)


@pytest.mark.parametrize("text", ["", " , ", " ;. "])
def test_an_empty_cell_is_the_centres_task(text: str) -> None:
    reading = read_responsible(text, RULES)
    assert reading.empty and reading.unmatched == []
    assert reading.rule.centre and reading.rule.unmatched


def test_the_centres_names_come_from_the_centre_not_the_code() -> None:
    other = Centre(
        name="МБУ ДО «Центр развития образования Зеленогорского района»",
        short_name="ЦРО",
        aliases=["Центр «Развитие»"],
    )
    rules = effective_rules(other)
    assert [r.means for r in rules[:3]] == [ResponsibleMeaning.centre] * 3
    assert rules[3:] == list(BUILT_IN_RULES)
    for text in (
        "МБУ ДО «Центр развития образования Зеленогорского района»",
        'МБУ ДО "Центр развития образования Зеленогорского района"',
        "ЦРО",
        "центр «Развитие»",
        "Центра «Развитие»",  # declined
    ):
        rule = assignee_rule_with(text, rules)
        assert (rule.centre, rule.organisations, rule.unmatched) == (True, None, False), text
    # another district's rules do not know this centre's name, nor does this one theirs
    assert assignee_rule_with(CENTRE, rules).unmatched
    assert assignee_rule("ЦРО").unmatched
    # an abbreviation is matched whole: "ЦРО" is not inside "ЦРОО"
    assert assignee_rule_with("ЦРОО", rules).unmatched


def test_name_patterns() -> None:
    assert name_pattern(CENTRE) == r"\bмку\W+имцсо\W+лмо\W+ск\b"
    assert name_pattern("методический центр") == r"\bметодическ\w*\W+центр\w*\b"
    assert name_pattern(" «» ") is None
    assert centre_rules(Centre(name="ИМЦ", short_name="имц")) == [
        ResponsibleRule(pattern=r"\bимц\b", means=ResponsibleMeaning.centre)
    ]
    assert centre_rules(Centre()) == []


def test_a_roadmaps_own_rules_replace_the_built_in_ones() -> None:
    own = [
        ResponsibleRule(pattern=r"оргкомитет", means=ResponsibleMeaning.centre),
        ResponsibleRule(pattern=r"тренер", means=ResponsibleMeaning.curators),
    ]
    assert effective_rules(DEMO_CENTRE, own) == [*centre_rules(DEMO_CENTRE), *own]
    assert effective_rules(DEMO_CENTRE, RULES) == RULES  # the centre's rules are not doubled
    assert assignee_rule_with("члены оргкомитета", own) == AssigneeRule(centre=True)
    assert assignee_rule_with("тренеры-преподаватели", own).organisations is Role.curator
    assert assignee_rule_with("руководители ОО", own).unmatched  # no heads rule now


def test_a_broken_pattern_is_an_error_naming_the_rule() -> None:
    broken = [
        ResponsibleRule(pattern="центр", means=ResponsibleMeaning.centre),
        ResponsibleRule(pattern="(кураторы", means=ResponsibleMeaning.curators),
    ]
    with pytest.raises(AssigneeError, match="правило 2 в responsible_rules: шаблон «\\(кураторы»"):
        read_responsible("кураторы", broken)


def test_descriptions_are_russian() -> None:
    assert describe_rule(assignee_rule(CENTRE)) == "центр"
    assert describe_rule(assignee_rule(HEADS)) == "руководители"
    assert describe_rule(assignee_rule(f"{CENTRE}, кураторы")) == (
        "центр + кураторы (руководитель в копии)"
    )
    assert describe_rule(assignee_rule("руководители ДОУ")) == "руководители [детские сады]"
    assert describe_rule(assignee_rule("кураторы школ и ДОУ")) == (
        "кураторы (руководитель в копии) [школы, детские сады]"
    )
    assert describe_rule(AssigneeRule(centre=False, organisations=None)) == "никто"
    assert describe_rule(assignee_rule("члены оргкомитета")) == "центр (проверьте)"

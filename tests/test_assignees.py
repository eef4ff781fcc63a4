"""Who gets a task: the "Ответственный исполнитель" column read into an AssigneeRule."""

from __future__ import annotations

import pytest

from domain.assignees import AssigneeError, assignee_rule, describe_rule
from domain.enums import OrgKind, Role
from domain.roadmap import AssigneeRule

CENTRE = "МКУ «ИМЦСО ЛМО СК»"
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


@pytest.mark.parametrize(
    "text",
    ["", " , ", "отдел образования", "МКУ «ИМЦСО ЛМО СК», родители", "все участники"],
)
def test_unknown_parties_are_errors(text: str) -> None:
    with pytest.raises(AssigneeError):
        assignee_rule(text)


def test_the_error_names_the_unknown_part() -> None:
    with pytest.raises(AssigneeError, match="«родители»; укажите центр"):
        assignee_rule("МКУ «ИМЦСО ЛМО СК», родители")


def test_an_empty_cell_is_an_error_in_russian() -> None:
    with pytest.raises(AssigneeError, match="ответственный исполнитель не указан"):
        assignee_rule(" , ")


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

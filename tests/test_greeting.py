"""The greeting: name and patronymic from the stored full name, «Уважаемый/Уважаемая» by
the patronymic, «Здравствуйте, …!» when the gender is unclear, «Здравствуйте!» when the
name cannot be read."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from config.settings import Settings
from domain.enums import NoticeKind
from notifications.context import greeting
from notifications.outbox import queue_notices
from tests.test_notifications import NOW, build_world, owed


@pytest.mark.parametrize(
    ("full_name", "expected"),
    [
        ("Олейник Вера Сергеевна", "Уважаемая Вера Сергеевна!"),
        ("Иванов Пётр Ильич", "Уважаемый Пётр Ильич!"),
        ("Кузнецов Андрей Викторович", "Уважаемый Андрей Викторович!"),
        ("Смирнова Анна Никитична", "Уважаемая Анна Никитична!"),
        ("  олейник   вера   сергеевна ", "Уважаемая Вера Сергеевна!"),
        ("Вера Сергеевна", "Уважаемая Вера Сергеевна!"),
        ("Вера Сергеевна Олейник", "Уважаемая Вера Сергеевна!"),
        ("Гасанова Айгюн Ильхам кызы", "Уважаемая Айгюн Ильхам кызы!"),
        ("Алиев Рустам Ильхам оглы", "Уважаемый Рустам Ильхам оглы!"),
        ("Ким Ен Су", "Здравствуйте, Ен Су!"),
        ("Петрова А. В.", "Здравствуйте!"),
        ("Петрова А.В.", "Здравствуйте!"),
        ("Иванов 1", "Здравствуйте!"),
        ("Иванова", "Здравствуйте!"),
        ("", "Здравствуйте!"),
        ("МКОУ «СОШ № 1»", "Здравствуйте!"),
        ("head@school1.example", "Здравствуйте!"),
        ("Анна-Мария Олеговна Петрова-Водкина", "Уважаемая Анна-Мария Олеговна!"),
    ],
)
def test_the_greeting_from_a_full_name(full_name: str, expected: str) -> None:
    assert greeting(full_name) == expected


def test_an_email_greets_by_name_and_patronymic(engine: Engine, settings: Settings) -> None:
    with Session(engine) as session:
        world = build_world(session, n_orgs=1)
        org = world.orgs[0]
        org.head_name = "Олейник Вера Сергеевна"
        session.add(org)
        session.flush()
        [email] = queue_notices(
            session=session,
            owed=[owed(world.tasks13[0], NoticeKind.opened, to=org.head_email)],
            settings=settings,
            now=NOW,
        )
        for body in (email.text_body, email.html_body):
            assert "Уважаемая Вера Сергеевна!" in body
            assert "Олейник" not in body.split("Уважаемая")[0]
            assert "Здравствуйте, Олейник" not in body


def test_an_email_to_an_unknown_name_says_hello(engine: Engine, settings: Settings) -> None:
    with Session(engine) as session:
        world = build_world(session, n_orgs=1)
        [email] = queue_notices(
            session=session,
            owed=[owed(world.tasks13[0], NoticeKind.opened, to="someone@else.example")],
            settings=settings,
            now=NOW,
        )
        assert email.text_body.lstrip().startswith("Здравствуйте!")
        assert "<p>Здравствуйте!</p>" in email.html_body

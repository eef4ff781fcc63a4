"""The set-up in the JSON API: an item of a running roadmap edited with
`PATCH /api/admin/roadmaps/{key}/items/{label}` (kept in the history, tasks and answers
untouched) and read back with `GET /api/admin/roadmaps/{key}/history`; both refuse a
request with no token, or a revoked one, with 401 and change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from domain.db import make_engine, upgrade
from domain.roadmap import RoadmapItem
from domain.roadmap_setup_models import RoadmapChange
from domain.tasks import Task
from portal.api_tokens import issue_token, revoke_tokens
from portal.app import create_app
from tests.conftest import make_settings
from tests.matrix_world import ADMIN_EMAIL, NOW, build_district

BASE = "http://127.0.0.1:8765"
ITEM = "/api/admin/roadmaps/r209/items/3"
HISTORY = "/api/admin/roadmaps/r209/history"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Engine, str]]:
    settings = make_settings(tmp_path)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    build_district(engine, organisations=6)
    with Session(engine) as s:
        token = issue_token(session=s, email=ADMIN_EMAIL, now=NOW)
        s.commit()
    yield TestClient(create_app(settings, engine, lambda: NOW), base_url=BASE), engine, token
    engine.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def changes_and_tasks(engine: Engine) -> tuple[int, int]:
    with Session(engine) as s:
        return (
            s.exec(select(func.count()).select_from(RoadmapChange)).one(),
            s.exec(select(func.count()).select_from(Task)).one(),
        )


def test_an_item_is_edited_through_the_api_and_its_history_kept(
    api: tuple[TestClient, Engine, str],
) -> None:
    client, engine, token = api
    tasks_before = changes_and_tasks(engine)[1]
    edited = client.patch(
        ITEM,
        headers=bearer(token),
        json={
            "schedule_text": "декабрь 2022 г.",
            "owner_name": "Иванова Мария Петровна",
            "owner_email": "ivanova@imc.example",
            "assignees": {"centre": False, "organisations": "curator", "kinds": ["school"]},
            "evidence": [
                {"label": "Номер приказа", "kind": "text"},
                {"label": "Скан", "kind": "file", "required": False},
            ],
        },
    )
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert body["item"]["schedule_text"] == "декабрь 2022 г."
    assert body["item"]["first_due"] == [{"opens": "2022-12-01", "due": "2022-12-30"}]
    assert body["item"]["who"] == "кураторы (руководитель в копии) [школы]"
    assert body["item"]["organisations"] == 3
    assert body["item"]["evidence"] == ["Номер приказа (текст)", "Скан (файл, необязательно)"]
    assert [c["field"] for c in body["changes"]] == [
        "schedule_text",
        "owner",
        "assignees",
        "evidence",
    ]
    assert body["changes"][0]["before"] == "ноябрь 2022 г."
    assert all(c["who"] == ADMIN_EMAIL for c in body["changes"])
    history = client.get(HISTORY, headers=bearer(token))
    assert history.status_code == 200
    assert history.json()["roadmap"] == "r209"
    assert {c["field"] for c in history.json()["changes"]} == {
        "schedule_text",
        "owner",
        "assignees",
        "evidence",
    }
    assert changes_and_tasks(engine) == (4, tasks_before)  # no task lost or added
    with Session(engine) as s:
        item = s.exec(select(RoadmapItem).where(RoadmapItem.label == "3")).one()
    assert item.schedule_from == date(2022, 11, 14) and item.owner_email == "ivanova@imc.example"
    again = client.patch(ITEM, headers=bearer(token), json={"schedule_text": "декабрь 2022 г."})
    assert again.status_code == 200 and again.json()["changes"] == []


def test_a_wrong_field_is_a_422_in_russian(api: tuple[TestClient, Engine, str]) -> None:
    client, engine, token = api
    bad = client.patch(
        ITEM,
        headers=bearer(token),
        json={"owner_email": "нет-адреса", "plan_dates": ["32.13.2022"]},
    )
    assert bad.status_code == 422
    errors = bad.json()["detail"]["errors"]
    assert "не адрес электронной почты" in errors["owner_email"]
    assert "строка 1: «32.13.2022» — такой даты нет в календаре" in errors["plan_dates"]
    assert changes_and_tasks(engine)[0] == 0
    missing = client.patch("/api/admin/roadmaps/r209/items/99", headers=bearer(token), json={})
    assert missing.status_code == 404 and "нет пункта 99" in missing.json()["detail"]["message"]
    assert client.get("/api/admin/roadmaps/nope/history", headers=bearer(token)).status_code == 404


@pytest.mark.parametrize("how", ["none", "revoked", "unknown"])
def test_without_a_live_token_both_are_401_and_nothing_changes(
    api: tuple[TestClient, Engine, str], how: str
) -> None:
    client, engine, token = api
    if how == "revoked":
        with Session(engine) as s:
            assert revoke_tokens(session=s, email=ADMIN_EMAIL, now=NOW) == 1
            s.commit()
    headers = {} if how == "none" else bearer(token if how == "revoked" else "rmt_" + "x" * 40)
    patched = client.patch(ITEM, headers=headers, json={"schedule_text": "декабрь 2022 г."})
    read = client.get(HISTORY, headers=headers)
    for response in (patched, read):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "API-токен" in response.json()["detail"]["message"]
    assert changes_and_tasks(engine)[0] == 0
    with Session(engine) as s:
        item = s.exec(select(RoadmapItem).where(RoadmapItem.label == "3")).one()
    assert item.schedule_text == "ноябрь 2022 г."


def test_the_openapi_document_lists_the_set_up_routes(
    api: tuple[TestClient, Engine, str],
) -> None:
    client, _, _ = api
    paths = client.get("/openapi.json").json()["paths"]
    assert "patch" in paths["/api/admin/roadmaps/{key}/items/{label}"]
    assert "get" in paths["/api/admin/roadmaps/{key}/history"]

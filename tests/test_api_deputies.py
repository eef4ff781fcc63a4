"""An organisation's deputy in the JSON API: read, name, refuse bad input, clear; the
history records the centre's changes; no live token means 401 and nothing changes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from domain.deputies import DeputyChange
from domain.organisations import Organisation
from portal.api_tokens import issue_token, revoke_tokens
from portal.app import create_app
from tests.conftest import make_settings
from tests.deputy_world import (
    ADMIN_EMAIL,
    CENTRE,
    DEPUTY_A,
    DEPUTY_NAME,
    HEAD_B,
    START,
    DeputyWorld,
    at,
    build_world,
)
from tests.portal_world import Clock

BASE = "http://127.0.0.1:8765"


@pytest.fixture
def world(tmp_path: Path, any_engine: Engine) -> DeputyWorld:
    settings = make_settings(tmp_path, centre_email=CENTRE, portal_url=BASE)
    return build_world(settings, any_engine)


def client_of(world: DeputyWorld, day: date) -> TestClient:
    return TestClient(create_app(world.settings, world.engine, Clock(at(day))), base_url=BASE)


def bearer(world: DeputyWorld) -> dict[str, str]:
    with Session(world.engine) as s:
        token = issue_token(session=s, email=ADMIN_EMAIL, now=START)
        s.commit()
    return {"Authorization": f"Bearer {token}"}


def test_the_centre_reads_names_and_clears_a_deputy_through_the_api(world: DeputyWorld) -> None:
    headers = bearer(world)
    client = client_of(world, date(2022, 9, 9))

    seen = client.get(f"/api/admin/orgs/{world.org_a}/deputy", headers=headers)
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert body["deputy"] == {
        "name": DEPUTY_NAME,
        "email": DEPUTY_A,
        "from": "2022-09-08",
        "until": "2022-09-15",
    }
    assert body["holds_today"] is True
    assert len(body["history"]) == 1

    # school B has none; the centre names one, and the history says the centre did
    named = client.put(
        f"/api/admin/orgs/{world.org_b}/deputy",
        headers=headers,
        json={
            "name": "Орлова Мария",
            "email": "orlova@school.example",
            "from": "09.09.2022",
            "until": "2022-09-30",
        },
    )
    assert named.status_code == 200, named.text
    assert named.json()["deputy"]["email"] == "orlova@school.example"
    assert named.json()["holds_today"] is True
    [change] = named.json()["history"]
    assert ADMIN_EMAIL in change["who"] and change["before"] == "нет"
    assert "Орлова Мария" in change["after"]

    # the head's own address, and dates in the wrong order: 422, every field named
    wrong = client.put(
        f"/api/admin/orgs/{world.org_b}/deputy",
        headers=headers,
        json={"name": "Х", "email": HEAD_B, "from": "30.09.2022", "until": "01.09.2022"},
    )
    assert wrong.status_code == 422
    errors = wrong.json()["detail"]["errors"]
    assert {"email", "until"} <= set(errors) and all(errors.values())

    cleared = client.delete(f"/api/admin/orgs/{world.org_b}/deputy", headers=headers)
    assert cleared.status_code == 200
    assert cleared.json()["deputy"] is None and cleared.json()["holds_today"] is False
    assert len(cleared.json()["history"]) == 2
    with Session(world.engine) as s:
        org = s.get(Organisation, world.org_b)
        assert org is not None and org.deputy_email == ""

    assert client.get("/api/admin/orgs/999999/deputy", headers=headers).status_code == 404
    assert "/api/admin/orgs/{org_id}/deputy" in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize("how", ["none", "revoked", "unknown"])
def test_without_a_live_token_the_deputy_api_is_401_and_nothing_changes(
    world: DeputyWorld, how: str
) -> None:
    headers = bearer(world)
    if how == "revoked":
        with Session(world.engine) as s:
            assert revoke_tokens(session=s, email=ADMIN_EMAIL, now=START) == 1
            s.commit()
    elif how == "none":
        headers = {}
    else:
        headers = {"Authorization": "Bearer rmt_" + "x" * 40}
    client = client_of(world, date(2022, 9, 9))
    url = f"/api/admin/orgs/{world.org_a}/deputy"
    assert client.get(url, headers=headers).status_code == 401
    body = {"name": "Чужой", "email": "x@evil.example", "from": "2022-09-09", "until": "2022-09-10"}
    assert client.put(url, headers=headers, json=body).status_code == 401
    assert client.delete(url, headers=headers).status_code == 401
    with Session(world.engine) as s:
        org = s.get(Organisation, world.org_a)
        assert org is not None and org.deputy_email == DEPUTY_A
        assert len(s.exec(select(DeputyChange)).all()) == 1

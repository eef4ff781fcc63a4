"""The centre's JSON API under /api/admin: personal API tokens from the command line
(made, used, revoked), the roadmaps, the matrix, an order's draft fixed and activated,
each refused without a live token or with a revoked one (401), whatever else the request
carries."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from config.settings import Settings, get_settings
from domain.access import ApiToken
from domain.db import make_engine, upgrade
from domain.roadmap import Roadmap
from portal.app import create_app
from tests.conftest import make_settings
from tests.matrix_world import ADMIN_EMAIL, ADMIN_PASSWORD, NOW, District, build_district
from tests.portal_world import csrf_of, login

BASE = "http://127.0.0.1:8765"


@pytest.fixture
def cli_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Settings, Engine]]:
    """The district in a database the command line reads through ROADMAP_* variables."""
    settings = make_settings(tmp_path)
    monkeypatch.setenv("ROADMAP_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("ROADMAP_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("ROADMAP_ROADMAP_FILE", str(tmp_path / "none.yaml"))
    get_settings.cache_clear()
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    build_district(engine, organisations=12)
    yield settings, engine
    engine.dispose()
    get_settings.cache_clear()


def run_cli(*args: str) -> tuple[int, str, str]:
    from cli import portal_cmd

    app = typer.Typer()
    portal_cmd.register(app)
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_from_the_command_line_opens_the_api_until_it_is_revoked(
    cli_world: tuple[Settings, Engine],
) -> None:
    settings, engine = cli_world
    code, out, err = run_cli("admin", "token", ADMIN_EMAIL.upper())
    assert code == 0, out + err
    token = out.strip()
    assert token.startswith("rmt_") and len(token) > 40
    assert "показан один раз" in err and "--revoke" in err
    with Session(engine) as s:
        rows = s.exec(select(ApiToken)).all()
    assert len(rows) == 1 and token not in rows[0].token_hash  # only its hash is kept
    assert rows[0].last_used_at is None and rows[0].revoked_at is None

    client = TestClient(create_app(settings, engine, lambda: NOW), base_url=BASE)
    listed = client.get("/api/admin/roadmaps", headers=bearer(token))
    assert listed.status_code == 200, listed.text
    assert [r["key"] for r in listed.json()] == ["r209"]
    assert listed.json()[0]["items"] == 17 and listed.json()[0]["cycles"] == ["2022/2023"]
    with Session(engine) as s:
        used = s.exec(select(ApiToken)).one()
    assert used.last_used_at == NOW

    second_code, second, _ = run_cli("admin", "token", ADMIN_EMAIL)
    assert second_code == 0 and second.strip() != token

    code, out, err = run_cli("admin", "token", ADMIN_EMAIL, "--revoke")
    assert code == 0 and "отозвано API-токенов metodist@imcso.example: 2" in out
    for revoked in (token, second.strip()):
        refused = client.get("/api/admin/roadmaps", headers=bearer(revoked))
        assert refused.status_code == 401
        assert "отозван" in refused.json()["detail"]["message"]
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert (
        client.post(
            "/api/admin/roadmaps/r209/activate", json={"from": "2022-09-01"}, headers=bearer(token)
        ).status_code
        == 401
    )

    unknown_code, unknown_out, unknown_err = run_cli("admin", "token", "nobody@imcso.example")
    assert unknown_code == 2 and "roadmap admin create" in unknown_out + unknown_err


def test_a_deactivated_administrators_token_stops_working(
    cli_world: tuple[Settings, Engine],
) -> None:
    settings, engine = cli_world
    _, out, _ = run_cli("admin", "token", ADMIN_EMAIL)
    client = TestClient(create_app(settings, engine, lambda: NOW), base_url=BASE)
    assert client.get("/api/admin/roadmaps", headers=bearer(out.strip())).status_code == 200
    assert run_cli("admin", "deactivate", ADMIN_EMAIL)[0] == 0
    assert client.get("/api/admin/roadmaps", headers=bearer(out.strip())).status_code == 401
    assert run_cli("admin", "token", ADMIN_EMAIL)[0] == 2  # none for a switched-off account


def test_a_move_of_a_running_roadmaps_start_is_kept_in_its_history(
    cli_world: tuple[Settings, Engine],
) -> None:
    """`roadmap activate` and the API's activate move a tracked roadmap's start: who, when,
    before → after, in the roadmap's history."""
    from cli import roadmaps_cmd

    settings, engine = cli_world
    app = typer.Typer()
    roadmaps_cmd.register(app)
    moved = CliRunner().invoke(app, ["activate", "r209", "--from", "2022-09-01"])
    assert moved.exit_code == 0, moved.output
    _, out, _ = run_cli("admin", "token", ADMIN_EMAIL)
    client = TestClient(create_app(settings, engine, lambda: NOW), base_url=BASE)
    token = bearer(out.strip())
    again = client.post(
        "/api/admin/roadmaps/r209/activate", json={"from": "2022-10-03"}, headers=token
    )
    assert again.status_code == 200, again.text
    history = client.get("/api/admin/roadmaps/r209/history", headers=token).json()
    assert sorted(
        (c["item"], c["field"], c["before"], c["after"], c["who"]) for c in history["changes"]
    ) == [
        ("", "tracked_from", "01.09.2022 00:00", "03.10.2022 00:00", ADMIN_EMAIL),
        ("", "tracked_from", "08.04.2022 03:00", "01.09.2022 00:00",
         "командная строка (roadmap activate)"),
    ]  # fmt: skip


# --- the endpoints ----------------------------------------------------------------------


@pytest.fixture
def api(settings: Settings, engine: Engine) -> tuple[TestClient, District, dict[str, str]]:
    from portal.api_tokens import issue_token

    district = build_district(engine, organisations=12)
    with Session(engine) as s:
        token = issue_token(session=s, email=ADMIN_EMAIL, now=NOW)
        s.commit()
    client = TestClient(create_app(settings, engine, lambda: NOW), base_url=BASE)
    return client, district, bearer(token)


ROUTES = [
    ("get", "/api/admin/roadmaps", None),
    ("get", "/api/admin/roadmaps/r209/matrix?cycle=2022/2023", None),
    ("post", "/api/admin/roadmaps", None),
    ("get", "/api/admin/drafts", None),
    ("post", "/api/admin/roadmaps/r209/activate", {"from": "2022-09-01"}),
    ("patch", "/api/admin/roadmaps/r209/items/1", {"owner_name": "Кто-то"}),
    ("post", "/api/admin/tasks/1/accept", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_no_token_no_password_no_cookie_is_401(
    api: tuple[TestClient, District, dict[str, str]],
    engine: Engine,
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    client, _, _ = api
    raw = base64.b64encode(f"{ADMIN_EMAIL}:{ADMIN_PASSWORD}".encode()).decode()
    assert login(client).status_code == 303  # a live session cookie, sent by the browser
    csrf = csrf_of(client.get("/admin").text)
    for headers in (
        {},
        {"Authorization": f"Basic {raw}"},
        {"X-CSRF-Token": csrf},
        {"Authorization": "Bearer rmt_not-a-token"},
        {"Authorization": "Bearer " + "x" * 5000},
    ):
        answer = client.request(method, path, json=body, headers=headers)
        assert answer.status_code == 401, (headers, answer.text)
        assert answer.json()["detail"]["problem"] == "auth"
    with Session(engine) as s:
        roadmap = s.exec(select(Roadmap)).one()
    assert roadmap.activated_at == datetime(2022, 4, 8, tzinfo=UTC)  # nothing changed


def test_the_matrix_api_matches_the_page(
    api: tuple[TestClient, District, dict[str, str]],
) -> None:
    client, district, token = api
    got = client.get("/api/admin/roadmaps/r209/matrix", headers=token)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["roadmap"] == "r209" and body["cycle"] == "2022/2023"
    assert body["as_of"] == "2022-11-14"
    shorts = [c["short_name"] for c in body["columns"]]
    assert shorts[:6] == ["Д/с № 1", "Д/с № 3", "Д/с № 5", "Д/с № 7", "Д/с № 9", "Д/с № 11"]
    rows = [r for s in body["sections"] for r in s["rows"]]
    assert [r["item"]["label"] for r in rows] == [str(n) for n in range(1, 18)]
    assert all(len(r["cells"]) == len(body["columns"]) for r in rows)
    task_ids = {c["task_id"] for r in rows for c in r["cells"] if c["task_id"]}
    assert task_ids == set(district.task_ids.values())
    assert sum(body["counts"].values()) == len(district.task_ids)
    assert sum(r["total"] for r in rows) == len(district.task_ids)
    assert {c["status"] for r in rows for c in r["cells"]} >= {"done", "review", "none"}
    assert rows[0]["item"]["owner"] == "Методист 1"

    # the pages go by the session cookie: a token opens none of them
    page = client.get("/admin/matrix", headers=token, follow_redirects=False)
    assert page.status_code == 303 and "/admin/login" in page.headers["location"]

    schools = client.get("/api/admin/roadmaps/r209/matrix?kind=school", headers=token).json()
    assert {c["kind"] for c in schools["columns"]} == {"school"}
    overdue = client.get("/api/admin/roadmaps/r209/matrix?status=overdue", headers=token).json()
    assert all(c["overdue"] for c in overdue["columns"])
    missing = client.get("/api/admin/roadmaps/none/matrix", headers=token)
    assert missing.status_code == 404 and "r209" in missing.json()["detail"]["message"]
    no_cycle = client.get("/api/admin/roadmaps/r209/matrix?cycle=2031/2032", headers=token)
    assert no_cycle.status_code == 404
    bad_kind = client.get("/api/admin/roadmaps/r209/matrix?kind=zoo", headers=token)
    assert bad_kind.status_code == 422


def test_activation_through_the_api(
    api: tuple[TestClient, District, dict[str, str]], engine: Engine
) -> None:
    client, _, token = api
    done = client.post(
        "/api/admin/roadmaps/r209/activate", json={"from": "2022-09-01"}, headers=token
    )
    assert done.status_code == 200, done.text
    # 00:00 in Moscow on 01.09.2022 is 21:00 UTC the day before
    shown = datetime.fromisoformat(done.json()["activated_at"])
    assert shown == datetime(2022, 8, 31, 21, 0, tzinfo=UTC)
    with Session(engine) as s:
        roadmap = s.exec(select(Roadmap)).one()
    assert roadmap.activated_at == datetime(2022, 8, 31, 21, 0, tzinfo=UTC)

    bad = client.post(
        "/api/admin/roadmaps/r209/activate", json={"from": "01.09.2022"}, headers=token
    )
    assert bad.status_code == 422
    missing = client.post(
        "/api/admin/roadmaps/nope/activate", json={"from": "2022-09-01"}, headers=token
    )
    assert missing.status_code == 404


def test_the_openapi_document_lists_the_admin_api(
    api: tuple[TestClient, District, dict[str, str]],
) -> None:
    client, _, _ = api
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/admin/roadmaps",
        "/api/admin/roadmaps/{key}/matrix",
        "/api/admin/roadmaps/{key}/activate",
    ):
        assert path in paths
    assert "401" in paths["/api/admin/roadmaps"]["get"]["responses"]
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path in ("/api/admin/roadmaps", "/api/admin/tasks/{task_id}/accept"):
        operation = next(iter(paths[path].values()))
        assert operation["security"] == [{"HTTPBearer": []}]


def test_the_task_list_api_pages_like_the_page(
    api: tuple[TestClient, District, dict[str, str]],
) -> None:
    client, district, token = api
    assert client.get("/api/admin/tasks").status_code == 401
    first = client.get("/api/admin/tasks?per_page=50", headers=token).json()
    total = len(district.task_ids)
    assert first["total"] == total and first["pages"] == -(-total // 50)
    seen: list[int] = []
    for n in range(1, first["pages"] + 1):
        page = client.get(f"/api/admin/tasks?per_page=50&page={n}", headers=token).json()
        assert page["page"] == n
        seen += [t["id"] for t in page["tasks"]]
    assert sorted(seen) == sorted(district.task_ids.values()) and len(seen) == total
    dues = [t["due"] for t in first["tasks"]]
    assert dues == sorted(dues)
    overdue = client.get("/api/admin/tasks?status=overdue&per_page=500", headers=token).json()
    assert overdue["total"] > 0
    assert all(t["light"] == "overdue" for t in overdue["tasks"])


def test_an_order_uploaded_through_the_api_is_fixed_and_activated(
    api: tuple[TestClient, District, dict[str, str]], engine: Engine
) -> None:
    """The set-up page's steps through the API: the Word order becomes a stored draft with
    its items and warnings, its "needs dates" item is fixed, it is activated by its key;
    the order again updates the running roadmap, keeps its start, and the history has it."""
    from domain.roadmap import RoadmapItem
    from domain.roadmap_setup_models import RoadmapChange, RoadmapDraft
    from tests.setup_world import order_docx

    client, _, token = api
    files = {"file": ("Приказ 209-од.docx", order_docx(), "application/octet-stream")}
    assert client.post("/api/admin/roadmaps", files=files).status_code == 401
    drafted = client.post("/api/admin/roadmaps", files=files, headers=token)
    assert drafted.status_code == 200, drafted.text
    body = drafted.json()
    assert body["roadmap"]["key"] == "209-od-2022" and not body["updates"]
    assert body["page"] == f"/admin/setup/drafts/{body['draft_id']}"
    assert [i["label"] for i in body["roadmap"]["items"]] == ["1", "2", "3", "4"]
    assert body["where"]["2"].startswith("таблица Word, строка")
    texts = [w["text"] for w in body["warnings"]]
    assert any("пункт 2" in t and "нужны даты" in t for t in texts)
    assert not any("--" in t or "assignees" in t for t in texts)  # the pages' words
    with Session(engine) as s:
        draft = s.exec(select(RoadmapDraft)).one()
        assert draft.id == body["draft_id"] and draft.created_by == ADMIN_EMAIL
        assert [r.key for r in s.exec(select(Roadmap)).all()] == ["r209"]  # not running yet
    # a draft whose id was not noted is found again
    listed = client.get("/api/admin/drafts", headers=token)
    assert listed.status_code == 200, listed.text
    assert [
        (d["draft_id"], d["key"], d["source_name"], d["items"], d["updates"], d["created_by"])
        for d in listed.json()
    ] == [(body["draft_id"], "209-od-2022", "Приказ 209-од.docx", 4, False, ADMIN_EMAIL)]
    assert listed.json()[0]["warnings"] == len(body["warnings"]) > 0
    assert listed.json()[0]["page"] == body["page"]

    # the external plan's dates, through the API, before anything runs
    item = "/api/admin/roadmaps/209-od-2022/items/2"
    fixed = client.patch(item, json={"plan_dates": ["15.10.2022"]}, headers=token)
    assert fixed.status_code == 200, fixed.text
    assert not fixed.json()["item"]["needs_dates"] and fixed.json()["changes"] == []
    assert fixed.json()["item"]["first_due"][0]["due"] == "2022-10-15"
    wrong = client.patch(item, json={"plan_dates": ["31.02.2022"]}, headers=token)
    assert wrong.status_code == 422 and "plan_dates" in wrong.json()["detail"]["errors"]

    activate = "/api/admin/roadmaps/209-od-2022/activate"
    assert client.post(activate, json={}, headers=token).status_code == 422  # from when?
    started = client.post(activate, json={"from": "2022-09-01"}, headers=token)
    assert started.status_code == 200, started.text
    moscow_midnight = datetime(2022, 8, 31, 21, 0, tzinfo=UTC)
    assert datetime.fromisoformat(started.json()["activated_at"]) == moscow_midnight
    assert started.json()["needs_dates"] == 0
    with Session(engine) as s:
        roadmap = s.exec(select(Roadmap).where(Roadmap.key == "209-od-2022")).one()
        assert roadmap.activated_at == datetime(2022, 8, 31, 21, 0, tzinfo=UTC)
        assert s.exec(select(RoadmapDraft)).one().roadmap_id == roadmap.id
        item2 = s.exec(
            select(RoadmapItem).where(
                RoadmapItem.roadmap_id == roadmap.id, RoadmapItem.label == "2"
            )
        ).one()
        assert not item2.needs_dates

    # the order again: a draft that updates the running roadmap; item 1 moves to October
    again = client.post("/api/admin/roadmaps", files=files, headers=token).json()
    assert again["updates"] and again["draft_id"] != body["draft_id"]
    listed = client.get("/api/admin/drafts", headers=token).json()
    assert [(d["draft_id"], d["updates"]) for d in listed] == [(again["draft_id"], True)]
    draft_id = again["draft_id"]
    for label, change in (("2", {"plan_dates": ["15.10.2022"]}),
                          ("1", {"schedule_text": "октябрь 2022 г."})):  # fmt: skip
        edited = client.patch(
            f"/api/admin/roadmaps/209-od-2022/items/{label}?draft={draft_id}",
            json=change,
            headers=token,
        )
        assert edited.status_code == 200 and edited.json()["changes"] == [], edited.text
    updated = client.post(activate, json={"draft": draft_id}, headers=token)
    assert updated.status_code == 200, updated.text
    kept = datetime.fromisoformat(updated.json()["activated_at"])
    assert kept == moscow_midnight  # its start kept
    history = client.get("/api/admin/roadmaps/209-od-2022/history", headers=token).json()
    assert [(c["item"], c["field"], c["before"], c["after"], c["who"])
            for c in history["changes"]] == [
        ("1", "schedule_text", "сентябрь 2022 г.", "октябрь 2022 г.", ADMIN_EMAIL)
    ]  # fmt: skip
    with Session(engine) as s:
        assert s.exec(select(RoadmapChange)).one().field == "schedule_text"
    twice = client.post(activate, json={"draft": draft_id}, headers=token)
    assert twice.status_code == 404  # that draft ran already
    assert client.get("/api/admin/drafts", headers=token).json() == []

    pdf = client.post(
        "/api/admin/roadmaps",
        files={"file": ("prikaz.pdf", b"%PDF-1.4", "application/pdf")},
        headers=token,
    )
    assert pdf.status_code == 422
    assert "не поддерживается" in pdf.json()["detail"]["problems"][0]["text"]
    nothing = client.post("/api/admin/roadmaps", data={"x": "1"}, headers=token)
    assert nothing.status_code == 422 and "нет файла" in nothing.text


REVOKED_ROUTES = [
    ("get", "/api/admin/roadmaps", {}),
    ("get", "/api/admin/roadmaps/r209/matrix?cycle=2022/2023", {}),
    ("post", "/api/admin/roadmaps", {"files": {"file": ("p.csv", b"x", "text/csv")}}),
    ("post", "/api/admin/roadmaps/r209/activate", {"json": {"from": "2022-09-01"}}),
    ("patch", "/api/admin/roadmaps/r209/items/1", {"json": {"owner_name": "Кто-то"}}),
]


@pytest.mark.parametrize(("method", "path", "sent"), REVOKED_ROUTES)
def test_a_revoked_token_opens_none_of_the_endpoints(
    api: tuple[TestClient, District, dict[str, str]],
    engine: Engine,
    method: str,
    path: str,
    sent: dict[str, Any],
) -> None:
    from domain.roadmap_setup_models import RoadmapChange, RoadmapDraft
    from portal.api_tokens import revoke_tokens

    client, _, token = api
    assert client.get("/api/admin/roadmaps", headers=token).status_code == 200  # it worked
    with Session(engine) as s:
        assert revoke_tokens(session=s, email=ADMIN_EMAIL, now=NOW) == 1
        s.commit()
    refused = client.request(method, path, headers=token, **sent)
    assert refused.status_code == 401, refused.text
    assert "отозван" in refused.json()["detail"]["message"]
    with Session(engine) as s:
        roadmap = s.exec(select(Roadmap)).one()
        assert roadmap.activated_at == datetime(2022, 4, 8, tzinfo=UTC)
        assert s.exec(select(RoadmapDraft)).all() == []
        assert s.exec(select(RoadmapChange)).all() == []

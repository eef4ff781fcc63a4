"""The centre's JSON API under /api/admin: personal API tokens from the command line
(made, used, revoked), the roadmaps, the matrix and activation, each refused without a
live token (401), whatever else the request carries."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

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
    ("post", "/api/admin/roadmaps/r209/activate", {"from": "2022-09-01"}),
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


def test_an_order_uploaded_through_the_api_comes_back_as_a_draft_and_is_not_stored(
    api: tuple[TestClient, District, dict[str, str]], engine: Engine
) -> None:
    from tests.conftest import ROOT

    client, _, token = api
    order = (ROOT / "seed" / "roadmap-order-209-od-2022.txt").read_bytes()
    files = {"file": ("prikaz-209.txt", order, "text/plain")}
    assert client.post("/api/admin/roadmaps", files=files).status_code == 401
    drafted = client.post("/api/admin/roadmaps", files=files, headers=token)
    assert drafted.status_code == 200, drafted.text
    body = drafted.json()
    assert body["roadmap"]["key"] == "209-od-2022"
    assert len(body["roadmap"]["items"]) == 17
    assert body["roadmap"]["items"][12]["schedule_text"]
    assert all(w["text"] and w["where"] for w in body["warnings"])
    assert body["where"]["1"].startswith("строка")
    with Session(engine) as s:
        assert [r.key for r in s.exec(select(Roadmap)).all()] == ["r209"]  # nothing written

    pdf = client.post(
        "/api/admin/roadmaps",
        files={"file": ("prikaz.pdf", b"%PDF-1.4", "application/pdf")},
        headers=token,
    )
    assert pdf.status_code == 422
    assert "не поддерживается" in pdf.json()["detail"]["problems"][0]["text"]
    nothing = client.post("/api/admin/roadmaps", data={"x": "1"}, headers=token)
    assert nothing.status_code == 422 and "нет файла" in nothing.text

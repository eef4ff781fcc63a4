"""The JSON API: reading and answering a task by its link, and the review that needs an
administrator's token."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.portal_world import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    BASE,
    World,
    api_token,
    basic,
    counts,
    csrf_of,
    good_form,
    login,
    pdf_file,
)


def test_the_api_reads_and_answers_a_task(client: TestClient, world: World) -> None:
    got = client.get(f"/api/tasks/{world.token}")
    assert got.status_code == 200
    body = got.json()
    assert (
        body["item"]["number"] == "5" and body["status"] == "open" and body["due"] == "2022-09-14"
    )
    assert [f["name"] for f in body["evidence_spec"]] == [
        "summary",
        "mentors",
        "held_on",
        "order",
        "page",
    ]
    assert body["submissions"] == []

    bad = client.post(f"/api/tasks/{world.token}/answer", data={"mentors": "много"})
    assert bad.status_code == 422
    errors = bad.json()["detail"]["errors"]
    assert set(errors) == {"summary", "mentors", "held_on", "order"}

    posted = client.post(f"/api/tasks/{world.token}/answer", data=good_form(), files=pdf_file())
    assert posted.status_code == 201
    result = posted.json()
    assert result["status"] == "submitted"
    assert result["submissions"][0]["values"]["mentors"] == 4
    assert result["submissions"][0]["files"][0]["name"] == "приказ.pdf"

    schema = client.get("/openapi.json").json()
    assert "/api/tasks/{token}/answer" in schema["paths"]
    assert "/api/admin/tasks/{task_id}/return" in schema["paths"]
    assert client.get("/docs").status_code == 200


def test_the_api_review_needs_an_administrator(client: TestClient, world: World) -> None:
    assert (
        client.post(
            f"/api/tasks/{world.token}/answer", data=good_form(), files=pdf_file()
        ).status_code
        == 201
    )
    before = counts(world.engine)
    url = f"/api/admin/tasks/{world.task_id}/accept"
    assert client.post(url).status_code == 401
    # the API takes no passwords, and a personal link is not an administrator's credential
    assert client.post(url, headers=basic(ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 401
    assert client.post(url, headers={"Authorization": f"Bearer {world.token}"}).status_code == 401
    # nor the session cookie: a page on another site could make the browser send it
    assert login(client).status_code == 303
    csrf = csrf_of(client.get("/admin").text)
    assert client.post(url, headers={"X-CSRF-Token": csrf}).status_code == 401
    assert counts(world.engine) == before

    token = api_token(world.engine)
    returned = client.post(
        f"/api/admin/tasks/{world.task_id}/return",
        json={"reason": "Нет печати", "new_due": "2022-09-21"},
        headers=token,
    )
    assert returned.status_code == 200
    assert returned.json() == {
        "id": world.task_id,
        "status": "returned",
        "due": "2022-09-21",
        "revision": 1,
    }
    again = client.post(url, headers=token)
    assert again.status_code == 409  # returned, not waiting for review

    anonymous = TestClient(client.app, base_url=BASE)
    assert (
        anonymous.post(
            f"/api/tasks/{world.token}/answer", data=good_form(), files=pdf_file()
        ).status_code
        == 201
    )
    accepted = anonymous.post(url, headers=token)
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    got = anonymous.get(f"/api/tasks/{world.token}").json()
    assert got["status"] == "accepted" and [s["version"] for s in got["submissions"]] == [2, 1]
    assert got["submissions"][1]["review_note"] == "Нет печати"

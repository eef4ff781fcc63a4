"""People get Russian error pages; the API keeps JSON."""

from __future__ import annotations

from fastapi.testclient import TestClient

from domain.enums import TaskStatus
from tests.portal_world import (
    World,
    api_token,
    get_task,
)


def test_people_get_russian_error_pages_and_the_api_keeps_json(
    client: TestClient, world: World
) -> None:
    home = client.get("/")
    assert home.status_code == 200 and "персональной ссылке из письма" in home.text
    for path in ("/t/", "/o/", "/nothing", f"{world.path}/files/abc", "/admin/tasks/abc"):
        page = client.get(path)
        assert page.status_code == 404, path
        assert page.headers["content-type"].startswith("text/html"), path
        assert "Страница не найдена" in page.text and '"detail"' not in page.text, path
    wrong_method = client.post("/")
    assert wrong_method.status_code == 405 and "не поддерживается" in wrong_method.text
    broken = client.post(
        world.path,
        content=b"--xyz\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--xyz--\r\n",
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert broken.status_code == 400 and "Неверный адрес или данные формы" in broken.text
    assert "Invalid" not in broken.text
    assert get_task(world.engine, world.task_id).status is TaskStatus.open

    assert client.get("/api/nothing").json() == {"detail": "Not Found"}
    # who is asking comes first (before the path, before any body), then a bad id names no task
    assert client.post("/api/admin/tasks/abc/accept").status_code == 401
    api = client.post("/api/admin/tasks/abc/accept", headers=api_token(world.engine))
    assert api.status_code == 404 and api.json()["detail"]["problem"] == "not_found"

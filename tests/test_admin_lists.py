"""The centre's task lists: filters by status and roadmap, and the CSV export."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from domain.roadmap import Roadmap
from tests.portal_world import (
    World,
    login,
    submit,
)


def test_lists_filter_by_status_and_export_csv(client: TestClient, world: World) -> None:
    assert submit(client, world).status_code == 303
    assert login(client).status_code == 303

    def listed(query: str) -> list[str]:
        page = client.get(f"/admin/tasks?{query}")
        assert page.status_code == 200
        return re.findall(r'<span class="meta">(СОШ № \d)', page.text)

    assert listed("status=awaiting") == ["СОШ № 1"]
    assert sorted(listed(f"item={world.item_id}")) == ["СОШ № 1", "СОШ № 2"]
    assert listed(f"org={world.org_b}") == ["СОШ № 2"]
    assert listed("status=overdue") == []
    assert listed("status=returned") == []
    overview = client.get("/admin")
    assert overview.status_code == 200 and "По мероприятиям" in overview.text

    export = client.get("/admin/tasks.csv?status=all")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert export.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:4] == ["Задача", "Учебный год", "№ мероприятия", "Мероприятие"]
    assert len(rows) == 3
    by_name = {r[4]: r for r in rows[1:]}
    assert by_name["СОШ № 1"][7] == "ответ получен, на проверке"
    assert by_name["СОШ № 1"][5] == "руководитель"
    assert by_name["СОШ № 2"][5] == "куратор" and by_name["СОШ № 2"][6] == "14.09.2022"

    awaiting_csv = client.get("/admin/tasks.csv?status=awaiting")
    assert len(awaiting_csv.content.decode("utf-8-sig").strip().splitlines()) == 2


def test_lists_filter_by_roadmap_when_there_are_several(
    client: TestClient, world: World, engine: Engine
) -> None:
    assert login(client).status_code == 303
    single = client.get("/admin/tasks")
    assert 'name="roadmap"' not in single.text, "one roadmap: no roadmap filter"
    with Session(engine) as s:
        s.add(Roadmap(key="gia-2027", title="ГИА-2027", order_date=date(2026, 9, 1)))
        s.commit()

    def listed(query: str) -> list[str]:
        page = client.get(f"/admin/tasks?{query}")
        assert page.status_code == 200
        return re.findall(r'<span class="meta">(СОШ № \d)', page.text)

    page = client.get("/admin/tasks")
    assert 'name="roadmap"' in page.text and "ГИА-2027 (gia-2027)" in page.text
    assert sorted(listed("roadmap=r209")) == ["СОШ № 1", "СОШ № 2"]
    assert listed("roadmap=gia-2027") == []
    assert sorted(listed("")) == ["СОШ № 1", "СОШ № 2"]
    export = client.get("/admin/tasks.csv?roadmap=gia-2027")
    assert len(export.content.decode("utf-8-sig").strip().splitlines()) == 1
    # with several roadmaps the overview says whose item a row is
    overview = client.get("/admin").text
    assert re.search(r'<a href="/admin/tasks\?item=\d+">r209: № \d+\. ', overview)

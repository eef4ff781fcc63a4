"""The answer page: the form, saving an answer with its files and receipt, field errors,
refused uploads, escaping, overdue and confirmation notes, no files left by a failed answer,
and Moscow days."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Connection, Engine, event
from sqlmodel import Session, select

from domain.emails import OutgoingEmail
from domain.enums import NoticeKind, TaskEventKind, TaskStatus
from domain.evidence import Evidence, EvidenceFile, FileBlob
from domain.tasks import Task, TaskEvent
from portal.app import create_app
from services.answers import UploadedFile, submit_answer
from tests.conftest import make_settings
from tests.portal_world import (
    BASE,
    PDF,
    PNG,
    START,
    Clock,
    World,
    build_world,
    counts,
    get_task,
    good_form,
    login,
    org_page_url,
    pdf_file,
    submit,
    uploaded_files,
)


def test_the_link_opens_the_task_with_its_form(client: TestClient, world: World) -> None:
    page = client.get(world.path)
    assert page.status_code == 200
    text = page.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert "№ 5" in text and "Издание приказа о закреплении наставнических пар" in text
    assert "Приказ о закреплении наставнических пар" in text  # expected result
    assert (
        "14.09.2022" in text
        and 'Статус:</strong> <span class="status status-open">ожидает ответа</span>' in text
    )
    assert 'enctype="multipart/form-data"' in text
    for name in ("summary", "mentors", "held_on", "order", "page"):
        assert f'name="{name}"' in text
    assert 'type="file"' in text and "Сколько педагогов закреплено наставниками" in text
    assert text.count('title="обязательно"') == 4  # the url field is optional
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"


def test_an_answer_is_saved_as_version_one_with_its_file_and_a_receipt(
    client: TestClient, world: World
) -> None:
    response = submit(client, world)
    assert response.status_code == 303
    done = client.get(response.headers["location"])
    assert done.status_code == 200
    assert "Ответ получен и отправлен на проверку в центр (версия 1, 05.09.2022 09:00)" in done.text
    assert "Ответ принят" not in done.text  # only the centre accepts an answer

    task = get_task(world.engine, world.task_id)
    assert task.status is TaskStatus.submitted and task.submitted_at == START
    with Session(world.engine) as s:
        evidence = s.exec(select(Evidence)).one()
        assert evidence.version == 1 and evidence.submitted_by == "head@school1.example"
        assert evidence.values == {
            "summary": "Приказ издан, пары закреплены",
            "mentors": 4,
            "held_on": "2022-09-02",
            "page": "https://school1.example/news/42",
        }
        stored = s.exec(select(EvidenceFile)).one()
        assert stored.original_name == "приказ.pdf" and stored.field == "order"
        assert stored.sha256 == hashlib.sha256(PDF).hexdigest() and stored.size == len(PDF)
        assert "приказ" not in stored.stored_name and stored.stored_name.endswith(".pdf")
        assert stored.content_type == "application/pdf"
        event = s.exec(select(TaskEvent)).one()
        assert event.kind is TaskEventKind.submitted and event.actor == "head@school1.example"
        email = s.exec(select(OutgoingEmail)).one()
        assert email.kind == NoticeKind.receipt.value and email.to_addr == "head@school1.example"
    # the bytes live in the database, where every machine (and a backup) sees them
    with Session(world.engine) as s:
        blob = s.get(FileBlob, stored.blob_id)
        assert blob is not None and blob.content == PDF
    assert uploaded_files(world.settings) == []

    page = client.get(world.path)
    assert "Ответ 1" in page.text and "приказ.pdf" in page.text and "02.09.2022" in page.text
    file_link = re.search(rf'href="({re.escape(world.path)}/files/\d+)"', page.text)
    assert file_link is not None
    download = client.get(file_link[1])
    assert download.content == PDF and "attachment" in download.headers["content-disposition"]


def test_field_errors_are_shown_next_to_fields_and_values_kept(
    client: TestClient, world: World
) -> None:
    before = counts(world.engine)
    response = client.post(
        world.path,
        data={
            "summary": "Сделано частично",
            "mentors": "-3",
            "held_on": "31.02.2022",
            "page": "школа",
        },
        follow_redirects=False,
    )
    assert response.status_code == 422
    text = response.text
    assert "Укажите целое неотрицательное число" in text
    assert "Укажите дату в виде ДД.ММ.ГГГГ" in text
    assert "Приложите файл." in text
    assert "Укажите адрес ссылки целиком" in text
    assert 'value="Сделано частично"' in text and 'value="-3"' in text
    assert counts(world.engine) == before
    assert get_task(world.engine, world.task_id).status is TaskStatus.open


def test_an_oversize_upload_is_refused(tmp_path: Path, engine: Engine, clock: Clock) -> None:
    settings = make_settings(tmp_path, upload_max_bytes=2048)
    world = build_world(settings, engine)
    client = TestClient(create_app(settings, engine, clock), base_url=BASE)
    before = counts(engine)
    big = PDF + b"0" * 3000
    response = client.post(world.path, data=good_form(), files=pdf_file(content=big))
    assert response.status_code == 422 and "слишком большой" in response.text
    assert counts(engine) == before and uploaded_files(settings) == []


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("setup.exe", b"MZ\x90\x00" + b"\x00" * 60, "такой тип не принимается"),
        ("приказ.pdf", PNG, "не похож на файл PDF"),
        ("scan.png", PDF, "не похож на файл PNG"),
        ("notes.txt", b"\x00\x01\x02binary", "не похож на файл TXT"),
        ("empty.pdf", b"", "пуст"),
    ],
)
def test_a_disallowed_file_is_refused(
    client: TestClient, world: World, name: str, content: bytes, message: str
) -> None:
    before = counts(world.engine)
    response = client.post(world.path, data=good_form(), files=pdf_file(name, content))
    assert response.status_code == 422 and message in response.text
    assert counts(world.engine) == before and uploaded_files(world.settings) == []


def test_office_images_text_and_zip_are_accepted(world: World, engine: Engine) -> None:
    files = [
        UploadedFile("order", "a.docx", b"PK\x03\x04rest", ""),
        UploadedFile("order", "b.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", ""),
        UploadedFile("order", "c.jpg", b"\xff\xd8\xff\xe0rest", ""),
        UploadedFile("order", "d.txt", "Протокол заседания".encode("cp1251"), ""),
        UploadedFile("order", r"C:\Users\head\e.zip", b"PK\x05\x06" + b"\x00" * 18, ""),
    ]
    with Session(engine, expire_on_commit=False) as s:
        task = s.get(Task, world.task_id)
        assert task is not None
        evidence = submit_answer(
            session=s,
            task=task,
            values=good_form(),
            files=files,
            by="x@y.example",
            settings=world.settings,
            now=START,
        )
        names = s.exec(
            select(EvidenceFile.original_name).where(EvidenceFile.evidence_id == evidence.id)
        ).all()
        s.commit()
    assert sorted(names) == ["a.docx", "b.xls", "c.jpg", "d.txt", "e.zip"]


def test_evidence_text_is_escaped_on_the_pages_and_in_the_receipt(
    client: TestClient, world: World
) -> None:
    attack = "<script>alert(1)</script>"
    response = submit(client, world, summary=attack)
    assert response.status_code == 303
    page = client.get(world.path)
    assert attack not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    with Session(world.engine) as s:
        email = s.exec(select(OutgoingEmail)).one()
    assert "<script>" not in email.html_body
    assert "&lt;script&gt;" in email.html_body
    assert login(client).status_code == 303
    admin_page = client.get(f"/admin/tasks/{world.task_id}")
    assert (
        attack not in admin_page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in admin_page.text
    )


def test_a_form_posted_from_another_site_is_refused(client: TestClient, world: World) -> None:
    before = counts(world.engine)
    response = client.post(
        world.path, data=good_form(), files=pdf_file(), headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert counts(world.engine) == before


def test_the_task_page_says_when_the_answer_is_overdue(
    client: TestClient, world: World, clock: Clock
) -> None:
    on_due_day = client.get(world.path)
    assert "ожидает ответа" in on_due_day.text and "просрочено" not in on_due_day.text
    clock.now = datetime(2022, 9, 15, 6, 0, tzinfo=UTC)  # the day after the due date
    page = client.get(world.path)
    assert '<span class="status status-open">просрочено (ожидает ответа)</span>' in page.text
    assert client.get(f"/api/tasks/{world.token}").json()["status_label"] == (
        "просрочено (ожидает ответа)"
    )
    assert "просрочено (ожидает ответа)" in client.get(org_page_url(world)).text


def test_the_confirmation_is_shown_only_for_a_version_that_exists(
    client: TestClient, world: World
) -> None:
    for query in ("v=1", "v=99", "v=abc", "v=-1", ""):
        response = client.get(f"{world.path}/done?{query}", follow_redirects=False)
        assert response.status_code == 303, query
        assert response.headers["location"] == world.path
    assert submit(client, world).status_code == 303
    done = client.get(f"{world.path}/done?v=1")
    assert done.status_code == 200 and "отправлен на проверку в центр" in done.text
    missing = client.get(f"{world.path}/done?v=2", follow_redirects=False)
    assert missing.status_code == 303 and missing.headers["location"] == world.path


def _fail_after_files_are_written(engine: Engine, where: str) -> None:
    """Make the database refuse the answer after its files are written: inside the
    submission (a trigger refuses the task's `submitted` event) or only at COMMIT (a
    deferred foreign key broken by a trigger). (A receipt that cannot be written no
    longer fails the answer: it is reported, as any email that cannot be queued.)"""
    with engine.begin() as conn:
        if where == "flush":
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_event BEFORE INSERT ON task_event "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE TRIGGER break_task AFTER INSERT ON task_event "
                "BEGIN UPDATE task SET occurrence_id = 999999 WHERE id = NEW.task_id; END"
            )

    if where == "commit":

        @event.listens_for(engine, "begin")
        def _defer(conn: Connection) -> None:
            conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")


@pytest.mark.parametrize("where", ["flush", "commit"])
@pytest.mark.parametrize("route", ["page", "api"])
def test_a_failed_answer_leaves_no_files_behind(
    client: TestClient, world: World, where: str, route: str
) -> None:
    _fail_after_files_are_written(world.engine, where)
    before = counts(world.engine)
    path = world.path if route == "page" else f"/api/tasks/{world.token}/answer"
    response = client.post(path, data=good_form(), files=pdf_file(), follow_redirects=False)
    assert response.status_code == 409
    assert counts(world.engine) == before
    assert uploaded_files(world.settings) == []
    assert get_task(world.engine, world.task_id).status is TaskStatus.open


def test_an_answer_is_kept_when_its_receipt_cannot_be_written(
    client: TestClient, world: World
) -> None:
    """The receipt is one more email: one that cannot be queued is reported and stays
    owed, the head's answer is not refused for it."""
    with world.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse_receipt BEFORE INSERT ON outgoing_email "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )
    response = client.post(world.path, data=good_form(), files=pdf_file(), follow_redirects=False)
    assert response.status_code == 303
    assert get_task(world.engine, world.task_id).status is TaskStatus.submitted
    with Session(world.engine) as s:
        assert s.exec(select(Evidence).where(Evidence.task_id == world.task_id)).all()
        assert not s.exec(select(OutgoingEmail)).all()


def test_an_answer_at_00_30_in_moscow_shows_its_moscow_day_everywhere(
    client: TestClient, world: World
) -> None:
    """21:30 UTC on 14.09 is 00:30 on 15.09 in Moscow: the centre sees the 15th."""
    from domain.formatting import local_day, ru_date
    from domain.progress import item_progress

    late_evening = datetime(2022, 9, 14, 21, 30, tzinfo=UTC)
    with Session(world.engine, expire_on_commit=False) as s:
        task = s.get(Task, world.task_id)
        assert task is not None
        submit_answer(
            session=s,
            task=task,
            values=good_form(),
            files=[UploadedFile("order", "приказ.pdf", PDF, "application/pdf")],
            by="head@school1.example",
            settings=world.settings,
            now=late_evening,
        )
        s.commit()
        progress = item_progress(
            session=s, item_id=world.item_id, today=date(2022, 9, 15), tz=world.settings.tz
        )
    assert local_day(late_evening, world.settings.tz) == "15.09.2022"
    with pytest.raises(ValueError, match="local_day"):
        ru_date(late_evening)  # the UTC day would be the 14th
    answered = {row.organisation: row.answered for row in progress.rows}
    assert answered["СОШ № 1"] == "15.09.2022"
    assert login(client).status_code == 303
    page = client.get(f"/admin/tasks/{world.task_id}").text
    assert "15.09.2022 00:30" in page and "14.09.2022 21:30" not in page
    rows = list(csv.reader(io.StringIO(client.get("/admin/tasks.csv").text), delimiter=";"))
    assert any("15.09.2022 00:30" in row for row in rows)
    # the workbook export holds the district's time as a real date and time
    book = load_workbook(io.BytesIO(client.get("/admin/tasks.xlsx").content))
    times = [c.value for row in book.active.iter_rows(min_row=2) for c in row]
    assert datetime(2022, 9, 15, 0, 30) in times
    assert datetime(2022, 9, 14, 21, 30) not in times
    # the receipt says when, in the district's time
    with Session(world.engine) as s:
        receipt = s.exec(select(OutgoingEmail).where(OutgoingEmail.kind == "receipt")).one()
    for body in (receipt.text_body, receipt.html_body):
        assert "15.09.2022 00:30" in body and "21:30" not in body

"""Upgrades: a database made with the first release's schema, with data, upgrades to head."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import JSON, Connection, Engine, text
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlmodel import Session, SQLModel, select

from config.runtime import open_engine
from domain.access import AccessLink
from domain.db import alembic_config, make_engine, upgrade
from domain.emails import Notice, OutgoingEmail
from domain.enums import EmailStatus, NoticeKind, TaskStatus
from domain.evidence import Evidence, EvidenceFile
from domain.legacy_uploads import adopt_legacy_uploads
from domain.organisations import Organisation
from domain.tasks import Task
from domain.types import UTCDateTime
from notifications.delivery import deliver_due
from services.answers import stored_content
from tests.conftest import make_settings, scratch_database
from tests.smtp import SmtpSink


def upgrade_to(engine: Engine, revision: str) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


@pytest.fixture(params=["sqlite", "postgres"])
def blank(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{(tmp_path / 'old.db').as_posix()}")
        yield eng
        eng.dispose()
        return
    url, drop = scratch_database("roadmap_m")
    eng = make_engine(url)
    yield eng
    eng.dispose()
    drop()


FIRST_RELEASE_DATA = [
    "INSERT INTO roadmap (id, code, title, order_number, order_date, district) "
    "VALUES (1, '209-od-2022', 'Дорожная карта', '209-од', '2022-04-08', 'ЛМО')",
    "INSERT INTO roadmap_item (id, roadmap_id, number, slug, section, title, schedule_text, "
    "schedule, needs_dates, responsible, assignees, expected_result, evidence_spec, "
    "owner_name, owner_email) VALUES (1, 1, 13, 'item-13', 'Раздел', 'Банк наставников', "
    "'до 15.09.2022', '{}', false, 'Руководители ОО', '{}', 'Банк', '{}', '', '')",
    "INSERT INTO stored_summary (id, cycle, created_at, directory) "
    "VALUES (1, '2022/2023', '2023-09-01 06:00:00+00', 'a'), "
    "(2, '2022/2023', '2023-09-02 06:00:00+00', 'b')",
]


def test_the_first_release_upgrades_to_head_with_its_data(blank: Engine) -> None:
    upgrade_to(blank, "0001")
    with blank.begin() as conn:
        for statement in FIRST_RELEASE_DATA:
            conn.execute(text(statement))
    upgrade(blank)
    with blank.connect() as conn:
        roadmap = conn.execute(text("SELECT key, centre, activated_at FROM roadmap")).one()
        item = conn.execute(text("SELECT number, label, withdrawn FROM roadmap_item")).one()
        summaries = conn.execute(
            text("SELECT roadmap_id, cycle, kind, note FROM stored_summary")
        ).all()
    assert roadmap.key == "209-od-2022" and roadmap.activated_at is None
    assert (item.number, item.label, bool(item.withdrawn)) == (13, "13", False)
    # the duplicate rows two machines wrote become one, kept per (roadmap, cycle, kind)
    assert [tuple(r)[:3] for r in summaries] == [(1, "2022/2023", "yearly")]
    # its folder "b" is not there: the row stays, with a note saying to write it again
    assert "не найдены в b" in summaries[0].note
    with blank.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == [], "the migrations build exactly the schema the models describe"


@pytest.mark.postgres
def test_three_first_starts_at_once_take_turns(tmp_path: Path) -> None:
    """Three processes opening an empty PostgreSQL database at once: one migrates, the
    others wait for it and find the schema current (none dies on `alembic_version`)."""
    import subprocess
    import sys

    url, drop = scratch_database("roadmap_c")
    script = (
        "import sys; from domain.db import make_engine, upgrade; upgrade(make_engine(sys.argv[1]))"
    )
    try:
        starts = [
            subprocess.Popen([sys.executable, "-c", script, url], stderr=subprocess.PIPE)
            for _ in range(3)
        ]
        errors = [p.communicate(timeout=120)[1].decode() for p in starts]
        assert [p.returncode for p in starts] == [0, 0, 0], errors
        eng = make_engine(url)
        with eng.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        eng.dispose()
    finally:
        drop()


T0 = datetime(2022, 4, 8, 6, 0, tzinfo=UTC)
UPLOAD = b"%PDF-1.4\n%\xe2\xe3\n"


def first_release_world(conn: Connection) -> dict[str, int]:
    """A running first release's rows in its own schema (0001): an administrator, a school,
    an item's occurrence with the school's and the centre's task, a personal link, an
    answer with a file kept under var/uploads, its events, the announcement (sent) and a
    chase still in retry with their notices, and a summary. Returns rows per table."""
    ts, js = UTCDateTime(), JSON()

    def add(table_name: str, /, **values: Any) -> None:
        types = {
            k: ts if isinstance(v, datetime) else js if isinstance(v, dict | list) else None
            for k, v in values.items()
        }
        table = sa_table(table_name, *[sa_column(k, t) for k, t in types.items()])
        conn.execute(table.insert().values(**values))

    for statement in FIRST_RELEASE_DATA[:2]:
        conn.execute(text(statement))
    add("stored_summary", id=1, cycle="2022/2023", created_at=T0, directory="/nowhere/2022-2023")
    add(
        "admin_user",
        id=1,
        email="metodist@centre.ru",
        name="Методист",
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        active=True,
        created_at=T0,
    )
    add(
        "organisation",
        id=1,
        name="МКОУ СОШ № 1",
        short_name="СОШ № 1",
        kind="school",
        head_name="Иванова Анна Петровна",
        head_email="head@school1.ru",
        curator_name="Петров Пётр",
        curator_email="curator@school1.ru",
        active=True,
        updated_at=T0,
    )
    add(
        "occurrence",
        id=1,
        item_id=1,
        cycle="2022/2023",
        opens=date(2022, 4, 8),
        due=date(2022, 9, 14),
        continuous=False,
        opened_at=T0,
    )
    for task_id, org, key, role, status in (
        (1, 1, "org:1", "head", "submitted"),
        (2, None, "centre", "centre", "open"),
    ):
        add(
            "task",
            id=task_id,
            occurrence_id=1,
            item_id=1,
            organisation_id=org,
            assignee_key=key,
            role=role,
            status=status,
            due=date(2022, 9, 14),
            opened_at=T0,
            submitted_at=T0 if status == "submitted" else None,
            accepted_at=None,
            escalated_at=None,
            revision=0,
            updated_at=T0,
        )
    add(
        "access_link",
        id=1,
        task_id=1,
        organisation_id=1,
        recipient="head@school1.ru",
        created_at=T0,
        expires_at=datetime(2022, 11, 14, tzinfo=UTC),
        revoked_at=None,
    )
    add(
        "evidence",
        id=1,
        task_id=1,
        version=1,
        submitted_at=T0,
        submitted_by="head@school1.ru",
        values={"order": "Приказ № 5", "scan": ["1"]},
        review_note="",
    )
    add(
        "evidence_file",
        id=1,
        evidence_id=1,
        field="scan",
        original_name="приказ.pdf",
        stored_name="1/1/prikaz.pdf",
        size=len(UPLOAD),
        sha256=hashlib.sha256(UPLOAD).hexdigest(),
        content_type="application/pdf",
    )
    for email_id, kind, status, sent_at in ((1, "opened", "sent", T0), (2, "chase", "retry", None)):
        add(
            "outgoing_email",
            id=email_id,
            message_id=f"<task-1.{kind}.{email_id - 1}@centre.ru>",
            kind=kind,
            to_addr="head@school1.ru",
            cc_addrs=["curator@school1.ru"],
            subject=f"Письмо {kind}",
            text_body="Здравствуйте!\n",
            html_body="<p>Здравствуйте!</p>",
            attachments=[],
            status=status,
            attempts=1,
            created_at=T0,
            next_attempt_at=datetime(2022, 9, 15, 6, 5, tzinfo=UTC),
            claimed_until=None,
            sent_at=sent_at,
            last_error="" if sent_at else "421 try later",
        )
        add(
            "notice",
            id=email_id,
            task_id=1,
            kind=kind,
            step=email_id - 1,
            on_day=date(2022, 4, 8) if kind == "opened" else date(2022, 9, 15),
            recipient="head@school1.ru",
            email_id=email_id,
            created_at=T0,
        )
    for event_id, kind, before, after, actor in (
        (1, "opened", None, "open", "system"),
        (2, "submitted", "open", "submitted", "head@school1.ru"),
        (3, "opened", None, "open", "system"),
    ):
        add(
            "task_event",
            id=event_id,
            task_id=1 if event_id < 3 else 2,
            at=T0,
            kind=kind,
            from_status=before,
            to_status=after,
            actor=actor,
            note="",
        )
    return {
        "admin_user": 1,
        "organisation": 1,
        "roadmap": 1,
        "roadmap_item": 1,
        "occurrence": 1,
        "task": 2,
        "access_link": 1,
        "evidence": 1,
        "evidence_file": 1,
        "outgoing_email": 2,
        "notice": 2,
        "task_event": 3,
        "stored_summary": 1,
    }


async def test_a_running_first_release_upgrades_and_the_engine_carries_on(
    blank: Engine, tmp_path: Path
) -> None:
    """Every table of the first release with rows in it (SQLite rebuilds most of them in
    batch migrations): after the upgrade every row is still there and loads, and the
    engine goes on from them: the upload is read (and moved into the database by the
    machine that has it), the chase in retry leaves once."""
    upgrade_to(blank, "0001")
    with blank.begin() as conn:
        rows = first_release_world(conn)
    upgrade(blank)
    with blank.connect() as conn:
        for table, count in rows.items():
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == count, table
    with Session(blank) as s:
        for mapper in SQLModel._sa_registry.mappers:  # every row of every table loads
            s.exec(select(mapper.class_)).all()
        task = s.get(Task, 1)
        link = s.get(AccessLink, 1)
        assert task is not None and task.status is TaskStatus.submitted
        assert task.next_notice_on is None and task.opened_at == T0
        assert link is not None and link.recipient_role == ""
        evidence = s.exec(select(Evidence)).one()
        assert evidence.values["order"] == "Приказ № 5" and evidence.reopened_until is None
        [upload] = s.exec(select(EvidenceFile)).all()
        assert upload.blob_id is None  # still read from var/uploads, as before
        emails = {e.kind: e for e in s.exec(select(OutgoingEmail)).all()}
        assert emails["opened"].status is EmailStatus.sent
        assert emails["chase"].status is EmailStatus.retry
        assert emails["chase"].cc_addrs == ["curator@school1.ru"]
        notices = {(n.kind, n.step, n.email_id) for n in s.exec(select(Notice)).all()}
        assert notices == {(NoticeKind.opened, 0, 1), (NoticeKind.chase, 1, 2)}
        assert s.exec(select(Organisation)).one().deputy_email == ""
    settings = make_settings(tmp_path, database_url=blank.url.render_as_string(False))
    upload_path = settings.uploads_dir / "1/1/prikaz.pdf"
    upload_path.parent.mkdir(parents=True)
    upload_path.write_bytes(UPLOAD)
    with Session(blank) as s:
        assert stored_content(s, upload, settings) == UPLOAD  # from the disk, as before
    # a machine without the file moves nothing; the one that has it moves it into the
    # database when it next starts, and then every machine reads it from there
    assert adopt_legacy_uploads(blank, tmp_path / "other-machine" / "uploads") == 0
    open_engine(settings).dispose()
    upload_path.unlink()
    with Session(blank) as s:
        moved = s.get(EvidenceFile, upload.id)
        assert moved is not None and moved.blob_id is not None
        assert stored_content(s, moved, settings) == UPLOAD
    with SmtpSink() as sink:
        mail = make_settings(
            tmp_path,
            database_url=settings.database_url,
            smtp_host="127.0.0.1",
            smtp_port=sink.port,
        )
        later = datetime(2022, 9, 15, 7, 0, tzinfo=UTC)
        report = await deliver_due(engine=blank, settings=mail, now=later)
        again = await deliver_due(engine=blank, settings=mail, now=later)
        assert report.sent == 1 and again.sent == 0
        assert [m.message["Message-ID"] for m in sink.messages] == ["<task-1.chase.1@centre.ru>"]

"""`roadmap backup` / `roadmap restore`: a round trip on SQLite and PostgreSQL (and from
one to the other) with tasks, evidence, uploaded files, summaries and emails; ids kept,
sequences continued, a non-empty database refused; database URL errors in the settings."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session
from typer.testing import CliRunner

from config.settings import Settings, SettingsError, get_settings, load_settings
from domain.access import SUMMARY_YEARLY
from domain.backup import BackupError, dump, restore, tables
from domain.db import make_engine, upgrade
from domain.emails import OutgoingEmail
from domain.enums import OrgKind, TaskEventKind
from domain.evidence import EvidenceFile, FileBlob
from domain.organisations import Organisation
from domain.stored_summaries import StoredSummaryFile, SummaryFile, file_content, store_summary
from domain.tasks import Task, TaskEvent
from services.answers import UploadedFile, submit_answer
from tests.conftest import make_settings, scratch_database
from tests.portal_world import PDF, START, build_world, good_form

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SUMMARY_MD = "# Аналитическая справка\n\nВсего задач: 2\n"
SUMMARY_FILES = {
    "md": SummaryFile("summary-2022-2023.md", SUMMARY_MD.encode("utf-8")),
    "docx": SummaryFile("summary-2022-2023.docx", b"PK\x03\x04" + bytes(range(256))),
}


def stored_summary_bytes(engine: Engine) -> dict[str, bytes]:
    """{file name: bytes} of every stored summary file, read back from the database."""
    with Session(engine) as s:
        return {
            f.file_name: file_content(s, f)
            for f in s.exec(select(StoredSummaryFile)).scalars()  # type: ignore[call-overload]
        }


def fill(settings: Settings, engine: Engine) -> None:
    """Tasks, an answer with its uploaded file, its receipt email, a stored summary."""
    world = build_world(settings, engine)
    with Session(engine, expire_on_commit=False) as s:
        task = s.get(Task, world.task_id)
        assert task is not None
        submit_answer(
            session=s,
            task=task,
            values=good_form(),
            files=[UploadedFile("order", "приказ «№ 1».pdf", PDF, "application/pdf")],
            by="head@school1.example",
            settings=settings,
            now=START,
        )
        # an upload an earlier release kept only under the var folder
        legacy = settings.var_dir / "uploads" / "legacy" / "answer-2021.pdf"
        legacy.parent.mkdir(parents=True)
        legacy.write_bytes(PDF)
        store_summary(
            s,
            roadmap_id=1,
            cycle="2022/2023",
            kind=SUMMARY_YEARLY,
            as_of=date(2023, 8, 31),
            at=START,
            files=SUMMARY_FILES,
        )
        s.commit()


def snapshot(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    with engine.connect() as conn:
        return {
            t.name: [
                dict(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns)).mappings()
            ]
            for t in tables()
        }


def files_of(var_dir: Path) -> dict[str, bytes]:
    return {
        p.relative_to(var_dir).as_posix(): p.read_bytes()
        for folder in ("uploads",)
        for p in sorted((var_dir / folder).rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def new_database(tmp_path: Path) -> Iterator[Callable[[str], Engine]]:
    """Empty migrated databases: `new_database("sqlite")` or `new_database("postgres")`."""
    made: list[tuple[Engine, Callable[[], None]]] = []

    def make(kind: str) -> Engine:
        if kind == "sqlite":
            eng = make_engine(f"sqlite:///{tmp_path / f'restored-{len(made)}.db'}")
            made.append((eng, lambda: None))
        else:
            url, drop = scratch_database("roadmap_t")
            eng = make_engine(url)
            made.append((eng, drop))
        upgrade(eng)
        return eng

    yield make
    for eng, drop in made:
        eng.dispose()
        drop()


def back_up(engine: Engine, settings: Settings, out: Path) -> None:
    with engine.connect() as conn, conn.begin():
        dump(conn, var_dir=settings.var_dir, out=out, now=NOW)


def restore_into(engine: Engine, archive: Path, var_dir: Path, *, force: bool = False) -> None:
    with engine.begin() as conn:
        restore(conn, archive_path=archive, var_dir=var_dir, force=force)


def kind_of(engine: Engine) -> str:
    return "sqlite" if engine.dialect.name == "sqlite" else "postgres"


def test_a_backup_restores_row_for_row_with_its_files(
    any_engine: Engine,
    settings: Settings,
    tmp_path: Path,
    new_database: Callable[[str], Engine],
) -> None:
    fill(settings, any_engine)
    before = snapshot(any_engine)
    assert before["task"] and before["evidence_file"] and before["outgoing_email"]
    assert before["notice"] or before["task_event"]
    stored = files_of(settings.var_dir)
    # uploads and summaries live in the database (file_blob) and travel with its rows;
    # only an earlier release's upload is a file of the var folder
    assert before["file_blob"] and before["stored_summary_file"]
    assert list(stored) == ["uploads/legacy/answer-2021.pdf"]
    assert stored_summary_bytes(any_engine) == {
        f.file_name: f.content for f in SUMMARY_FILES.values()
    }

    archive = tmp_path / "backup.zip"
    back_up(any_engine, settings, archive)
    with zipfile.ZipFile(archive) as z:
        manifest = json.loads(z.read("manifest.json"))
        names = z.namelist()
    assert manifest["rows"]["task"] == len(before["task"])
    assert manifest["tables"].index("roadmap") < manifest["tables"].index("roadmap_item")
    assert manifest["tables"].index("task") < manifest["tables"].index("evidence_file")
    assert sum(n.startswith("tables/") for n in names) == len(tables())
    assert {n for n in names if n.startswith("files/")} == {f"files/{n}" for n in stored}

    target = new_database(kind_of(any_engine))
    var_dir = tmp_path / "elsewhere" / "var"
    restore_into(target, archive, var_dir)

    after = snapshot(target)
    assert after == before  # every table, every column, ids kept
    assert files_of(var_dir) == stored
    assert stored_summary_bytes(target) == stored_summary_bytes(any_engine)
    with Session(target) as s:
        upload = s.exec(select(EvidenceFile)).scalars().one()  # type: ignore[call-overload]
        assert s.get(FileBlob, upload.blob_id).content == PDF  # type: ignore[union-attr]
        email = s.exec(select(OutgoingEmail)).scalars().first()  # type: ignore[call-overload]
        assert email is not None and email.created_at.tzinfo is not None

    # new rows continue after the restored ids (PostgreSQL sequences reset)
    with Session(target) as s:
        event = TaskEvent(
            task_id=before["task"][0]["id"],
            at=NOW,
            kind=TaskEventKind.submitted,
            actor="test",
            note="",
        )
        org = Organisation(
            name="МКОУ СОШ № 9", short_name="СОШ № 9", kind=OrgKind.school, head_name="Новый",
            head_email="head@school9.example",
        )  # fmt: skip
        s.add_all([event, org])
        s.commit()
        assert event.id == max(r["id"] for r in before["task_event"]) + 1
        assert org.id == max(r["id"] for r in before["organisation"]) + 1

    # a database with data is refused, files and rows untouched; --force replaces it all
    with pytest.raises(BackupError, match="--force") as refused:
        restore_into(target, archive, var_dir)
    assert "не пуста" in str(refused.value) and "organisation: 3" in str(refused.value)
    (var_dir / "uploads").mkdir(parents=True, exist_ok=True)
    (var_dir / "uploads" / "stray.txt").write_text("left over", encoding="utf-8")
    restore_into(target, archive, var_dir, force=True)
    assert snapshot(target) == before
    assert files_of(var_dir) == stored


@pytest.mark.postgres
def test_a_sqlite_backup_restores_into_postgresql(
    engine: Engine, settings: Settings, tmp_path: Path, new_database: Callable[[str], Engine]
) -> None:
    fill(settings, engine)
    before = snapshot(engine)
    archive = tmp_path / "move.zip"
    back_up(engine, settings, archive)
    target = new_database("postgres")
    restore_into(target, archive, settings.var_dir, force=True)
    assert snapshot(target) == before


def test_damaged_or_foreign_archives_are_refused(
    engine: Engine, settings: Settings, tmp_path: Path, new_database: Callable[[str], Engine]
) -> None:
    target = new_database("sqlite")
    not_zip = tmp_path / "notes.zip"
    not_zip.write_text("не архив", encoding="utf-8")
    with pytest.raises(BackupError, match="не удаётся открыть архив"):
        restore_into(target, not_zip, tmp_path / "v")
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as z:
        z.writestr("data.txt", "x")
    with pytest.raises(BackupError, match=r"нет manifest\.json"):
        restore_into(target, foreign, tmp_path / "v")

    fill(settings, engine)
    good = tmp_path / "good.zip"
    back_up(engine, settings, good)

    def rewrite(name: str, change: Callable[[str, bytes], bytes]) -> Path:
        out = tmp_path / name
        with zipfile.ZipFile(good) as src, zipfile.ZipFile(out, "w") as dst:
            for member in src.namelist():
                dst.writestr(member, change(member, src.read(member)))
        return out

    def older(member: str, data: bytes) -> bytes:
        if member != "manifest.json":
            return data
        manifest = json.loads(data)
        manifest["schema_revision"] = "0001"
        return json.dumps(manifest).encode()

    with pytest.raises(BackupError, match="при схеме 0001"):
        restore_into(target, rewrite("older.zip", older), tmp_path / "v")

    def bad_line(member: str, data: bytes) -> bytes:
        return data.replace(b'"due": "2022-09-14"', b'"due": "14.09.2022"')

    with pytest.raises(
        BackupError, match=r"-occurrence\.jsonl, строка 1: столбец due: .*14\.09\.2022"
    ):
        restore_into(target, rewrite("bad.zip", bad_line), tmp_path / "v")

    def flipped(member: str, data: bytes) -> bytes:
        return data[::-1] if member.startswith("files/uploads/") else data

    with pytest.raises(BackupError, match="не совпадает с контрольной суммой"):
        restore_into(target, rewrite("flipped.zip", flipped), tmp_path / "v")
    # every failure rolled back: the database is still empty
    assert not any(snapshot(target).values())


def test_backup_and_restore_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.main import app

    def use(folder: Path) -> Settings:
        monkeypatch.setenv("ROADMAP_VAR_DIR", str(folder))
        monkeypatch.setenv("ROADMAP_DATABASE_URL", f"sqlite:///{folder / 'roadmap.db'}")
        get_settings.cache_clear()
        return get_settings()

    source = use(tmp_path / "a")
    eng = make_engine(source.effective_database_url)
    upgrade(eng)
    fill(make_settings(tmp_path, var_dir=source.var_dir), eng)
    before = snapshot(eng)
    eng.dispose()
    runner = CliRunner()
    out = runner.invoke(app, ["backup", "-o", str(tmp_path / "b.zip")])
    assert out.exit_code == 0, out.output
    assert "резервная копия записана" in out.output and "файлов: 1" in out.output

    target = use(tmp_path / "b")
    done = runner.invoke(app, ["restore", str(tmp_path / "b.zip")])
    assert done.exit_code == 0, done.output
    assert "восстановлено" in done.output
    restored = make_engine(target.effective_database_url)
    after = snapshot(restored)
    assert after == before
    again = runner.invoke(app, ["restore", str(tmp_path / "b.zip")])
    assert again.exit_code == 1 and "--force" in again.output
    missing = runner.invoke(app, ["restore", str(tmp_path / "nothing.zip")])
    assert missing.exit_code == 2 and "nothing.zip" in missing.output
    restored.dispose()
    get_settings.cache_clear()


@pytest.mark.parametrize(
    "url",
    [
        "postgres://roadmap:secret@db.local/roadmap",
        "postgresql+asyncpg://roadmap:secret@db.local/roadmap",
        "sqlite+aiosqlite:///var/roadmap.db",
        "postgresql+psycopg2://roadmap:secret@db.local/roadmap",
        "mysql://roadmap:secret@db.local/roadmap",
        "var/roadmap.db",
    ],
)
def test_database_urls_that_cannot_work_are_refused(url: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(database_url=url)
    message = str(refused.value)
    assert "ROADMAP_DATABASE_URL" in message
    assert "postgresql+psycopg://user:pass@host/db" in message
    assert "secret" not in message


def test_working_database_urls_pass() -> None:
    for url in (
        "",
        "sqlite:///var/x.db",
        "sqlite+pysqlite:///var/x.db",
        "postgresql+psycopg://u:p@h:5432/db",
        "postgresql://u:p@h:5432/db",  # SQLAlchemy 2.1's default PostgreSQL driver: psycopg
    ):
        assert load_settings(database_url=url).database_url == url

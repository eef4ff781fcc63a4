"""Written summaries live in the domain database: the summary flow stores every format
(replacing, not adding), the portal serves them from there, `-o` still writes a copy,
and an upgrade moves the files earlier releases left under the var folder."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, text
from sqlmodel import Session, select

from config.runtime import cached_engine
from config.settings import Settings, get_settings
from domain.access import SUMMARY_YEARLY, StoredSummary
from domain.db import make_engine, upgrade
from domain.emails import OutgoingEmail
from domain.evidence import FileBlob
from domain.stored_summaries import StoredSummaryFile, file_content, summary_files
from portal.app import create_app
from portal.auth import create_admin
from tests.portal_world import ADMIN_EMAIL, ADMIN_PASSWORD, login
from tests.test_migrations import FIRST_RELEASE_DATA, blank, upgrade_to  # noqa: F401
from tests.test_summary import seed_world

AT = datetime(2023, 9, 15, 7, 0, tzinfo=UTC)
FORMATS = {"docx", "html", "md", "xlsx"}


@pytest.fixture
def installation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness: None
) -> Iterator[tuple[Settings, Engine]]:
    """The small summary world in an installation the flows read from the environment."""
    var = tmp_path / "var"
    monkeypatch.setenv("ROADMAP_VAR_DIR", str(var))
    monkeypatch.setenv("ROADMAP_DATABASE_URL", f"sqlite:///{(tmp_path / 'roadmap.db').as_posix()}")
    monkeypatch.delenv("ROADMAP_SMTP_HOST", raising=False)
    get_settings.cache_clear()
    cached_engine.cache_clear()
    settings = get_settings()
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    with Session(engine) as s:
        seed_world(s)
        create_admin(session=s, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, name="Методист", now=AT)
        s.commit()
    yield settings, engine
    engine.dispose()
    get_settings.cache_clear()
    cached_engine.cache_clear()


def stored(engine: Engine) -> tuple[list[StoredSummary], dict[str, bytes], int]:
    with Session(engine) as s:
        rows = list(s.exec(select(StoredSummary)).all())
        files = {f.format: file_content(s, f) for r in rows for f in summary_files(s, r.id or 0)}
        blobs = s.exec(select(func.count()).select_from(FileBlob)).one()
    return rows, files, int(blobs)


@pytest.mark.prefect
def test_the_flow_stores_every_format_in_the_database_and_replaces_it(
    installation: tuple[Settings, Engine], tmp_path: Path
) -> None:
    from flows.summary import summary_flow

    settings, engine = installation
    written = summary_flow("2022/2023", AT)
    assert set(written) == FORMATS
    rows, files, blobs = stored(engine)
    assert [(r.cycle, r.kind) for r in rows] == [("2022/2023", SUMMARY_YEARLY)]
    assert set(files) == FORMATS and blobs == 4
    assert files["md"].decode("utf-8").startswith("# Аналитическая справка")
    assert files["docx"][:2] == files["xlsx"][:2] == b"PK"
    assert not (settings.var_dir / "summaries").exists(), "nothing is written to var/"
    with Session(engine) as s:
        mail = s.exec(select(OutgoingEmail).where(OutgoingEmail.kind == "summary")).one()
        assert "/admin/summaries" in mail.text_body

    # written again (a second machine, a re-run): one row, four files, no orphan bytes
    out = tmp_path / "copies"
    again = summary_flow("2022/2023", AT, str(out))
    rows2, files2, blobs2 = stored(engine)
    assert [r.id for r in rows2] == [r.id for r in rows] and blobs2 == 4
    assert set(files2) == FORMATS
    # -o/out_dir still gets the files, the same bytes as the database holds
    assert {Path(p).name for p in again.values()} == {f"summary-2022-2023.{f}" for f in FORMATS}
    assert (out / "summary-2022-2023.md").read_bytes() == files2["md"]
    assert (out / "summary-2022-2023.xlsx").read_bytes() == files2["xlsx"]

    # the portal serves them from the database, to administrators only
    client = TestClient(create_app(settings, engine, lambda: AT), base_url="http://127.0.0.1:8765")
    anonymous = client.get("/admin/summaries", follow_redirects=False)
    assert anonymous.status_code == 303 and "/admin/login" in anonymous.headers["location"]
    with Session(engine) as s:
        ids = {f.format: f.id for f in s.exec(select(StoredSummaryFile)).all()}
    assert (
        client.get(f"/admin/summaries/files/{ids['md']}", follow_redirects=False).status_code == 303
    )
    assert login(client).status_code == 303
    page = client.get("/admin/summaries")
    assert page.status_code == 200
    assert "2022/2023" in page.text and "итоговая" in page.text
    for fmt, file_id in ids.items():
        assert f"/admin/summaries/files/{file_id}" in page.text
        got = client.get(f"/admin/summaries/files/{file_id}")
        assert got.status_code == 200 and got.content == files2[fmt]
        assert "attachment" in got.headers["content-disposition"]
        assert f"summary-2022-2023.{fmt}" in got.headers["content-disposition"]
    assert client.get("/admin/summaries/files/999999").status_code == 404


def test_an_upgrade_loads_the_files_left_in_var_and_notes_missing_ones(
    blank: Engine,  # noqa: F811
    tmp_path: Path,
) -> None:
    folder = tmp_path / "var" / "summaries" / "r209" / "2022-2023"
    folder.mkdir(parents=True)
    (folder / "summary-2022-2023.md").write_text("# Справка\n", encoding="utf-8")
    (folder / "summary-2022-2023.docx").write_bytes(b"PK\x03\x04word")
    gone = tmp_path / "other-machine" / "2023-2024"
    upgrade_to(blank, "0001")
    with blank.begin() as conn:
        conn.execute(text(FIRST_RELEASE_DATA[0]))
    upgrade_to(blank, "0009")
    with blank.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO stored_summary (id, roadmap_id, cycle, kind, as_of, created_at, "
                "directory) VALUES (1, 1, '2022/2023', 'yearly', '2023-08-31', "
                "'2023-09-01 06:00:00+00', :a), (2, 1, '2023/2024', 'yearly', '2024-08-31', "
                "'2024-09-01 06:00:00+00', :b)"
            ),
            {"a": str(folder), "b": str(gone)},
        )
    upgrade(blank)
    with Session(blank) as s:
        first = s.get(StoredSummary, 1)
        second = s.get(StoredSummary, 2)
        assert first is not None and second is not None
        files = {f.file_name: file_content(s, f) for f in summary_files(s, 1)}
        assert summary_files(s, 2) == []
    assert files == {
        "summary-2022-2023.md": "# Справка\n".encode(),
        "summary-2022-2023.docx": b"PK\x03\x04word",
    }
    assert first.note == ""
    assert str(gone) in second.note and "сформируйте её заново" in second.note

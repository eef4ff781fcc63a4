"""`roadmap summary` on a database filled first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from docx import Document
from openpyxl import load_workbook
from sqlmodel import Session
from typer.testing import CliRunner

from cli import summary_cmd
from config.settings import get_settings
from domain.db import make_engine, upgrade
from tests.test_summary import seed_world

runner = CliRunner()

# The command on its own app, registered as cli/main.py does, so that this test does not
# depend on the other commands' modules.
app = typer.Typer(pretty_exceptions_enable=False)


@app.callback()
def _group() -> None:
    """Keep `summary` a subcommand, as in `roadmap summary`."""


summary_cmd.register(app)


@pytest.fixture
def filled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings from the environment pointing at a filled SQLite database; cwd = tmp_path."""
    db = tmp_path / "var" / "roadmap.db"
    monkeypatch.setenv("ROADMAP_DATABASE_URL", f"sqlite:///{db.as_posix()}")
    monkeypatch.setenv("ROADMAP_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ROADMAP_ROADMAP_FILE", str(tmp_path / "no-roadmap.yaml"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    engine = make_engine(f"sqlite:///{db.as_posix()}")
    upgrade(engine)
    with Session(engine) as session:
        seed_world(session)
        session.commit()
    engine.dispose()
    yield tmp_path
    get_settings.cache_clear()


def test_writes_the_format_the_extension_names(filled: Path) -> None:
    result = runner.invoke(
        app, ["summary", "--cycle", "2022/2023", "--as-of", "2023-09-15", "-o", "out/s.xlsx"]
    )
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "Справка записана: out/s.xlsx (xlsx)" in output
    assert "на дату 15.09.2023: 4 мероприятия, 3 организации, 9 заданий" in output
    assert "принято в срок 3 (33,3 %), принято с опозданием 3, просрочено 3, в работе 0" in output
    book = load_workbook(filled / "out" / "s.xlsx")
    totals = {row[2]: row[4] for row in book["Показатели"].iter_rows(min_row=2, values_only=True)}
    assert totals["Количество наставников"] == 57


def test_default_file_name_in_the_current_folder(filled: Path) -> None:
    result = runner.invoke(
        app, ["summary", "--cycle", "2022/2023", "--format", "md", "--as-of", "2023-09-15"]
    )
    assert result.exit_code == 0, result.output
    md = (filled / "summary-2022-2023.md").read_text(encoding="utf-8")
    assert "участвовали 3 организации" in md

    result = runner.invoke(app, ["summary", "--cycle", "2022-2023", "--as-of", "2023-09-15"])
    assert result.exit_code == 0, result.output
    doc = Document(str(filled / "summary-2022-2023.docx"))
    assert "АНАЛИТИЧЕСКАЯ СПРАВКА" in [p.text for p in doc.paragraphs[:3]]


def test_format_option_wins_over_the_extension(filled: Path) -> None:
    result = runner.invoke(
        app, ["summary", "--cycle", "2022/2023", "--format", "html", "-o", "report.txt"]
    )
    assert result.exit_code == 0, result.output
    assert (filled / "report.txt").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cycle", "2022/2024"], "укажите два года подряд, например 2022/2023"),
        (["--cycle", "next year"], "'next year' — не учебный год"),
        (["--cycle", "2020/2021"], "раньше первого учебного года дорожной карты 2022/2023"),
        (["--cycle", "2022/2023", "-o", "summary.pdf"], "по расширению не понять формат"),
        (["--cycle", "2022/2023", "--format", "pdf"], "'pdf' — неизвестный формат справки"),
        (["--cycle", "2022/2023", "--as-of", "15.09.2023"], "не дата"),
        (
            ["--cycle", "2022/2023", "--roadmap", "other"],
            "дорожной карты «other» нет; в базе: lmo-209",
        ),
    ],
)
def test_bad_input_exits_2_with_a_message(filled: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["summary", *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not list(filled.glob("summary*"))


def test_an_empty_database_says_what_to_do(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ROADMAP_DATABASE_URL", f"sqlite:///{(tmp_path / 'e.db').as_posix()}")
    monkeypatch.setenv("ROADMAP_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ROADMAP_ROADMAP_FILE", str(tmp_path / "none.yaml"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["summary", "--cycle", "2022/2023"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "в базе пока нет дорожной карты" in output and "import-roadmap" in output
    assert "Traceback" not in result.output


def test_an_unwritable_output_is_a_message(filled: Path) -> None:
    (filled / "taken").write_text("a file, not a folder", "utf-8")
    result = runner.invoke(app, ["summary", "--cycle", "2022/2023", "-o", "taken/s.md"])
    assert result.exit_code == 1
    assert "не удаётся записать справку в taken/s.md" in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_as_of_in_a_running_cycle_writes_an_interim_report(filled: Path) -> None:
    result = runner.invoke(
        app, ["summary", "--cycle", "2026/2027", "--as-of", "2027-01-15", "-o", "interim.docx"]
    )
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "Промежуточная справка записана: interim.docx (docx)" in output
    assert "на дату 15.01.2027" in output
    texts = [p.text for p in Document(str(filled / "interim.docx")).paragraphs]
    assert "ПРОМЕЖУТОЧНАЯ АНАЛИТИЧЕСКАЯ СПРАВКА" in texts
    assert "на дату 15.01.2027" in texts
    assert "за 2026/2027 учебный год, период 01.09.2026 – 31.08.2027" in texts

    result = runner.invoke(
        app, ["summary", "--cycle", "2022/2023", "--as-of", "2023-09-15", "-o", "final.md"]
    )
    assert result.exit_code == 0, result.output
    assert "Промежуточная" not in result.output
    assert (filled / "final.md").read_text("utf-8").startswith("# Аналитическая справка")


def test_as_of_before_the_cycle_is_refused(filled: Path) -> None:
    result = runner.invoke(app, ["summary", "--cycle", "2023/2024", "--as-of", "2023-05-01"])
    assert result.exit_code == 2, result.output
    assert "--as-of: 01.05.2023 раньше начала учебного года 2023/2024 (01.09.2023)" in " ".join(
        result.output.split()
    )


def test_no_report_for_a_cycle_that_ended_before_tracking_began(filled: Path) -> None:
    """Activated on 07.12.2026: 2025/2026 was never tracked (the summary flow writes no
    report for it either); the running 2026/2027 gets its interim report."""
    from datetime import UTC, datetime

    from sqlmodel import select

    from domain.roadmap import Roadmap

    engine = make_engine(f"sqlite:///{(filled / 'var' / 'roadmap.db').as_posix()}")
    with Session(engine) as session:
        roadmap = session.exec(select(Roadmap)).one()
        roadmap.activated_at = datetime(2026, 12, 7, 6, tzinfo=UTC)
        session.add(roadmap)
        session.commit()
    engine.dispose()
    refused = runner.invoke(
        app, ["summary", "--cycle", "2025/2026", "--as-of", "2026-12-07", "-o", "old.md"]
    )
    assert refused.exit_code == 2, refused.output
    assert "2025/2026 закончился до начала мониторинга дорожной карты lmo-209 (07.12.2026)" in (
        " ".join(refused.output.split())
    )
    assert not (filled / "old.md").exists()
    interim = runner.invoke(
        app, ["summary", "--cycle", "2026/2027", "--as-of", "2026-12-07", "-o", "now.md"]
    )
    assert interim.exit_code == 0, interim.output
    text = (filled / "now.md").read_text("utf-8")
    assert "Промежуточная аналитическая справка" in text
    assert "Мониторинг ведётся с 07.12.2026." in text

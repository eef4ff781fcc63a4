"""`roadmap tick` and `roadmap tasks list` as an administrator runs them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from cli.main import app
from config.runtime import cached_engine, open_engine
from config.settings import get_settings
from domain.tasks import Task

pytestmark = pytest.mark.prefect
ORGS = Path(__file__).resolve().parent.parent / "config" / "demo" / "organisations.csv"


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    var = tmp_path / "var"
    monkeypatch.setenv("ROADMAP_VAR_DIR", str(var))
    monkeypatch.setenv("ROADMAP_DATABASE_URL", f"sqlite:///{(var / 'roadmap.db').as_posix()}")
    for name in ("ROADMAP_SMTP_HOST", "ROADMAP_ROADMAP_FILE"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    cached_engine.cache_clear()
    yield var
    get_settings.cache_clear()
    cached_engine.cache_clear()


def test_tick_opens_announces_and_writes_mail_once(cli_env: Path, prefect_harness) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["orgs", "import", str(ORGS)]).exit_code == 0
    first = runner.invoke(app, ["tick", "--at", "2022-04-08T09:00"])
    assert first.exit_code == 0, first.output
    assert "Шаг цикла на 08.04.2022 09:00" in first.output
    assert "мероприятие 11: открыто (2022-04-08 – 2022-04-29)" in first.output
    mail = list((cli_env / "outbox").glob("*.eml"))
    assert mail, "without an SMTP host mail is written as .eml files"
    again = runner.invoke(app, ["tick", "--at", "2022-04-08T09:00", "--json"])
    assert again.exit_code == 0, again.output
    result = json.loads(again.stdout)
    assert result["opened"] == {} and result["notices"] == {"emails": 0}
    assert len(list((cli_env / "outbox").glob("*.eml"))) == len(mail)

    listed = runner.invoke(app, ["tasks", "list", "--item", "11", "--json"])
    assert listed.exit_code == 0, listed.output
    tasks = json.loads(listed.stdout)
    organisations = sum(1 for line in ORGS.read_text(encoding="utf-8").splitlines()[1:] if line)
    assert len(tasks) == organisations
    assert {t["due"] for t in tasks} == {"2022-04-29"}
    assert {t["status"] for t in tasks} == {"open"}

    # an answer at 00:30 in Moscow (21:30 UTC the day before) lists in the district's time
    settings = get_settings()
    with Session(open_engine(settings)) as session:
        task = session.get(Task, tasks[0]["id"])
        assert task is not None
        task.submitted_at = datetime(2022, 4, 10, 21, 30, tzinfo=UTC)
        session.add(task)
        session.commit()
    listed = runner.invoke(app, ["tasks", "list", "--item", "11", "--json"])
    first = next(t for t in json.loads(listed.stdout) if t["id"] == tasks[0]["id"])
    assert first["submitted_at"] == "2022-04-11T00:30:00+03:00"


def test_a_bad_instant_is_a_message_not_a_traceback(cli_env: Path) -> None:
    result = CliRunner().invoke(app, ["tick", "--at", "вчера"])
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output
    assert "Traceback" not in result.output

"""A real centre's first day: tracking starts when the centre starts, no email is huge,
several roadmaps run side by side. Run as an administrator would, through the commands."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from cli.main import app
from config.runtime import cached_engine
from config.settings import get_settings
from domain.access import StoredSummary
from domain.emails import Notice
from domain.enums import NoticeKind
from domain.roadmap_file import SHIPPED_ROADMAP, dump_roadmap_file, load_roadmap_file
from domain.tasks import Occurrence, Task

pytestmark = pytest.mark.prefect
ORGS = Path(__file__).resolve().parent.parent / "config" / "demo" / "organisations.csv"
LIMIT = 100 * 1024  # Gmail clips messages past about 100 KB
runner = CliRunner()


@pytest.fixture
def centre(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness) -> Iterator[Path]:
    """A fresh installation with the shipped order and the demo organisations."""
    var = tmp_path / "var"
    monkeypatch.setenv("ROADMAP_VAR_DIR", str(var))
    monkeypatch.setenv("ROADMAP_DATABASE_URL", f"sqlite:///{(var / 'roadmap.db').as_posix()}")
    for name in ("ROADMAP_SMTP_HOST", "ROADMAP_ROADMAP_FILE"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    cached_engine.cache_clear()
    assert runner.invoke(app, ["orgs", "import", str(ORGS)]).exit_code == 0
    yield var
    get_settings.cache_clear()
    cached_engine.cache_clear()


def tick(at: str) -> dict[str, Any]:
    result = runner.invoke(app, ["tick", "--at", at, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def mail(var: Path) -> list[EmailMessage]:
    messages = []
    for path in sorted((var / "outbox").glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def session() -> Session:
    return Session(cached_engine(get_settings().effective_database_url))


def test_the_first_tick_today_tracks_from_today(centre: Path) -> None:
    tick("2026-12-01T09:00")
    with session() as s:
        dues = s.exec(select(col(Task.due))).all()
        kinds = Counter(s.exec(select(Notice.kind)).all())
        summaries = s.exec(select(StoredSummary)).all()
        cycles = set(s.exec(select(Occurrence.cycle)).all())
    assert dues, "what is open today is opened"
    assert min(dues) >= date(2026, 12, 1), "nothing already overdue is opened"
    assert set(kinds) == {NoticeKind.opened}, kinds
    assert summaries == [], "no report for cycles that ended before tracking started"
    assert cycles == {"2026/2027"}
    messages = mail(centre)
    assert messages
    for message in messages:
        assert len(html_of(message).encode("utf-8")) < LIMIT
        assert "просроч" not in str(message["Subject"]).lower()
    listed = json.loads(runner.invoke(app, ["roadmaps", "list", "--json"]).stdout)
    assert listed[0]["activated_at"].startswith("2026-12-01T09:00")
    # the next working days chase nothing from before the start either
    tick("2026-12-02T09:00")
    tick("2026-12-10T09:00")
    with session() as s:
        chased = s.exec(
            select(col(Task.due))
            .join(Notice, col(Notice.task_id) == Task.id)
            .where(col(Notice.kind).in_([NoticeKind.chase, NoticeKind.escalation]))
        ).all()
    assert all(due >= date(2026, 12, 1) for due in chased)
    interim = centre / "interim.md"
    written = runner.invoke(
        app, ["summary", "--cycle", "2026/2027", "--as-of", "2026-12-10", "-o", str(interim)]
    )
    assert written.exit_code == 0, written.output
    assert "Мониторинг ведётся с 01.12.2026" in interim.read_text(encoding="utf-8")


def test_tracking_from_the_order_date_catches_up_in_readable_mail(centre: Path) -> None:
    """A centre that says "track from the order" gets four years at once: every digest and
    escalation lists the most urgent 25 and counts the rest, each under 100 KB."""
    activated = runner.invoke(app, ["activate", "209-od-2022", "--from", "2022-04-08"])
    assert activated.exit_code == 0, activated.output
    assert "отслеживание с 08.04.2022" in activated.output
    tick("2026-12-01T09:00")
    tick("2026-12-02T09:00")
    messages = mail(centre)
    big = [m for m in messages if "И ещё" in html_of(m)]
    assert big, "the catch-up has digests longer than a screenful"
    for message in messages:
        html = html_of(message)
        assert len(html.encode("utf-8")) < LIMIT, (message["Subject"], len(html))
        assert html.count("Ответить</a>") <= 25
    escalations = [m for m in messages if "Просрочки" in str(m["Subject"])]
    assert escalations and all("Открыть полный список" in html_of(m) for m in escalations)
    with session() as s:
        summaries = s.exec(select(StoredSummary.cycle)).all()
    assert sorted(summaries) == ["2022/2023", "2023/2024", "2024/2025", "2025/2026"]


def test_two_roadmaps_side_by_side(centre: Path, tmp_path: Path) -> None:
    shipped = load_roadmap_file(SHIPPED_ROADMAP)
    second = shipped.model_copy(
        update={
            "key": "tochka-rosta-2026",
            "title": "План мероприятий «Точка роста»",
            "order_number": "15-од",
            "items": [i for i in shipped.items if i.label in ("8", "13")],
        }
    )
    path = tmp_path / "second.yaml"
    path.write_text(dump_roadmap_file(second), encoding="utf-8")
    assert runner.invoke(app, ["tick", "--at", "2022-04-08T09:00"]).exit_code == 0  # first one
    loaded = runner.invoke(app, ["load", str(path)])
    assert loaded.exit_code == 0, loaded.output
    assert "дорожная карта tochka-rosta-2026 добавлена" in loaded.output
    assert (
        runner.invoke(app, ["activate", "tochka-rosta-2026", "--from", "2022-04-08"]).exit_code == 0
    )
    before = {p.name for p in (centre / "outbox").glob("*.eml")}
    result = tick("2022-09-01T09:00")
    opened = set(result["opened"])
    assert "tochka-rosta-2026/13" in opened, opened  # item 8 opens in April
    assert any(key.startswith("209-od-2022/") for key in opened), opened
    fresh = [
        m
        for p, m in zip(sorted((centre / "outbox").glob("*.eml")), mail(centre), strict=True)
        if p.name not in before
    ]
    # one email per person per day across both roadmaps (escalations go on their own)
    per_person = Counter(str(m["To"]) for m in fresh if "Просрочки" not in str(m["Subject"]))
    assert per_person and max(per_person.values()) == 1, per_person
    listed = runner.invoke(app, ["tasks", "list", "--roadmap", "tochka-rosta-2026", "--json"])
    tasks = json.loads(listed.stdout)
    assert tasks and {t["roadmap"] for t in tasks} == {"tochka-rosta-2026"}
    both = json.loads(runner.invoke(app, ["tasks", "list", "--item", "13", "--json"]).stdout)
    assert {t["roadmap"] for t in both} == {"209-od-2022", "tochka-rosta-2026"}
    ambiguous = runner.invoke(app, ["summary", "--cycle", "2022/2023", "-o", "x.md"])
    assert ambiguous.exit_code == 2 and "--roadmap" in ambiguous.output
    tick("2023-09-01T10:00")
    with session() as s:
        stored = s.exec(select(StoredSummary.roadmap_id, StoredSummary.cycle)).all()
    assert len(stored) == 2 and {c for _, c in stored} == {"2022/2023"}
    retired = runner.invoke(app, ["retire", "tochka-rosta-2026"])
    assert retired.exit_code == 0, retired.output
    later = tick("2023-09-15T09:00")
    assert not [k for k in later["opened"] if str(k).startswith("tochka")]

"""One bad record never stops the rest: each recipient's email is queued in its own
savepoint; a group that cannot be written is reported to the centre once."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from config.settings import Settings
from domain.emails import Notice, OutgoingEmail
from domain.enums import NoticeKind
from notifications.outbox import queue_notices
from tests.test_notifications import NOW, build_world, owed

CENTRE = "imcso@levokumskoe.example"
BAD_OWNER = "Иванова (методист)"


def emails(session: Session) -> list[OutgoingEmail]:
    return list(session.exec(select(OutgoingEmail).order_by(col(OutgoingEmail.id))).all())


def test_a_recipient_that_is_not_an_email_stops_only_its_own_group(
    engine: Engine, settings: Settings
):
    with Session(engine) as session:
        world = build_world(session, n_orgs=3)
        heads = [o.head_email for o in world.orgs]
        good = [
            owed(t, NoticeKind.chase, step=1, to=o.head_email)
            for t, o in zip(world.tasks13, world.orgs, strict=True)
        ]
        bad = [owed(t, NoticeKind.escalation, step=1, to=BAD_OWNER) for t in world.tasks13]
        written = queue_notices(session=session, owed=[*good, *bad], settings=settings, now=NOW)
        session.commit()
        bad_ids = sorted(t.id for t in world.tasks13 if t.id is not None)

        # every good recipient has their email, with its Notice rows
        assert sorted(e.to_addr for e in written) == sorted(heads)
        notices = session.exec(select(Notice)).all()
        assert {(n.kind, n.recipient) for n in notices} == {(NoticeKind.chase, h) for h in heads}
        # the centre is told, naming the address, the reason and the tasks
        [report] = [e for e in emails(session) if e.to_addr == CENTRE]
        assert report.kind == "queue_failure"
        assert BAD_OWNER in report.subject
        assert "не является адресом электронной почты" in report.text_body
        for task_id in bad_ids:
            assert f"{settings.portal_url}/admin/tasks/{task_id}" in report.text_body
        assert "эскалация" in report.text_body
        assert "roadmap.yaml" in report.text_body  # what to fix
        assert len(emails(session)) == len(heads) + 1

    # the next run (still owed: nothing was noticed) writes nothing new and tells the
    # centre nothing new
    with Session(engine) as session:
        again = queue_notices(session=session, owed=[*good, *bad], settings=settings, now=NOW)
        session.commit()
        assert again == []
        assert len(emails(session)) == len(heads) + 1


def test_a_broken_task_record_is_reported_and_the_others_go_out(engine: Engine, settings: Settings):
    with Session(engine) as session:
        world = build_world(session, n_orgs=2)
        org = world.orgs[0]
        missing = owed(world.tasks13[0], NoticeKind.opened, to=org.head_email)
        missing = type(missing)(
            task_id=987654,
            kind=missing.kind,
            step=0,
            on_day=missing.on_day,
            recipient="someone@school.example",
        )
        fine = owed(world.tasks13[1], NoticeKind.opened, to=world.orgs[1].head_email)
        written = queue_notices(session=session, owed=[missing, fine], settings=settings, now=NOW)
        session.commit()
        assert [e.to_addr for e in written] == [world.orgs[1].head_email]
        [report] = [e for e in emails(session) if e.to_addr == CENTRE]
        assert "someone@school.example" in report.subject
        assert "987654" in report.text_body
        assert "&lt;" not in report.subject


def test_a_bad_copy_address_is_isolated_too(engine: Engine, settings: Settings):
    with Session(engine) as session:
        world = build_world(session, n_orgs=2)
        one, two = world.orgs
        written = queue_notices(
            session=session,
            owed=[
                owed(world.tasks5[0], NoticeKind.opened, to=one.curator_email, cc=["директор"]),
                owed(world.tasks5[1], NoticeKind.opened, to=two.curator_email),
            ],
            settings=settings,
            now=NOW,
        )
        session.commit()
        assert [e.to_addr for e in written] == [two.curator_email]
        [report] = [e for e in emails(session) if e.to_addr == CENTRE]
        assert "директор" in report.text_body

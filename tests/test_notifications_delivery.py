"""Delivery against a real SMTP server (aiosmtpd on loopback): exactly once per address,
temporary failures retried, permanent refusals recorded and never retried, the ambiguous
case (sent, not recorded) resent with the same Message-ID.

The notices come from the real record activity, fed one referral event; the activities
are called as a retrying Temporal would call them.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine
from sqlmodel import col, select
from temporalio.exceptions import ApplicationError

from activities.journey_records import JourneyActivities
from activities.notifications import NotificationActivities
from domain import contracts as c
from domain.mail import DeliverNotices
from domain.notices import NoticeKind, Recipient, notice_key
from domain.stages import Action, Role, Stage
from notifications.delivery import Deliveries
from notifications.journal import deliveries_for, letters_for
from notifications.sender import Outgoing, Sender
from records.db import SessionFactory, make_engine, migrate, session_factory
from records.models import Account, Beneficiary, MailDelivery, NotificationOutbox
from records.seed import seed_default_programme
from tests.fixtures.database import (
    PG_ADMIN_DSN,
    PG_URL,
    _create_pg_database,
    _drop_pg_database,
)
from tests.fixtures.smtp import MAIL, SmtpServer, notification_activities

PERSON = "marie.dupont@example.org"
REFERRER = "lea.martin@ccas.example"


def refer(sessions: SessionFactory, *, person_email: str | None = PERSON) -> str:
    """A referral recorded as the workflow records it: journey, log, two outbox rows."""
    journey_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    with sessions() as session:
        account = Account(
            email=f"{uuid.uuid4().hex[:6]}-{REFERRER}",
            full_name="Léa Martin",
            role=Role.SOCIAL_WORKER.value,
            programme_code=12,
            reception_structure_id=5,
            created_at=now,
        )
        session.add(account)
        session.add(
            Beneficiary(
                journey_id=journey_id,
                idempotency_key=journey_id,
                first_name="Marie",
                last_name="Dupont",
                email=person_email,
                preferred_channel="EMAIL",
                consent_given_at=now,
                consent_text="oui",
                consent_recorded_by="test",
                created_at=now,
            )
        )
        session.commit()
        referrer = c.Actor(Role.SOCIAL_WORKER, str(account.id))
    status = c.JourneyStatus(
        journey_id=journey_id,
        programme_code=12,
        epci_id=3,
        reception_structure_id=5,
        referrer=referrer,
        stage=Stage.REFERRED,
        stage_dates={Stage.REFERRED: now},
        last_activity_at=now,
        seq=1,
    )
    notices = [
        c.Notice(k, r, notice_key(journey_id, 1, k, r))
        for k, r in [
            (NoticeKind.REFERRAL_RECORDED, Recipient.BENEFICIARY),
            (NoticeKind.REFERRAL_RECORDED, Recipient.REFERRER),
        ]
    ]
    event = c.JourneyEvent(
        journey_id,
        1,
        now,
        referrer,
        Action.REFERRED,
        None,
        Stage.REFERRED,
        status,
        notices=notices,
    )
    JourneyActivities(sessions).record_journey_event(event)
    return journey_id


def deliveries(sessions: SessionFactory, journey_id: str) -> list[MailDelivery]:
    with sessions() as session:
        return list(
            session.exec(
                select(MailDelivery)
                .where(MailDelivery.journey_id == journey_id)
                .order_by(col(MailDelivery.id))
            ).all()
        )


def outbox_statuses(sessions: SessionFactory, journey_id: str) -> list[str]:
    with sessions() as session:
        return [
            o.status
            for o in session.exec(
                select(NotificationOutbox).where(NotificationOutbox.journey_id == journey_id)
            ).all()
        ]


async def test_sends_each_notice_once_to_each_address(
    seeded_sqlite_sessions: SessionFactory, smtp_server: SmtpServer
) -> None:
    sessions = seeded_sqlite_sessions
    journey_id = refer(sessions)
    acts = notification_activities(sessions, smtp_server)
    report = await acts.deliver_notices(DeliverNotices(journey_id, 1))
    assert (report.sent, report.failed) == (2, 0)
    mails = smtp_server.mails()
    assert sorted(m.rcpt_tos[0].split("-", 1)[-1] for m in mails) == [REFERRER, PERSON]
    assert all(m.message["Message-ID"].endswith("@passnum.test>") for m in mails)
    assert outbox_statuses(sessions, journey_id) == ["SENT", "SENT"]
    # A retried activity, then a restarted worker (new activities, same database).
    await acts.deliver_notices(DeliverNotices(journey_id, 1))
    await notification_activities(sessions, smtp_server).deliver_notices(
        DeliverNotices(journey_id, 1)
    )
    assert len(smtp_server.mails()) == 2
    assert [d.attempts for d in deliveries(sessions, journey_id)] == [1, 1]


async def test_server_down_then_up_every_mail_arrives_once(
    seeded_sqlite_sessions: SessionFactory, smtp_server: SmtpServer
) -> None:
    sessions = seeded_sqlite_sessions
    journey_id = refer(sessions)
    acts = notification_activities(sessions, smtp_server)
    smtp_server.stop()  # connections refused
    for _ in range(3):  # Temporal retries with backoff: each attempt fails, retryable
        with pytest.raises(ApplicationError) as raised:
            await acts.deliver_notices(DeliverNotices(journey_id, 1))
        assert raised.value.type == "TemporaryFailure" and not raised.value.non_retryable
    assert [d.status for d in deliveries(sessions, journey_id)] == ["PENDING", "PENDING"]
    assert outbox_statuses(sessions, journey_id) == ["PENDING", "PENDING"]
    assert "Connect" in (deliveries(sessions, journey_id)[0].last_error or "")
    smtp_server.start()
    await acts.deliver_notices(DeliverNotices(journey_id, 1))
    await acts.deliver_notices(DeliverNotices(journey_id, 1))
    assert len(smtp_server.mails()) == 2
    assert len({m.message_id for m in smtp_server.mails()}) == 2


async def test_permanent_refusal_is_recorded_and_never_retried(
    seeded_sqlite_sessions: SessionFactory, smtp_server: SmtpServer
) -> None:
    sessions = seeded_sqlite_sessions
    journey_id = refer(sessions)
    smtp_server.refused.add(PERSON)
    acts = notification_activities(sessions, smtp_server)
    report = await acts.deliver_notices(DeliverNotices(journey_id, 1))  # does not raise
    assert (report.sent, report.failed) == (1, 1)
    person, referrer = deliveries(sessions, journey_id)
    assert person.status == "FAILED" and person.last_error is not None
    assert person.last_error.startswith("550 5.1.1")
    assert referrer.status == "SENT"
    with sessions() as session:
        row = session.exec(
            select(NotificationOutbox).where(
                NotificationOutbox.journey_id == journey_id,
                NotificationOutbox.recipient == "BENEFICIARY",
            )
        ).one()
    assert row.status == "FAILED" and PERSON in (row.last_error or "")
    await acts.deliver_notices(DeliverNotices(journey_id, 1))
    assert smtp_server.rcpt_attempts.count(PERSON) == 1  # never tried again
    with sessions() as session:  # what the journey page shows
        lines = deliveries_for(session, journey_id)
    failed = next(x for x in lines if x.status == "FAILED")
    assert failed.status_label == "Échec définitif" and failed.address == PERSON
    assert failed.reason is not None and "unknown mailbox" in failed.reason


class _DiesAfterSending(Deliveries):
    """The worker dies after the SMTP server accepted a mail, before recording it."""

    died = False

    def record_sent(self, delivery_id: int, subject: str) -> None:
        if not _DiesAfterSending.died:
            _DiesAfterSending.died = True
            raise RuntimeError("worker killed")
        super().record_sent(delivery_id, subject)


async def test_ambiguous_case_is_resent_with_the_same_message_id(
    seeded_sqlite_sessions: SessionFactory, smtp_server: SmtpServer
) -> None:
    sessions = seeded_sqlite_sessions
    journey_id = refer(sessions)
    mail = replace(MAIL, lease=timedelta(milliseconds=300))
    dying = notification_activities(sessions, smtp_server, mail)
    dying.deliveries.__class__ = _DiesAfterSending
    with pytest.raises(RuntimeError, match="worker killed"):
        await dying.deliver_notices(DeliverNotices(journey_id, 1))
    assert len(smtp_server.mails()) == 1  # accepted, not recorded
    first = smtp_server.mails()[0]
    retry = notification_activities(sessions, smtp_server, mail)
    # The dead attempt's lease still holds the delivery: the retry waits for it...
    with pytest.raises(ApplicationError) as raised:
        await retry.deliver_notices(DeliverNotices(journey_id, 1))
    assert raised.value.type == "Busy"
    # What is tested is time itself: once the lease has run out, the delivery is free again.
    await asyncio.sleep(mail.lease.total_seconds())
    # ...then sends it again: at least once, with the same Message-ID.
    await retry.deliver_notices(DeliverNotices(journey_id, 1))
    same = [m for m in smtp_server.mails() if m.rcpt_tos == first.rcpt_tos]
    assert len(same) == 2
    assert same[0].message_id == same[1].message_id
    assert same[0].subject == same[1].subject
    assert len(smtp_server.mails()) == 3  # the other address once
    assert [d.status for d in deliveries(sessions, journey_id)] == ["SENT", "SENT"]


class _DatabaseRestartsAfterSending(Deliveries):
    """PostgreSQL restarts just after the SMTP server accepted the first mail: every
    backend of the database is terminated and new connections are refused for a second."""

    cut = False

    def record_sent(self, delivery_id: int, subject: str) -> None:
        if not _DatabaseRestartsAfterSending.cut:
            _DatabaseRestartsAfterSending.cut = True
            bind = self.sessions().get_bind()
            assert isinstance(bind, Engine) and bind.url.database is not None
            database = bind.url.database
            with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(
                        sql.Identifier(database)
                    )
                )
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (database,),
                )

            def back() -> None:
                with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
                    conn.execute(
                        sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(
                            sql.Identifier(database)
                        )
                    )

            # What is tested is time itself: the database is away for about a second.
            threading.Timer(1.0, back).start()
        super().record_sent(delivery_id, subject)


async def test_a_sent_mail_is_recorded_across_a_database_restart(
    smtp_server: SmtpServer,
) -> None:
    """The mail has left: its record waits for the database rather than failing the
    attempt, whose retry would send it twice (the fault suite, tests/test_topology.py)."""
    name = _create_pg_database()
    url = PG_URL.format(name=name)
    engine = make_engine(url)
    try:
        migrate(url)
        sessions = session_factory(engine)
        with sessions() as session:
            seed_default_programme(session)
            session.commit()
        journey_id = refer(sessions)
        acts = notification_activities(sessions, smtp_server)
        acts.deliveries.__class__ = _DatabaseRestartsAfterSending
        report = await acts.deliver_notices(DeliverNotices(journey_id, 1))
        assert _DatabaseRestartsAfterSending.cut
        assert (report.sent, report.failed) == (2, 0)
        assert [d.status for d in deliveries(sessions, journey_id)] == ["SENT", "SENT"]
        await acts.deliver_notices(DeliverNotices(journey_id, 1))  # a retry sends nothing
        assert len(smtp_server.mails()) == 2
        assert len({m.message_id for m in smtp_server.mails()}) == 2
    finally:
        engine.dispose()
        _drop_pg_database(name)


async def test_concurrent_attempts_send_once(
    seeded_sqlite_sessions: SessionFactory, smtp_server: SmtpServer
) -> None:
    """Two attempts at once (a timed-out attempt still running, its retry started): the
    delivery lease lets one send; the other is told to retry later."""
    sessions = seeded_sqlite_sessions
    journey_id = refer(sessions)
    a, b = (notification_activities(sessions, smtp_server) for _ in range(2))
    held = _HeldSender(a.deliveries.sender)
    a.deliveries.sender = held
    first = asyncio.create_task(a.deliver_notices(DeliverNotices(journey_id, 1)))
    await asyncio.wait_for(held.sending.wait(), 15)  # `a` holds the leases, mid-send
    with pytest.raises(ApplicationError) as raised:
        await b.deliver_notices(DeliverNotices(journey_id, 1))
    assert raised.value.type == "Busy"
    assert smtp_server.mails() == []
    held.release.set()
    await asyncio.wait_for(first, 15)
    await b.deliver_notices(DeliverNotices(journey_id, 1))  # the retry finds them sent
    assert len(smtp_server.mails()) == 2
    assert [d.status for d in deliveries(sessions, journey_id)] == ["SENT", "SENT"]


class _HeldSender:
    """Sends through `inner` once `release` is set; `sending` tells an attempt got there."""

    def __init__(self, inner: Sender) -> None:
        self.inner = inner
        self.sending = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, mail: Outgoing) -> None:
        self.sending.set()
        await self.release.wait()
        await self.inner.send(mail)


async def test_a_person_without_email_is_told_through_the_referrer(
    seeded_sqlite_sessions: SessionFactory, smtp_server: SmtpServer
) -> None:
    sessions = seeded_sqlite_sessions
    journey_id = refer(sessions, person_email=None)
    await notification_activities(sessions, smtp_server).deliver_notices(
        DeliverNotices(journey_id, 1)
    )
    mails = smtp_server.mails()
    assert len(mails) == 2 and len({m.rcpt_tos[0] for m in mails}) == 1  # both to the referrer
    to_pass_on = next(m for m in mails if m.subject.startswith("À transmettre à Marie Dupont"))
    assert "MESSAGE À TRANSMETTRE À MARIE DUPONT" in to_pass_on.text()
    assert f"/parcours/{journey_id}/lettres/" in to_pass_on.text()
    assert [d.for_beneficiary for d in deliveries(sessions, journey_id)] == [True, False]
    with sessions() as session:
        (letter,) = letters_for(session, journey_id)
    assert f"/lettres/{letter.outbox_id}" in to_pass_on.text()


def test_activities_are_what_the_worker_registers(
    seeded_sqlite_sessions: SessionFactory, smtp_server: SmtpServer
) -> None:
    acts: NotificationActivities = notification_activities(seeded_sqlite_sessions, smtp_server)
    assert [f.__name__ for f in acts.all()] == [
        "deliver_notices",
        "plan_digests",
        "send_digest",
        "send_account_mail",
    ]
    assert MAIL.lease.total_seconds() > 60  # longer than the workflow's delivery timeout

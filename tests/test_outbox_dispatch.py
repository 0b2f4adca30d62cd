"""Journey notices leave through the worker's outbox dispatcher: told by the record
activity, sent at once without a delivery activity; left behind by a worker that died
before sending, taken up by a sweep; an SMTP server away, retried until it is back; two
dispatchers on the same outbox send each mail once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from temporalio.testing import WorkflowEnvironment

from activities.journey_records import JourneyActivities
from activities.notifications import NotificationActivities
from domain import contracts as c
from domain.mail import ACTIVITY_DELIVER_NOTICES
from domain.stages import Role
from notifications.outbox_dispatch import DispatchSettings
from notifications.sender import SmtpSender
from records.db import SessionFactory
from tests.fixtures.smtp import MAIL, MailWorld, SmtpServer
from tests.fixtures.temporal import Journeys
from worker import build_worker

REFERRER = "lea.martin@ccas.example"
PERSON = "marie.dupont@example.org"
QUICK_SWEEP = DispatchSettings(
    sweep_every=timedelta(milliseconds=100),
    sweep_after=timedelta(0),
    first_retry=timedelta(milliseconds=100),
    last_retry=timedelta(milliseconds=400),
)


@asynccontextmanager
async def world(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    smtp: SmtpServer,
    dispatch: DispatchSettings | None = None,
    *,
    told: bool = True,
) -> AsyncIterator[MailWorld]:
    """A worker whose notices go to `smtp`; `told=False`: its record activities never tell
    the dispatcher (as a worker that died between recording and sending)."""
    task_queue = f"outbox-{uuid.uuid4()}"
    harness = Journeys(env, task_queue, sessions)
    notifications = NotificationActivities(
        sessions, SmtpSender("127.0.0.1", smtp.port, timeout=5), MAIL, dispatch=dispatch
    )
    records = JourneyActivities(sessions)
    with ThreadPoolExecutor(max_workers=4) as executor:
        worker = build_worker(
            env.client, task_queue, records, executor, notifications=notifications
        )
        if not told:
            records.tell_recorded(lambda journey_id, seq: None)
        async with worker:
            try:
                yield MailWorld(harness, smtp, notifications)
            finally:
                await harness.close()


async def refer(w: MailWorld, times: int = 1) -> list[str]:
    """`times` referrals by the same social worker; their journey ids."""
    referrer = w.add_account(Role.SOCIAL_WORKER, REFERRER, "Léa Martin", reception=1)
    actor = c.Actor(Role.SOCIAL_WORKER, str(referrer.id))
    journey_ids = []
    for _ in range(times):
        handle, journey_id = await w.refer(actor)
        await w.journeys.settle(handle)
        journey_ids.append(journey_id)
    return journey_ids


async def recorded_sent(w: MailWorld, journey_id: str, within: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while (statuses := {o.status for o in w.journeys.outbox(journey_id)}) != {"SENT"}:
        assert asyncio.get_running_loop().time() < deadline, statuses
        await asyncio.sleep(0.02)


def kinds(w: MailWorld) -> list[tuple[str, str]]:
    return sorted((m.rcpt_tos[0], m.kind) for m in w.smtp.mails())


EXPECTED = [(REFERRER, "REFERRAL_RECORDED"), (PERSON, "REFERRAL_RECORDED")]


async def test_recorded_notices_are_sent_without_a_delivery_activity(
    time_skipping_env: WorkflowEnvironment,
    seeded_sqlite_sessions: SessionFactory,
    smtp_server: SmtpServer,
) -> None:
    async with world(time_skipping_env, seeded_sqlite_sessions, smtp_server) as w:
        [journey_id] = await refer(w)
        await smtp_server.wait_for(2)
        await w.idle()
        assert kinds(w) == EXPECTED
        assert {o.status for o in w.journeys.outbox(journey_id)} == {"SENT"}
        history = await w.journeys.started[0].fetch_history()
        scheduled = {
            e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
        }
        assert ACTIVITY_DELIVER_NOTICES not in scheduled


async def test_notices_left_unsent_are_taken_up_by_the_sweep(
    time_skipping_env: WorkflowEnvironment,
    seeded_sqlite_sessions: SessionFactory,
    smtp_server: SmtpServer,
) -> None:
    never = DispatchSettings(sweep_every=timedelta(hours=1), sweep_after=timedelta(0))
    async with world(
        time_skipping_env, seeded_sqlite_sessions, smtp_server, never, told=False
    ) as w:
        [journey_id] = await refer(w)
        # Nobody was told: the first sweep ran before the rows existed, the next is an
        # hour away; the rows wait, pending.
        await asyncio.sleep(0.5)
        assert smtp_server.mails() == []
        assert {o.status for o in w.journeys.outbox(journey_id)} == {"PENDING"}
        found = w.activities.outbox.unsent(datetime.now(UTC))
        assert {journey_id} == {j for j, _ in found}
    # A worker starting on the same records sweeps them up and sends each once.
    async with world(time_skipping_env, seeded_sqlite_sessions, smtp_server, QUICK_SWEEP) as w:
        await smtp_server.wait_for(2)
        # This worker did not start the journey (`idle` knows only its own): wait for the
        # rows to say SENT, recorded once the server accepted the last mail.
        await recorded_sent(w, journey_id)
        assert w.activities.outbox.unsent(datetime.now(UTC)) == []
    assert kinds(w) == EXPECTED


async def test_a_server_away_is_retried_until_it_is_back(
    time_skipping_env: WorkflowEnvironment,
    seeded_sqlite_sessions: SessionFactory,
    smtp_server: SmtpServer,
) -> None:
    async with world(time_skipping_env, seeded_sqlite_sessions, smtp_server, QUICK_SWEEP) as w:
        smtp_server.stop()
        [journey_id] = await refer(w)
        await asyncio.sleep(1)  # several attempts fail meanwhile
        assert {o.status for o in w.journeys.outbox(journey_id)} == {"PENDING"}
        smtp_server.start()  # the same port
        await smtp_server.wait_for(2)
        await w.idle()
        assert kinds(w) == EXPECTED
        assert {o.status for o in w.journeys.outbox(journey_id)} == {"SENT"}


async def test_two_dispatchers_send_each_mail_once(
    time_skipping_env: WorkflowEnvironment,
    seeded_sqlite_sessions: SessionFactory,
    smtp_server: SmtpServer,
) -> None:
    """Both workers sweep the same outbox while one of them records and sends."""
    async with (
        world(time_skipping_env, seeded_sqlite_sessions, smtp_server, QUICK_SWEEP) as other,
        world(time_skipping_env, seeded_sqlite_sessions, smtp_server, QUICK_SWEEP) as w,
    ):
        journey_ids = await refer(w, 5)
        await smtp_server.wait_for(10)
        await w.idle()
        await asyncio.sleep(0.5)  # both have swept since
        assert other.activities.outbox.unsent(datetime.now(UTC)) == []
    ids = [m.message_id for m in smtp_server.mails()]
    assert len(ids) == 10 and len(set(ids)) == 10
    assert len(journey_ids) == 5

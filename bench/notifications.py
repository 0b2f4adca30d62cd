"""Benchmark: mails rendered and delivered per second, and the delay from a journey event
to its mail arriving.

    python -m bench.notifications [--messages 1000] [--concurrency 8] [--journeys 200]

On a throwaway SQLite database (migrated, Aveyron seed) and the embedded SMTP sink
(aiosmtpd on loopback, filing every mail in the `mailbox_message` table, as `passnum up`
runs it), prints:
(a) messages rendered per second (context read from the database + subject, text, HTML);
(b) messages rendered and delivered per second to the sink through aiosmtplib, from the
    outbox rows of recorded referrals (two notices each) to the sink's table, `--messages`
    in all, `--concurrency` events at a time (one SMTP connection per message);
(c) p50/p99 delay between a journey event (its recorded instant) and the sink receiving
    its mail, over the Temporal dev server with the real worker (record activity, then
    `deliver_notices` in the background): 30 referrals one at a time, then `--journeys`
    referrals `--concurrency` at a time.

The sink runs in the benchmark's process: its parsing and table writes share the CPU with
rendering and sending, as they do in `passnum up`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import col, select
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment

from activities.journey_records import JourneyActivities
from activities.notifications import NotificationActivities
from config import Settings
from domain import contracts as c
from domain.notices import NoticeKind, Recipient, notice_key
from domain.stages import Action, Role, Stage
from notifications.delivery import Deliveries, MailSettings, event_outbox
from notifications.sender import SmtpSender
from notifications.sink import count_mails, start_sink
from records.db import SessionFactory, make_engine, migrate, session_factory
from records.models import Beneficiary, MailboxMessage, MailDelivery, TransitionLog
from records.seed import seed_default_programme
from temporal_client import data_converter
from worker import build_worker
from workflows.journey import JourneyWorkflow

MAIL = MailSettings(
    base_url="http://127.0.0.1:8000",
    mail_from="Pass numérique <ne-pas-repondre@passnum.localhost>",
    message_id_domain="passnum.localhost",
)
REFERRER = c.Actor(Role.SOCIAL_WORKER, "bench")  # no account: the reception structure's box


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def add_person(sessions: SessionFactory, journey_id: str, n: int) -> None:
    now = datetime.now(UTC)
    with sessions() as session:
        session.add(
            Beneficiary(
                journey_id=journey_id,
                idempotency_key=journey_id,
                first_name="Personne",
                last_name=f"Numéro {n}",
                email=f"personne{n}@example.org",
                preferred_channel="EMAIL",
                consent_given_at=now,
                consent_text="oui",
                consent_recorded_by="bench",
                created_at=now,
            )
        )
        session.commit()


def record_referrals(sessions: SessionFactory, count: int) -> list[str]:
    """`count` referral events recorded as the workflow records them (2 notices each)."""
    records = JourneyActivities(sessions)
    ids = []
    for n in range(count):
        journey_id = str(uuid.uuid4())
        add_person(sessions, journey_id, n)
        now = datetime.now(UTC)
        status = c.JourneyStatus(
            journey_id=journey_id,
            programme_code=12,
            epci_id=3,
            reception_structure_id=5,
            referrer=REFERRER,
            stage=Stage.REFERRED,
            stage_dates={Stage.REFERRED: now},
            last_activity_at=now,
            seq=1,
        )
        notices = [
            c.Notice(
                NoticeKind.REFERRAL_RECORDED,
                r,
                notice_key(journey_id, 1, NoticeKind.REFERRAL_RECORDED, r),
            )
            for r in (Recipient.BENEFICIARY, Recipient.REFERRER)
        ]
        records.record_journey_event(
            c.JourneyEvent(
                journey_id,
                1,
                now,
                REFERRER,
                Action.REFERRED,
                None,
                Stage.REFERRED,
                status,
                notices=notices,
            )
        )
        ids.append(journey_id)
    return ids


def render_all(deliveries: Deliveries, journey_ids: list[str]) -> int:
    from notifications.context import load_context
    from notifications.messages import message_for
    from notifications.rendering import render_message

    rendered = 0
    with deliveries.sessions() as session:
        for journey_id in journey_ids:
            for notice in event_outbox(session, journey_id, 1):
                ctx = load_context(session, notice, base_url=MAIL.base_url)
                render_message(message_for(notice.kind, notice.recipient).template, ctx)
                rendered += 1
    return rendered


async def wait_for_mails(sessions: SessionFactory, count: int, within: float = 300) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with sessions() as session:
            if count_mails(session) >= count:
                return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"the sink did not receive {count} mails in {within} s")


async def throughput(sessions: SessionFactory, port: int, messages: int, concurrency: int) -> None:
    journey_ids = record_referrals(sessions, messages // 2)
    deliveries = Deliveries(sessions, SmtpSender("127.0.0.1", port), MAIL, serialise_writes=True)

    started = time.perf_counter()
    rendered = await asyncio.to_thread(render_all, deliveries, journey_ids)
    render_s = time.perf_counter() - started
    print(f"(a) rendered: {rendered} messages in {render_s:.2f} s = {rendered / render_s:,.0f}/s")

    with sessions() as session:
        before = count_mails(session)
    gate = asyncio.Semaphore(concurrency)

    async def one(journey_id: str) -> None:
        async with gate:
            await deliveries.deliver_event(journey_id, 1)

    started = time.perf_counter()
    await asyncio.gather(*(one(j) for j in journey_ids))
    await wait_for_mails(sessions, before + rendered)
    send_s = time.perf_counter() - started
    print(
        f"(b) rendered and delivered to the sink: {rendered} messages in {send_s:.2f} s "
        f"= {rendered / send_s:,.0f}/s (concurrency {concurrency})"
    )


async def latency(sessions: SessionFactory, port: int, journeys: int, concurrency: int) -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        data_converter=data_converter(Settings()),
        dev_server_extra_args=[
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
        ],
    )
    queue = f"bench-mail-{uuid.uuid4()}"
    acts = NotificationActivities(
        sessions, SmtpSender("127.0.0.1", port), MAIL, serialise_writes=True
    )
    try:
        with ThreadPoolExecutor(max_workers=8) as executor:
            worker = build_worker(
                env.client,
                queue,
                JourneyActivities(sessions, serialise_writes=True),
                executor,
                notifications=acts,
            )
            async with worker:
                gate = asyncio.Semaphore(concurrency)
                ids: list[str] = []

                async def refer(n: int) -> None:
                    journey_id = str(uuid.uuid4())
                    ids.append(journey_id)
                    await asyncio.to_thread(add_person, sessions, journey_id, 10_000 + n)
                    async with gate:
                        operation = WithStartWorkflowOperation(
                            JourneyWorkflow.run,
                            c.JourneyInput(
                                journey_id, 12, 3, 5, REFERRER, use_search_attributes=False
                            ),
                            id=c.workflow_id_for(journey_id),
                            task_queue=queue,
                            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                        )
                        await env.client.execute_update_with_start_workflow(
                            c.U_CONFIRM_REFERRAL,
                            c.ConfirmReferral(REFERRER),
                            start_workflow_operation=operation,
                            result_type=c.JourneyStatus,
                        )

                with sessions() as session:
                    before = count_mails(session)
                await asyncio.gather(*(refer(n) for n in range(journeys)))
                await wait_for_mails(sessions, before + 2 * journeys)
                delays = measure_delays(sessions, ids)
                for journey_id in ids:
                    await env.client.get_workflow_handle(c.workflow_id_for(journey_id)).terminate(
                        "bench"
                    )
    finally:
        await env.shutdown()
    print(
        f"(c) event → mail in the sink, {len(delays)} mails of {journeys} referrals "
        f"(concurrency {concurrency}): p50 {percentile(delays, 50) * 1000:.0f} ms, "
        f"p99 {percentile(delays, 99) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms"
    )


def measure_delays(sessions: SessionFactory, journey_ids: list[str]) -> list[float]:
    with sessions() as session:
        at = dict(
            session.exec(
                select(TransitionLog.journey_id, TransitionLog.at).where(
                    col(TransitionLog.journey_id).in_(journey_ids), TransitionLog.seq == 1
                )
            ).all()
        )
        sent = session.exec(
            select(MailDelivery.journey_id, MailDelivery.message_id).where(
                col(MailDelivery.journey_id).in_(journey_ids)
            )
        ).all()
        received = dict(
            session.exec(select(MailboxMessage.message_id, MailboxMessage.received_at)).all()
        )
    return [(received[m] - at[j]).total_seconds() for j, m in sent if j and m in received]


async def main(messages: int, concurrency: int, journeys: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        migrate(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        with sessions() as session:
            seed_default_programme(session)
            session.commit()
        port = free_port()
        sink = start_sink(sessions, "127.0.0.1", port, serialise_writes=True)
        try:
            await throughput(sessions, port, messages, concurrency)
            await latency(sessions, port, 30, 1)  # one referral at a time: the path alone
            await latency(sessions, port, journeys, concurrency)  # under load: queueing too
        finally:
            sink.stop()
            engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--journeys", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.concurrency, args.journeys))

"""The worker's outbox dispatcher: sends the notices of recorded journey events, outside
the journey workflow.

A record activity writes an event's notices in the `notification_outbox` table in the
same transaction as the event, then tells the dispatcher (`notify`): the mail goes out at
once, without a delivery activity (and the workflow task its completion would cost). The
outbox is the durable part: a worker that dies before sending leaves the rows pending,
and every worker's sweep (`sweep`, every `sweep_every`) takes up the rows nobody is
sending. `Deliveries.deliver_event` keeps its guarantees whoever calls it: deliveries
planned once, leased before sending (two workers never send the same one), recorded
after, one Message-ID per notice and address.

A temporary failure (SMTP server away, a lease held elsewhere, the database restarting)
is retried with backoff, from a second up to a minute, as Temporal retried the delivery
activity.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, or_, true
from sqlmodel import col, select

from notifications.delivery import Busy, Deliveries
from notifications.sender import TemporaryFailure
from records.models import DeliveryStatus, MailDelivery, NotificationOutbox, OutboxStatus

log = logging.getLogger(__name__)

EventKey = tuple[str, int]  # (journey id, seq)


@dataclass(frozen=True)
class DispatchSettings:
    senders: int = 8  # events sent at once
    sweep_every: timedelta = timedelta(seconds=15)
    # A row younger than this is its recording worker's to send (told by `notify`).
    sweep_after: timedelta = timedelta(seconds=30)
    delivery_timeout: timedelta = timedelta(seconds=60)  # below the deliveries' lease (90 s)
    first_retry: timedelta = timedelta(seconds=1)
    last_retry: timedelta = timedelta(minutes=1)


def event_key(idempotency_key: str) -> EventKey:
    """The event of an outbox row (domain.notices.notice_key: journey:seq:kind:recipient)."""
    journey_id, seq, _ = idempotency_key.split(":", 2)
    return journey_id, int(seq)


class OutboxDispatcher:
    def __init__(self, deliveries: Deliveries, settings: DispatchSettings | None = None) -> None:
        self.deliveries = deliveries
        self.settings = settings or DispatchSettings()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[EventKey] = asyncio.Queue()
        self._known: set[EventKey] = set()  # queued, being sent or waiting for a retry
        self._failures: dict[EventKey, int] = {}

    # ---- telling ----

    def notify(self, journey_id: str, seq: int) -> None:
        """An event with notices was recorded: send them. Safe from any thread; a no-op
        while the dispatcher is not running (the sweep takes the rows up)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._enqueue, (journey_id, seq))

    def _enqueue(self, key: EventKey) -> None:
        if key not in self._known:
            self._known.add(key)
            self._queue.put_nowait(key)

    # ---- running ----

    @asynccontextmanager
    async def running(self) -> AsyncIterator[OutboxDispatcher]:
        """Send and sweep while the block runs (the worker's life)."""
        self._loop = asyncio.get_running_loop()
        tasks = [asyncio.create_task(self._sender()) for _ in range(self.settings.senders)]
        tasks.append(asyncio.create_task(self._sweeper()))
        try:
            yield self
        finally:
            self._loop = None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _sender(self) -> None:
        while True:
            key = await self._queue.get()
            try:
                await self.send(*key)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # retried, as the delivery activity was
                self._retry_later(key, err)
            else:
                self._failures.pop(key, None)
                self._known.discard(key)

    async def send(self, journey_id: str, seq: int) -> None:
        timeout = self.settings.delivery_timeout.total_seconds()
        await asyncio.wait_for(self.deliveries.deliver_event(journey_id, seq), timeout)

    def _retry_later(self, key: EventKey, err: Exception) -> None:
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        s = self.settings
        delay = min(s.first_retry * 2 ** (failures - 1), s.last_retry).total_seconds()
        if isinstance(err, TemporaryFailure | Busy):
            log.info("notices of %s#%s: %s; retried in %.0f s", *key, err, delay)
        else:
            log.exception("notices of %s#%s failed; retried in %.0f s", *key, delay)
        assert self._loop is not None
        self._loop.call_later(delay, self._queue.put_nowait, key)

    async def _sweeper(self) -> None:
        while True:
            try:
                found = await asyncio.to_thread(self.unsent, datetime.now(UTC))
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away: the next sweep
                log.warning("outbox sweep failed", exc_info=True)
            else:
                for key in found:
                    self._enqueue(key)
            await asyncio.sleep(self.settings.sweep_every.total_seconds())

    # ---- sweeping ----

    def unsent(self, now: datetime) -> list[EventKey]:
        """Events with notices nobody is sending: `mail_to_send(now)`, the row older than
        `sweep_after` (a younger one is its recording worker's)."""
        with self.deliveries.sessions() as session:
            keys = session.exec(
                select(NotificationOutbox.idempotency_key)
                .where(
                    mail_to_send(now),
                    col(NotificationOutbox.journey_id).is_not(None),
                    col(NotificationOutbox.created_at) <= now - self.settings.sweep_after,
                )
                .order_by(col(NotificationOutbox.id))
            ).all()
        return list(dict.fromkeys(event_key(k) for k in keys))


def mail_to_send(now: datetime | None = None) -> ColumnElement[bool]:
    """Outbox rows still pending with a mail to send: not planned yet, or with a delivery
    to send now (whose lease is free at `now`, when given). A row waiting only for a
    digest is not one."""
    of_notice = col(MailDelivery.outbox_id) == col(NotificationOutbox.id)
    pending = col(MailDelivery.status) == DeliveryStatus.PENDING.value
    free = (
        or_(col(MailDelivery.claimed_until).is_(None), col(MailDelivery.claimed_until) <= now)
        if now is not None
        else true()
    )
    return and_(
        col(NotificationOutbox.status) == OutboxStatus.PENDING.value,
        or_(~exists().where(of_notice), exists().where(of_notice, pending, free)),
    )

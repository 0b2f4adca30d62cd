"""Notification activities: deliver a journey event's notices, the daily digest, and the
mails carrying a one-time link (invitations, password resets).

Async methods (aiosmtplib on the worker's event loop; database work in threads). Built
with a session factory, a sender and the mail settings (see worker.py). A temporary SMTP
failure raises, so Temporal retries with backoff; a permanent refusal is recorded on the
delivery (FAILED) and the activity succeeds: it is never retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.mail import (
    ACTIVITY_DELIVER_NOTICES,
    ACTIVITY_PLAN_DIGESTS,
    ACTIVITY_SEND_ACCOUNT_MAIL,
    ACTIVITY_SEND_DIGEST,
    DeliverNotices,
    DeliveryReport,
    DigestRequest,
    DigestRun,
    SendAccountMail,
)
from notifications.account_mail import send_account_mail
from notifications.delivery import Busy, Deliveries, MailSettings
from notifications.digest import Digests, digest_addresses
from notifications.outbox_dispatch import DispatchSettings, OutboxDispatcher
from notifications.sender import Sender, TemporaryFailure
from records.db import SessionFactory


class NotificationActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        sender: Sender,
        mail: MailSettings,
        *,
        serialise_writes: bool = False,
        dispatch: DispatchSettings | None = None,
    ) -> None:
        self.deliveries = Deliveries(sessions, sender, mail, serialise_writes=serialise_writes)
        self.digests = Digests(self.deliveries)
        # Journey notices go out through it; `deliver_notices` serves the journeys
        # recorded before (workflows.journey: PATCH_DELIVER_FROM_OUTBOX).
        self.outbox = OutboxDispatcher(self.deliveries, dispatch)

    def all(self) -> list[Callable[..., Any]]:
        return [self.deliver_notices, self.plan_digests, self.send_digest, self.send_account_mail]

    @activity.defn(name=ACTIVITY_DELIVER_NOTICES)
    async def deliver_notices(self, req: DeliverNotices) -> DeliveryReport:
        try:
            return await self.deliveries.deliver_event(req.journey_id, req.seq)
        except (TemporaryFailure, Busy) as err:
            raise ApplicationError(str(err), type=type(err).__name__) from err

    @activity.defn(name=ACTIVITY_PLAN_DIGESTS)
    async def plan_digests(self, run: DigestRun) -> list[str]:
        """Addresses with something queued for a digest."""

        def read() -> list[str]:
            with self.deliveries.sessions() as session:
                return digest_addresses(session)

        return await asyncio.to_thread(read)

    @activity.defn(name=ACTIVITY_SEND_DIGEST)
    async def send_digest(self, req: DigestRequest) -> str:
        try:
            return await self.digests.send(req.key, req.address, req.at)
        except (TemporaryFailure, Busy) as err:
            raise ApplicationError(str(err), type=type(err).__name__) from err

    @activity.defn(name=ACTIVITY_SEND_ACCOUNT_MAIL)
    async def send_account_mail(self, req: SendAccountMail) -> str:
        """An invitation or a password reset (notifications.account_mail); its status."""
        try:
            return await send_account_mail(self.deliveries, req.delivery_id, req.token)
        except (TemporaryFailure, Busy) as err:
            raise ApplicationError(str(err), type=type(err).__name__) from err

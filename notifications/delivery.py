"""Delivery of a journey event's notices: one `mail_delivery` row per (notice, address).

Guarantees, per address:
- planned once: the rows of a notice are written in one transaction the first time it is
  handled; a retry reuses them (a preference changed meanwhile does not re-plan);
- never sent again once recorded SENT (or FAILED): each row is claimed (a lease, so two
  attempts running at once do not both send) before sending, and recorded after;
- the one ambiguous case, a worker dying after the SMTP server accepted a mail and before
  the row says SENT, sends it again on retry with the same Message-ID (at least once; see
  README "Mail").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from config import Settings
from domain.mail import DeliveryReport
from domain.notices import Recipient
from notifications.context import load_context
from notifications.messages import Message, message_for
from notifications.preferences import Disposition
from notifications.recipients import Target, resolve
from notifications.rendering import render_message
from notifications.sender import (
    Outgoing,
    PermanentFailure,
    Sender,
    TemporaryFailure,
    message_id_for,
)
from notifications.sink import WRITE_TURN
from records.db import SessionFactory, begin_write
from records.models import (
    Account,
    DeliveryStatus,
    Journey,
    MailDelivery,
    NotificationOutbox,
    OutboxStatus,
)

FINAL = frozenset(
    {DeliveryStatus.SENT.value, DeliveryStatus.FAILED.value, DeliveryStatus.SKIPPED.value}
)
NO_RECIPIENT = "Aucun destinataire : ni compte, ni adresse de structure."
MUTED = "Désactivé dans les préférences du destinataire."


@dataclass(frozen=True)
class MailSettings:
    base_url: str
    mail_from: str
    message_id_domain: str
    lease: timedelta = timedelta(seconds=90)  # longer than the activity's start-to-close

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> MailSettings:
        base = settings.public_base_url.rstrip("/")
        values: dict[str, object] = {
            "base_url": base,
            "mail_from": settings.mail_from,
            "message_id_domain": urlsplit(base).hostname or "passnum.localhost",
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def local(cls) -> MailSettings:
        """The embedded defaults (Settings' defaults, without reading the environment)."""
        fields = Settings.model_fields
        return cls(
            base_url=str(fields["public_base_url"].default),
            mail_from=str(fields["mail_from"].default),
            message_id_domain="passnum.localhost",
        )


class Busy(Exception):
    """Another attempt holds a delivery's lease: retry later (it will be SENT by then)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def event_outbox(session: Session, journey_id: str, seq: int) -> list[NotificationOutbox]:
    prefix = f"{journey_id}:{seq}:"
    return list(
        session.exec(
            select(NotificationOutbox)
            .where(
                NotificationOutbox.journey_id == journey_id,
                col(NotificationOutbox.idempotency_key).startswith(prefix, autoescape=True),
            )
            .order_by(col(NotificationOutbox.id))
        ).all()
    )


def _status_for(message: type[Message], target: Target) -> tuple[DeliveryStatus, str | None]:
    if message.digest_only:
        return DeliveryStatus.QUEUED, None
    if target.for_beneficiary or target.preferences is None:
        return DeliveryStatus.PENDING, None
    match target.preferences.disposition(message.category):
        case Disposition.SKIP:
            return DeliveryStatus.SKIPPED, MUTED
        case Disposition.DIGEST:
            return DeliveryStatus.QUEUED, None
    return DeliveryStatus.PENDING, None


def settle_outbox(session: Session, outbox_ids: Sequence[int]) -> None:
    """An outbox row follows its deliveries: FAILED if one failed, SENT once all are final."""
    if not outbox_ids:
        return
    rows = session.exec(
        select(MailDelivery).where(col(MailDelivery.outbox_id).in_(outbox_ids))
    ).all()
    by_outbox: dict[int, list[MailDelivery]] = {}
    for d in rows:
        assert d.outbox_id is not None
        by_outbox.setdefault(d.outbox_id, []).append(d)
    for outbox_id, deliveries in by_outbox.items():
        notice = session.get(NotificationOutbox, outbox_id)
        if notice is None:
            continue
        failed = [d for d in deliveries if d.status == DeliveryStatus.FAILED]
        notice.attempts = max(d.attempts for d in deliveries)
        if failed:
            notice.status = OutboxStatus.FAILED.value
            notice.last_error = "; ".join(f"{d.address} : {d.last_error}" for d in failed)
        elif all(d.status in FINAL for d in deliveries):
            notice.status = OutboxStatus.SENT.value
            sent = [d.sent_at for d in deliveries if d.sent_at is not None]
            notice.sent_at = max(sent) if sent else utcnow()
            notice.last_error = None
        session.add(notice)


class Deliveries:
    """Plans, renders and sends deliveries. Database work runs in threads (sync SQLAlchemy),
    sending on the event loop (aiosmtplib)."""

    def __init__(
        self,
        sessions: SessionFactory,
        sender: Sender,
        mail: MailSettings,
        *,
        serialise_writes: bool = False,
    ) -> None:
        """`serialise_writes` (SQLite): write one thread at a time (see `WRITE_TURN`)."""
        self.sessions = sessions
        self.sender = sender
        self.mail = mail
        self._turn: AbstractContextManager[Any] = WRITE_TURN if serialise_writes else nullcontext()

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A session whose transaction writes (SQLite: holds the write lock from BEGIN)."""
        with self._turn, self.sessions() as session:
            begin_write(session)
            yield session

    # ---- planning ----

    def plan(self, journey_id: str, seq: int) -> list[int]:
        """Write the delivery rows of the event's notices (once); return its outbox ids."""
        try:
            return self._plan(journey_id, seq)
        except IntegrityError:
            # Another attempt planned the same notice meanwhile: its rows stand.
            with self.sessions() as session:
                return [n.id for n in event_outbox(session, journey_id, seq) if n.id]

    def _plan(self, journey_id: str, seq: int) -> list[int]:
        now = utcnow()
        with self.writing() as session:
            notices = event_outbox(session, journey_id, seq)
            for notice in notices:
                if notice.status != OutboxStatus.PENDING.value:
                    continue
                planned = session.exec(
                    select(MailDelivery.id)
                    .where(MailDelivery.idempotency_key == notice.idempotency_key)
                    .limit(1)
                ).first()
                if planned is None:
                    self._plan_notice(session, notice, now)
            session.commit()
            return [n.id for n in notices if n.id is not None]

    def _plan_notice(self, session: Session, notice: NotificationOutbox, now: datetime) -> None:
        assert notice.journey_id is not None and notice.id is not None
        journey = session.get(Journey, notice.journey_id)
        recipient = Recipient(notice.recipient)
        message = message_for(notice.kind, recipient)
        targets = resolve(session, journey, recipient, notice.detail) if journey else []
        if not targets:
            notice.status = OutboxStatus.FAILED.value
            notice.last_error = NO_RECIPIENT
            session.add(notice)
            return
        for target in targets:
            status, reason = _status_for(message, target)
            subject = None
            if status == DeliveryStatus.QUEUED and not message.digest_only:
                subject = self._render(session, notice, message, target.name, False).subject
            session.add(
                MailDelivery(
                    idempotency_key=notice.idempotency_key,
                    address=target.address,
                    outbox_id=notice.id,
                    journey_id=notice.journey_id,
                    kind=notice.kind,
                    audience=recipient.value,
                    account_id=target.account_id,
                    for_beneficiary=target.for_beneficiary,
                    category=message.category.value,
                    status=status.value,
                    message_id=message_id_for(
                        notice.idempotency_key, target.address, self.mail.message_id_domain
                    ),
                    subject=subject,
                    last_error=reason,
                    created_at=now,
                )
            )
        session.flush()

    # ---- rendering ----

    def _render(
        self,
        session: Session,
        notice: NotificationOutbox,
        message: type[Message],
        recipient_name: str | None,
        for_beneficiary: bool,
    ) -> Outgoing:
        ctx = load_context(
            session,
            notice,
            base_url=self.mail.base_url,
            recipient_name=recipient_name,
            for_beneficiary=for_beneficiary,
        )
        rendered = render_message(message.template, ctx)
        subject = rendered.subject
        if for_beneficiary:
            subject = f"À transmettre à {ctx.person.name} : {subject}"
        return Outgoing(
            message_id="",
            sender=self.mail.mail_from,
            to="",
            subject=subject,
            text=rendered.text,
            html=rendered.html,
        )

    def render_delivery(self, session: Session, delivery: MailDelivery) -> Outgoing:
        assert delivery.outbox_id is not None
        notice = session.get(NotificationOutbox, delivery.outbox_id)
        if notice is None:
            raise LookupError(f"outbox row {delivery.outbox_id} is gone")
        message = message_for(notice.kind, notice.recipient)
        account = session.get(Account, delivery.account_id) if delivery.account_id else None
        draft = self._render(
            session,
            notice,
            message,
            account.full_name if account else None,
            delivery.for_beneficiary,
        )
        return Outgoing(
            message_id=delivery.message_id,
            sender=draft.sender,
            to=delivery.address,
            subject=draft.subject,
            text=draft.text,
            html=draft.html,
            # For mail filters (and tests): what the message is, never who it is about.
            headers={"X-Passnum-Kind": notice.kind, "X-Passnum-Audience": notice.recipient},
        )

    # ---- one delivery: claim, send, record ----

    def claim(self, delivery_id: int) -> Outgoing | None:
        """Take the delivery's lease and render it; None if it is final already."""
        return self.claim_with(delivery_id, self.render_delivery)

    def claim_with(
        self, delivery_id: int, render: Callable[[Session, MailDelivery], Outgoing]
    ) -> Outgoing | None:
        now = utcnow()
        with self.writing() as session:
            d = session.get(MailDelivery, delivery_id)
            if d is None or d.status != DeliveryStatus.PENDING.value:
                return None
            if d.claimed_until is not None and d.claimed_until > now:
                raise Busy(f"delivery {delivery_id} is being sent by another attempt")
            d.claimed_until = now + self.mail.lease
            d.attempts += 1
            session.add(d)
            session.commit()
        try:
            with self.sessions() as session:  # rendering only reads: outside the write turn
                claimed = session.get(MailDelivery, delivery_id)
                assert claimed is not None
                return render(session, claimed)
        except BaseException:
            self.release(delivery_id, "rendering failed")
            raise

    def record_sent(self, delivery_id: int, subject: str) -> None:
        with self.writing() as session:
            d = session.get(MailDelivery, delivery_id)
            assert d is not None
            d.status = DeliveryStatus.SENT.value
            d.subject = subject[:300]
            d.sent_at = utcnow()
            d.claimed_until = None
            d.last_error = None
            session.add(d)
            session.commit()

    def record_failed(self, delivery_id: int, subject: str, reason: str) -> None:
        with self.writing() as session:
            d = session.get(MailDelivery, delivery_id)
            assert d is not None
            d.status = DeliveryStatus.FAILED.value
            d.subject = subject[:300]
            d.last_error = reason
            d.claimed_until = None
            session.add(d)
            session.commit()

    def release(self, delivery_id: int, reason: str) -> None:
        with self.writing() as session:
            d = session.get(MailDelivery, delivery_id)
            if d is not None and d.status == DeliveryStatus.PENDING.value:
                d.claimed_until = None
                d.last_error = reason
                session.add(d)
                session.commit()

    async def send_one(self, delivery_id: int) -> None:
        """Send one delivery unless it is final. Raises TemporaryFailure or Busy."""
        mail = await asyncio.to_thread(self.claim, delivery_id)
        if mail is None:
            return
        try:
            await self.sender.send(mail)
        except PermanentFailure as err:
            await asyncio.to_thread(self.record_failed, delivery_id, mail.subject, str(err))
            return
        except BaseException as err:  # temporary failure, cancellation: someone retries
            await asyncio.shield(asyncio.to_thread(self.release, delivery_id, str(err)[:500]))
            raise
        await asyncio.to_thread(self.record_sent, delivery_id, mail.subject)

    # ---- a journey event ----

    def pending_ids(self, outbox_ids: Sequence[int]) -> list[int]:
        with self.sessions() as session:
            return [
                d
                for d in session.exec(
                    select(MailDelivery.id)
                    .where(
                        col(MailDelivery.outbox_id).in_(outbox_ids),
                        MailDelivery.status == DeliveryStatus.PENDING.value,
                    )
                    .order_by(col(MailDelivery.id))
                ).all()
                if d is not None
            ]

    def settle(self, outbox_ids: Sequence[int]) -> DeliveryReport:
        with self.writing() as session:
            settle_outbox(session, outbox_ids)
            session.commit()
            statuses = session.exec(
                select(MailDelivery.status).where(col(MailDelivery.outbox_id).in_(outbox_ids))
            ).all()
        return DeliveryReport(
            sent=statuses.count(DeliveryStatus.SENT.value),
            failed=statuses.count(DeliveryStatus.FAILED.value),
            skipped=statuses.count(DeliveryStatus.SKIPPED.value),
            queued=statuses.count(DeliveryStatus.QUEUED.value),
        )

    async def deliver_event(self, journey_id: str, seq: int) -> DeliveryReport:
        """Send what the event asked for. A temporary failure (or a busy lease) is raised
        after recording what was sent, so the retry sends only the rest."""
        outbox_ids = await asyncio.to_thread(self.plan, journey_id, seq)
        if not outbox_ids:
            return DeliveryReport()
        error: Exception | None = None
        for delivery_id in await asyncio.to_thread(self.pending_ids, outbox_ids):
            try:
                await self.send_one(delivery_id)
            except Busy as err:
                error = err
            except TemporaryFailure as err:
                error = err
                break  # the server is unwell: the retry takes the rest
        report = await asyncio.to_thread(self.settle, outbox_ids)
        if error is not None:
            raise error
        return report

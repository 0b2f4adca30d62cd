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
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session, col, select

from config import Settings
from domain.mail import DeliveryReport
from domain.notices import Recipient
from notifications.context import MailContext, load_context
from notifications.message_ids import message_id_domain
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
    sending,
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
# How long recording a sent mail waits for the database to come back (a restart takes a
# second or two): well within the activity's timeout (60 s) and the lease (90 s).
RECORD_RETRY_S = 30.0


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
            "message_id_domain": message_id_domain(base),
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


def settle_outbox(session: Session, outbox_ids: Sequence[int]) -> list[MailDelivery]:
    """An outbox row follows its deliveries: FAILED if one failed, SENT once all are final.
    Returns the notices' deliveries, as they are now."""
    if not outbox_ids:
        return []
    rows = list(
        session.exec(select(MailDelivery).where(col(MailDelivery.outbox_id).in_(outbox_ids))).all()
    )
    by_outbox: dict[int, list[MailDelivery]] = {}
    for d in rows:
        assert d.outbox_id is not None
        by_outbox.setdefault(d.outbox_id, []).append(d)
    notices = session.exec(
        select(NotificationOutbox).where(col(NotificationOutbox.id).in_(list(by_outbox)))
    ).all()
    for notice in notices:
        assert notice.id is not None
        deliveries = by_outbox[notice.id]
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
    return rows


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
        with self.writing() as session:
            notices = self._plan_in(session, journey_id, seq)
            session.commit()
            return [n.id for n in notices if n.id is not None]

    def _plan_in(self, session: Session, journey_id: str, seq: int) -> list[NotificationOutbox]:
        now = utcnow()
        notices = event_outbox(session, journey_id, seq)
        todo = [n for n in notices if n.status == OutboxStatus.PENDING.value]
        if todo:
            planned = set(
                session.exec(
                    select(MailDelivery.idempotency_key).where(
                        col(MailDelivery.idempotency_key).in_([n.idempotency_key for n in todo])
                    )
                ).all()
            )
            for notice in todo:
                if notice.idempotency_key not in planned:
                    self._plan_notice(session, notice, now)
        return notices

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
        return self._draft(ctx, message)

    def _draft(self, ctx: MailContext, message: type[Message]) -> Outgoing:
        rendered = render_message(message.template, ctx)
        subject = rendered.subject
        if ctx.for_beneficiary:
            subject = f"À transmettre à {ctx.person.name} : {subject}"
        return Outgoing(
            message_id="",
            sender=self.mail.mail_from,
            to="",
            subject=subject,
            text=rendered.text,
            html=rendered.html,
        )

    @staticmethod
    def _outgoing(delivery: MailDelivery, notice: NotificationOutbox, draft: Outgoing) -> Outgoing:
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
        return self._outgoing(delivery, notice, draft)

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
        self._record(
            delivery_id,
            status=DeliveryStatus.SENT.value,
            subject=subject[:300],
            sent_at=utcnow(),
            claimed_until=None,
            last_error=None,
        )

    def record_failed(self, delivery_id: int, subject: str, reason: str) -> None:
        self._record(
            delivery_id,
            status=DeliveryStatus.FAILED.value,
            subject=subject[:300],
            last_error=reason,
            claimed_until=None,
        )

    def _record(self, delivery_id: int, **values: object) -> None:
        """One UPDATE, one short transaction. The mail has left already: if the database
        is out of reach (restarting, connections cut), the record is tried again for a
        while rather than failing the attempt, whose retry would send the mail twice."""
        deadline = time.monotonic() + RECORD_RETRY_S
        delay = 0.1
        while True:
            try:
                with self._turn, self.sessions() as session:
                    found = session.execute(
                        update(MailDelivery)
                        .where(col(MailDelivery.id) == delivery_id)
                        .values(**values)
                    )
                    assert found.rowcount == 1, f"delivery {delivery_id} is gone"  # type: ignore[attr-defined]
                    session.commit()
                return
            except DBAPIError as exc:
                if not (isinstance(exc, OperationalError) or exc.connection_invalidated):
                    raise
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

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
        await self.send_one_with(delivery_id, self.render_delivery)

    async def send_one_with(
        self, delivery_id: int, render: Callable[[Session, MailDelivery], Outgoing]
    ) -> None:
        """`send_one` with another renderer (account mails: notifications.account_mail)."""
        mail = await asyncio.to_thread(self.claim_with, delivery_id, render)
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

    def prepare(self, journey_id: str, seq: int) -> Prepared:
        """Plan the event's deliveries, claim every pending one whose lease is free (one
        transaction) and render them (one read, each notice's context loaded once)."""
        try:
            notices, pending, claimed = self._plan_and_claim(journey_id, seq)
        except IntegrityError:
            # Another attempt planned the same notice meanwhile: its rows stand.
            notices, pending, claimed = self._plan_and_claim(journey_id, seq)
        outbox_ids = [n.id for n in notices if n.id is not None]
        if not outbox_ids:
            return Prepared([], [], busy=False)
        busy = len(claimed) < len(pending)
        ids = [d.id for d in claimed if d.id is not None]
        try:
            with self.sessions() as session:  # rendering only reads: outside the write turn
                render = self._cached_renderer(session, notices)
                mails = [(d.id, render(d)) for d in claimed if d.id is not None]
        except BaseException:
            self.release_many(ids, "rendering failed", untried=ids)
            raise
        return Prepared(outbox_ids, mails, busy=busy)

    def _plan_and_claim(
        self, journey_id: str, seq: int
    ) -> tuple[list[NotificationOutbox], list[MailDelivery], list[MailDelivery]]:
        """One write: plan the event's notices (once), lease their pending deliveries."""
        now = utcnow()
        with self.writing() as session:
            notices = self._plan_in(session, journey_id, seq)
            outbox_ids = [n.id for n in notices if n.id is not None]
            if not outbox_ids:
                return [], [], []
            pending = list(
                session.exec(
                    select(MailDelivery)
                    .where(
                        col(MailDelivery.outbox_id).in_(outbox_ids),
                        MailDelivery.status == DeliveryStatus.PENDING.value,
                    )
                    .order_by(col(MailDelivery.id))
                ).all()
            )
            claimed = [d for d in pending if d.claimed_until is None or d.claimed_until <= now]
            for d in claimed:
                d.claimed_until = now + self.mail.lease
                d.attempts += 1
                session.add(d)
            session.commit()
        return notices, pending, claimed

    def _cached_renderer(
        self, session: Session, known: Sequence[NotificationOutbox] = ()
    ) -> Callable[[MailDelivery], Outgoing]:
        """`render_delivery` with the notices, accounts and contexts of one batch read once
        (`known`: notices read already)."""
        notices: dict[int, NotificationOutbox | None] = {n.id: n for n in known if n.id}
        names: dict[int, str | None] = {}
        contexts: dict[int, MailContext] = {}
        shared: dict[tuple[str, object], MailContext] = {}
        journeys: dict[str, Journey | None] = {}  # held here: the identity map is weak

        def render(delivery: MailDelivery) -> Outgoing:
            outbox_id = delivery.outbox_id
            assert outbox_id is not None
            if outbox_id not in notices:
                notices[outbox_id] = session.get(NotificationOutbox, outbox_id)
            notice = notices[outbox_id]
            if notice is None:
                raise LookupError(f"outbox row {outbox_id} is gone")
            name = None
            if delivery.account_id:
                if delivery.account_id not in names:
                    account = session.get(Account, delivery.account_id)
                    names[delivery.account_id] = account.full_name if account else None
                name = names[delivery.account_id]
            ctx = contexts.get(outbox_id)
            if ctx is None:
                ctx = contexts[outbox_id] = self._context(session, notice, shared, journeys)
            ctx = replace(ctx, recipient_name=name, for_beneficiary=delivery.for_beneficiary)
            message = message_for(notice.kind, notice.recipient)
            return self._outgoing(delivery, notice, self._draft(ctx, message))

        return render

    def _context(
        self,
        session: Session,
        notice: NotificationOutbox,
        shared: dict[tuple[str, object], MailContext],
        journeys: dict[str, Journey | None],
    ) -> MailContext:
        """`load_context`, read once for the notices of a journey naming the same structure
        (they differ only in their own detail and id)."""
        assert notice.journey_id is not None
        journey = journeys.get(notice.journey_id)
        if journey is None:
            journey = journeys[notice.journey_id] = session.get(Journey, notice.journey_id)
        structure = notice.detail.get("mediation_structure_id") or (
            journey.mediation_structure_id if journey else None
        )
        key = (notice.journey_id, structure)
        if key in shared:
            return replace(shared[key], detail=dict(notice.detail), outbox_id=notice.id)
        ctx = shared[key] = load_context(session, notice, base_url=self.mail.base_url)
        return ctx

    def release_many(
        self, delivery_ids: Sequence[int], reason: str, *, untried: Sequence[int] = ()
    ) -> None:
        """Give back the leases of deliveries still pending; those never tried (`untried`)
        do not count as an attempt."""
        if not delivery_ids:
            return
        skipped = set(untried)
        with self.writing() as session:
            for d in session.exec(
                select(MailDelivery).where(col(MailDelivery.id).in_(delivery_ids))
            ).all():
                if d.status != DeliveryStatus.PENDING.value:
                    continue
                d.claimed_until = None
                d.last_error = reason
                if d.id in skipped:
                    d.attempts = max(d.attempts - 1, 0)
                session.add(d)
            session.commit()

    def settle(self, outbox_ids: Sequence[int]) -> DeliveryReport:
        with self.writing() as session:
            statuses = [d.status for d in settle_outbox(session, outbox_ids)]
            session.commit()
        return DeliveryReport(
            sent=statuses.count(DeliveryStatus.SENT.value),
            failed=statuses.count(DeliveryStatus.FAILED.value),
            skipped=statuses.count(DeliveryStatus.SKIPPED.value),
            queued=statuses.count(DeliveryStatus.QUEUED.value),
        )

    def finish(
        self,
        outbox_ids: Sequence[int],
        unsent: Sequence[int],
        untried: Sequence[int],
        reason: str,
        record: Callable[[], None] | None = None,
    ) -> DeliveryReport:
        """Record the last mail's outcome (`record`, saving a thread hop), give back the
        leases of what was not sent, then settle the notices."""
        if record is not None:
            record()
        self.release_many(unsent, reason, untried=untried)
        return self.settle(outbox_ids)

    def _abandon(
        self,
        unsent: Sequence[int],
        untried: Sequence[int],
        reason: str,
        record: Callable[[], None] | None,
    ) -> None:
        if record is not None:
            record()
        self.release_many(unsent, reason, untried=untried)

    async def deliver_event(self, journey_id: str, seq: int) -> DeliveryReport:
        """Send what the event asked for, over one connection. Each mail is recorded as
        soon as the server took it (the ambiguous window stays one mail wide). A temporary
        failure (or a busy lease) is raised after recording what was sent, so the retry
        sends only the rest."""
        prepared = await asyncio.to_thread(self.prepare, journey_id, seq)
        if not prepared.outbox_ids:
            return DeliveryReport()
        error: BaseException | None = Busy("a delivery is being sent by another attempt")
        if not prepared.busy:
            error = None
        left = [delivery_id for delivery_id, _ in prepared.mails]
        last = left[-1] if left else None
        tried: set[int] = set()
        reason = "interrompu"
        record: Callable[[], None] | None = None  # the last mail's, done with the settling
        try:
            if prepared.mails:
                async with sending(self.sender) as sender:
                    for delivery_id, mail in prepared.mails:
                        tried.add(delivery_id)
                        try:
                            await sender.send(mail)
                        except PermanentFailure as err:
                            record = partial(
                                self.record_failed, delivery_id, mail.subject, str(err)
                            )
                        except TemporaryFailure as err:
                            reason = str(err)[:500]
                            error = err
                            break  # the server is unwell: the retry takes the rest
                        else:
                            record = partial(self.record_sent, delivery_id, mail.subject)
                        # Sent or refused for good: whatever happens next, not given back.
                        left.remove(delivery_id)
                        if delivery_id != last:
                            step, record = record, None
                            await asyncio.to_thread(step)
        except TemporaryFailure as err:  # could not connect
            reason, error = str(err)[:500], err
        except BaseException as err:  # cancellation, a bug: give back the leases, re-raise
            untried = [d for d in left if d not in tried]
            await asyncio.shield(
                asyncio.to_thread(
                    self._abandon, left, untried, str(err)[:500] or "interrompu", record
                )
            )
            raise
        untried = [d for d in left if d not in tried]
        report = await asyncio.to_thread(
            self.finish, prepared.outbox_ids, left, untried, reason, record
        )
        if error is not None:
            raise error
        return report


@dataclass(frozen=True)
class Prepared:
    outbox_ids: list[int]
    mails: list[tuple[int, Outgoing]]
    busy: bool  # some pending delivery is leased by another attempt

"""The daily digest: one mail per address gathering what was queued for it since the last
one (newly stalled journeys for coordinators, reminders a professional chose to receive
this way).

A round has a key (the digest workflow's id). Claiming assigns the queued rows of an
address to the round's digest row in one transaction, so a retried activity sends the same
digest with the same items, and a later round never repeats them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session, col, select

from domain.notices import NoticeKind, Recipient
from domain.stages import Role, Stage
from domain.validity import paris_day
from notifications.categories import Category
from notifications.context import journey_facts
from notifications.delivery import Deliveries, settle_outbox, utcnow
from notifications.rendering import render_template
from notifications.sender import Outgoing, PermanentFailure, message_id_for
from records.models import (
    Account,
    DeliveryStatus,
    Epci,
    Journey,
    MailDelivery,
    Programme,
    ReceptionStructure,
)

DIGEST_KIND = "DIGEST"
NO_LONGER_STALLED = "Le parcours n'est plus bloqué."


@dataclass(frozen=True)
class DigestItem:
    ref: str
    url: str
    reason: str
    stage: Stage
    reception: str = ""
    since: datetime | None = None


@dataclass(frozen=True)
class DigestContext:
    base_url: str
    programme_name: str
    day: date
    recipient_name: str | None = None
    scope: str | None = None
    stalled: list[DigestItem] = field(default_factory=list)
    reminders: list[DigestItem] = field(default_factory=list)

    @property
    def settings_url(self) -> str:
        return f"{self.base_url}/compte/notifications"


def digest_addresses(session: Session) -> list[str]:
    """Addresses with something queued and not yet in a digest."""
    rows = session.exec(
        select(MailDelivery.address)
        .where(
            MailDelivery.status == DeliveryStatus.QUEUED.value,
            col(MailDelivery.digest_key).is_(None),
        )
        .distinct()
        .order_by(col(MailDelivery.address))
    ).all()
    return list(rows)


def _still_stalled(session: Session, item: MailDelivery) -> bool:
    if item.kind != NoticeKind.JOURNEY_STALLED.value or item.journey_id is None:
        return True
    journey = session.get(Journey, item.journey_id)
    return journey is not None and journey.stalled


class Digests:
    def __init__(self, deliveries: Deliveries) -> None:
        self.d = deliveries

    def claim(self, key: str, address: str) -> tuple[int, str]:
        """The round's digest row for `address` (created with its items the first time):
        its id and status (SKIPPED: nothing left to say)."""
        now = utcnow()
        with self.d.writing() as session:
            row = session.exec(
                select(MailDelivery).where(
                    MailDelivery.idempotency_key == key, MailDelivery.address == address
                )
            ).first()
            if row is None:
                row = self._open(session, key, address, now)
            session.commit()
            assert row.id is not None
            return row.id, row.status

    def _open(self, session: Session, key: str, address: str, now: datetime) -> MailDelivery:
        items = session.exec(
            select(MailDelivery)
            .where(
                MailDelivery.address == address,
                MailDelivery.status == DeliveryStatus.QUEUED.value,
                col(MailDelivery.digest_key).is_(None),
            )
            .order_by(col(MailDelivery.id))
        ).all()
        account = session.exec(select(Account).where(Account.email == address)).first()
        live = 0
        for item in items:
            item.digest_key = key
            if _still_stalled(session, item):
                live += 1
            else:
                item.status = DeliveryStatus.SKIPPED.value
                item.last_error = NO_LONGER_STALLED
            session.add(item)
        row = MailDelivery(
            idempotency_key=key,
            address=address,
            kind=DIGEST_KIND,
            audience=Recipient.COORDINATORS.value
            if account is not None and account.role == Role.COORDINATOR.value
            else "PROFESSIONAL",
            account_id=account.id if account else None,
            category=Category.DIGEST.value,
            status=(DeliveryStatus.PENDING if live else DeliveryStatus.SKIPPED).value,
            message_id=message_id_for(key, address, self.d.mail.message_id_domain),
            created_at=now,
        )
        session.add(row)
        session.flush()
        settle_outbox(session, [i.outbox_id for i in items if i.outbox_id is not None])
        return row

    def context(self, session: Session, row: MailDelivery, at: datetime) -> DigestContext:
        base = self.d.mail.base_url
        items = session.exec(
            select(MailDelivery)
            .where(
                MailDelivery.digest_key == row.idempotency_key,
                MailDelivery.address == row.address,
                MailDelivery.status == DeliveryStatus.QUEUED.value,
            )
            .order_by(col(MailDelivery.id))
        ).all()
        stalled: list[DigestItem] = []
        reminders: list[DigestItem] = []
        programme_code: int | None = None
        for item in items:
            journey = session.get(Journey, item.journey_id) if item.journey_id else None
            if journey is None:
                continue
            programme_code = journey.programme_code
            facts = journey_facts(session, journey)
            url = f"{base}/parcours/{journey.id}"
            if item.kind == NoticeKind.JOURNEY_STALLED.value:
                reception = session.get(ReceptionStructure, journey.reception_structure_id)
                stalled.append(
                    DigestItem(
                        ref=facts.ref,
                        url=url,
                        reason=journey.stalled_reason or "Parcours sans activité",
                        stage=facts.stage,
                        reception=reception.name if reception else "",
                        since=journey.stalled_since,
                    )
                )
            else:
                reminders.append(
                    DigestItem(ref=facts.ref, url=url, reason=item.subject or "", stage=facts.stage)
                )
        account = session.get(Account, row.account_id) if row.account_id else None
        if account is not None:
            programme_code = account.programme_code
        programme = (
            session.exec(select(Programme).where(Programme.code == programme_code)).first()
            if programme_code is not None
            else None
        )
        scope = None
        if account is not None and account.role == Role.COORDINATOR.value:
            epci = session.get(Epci, account.epci_id) if account.epci_id else None
            scope = epci.name if epci else "tout le programme"
        return DigestContext(
            base_url=base,
            programme_name=programme.name if programme else "Pass numérique",
            day=paris_day(at),
            recipient_name=account.full_name if account else None,
            scope=scope,
            stalled=stalled,
            reminders=reminders,
        )

    def render(self, session: Session, row: MailDelivery, at: datetime) -> Outgoing:
        ctx = self.context(session, row, at)
        rendered = render_template(
            "digest", {"ctx": ctx, "programme_name": ctx.programme_name, "for_beneficiary": False}
        )
        return Outgoing(
            message_id=row.message_id,
            sender=self.d.mail.mail_from,
            to=row.address,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            headers={"X-Passnum-Kind": DIGEST_KIND},
        )

    def finish(self, row_id: int, sent: bool, reason: str | None = None) -> None:
        """The digest row is final: its items follow it, and their outbox rows them."""
        with self.d.writing() as session:
            row = session.get(MailDelivery, row_id)
            assert row is not None
            items = session.exec(
                select(MailDelivery).where(
                    MailDelivery.digest_key == row.idempotency_key,
                    MailDelivery.address == row.address,
                    MailDelivery.status == DeliveryStatus.QUEUED.value,
                )
            ).all()
            status = DeliveryStatus.SENT if sent else DeliveryStatus.FAILED
            for item in items:
                item.status = status.value
                item.sent_at = row.sent_at
                item.last_error = reason
                session.add(item)
            session.flush()
            settle_outbox(session, [i.outbox_id for i in items if i.outbox_id is not None])
            session.commit()

    async def send(self, key: str, address: str, at: datetime) -> str:
        """Send one address's digest of the round `key`; returns the row's final status."""
        row_id, status = await asyncio.to_thread(self.claim, key, address)
        if status == DeliveryStatus.PENDING.value:
            mail = await asyncio.to_thread(
                self.d.claim_with, row_id, lambda session, row: self.render(session, row, at)
            )
            if mail is not None:
                try:
                    await self.d.sender.send(mail)
                except PermanentFailure as err:
                    await asyncio.to_thread(self.d.record_failed, row_id, mail.subject, str(err))
                except BaseException as err:
                    await asyncio.shield(asyncio.to_thread(self.d.release, row_id, str(err)[:500]))
                    raise
                else:
                    await asyncio.to_thread(self.d.record_sent, row_id, mail.subject)
            status = await asyncio.to_thread(self._status, row_id)
        if status in (DeliveryStatus.SENT.value, DeliveryStatus.FAILED.value):
            # Also after a retry whose previous attempt died between the two records.
            await asyncio.to_thread(self._finish_as, row_id, status)
        return status

    def _finish_as(self, row_id: int, status: str) -> None:
        with self.d.sessions() as session:
            row = session.get(MailDelivery, row_id)
            reason = row.last_error if row else None
        self.finish(row_id, status == DeliveryStatus.SENT.value, reason)

    def _status(self, row_id: int) -> str:
        with self.d.sessions() as session:
            row = session.get(MailDelivery, row_id)
            return row.status if row else DeliveryStatus.SKIPPED.value

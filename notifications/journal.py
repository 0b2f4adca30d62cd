"""What the journey page shows about mail: each delivery's fate, and the letters to print.

deliveries_for(session, journey_id) -> list[DeliveryLine]
letters_for(session, journey_id) -> list[LetterLine]   # link: /parcours/{id}/lettres/{outbox_id}
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from domain.notices import Recipient
from records.models import DeliveryStatus, MailDelivery, NotificationOutbox

STATUS_LABELS: dict[str, str] = {
    DeliveryStatus.PENDING.value: "En cours d'envoi",
    DeliveryStatus.QUEUED.value: "Dans le prochain récapitulatif",
    DeliveryStatus.SENT.value: "Envoyé",
    DeliveryStatus.FAILED.value: "Échec définitif",
    DeliveryStatus.SKIPPED.value: "Non envoyé",
}


@dataclass(frozen=True)
class DeliveryLine:
    kind: str
    address: str
    status: str
    status_label: str
    subject: str | None
    reason: str | None  # the SMTP server's refusal, or why it was not sent
    sent_at: datetime | None
    for_beneficiary: bool


@dataclass(frozen=True)
class LetterLine:
    outbox_id: int
    kind: str
    created_at: datetime


def deliveries_for(session: Session, journey_id: str) -> list[DeliveryLine]:
    rows = session.exec(
        select(MailDelivery)
        .where(MailDelivery.journey_id == journey_id, col(MailDelivery.outbox_id).is_not(None))
        .order_by(col(MailDelivery.id))
    ).all()
    return [
        DeliveryLine(
            kind=d.kind,
            address=d.address,
            status=d.status,
            status_label=STATUS_LABELS.get(d.status, d.status),
            subject=d.subject,
            reason=d.last_error,
            sent_at=d.sent_at,
            for_beneficiary=d.for_beneficiary,
        )
        for d in rows
    ]


def letters_for(session: Session, journey_id: str) -> list[LetterLine]:
    """Messages meant for the person: each can be printed (whether or not they have e-mail)."""
    rows = session.exec(
        select(NotificationOutbox)
        .where(
            NotificationOutbox.journey_id == journey_id,
            NotificationOutbox.recipient == Recipient.BENEFICIARY.value,
        )
        .order_by(col(NotificationOutbox.id))
    ).all()
    return [LetterLine(n.id, n.kind, n.created_at) for n in rows if n.id is not None]

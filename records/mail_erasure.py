"""Anonymisation of a journey's mail: what was sent about the person stops saying who they are.

Kept for statistics: every `mail_delivery` row (kind, audience, category, status, dates,
attempts) and every `mailbox_message` row of the local sink (when it was received, who sent
it). Erased:

- the person's address: blanked on the deliveries addressed to them and on their copies in
  the sink (one recipient each: the sink files one envelope per delivery);
- subjects (a professional's subject names the person) and failure reasons that quote the
  address;
- the sink's copies of the journey's mails, and of the digests that listed the person by
  name (a reminder folded into a digest carries its subject): subject and body replaced;
- deliveries still waiting (pending or queued for a digest) are not sent any more.

Copies are found by Message-ID, which derives from (notice, address) and stays as it was:
a second run finds the same rows and changes nothing. The caller commits.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from domain.notices import Recipient
from records.models import DeliveryStatus, MailboxMessage, MailDelivery, NotificationOutbox

ERASED_ADDRESS = ""
ERASED_SUBJECT = "Courriel effacé (parcours anonymisé)"
ERASED_REASON = "Parcours anonymisé : message non envoyé."
ERASED_RAW = (
    f"Subject: {ERASED_SUBJECT}\r\n"
    'Content-Type: text/plain; charset="utf-8"\r\n'
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Ce courriel concernait une personne dont le parcours a été anonymisé : "
    "son contenu a été effacé.\r\n"
)
_ERASED_IN_TEXT = "[adresse effacée]"
_WAITING = (DeliveryStatus.PENDING.value, DeliveryStatus.QUEUED.value)


def _is_the_persons(d: MailDelivery) -> bool:
    """Addressed to the person themselves (not a referrer passing it on)."""
    return d.audience == Recipient.BENEFICIARY.value and not d.for_beneficiary


def _scrub(text: str | None, email: str | None) -> str | None:
    if text is None or not email:
        return text
    return text.replace(email, _ERASED_IN_TEXT)


def erase_journey_mail(session: Session, journey_id: str, person_email: str | None) -> None:
    """Erase the person from the journey's mail (see the module docstring). `person_email`
    is their address while it is still on file (None on a second run: nothing left to do
    that needs it)."""
    email = (person_email or "").strip() or None
    deliveries = session.exec(
        select(MailDelivery).where(MailDelivery.journey_id == journey_id)
    ).all()
    # Digests that named the person: those holding a journey item with a subject.
    named_in = {(d.digest_key, d.address) for d in deliveries if d.digest_key and d.subject}
    theirs: set[str] = set()  # message ids of mails sent to the person
    about: set[str] = set()  # message ids of mails about the person
    for d in deliveries:
        about.add(d.message_id)
        if _is_the_persons(d):
            theirs.add(d.message_id)
            d.address = ERASED_ADDRESS
        d.last_error = _scrub(d.last_error, email)
        if d.status in _WAITING and d.digest_key is None:
            d.status = DeliveryStatus.SKIPPED.value
            d.last_error = ERASED_REASON
        d.subject = None
        d.claimed_until = None
        session.add(d)
    for key, address in named_in:
        digest = session.exec(
            select(MailDelivery).where(
                MailDelivery.idempotency_key == key, MailDelivery.address == address
            )
        ).first()
        if digest is not None:
            about.add(digest.message_id)
    for notice in session.exec(
        select(NotificationOutbox).where(NotificationOutbox.journey_id == journey_id)
    ).all():
        if notice.last_error and email and email in notice.last_error:
            notice.last_error = _scrub(notice.last_error, email)
            session.add(notice)
    if about:
        copies = session.exec(
            select(MailboxMessage).where(col(MailboxMessage.message_id).in_(sorted(about)))
        ).all()
        for m in copies:
            if m.message_id in theirs:
                m.recipients = [ERASED_ADDRESS for _ in m.recipients]
            m.subject = ERASED_SUBJECT
            m.raw = ERASED_RAW
            session.add(m)
    session.flush()

"""Anonymisation erases the person from the mail too (SQLite and PostgreSQL): their address
on deliveries and in the local sink, subjects and bodies that name them; counts stay, and
a second run changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_string

from sqlmodel import Session, col, func, select
from temporalio.testing import ActivityEnvironment

from activities.journey_records import JourneyActivities
from domain.contracts import AnonymiseRequest
from notifications.sender import Outgoing, build_mime, message_id_for
from notifications.sink import read_mail, store_mail
from records.db import SessionFactory
from records.mail_erasure import ERASED_SUBJECT
from records.models import (
    Beneficiary,
    Channel,
    DeliveryStatus,
    MailboxMessage,
    MailDelivery,
    NotificationOutbox,
)

JID = "0b6f6a52-5c2b-4c7e-9a43-000000000001"
OTHER = "0b6f6a52-5c2b-4c7e-9a43-000000000002"
PERSON = "josette.fabre@example.org"
REFERRER = "lea.martin@ccas.example"
COORD = "coordination@aveyron.example"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DOMAIN = "passnum.test"


def delivery(
    session: Session,
    key: str,
    address: str,
    *,
    journey_id: str | None = JID,
    audience: str = "REFERRER",
    status: str = DeliveryStatus.SENT.value,
    subject: str | None = None,
    error: str | None = None,
    for_beneficiary: bool = False,
    digest_key: str | None = None,
    outbox_id: int | None = None,
    file_copy: bool = True,
) -> MailDelivery:
    """A delivery row and, if it was sent, its copy in the sink (the real MIME bytes)."""
    row = MailDelivery(
        idempotency_key=key,
        address=address,
        outbox_id=outbox_id,
        journey_id=journey_id,
        kind="DIGEST" if journey_id is None else "REFERRAL_RECORDED",
        audience=audience,
        for_beneficiary=for_beneficiary,
        category="REFERRAL",
        status=status,
        message_id=message_id_for(key, address, DOMAIN),
        subject=subject,
        digest_key=digest_key,
        last_error=error,
        attempts=1,
        created_at=T0,
        sent_at=T0 if status == DeliveryStatus.SENT.value else None,
    )
    session.add(row)
    if file_copy and subject is not None:
        mail = Outgoing(
            message_id=row.message_id,
            sender="Pass numérique <ne-pas-repondre@passnum.test>",
            to=address,
            subject=subject,
            text=f"Bonjour,\n\n{subject}\nJosette Fabre, {PERSON}\n",
            html=f"<p>{subject}</p><p>Josette Fabre</p>",
        )
        store_mail(
            session, build_mime(mail).as_bytes(), mail_from=mail.sender, recipients=[address]
        )
    return row


def seed(sessions: SessionFactory) -> None:
    with sessions() as s:
        s.add(
            Beneficiary(
                journey_id=JID,
                idempotency_key="form-1",
                first_name="Josette",
                last_name="Fabre",
                email=PERSON,
                commune="Rodez",
                preferred_channel=Channel.EMAIL.value,
                consent_given_at=T0,
                consent_text="J'accepte.",
                consent_recorded_by="1",
                created_at=T0,
            )
        )
        refused = NotificationOutbox(
            idempotency_key=f"{JID}:9:EXPIRY_WARNING:BENEFICIARY",
            journey_id=JID,
            kind="EXPIRY_WARNING",
            recipient="BENEFICIARY",
            created_at=T0,
            status="FAILED",
            last_error=f"{PERSON} : 550 5.1.1 <{PERSON}>: boîte inconnue",
        )
        s.add(refused)
        s.flush()
        k1 = f"{JID}:1:REFERRAL_RECORDED:BENEFICIARY"
        delivery(s, k1, PERSON, audience="BENEFICIARY", subject="Votre inscription est enregistrée")
        delivery(
            s,
            f"{JID}:1:REFERRAL_RECORDED:REFERRER",
            REFERRER,
            subject="Orientation enregistrée : Josette Fabre (0B6F6A52)",
        )
        delivery(
            s,
            refused.idempotency_key,
            PERSON,
            audience="BENEFICIARY",
            status=DeliveryStatus.FAILED.value,
            subject="Vos chèques expirent le 31/12/2026",
            error=f"550 5.1.1 <{PERSON}>: boîte inconnue",
            outbox_id=refused.id,
            file_copy=False,
        )
        # A reminder folded into a digest (its subject names the person), and the digest.
        delivery(
            s,
            f"{JID}:4:STAGE_REMINDER:REFERRER",
            COORD,
            status=DeliveryStatus.SENT.value,
            subject="Rappel : parcours de Josette Fabre sans activité depuis 30 jours",
            digest_key="digest-2026-03-03",
            file_copy=False,
        )
        delivery(
            s,
            "digest-2026-03-03",
            COORD,
            journey_id=None,
            audience="COORDINATORS",
            subject="Pass numérique, récapitulatif du 03/03/2026 : 1 rappel",
        )
        # Not sent yet: it never will be.
        delivery(
            s,
            f"{JID}:5:NUDGE:REFERRER",
            REFERRER,
            status=DeliveryStatus.PENDING.value,
            subject=None,
        )
        # Someone else's journey: untouched.
        delivery(
            s,
            f"{OTHER}:1:REFERRAL_RECORDED:REFERRER",
            REFERRER,
            journey_id=OTHER,
            subject="Orientation enregistrée : Paul Vidal (0B6F6A52)",
        )
        s.commit()


def state(sessions: SessionFactory) -> dict[str, object]:
    with sessions() as s:
        deliveries = s.exec(select(MailDelivery).order_by(col(MailDelivery.id))).all()
        mails = s.exec(select(MailboxMessage).order_by(col(MailboxMessage.id))).all()
        outbox = s.exec(select(NotificationOutbox)).all()
        return {
            "deliveries": [d.model_dump() for d in deliveries],
            "mails": [m.model_dump() for m in mails],
            "outbox": [n.model_dump() for n in outbox],
        }


def test_anonymisation_erases_the_person_from_mail(sessions: SessionFactory) -> None:
    seed(sessions)
    with sessions() as s:
        counts = (
            s.exec(select(func.count()).select_from(MailDelivery)).one(),
            s.exec(select(func.count()).select_from(MailboxMessage)).one(),
        )
    activities = JourneyActivities(sessions)
    env = ActivityEnvironment()
    env.run(activities.anonymise_beneficiary, AnonymiseRequest(JID, T0 + timedelta(days=800)))
    first = state(sessions)
    env.run(activities.anonymise_beneficiary, AnonymiseRequest(JID, T0 + timedelta(days=801)))
    assert state(sessions) == first  # idempotent

    with sessions() as s:
        # Counts kept for statistics.
        assert (
            s.exec(select(func.count()).select_from(MailDelivery)).one(),
            s.exec(select(func.count()).select_from(MailboxMessage)).one(),
        ) == counts
        mine = s.exec(
            select(MailDelivery)
            .where(MailDelivery.journey_id == JID)
            .order_by(col(MailDelivery.id))
        ).all()
        by_kind = {":".join(d.idempotency_key.split(":")[1:]): d for d in mine}
        # The person's address is gone from every delivery, and so are subjects.
        assert all(PERSON not in (d.address + (d.last_error or "")) for d in mine)
        assert all(d.subject is None for d in mine)
        assert (
            by_kind["1:REFERRAL_RECORDED:BENEFICIARY"].address == ""
            and by_kind["9:EXPIRY_WARNING:BENEFICIARY"].address == ""
        )
        assert (refused := by_kind["9:EXPIRY_WARNING:BENEFICIARY"]).status == "FAILED"
        assert "550 5.1.1" in (refused.last_error or "")
        assert [d.status for d in mine] == ["SENT", "SENT", "FAILED", "SENT", "SKIPPED"]
        assert by_kind["5:NUDGE:REFERRER"].last_error == "Parcours anonymisé : message non envoyé."
        notice = s.exec(select(NotificationOutbox)).one()
        assert notice.last_error is not None and PERSON not in notice.last_error

        # The sink: no copy names the person or holds their address, but the other
        # journey's mail is intact.
        mails = s.exec(select(MailboxMessage).order_by(col(MailboxMessage.id))).all()
        for m in mails[:-1]:
            assert m.subject == ERASED_SUBJECT
            assert "Fabre" not in m.raw and PERSON not in m.raw and PERSON not in m.recipients
            view = read_mail(s, m.id)  # type: ignore[arg-type]
            assert view is not None and "anonymisé" in view.text
        assert mails[0].recipients == [""]  # the person's copy: one recipient, blanked
        assert mails[1].recipients == [REFERRER] and mails[2].recipients == [COORD]
        other = mails[-1]
        assert other.subject == "Orientation enregistrée : Paul Vidal (0B6F6A52)"
        assert "Paul Vidal" in message_from_string(other.raw).get("Subject", "")
        untouched = s.exec(select(MailDelivery).where(MailDelivery.journey_id == OTHER)).one()
        assert untouched.subject == "Orientation enregistrée : Paul Vidal (0B6F6A52)"
        person = s.exec(select(Beneficiary)).one()
        assert person.email is None and person.first_name is None

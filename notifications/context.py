"""What a message says, read from the database at send time.

Personal data (names, addresses) comes from the `beneficiary` table here, never from the
workflow's history. Rendering (`notifications.rendering`) only sees these plain values,
so snapshot tests build them directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import or_
from sqlmodel import Session, col, func, select

from domain.needs import AutonomyLevel
from domain.refusals import LOSS_PARTICIPLES
from domain.stages import ChequeStatus, DeclineReason, LossReason, Outcome, Stage
from records import free_texts
from records.models import (
    Account,
    Beneficiary,
    Cheque,
    Journey,
    MediationStructure,
    NotificationOutbox,
    Programme,
    ReceptionStructure,
)


@dataclass(frozen=True)
class Person:
    first_name: str | None
    last_name: str | None
    email: str | None = None
    postal_address: str | None = None
    commune: str | None = None

    @property
    def name(self) -> str:
        full = " ".join(x for x in (self.first_name, self.last_name) if x)
        return full or "la personne accompagnée"


@dataclass(frozen=True)
class Structure:
    id: int
    name: str
    commune: str
    email: str | None = None


@dataclass(frozen=True)
class JourneyFacts:
    id: str
    stage: Stage
    programme_name: str
    referred_at: datetime | None = None
    millesime: int | None = None
    valid_until: datetime | None = None  # exclusive end instant (Europe/Paris midnight)
    cheques_total: int = 0
    cheques_redeemed: int = 0
    cheque_value_cents: int = 1000
    sessions_count: int = 0
    outcome: Outcome | None = None
    closed_at: datetime | None = None
    entry_autonomy: AutonomyLevel | None = None
    exit_autonomy: AutonomyLevel | None = None
    stalled_reason: str | None = None
    stalled_since: datetime | None = None

    @property
    def ref(self) -> str:
        """A short reference people can read out on the phone."""
        return self.id.replace("-", "")[:8].upper()

    @property
    def cheques_left(self) -> int:
        return max(self.cheques_total - self.cheques_redeemed, 0)


@dataclass(frozen=True)
class MailContext:
    """Everything a notice's message may say. `detail` is the notice's own detail."""

    base_url: str
    journey: JourneyFacts
    person: Person
    reception: Structure | None
    referrer_name: str | None = None
    mediation: Structure | None = None
    # A session at another structure: the one the person chose (the mail goes to `mediation`).
    new_mediation: Structure | None = None
    detail: dict[str, str] = field(default_factory=dict)
    recipient_name: str | None = None  # the account's name, or the structure's
    for_beneficiary: bool = False  # the person has no e-mail: their referrer gets it
    outbox_id: int | None = None
    # A nudge's message, read from the records by the notice's `message_id`
    # (records.free_texts); notices recorded before free texts carry it as `message`.
    message_text: str | None = None

    @property
    def reception_name(self) -> str:
        return self.reception.name if self.reception else "votre structure d'accueil"

    @property
    def mediation_name(self) -> str:
        return self.mediation.name if self.mediation else "la structure de médiation"

    @property
    def accompanist(self) -> str:
        """Who accompanies the person, as the person would name them."""
        if self.referrer_name and self.reception:
            return f"{self.referrer_name} ({self.reception.name})"
        return self.referrer_name or self.reception_name

    @property
    def accompanist_sentence(self) -> str:
        return f"Pour toute question, adressez-vous à {self.accompanist}."

    @property
    def journey_url(self) -> str:
        return f"{self.base_url}/parcours/{self.journey.id}"

    @property
    def letter_url(self) -> str | None:
        if self.outbox_id is None:
            return None
        return f"{self.base_url}/parcours/{self.journey.id}/lettres/{self.outbox_id}"

    @property
    def days(self) -> int | None:
        raw = self.detail.get("days")
        return int(raw) if raw else None

    @property
    def decline_reason(self) -> str | None:
        raw = self.detail.get("decline_reason")
        return DeclineReason(raw).label if raw else None

    @property
    def message(self) -> str | None:
        return self.message_text or self.detail.get("message") or None

    @property
    def failures(self) -> int | None:
        raw = self.detail.get("failures")
        return int(raw) if raw else None

    @property
    def cheques_left(self) -> int:
        raw = self.detail.get("cheques_left")
        return int(raw) if raw else self.journey.cheques_left

    # ---- a booklet declared lost and replaced (NoticeKind.BOOKLET_LOST) ----

    @property
    def lost_booklet_number(self) -> str:
        return self.detail.get("lost_booklet_number", "")

    @property
    def booklet_number(self) -> str:
        """The replacement's number."""
        return self.detail.get("booklet_number", "")

    @property
    def lost_on(self) -> date | None:
        raw = self.detail.get("lost_on")
        return date.fromisoformat(raw) if raw else None

    @property
    def lost_how(self) -> str:
        """ "perdu", "volé", "abîmé"."""
        raw = self.detail.get("loss_reason", "")
        return LOSS_PARTICIPLES[LossReason(raw)] if raw in LossReason.__members__ else "perdu"

    @property
    def replacement_cheques(self) -> int:
        raw = self.detail.get("cheques")
        return int(raw) if raw else 0


def _structure(row: ReceptionStructure | MediationStructure | None) -> Structure | None:
    if row is None or row.id is None:
        return None
    return Structure(id=row.id, name=row.name, commune=row.commune, email=row.email)


def journey_facts(session: Session, journey: Journey) -> JourneyFacts:
    programme = session.exec(
        select(Programme).where(Programme.code == journey.programme_code)
    ).first()
    return JourneyFacts(
        id=journey.id,
        stage=Stage(journey.stage),
        programme_name=programme.name if programme else "Pass numérique",
        referred_at=journey.referred_at,
        millesime=journey.millesime,
        valid_until=journey.valid_until,
        # The whole booklet: the journey row stops counting cancelled cheques. Those of a
        # booklet declared lost are not the person's any more (its replacement carries them).
        cheques_total=max(
            journey.cheques_total,
            session.exec(
                select(func.count())
                .select_from(Cheque)
                .where(
                    Cheque.journey_id == journey.id,
                    or_(
                        col(Cheque.status) != ChequeStatus.CANCELLED.value,
                        col(Cheque.booklet_number) == journey.booklet_number,
                    ),
                )
            ).one(),
        ),
        cheques_redeemed=journey.cheques_redeemed,
        cheque_value_cents=programme.cheque_value_cents if programme else 1000,
        sessions_count=journey.sessions_count,
        outcome=Outcome(journey.outcome) if journey.outcome else None,
        closed_at=journey.closed_at,
        entry_autonomy=AutonomyLevel(journey.entry_autonomy) if journey.entry_autonomy else None,
        exit_autonomy=AutonomyLevel(journey.exit_autonomy) if journey.exit_autonomy else None,
        stalled_reason=journey.stalled_reason,
        stalled_since=journey.stalled_since,
    )


def referrer_account(session: Session, journey: Journey) -> Account | None:
    """The account that referred the person (`referrer_ref` is its id), if it still exists."""
    if not journey.referrer_ref.isdigit():
        return None
    account = session.get(Account, int(journey.referrer_ref))
    return account if account is not None and account.is_active else None


def person_of(session: Session, journey_id: str) -> Person:
    row = session.exec(select(Beneficiary).where(Beneficiary.journey_id == journey_id)).first()
    if row is None or row.anonymised_at is not None:
        return Person(first_name=None, last_name=None)
    return Person(
        first_name=row.first_name,
        last_name=row.last_name,
        email=row.email,
        postal_address=row.postal_address,
        commune=row.commune,
    )


def load_context(
    session: Session,
    notice: NotificationOutbox,
    *,
    base_url: str,
    recipient_name: str | None = None,
    for_beneficiary: bool = False,
) -> MailContext:
    """The context of one outbox notice, as the database says now."""
    assert notice.journey_id is not None
    journey = session.get(Journey, notice.journey_id)
    if journey is None:
        raise LookupError(f"journey {notice.journey_id} is not recorded")
    structure_id = notice.detail.get("mediation_structure_id") or journey.mediation_structure_id
    mediation = session.get(MediationStructure, int(structure_id)) if structure_id else None
    referrer = referrer_account(session, journey)
    new_id = notice.detail.get("new_mediation_structure_id")
    new_mediation = session.get(MediationStructure, int(new_id)) if new_id else None
    return MailContext(
        base_url=base_url.rstrip("/"),
        journey=journey_facts(session, journey),
        person=person_of(session, journey.id),
        reception=_structure(session.get(ReceptionStructure, journey.reception_structure_id)),
        referrer_name=referrer.full_name if referrer else None,
        mediation=_structure(mediation),
        new_mediation=_structure(new_mediation),
        detail=dict(notice.detail),
        recipient_name=recipient_name,
        for_beneficiary=for_beneficiary,
        outbox_id=notice.id,
        message_text=free_texts.text(session, notice.detail.get("message_id")),
    )

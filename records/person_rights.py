"""The person's rights on the records: what is held on them (droit d'accès), the correction
of their identity and contact (droit de rectification); erasure goes through the journey's
workflow (U_ERASE_ON_REQUEST, then `anonymise_beneficiary`).

`free_texts` lists the free text typed by professionals about the person (the texts of
records.free_texts, and the reasons typed into the log before those were kept apart;
passnum's own reasons, e.g. why a journey stalled, are not about the person): the access
export shows them; anonymisation erases them (records.free_texts.erase_journey).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from domain.rights import RectifiableField, RectificationReason
from domain.stages import Role
from records import consent, queries
from records.models import (
    Assessment,
    Beneficiary,
    BookletAllocation,
    Cheque,
    ConsentVersion,
    Journey,
    Orientation,
    PersonRectification,
    TrainingSession,
)


@dataclass(frozen=True)
class FreeText:
    """A text typed by a professional about the person, and where it sits."""

    at: datetime
    source: str  # "timeline:<seq>"
    text: str


def free_texts(session: Session, journey_id: str) -> list[FreeText]:
    """Every free text typed by professionals on the journey, oldest first."""
    return [
        FreeText(row.at, f"timeline:{row.seq}", row.reason)
        for row in queries.journey_timeline(session, journey_id)
        if row.reason and row.actor_role != Role.SYSTEM.value
    ]


# ---- rectification ----


def rectify(
    session: Session,
    person: Beneficiary,
    changes: dict[RectifiableField, Any],
    *,
    reason: RectificationReason,
    account_id: int,
    actor_role: str,
    at: datetime,
) -> PersonRectification | None:
    """Apply the `changes` that differ from what is held and log which fields changed (not
    their old values); None when nothing differs. The duplicate check's keys follow (the
    model's before_update listener)."""
    changed = [f for f, value in changes.items() if getattr(person, f.value) != value]
    if not changed:
        return None
    for f in changed:
        setattr(person, f.value, changes[f])
    session.add(person)
    row = PersonRectification(
        journey_id=person.journey_id,
        at=at,
        account_id=account_id,
        actor_role=actor_role,
        fields=[f.value for f in changed],
        reason=RectificationReason(reason).value,
    )
    session.add(row)
    session.flush()
    return row


def rectifications(session: Session, journey_id: str) -> list[PersonRectification]:
    return list(
        session.exec(
            select(PersonRectification)
            .where(PersonRectification.journey_id == journey_id)
            .order_by(col(PersonRectification.id))
        ).all()
    )


# ---- what is held on the person ----


@dataclass(frozen=True)
class PersonRecords:
    """Everything the records hold on a journey's person (the API adds names and mail)."""

    person: Beneficiary | None
    consent_version: ConsentVersion | None
    journey: Journey
    assessments: list[Assessment]
    orientations: list[Orientation]
    booklets: list[BookletAllocation]
    cheques: list[Cheque]
    sessions: list[TrainingSession]
    timeline: list[queries.TimelineRow]
    rectifications: list[PersonRectification]
    free_texts: list[FreeText]


def person_records(session: Session, journey: Journey) -> PersonRecords:
    person = queries.get_beneficiary(session, journey.id)
    version = None
    if person is not None and person.consent_version is not None:
        version = consent.get(session, person.consent_version)
    return PersonRecords(
        person=person,
        consent_version=version,
        journey=journey,
        assessments=list(
            session.exec(
                select(Assessment)
                .where(Assessment.journey_id == journey.id)
                .order_by(col(Assessment.at))
            ).all()
        ),
        orientations=queries.journey_orientations(session, journey.id),
        booklets=queries.booklet_allocations(session, journey.id),
        cheques=queries.journey_cheques(session, journey.id),
        sessions=queries.journey_sessions(session, journey.id),
        timeline=queries.journey_timeline(session, journey.id),
        rectifications=rectifications(session, journey.id),
        free_texts=free_texts(session, journey.id),
    )

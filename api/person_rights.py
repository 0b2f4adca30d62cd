"""The person's rights (RGPD), for the social workers of their reception structure and the
coordinators in scope (api.access.require_person_rights):

- *droit d'accès*: `export` gathers everything held on the person (identity and contact,
  consent and its pinned version, the journey, assessments, orientations, booklets and
  cheques (serials, never the security codes), sessions, mail and letters, the timeline,
  corrections, free texts typed about them) for the JSON API and the printable page;
- *droit de rectification*: `rectify` corrects identity and contact with a reason, logged
  (who, when, which fields; not the old values), the duplicate check's keys recomputed;
  idempotent on the caller's key (API Idempotency-Key, page form id);
- *droit à l'effacement*: `erase` sends U_ERASE_ON_REQUEST to the journey's workflow (close,
  cancel unspent cheques, anonymise now; statistics kept).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlmodel import Session

from api import access, idempotency
from api.access import Change
from api.auth import User
from api.deps import AppState
from api.errors import ApiError, not_found
from api.journey_service import JourneyService
from api.mail_service import deliveries_for, kind_label, letters_for
from api.schemas import PersonIn, Strict
from domain import clock
from domain import contracts as c
from domain.needs import AssessmentTool, AutonomyLevel, SessionKind, SessionPlace, Theme
from domain.refusals import ERASE_STAGE, wrong_stage
from domain.rights import RectifiableField, RectificationReason
from domain.serials import parse_serial
from domain.stages import (
    Action,
    ChequeStatus,
    DeclineReason,
    LossReason,
    OrientationStatus,
    Outcome,
    Role,
    Stage,
)
from records import models, queries
from records import person_rights as held
from records.models import Channel

# ---- the access export (JSON; the printable page renders the same) ----


class PersonOut(BaseModel):
    first_name: str | None
    last_name: str | None
    birth_year: int | None
    phone: str | None
    email: str | None
    postal_address: str | None
    commune: str | None
    preferred_channel: str
    preferred_channel_label: str
    recorded_at: datetime
    anonymised_at: datetime | None


class ConsentOut(BaseModel):
    given_at: datetime
    recorded_by: str
    version: int | None = Field(description="The consent wording's version it was given on")
    version_wording: str | None
    version_valid_from: datetime | None
    text_recorded: str = Field(description="The wording recorded with the referral")


class JourneyOut(BaseModel):
    id: str
    stage: str
    stage_label: str
    outcome: str | None
    outcome_label: str | None
    reception_structure: str | None
    mediation_structure: str | None
    referred_at: datetime | None
    assessed_at: datetime | None
    booklet_issued_at: datetime | None
    oriented_at: datetime | None
    training_started_at: datetime | None
    closed_at: datetime | None
    anonymised_at: datetime | None


class AssessmentOut(BaseModel):
    kind: str
    kind_label: str
    tool_label: str
    autonomy_label: str
    needs_labels: list[str]
    at: datetime


class OrientationOut(BaseModel):
    mediation_structure: str | None
    status: str
    status_label: str
    since: datetime
    answered_at: datetime | None
    decline_reason_label: str | None


class BookletOut(BaseModel):
    booklet_number: int
    millesime: int
    replaces_booklet_number: int | None
    lost_on: date | None
    lost_reason_label: str | None


class ChequeOut(BaseModel):
    serial: str = Field(description="As printed on the booklet (the security code is not given)")
    booklet_number: int
    status: str
    status_label: str
    valid_until: datetime | None
    redeemed_on: date | None
    mediation_structure: str | None


class SessionOut(BaseModel):
    day: date
    duration_minutes: int
    kind_label: str
    place_label: str
    themes_labels: list[str]
    mediation_structure: str | None
    cheques: list[str]


class MailOut(BaseModel):
    kind: str
    to: str = Field(description="The person's address, or who received it about them")
    for_the_person: bool
    subject: str | None
    status_label: str
    sent_at: datetime | None


class LetterOut(BaseModel):
    kind: str
    created_at: datetime


class TimelineOut(BaseModel):
    seq: int
    at: datetime
    label: str
    by: str
    from_stage_label: str | None
    to_stage_label: str
    reason: str | None


class RectificationOut(BaseModel):
    at: datetime
    fields: list[str]
    fields_labels: list[str]
    reason: str
    reason_label: str
    by: str


class FreeTextOut(BaseModel):
    at: datetime
    source: str
    text: str


class PersonDataOut(BaseModel):
    """Everything passnum holds on the person of a journey (droit d'accès)."""

    generated_at: datetime
    person: PersonOut | None
    consent: ConsentOut | None
    journey: JourneyOut
    assessments: list[AssessmentOut]
    orientations: list[OrientationOut]
    booklets: list[BookletOut]
    cheques: list[ChequeOut]
    sessions: list[SessionOut]
    mails: list[MailOut]
    letters: list[LetterOut]
    timeline: list[TimelineOut]
    rectifications: list[RectificationOut]
    free_texts: list[FreeTextOut]


# ---- rectification ----


class RectificationIn(Strict):
    """The person's identity and contact as they should read, and why: the fields that
    differ are corrected (their old values are not kept)."""

    person: PersonIn
    reason: RectificationReason


class RectificationResult(BaseModel):
    changed: list[str] = Field(description="The fields corrected (none: nothing differed)")
    person: PersonOut


MSG_ANONYMISED = "Les données de cette personne ont été effacées : il n'y a plus rien à corriger."


def _label(enum: Any, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(enum(value).label)
    except ValueError:
        return value


def _serial(digits: str) -> str:
    try:
        return parse_serial(digits).display
    except ValueError:
        return digits


def _who(role: str, ref: str, names: dict[int, str]) -> str:
    if role == Role.SYSTEM:
        return "passnum (automatique)"
    name = names.get(int(ref)) if ref.isdigit() else None
    label = _label(Role, role) or role
    return f"{name} ({label})" if name else label


def _person_out(p: models.Beneficiary) -> PersonOut:
    return PersonOut(
        first_name=p.first_name,
        last_name=p.last_name,
        birth_year=p.birth_year,
        phone=p.phone,
        email=p.email,
        postal_address=p.postal_address,
        commune=p.commune,
        preferred_channel=p.preferred_channel,
        preferred_channel_label=_label(Channel, p.preferred_channel) or p.preferred_channel,
        recorded_at=p.created_at,
        anonymised_at=p.anonymised_at,
    )


def build_export(session: Session, journey: models.Journey, now: datetime) -> PersonDataOut:
    """Everything held on the journey's person, with names instead of ids."""
    r = held.person_records(session, journey)
    structure_ids = {
        x
        for x in (
            [journey.mediation_structure_id]
            + [o.mediation_structure_id for o in r.orientations]
            + [ch.mediation_structure_id for ch in r.cheques]
            + [s.mediation_structure_id for s in r.sessions]
        )
        if x is not None
    }
    structures = queries.mediation_structure_names(session, sorted(structure_ids))
    reception = queries.get_reception_structure(session, journey.reception_structure_id)
    refs = [t.actor_ref for t in r.timeline]
    if r.person is not None:
        refs.append(r.person.consent_recorded_by)
    account_ids = sorted(
        {int(x) for x in refs if x.isdigit()} | {x.account_id for x in r.rectifications}
    )
    names = queries.account_names(session, account_ids)

    def structure(x: int | None) -> str | None:
        return structures.get(x) if x is not None else None

    consent_out = None
    if r.person is not None:
        v = r.consent_version
        consent_out = ConsentOut(
            given_at=r.person.consent_given_at,
            recorded_by=_who(Role.SOCIAL_WORKER.value, r.person.consent_recorded_by, names),
            version=r.person.consent_version,
            version_wording=v.wording if v else None,
            version_valid_from=v.valid_from if v else None,
            text_recorded=r.person.consent_text,
        )
    kinds = {"ENTRY": "Diagnostic initial", "EXIT": "Diagnostic de sortie"}
    mails = [
        MailOut(
            kind=kind_label(d.kind),
            to=d.address if d.address else "(adresse effacée)",
            for_the_person=d.for_beneficiary,
            subject=d.subject,
            status_label=d.status_label,
            sent_at=d.sent_at,
        )
        for d in deliveries_for(session, journey.id)
    ]
    return PersonDataOut(
        generated_at=now,
        person=_person_out(r.person) if r.person is not None else None,
        consent=consent_out,
        journey=JourneyOut(
            id=journey.id,
            stage=journey.stage,
            stage_label=_label(Stage, journey.stage) or journey.stage,
            outcome=journey.outcome,
            outcome_label=_label(Outcome, journey.outcome),
            reception_structure=reception.name if reception else None,
            mediation_structure=structure(journey.mediation_structure_id),
            referred_at=journey.referred_at,
            assessed_at=journey.assessed_at,
            booklet_issued_at=journey.booklet_issued_at,
            oriented_at=journey.oriented_at,
            training_started_at=journey.training_started_at,
            closed_at=journey.closed_at,
            anonymised_at=journey.anonymised_at,
        ),
        assessments=[
            AssessmentOut(
                kind=a.kind,
                kind_label=kinds.get(a.kind, a.kind),
                tool_label=_label(AssessmentTool, a.tool) or a.tool,
                autonomy_label=_label(AutonomyLevel, a.autonomy) or a.autonomy,
                needs_labels=[_label(Theme, n) or n for n in a.needs],
                at=a.at,
            )
            for a in r.assessments
        ],
        orientations=[
            OrientationOut(
                mediation_structure=structure(o.mediation_structure_id),
                status=o.status,
                status_label=_label(OrientationStatus, o.status) or o.status,
                since=o.since,
                answered_at=o.answered_at,
                decline_reason_label=_label(DeclineReason, o.decline_reason),
            )
            for o in r.orientations
        ],
        booklets=[
            BookletOut(
                booklet_number=b.booklet_number,
                millesime=b.millesime,
                replaces_booklet_number=b.replaces_booklet_number,
                lost_on=b.lost_on,
                lost_reason_label=_label(LossReason, b.lost_reason),
            )
            for b in r.booklets
        ],
        cheques=[
            ChequeOut(
                serial=_serial(ch.serial),
                booklet_number=ch.booklet_number,
                status=ch.status,
                status_label=_label(ChequeStatus, ch.status) or ch.status,
                valid_until=ch.valid_until,
                redeemed_on=ch.redeemed_on,
                mediation_structure=structure(ch.mediation_structure_id),
            )
            for ch in r.cheques
        ],
        sessions=[
            SessionOut(
                day=s.day,
                duration_minutes=s.duration_minutes,
                kind_label=_label(SessionKind, s.kind) or s.kind,
                place_label=_label(SessionPlace, s.place) or s.place,
                themes_labels=[_label(Theme, t) or t for t in s.themes],
                mediation_structure=structure(s.mediation_structure_id),
                cheques=[_serial(x) for x in s.serials],
            )
            for s in r.sessions
        ],
        mails=mails,
        letters=[
            LetterOut(kind=kind_label(x.kind), created_at=x.created_at)
            for x in letters_for(session, journey.id)
        ],
        timeline=[
            TimelineOut(
                seq=t.seq,
                at=t.at,
                label=_label(Action, t.action) or t.action,
                by=_who(t.actor_role, t.actor_ref, names),
                from_stage_label=_label(Stage, t.from_stage),
                to_stage_label=_label(Stage, t.to_stage) or t.to_stage,
                reason=t.reason,
            )
            for t in r.timeline
        ],
        rectifications=[
            RectificationOut(
                at=x.at,
                fields=list(x.fields),
                fields_labels=[_label(RectifiableField, f) or f for f in x.fields],
                reason=x.reason,
                reason_label=_label(RectificationReason, x.reason) or x.reason,
                by=_who(x.actor_role, str(x.account_id), names),
            )
            for x in r.rectifications
        ],
        free_texts=[FreeTextOut(at=f.at, source=f.source, text=f.text) for f in r.free_texts],
    )


class PersonRights:
    def __init__(self, state: AppState) -> None:
        self.state = state

    def _journey(
        self, session: Session, user: User, journey_id: str, change: Change
    ) -> models.Journey:
        row = queries.journey_access(session, journey_id)
        access.require_person_rights(
            user,
            row if row is not None and row.programme_code == user.programme_code else None,
            change,
        )
        journey = session.get(models.Journey, journey_id)
        if journey is None:
            raise not_found()
        return journey

    async def check(self, user: User, journey_id: str, change: Change) -> None:
        """404/403 before a page shows a form."""
        await self.state.db.run(lambda s: self._journey(s, user, journey_id, change))

    async def export(self, user: User, journey_id: str) -> PersonDataOut:
        now = clock.now()
        return await self.state.db.run(
            lambda s: build_export(
                s, self._journey(s, user, journey_id, Change.READ_PERSON_DATA), now
            )
        )

    async def current_person(self, user: User, journey_id: str) -> models.Beneficiary:
        def read(session: Session) -> models.Beneficiary:
            self._journey(session, user, journey_id, Change.RECTIFY_PERSON)
            person = queries.get_beneficiary(session, journey_id)
            if person is None:
                raise not_found("Personne")
            return person

        return await self.state.db.run(read)

    async def rectify(
        self, user: User, journey_id: str, body: RectificationIn, *, key: str | None
    ) -> RectificationResult:
        """Correct the person's identity and contact (see the module docstring). The same
        key sent again with the same request answers without changing anything; with
        another request, 409."""
        now = clock.now()
        secret = self.state.settings.secret_key.get_secret_value()
        fp = idempotency.fingerprint(secret, body)

        def write(session: Session) -> RectificationResult:
            self._journey(session, user, journey_id, Change.RECTIFY_PERSON)
            person = queries.get_beneficiary(session, journey_id)
            if person is None:
                raise not_found("Personne")
            if person.anonymised_at is not None:
                raise ApiError(409, "anonymised", MSG_ANONYMISED)
            first = True
            if key:
                first = idempotency.claim(
                    session, scope=f"{journey_id}:rectify", key=key, fingerprint=fp
                )
            changed: list[str] = []
            if first:
                data = body.person.model_dump()
                changes = {f: data[f.value] for f in RectifiableField}
                changes[RectifiableField.PREFERRED_CHANNEL] = Channel(
                    data["preferred_channel"]
                ).value
                row = held.rectify(
                    session,
                    person,
                    changes,
                    reason=body.reason,
                    account_id=user.id,
                    actor_role=user.role.value,
                    at=now,
                )
                changed = list(row.fields) if row is not None else []
            return RectificationResult(changed=changed, person=_person_out(person))

        return await self.state.db.run(write, write=True)

    async def erase(self, user: User, journey_id: str, *, key: str | None) -> c.JourneyStatus:
        """The person's erasure on request, through the journey's workflow. Once erased,
        the workflow has completed: the same key sent again (a double submit) is answered
        with the journey as it is; another request is 409 wrong_stage."""
        request = c.EraseRequest(actor=user.actor)
        secret = self.state.settings.secret_key.get_secret_value()
        fp = idempotency.fingerprint(secret, request)

        def erased_already(session: Session) -> bool:
            journey = self._journey(session, user, journey_id, Change.ERASE_ON_REQUEST)
            if journey.stage != Stage.ANONYMISED.value:
                return False
            scope = f"{journey_id}:{c.U_ERASE_ON_REQUEST}"
            if key and not idempotency.claim(session, scope=scope, key=key, fingerprint=fp):
                return True  # this very request, answered again
            refused = wrong_stage(ERASE_STAGE, Stage.ANONYMISED)
            raise ApiError(409, "wrong_stage", refused.message)

        if await self.state.db.run(erased_already, write=bool(key)):
            return await JourneyService(self.state, user.programme_code).live_status(
                journey_id, user
            )
        return await JourneyService(self.state, user.programme_code).update(
            journey_id,
            c.U_ERASE_ON_REQUEST,
            request,
            key=key,
            result_type=c.JourneyStatus,
            user=user,
            change=Change.ERASE_ON_REQUEST,
        )

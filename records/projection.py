"""Project a journey event (the workflow's state after a change) onto the read model."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from domain.contracts import (
    AssessmentState,
    JourneyEvent,
    JourneyStatus,
    OrientationState,
    SessionState,
    workflow_id_for,
)
from domain.needs import AssessmentKind
from domain.serials import parse_serial
from domain.stages import ChequeStatus, Stage
from domain.validity import valid_until as millesime_valid_until
from records.models import (
    Assessment,
    Cheque,
    Journey,
    NotificationOutbox,
    Orientation,
    OutboxStatus,
    TrainingSession,
    TransitionLog,
)

STAGE_DATE_FIELDS: dict[Stage, str] = {
    Stage.REFERRED: "referred_at",
    Stage.ASSESSED: "assessed_at",
    Stage.BOOKLET_ISSUED: "booklet_issued_at",
    Stage.ORIENTED: "oriented_at",
    Stage.IN_TRAINING: "training_started_at",
    Stage.CLOSED: "closed_at",
    Stage.ANONYMISED: "anonymised_at",
}
SPENT = frozenset({ChequeStatus.REDEEMED, ChequeStatus.REIMBURSED})


def _value(v: object) -> str | None:
    """A StrEnum (or plain string) as its stored string."""
    return None if v is None else str(v)


def is_recorded(session: Session, journey_id: str, seq: int) -> bool:
    found = session.exec(
        select(TransitionLog.id).where(
            TransitionLog.journey_id == journey_id, TransitionLog.seq == seq
        )
    ).first()
    return found is not None


def apply_journey_event(session: Session, event: JourneyEvent) -> None:
    """Write one event: log row, outbox rows, and the snapshot if the event is the newest.

    The caller has checked `is_recorded` and commits; the (journey_id, seq) unique
    constraint turns a concurrent duplicate into an IntegrityError at flush.
    """
    status = event.status
    journey = session.get(Journey, event.journey_id)
    is_new = journey is None
    if journey is None:
        journey = Journey(
            id=event.journey_id,
            workflow_id=workflow_id_for(event.journey_id),
            programme_code=status.programme_code,
            epci_id=status.epci_id,
            reception_structure_id=status.reception_structure_id,
            referrer_role=str(status.referrer.role),
            referrer_ref=status.referrer.ref,
            stage=str(status.stage),
            updated_at=event.at,
        )
        session.add(journey)
        session.flush()  # children reference it
    # An older event arriving late (it cannot with one workflow awaiting each record,
    # but a projection should not depend on it) only adds its log and outbox rows.
    if is_new or event.seq > journey.last_seq:
        _project_journey(journey, status, event)
        _project_cheques(session, status, event.at)
        _project_sessions(session, event.journey_id, status.sessions)
        for assessment in (status.entry_assessment, status.exit_assessment):
            if assessment is not None:
                _project_assessment(session, event.journey_id, assessment)
        if status.orientation is not None:
            _project_orientation(session, event.journey_id, status.orientation)

    session.add(
        TransitionLog(
            journey_id=event.journey_id,
            seq=event.seq,
            at=event.at,
            actor_role=str(event.actor.role),
            actor_ref=event.actor.ref,
            action=str(event.action),
            from_stage=_value(event.from_stage),
            to_stage=str(event.to_stage),
            reason=event.reason,
            detail=dict(event.detail),
        )
    )
    _add_notices(session, event)
    session.flush()


def _project_journey(journey: Journey, status: JourneyStatus, event: JourneyEvent) -> None:
    journey.programme_code = status.programme_code
    journey.epci_id = status.epci_id
    journey.reception_structure_id = status.reception_structure_id
    journey.referrer_role = str(status.referrer.role)
    journey.referrer_ref = status.referrer.ref
    journey.stage = str(status.stage)
    journey.outcome = _value(status.outcome)
    dates = {Stage(k): v for k, v in status.stage_dates.items()}
    for stage, field in STAGE_DATE_FIELDS.items():
        # Keep a date the snapshot no longer carries (anonymisation sets one itself).
        setattr(journey, field, dates.get(stage) or getattr(journey, field))
    if status.closed_at is not None:
        journey.closed_at = status.closed_at
    journey.last_activity_at = status.last_activity_at or event.at
    journey.mediation_structure_id = status.mediation_structure_id
    orientation = status.orientation
    journey.orientation_status = _value(orientation.status) if orientation else None
    journey.orientation_structure_id = orientation.mediation_structure_id if orientation else None
    journey.stalled = status.stalled
    journey.stalled_since = status.stalled_since if status.stalled else None
    journey.stalled_reason = status.stalled_reason if status.stalled else None
    journey.millesime = status.millesime
    journey.booklet_number = status.booklet_number
    journey.valid_until = status.valid_until
    live = [c for c in status.cheques if c.status != ChequeStatus.CANCELLED]
    journey.cheques_total = len(live)
    journey.cheques_redeemed = sum(1 for c in live if c.status in SPENT)
    journey.sessions_count = len(status.sessions)
    entry, exit_ = status.entry_assessment, status.exit_assessment
    journey.entry_autonomy = _value(entry.autonomy) if entry else None
    journey.exit_autonomy = _value(exit_.autonomy) if exit_ else None
    journey.last_seq = event.seq
    journey.updated_at = event.at


def _project_cheques(session: Session, status: JourneyStatus, at: datetime) -> None:
    if not status.cheques:
        return
    existing = {
        c.serial: c
        for c in session.exec(select(Cheque).where(Cheque.journey_id == status.journey_id)).all()
    }
    for state in status.cheques:
        serial = parse_serial(state.serial)
        if status.millesime == serial.millesime and status.valid_until is not None:
            until = status.valid_until
        else:
            until = millesime_valid_until(serial.millesime)
        row = existing.get(serial.digits)
        if row is None:
            row = Cheque(
                serial=serial.digits,
                journey_id=status.journey_id,
                programme_code=serial.programme_code,
                millesime=serial.millesime,
                booklet_number=serial.booklet_number,
                number=serial.cheque_number,
                status=str(state.status),
                updated_at=at,
            )
            session.add(row)
        values: dict[str, object] = {
            "status": str(state.status),
            "session_id": state.session_id,
            "redeemed_on": state.redeemed_on,
            "mediation_structure_id": state.mediation_structure_id,
            "valid_until": until,
        }
        if any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            row.updated_at = at


def _project_sessions(session: Session, journey_id: str, sessions: list[SessionState]) -> None:
    if not sessions:
        return
    known = set(
        session.exec(
            select(TrainingSession.session_id).where(TrainingSession.journey_id == journey_id)
        ).all()
    )
    for s in sessions:
        if s.session_id in known:
            continue  # a logged session does not change
        session.add(
            TrainingSession(
                session_id=s.session_id,
                journey_id=journey_id,
                mediation_structure_id=s.mediation_structure_id,
                day=s.day,
                duration_minutes=s.duration_minutes,
                kind=str(s.kind),
                place=str(s.place),
                themes=[str(t) for t in s.themes],
                equipment=[str(e) for e in s.equipment],
                autonomy_observed=_value(s.autonomy_observed),
                serials=[parse_serial(x).digits for x in s.serials],
                logged_at=s.logged_at,
            )
        )


def _project_assessment(session: Session, journey_id: str, state: AssessmentState) -> None:
    kind = AssessmentKind(state.kind).value
    row = session.exec(
        select(Assessment).where(Assessment.journey_id == journey_id, Assessment.kind == kind)
    ).first()
    if row is None:
        row = Assessment(journey_id=journey_id, kind=kind, tool="", autonomy="", at=state.at)
        session.add(row)
    row.tool = str(state.tool)
    row.autonomy = str(state.autonomy)
    row.needs = [str(t) for t in state.needs]
    row.at = state.at


def _project_orientation(session: Session, journey_id: str, state: OrientationState) -> None:
    row = session.get(Orientation, state.orientation_id)
    if row is None:
        row = Orientation(
            orientation_id=state.orientation_id,
            journey_id=journey_id,
            mediation_structure_id=state.mediation_structure_id,
            status=str(state.status),
            since=state.since,
        )
        session.add(row)
    row.mediation_structure_id = state.mediation_structure_id
    row.status = str(state.status)
    row.since = state.since
    row.answered_at = state.answered_at
    row.decline_reason = _value(state.decline_reason)
    row.reminded = state.reminded


def _add_notices(session: Session, event: JourneyEvent) -> None:
    if not event.notices:
        return
    keys = [n.key for n in event.notices]
    present = set(
        session.exec(
            select(NotificationOutbox.idempotency_key).where(
                col(NotificationOutbox.idempotency_key).in_(keys)
            )
        ).all()
    )
    for notice in event.notices:
        if notice.key in present:
            continue
        present.add(notice.key)
        session.add(
            NotificationOutbox(
                idempotency_key=notice.key,
                journey_id=event.journey_id,
                kind=str(notice.kind),
                recipient=str(notice.recipient),
                detail=dict(notice.detail),
                created_at=event.at,
                status=OutboxStatus.PENDING.value,
            )
        )

"""Project a journey event (the workflow's state after a change) onto the read model."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, insert, update
from sqlmodel import Session, select

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
from domain.stages import Action, ChequeStatus, OrientationStatus, Stage
from domain.validity import paris_day, paris_month
from domain.validity import valid_until as millesime_valid_until
from records import ledger, overview_counts
from records.models import (
    Assessment,
    BookletAllocation,
    Cheque,
    ChequeCodeFailure,
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
    found = session.execute(
        select(_LOG.c.id).where(_LOG.c.journey_id == journey_id, _LOG.c.seq == seq)
    ).first()
    return found is not None


# Seals a fresh security code for a new cheque's serial (records.cheque_codes.CodeVault).
CodeMaker = Callable[[str], str]


def record_journey_event(
    session: Session, event: JourneyEvent, new_code: CodeMaker | None = None
) -> bool:
    """Write `event` unless it is already recorded; True if it wrote. The caller commits.

    `new_code` gives each cheque its sealed security code when its row is first written
    (the booklet's issue); without it cheques are written without one.

    Reads the journey first: an event newer than the journey's last recorded one cannot be
    recorded yet (its log row and `last_seq` are written together), so only an older or
    equal seq (a retry, a late event) costs the log lookup.
    """
    journey = _journey_row(session, event.journey_id)
    late = journey is not None and event.seq <= journey.last_seq
    if late and is_recorded(session, event.journey_id, event.seq):
        return False
    _apply(session, event, journey, new_code)
    return True


def apply_journey_event(session: Session, event: JourneyEvent) -> None:
    """Write one event: log row, outbox rows, and the snapshot if the event is the newest.

    The caller has checked `is_recorded` and commits; the (journey_id, seq) unique
    constraint turns a concurrent duplicate into an IntegrityError.
    """
    _apply(session, event, _journey_row(session, event.journey_id))


# Core statements on the tables, not ORM objects: a journey event touches a dozen rows at
# most, and building and flushing ORM objects for them cost more than the SQL itself.
_JOURNEY = Journey.__table__  # type: ignore[attr-defined]
_CHEQUE = Cheque.__table__  # type: ignore[attr-defined]
_SESSION = TrainingSession.__table__  # type: ignore[attr-defined]
_ASSESSMENT = Assessment.__table__  # type: ignore[attr-defined]
_ORIENTATION = Orientation.__table__  # type: ignore[attr-defined]
_LOG = TransitionLog.__table__  # type: ignore[attr-defined]
_OUTBOX = NotificationOutbox.__table__  # type: ignore[attr-defined]
_CODE_FAILURE = ChequeCodeFailure.__table__  # type: ignore[attr-defined]
_ALLOCATION = BookletAllocation.__table__  # type: ignore[attr-defined]
# Events that prove the holder is present (a session paid with the right codes) or that a
# coordinator checked: wrong codes counted before them no longer count towards a lock.
# A booklet declared lost takes its wrong codes (and its lock) with it.
_CLEARS_CODE_FAILURES = frozenset(
    {Action.SESSION_LOGGED, Action.BOOKLET_UNLOCKED, Action.BOOKLET_LOST}
)
_CHEQUE_FIELDS = ("status", "session_id", "redeemed_on", "mediation_structure_id", "valid_until")


def _journey_row(session: Session, journey_id: str) -> Row[Any] | None:
    return session.execute(select(_JOURNEY).where(_JOURNEY.c.id == journey_id)).first()


def _apply(
    session: Session,
    event: JourneyEvent,
    journey: Row[Any] | None,
    new_code: CodeMaker | None = None,
) -> None:
    status = event.status
    jid = event.journey_id
    if journey is None:
        values = _journey_values(status, event, {})
        values.update(id=jid, workflow_id=workflow_id_for(jid))
        session.execute(insert(_JOURNEY).values(values))  # first: children reference it
        overview_counts.record_change(session, None, values)
        newest = True
    elif event.seq > journey.last_seq:
        current = journey._asdict()
        values = _journey_values(status, event, current)
        changed = {k: v for k, v in values.items() if current[k] != v}
        session.execute(update(_JOURNEY).where(_JOURNEY.c.id == jid).values(changed))
        overview_counts.record_change(session, current, current | values)
        newest = True
    else:
        # An older event arriving late (it cannot with one workflow awaiting each record,
        # but a projection should not depend on it) only adds its log and outbox rows.
        newest = False
    if newest:
        _project_cheques(session, status, event.at, new_code)
        _project_sessions(session, jid, status.sessions)
        assessments = [a for a in (status.entry_assessment, status.exit_assessment) if a]
        if assessments:
            _project_assessments(session, jid, assessments)
        if status.orientation is not None:
            _project_orientation(session, jid, status.orientation)
        if event.action == Action.BOOKLET_LOST:
            _project_lost_booklets(session, status, event.at)

    session.execute(
        insert(_LOG).values(
            journey_id=jid,
            seq=event.seq,
            at=event.at,
            actor_role=str(event.actor.role),
            actor_ref=event.actor.ref,
            action=str(event.action),
            from_stage=_value(event.from_stage),
            to_stage=str(event.to_stage),
            reason=event.reason,
            detail=dict(event.detail),
            free_text_id=event.text_id,
        )
    )
    _add_notices(session, event)
    if event.action in _CLEARS_CODE_FAILURES:
        f = _CODE_FAILURE.c
        session.execute(
            update(_CODE_FAILURE)
            .where(f.journey_id == jid, f.cleared_at.is_(None), f.at <= event.at)
            .values(cleared_at=event.at)
        )


def _journey_values(
    status: JourneyStatus, event: JourneyEvent, current: dict[str, Any]
) -> dict[str, Any]:
    """The journey row's columns after `event` (`current`: the row before, or empty)."""
    orientation = status.orientation
    live = [c for c in status.cheques if c.status != ChequeStatus.CANCELLED]
    entry, exit_ = status.entry_assessment, status.exit_assessment
    values: dict[str, Any] = {
        "programme_code": status.programme_code,
        "epci_id": status.epci_id,
        "reception_structure_id": status.reception_structure_id,
        "referrer_role": str(status.referrer.role),
        "referrer_ref": status.referrer.ref,
        "stage": str(status.stage),
        "outcome": _value(status.outcome),
        "last_activity_at": status.last_activity_at or event.at,
        "mediation_structure_id": status.mediation_structure_id,
        "orientation_status": _value(orientation.status) if orientation else None,
        "orientation_structure_id": orientation.mediation_structure_id if orientation else None,
        "stalled": status.stalled,
        "stalled_since": status.stalled_since if status.stalled else None,
        "stalled_reason": status.stalled_reason if status.stalled else None,
        "millesime": status.millesime,
        "booklet_number": status.booklet_number,
        "valid_until": status.valid_until,
        "cheques_total": len(live),
        "cheques_redeemed": sum(1 for c in live if c.status in SPENT),
        "sessions_count": len(status.sessions),
        "entry_autonomy": _value(entry.autonomy) if entry else None,
        "exit_autonomy": _value(exit_.autonomy) if exit_ else None,
        "days_to_first_session": _days_to_first_session(status),
        "booklet_locked_at": status.booklet_locked_at,
        "last_seq": event.seq,
        "updated_at": event.at,
    }
    dates = {Stage(k): v for k, v in status.stage_dates.items()}
    for stage, field in STAGE_DATE_FIELDS.items():
        # Keep a date the snapshot no longer carries (anonymisation sets one itself).
        values[field] = dates.get(stage) or current.get(field)
    # The booklet's issue, not the last return to its stage: a declined or expired
    # orientation moves the journey back to BOOKLET_ISSUED (the workflow's stage date
    # follows), and reports count issued cheques by this date.
    if current.get("booklet_issued_at") is not None:
        values["booklet_issued_at"] = current["booklet_issued_at"]
    if status.closed_at is not None:
        values["closed_at"] = status.closed_at
    referred = values.get("referred_at")
    values["referred_month"] = paris_month(referred) if referred else current.get("referred_month")
    return values


def _days_to_first_session(status: JourneyStatus) -> int | None:
    referred = status.stage_dates.get(Stage.REFERRED)
    if not status.sessions or referred is None:
        return None
    return (min(s.day for s in status.sessions) - paris_day(referred)).days


def _project_cheques(
    session: Session, status: JourneyStatus, at: datetime, new_code: CodeMaker | None
) -> None:
    if not status.cheques:
        return
    c = _CHEQUE.c
    existing = {
        row.serial: row
        for row in session.execute(
            select(c.serial, *(c[k] for k in _CHEQUE_FIELDS)).where(
                c.journey_id == status.journey_id
            )
        )
    }
    added: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    charges: list[ledger.ChequeCharge] = []
    for state in status.cheques:
        serial = parse_serial(state.serial)
        if status.millesime == serial.millesime and status.valid_until is not None:
            until = status.valid_until
        else:
            until = millesime_valid_until(serial.millesime)
        values: dict[str, Any] = {
            "status": str(state.status),
            "session_id": state.session_id,
            "redeemed_on": state.redeemed_on,
            "mediation_structure_id": state.mediation_structure_id,
            "valid_until": until,
        }
        row = existing.get(serial.digits)
        if row is not None and row.status == ChequeStatus.REIMBURSED and values["status"] in SPENT:
            # Reimbursement is money state the records hold (records/statements.py): the
            # workflow's cheque stays REDEEMED, and must not turn a paid cheque back.
            values["status"] = ChequeStatus.REIMBURSED.value
        if row is None or row.status != values["status"]:
            charges.append(
                ledger.ChequeCharge(
                    serial=serial.digits,
                    programme_code=serial.programme_code,
                    millesime=serial.millesime,
                    epci_id=status.epci_id,
                    status=values["status"],
                    committed_at=at,
                    changed_at=at,
                    new=row is None,
                )
            )
        if row is None:
            added.append(
                values
                | {
                    "serial": serial.digits,
                    "journey_id": status.journey_id,
                    "programme_code": serial.programme_code,
                    "millesime": serial.millesime,
                    "booklet_number": serial.booklet_number,
                    "number": serial.cheque_number,
                    "updated_at": at,
                    "security_code": new_code(serial.digits) if new_code else None,
                }
            )
        elif any(getattr(row, k) != v for k, v in values.items()):
            changed.append(values | {"b_serial": serial.digits, "updated_at": at})
    if added:
        session.execute(insert(_CHEQUE), added)
    if charges:
        # The funder ledger's entries, in the same unit of work as the cheque rows.
        ledger.charge(session, charges)
    if changed:
        session.execute(
            update(_CHEQUE)
            .where(c.serial == bindparam("b_serial"))
            .values({k: bindparam(k) for k in (*_CHEQUE_FIELDS, "updated_at")}),
            changed,
        )


def _project_lost_booklets(session: Session, status: JourneyStatus, at: datetime) -> None:
    """Booklets declared lost: their allocation rows say when, the day and why; the
    replacement's slip is to be printed and handed over (`slip_to_reprint_since`, cleared
    when the social worker shows it)."""
    a = _ALLOCATION.c
    for lost in status.lost_booklets:
        session.execute(
            update(_ALLOCATION)
            .where(
                a.programme_code == status.programme_code,
                a.booklet_number == lost.booklet_number,
                a.lost_at.is_(None),
            )
            .values(lost_at=lost.declared_at, lost_on=lost.lost_on, lost_reason=str(lost.reason))
        )
    if status.booklet_number is not None:
        session.execute(
            update(_ALLOCATION)
            .where(
                a.programme_code == status.programme_code,
                a.booklet_number == status.booklet_number,
                a.journey_id == status.journey_id,
            )
            .values(slip_to_reprint_since=at)
        )


def _project_sessions(session: Session, journey_id: str, sessions: list[SessionState]) -> None:
    if not sessions:
        return
    c = _SESSION.c
    known = set(session.scalars(select(c.session_id).where(c.journey_id == journey_id)))
    added = [
        {
            "session_id": s.session_id,
            "journey_id": journey_id,
            "mediation_structure_id": s.mediation_structure_id,
            "day": s.day,
            "duration_minutes": s.duration_minutes,
            "kind": str(s.kind),
            "place": str(s.place),
            "themes": [str(t) for t in s.themes],
            "equipment": [str(e) for e in s.equipment],
            "autonomy_observed": _value(s.autonomy_observed),
            "serials": [parse_serial(x).digits for x in s.serials],
            "logged_at": s.logged_at,
        }
        for s in sessions
        if s.session_id not in known  # a logged session does not change
    ]
    if added:
        session.execute(insert(_SESSION), added)


def _project_assessments(session: Session, journey_id: str, states: list[AssessmentState]) -> None:
    c = _ASSESSMENT.c
    existing = {
        row.kind: row
        for row in session.execute(
            select(*[c.id, c.kind, c.tool, c.autonomy, c.needs, c.at]).where(
                c.journey_id == journey_id
            )
        )
    }
    for state in states:
        kind = AssessmentKind(state.kind).value
        values: dict[str, Any] = {
            "tool": str(state.tool),
            "autonomy": str(state.autonomy),
            "needs": [str(t) for t in state.needs],
            "at": state.at,
        }
        row = existing.get(kind)
        if row is None:
            session.execute(
                insert(_ASSESSMENT).values(values | {"journey_id": journey_id, "kind": kind})
            )
        elif any(getattr(row, k) != v for k, v in values.items()):
            session.execute(update(_ASSESSMENT).where(c.id == row.id).values(values))


def _project_orientation(session: Session, journey_id: str, state: OrientationState) -> None:
    c = _ORIENTATION.c
    values: dict[str, Any] = {
        "mediation_structure_id": state.mediation_structure_id,
        "status": str(state.status),
        "since": state.since,
        "answered_at": state.answered_at,
        "decline_reason": _value(state.decline_reason),
        "reminded": state.reminded,
    }
    row = session.execute(
        select(*(c[k] for k in values)).where(c.orientation_id == state.orientation_id)
    ).first()
    if row is None:
        # A new orientation replaces any still pending (a re-orientation): the status only
        # carries the current one, so the replaced row is cancelled here, when it replaced.
        session.execute(
            update(_ORIENTATION)
            .where(
                c.journey_id == journey_id,
                c.status == OrientationStatus.PENDING.value,
                c.orientation_id != state.orientation_id,
            )
            .values(status=OrientationStatus.CANCELLED.value, answered_at=state.since)
        )
        session.execute(
            insert(_ORIENTATION).values(
                values | {"orientation_id": state.orientation_id, "journey_id": journey_id}
            )
        )
    elif any(getattr(row, k) != v for k, v in values.items()):
        session.execute(
            update(_ORIENTATION).where(c.orientation_id == state.orientation_id).values(values)
        )


def _add_notices(session: Session, event: JourneyEvent) -> None:
    if not event.notices:
        return
    c = _OUTBOX.c
    keys = [n.key for n in event.notices]
    present = set(session.scalars(select(c.idempotency_key).where(c.idempotency_key.in_(keys))))
    added: list[dict[str, Any]] = []
    for notice in event.notices:
        if notice.key in present:
            continue
        present.add(notice.key)
        added.append(
            {
                "idempotency_key": notice.key,
                "journey_id": event.journey_id,
                "kind": str(notice.kind),
                "recipient": str(notice.recipient),
                "detail": dict(notice.detail),
                "created_at": event.at,
                "status": OutboxStatus.PENDING.value,
                "attempts": 0,
            }
        )
    if added:
        session.execute(insert(_OUTBOX), added)

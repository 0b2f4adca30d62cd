"""The journey's rules: what each request may do at each stage, and why a journey stalls.

Pure functions over `JourneyStatus`, so the workflow only orchestrates and unit tests call
them without a Temporal server. A check is a function of (status, policy, request, now)
that returns nothing or raises `domain.refusals.Refused` with its kind and French message;
it never changes the status. What each accepted request does is domain/journey_steps.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from domain import refusals as r
from domain.contracts import (
    Actor,
    AssessmentRequest,
    BookletRequest,
    ChequeRefusalDetails,
    DeclareBookletLostRequest,
    EraseRequest,
    JourneyStatus,
    LockBookletRequest,
    NudgeRequest,
    OrientationAnswer,
    OrientationState,
    OrientRequest,
    SessionRequest,
    SessionState,
    UnlockBookletRequest,
    WithdrawRequest,
)
from domain.needs import MAX_SESSION_MINUTES, AssessmentKind
from domain.policy import JourneyPolicy
from domain.redemption import check_cheques, refusal_summary
from domain.refusals import RefusalKind, Refused, wrong_stage
from domain.stages import OrientationStatus, Role, Stage
from domain.validity import paris_day, valid_until

# A check: (status, policy, request, now) -> None, or `Refused`.
Check = Callable[[JourneyStatus, JourneyPolicy, Any, datetime], None]

# Who may nudge, re-orient, unlock; who may declare a booklet lost; the stages where cheques are spent, a booklet locked,
# a journey re-oriented.
COORDINATION = (Role.COORDINATOR, Role.ADMINISTRATOR)
LOSS_DECLARERS = (Role.SOCIAL_WORKER, *COORDINATION)
ERASERS = LOSS_DECLARERS
REDEEMING_STAGES = (Stage.BOOKLET_ISSUED, Stage.ORIENTED, Stage.IN_TRAINING)
LOCKABLE_STAGES = REDEEMING_STAGES
REORIENTABLE_STAGES = (Stage.BOOKLET_ISSUED, Stage.ORIENTED, Stage.IN_TRAINING)

# Why a stage is flagged stalled, per stage ({days}: days without activity).
STALL_REASONS: dict[Stage, str] = {
    Stage.REFERRED: "Aucun diagnostic {days} jours après l'orientation",
    Stage.ASSESSED: "Aucun carnet remis {days} jours après le diagnostic",
    Stage.BOOKLET_ISSUED: "Aucune orientation ni séance {days} jours après la dernière action",
    Stage.ORIENTED: "Orientation restée sans réponse {days} jours",
    Stage.IN_TRAINING: "Aucune séance depuis {days} jours",
}


def stall_reason(stage: Stage, days: int) -> str:
    """Why a journey at `stage` is flagged stalled after `days` without activity."""
    return STALL_REASONS[stage].format(days=days)


def orientation_expired_reason(days: int) -> str:
    """Why a journey whose orientation expired unanswered after `days` is flagged stalled."""
    return f"Orientation restée sans réponse {days} jours"


# ---- reading the status ----


def pending_orientation(status: JourneyStatus) -> OrientationState | None:
    o = status.orientation
    return o if o is not None and o.status == OrientationStatus.PENDING else None


def acting_structure(status: JourneyStatus) -> int | None:
    """The mediation structure expected to act: a pending orientation's, else the trainer."""
    pending = pending_orientation(status)
    return pending.mediation_structure_id if pending else status.mediation_structure_id


def find_session(status: JourneyStatus, session_id: str) -> SessionState | None:
    return next((x for x in status.sessions if x.session_id == session_id), None)


# ---- checks (they raise `Refused`, never change the status) ----


def _check_structure(structure_id: int) -> None:
    if structure_id <= 0:
        raise Refused(RefusalKind.INVALID_INPUT, r.MSG_UNKNOWN_MEDIATION_STRUCTURE)


def _check_coordination(actor: Actor, what: str) -> None:
    if actor.role not in COORDINATION:
        raise Refused(RefusalKind.FORBIDDEN, r.msg_coordination_only(what))


def check_assess(
    status: JourneyStatus, policy: JourneyPolicy, req: AssessmentRequest, now: datetime
) -> None:
    stage = status.stage
    if req.kind == AssessmentKind.ENTRY:
        if stage not in (Stage.REFERRED, Stage.ASSESSED):
            raise wrong_stage(r.ENTRY_ASSESSMENT_STAGE, stage)
        if not req.needs:
            raise Refused(RefusalKind.INVALID_INPUT, r.MSG_NEEDS_MISSING)
    elif stage not in (Stage.IN_TRAINING, Stage.CLOSED):
        raise wrong_stage(r.EXIT_ASSESSMENT_STAGE, stage)


def check_booklet(
    status: JourneyStatus, policy: JourneyPolicy, req: BookletRequest, now: datetime
) -> None:
    stage = status.stage
    if status.booklet_number is not None:
        raise Refused(
            RefusalKind.BOOKLET_EXISTS,
            r.msg_booklet_exists(status.booklet_number, status.millesime),
        )
    if stage != Stage.ASSESSED:
        raise wrong_stage(r.BOOKLET_STAGE, stage)
    this_year = paris_day(now).year
    if not 2000 <= req.millesime <= this_year + 1:
        raise Refused(
            RefusalKind.INVALID_INPUT, r.msg_millesime_out_of_circulation(req.millesime, this_year)
        )
    end = valid_until(req.millesime, policy.grace_months)
    stop_days = policy.stop_issuing_days_before_expiry
    stop = end - timedelta(days=stop_days)
    if now >= stop:
        raise Refused(
            RefusalKind.MILLESIME_ENDING,
            r.msg_millesime_ending(req.millesime, end - timedelta(days=1), stop_days, stop),
        )


def check_orient(
    status: JourneyStatus, policy: JourneyPolicy, req: OrientRequest, now: datetime
) -> None:
    if status.stage != Stage.BOOKLET_ISSUED:
        raise wrong_stage(r.ORIENT_STAGE, status.stage)
    _check_structure(req.mediation_structure_id)


def check_answer(
    status: JourneyStatus, policy: JourneyPolicy, req: OrientationAnswer, now: datetime
) -> None:
    orientation = pending_orientation(status)
    if orientation is None:
        raise wrong_stage(r.NO_PENDING_ORIENTATION, status.stage)
    if req.mediation_structure_id != orientation.mediation_structure_id:
        raise Refused(RefusalKind.WRONG_STRUCTURE, r.MSG_ORIENTATION_OTHER_STRUCTURE)
    if not req.accept and req.decline_reason is None:
        raise Refused(RefusalKind.INVALID_INPUT, r.MSG_DECLINE_REASON_MISSING)


def check_session(
    status: JourneyStatus, policy: JourneyPolicy, req: SessionRequest, now: datetime
) -> None:
    if find_session(status, req.session_id) is not None:
        return  # answered from the recorded session
    if status.stage in (Stage.REFERRED, Stage.ASSESSED):
        raise wrong_stage(r.SESSION_STAGE, status.stage)
    if not req.session_id:
        raise Refused(RefusalKind.INVALID_INPUT, r.MSG_SESSION_ID_MISSING)
    _check_structure(req.mediation_structure_id)
    if req.day > paris_day(now):
        raise Refused(RefusalKind.INVALID_INPUT, r.msg_session_in_future(req.day))
    if not 1 <= req.duration_minutes <= MAX_SESSION_MINUTES:
        raise Refused(RefusalKind.INVALID_INPUT, r.msg_session_duration(MAX_SESSION_MINUTES))
    if not req.serials:
        raise Refused(RefusalKind.INVALID_INPUT, r.MSG_SERIALS_MISSING)
    verdicts = check_cheques(status, req.serials, req.day)
    if not all(v.accepted for v in verdicts):
        raise Refused(
            RefusalKind.CHEQUES_REFUSED, refusal_summary(verdicts), ChequeRefusalDetails(verdicts)
        )


def check_lock(
    status: JourneyStatus, policy: JourneyPolicy, req: LockBookletRequest, now: datetime
) -> None:
    if req.actor.role != Role.SYSTEM:
        raise Refused(RefusalKind.FORBIDDEN, r.MSG_LOCK_BY_SYSTEM_ONLY)
    if status.stage not in LOCKABLE_STAGES:
        raise wrong_stage(r.LOCK_STAGE, status.stage)


def check_unlock(
    status: JourneyStatus, policy: JourneyPolicy, req: UnlockBookletRequest, now: datetime
) -> None:
    _check_coordination(req.actor, r.UNLOCK_BOOKLET)
    if status.booklet_locked_at is None:
        raise Refused(RefusalKind.CONFLICT, r.MSG_BOOKLET_NOT_LOCKED)


def check_withdraw(
    status: JourneyStatus, policy: JourneyPolicy, req: WithdrawRequest, now: datetime
) -> None:
    if not status.stage.is_open:
        raise wrong_stage(r.WITHDRAW_STAGE, status.stage)
    if not (req.reason.strip() or req.reason_id):
        raise Refused(RefusalKind.INVALID_INPUT, r.MSG_WITHDRAW_REASON_MISSING)


def check_nudge(
    status: JourneyStatus, policy: JourneyPolicy, req: NudgeRequest, now: datetime
) -> None:
    _check_coordination(req.actor, r.NUDGE_JOURNEY)
    if not status.stage.is_open:
        raise wrong_stage(r.NUDGE_STAGE, status.stage)


def check_reorient(
    status: JourneyStatus, policy: JourneyPolicy, req: OrientRequest, now: datetime
) -> None:
    _check_coordination(req.actor, r.REORIENT_JOURNEY)
    if status.stage not in REORIENTABLE_STAGES:
        raise wrong_stage(r.REORIENT_STAGE, status.stage)
    _check_structure(req.mediation_structure_id)
    if not ((req.reason or "").strip() or req.reason_id):
        raise Refused(RefusalKind.INVALID_INPUT, r.MSG_REORIENT_REASON_MISSING)
    if (
        status.stage != Stage.BOOKLET_ISSUED
        and acting_structure(status) == req.mediation_structure_id
    ):
        raise Refused(RefusalKind.INVALID_INPUT, r.MSG_ALREADY_ORIENTED_THERE)


def booklet_issued_on(status: JourneyStatus) -> datetime | None:
    """When the booklet the person holds was handed over (journeys recorded before
    `booklet_issued_at` existed: the stage's date)."""
    return status.booklet_issued_at or status.stage_dates.get(Stage.BOOKLET_ISSUED)


def check_declare_lost(
    status: JourneyStatus, policy: JourneyPolicy, req: DeclareBookletLostRequest, now: datetime
) -> None:
    """A booklet is declared lost, stolen or damaged: by a social worker or the
    coordination, for the booklet the person holds, while the journey is open and some of
    its cheques are unspent, on a day between its issue and today. A locked booklet may be
    declared lost: its replacement has new codes, and the lock goes with it."""
    if req.actor.role not in LOSS_DECLARERS:
        raise Refused(RefusalKind.FORBIDDEN, r.MSG_LOST_BY_WHOM)
    if status.booklet_number is None or status.stage not in REDEEMING_STAGES:
        raise wrong_stage(r.LOST_STAGE, status.stage)
    if req.booklet_number != status.booklet_number:
        raise Refused(
            RefusalKind.CONFLICT,
            r.msg_not_the_current_booklet(req.booklet_number, status.booklet_number),
        )
    if status.cheques_left == 0:
        raise Refused(RefusalKind.CONFLICT, r.MSG_NOTHING_LEFT_TO_REPLACE)
    if req.lost_on > paris_day(now):
        raise Refused(RefusalKind.INVALID_INPUT, r.msg_lost_in_future(req.lost_on))
    issued = booklet_issued_on(status)
    if issued is not None and req.lost_on < paris_day(issued):
        raise Refused(
            RefusalKind.INVALID_INPUT,
            r.msg_lost_before_issue(status.booklet_number, paris_day(issued)),
        )


def check_erase(
    status: JourneyStatus, policy: JourneyPolicy, req: EraseRequest, now: datetime
) -> None:
    """Erasure on request: by a social worker or the coordination, at any stage before
    anonymisation (an open journey is closed first, a closed one anonymised before its
    retention period ends)."""
    if req.actor.role not in ERASERS:
        raise Refused(RefusalKind.FORBIDDEN, r.MSG_ERASE_BY_WHOM)
    if status.stage == Stage.ANONYMISED:
        raise wrong_stage(r.ERASE_STAGE, status.stage)

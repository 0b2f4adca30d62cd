"""What each step of a journey does to its status, and what it records and tells.

The pure half of every change the workflow makes: a step changes the `JourneyStatus` it is
given (stage, cheques, orientation, stall flag) and returns a `Change`, the log entry and
the notices for the workflow to record. No timers, activities or ids are made here: the
workflow passes in `now`, the booklet number it allocated, the orientation id it drew.
Requests reach a step only once their check (domain/journey_rules.py) has passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from domain.contracts import (
    AssessmentRequest,
    AssessmentState,
    BookletRequest,
    ChequeState,
    DeclareBookletLostRequest,
    EraseRequest,
    JourneyStatus,
    LockBookletRequest,
    LostBooklet,
    NudgeRequest,
    OrientationAnswer,
    OrientationState,
    OrientRequest,
    SessionRequest,
    SessionState,
    WithdrawRequest,
)
from domain.deadlines import Due, Job, due_warnings
from domain.journey_rules import (
    acting_structure,
    orientation_expired_reason,
    pending_orientation,
    stall_reason,
)
from domain.needs import AssessmentKind
from domain.notices import NoticeKind, Recipient
from domain.policy import WHO_MUST_ACT, JourneyPolicy
from domain.refusals import RefusalKind, Refused, msg_impossible_transition
from domain.serials import booklet_serials
from domain.stages import Action, ChequeStatus, OrientationStatus, Outcome, Stage, can_move
from domain.validity import valid_until

NoticeSpec = tuple[NoticeKind, Recipient]

_CLOSING_NOTICES: list[NoticeSpec] = [
    (NoticeKind.JOURNEY_CLOSED, Recipient.REFERRER),
    (NoticeKind.JOURNEY_CLOSED, Recipient.MEDIATION_STRUCTURE),
]


@dataclass
class Change:
    """What a step records: its log entry and the notices to send. Notices to
    MEDIATION_STRUCTURE go to `structure`, by default the one asked to act."""

    action: Action
    from_stage: Stage | None
    reason: str | None = None
    detail: dict[str, str] = field(default_factory=dict)
    notices: list[NoticeSpec] = field(default_factory=list)
    notice_detail: dict[str, str] | None = None
    structure: int | None = None
    text_id: str | None = None  # the request's free text (records.free_texts)


# ---- small transitions ----


def move(status: JourneyStatus, target: Stage, now: datetime) -> None:
    """Move to `target` (nothing if already there); an impossible move is a conflict."""
    if target == status.stage:
        return
    if not can_move(status.stage, target):  # the checks make this unreachable
        raise Refused(RefusalKind.CONFLICT, msg_impossible_transition(status.stage, target))
    status.stage = target
    status.stage_dates[target] = now


def touch(status: JourneyStatus, now: datetime) -> None:
    """A person acted on the journey: restart the stall clock and clear the flag."""
    status.last_activity_at = now
    status.stalled, status.stalled_since, status.stalled_reason = False, None, None


def flag_stalled(status: JourneyStatus, reason: str, now: datetime) -> None:
    status.stalled, status.stalled_since, status.stalled_reason = True, now, reason


def close(status: JourneyStatus, outcome: Outcome, unspent: ChequeStatus, now: datetime) -> Change:
    """Close the journey; unspent cheques become `unspent` (EXPIRED or CANCELLED) so the
    cheque ledger reconciles at once; a pending orientation is cancelled. The closing notice
    goes to the structure training the person, or the one a pending orientation awaited."""
    from_stage = status.stage
    structure = acting_structure(status)
    move(status, Stage.CLOSED, now)
    status.outcome = outcome
    status.closed_at = now
    status.stalled, status.stalled_since, status.stalled_reason = False, None, None
    pending = pending_orientation(status)
    if pending is not None:
        pending.status = OrientationStatus.CANCELLED
        pending.answered_at = now
    for cheque in status.cheques:
        if cheque.status == ChequeStatus.ISSUED:
            cheque.status = unspent
    return Change(
        Action.CLOSED,
        from_stage,
        reason=outcome.label,
        detail={"outcome": outcome.value},
        notices=list(_CLOSING_NOTICES),
        structure=structure,
    )


# ---- people's requests ----


def referral() -> Change:
    return Change(
        Action.REFERRED,
        None,
        notices=[
            (NoticeKind.REFERRAL_RECORDED, Recipient.BENEFICIARY),
            (NoticeKind.REFERRAL_RECORDED, Recipient.REFERRER),
        ],
    )


def assess(status: JourneyStatus, req: AssessmentRequest, now: datetime) -> Change:
    from_stage = status.stage
    state = AssessmentState(req.kind, req.tool, req.autonomy, list(req.needs), now)
    if req.kind == AssessmentKind.ENTRY:
        correction = status.entry_assessment is not None
        status.entry_assessment = state
        move(status, Stage.ASSESSED, now)
        action = Action.ASSESSED
        detail = {"correction": "true"} if correction else {}
    else:
        status.exit_assessment = state
        action, detail = Action.EXIT_ASSESSED, {}
    touch(status, now)
    detail |= {"autonomy": req.autonomy.value, "tool": req.tool.value}
    return Change(action, from_stage, detail=detail)


def issue_booklet(
    status: JourneyStatus, policy: JourneyPolicy, req: BookletRequest, number: int, now: datetime
) -> Change:
    """Booklet `number` (allocated by the records) of `req.millesime` is handed over."""
    serials = booklet_serials(
        status.programme_code, req.millesime, number, policy.cheques_per_booklet
    )
    status.millesime, status.booklet_number = req.millesime, number
    status.valid_until = valid_until(req.millesime, policy.grace_months)
    status.cheques = [ChequeState(x.digits, x.cheque_number, ChequeStatus.ISSUED) for x in serials]
    status.booklet_issued_at = now
    move(status, Stage.BOOKLET_ISSUED, now)
    touch(status, now)
    detail = {
        "millesime": str(req.millesime),
        "booklet_number": str(number),
        "cheques": str(len(serials)),
    }
    return Change(Action.BOOKLET_ISSUED, Stage.ASSESSED, detail=detail)


def orient(
    status: JourneyStatus, req: OrientRequest, action: Action, orientation_id: str, now: datetime
) -> Change:
    """A new pending orientation (ORIENTED or REORIENTED); a pending one is cancelled."""
    from_stage = status.stage
    previous = status.orientation
    if previous is not None and previous.status == OrientationStatus.PENDING:
        previous.status = OrientationStatus.CANCELLED
        previous.answered_at = now
    orientation = OrientationState(
        orientation_id=orientation_id,
        mediation_structure_id=req.mediation_structure_id,
        status=OrientationStatus.PENDING,
        since=now,
    )
    status.orientation = orientation
    move(status, Stage.ORIENTED, now)
    touch(status, now)
    detail = {
        "orientation_id": orientation.orientation_id,
        "mediation_structure_id": str(req.mediation_structure_id),
    }
    if previous is not None and action == Action.REORIENTED:
        # The read model keeps one row per orientation: this one is now CANCELLED.
        detail["previous_orientation_id"] = previous.orientation_id
        detail["previous_mediation_structure_id"] = str(previous.mediation_structure_id)
    return Change(
        action,
        from_stage,
        reason=(req.reason or "").strip() or None,
        detail=detail,
        notices=[(NoticeKind.ORIENTATION_REQUEST, Recipient.MEDIATION_STRUCTURE)],
        notice_detail=detail,
        structure=req.mediation_structure_id,
        text_id=req.reason_id,
    )


def answer_orientation(status: JourneyStatus, req: OrientationAnswer, now: datetime) -> Change:
    orientation = status.orientation
    assert orientation is not None  # checked
    orientation.answered_at = now
    detail = {
        "orientation_id": orientation.orientation_id,
        "mediation_structure_id": str(orientation.mediation_structure_id),
    }
    touch(status, now)
    if req.accept:
        orientation.status = OrientationStatus.ACCEPTED
        status.mediation_structure_id = orientation.mediation_structure_id
        move(status, Stage.IN_TRAINING, now)
        return Change(
            Action.ORIENTATION_ACCEPTED, Stage.ORIENTED, req.comment, detail, text_id=req.comment_id
        )
    assert req.decline_reason is not None  # checked
    orientation.status = OrientationStatus.DECLINED
    orientation.decline_reason = req.decline_reason
    move(status, Stage.BOOKLET_ISSUED, now)
    detail["decline_reason"] = req.decline_reason.value
    return Change(
        Action.ORIENTATION_DECLINED,
        Stage.ORIENTED,
        reason=req.comment or req.decline_reason.label,
        detail=detail,
        notices=[(NoticeKind.ORIENTATION_DECLINED, Recipient.REFERRER)],
        notice_detail=detail,
        text_id=req.comment_id,
    )


def log_session(
    status: JourneyStatus, req: SessionRequest, serials: list[str], now: datetime
) -> tuple[SessionState, Change, int | None]:
    """A session paid with `serials` (checked, as digits): they are spent, the journey is
    in training with the session's structure. Returns the session, its change (no notice
    yet) and the structure the person left for this one, if any (a pending orientation's,
    else the one training them): the workflow tells it (patched)."""
    from_stage = status.stage
    for cheque in status.cheques:
        if cheque.serial in serials:
            cheque.status = ChequeStatus.REDEEMED
            cheque.session_id = req.session_id
            cheque.redeemed_on = req.day
            cheque.mediation_structure_id = req.mediation_structure_id
    session = SessionState(
        session_id=req.session_id,
        mediation_structure_id=req.mediation_structure_id,
        day=req.day,
        duration_minutes=req.duration_minutes,
        kind=req.kind,
        place=req.place,
        themes=list(req.themes),
        equipment=list(req.equipment),
        autonomy_observed=req.autonomy_observed,
        serials=serials,
        logged_at=now,
    )
    status.sessions.append(session)
    detail = {
        "session_id": req.session_id,
        "mediation_structure_id": str(req.mediation_structure_id),
        "day": req.day.isoformat(),
        "cheques": str(len(serials)),
    }
    orientation = status.orientation
    expected = status.mediation_structure_id
    if orientation is not None and orientation.status == OrientationStatus.PENDING:
        # Answered by the session: accepted there, cancelled if the person went elsewhere.
        expected = orientation.mediation_structure_id
        same = orientation.mediation_structure_id == req.mediation_structure_id
        orientation.status = OrientationStatus.ACCEPTED if same else OrientationStatus.CANCELLED
        orientation.answered_at = now
    left: int | None = None
    if expected is not None and expected != req.mediation_structure_id:
        detail["extra_action"] = Action.MEDIATOR_CHANGED.value
        detail["previous_mediation_structure_id"] = str(expected)
        left = expected
    status.mediation_structure_id = req.mediation_structure_id
    move(status, Stage.IN_TRAINING, now)
    touch(status, now)
    change = Change(
        Action.SESSION_LOGGED,
        from_stage,
        detail=detail,
        notice_detail={
            "new_mediation_structure_id": str(req.mediation_structure_id),
            "session_id": req.session_id,
        },
    )
    return session, change, left


def tell_structure_change(change: Change, left: int) -> None:
    """The structure the person left hears of the session logged elsewhere."""
    change.notices.append((NoticeKind.MEDIATOR_CHANGED, Recipient.MEDIATION_STRUCTURE))
    change.structure = left


def withdraw(status: JourneyStatus, req: WithdrawRequest, now: datetime) -> Change:
    from_stage = status.stage
    touch(status, now)  # retention counts from the withdrawal
    closed = close(status, Outcome.WITHDRAWN, ChequeStatus.CANCELLED, now)
    return replace(
        closed,
        action=Action.WITHDRAWN,
        from_stage=from_stage,
        reason=req.reason.strip() or closed.reason,
        text_id=req.reason_id,
    )


def erase_on_request(status: JourneyStatus, req: EraseRequest, now: datetime) -> Change:
    """The person asked for their data to be erased: an open journey is closed (outcome
    WITHDRAWN, unspent cheques CANCELLED, a pending orientation cancelled); a closed one
    stays as it was. No notice: the person is about to be anonymised (what is sent about
    them afterwards would name no one), and the one who asked is the one acting. The
    workflow anonymises right after recording this."""
    from_stage = status.stage
    if not status.stage.is_open:
        return Change(Action.ERASURE_REQUESTED, from_stage)
    touch(status, now)
    closed = close(status, Outcome.WITHDRAWN, ChequeStatus.CANCELLED, now)
    return replace(closed, action=Action.ERASURE_REQUESTED, notices=[], structure=None)


def nudge(status: JourneyStatus, req: NudgeRequest) -> Change:
    """A nudge is not activity of the journey: the stalled flag stays until someone acts.
    Its message goes to the mail by id (`message_id`); histories before free texts carried
    the text (`message`)."""
    stage = status.stage
    notice_detail = {"message": req.message} if req.message else {}
    if req.message_id:
        notice_detail["message_id"] = req.message_id
    return Change(
        Action.NUDGED,
        stage,
        reason=req.message,
        notices=[(NoticeKind.NUDGE, Recipient(WHO_MUST_ACT[stage]))],
        notice_detail=notice_detail,
        text_id=req.message_id,
    )


def lock_booklet(status: JourneyStatus, req: LockBookletRequest, now: datetime) -> Change | None:
    """None when already locked (a concurrent request may have locked it)."""
    if status.booklet_locked_at is not None:
        return None
    status.booklet_locked_at = now
    detail = {"failures": str(req.failures)}
    return Change(
        Action.BOOKLET_LOCKED,
        status.stage,
        detail=detail,
        notices=[
            (NoticeKind.BOOKLET_LOCKED, Recipient.COORDINATORS),
            (NoticeKind.BOOKLET_LOCKED, Recipient.REFERRER),
        ],
        notice_detail=detail,
    )


def unlock_booklet(status: JourneyStatus) -> Change:
    status.booklet_locked_at = None
    return Change(Action.BOOKLET_UNLOCKED, status.stage)


def declare_booklet_lost(
    status: JourneyStatus, req: DeclareBookletLostRequest, number: int, now: datetime
) -> Change:
    """The booklet the person holds is lost: its unspent cheques are cancelled (each once:
    they leave ISSUED here and never return to it), and booklet `number` (allocated by the
    records) replaces it with as many new cheques, of the same millésime (their validity
    and the journey's timers do not move). The stage stays; the lock, if any, goes with
    the lost booklet; the person, the referrer and the training structure are told."""
    assert status.millesime is not None and status.booklet_number is not None  # checked
    lost_number = status.booklet_number
    unspent = [x for x in status.cheques if x.status == ChequeStatus.ISSUED]
    for cheque in unspent:
        cheque.status = ChequeStatus.CANCELLED
    serials = booklet_serials(status.programme_code, status.millesime, number, len(unspent))
    status.cheques.extend(
        ChequeState(x.digits, x.cheque_number, ChequeStatus.ISSUED) for x in serials
    )
    status.lost_booklets.append(
        LostBooklet(
            booklet_number=lost_number,
            lost_on=req.lost_on,
            reason=req.reason,
            declared_at=now,
            cheques_cancelled=len(unspent),
            replaced_by=number,
        )
    )
    status.booklet_number = number
    status.booklet_issued_at = now
    status.booklet_locked_at = None
    touch(status, now)
    detail = {
        "lost_booklet_number": str(lost_number),
        "lost_on": req.lost_on.isoformat(),
        "loss_reason": req.reason.value,
        "booklet_number": str(number),
        "millesime": str(status.millesime),
        "cheques": str(len(serials)),
    }
    return Change(
        Action.BOOKLET_LOST,
        status.stage,
        detail=detail,
        notices=[
            (NoticeKind.BOOKLET_LOST, Recipient.BENEFICIARY),
            (NoticeKind.BOOKLET_LOST, Recipient.REFERRER),
            (NoticeKind.BOOKLET_LOST, Recipient.MEDIATION_STRUCTURE),
        ],
        notice_detail=detail,
    )


# ---- the calendar's jobs ----


def run_job(status: JourneyStatus, policy: JourneyPolicy, due: Due, now: datetime) -> Change:
    """A timed job fallen due (all but ANONYMISATION, whose erasure the workflow runs)."""
    stage = status.stage
    days = {"days": str(due.days)}
    if due.job == Job.STAGE_REMINDER:
        status.reminded_for_activity_at = status.last_activity_at
        return Change(
            Action.STAGE_REMINDED,
            stage,
            detail=days,
            notices=[(NoticeKind.STAGE_REMINDER, Recipient(WHO_MUST_ACT[stage]))],
            notice_detail=days,
        )
    if due.job == Job.STALL:
        flag_stalled(status, stall_reason(stage, due.days), now)
        return Change(
            Action.STALLED,
            stage,
            reason=status.stalled_reason,
            detail=days,
            notices=[(NoticeKind.JOURNEY_STALLED, Recipient.COORDINATORS)],
            notice_detail=days,
        )
    if due.job == Job.ORIENTATION_REMINDER:
        orientation = pending_orientation(status)
        assert orientation is not None
        orientation.reminded = True
        detail = days | {
            "orientation_id": orientation.orientation_id,
            "mediation_structure_id": str(orientation.mediation_structure_id),
        }
        return Change(
            Action.ORIENTATION_REMINDED,
            stage,
            detail=detail,
            notices=[
                (NoticeKind.ORIENTATION_REMINDER, Recipient.MEDIATION_STRUCTURE),
                (NoticeKind.ORIENTATION_REMINDER, Recipient.REFERRER),
            ],
            notice_detail=detail,
            structure=orientation.mediation_structure_id,
        )
    if due.job == Job.ORIENTATION_EXPIRY:
        orientation = pending_orientation(status)
        assert orientation is not None
        orientation.status = OrientationStatus.EXPIRED
        move(status, Stage.BOOKLET_ISSUED, now)
        flag_stalled(status, orientation_expired_reason(due.days), now)
        # The referrer hears of it now: no separate stage reminder for this activity epoch.
        status.reminded_for_activity_at = status.last_activity_at
        detail = days | {
            "orientation_id": orientation.orientation_id,
            "mediation_structure_id": str(orientation.mediation_structure_id),
        }
        return Change(
            Action.ORIENTATION_EXPIRED,
            Stage.ORIENTED,
            reason=status.stalled_reason,
            detail=detail,
            notices=[
                (NoticeKind.ORIENTATION_EXPIRED, Recipient.REFERRER),
                (NoticeKind.JOURNEY_STALLED, Recipient.COORDINATORS),
            ],
            notice_detail=detail,
        )
    if due.job == Job.EXPIRY_WARNING:
        warnings = due_warnings(status, policy, now)
        status.expiry_warnings_sent.extend(warnings)
        detail = {
            "days": str(min(warnings)),
            "cheques_left": str(status.cheques_left),
            "valid_until": status.valid_until.isoformat() if status.valid_until else "",
        }
        return Change(
            Action.EXPIRY_WARNED,
            stage,
            detail=detail,
            notices=[
                (NoticeKind.EXPIRY_WARNING, Recipient.BENEFICIARY),
                (NoticeKind.EXPIRY_WARNING, Recipient.REFERRER),
                (NoticeKind.EXPIRY_WARNING, Recipient.MEDIATION_STRUCTURE),
            ],
            notice_detail=detail,
        )
    assert due.job == Job.CHEQUES_EXPIRY, due.job
    left = status.cheques_left
    closed = close(status, Outcome.EXPIRED, ChequeStatus.EXPIRED, now)
    closed.detail["cheques_expired"] = str(left)
    return closed

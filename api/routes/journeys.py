"""JSON API: referrals and every change to a journey."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from api import access
from api import schemas as s
from api.access import Change
from api.auth import CurrentUser, User
from api.constraints import MAX_OFFSET, IdQuery, JourneyIdPath
from api.deps import AppState, IdempotencyKey, State
from api.errors import ApiError, error_responses
from api.journey_service import JourneyService
from domain import contracts as c
from domain.needs import AssessmentKind
from domain.refusals import MSG_IDEMPOTENCY_KEY_REQUIRED_FOR_REFERRAL
from domain.security_codes import ChequeLine
from domain.stages import Stage
from domain.validity import paris_today
from records import queries

router = APIRouter(prefix="/api/v1", tags=["journeys"])

# What each kind of route may answer besides its success (401, 403 on changes, 422 and,
# with a body, 400 and 413 are declared for every route by api/openapi.py).
ERRORS = error_responses(401, 403, 404, 409, 422, 503)  # a change to a journey
LIST_ERRORS = error_responses(401, 422)
READ_ERRORS = error_responses(401, 404, 409, 422, 503)  # the workflow's live state
TIMELINE_ERRORS = error_responses(401, 404, 422)


async def _change(
    state: AppState,
    user: User,
    journey_id: str,
    name: str,
    request: Any,
    *,
    key: str | None,
    change: Change,
    mediation_structure_id: int | None = None,
) -> c.JourneyStatus:
    """Send one change to the journey (the Idempotency-Key as the Update's id): its new
    live state, once `user` may make it (404/403 otherwise)."""
    return await JourneyService(state, user.programme_code).update(
        journey_id,
        name,
        request,
        key=key,
        result_type=c.JourneyStatus,
        user=user,
        change=change,
        mediation_structure_id=mediation_structure_id,
    )


@router.post("/referrals", status_code=status.HTTP_201_CREATED, responses=ERRORS)
async def create_referral(
    body: s.ReferralIn, state: State, user: CurrentUser, key: IdempotencyKey = None
) -> c.JourneyStatus:
    """Refer a person. Sending the same Idempotency-Key again returns the same journey (with
    another request: 409 idempotency_key_reused). A person who may already have a journey in
    the programme is 409 possible_duplicate (details: the matched journeys you may see)
    unless `confirm_possible_duplicate` is true."""
    if not key:
        raise ApiError(
            422,
            "idempotency_key_required",
            MSG_IDEMPOTENCY_KEY_REQUIRED_FOR_REFERRAL,
        )
    return await JourneyService(state, user.programme_code).refer(
        idempotency_key=key,
        reception_structure_id=body.reception_structure_id,
        user=user,
        person=body.person.model_dump(),
        consent_text=body.consent.text,
        consent_version=body.consent.version,
        confirm_possible_duplicate=body.confirm_possible_duplicate,
    )


@router.get("/journeys", responses=LIST_ERRORS)
async def list_journeys(
    state: State,
    user: CurrentUser,
    stage: Stage | None = None,
    stalled: bool | None = None,
    epci_id: IdQuery = None,
    mediation_structure_id: IdQuery = None,
    reception_structure_id: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> s.JourneyList:
    """Journeys within your scope (stalled first), with optional filters."""
    code = user.programme_code
    scope = access.journey_scope(user)
    rows, total = await state.db.run(
        lambda db: queries.list_journeys(
            db,
            programme_code=code,
            stage=stage,
            stalled=stalled,
            epci_id=epci_id,
            mediation_structure_id=mediation_structure_id,
            reception_structure_id=reception_structure_id,
            limit=limit,
            offset=offset,
            scope=scope,
        )
    )
    items = [
        s.JourneySummary(
            id=r.id,
            stage=Stage(r.stage),
            stage_label=Stage(r.stage).label,
            outcome=r.outcome,
            epci_id=r.epci_id,
            reception_structure_id=r.reception_structure_id,
            mediation_structure_id=r.mediation_structure_id,
            stalled=r.stalled,
            stalled_since=r.stalled_since,
            stalled_reason=r.stalled_reason,
            referred_at=r.referred_at,
            last_activity_at=r.last_activity_at,
            cheques_total=r.cheques_total,
            cheques_redeemed=r.cheques_redeemed,
        )
        for r in rows
    ]
    return s.JourneyList(items=items, page=s.Page(total=total, limit=limit, offset=offset))


@router.get("/journeys/{journey_id}", responses=READ_ERRORS)
async def read_journey(
    journey_id: JourneyIdPath, state: State, user: CurrentUser
) -> c.JourneyStatus:
    """The live state of a journey, as the workflow holds it."""
    return await JourneyService(state, user.programme_code).live_status(journey_id, user)


@router.get("/journeys/{journey_id}/timeline", responses=TIMELINE_ERRORS)
async def read_timeline(
    journey_id: JourneyIdPath, state: State, user: CurrentUser
) -> list[s.TimelineEntry]:
    """Every transition: who, when, why."""
    await JourneyService(state, user.programme_code).check_visible(user, journey_id)
    rows = await state.db.run(lambda db: queries.journey_timeline(db, journey_id))
    return [
        s.TimelineEntry(
            seq=r.seq,
            at=r.at,
            action=r.action,
            label=c.Action(r.action).label,
            actor_role=r.actor_role,
            actor_ref=r.actor_ref,
            from_stage=r.from_stage,
            to_stage=r.to_stage,
            reason=r.reason,
        )
        for r in rows
    ]


@router.post("/journeys/{journey_id}/assessments", responses=ERRORS)
async def record_assessment(
    journey_id: JourneyIdPath,
    body: s.AssessmentIn,
    state: State,
    user: CurrentUser,
    key: IdempotencyKey = None,
) -> c.JourneyStatus:
    request = c.AssessmentRequest(
        actor=user.actor, kind=body.kind, tool=body.tool, autonomy=body.autonomy, needs=body.needs
    )
    change = Change.ASSESS_EXIT if body.kind == AssessmentKind.EXIT else Change.ASSESS_ENTRY
    return await _change(state, user, journey_id, c.U_ASSESS, request, key=key, change=change)


@router.post("/journeys/{journey_id}/booklet", responses=ERRORS)
async def issue_booklet(
    journey_id: JourneyIdPath,
    state: State,
    user: CurrentUser,
    key: IdempotencyKey = None,
    body: s.BookletIn | None = None,
) -> c.JourneyStatus:
    millesime = await JourneyService(state, user.programme_code).booklet_millesime(
        body.millesime if body else None
    )
    request = c.BookletRequest(actor=user.actor, millesime=millesime)
    return await _change(
        state, user, journey_id, c.U_ISSUE_BOOKLET, request, key=key, change=Change.ISSUE_BOOKLET
    )


@router.post(
    "/journeys/{journey_id}/second-booklet",
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS,
)
async def allow_second_booklet(
    journey_id: JourneyIdPath, state: State, user: CurrentUser
) -> s.SecondBookletOut:
    """Coordinators: allow this journey a booklet although its person already holds one of
    the same millésime in another journey (otherwise the booklet is refused with 409
    second_booklet_not_allowed). Allowing again keeps the first decision."""
    row = await JourneyService(state, user.programme_code).allow_second_booklet(journey_id, user)
    names = await state.db.run(lambda db: queries.account_names(db, [row.allowed_by]))
    return s.SecondBookletOut(
        journey_id=row.journey_id,
        allowed_by=row.allowed_by,
        allowed_by_name=names.get(row.allowed_by),
        allowed_at=row.allowed_at,
    )


@router.post("/journeys/{journey_id}/orientation", responses=ERRORS)
async def orient(
    journey_id: JourneyIdPath,
    body: s.OrientIn,
    state: State,
    user: CurrentUser,
    key: IdempotencyKey = None,
) -> c.JourneyStatus:
    await JourneyService(state, user.programme_code).check_mediation_structure(
        body.mediation_structure_id, on=paris_today()
    )
    request = c.OrientRequest(actor=user.actor, mediation_structure_id=body.mediation_structure_id)
    return await _change(
        state, user, journey_id, c.U_ORIENT, request, key=key, change=Change.ORIENT
    )


@router.post("/journeys/{journey_id}/orientation/answer", responses=ERRORS)
async def answer_orientation(
    journey_id: JourneyIdPath,
    body: s.AnswerIn,
    state: State,
    user: CurrentUser,
    key: IdempotencyKey = None,
) -> c.JourneyStatus:
    request = c.OrientationAnswer(
        actor=user.actor,
        mediation_structure_id=body.mediation_structure_id,
        accept=body.accept,
        decline_reason=body.decline_reason,
        comment=body.comment,
    )
    return await _change(
        state,
        user,
        journey_id,
        c.U_ANSWER_ORIENTATION,
        request,
        key=key,
        change=Change.ANSWER_ORIENTATION,
        mediation_structure_id=body.mediation_structure_id,
    )


@router.post(
    "/journeys/{journey_id}/sessions", status_code=status.HTTP_201_CREATED, responses=ERRORS
)
async def log_session(
    journey_id: JourneyIdPath,
    body: s.SessionIn,
    state: State,
    user: CurrentUser,
    key: IdempotencyKey = None,
) -> c.SessionReceipt:
    """Log a training session paid with cheques. If any cheque is refused nothing is recorded,
    and the answer gives the precise reason for each refused cheque."""
    session_id = str(
        body.session_id or (uuid.uuid5(uuid.NAMESPACE_URL, key) if key else uuid.uuid4())
    )
    request = c.SessionRequest(
        actor=user.actor,
        session_id=session_id,
        mediation_structure_id=body.mediation_structure_id,
        day=body.day,
        duration_minutes=body.duration_minutes,
        kind=body.kind,
        place=body.place,
        themes=body.themes,
        equipment=body.equipment,
        autonomy_observed=body.autonomy_observed,
        serials=[],  # the canonical serials, once their codes are checked
    )
    lines = [ChequeLine(serial=x.serial, code=x.code) for x in body.cheques]
    return await JourneyService(state, user.programme_code).log_session(
        journey_id, request, lines, key=key or session_id, user=user
    )


@router.post("/journeys/{journey_id}/booklet/unlock", responses=ERRORS)
async def unlock_booklet(
    journey_id: JourneyIdPath, state: State, user: CurrentUser, key: IdempotencyKey = None
) -> c.JourneyStatus:
    """Unlock a booklet locked after too many wrong security codes (coordinators), once the
    person is known to hold their slip; the wrong codes counted so far are forgotten."""
    return await _change(
        state,
        user,
        journey_id,
        c.U_UNLOCK_BOOKLET,
        c.UnlockBookletRequest(actor=user.actor),
        key=key,
        change=Change.UNLOCK_BOOKLET,
    )


@router.post("/journeys/{journey_id}/booklet/lost", responses=ERRORS)
async def declare_booklet_lost(
    journey_id: JourneyIdPath,
    body: s.BookletLostIn,
    state: State,
    user: CurrentUser,
    key: IdempotencyKey = None,
) -> c.JourneyStatus:
    """Declare the booklet the person holds lost, stolen or damaged (social workers of the
    journey's reception structure, coordinators in scope): its unspent cheques are cancelled
    at once (refused at redemption, "déclaré perdu le …") and a replacement booklet of the
    same millésime carries as many; its slip is printed from the journey page. Sent again
    with the same Idempotency-Key: the first answer; the same booklet declared again under
    another key: 409 (it is no longer the one held)."""
    request = c.DeclareBookletLostRequest(
        actor=user.actor,
        booklet_number=body.booklet_number,
        lost_on=body.lost_on,
        reason=body.reason,
    )
    return await _change(
        state,
        user,
        journey_id,
        c.U_DECLARE_BOOKLET_LOST,
        request,
        key=key,
        change=Change.DECLARE_BOOKLET_LOST,
    )


@router.post("/journeys/{journey_id}/withdraw", responses=ERRORS)
async def withdraw(
    journey_id: JourneyIdPath,
    body: s.WithdrawIn,
    state: State,
    user: CurrentUser,
    key: IdempotencyKey = None,
) -> c.JourneyStatus:
    request = c.WithdrawRequest(actor=user.actor, reason=body.reason)
    return await _change(
        state, user, journey_id, c.U_WITHDRAW, request, key=key, change=Change.WITHDRAW
    )


@router.post("/journeys/{journey_id}/nudge", responses=ERRORS)
async def nudge(
    journey_id: JourneyIdPath,
    state: State,
    user: CurrentUser,
    key: IdempotencyKey = None,
    body: s.NudgeIn | None = None,
) -> c.JourneyStatus:
    request = c.NudgeRequest(actor=user.actor, message=body.message if body else None)
    return await _change(state, user, journey_id, c.U_NUDGE, request, key=key, change=Change.NUDGE)


@router.post("/journeys/{journey_id}/reorient", responses=ERRORS)
async def reorient(
    journey_id: JourneyIdPath,
    body: s.ReorientIn,
    state: State,
    user: CurrentUser,
    key: IdempotencyKey = None,
) -> c.JourneyStatus:
    await JourneyService(state, user.programme_code).check_mediation_structure(
        body.mediation_structure_id, on=paris_today()
    )
    request = c.OrientRequest(
        actor=user.actor, mediation_structure_id=body.mediation_structure_id, reason=body.reason
    )
    return await _change(
        state, user, journey_id, c.U_REORIENT, request, key=key, change=Change.REORIENT
    )

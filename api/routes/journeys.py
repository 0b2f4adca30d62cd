"""JSON API: referrals and every change to a journey."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from api import access
from api import schemas as s
from api.access import Change
from api.auth import CurrentUser
from api.deps import IdempotencyKey, State
from api.errors import ApiError
from api.journey_service import JourneyService
from domain import contracts as c
from domain.needs import AssessmentKind
from domain.stages import Stage
from domain.validity import paris_day
from records import queries

router = APIRouter(prefix="/api/v1", tags=["journeys"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Non authentifié (session ou jeton personnel)"},
    403: {"description": "Action hors de votre périmètre ou de votre rôle"},
    404: {"description": "Parcours introuvable (ou hors de votre périmètre)"},
    409: {"description": "Action impossible à cette étape du parcours"},
    422: {"description": "Saisie invalide (message en français, détail par champ ou par chèque)"},
}


@router.post("/referrals", status_code=status.HTTP_201_CREATED, responses=ERRORS)
async def create_referral(
    body: s.ReferralIn, state: State, user: CurrentUser, key: IdempotencyKey = None
) -> c.JourneyStatus:
    """Refer a person. Sending the same Idempotency-Key again returns the same journey."""
    if not key:
        raise ApiError(
            422,
            "idempotency_key_required",
            "L'en-tête Idempotency-Key est obligatoire pour orienter une personne.",
        )
    return await JourneyService(state).refer(
        idempotency_key=key,
        reception_structure_id=body.reception_structure_id,
        user=user,
        person=body.person.model_dump(),
        consent_text=body.consent.text,
    )


@router.get("/journeys", responses=ERRORS)
async def list_journeys(
    state: State,
    user: CurrentUser,
    stage: Stage | None = None,
    stalled: bool | None = None,
    epci_id: int | None = None,
    mediation_structure_id: int | None = None,
    reception_structure_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> s.JourneyList:
    """Journeys within your scope (stalled first), with optional filters."""
    code = state.settings.programme_code
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


@router.get("/journeys/{journey_id}", responses=ERRORS)
async def read_journey(journey_id: str, state: State, user: CurrentUser) -> c.JourneyStatus:
    """The live state of a journey, as the workflow holds it."""
    return await JourneyService(state).live_status(journey_id, user)


@router.get("/journeys/{journey_id}/timeline", responses=ERRORS)
async def read_timeline(journey_id: str, state: State, user: CurrentUser) -> list[s.TimelineEntry]:
    """Every transition: who, when, why."""
    await JourneyService(state).check_visible(user, journey_id)
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
    journey_id: str,
    body: s.AssessmentIn,
    state: State,
    user: CurrentUser,
    key: IdempotencyKey = None,
) -> c.JourneyStatus:
    request = c.AssessmentRequest(
        actor=user.actor, kind=body.kind, tool=body.tool, autonomy=body.autonomy, needs=body.needs
    )
    change = Change.ASSESS_EXIT if body.kind == AssessmentKind.EXIT else Change.ASSESS_ENTRY
    return await JourneyService(state).update(
        journey_id,
        c.U_ASSESS,
        request,
        key=key,
        result_type=c.JourneyStatus,
        user=user,
        change=change,
    )


@router.post("/journeys/{journey_id}/booklet", responses=ERRORS)
async def issue_booklet(
    journey_id: str,
    state: State,
    user: CurrentUser,
    key: IdempotencyKey = None,
    body: s.BookletIn | None = None,
) -> c.JourneyStatus:
    service = JourneyService(state)
    millesime = (body.millesime if body else None) or (await service.programme()).current_millesime
    request = c.BookletRequest(actor=user.actor, millesime=millesime)
    return await service.update(
        journey_id,
        c.U_ISSUE_BOOKLET,
        request,
        key=key,
        result_type=c.JourneyStatus,
        user=user,
        change=Change.ISSUE_BOOKLET,
    )


@router.post("/journeys/{journey_id}/orientation", responses=ERRORS)
async def orient(
    journey_id: str, body: s.OrientIn, state: State, user: CurrentUser, key: IdempotencyKey = None
) -> c.JourneyStatus:
    service = JourneyService(state)
    await service.check_mediation_structure(body.mediation_structure_id, on=_today())
    request = c.OrientRequest(actor=user.actor, mediation_structure_id=body.mediation_structure_id)
    return await service.update(
        journey_id,
        c.U_ORIENT,
        request,
        key=key,
        result_type=c.JourneyStatus,
        user=user,
        change=Change.ORIENT,
    )


@router.post("/journeys/{journey_id}/orientation/answer", responses=ERRORS)
async def answer_orientation(
    journey_id: str, body: s.AnswerIn, state: State, user: CurrentUser, key: IdempotencyKey = None
) -> c.JourneyStatus:
    request = c.OrientationAnswer(
        actor=user.actor,
        mediation_structure_id=body.mediation_structure_id,
        accept=body.accept,
        decline_reason=body.decline_reason,
        comment=body.comment,
    )
    return await JourneyService(state).update(
        journey_id,
        c.U_ANSWER_ORIENTATION,
        request,
        key=key,
        result_type=c.JourneyStatus,
        user=user,
        change=Change.ANSWER_ORIENTATION,
        mediation_structure_id=body.mediation_structure_id,
    )


@router.post(
    "/journeys/{journey_id}/sessions", status_code=status.HTTP_201_CREATED, responses=ERRORS
)
async def log_session(
    journey_id: str,
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
        serials=body.serials,
    )
    return await JourneyService(state).log_session(
        journey_id, request, key=key or session_id, user=user
    )


@router.post("/journeys/{journey_id}/withdraw", responses=ERRORS)
async def withdraw(
    journey_id: str,
    body: s.WithdrawIn,
    state: State,
    user: CurrentUser,
    key: IdempotencyKey = None,
) -> c.JourneyStatus:
    request = c.WithdrawRequest(actor=user.actor, reason=body.reason)
    return await JourneyService(state).update(
        journey_id,
        c.U_WITHDRAW,
        request,
        key=key,
        result_type=c.JourneyStatus,
        user=user,
        change=Change.WITHDRAW,
    )


@router.post("/journeys/{journey_id}/nudge", responses=ERRORS)
async def nudge(
    journey_id: str,
    state: State,
    user: CurrentUser,
    key: IdempotencyKey = None,
    body: s.NudgeIn | None = None,
) -> c.JourneyStatus:
    request = c.NudgeRequest(actor=user.actor, message=body.message if body else None)
    return await JourneyService(state).update(
        journey_id,
        c.U_NUDGE,
        request,
        key=key,
        result_type=c.JourneyStatus,
        user=user,
        change=Change.NUDGE,
    )


@router.post("/journeys/{journey_id}/reorient", responses=ERRORS)
async def reorient(
    journey_id: str,
    body: s.ReorientIn,
    state: State,
    user: CurrentUser,
    key: IdempotencyKey = None,
) -> c.JourneyStatus:
    service = JourneyService(state)
    await service.check_mediation_structure(body.mediation_structure_id, on=_today())
    request = c.OrientRequest(
        actor=user.actor, mediation_structure_id=body.mediation_structure_id, reason=body.reason
    )
    return await service.update(
        journey_id,
        c.U_REORIENT,
        request,
        key=key,
        result_type=c.JourneyStatus,
        user=user,
        change=Change.REORIENT,
    )


def _today() -> date:
    return paris_day(datetime.now(UTC))

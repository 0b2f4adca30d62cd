"""JSON API: the person's rights (droit d'accès, de rectification, d'effacement), for the
social workers of the journey's reception structure and coordinators in scope
(api/person_rights.py)."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import CurrentUser
from api.constraints import JourneyIdPath
from api.deps import IdempotencyKey, State
from api.errors import error_responses
from api.person_rights import PersonDataOut, PersonRights, RectificationIn, RectificationResult
from domain import contracts as c

router = APIRouter(prefix="/api/v1", tags=["person's rights"])


@router.get("/journeys/{journey_id}/person-data", responses=error_responses(401, 403, 404, 422))
async def person_data(journey_id: JourneyIdPath, state: State, user: CurrentUser) -> PersonDataOut:
    """Droit d'accès: everything passnum holds on the journey's person (identity and contact,
    consent and the wording's version, the journey, assessments, orientations, booklets and
    cheques (never their security codes), sessions, mails and letters, the timeline,
    corrections, free texts typed about them). Printable: `/parcours/{id}/donnees`."""
    return await PersonRights(state).export(user, journey_id)


@router.put("/journeys/{journey_id}/person", responses=error_responses(401, 403, 404, 409, 422))
async def rectify_person(
    journey_id: JourneyIdPath,
    body: RectificationIn,
    state: State,
    user: CurrentUser,
    key: IdempotencyKey = None,
) -> RectificationResult:
    """Droit de rectification: the person's identity and contact as they should read, with
    a reason; the fields that differ are corrected and logged (who, when, which fields, why;
    not the old values). The same Idempotency-Key sent again changes nothing."""
    return await PersonRights(state).rectify(user, journey_id, body, key=key)


@router.post(
    "/journeys/{journey_id}/erasure", responses=error_responses(401, 403, 404, 409, 422, 503)
)
async def erase_on_request(
    journey_id: JourneyIdPath, state: State, user: CurrentUser, key: IdempotencyKey = None
) -> c.JourneyStatus:
    """Droit à l'effacement, at the person's request: unspent cheques cancelled, the journey
    closed (outcome WITHDRAWN) and anonymised at once (identity, contact and mails erased;
    statistics kept). Cannot be undone. A second request: 409 wrong_stage."""
    return await PersonRights(state).erase(user, journey_id, key=key)

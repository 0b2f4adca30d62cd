"""JSON API: the administrators' audit log (read-only) and the consent wording's versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from api import access, consent_service
from api.audit_log import AuditPage, read_page
from api.auth import CurrentUser, now_utc
from api.consent_service import ConsentVersionOut, ConsentWordingIn
from api.constraints import MAX_OFFSET
from api.deps import State
from api.errors import error_responses

router = APIRouter(prefix="/api/v1", tags=["audit and consent"])


@router.get("/audit", responses=error_responses(401, 403, 422))
async def read_audit(
    state: State,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> AuditPage:
    """Administrators: every administrator's action in the programme, most recent first.
    Entries are append-only: the database refuses to change or delete them."""
    access.require_admin(user)
    return await state.db.run(lambda s: read_page(s, user, limit=limit, offset=offset))


@router.get("/consent-versions", responses=error_responses(401))
async def consent_versions(state: State, user: CurrentUser) -> list[ConsentVersionOut]:
    """Every wording of the consent read at referral, the one in force first (referrals
    pin it: `consent.version` in a referral must be this one)."""
    return await state.db.run(consent_service.versions)


@router.post(
    "/consent-versions",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 409, 422),
)
async def publish_consent(
    body: ConsentWordingIn, state: State, user: CurrentUser
) -> ConsentVersionOut:
    """Administrators: publish a new consent wording, in force at once for new referrals
    (past consents keep their version). The wording in force sent again: 409."""
    access.require_admin(user)
    now = now_utc()
    row = await state.db.run(
        lambda s: consent_service.publish(s, user, body.wording, now), write=True
    )
    return ConsentVersionOut.of(row, True)

"""JSON API: coordinators' reports, the figures of the pages (api/reports.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import reports
from api import schemas as s
from api.auth import CurrentUser
from api.constraints import IdQuery
from api.deps import State
from api.errors import error_responses

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
MONTH = r"^20[0-9]{2}-(0[1-9]|1[0-2])$"


def _month(value: int | None) -> str | None:
    return f"{value // 100:04d}-{value % 100:02d}" if value else None


@router.get("/overview", responses=error_responses(401, 403, 422))
async def overview(
    state: State,
    user: CurrentUser,
    epci: IdQuery = None,
    structure: Annotated[
        str | None,
        Query(
            pattern=r"^(accueil|mediation)-[1-9][0-9]{0,9}$",
            description="accueil-ID or mediation-ID",
        ),
    ] = None,
    millesime: Annotated[
        int | None, Query(ge=0, le=2100, description="Year; 0: journeys without a booklet")
    ] = None,
    du: Annotated[
        str | None, Query(pattern=MONTH, description="From this month of referral, YYYY-MM")
    ] = None,
    au: Annotated[
        str | None, Query(pattern=MONTH, description="To this month of referral, YYYY-MM")
    ] = None,
) -> s.OverviewOut:
    """Coordinators: the overview of their scope (EPCI or whole programme) under filters on
    the month of referral, the booklet's millésime, the EPCI (ignored for an EPCI's
    coordinators: their scope wins) and a structure."""
    filters = reports.parse_filters(
        user,
        epci=str(epci) if epci is not None else None,
        structure=structure,
        millesime=str(millesime) if millesime is not None else None,
        du=du,
        au=au,
    )
    r = await state.db.run(lambda db: reports.overview(db, user, filters.applied))
    o, a = r.figures, filters.applied
    return s.OverviewOut(
        scope=r.scope_label,
        filters=s.OverviewFiltersOut(
            epci_id=a.epci_id,
            reception_structure_id=a.reception_structure_id,
            mediation_structure_id=a.mediation_structure_id,
            millesime=a.millesime,
            from_month=_month(a.from_month),
            to_month=_month(a.to_month),
        ),
        journeys=o.total,
        by_stage=o.by_stage,
        stalled=o.stalled,
        booklets=o.booklets,
        target_booklets=r.programme.target_booklets,
        cheque_value_cents=o.cheque_value_cents,
        cheques_issued=o.cheques_issued,
        cheques_redeemed=o.cheques_redeemed,
        cheques_expired=o.cheques_expired,
        cheques_outstanding=o.cheques_outstanding,
        median_days_to_first_session=o.median_days_to_first_session,
        journeys_with_session=o.journeys_with_session,
        epci=[
            s.EpciOverviewOut(
                epci_id=e.epci_id,
                name=e.name,
                journeys=e.total,
                open=e.open,
                stalled=e.stalled,
                by_stage=e.by_stage,
            )
            for e in o.epci
        ],
        cheques_expiring_within_30_days=r.expiring.cheques,
        first_expiry_day=r.expiring.first_day,
    )

"""JSON API: coordinators' reports, the figures of the pages (api/reports.py), their
exports (CSV, XLSX) and the programme report (PDF) (api/export_service.py), all under the
same filters."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import StreamingResponse

from api import export_service, reports
from api import schemas as s
from api.auth import CurrentUser
from api.constraints import IdQuery
from api.deps import State
from api.errors import error_responses
from api.exports import CSV_CONTENT, PDF_CONTENT, PdfResponse
from api.spreadsheets import XLSX_CONTENT

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
MONTH = r"^20[0-9]{2}-(0[1-9]|1[0-2])$"


def _month(value: int | None) -> str | None:
    return f"{value // 100:04d}-{value % 100:02d}" if value else None


def report_filters(
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
) -> reports.Filters:
    """The reports' filters: the month of referral, the booklet's millésime, the EPCI
    (ignored for an EPCI's coordinators: their scope wins) and a structure."""
    return reports.parse_filters(
        user,
        epci=str(epci) if epci is not None else None,
        structure=structure,
        millesime=str(millesime) if millesime is not None else None,
        du=du,
        au=au,
    )


ReportFilters = Annotated[reports.Filters, Depends(report_filters)]


@router.get("/overview", responses=error_responses(401, 403, 422))
async def overview(state: State, user: CurrentUser, filters: ReportFilters) -> s.OverviewOut:
    """Coordinators: the overview of their scope (EPCI or whole programme) under filters on
    the month of referral, the booklet's millésime, the EPCI (ignored for an EPCI's
    coordinators: their scope wins) and a structure."""
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


@router.get(
    "/exports/{export}.{fmt}",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {**CSV_CONTENT, **XLSX_CONTENT},
            "description": "Le fichier : CSV pour tableur français (UTF-8 avec BOM, « ; », "
            "dates jj/mm/aaaa, montants 10,00) ou classeur XLSX",
        },
        **error_responses(401, 403, 422),
    },
)
async def export(
    state: State,
    user: CurrentUser,
    filters: ReportFilters,
    export: Annotated[
        str,
        Path(
            pattern=export_service.EXPORT_PATTERN,
            description="What to export: " + ", ".join(export_service.EXPORTS),
        ),
    ],
    fmt: Annotated[export_service.Format, Path(description="csv or xlsx")],
) -> StreamingResponse:
    """Coordinators: one row per journey, cheque, training session, reimbursement
    statement or funder ledger entry of their scope, under the overview's filters (which
    choose journeys: cheques, sessions and entries are those of the chosen journeys;
    statements follow the EPCI, the mediation structure and the period). No name or
    contact: the files are meant for funders. Streamed."""
    return await export_service.download(state.db, user, export, fmt, filters.applied)


@router.get(
    "/programme.pdf",
    response_class=PdfResponse,
    responses={
        200: {"content": PDF_CONTENT, "description": "Le rapport du programme en PDF"},
        **error_responses(401, 403, 422),
    },
)
async def programme_report(state: State, user: CurrentUser, filters: ReportFilters) -> PdfResponse:
    """Coordinators: the programme report for funders and the State (key figures, funnel,
    cheques per month, spending per EPCI and funder, impact), with charts, of their scope
    under the overview's filters."""
    return await export_service.programme_report_download(state.db, user, filters.applied)

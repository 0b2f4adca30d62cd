"""Coordinators' downloads page (`/coordination/exports`): each export (journeys, cheques,
sessions, and any `Table` registered in api/export_service.py) as CSV or XLSX, and the
programme report as PDF, under the overview's filters, which the links carry to the API
(`/api/v1/reports/...`, which takes the page's session cookie)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api import access, export_service, reports
from api.auth import CurrentUser
from api.deps import State
from api.pages.coordination import filter_context
from api.web import render
from domain.stages import Role

router = APIRouter(prefix="/coordination/exports", include_in_schema=False)
API = "/api/v1/reports"


@dataclass(frozen=True)
class Download:
    title: str
    description: str
    csv: str
    xlsx: str


@router.get("")
async def exports_page(
    request: Request,
    state: State,
    user: CurrentUser,
    epci: Annotated[str | None, Query(max_length=12)] = None,
    structure: Annotated[str | None, Query(max_length=24)] = None,
    millesime: Annotated[str | None, Query(max_length=6)] = None,
    du: Annotated[str | None, Query(max_length=10)] = None,
    au: Annotated[str | None, Query(max_length=10)] = None,
) -> HTMLResponse:
    access.require_role(user, Role.COORDINATOR)
    filters = reports.parse_filters(
        user, epci=epci, structure=structure, millesime=millesime, du=du, au=au
    )
    report = await state.db.run(lambda s: reports.overview(s, user, filters.applied))
    params = reports.query_of(filters.applied)
    query = f"?{urlencode(params)}" if params else ""
    downloads = [
        Download(
            title=t.title,
            description=t.description,
            csv=f"{API}/exports/{name}.csv{query}",
            xlsx=f"{API}/exports/{name}.xlsx{query}",
        )
        for name, t in export_service.EXPORTS.items()
    ]
    return render(
        request,
        "coordination/exports.html",
        {
            **filter_context(user, filters, report),
            "r": report,
            "o": report.figures,
            "downloads": downloads,
            "report_url": f"{API}/programme.pdf{query}",
            "described": export_service.describe_filters(filters.applied, report.names),
        },
    )

"""Coordinators' pages of the funder ledger: each funder's balance (budget, engagé,
dépensé, libéré, restitué, reste, mois d'épuisement prévu) with the entries, filtered by
funder and month (/coordination/financeurs), and the end of each millésime with its
report (/coordination/millesimes). The same reads as the JSON API (/api/v1/ledger...),
the same scope (`api.access.ledger_scope`): an EPCI coordinator sees the entries of their
EPCI's journeys and their own EPCI's line in full. Read only: nothing here changes data.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from api import access
from api.auth import CurrentUser
from api.constraints import MAX_ID
from api.deps import State
from api.errors import ApiError
from api.forms import Form
from api.web import render
from domain.ledger import FULL_BP, format_month_fr
from domain.stages import ChequeStatus
from domain.validity import paris_today
from records import ledger, queries

router = APIRouter(prefix="/coordination", include_in_schema=False)
PAGE_SIZE = 50


def _id(text: str | None) -> int | None:
    if not text or not (text.isascii() and text.isdigit()):
        return None
    return int(text) if 1 <= int(text) <= MAX_ID else None


def _month(text: str | None) -> tuple[int, int] | None:
    """A month typed as AAAA-MM, else None."""
    if not text or len(text) != 7 or text[4] != "-":
        return None
    year, month = text[:4], text[5:]
    if not (year.isascii() and year.isdigit() and month.isascii() and month.isdigit()):
        return None
    return (int(year), int(month)) if 1 <= int(month) <= 12 else None


def share_text(f: ledger.FunderLedger) -> str:
    if f.share_bp is None:
        return "—"
    percent = f"{f.share_bp * 100 / FULL_BP:.2f}".replace(".", ",") + " %"
    if f.epci_id is not None:
        return f"{percent} des chèques de son territoire"
    return f"{percent} de chaque chèque"


@router.get("/financeurs")
async def funders(
    request: Request,
    state: State,
    user: CurrentUser,
    financeur: Annotated[str | None, Query(max_length=12)] = None,
    mois: Annotated[str | None, Query(max_length=7)] = None,
    page: Annotated[str | None, Query(max_length=6)] = None,
) -> HTMLResponse:
    scope = access.ledger_scope(user)
    today = paris_today()
    funder_id, month = _id(financeur), _month(mois)
    number = max(_id(page) or 1, 1)

    def read(session: Session) -> dict[str, Any]:
        programme = queries.get_programme(session, user.programme_code)
        if programme is None or programme.id is None:
            raise ApiError(503, "no_programme", "Aucun programme n'est configuré.")
        view = ledger.ledger_view(session, programme, epci_id=scope.epci_id, today=today)
        shown = {f.funder_id for f in view.funders}
        rows, total = ledger.list_entries(
            session,
            programme_code=programme.code,
            epci_id=scope.epci_id,
            funder_id=funder_id if funder_id in shown else None,
            month=month,
            limit=PAGE_SIZE,
            offset=(number - 1) * PAGE_SIZE,
        )
        label = "tout le programme"
        if scope.epci_id is not None:
            label = ledger.epci_names(session, programme.id).get(
                scope.epci_id, "intercommunalité inconnue"
            )
        return {
            "view": view,
            "rows": rows,
            "total": total,
            "months": ledger.entry_months(session, programme.code, scope.epci_id),
            "names": {f.funder_id: f.name for f in view.funders},
            "scope_label": label,
        }

    found = await state.db.run(read)
    chosen = {
        "financeur": str(funder_id) if funder_id in found["names"] else "",
        "mois": f"{month[0]:04d}-{month[1]:02d}" if month else "",
    }

    def link(to_page: int) -> str:
        return "?" + urlencode({k: v for k, v in {**chosen, "page": str(to_page)}.items() if v})

    return render(
        request,
        "coordination/ledger.html",
        {
            **found,
            "whole": scope.epci_id is None,
            "form": Form.blank(chosen),
            "funder_options": [(str(i), n) for i, n in found["names"].items()],
            "month_options": [
                (f"{y:04d}-{m:02d}", format_month_fr((y, m))) for y, m in found["months"]
            ],
            "share_text": share_text,
            "per_month": lambda f: round(f.pace.per_month) if f.pace else 0,
            "month_fr": format_month_fr,
            "page": number,
            "pages": max(1, -(-found["total"] // PAGE_SIZE)),
            "previous_link": link(number - 1) if number > 1 else None,
            "next_link": link(number + 1) if number * PAGE_SIZE < found["total"] else None,
        },
    )


@router.get("/millesimes")
async def closures(request: Request, state: State, user: CurrentUser) -> HTMLResponse:
    scope = access.ledger_scope(user)
    views = await state.db.run(
        lambda session: ledger.closure_views(session, user.programme_code, epci_id=scope.epci_id)
    )
    return render(
        request,
        "coordination/closures.html",
        {
            "closures": views,
            "whole": scope.epci_id is None,
            "status_labels": ChequeStatus.table(),
        },
    )

"""JSON API: booklet stock (coordinators), the same service as /coordination/carnets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from api import schemas as s
from api import stock_service
from api.auth import CurrentUser
from api.deps import IdempotencyKey, State
from api.errors import error_responses

router = APIRouter(prefix="/api/v1", tags=["booklet stock"])


@router.get("/booklet-stock", responses=error_responses(401, 403, 422))
async def booklet_stock(
    state: State,
    user: CurrentUser,
    millesime: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> s.StockOut:
    """Per reception structure in the caller's scope, its booklets of `millesime` (default:
    the one handed out today): received, in stock, handed out, started (a cheque spent),
    finished (every cheque spent); and the ranges handed out."""
    page = await state.db.run(lambda db: stock_service.read(db, user, millesime))
    return s.StockOut(
        millesime=page.millesime,
        structures=[
            s.StockLineOut.model_validate(line, from_attributes=True)
            for epci in page.epci
            for line in epci.lines
        ],
        ranges=[s.StockRangeOut.model_validate(r, from_attributes=True) for r, _ in page.ranges],
    )


@router.post(
    "/booklet-stock",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 409, 422),
)
async def hand_out_booklets(
    body: s.StockRangeIn, state: State, user: CurrentUser, key: IdempotencyKey = None
) -> s.StockRangeOut:
    """The programme's coordination hands booklets `first_number`..`last_number` of a
    millésime to a reception structure. Refused (409 `stock_refused`) if they overlap
    another range or a booklet already given out; 403 for an EPCI's coordinators."""
    row = await stock_service.hand_out(
        state,
        user,
        millesime=body.millesime,
        reception_structure_id=body.reception_structure_id,
        first_number=body.first_number,
        last_number=body.last_number,
        key=key,
    )
    return s.StockRangeOut.model_validate(row, from_attributes=True)

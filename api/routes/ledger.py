"""JSON API: the funder ledger (balances, entries) and the end of each millésime.

Coordinators only (`api.access.ledger_scope`): a programme coordinator reads everything;
an EPCI coordinator reads the entries of their EPCI's journeys, their own EPCI's line in
full (budget, remaining, exhaustion) and only their territory's part of the State's and
the Département's lines (no budget: it is not theirs). Amounts are integer cents.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlmodel import Session

from api import access
from api.auth import CurrentUser
from api.constraints import MAX_OFFSET, IdQuery
from api.deps import State
from api.errors import ApiError, error_responses, not_found
from domain.ledger import EntryKind, format_month_fr
from domain.validity import paris_today
from records import ledger, queries
from records.models import Programme

router = APIRouter(prefix="/api/v1", tags=["funder ledger"])
READ_ERRORS = error_responses(401, 403, 422, 503)
MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


class FunderBalanceOut(BaseModel):
    funder_id: int
    name: str
    kind: str
    kind_label: str
    epci_id: int | None = Field(description="Intercommunalité d'une ligne territoriale")
    share_bp: int | None = Field(description="Part de chaque chèque, en points de base")
    budget_known: bool = Field(
        description="Faux : seule la part de votre territoire est comptée (pas de budget)"
    )
    budget_cents: int | None
    committed_cents: int = Field(description="Tous les chèques émis")
    engaged_cents: int = Field(description="Chèques encore utilisables")
    spent_cents: int
    cancelled_cents: int = Field(description="Engagements libérés (chèques annulés)")
    returned_cents: int = Field(description="Restitué (chèques expirés)")
    remaining_cents: int | None
    pace_cents_per_month: int | None = Field(
        description="Engagements nets par mois (moyenne des derniers mois complets)"
    )
    pace_months: list[str] = Field(description="Mois complets moyennés (AAAA-MM)")
    runs_out_on: date | None = Field(description="Jour d'épuisement prévu au rythme actuel")
    runs_out_month: str | None = Field(description="Mois d'épuisement prévu (AAAA-MM)")
    runs_out_month_label: str | None


class BalanceOut(BaseModel):
    budget_cents: int
    committed_cents: int
    engaged_cents: int
    spent_cents: int
    cancelled_cents: int
    returned_cents: int


class LedgerOut(BaseModel):
    programme_code: int
    epci_id: int | None = Field(description="Votre intercommunalité ; null : tout le programme")
    today: date
    funders: list[FunderBalanceOut]
    total: BalanceOut


class EntryOut(BaseModel):
    id: int
    funder_id: int
    serial: str
    kind: EntryKind
    kind_label: str
    amount_cents: int
    at: datetime
    millesime: int
    epci_id: int


class EntryPage(BaseModel):
    items: list[EntryOut]
    total: int
    limit: int
    offset: int


class ClosureFunderOut(BaseModel):
    funder_id: int
    name: str
    kind: str
    committed_cents: int
    spent_cents: int
    cancelled_cents: int
    returned_cents: int


class UnexpiredOut(BaseModel):
    serial: str
    journey_id: str


class ClosureOut(BaseModel):
    millesime: int
    status: str
    status_label: str
    last_valid_day: date
    first_checked_at: datetime
    checked_at: datetime
    closed_at: datetime | None
    returned_cents: int
    funders: list[ClosureFunderOut]
    cheques: dict[str, int]
    reconciled: bool
    differences_cents: dict[str, int]
    unexpired_count: int
    unexpired: list[UnexpiredOut]


def _month_text(month: tuple[int, int] | None) -> str | None:
    return None if month is None else f"{month[0]:04d}-{month[1]:02d}"


def _programme(db: Session, code: int) -> Programme:
    programme = queries.get_programme(db, code)
    if programme is None:
        raise ApiError(503, "no_programme", "Aucun programme n'est configuré.")
    return programme


def ledger_answer(view: ledger.LedgerView) -> LedgerOut:
    def balance(f: ledger.FunderLedger) -> FunderBalanceOut:
        b = f.balance
        return FunderBalanceOut(
            funder_id=f.funder_id,
            name=f.name,
            kind=f.kind,
            kind_label=f.kind_label,
            epci_id=f.epci_id,
            share_bp=f.share_bp,
            budget_known=f.budget_known,
            budget_cents=b.budget if f.budget_known else None,
            committed_cents=b.committed,
            engaged_cents=b.engaged,
            spent_cents=b.spent,
            cancelled_cents=b.cancelled,
            returned_cents=b.returned,
            remaining_cents=b.remaining if f.budget_known else None,
            pace_cents_per_month=round(f.pace.per_month) if f.pace else None,
            pace_months=[_month_text(m) or "" for m in f.pace.months] if f.pace else [],
            runs_out_on=f.runs_out_on,
            runs_out_month=_month_text(f.runs_out_month),
            runs_out_month_label=format_month_fr(f.runs_out_month) if f.runs_out_month else None,
        )

    t = view.total
    return LedgerOut(
        programme_code=view.programme_code,
        epci_id=view.epci_id,
        today=view.today,
        funders=[balance(f) for f in view.funders],
        total=BalanceOut(
            budget_cents=t.budget,
            committed_cents=t.committed,
            engaged_cents=t.engaged,
            spent_cents=t.spent,
            cancelled_cents=t.cancelled,
            returned_cents=t.returned,
        ),
    )


@router.get("/ledger", responses=READ_ERRORS)
async def get_ledger(state: State, user: CurrentUser) -> LedgerOut:
    """Each funder's budget, committed, engaged, spent, cancelled, returned and remaining
    amounts, the pace of its commitments and the month its budget runs out at that pace
    (read from the ledger's monthly sums)."""
    scope = access.ledger_scope(user)
    today = paris_today()

    def read(db: Session) -> ledger.LedgerView:
        programme = _programme(db, user.programme_code)
        return ledger.ledger_view(db, programme, epci_id=scope.epci_id, today=today)

    return ledger_answer(await state.db.run(read))


@router.get("/ledger/entries", responses=READ_ERRORS)
async def list_ledger_entries(
    state: State,
    user: CurrentUser,
    funder_id: IdQuery = None,
    month: Annotated[
        str | None, Query(pattern=MONTH_PATTERN, description="Mois (AAAA-MM, Europe/Paris)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> EntryPage:
    """The ledger's entries, newest month first: one per cheque, kind and funder line."""
    scope = access.ledger_scope(user)
    wanted = (int(month[:4]), int(month[5:])) if month else None
    rows, total = await state.db.run(
        lambda db: ledger.list_entries(
            db,
            programme_code=user.programme_code,
            epci_id=scope.epci_id,
            funder_id=funder_id,
            month=wanted,
            limit=limit,
            offset=offset,
        )
    )
    return EntryPage(
        items=[
            EntryOut(
                id=r.id,
                funder_id=r.funder_id,
                serial=r.serial,
                kind=EntryKind(r.kind),
                kind_label=r.kind_label,
                amount_cents=r.amount_cents,
                at=r.at,
                millesime=r.millesime,
                epci_id=r.epci_id,
            )
            for r in rows
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


def closure_answer(v: ledger.ClosureView) -> ClosureOut:
    return ClosureOut(
        millesime=v.millesime,
        status=v.status,
        status_label=v.status_label,
        last_valid_day=v.last_valid_day,
        first_checked_at=v.first_checked_at,
        checked_at=v.checked_at,
        closed_at=v.closed_at,
        returned_cents=v.returned_cents,
        funders=[
            ClosureFunderOut(
                funder_id=f.funder_id,
                name=f.name,
                kind=f.kind,
                committed_cents=f.committed_cents,
                spent_cents=f.spent_cents,
                cancelled_cents=f.cancelled_cents,
                returned_cents=f.returned_cents,
            )
            for f in v.funders
        ],
        cheques=v.cheques,
        reconciled=v.reconciled,
        differences_cents=v.differences_cents,
        unexpired_count=v.unexpired_count,
        unexpired=[UnexpiredOut(serial=u.serial, journey_id=u.journey_id) for u in v.unexpired],
    )


@router.get("/ledger/closures", responses=READ_ERRORS)
async def list_closures(state: State, user: CurrentUser) -> list[ClosureOut]:
    """The end of each millésime whose validity ended: CLOSED (every unspent cheque
    expired, what returns to each funder recorded) or PENDING (some unspent cheques not
    expired yet, listed; checked again every day)."""
    scope = access.ledger_scope(user)
    views = await state.db.run(
        lambda db: ledger.closure_views(db, user.programme_code, epci_id=scope.epci_id)
    )
    return [closure_answer(v) for v in views]


@router.get("/ledger/closures/{millesime}", responses=error_responses(401, 403, 404, 422))
async def get_closure(
    state: State,
    user: CurrentUser,
    millesime: Annotated[int, Path(ge=2000, le=2100, description="Millésime (année)")],
) -> ClosureOut:
    """One millésime's closure report; 404 while it is not closed or checked."""
    scope = access.ledger_scope(user)
    views = await state.db.run(
        lambda db: ledger.closure_views(
            db, user.programme_code, epci_id=scope.epci_id, millesime=millesime
        )
    )
    if not views:
        raise not_found("Clôture de ce millésime")
    return closure_answer(views[0])

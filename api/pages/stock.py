"""Booklet stock, for coordinators: the booklets of a millésime each reception structure
received, holds, gave out, and whose cheques were started or all spent; and the form that
hands a range of numbered booklets to a structure (records.booklet_stock).

The programme's coordination hands stock out; an EPCI's coordinators see their EPCI's
structures. A range sent twice (double click) is handed out once: the form's id is claimed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field
from sqlmodel import Session, select

from api import access
from api import programme_reads as reads
from api.auth import CurrentUser, User
from api.constraints import Id
from api.deps import State
from api.errors import ApiError, key_reused
from api.forms import Form, KeyedForm, fresh_key, read_form
from api.idempotency import fingerprint
from api.pages.submit import see
from api.web import render
from domain import clock
from domain.stages import Role
from domain.validity import paris_today
from records import booklet_stock, models
from records import idempotency as claims

router = APIRouter(prefix="/coordination/carnets", include_in_schema=False)

Number = Annotated[int, Field(ge=1, le=999_999)]  # six digits in the serial


class RangeForm(KeyedForm):
    reception_structure_id: Id
    millesime: int = Field(ge=2000, le=2100)
    first_number: Number
    last_number: Number


@dataclass(frozen=True)
class EpciStock:
    name: str
    lines: list[booklet_stock.StockLine]

    def total(self, what: str) -> int:
        return sum(getattr(line, what) for line in self.lines)


@dataclass(frozen=True)
class StockPage:
    millesime: int
    millesimes: list[int]
    epci: list[EpciStock]
    ranges: list[tuple[models.BookletStockRange, str]]
    structures: list[tuple[int, str]]


def _read(session: Session, user: User, millesime: int | None) -> StockPage:
    programme = reads.programme(session, user.programme_code)
    assert programme.id is not None
    offered = reads.millesimes_today(programme).offered
    year = millesime or (offered[0] if offered else paris_today().year)
    lines = booklet_stock.stock_lines(session, programme.id, programme.code, year)
    if user.epci_id is not None:
        lines = [line for line in lines if line.epci_id == user.epci_id]
    names = dict(
        session.exec(
            select(models.Epci.id, models.Epci.name).where(models.Epci.programme_id == programme.id)
        ).all()
    )
    by_epci: dict[int, list[booklet_stock.StockLine]] = {}
    for line in lines:
        by_epci.setdefault(line.epci_id, []).append(line)
    structures = {line.reception_structure_id: line.name for line in lines}
    known = sorted({r.millesime for r in booklet_stock.ranges(session, programme.code)})
    return StockPage(
        millesime=year,
        millesimes=sorted({*known, *offered, year}),
        epci=sorted(
            (
                EpciStock(names.get(e, f"Intercommunalité n° {e}"), rows)
                for e, rows in by_epci.items()
            ),
            key=lambda e: e.name,
        ),
        ranges=[
            (r, structures[r.reception_structure_id])
            for r in booklet_stock.ranges(session, programme.code, year)
            if r.reception_structure_id in structures
        ],
        structures=sorted(structures.items(), key=lambda item: item[1]),
    )


def _year(text: str | None) -> int | None:
    return int(text) if text and text.isascii() and text.isdigit() and len(text) == 4 else None


async def _page(
    request: Request,
    state: State,
    user: User,
    millesime: int | None,
    form: Form[RangeForm],
    status: int = 200,
) -> HTMLResponse:
    page = await state.db.run(lambda s: _read(s, user, millesime))
    if not form.value("millesime"):
        form.values["millesime"] = str(page.millesime)
    return render(
        request,
        "coordination/stock.html",
        {
            "page": page,
            "form": form,
            "may_hand_out": access.may_hand_out_stock(user),
            "done": request.query_params.get("fait") == "plage",
        },
        status_code=status,
    )


@router.get("")
async def stock(
    request: Request,
    state: State,
    user: CurrentUser,
    millesime: Annotated[str | None, Query(max_length=4)] = None,
) -> HTMLResponse:
    access.require_role(user, Role.COORDINATOR)
    return await _page(request, state, user, _year(millesime), Form.blank(fresh_key()))


@router.post("")
async def hand_out(request: Request, state: State, user: CurrentUser) -> Response:
    access.require_stock_manager(user)
    form = await read_form(request, RangeForm)
    if not form.ok:
        return await _page(request, state, user, None, form, 422)
    data = form.data
    request_print = fingerprint(
        state.settings.secret_key.get_secret_value(),
        data.model_dump(mode="json", exclude={"form_id"}),
    )

    def write(session: Session) -> None:
        programme = reads.programme(session, user.programme_code)
        structure = session.get(models.ReceptionStructure, data.reception_structure_id)
        if structure is None or structure.programme_id != programme.id:
            raise ApiError(
                422,
                "unknown_structure",
                "Cette structure d'accueil n'existe pas dans le programme.",
            )
        try:
            first = claims.claim(
                session,
                scope=f"stock:{programme.code}",
                key=str(data.form_id),
                fingerprint=request_print,
                now=clock.now(),
            )
        except claims.KeyReused:
            raise key_reused() from None
        if not first:
            return  # the same form sent again: handed out the first time
        try:
            booklet_stock.hand_out_range(
                session,
                programme_code=programme.code,
                millesime=data.millesime,
                reception_structure_id=data.reception_structure_id,
                first_number=data.first_number,
                last_number=data.last_number,
                by=user.id,
                at=clock.now(),
            )
        except booklet_stock.StockRefused as refused:
            raise ApiError(409, "stock_refused", refused.message) from None

    try:
        await state.db.run(write, write=True)
    except ApiError as err:
        if err.status not in (409, 422):
            raise
        form.refuse(err, "first_number")
        return await _page(request, state, user, data.millesime, form, err.status)
    return see(f"/coordination/carnets?millesime={data.millesime}&fait=plage")

"""Booklet stock, for coordinators: the booklets of a millésime each reception structure
received, holds, gave out, and whose cheques were started or all spent; and the form that
hands a range of numbered booklets to a structure (records.booklet_stock).

The programme's coordination hands stock out; an EPCI's coordinators see their EPCI's
structures. A range sent twice (double click) is handed out once: the form's id is claimed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import access, stock_service
from api.auth import CurrentUser, User
from api.constraints import BookletNumber, Id, Millesime
from api.deps import State
from api.forms import Form, KeyedForm, fresh_key, read_form
from api.pages import submit
from api.web import render

router = APIRouter(prefix="/coordination/carnets", include_in_schema=False)


class RangeForm(KeyedForm):
    reception_structure_id: Id
    millesime: Millesime
    first_number: BookletNumber
    last_number: BookletNumber


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
    page = await state.db.run(lambda s: stock_service.read(s, user, millesime))
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
    return await _page(request, state, user, _year(millesime), Form.blank(fresh_key()))


@router.post("")
async def hand_out(request: Request, state: State, user: CurrentUser) -> Response:
    access.require_stock_manager(user)
    form = await read_form(request, RangeForm)

    async def hand(data: RangeForm) -> None:
        await stock_service.hand_out(
            state,
            user,
            millesime=data.millesime,
            reception_structure_id=data.reception_structure_id,
            first_number=data.first_number,
            last_number=data.last_number,
            key=str(data.form_id),
        )

    sent = await submit.run(
        form,
        hand,
        done=lambda data: f"/coordination/carnets?millesime={data.millesime}&fait=plage",
        field="first_number",
    )
    if isinstance(sent, RedirectResponse):
        return sent
    millesime = form.data.millesime if form.ok else None
    return await _page(request, state, user, millesime, form, sent)

"""Administrators' page /administration/regles: the programme's policy (stall reminder
and deadline per stage, orientation reminder and expiry, retention before anonymisation,
grace after the millésime, cheques per booklet, cheque value), the current values and their
bounds, changed through api.policy_service (the same service as the JSON API). The page
says what a change does to running journeys: nothing (they keep their policy). A double
submit (same form id) changes nothing more.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api import access, policy_service
from api.auth import CurrentUser, User
from api.deps import AppState, State
from api.forms import Form, KeyedForm, fresh_key, read_form
from api.pages import submit
from api.web import render
from domain.policy import BOUNDS, EDITABLE_STAGES, PAIRS

router = APIRouter(prefix="/administration", include_in_schema=False)
DONE = "Les règles sont enregistrées : elles s'appliquent aux prochaines orientations."


class PolicyForm(KeyedForm):
    referred_reminder_days: int
    referred_stalled_days: int
    assessed_reminder_days: int
    assessed_stalled_days: int
    booklet_issued_reminder_days: int
    booklet_issued_stalled_days: int
    in_training_reminder_days: int
    in_training_stalled_days: int
    orientation_reminder_days: int
    orientation_expiry_days: int
    retention_days: int
    grace_months: int
    cheques_per_booklet: int
    cheque_value_cents: int


async def _page(
    request: Request,
    state: AppState,
    user: User,
    form: Form[Any] | None,
    *,
    status: int = 200,
    done: str | None = None,
) -> HTMLResponse:
    view = await state.db.run(lambda s: policy_service.read(s, user))
    if form is None:
        form = Form.blank({**{k: str(v) for k, v in view.values.items()}, **fresh_key()})
    stages = [
        (stage, f"{stage.value.lower()}_reminder_days", f"{stage.value.lower()}_stalled_days")
        for stage in EDITABLE_STAGES
    ]
    return render(
        request,
        "admin/policy.html",
        {
            "form": form,
            "view": view,
            "bounds": BOUNDS,
            "stages": stages,
            "pairs": PAIRS,
            "done": done,
            "running": policy_service.RUNNING_JOURNEYS,
        },
        status_code=status,
    )


@router.get("/regles")
async def policy_page(
    request: Request,
    state: State,
    user: CurrentUser,
    fait: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    access.require_admin(user)
    return await _page(request, state, user, None, done=DONE if fait == "regles" else None)


@router.post("/regles")
async def policy_change(request: Request, state: State, user: CurrentUser) -> Response:
    access.require_admin(user)
    form = await read_form(request, PolicyForm)

    async def action(data: PolicyForm) -> None:
        values = data.model_dump(exclude={"form_id"})
        await policy_service.change(state, user, values, str(data.form_id))

    sent = await submit.run(form, action, done="/administration/regles?fait=regles")
    if not isinstance(sent, int):
        return sent
    return await _page(request, state, user, form, status=sent)

"""One way for a page form to change a journey: authorise, send the Update, redirect.

    form = await read_form(request, WithdrawForm)          # a KeyedForm: its form_id
    sent = await submit.send(state, user, journey_id, form,  # is the Update's key
        name=c.U_WITHDRAW, request=lambda d: c.WithdrawRequest(actor=user.actor, reason=d.reason),
        change=Change.WITHDRAW, done=f"/coordination/parcours/{journey_id}?fait=sortie")
    if isinstance(sent, RedirectResponse):
        return sent                                          # 303 once done
    return render(..., {"form": form}, status_code=sent)    # the form with its refusal

A double submit sends the same key again: the workflow answers the first result and
nothing changes. The refusals the service words in French (409, 422: `refusal`) are shown
on the form, where `field` says; anything else goes to the error page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

from fastapi.responses import RedirectResponse
from pydantic import Field
from sqlmodel import Session

from api import access
from api.access import Change
from api.auth import User
from api.deps import AppState
from api.errors import ApiError
from api.forms import Form, KeyedForm
from api.journey_service import JourneyService
from domain import contracts as c
from domain.needs import AssessmentKind, AssessmentTool, AutonomyLevel, Theme
from domain.stages import LossReason
from records import queries

K = TypeVar("K", bound=KeyedForm)


class AssessmentFields(KeyedForm):
    """What both assessments ask (entry: social workers; exit: mediators)."""

    tool: AssessmentTool
    autonomy: AutonomyLevel


A = TypeVar("A", bound=AssessmentFields)


class LostBookletForm(KeyedForm):
    """A booklet declared lost (social workers' and coordinators' journey pages): the
    booklet shown on the page (a hidden field: declared again from an old page, it is
    refused rather than replaced twice), the day and the reason."""

    booklet_number: int = Field(ge=1, le=999_999)
    lost_on: date
    reason: LossReason


LOST_BOOKLET_REASONS = LossReason.options()


def see(path: str) -> RedirectResponse:
    """Where a page goes once a form is done (303: the browser GETs it)."""
    return RedirectResponse(path, status_code=303)


def refusal(err: ApiError) -> bool:
    """A business refusal, shown on the form (409, 422); the rest is an error page."""
    return err.status in (409, 422)


def not_out_of_scope(err: ApiError) -> bool:
    """Every refusal but 403/404 is shown on the form (the social workers' pages)."""
    return err.status not in (403, 404)


async def require_change(state: AppState, user: User, journey_id: str, change: Change) -> None:
    """404 if the journey does not exist (in this programme), 403 if `user` may not make
    `change` on it: before anything of the form is looked at."""
    code = user.programme_code

    def check(session: Session) -> None:
        row = queries.journey_access(session, journey_id)
        access.require_change(user, row if row and row.programme_code == code else None, change)

    await state.db.run(check)


async def run(
    form: Form[K],
    action: Callable[[K], Awaitable[object]],
    *,
    done: str | Callable[[K], str],
    field: str | Callable[[ApiError], str] = "",
    shown: Callable[[ApiError], bool] = refusal,
) -> RedirectResponse | int:
    """Any change a page form makes: `action` on the valid form's data (it claims the
    form's UUID itself), then the redirect to `done`; else the status to answer the form
    with (422 if the form itself is refused), the refusal placed on `field`."""
    if not form.ok:
        return 422
    data = form.data
    try:
        await action(data)
    except ApiError as err:
        if not shown(err):
            raise
        form.refuse(err, field(err) if callable(field) else field)
        return err.status
    return see(done(data) if callable(done) else done)


async def send(
    state: AppState,
    user: User,
    journey_id: str,
    form: Form[K],
    *,
    name: str,
    request: Callable[[K], Any],
    change: Change,
    done: str,
    check: Callable[[K], Awaitable[None]] | None = None,
    field: str | Callable[[ApiError], str] = "",
    shown: Callable[[ApiError], bool] = refusal,
    mediation_structure_id: int | None = None,
) -> RedirectResponse | int:
    """Send the Update `name` built by `request` from a valid form (`check` first, e.g. the
    chosen structure), the form's UUID as its idempotency key: the redirect to `done` once
    done; else the status to answer the form with (422 if the form itself is refused), its
    refusal placed on `field` (a name, or chosen from the error)."""

    async def change_journey(data: K) -> None:
        if check is not None:
            await check(data)
        await JourneyService(state, user.programme_code).update(
            journey_id,
            name,
            request(data),
            key=str(data.form_id),
            result_type=c.JourneyStatus,
            user=user,
            change=change,
            mediation_structure_id=mediation_structure_id,
        )

    return await run(form, change_journey, done=done, field=field, shown=shown)


async def assess(
    state: AppState,
    user: User,
    journey_id: str,
    form: Form[A],
    *,
    kind: AssessmentKind,
    needs: Callable[[A], list[Theme]],
    done: str,
) -> RedirectResponse | int:
    """`send` an assessment of `kind` (entry or exit) from its form; every refusal but
    403/404 is shown on the form."""
    return await send(
        state,
        user,
        journey_id,
        form,
        name=c.U_ASSESS,
        request=lambda data: c.AssessmentRequest(
            actor=user.actor,
            kind=kind,
            tool=data.tool,
            autonomy=data.autonomy,
            needs=needs(data),
        ),
        change=Change.ASSESS_ENTRY if kind is AssessmentKind.ENTRY else Change.ASSESS_EXIT,
        done=done,
        shown=not_out_of_scope,
    )


async def declare_booklet_lost(
    state: AppState, user: User, journey_id: str, form: Form[LostBookletForm], *, done: str
) -> RedirectResponse | int:
    """`send` a lost booklet's declaration from its form: the replacement is made, or the
    refusal placed on the day (a day the workflow refuses) or above the form."""
    if "reason" in form.errors:
        form.errors["reason"] = "Choisissez ce qui est arrivé au carnet."
    return await send(
        state,
        user,
        journey_id,
        form,
        name=c.U_DECLARE_BOOKLET_LOST,
        request=lambda data: c.DeclareBookletLostRequest(
            actor=user.actor,
            booklet_number=data.booklet_number,
            lost_on=data.lost_on,
            reason=data.reason,
        ),
        change=Change.DECLARE_BOOKLET_LOST,
        done=done,
        field=lambda err: "lost_on" if err.status == 422 else "",
        shown=not_out_of_scope,
    )

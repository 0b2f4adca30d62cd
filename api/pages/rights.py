"""The person's rights in pages, shared by the social workers' and the coordinators'
journey pages (api/person_rights.py decides and does; api.access says who):

- `/parcours/{id}/donnees`: everything held on the person, a page to print and hand over
  (droit d'accès; its JSON twin is `GET /api/v1/journeys/{id}/person-data`);
- `/parcours/{id}/rectification`: correct identity and contact, with a reason;
- `/parcours/{id}/effacement`: erase on request, after a confirmation that says what will
  happen and that it cannot be undone.

Forms are `KeyedForm`s sent through `submit.run` (their UUID as the idempotency key): a
double submit changes nothing more.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ConfigDict, field_validator

from api import schemas
from api.access import Change
from api.auth import CurrentUser, User
from api.constraints import JourneyIdPath
from api.deps import State
from api.forms import Form, KeyedForm, fresh_key, read_form
from api.pages import submit
from api.pages.letters import journey_page_path
from api.pages.social import CHANNEL_OPTIONS, PersonForm
from api.person_rights import PersonRights, RectificationIn
from api.web import render
from domain.rights import RectificationReason
from domain.stages import Stage
from records import queries

router = APIRouter(include_in_schema=False)

REASON_OPTIONS = RectificationReason.options()
Done = Annotated[str | None, Query(max_length=20)]


class RectificationForm(KeyedForm):
    model_config = ConfigDict(str_strip_whitespace=True)

    person: PersonForm  # as at referral
    reason: RectificationReason


class ErasureForm(KeyedForm):
    confirm: bool = False

    @field_validator("confirm")
    @classmethod
    def _confirmed(cls, value: bool) -> bool:
        if not value:
            raise ValueError("Cochez la case pour confirmer l'effacement demandé par la personne.")
        return value


async def _back(state: State, user: User, journey_id: str) -> str:
    row = await state.db.run(lambda s: queries.journey_access(s, journey_id))
    assert row is not None  # checked by PersonRights
    return journey_page_path(user, row)


@router.get("/parcours/{journey_id}/donnees")
async def person_data(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> HTMLResponse:
    data = await PersonRights(state).export(user, journey_id)
    response = render(
        request,
        "rights/person_data.html",
        {"d": data, "back": await _back(state, user, journey_id)},
    )
    response.headers["Cache-Control"] = "no-store"  # personal data
    return response


async def _rectify_page(
    request: Request,
    state: State,
    user: User,
    journey_id: str,
    form: Form[RectificationForm],
    *,
    status: int = 200,
    done: bool = False,
    anonymised: bool = False,
) -> HTMLResponse:
    return render(
        request,
        "rights/rectify.html",
        {
            "form": form,
            "journey_id": journey_id,
            "channels": CHANNEL_OPTIONS,
            "reasons": REASON_OPTIONS,
            "done": done,
            "anonymised": anonymised,
            "back": await _back(state, user, journey_id),
        },
        status_code=status,
    )


@router.get("/parcours/{journey_id}/rectification")
async def rectify_page(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath, fait: Done = None
) -> HTMLResponse:
    person = await PersonRights(state).current_person(user, journey_id)
    if person.anonymised_at is not None:
        return await _rectify_page(request, state, user, journey_id, Form.blank(), anonymised=True)
    values: dict[str, str | list[str]] = {
        **fresh_key(),
        "person.first_name": person.first_name or "",
        "person.last_name": person.last_name or "",
        "person.birth_year": str(person.birth_year or ""),
        "person.phone": person.phone or "",
        "person.email": person.email or "",
        "person.postal_address": person.postal_address or "",
        "person.commune": person.commune or "",
        "person.preferred_channel": person.preferred_channel,
    }
    return await _rectify_page(
        request, state, user, journey_id, Form.blank(values), done=fait == "1"
    )


@router.post("/parcours/{journey_id}/rectification")
async def rectify_submit(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> Response:
    rights = PersonRights(state)
    await rights.check(user, journey_id, Change.RECTIFY_PERSON)
    form = await read_form(request, RectificationForm)
    if "reason" in form.errors:
        form.errors["reason"] = "Choisissez le motif de la correction."

    async def correct(data: RectificationForm) -> None:
        body = RectificationIn(
            person=schemas.PersonIn(**data.person.model_dump()), reason=data.reason
        )
        await rights.rectify(user, journey_id, body, key=str(data.form_id))

    sent = await submit.run(form, correct, done=f"/parcours/{journey_id}/rectification?fait=1")
    if not isinstance(sent, int):
        return sent
    return await _rectify_page(request, state, user, journey_id, form, status=sent)


async def _erase_page(
    request: Request,
    state: State,
    user: User,
    journey_id: str,
    form: Form[ErasureForm],
    *,
    status: int = 200,
) -> HTMLResponse:
    row = await state.db.run(lambda s: queries.get_journey(s, journey_id))
    assert row is not None
    return render(
        request,
        "rights/erase.html",
        {
            "form": form,
            "journey": row,
            "open": Stage(row.stage).is_open,
            "erased": row.stage == Stage.ANONYMISED.value or row.anonymised_at is not None,
            "back": await _back(state, user, journey_id),
        },
        status_code=status,
    )


@router.get("/parcours/{journey_id}/effacement")
async def erase_page(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> HTMLResponse:
    await PersonRights(state).check(user, journey_id, Change.ERASE_ON_REQUEST)
    return await _erase_page(request, state, user, journey_id, Form.blank(fresh_key()))


@router.post("/parcours/{journey_id}/effacement")
async def erase_submit(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> Response:
    rights = PersonRights(state)
    await rights.check(user, journey_id, Change.ERASE_ON_REQUEST)
    form = await read_form(request, ErasureForm)

    async def erase(data: ErasureForm) -> None:
        await rights.erase(user, journey_id, key=str(data.form_id))

    sent = await submit.run(form, erase, done=f"/parcours/{journey_id}/effacement")
    if not isinstance(sent, int):
        return sent
    return await _erase_page(request, state, user, journey_id, form, status=sent)

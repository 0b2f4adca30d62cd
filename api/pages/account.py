"""A professional's own account (/compte): which notifications they receive.

Optional categories can be muted, reminders folded into the daily digest; essential ones
are listed with why they cannot be turned off (notifications.categories). Every signed-in
account sees and changes its own settings only: no account id in the URL.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlmodel import Session

from api.auth import CurrentUser, User
from api.deps import State
from api.errors import not_found
from api.forms import Form, read_form
from api.mail_service import (
    Category,
    EssentialCategory,
    Preferences,
    optional_categories,
    preferences_of,
    set_preferences,
)
from api.web import render
from records import models

router = APIRouter(prefix="/compte", include_in_schema=False)

PATH = "/compte/notifications"
SAVED = "Vos préférences de notification sont enregistrées."

# What each category is, in the words of the person choosing.
OPTIONAL_HINTS: dict[Category, str] = {
    Category.REFERRAL: "La confirmation envoyée quand une personne est orientée vers le "
    "Pass numérique.",
    Category.REMINDER: "Un parcours sans activité, une orientation restée sans réponse.",
    Category.CLOSURE: "Le résumé d'un parcours terminé.",
}
ESSENTIAL_WHY: dict[Category, str] = {
    Category.BENEFICIARY: "quand la personne n'a pas d'adresse e-mail, vous êtes le seul "
    "à les recevoir : vous les lui transmettez ou les imprimez.",
    Category.ORIENTATION: "une orientation attend la réponse de votre structure, ou sa "
    "réponse change ce que vous devez faire.",
    Category.NUDGE: "la coordination du programme vous demande d'agir sur un parcours.",
    Category.EXPIRY: "le programme doit prévenir avant que les chèques ne perdent leur valeur.",
    Category.DIGEST: "un seul courriel le matin, seulement s'il y a du nouveau : c'est ainsi "
    "que la coordination apprend les parcours bloqués.",
}


class PreferencesForm(BaseModel):
    receive: list[Category] = []  # the optional categories left checked
    reminders: Literal["MAIL", "DIGEST"] = "MAIL"


def _values(prefs: Preferences) -> dict[str, str | list[str]]:
    return {
        "receive": [c.value for c in optional_categories() if c not in prefs.muted],
        "reminders": "DIGEST" if prefs.reminders_in_digest else "MAIL",
    }


def _read(session: Session, user: User) -> Preferences:
    account = session.get(models.Account, user.id)
    if account is None:
        raise not_found("Compte")
    return preferences_of(account)


def _page(
    request: Request, form: Form[PreferencesForm], *, saved: bool = False, status: int = 200
) -> HTMLResponse:
    return render(
        request,
        "account/notifications.html",
        {
            "form": form,
            "saved": SAVED if saved else None,
            "optional": [
                (c.value, c.label, OPTIONAL_HINTS.get(c, "")) for c in optional_categories()
            ],
            "essential": [(c.label, ESSENTIAL_WHY.get(c, "")) for c in Category if c.essential],
        },
        status_code=status,
    )


@router.get("/notifications")
async def notifications_page(
    request: Request, state: State, user: CurrentUser, enregistre: int = 0
) -> HTMLResponse:
    prefs = await state.db.run(lambda s: _read(s, user))
    return _page(request, Form.blank(_values(prefs)), saved=bool(enregistre))


@router.post("/notifications")
async def save_notifications(request: Request, state: State, user: CurrentUser) -> Response:
    form = await read_form(request, PreferencesForm)
    if not form.ok:
        return _page(request, form, status=422)
    chosen = set(form.data.receive)
    muted = [c for c in optional_categories() if c not in chosen]
    try:
        await state.db.run(
            lambda s: set_preferences(
                s, user.id, muted=muted, reminders_in_digest=form.data.reminders == "DIGEST"
            ),
            write=True,
        )
    except EssentialCategory as err:  # cannot happen from this form: only optional ones
        form.add_error("receive", str(err))
        return _page(request, form, status=422)
    # Setting the same choices twice changes nothing: a double submit is harmless.
    return RedirectResponse(f"{PATH}?enregistre=1", status_code=303)

"""One-time links by e-mail (records.account_links): "mot de passe oublié" on the login
page, and the page a link opens to choose a password (an invitation's first one, or a new
one). The administration pages mail invitations (api.pages.admin.invite)."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from api import auth
from api.auth import now_utc
from api.constraints import LINE
from api.deps import State
from api.forms import Form, read_form
from api.mail_service import AccountMail, plan_link_mail, send_planned
from api.pages.auth import check_anonymous_form
from api.web import render
from records import account_links, accounts, login_throttle
from records.account_links import LinkPurpose, LinkRefusal
from records.models import Account

router = APIRouter(include_in_schema=False)

FORGOT_PATH = "/connexion/mot-de-passe-oublie"
ASKED = (
    "Si un compte passnum est ouvert à cette adresse, un courriel vient d'y être envoyé avec "
    "un lien pour choisir un nouveau mot de passe, valable une heure et une seule fois. "
    "Pensez à regarder dans les indésirables."
)
TOO_MANY = (
    "Trop de demandes de lien depuis votre adresse réseau : réessayez dans {wait}. "
    "Si vous avez déjà demandé un lien, utilisez le dernier courriel reçu."
)


class ForgotForm(BaseModel):
    email: str = Field(min_length=1, max_length=254, pattern=LINE)


class PasswordForm(BaseModel):
    password: str = Field(min_length=1, max_length=1000)
    confirmation: str = Field(min_length=1, max_length=1000)


# ---- mot de passe oublié ----


@router.get(FORGOT_PATH)
async def forgot_page(request: Request) -> Response:
    form: Form[ForgotForm] = Form.blank()
    return render(request, "forgot.html", {"form": form, "asked": False})


@router.post(FORGOT_PATH)
async def forgot_submit(request: Request, state: State, background: BackgroundTasks) -> Response:
    """The same answer whether the address has an account or not; the mail leaves after the
    answer (so the answer takes as long either way).

    Requests are capped (records.login_throttle, kind "reset"), counted whether the e-mail
    has an account or not. Past the cap per e-mail: no mail, and the same answer as ever
    (saying "too many" would tell that someone asked for this address lately; its owner
    already holds the links of the requests counted). Past the cap per address: a French
    refusal, which tells only what this address itself asked. A request asked again within
    two minutes (a double click) mails nothing more either: account_links.asked_recently,
    whose check the throttle's reservation serialises per e-mail."""
    await check_anonymous_form(request, state.settings)
    form = await read_form(request, ForgotForm)
    if not form.ok:
        return render(request, "forgot.html", {"form": form, "asked": False}, status_code=422)
    email = form.data.email
    address = auth.client_address(request)
    rule = auth.reset_throttle_rule(state.settings)
    now = now_utc()

    def write(session: Session) -> AccountMail | login_throttle.Refusal | None:
        reserved = login_throttle.reserve_attempt(
            session, email=email, address=address, now=now, rule=rule
        )
        if isinstance(reserved, login_throttle.Refusal):
            return reserved
        account = accounts.get_account_by_email(session, email)
        if account is None or not account.is_active:
            return None
        if account_links.asked_recently(session, account, now=now):
            return None  # the same answer: the mail sent a moment ago holds the link
        return plan_link_mail(session, state.settings, account, LinkPurpose.RESET, now=now)

    planned = await state.db.run(write, write=True)
    if isinstance(planned, login_throttle.Refusal):
        if planned.scope == "address":
            wait, seconds = auth.wait_phrase(planned, now)
            form.add_error("", TOO_MANY.format(wait=wait))
            page = render(request, "forgot.html", {"form": form, "asked": False}, status_code=429)
            page.headers["Retry-After"] = str(seconds)
            return page
        planned = None  # capped per e-mail: the same answer, no mail
    if planned is not None:
        background.add_task(send_planned, state.temporal, state.settings, planned)
    return render(request, "forgot.html", {"form": Form.blank(), "asked": True, "message": ASKED})


# ---- the page a link opens ----


def _refused(request: Request, refusal: LinkRefusal) -> Response:
    return render(
        request,
        "error.html",
        {
            "title": "Lien inutilisable",
            "message": account_links.REFUSALS[refusal],
            "status": 410 if refusal is not LinkRefusal.UNKNOWN else 404,
        },
        status_code=410 if refusal is not LinkRefusal.UNKNOWN else 404,
    )


def _page(
    request: Request, form: Form[PasswordForm], account: Account, purpose: str, status: int = 200
) -> Response:
    page = render(
        request,
        "choose_password.html",
        {
            "form": form,
            "account": account,
            "invitation": purpose == LinkPurpose.INVITATION.value,
            "min_length": accounts.PASSWORD_MIN_LENGTH,
        },
        status_code=status,
    )
    page.headers["Referrer-Policy"] = "no-referrer"  # the token is in the address
    return page


@router.get(account_links.LINK_PATH + "{token}")
async def link_page(request: Request, state: State, token: str) -> Response:
    now = now_utc()
    found = await state.db.run(lambda s: account_links.find_link(s, token[:100], now=now))
    if isinstance(found, LinkRefusal):
        return _refused(request, found)
    link, account = found
    return _page(request, Form.blank(), account, link.purpose)


@router.post(account_links.LINK_PATH + "{token}")
async def link_submit(request: Request, state: State, token: str) -> Response:
    await check_anonymous_form(request, state.settings)
    token = token[:100]
    now = now_utc()
    found = await state.db.run(lambda s: account_links.find_link(s, token, now=now))
    if isinstance(found, LinkRefusal):
        return _refused(request, found)
    link, account = found
    form = await read_form(request, PasswordForm)
    if form.ok:
        try:
            accounts.check_password_strength(form.data.password)
        except accounts.AccountError as err:
            form.add_error("password", str(err))
    if form.ok and form.data.password != form.data.confirmation:
        form.add_error("confirmation", "Les deux mots de passe ne sont pas les mêmes.")
    if not form.ok:
        form.values.pop("password", None)
        form.values.pop("confirmation", None)
        return _page(request, form, account, link.purpose, 422)
    password_hash = await anyio.to_thread.run_sync(accounts.hash_password, form.data.password)
    used = await state.db.run(
        lambda s: account_links.use_link(s, token, password_hash, now=now), write=True
    )
    if isinstance(used, LinkRefusal):
        return _refused(request, used)
    return render(request, "password_set.html", {"email": used.email})

"""Login, logout, and the home page that sends each role to its space."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from api import auth, oidc
from api.auth import ANON_COOKIE, SESSION_COOKIE, CurrentUser, LoginRefused, OptionalUser
from api.constraints import LINE
from api.deps import State
from api.errors import ApiError
from api.forms import Form, read_form
from api.web import SPACE_BY_ROLE, render
from config import Settings
from records import accounts, memberships

router = APIRouter(include_in_schema=False)


class LoginForm(BaseModel):
    email: str = Field(min_length=1, max_length=254, pattern=LINE)
    password: str = Field(min_length=1, max_length=1000)


def safe_next(target: str | None) -> str:
    """Only a path of this site: never an open redirect to another one."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def oidc_context(settings: Settings) -> dict[str, object]:
    """The login page's OpenID Connect button, when a provider is configured."""
    return {"oidc_label": settings.oidc_button_label if settings.oidc_enabled else None}


@router.get("/")
async def home(user: OptionalUser) -> RedirectResponse:
    if user is None:
        return RedirectResponse("/connexion", status_code=303)
    return RedirectResponse(SPACE_BY_ROLE.get(user.role, "/connexion"), status_code=303)


@router.get("/connexion")
async def login_page(
    request: Request,
    user: OptionalUser,
    state: State,
    suivant: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    if user is not None:
        return RedirectResponse(safe_next(suivant), status_code=303)
    form: Form[LoginForm] = Form.blank()
    return render(
        request,
        "login.html",
        {
            "form": form,
            "next": safe_next(suivant),
            "dev": state.settings.environment == "dev",
            **oidc_context(state.settings),
        },
    )


async def check_anonymous_form(request: Request, settings: Settings) -> None:
    """The CSRF check of a form sent before signing in (its token is tied to the visitor's
    anonymous cookie)."""
    anon_key = request.cookies.get(ANON_COOKIE)
    if not anon_key:
        raise ApiError(
            403,
            "csrf_failed",
            "Votre navigateur n'a pas renvoyé le cookie de connexion : autorisez les cookies "
            "pour ce site, rechargez la page et recommencez.",
        )
    await auth.check_csrf(request, auth.csrf_token_for(settings, anon_key))


@router.post("/connexion")
async def login_submit(request: Request, state: State) -> Response:
    settings = state.settings
    await check_anonymous_form(request, settings)
    form = await read_form(request, LoginForm)
    submitted = await request.form()
    next_path = safe_next(str(submitted.get("suivant") or ""))
    status = 422
    retry_after: int | None = None
    if form.ok:
        try:
            token = await auth.login(
                state,
                email=form.data.email,
                password=form.data.password,
                address=auth.client_address(request),
            )
        except LoginRefused as refused:
            form.add_error("", refused.message)
            status = refused.status
            retry_after = refused.retry_after
        else:
            response = RedirectResponse(next_path, status_code=303)
            auth.set_cookie(
                response,
                request,
                settings,
                SESSION_COOKIE,
                token,
                max_age=settings.session_hours * 3600,
            )
            auth.clear_cookie(response, request, settings, ANON_COOKIE)
            return response
    page = render(
        request,
        "login.html",
        {
            "form": form,
            "next": next_path,
            "dev": settings.environment == "dev",
            **oidc_context(settings),
        },
        status_code=status,
    )
    if retry_after is not None:
        page.headers["Retry-After"] = str(retry_after)
    return page


class ProgrammeChoice(BaseModel):
    programme: int = Field(ge=1, le=999)


@router.post("/programme-courant")
async def choose_programme(request: Request, state: State, user: CurrentUser) -> Response:
    """The header's chooser: work in another of the account's programmes. Pages of the
    former programme are left for the new one's home page (its role may differ there)."""
    form = await read_form(request, ProgrammeChoice)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not form.ok or cookie is None:
        raise ApiError(422, "programme_invalid", "Choisissez un programme dans la liste.")
    code = form.data.programme

    def choose(session: Session) -> bool:
        account = accounts.get_account(session, user.id)
        return account is not None and memberships.choose(session, account, cookie, code)

    if not await state.db.run(choose, write=True):
        raise ApiError(403, "programme_forbidden", "Vous n'avez pas accès à ce programme.")
    return RedirectResponse("/", status_code=303)


@router.post("/deconnexion")
async def logout(request: Request, state: State, user: CurrentUser) -> Response:
    id_token = await auth.logout(state, request.cookies.get(SESSION_COOKIE))
    target = "/connexion"
    if id_token and state.settings.oidc_enabled:
        # Signed in through the provider: end its session too, it sends the browser back.
        target = await oidc.logout_url(state.settings, id_token) or target
    response = RedirectResponse(target, status_code=303)
    auth.clear_cookie(response, request, state.settings, SESSION_COOKIE)
    return response


# ---- OpenID Connect sign-in (api.oidc) ----


def oidc_refused(request: Request, refused: oidc.OidcRefused) -> Response:
    response = render(
        request,
        "error.html",
        {"title": "Connexion refusée", "message": refused.message, "status": refused.status},
        status_code=refused.status,
    )
    auth.clear_cookie(response, request, request.app.state.passnum.settings, oidc.PENDING_COOKIE)
    if refused.retry_after is not None:
        response.headers["Retry-After"] = str(refused.retry_after)
    return response


@router.get(oidc.START_PATH)
async def oidc_start(
    request: Request,
    user: OptionalUser,
    state: State,
    suivant: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    if user is not None:
        return RedirectResponse(safe_next(suivant), status_code=303)
    try:
        # Throttled: told now rather than after the trip to the provider.
        await auth.check_oidc_throttle(state, address=auth.client_address(request))
        url, pending = await oidc.begin(state.settings, safe_next(suivant))
    except oidc.OidcRefused as refused:
        return oidc_refused(request, refused)
    response = RedirectResponse(url, status_code=303)
    auth.set_cookie(
        response, request, state.settings, oidc.PENDING_COOKIE, pending, oidc.PENDING_SECONDS
    )
    return response


@router.get(oidc.CALLBACK_PATH)
async def oidc_callback(
    request: Request,
    state: State,
    code: Annotated[str | None, Query(max_length=2000)] = None,
    state_: Annotated[str | None, Query(alias="state", max_length=500)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Throttled per address (failures: altered or replayed answers, refused people) before
    the provider is called; see auth.reserve_oidc_attempt."""
    settings = state.settings
    address = auth.client_address(request)
    try:
        attempt = await auth.reserve_oidc_attempt(state, address=address)
        try:
            identity = await oidc.finish(
                settings,
                pending_cookie=request.cookies.get(oidc.PENDING_COOKIE),
                code=code,
                state=state_,
                error=error,
            )
            token = await auth.login_oidc(state, identity, address=address, attempt_id=attempt)
        except oidc.OidcRefused as refused:
            if not refused.counts:
                await auth.forget_oidc_attempt(state, attempt)
            raise
    except oidc.OidcRefused as refused:
        return oidc_refused(request, refused)
    response = RedirectResponse(safe_next(identity.next_path), status_code=303)
    auth.set_cookie(
        response, request, settings, SESSION_COOKIE, token, max_age=settings.session_hours * 3600
    )
    auth.clear_cookie(response, request, settings, ANON_COOKIE)
    auth.clear_cookie(response, request, settings, oidc.PENDING_COOKIE)
    return response

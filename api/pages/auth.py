"""Login, logout, and the home page that sends each role to its space."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from api import auth
from api.auth import ANON_COOKIE, SESSION_COOKIE, CurrentUser, LoginRefused, OptionalUser
from api.constraints import LINE
from api.deps import State
from api.errors import ApiError
from api.forms import Form, read_form
from api.web import SPACE_BY_ROLE, render

router = APIRouter(include_in_schema=False)


class LoginForm(BaseModel):
    email: str = Field(min_length=1, max_length=254, pattern=LINE)
    password: str = Field(min_length=1, max_length=1000)


def safe_next(target: str | None) -> str:
    """Only a path of this site: never an open redirect to another one."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


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
        {"form": form, "next": safe_next(suivant), "dev": state.settings.environment == "dev"},
    )


@router.post("/connexion")
async def login_submit(request: Request, state: State) -> Response:
    settings = state.settings
    anon_key = request.cookies.get(ANON_COOKIE)
    if not anon_key:
        raise ApiError(
            403,
            "csrf_failed",
            "Votre navigateur n'a pas renvoyé le cookie de connexion : autorisez les cookies "
            "pour ce site, rechargez la page et recommencez.",
        )
    await auth.check_csrf(request, auth.csrf_token_for(settings, anon_key))
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
        {"form": form, "next": next_path, "dev": settings.environment == "dev"},
        status_code=status,
    )
    if retry_after is not None:
        page.headers["Retry-After"] = str(retry_after)
    return page


@router.post("/deconnexion")
async def logout(request: Request, state: State, user: CurrentUser) -> Response:
    await auth.logout(state, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/connexion", status_code=303)
    auth.clear_cookie(response, request, state.settings, SESSION_COOKIE)
    return response
